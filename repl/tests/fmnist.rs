//! The real Fashion-MNIST, from Debian's `dataset-fashion-mnist` (scripts/setup.sh installs
//! it; CI runs this): the IDX loader reads it as torchvision's `FashionMNIST` does, and the
//! main job runs on it (FAULTS.md 12: CI used to skip the data set).

use figs::data::{load_idx_dir, FASHION_MNIST_DIR};
use std::path::Path;
use std::process::Command;

fn data_dir() -> &'static Path {
    let d = Path::new(FASHION_MNIST_DIR);
    assert!(
        d.join("train-images-idx3-ubyte.gz").is_file(),
        "Fashion-MNIST is not installed in {FASHION_MNIST_DIR}: run scripts/setup.sh (it installs Debian's dataset-fashion-mnist)"
    );
    d
}

#[test]
fn the_idx_loader_reads_fashion_mnist_as_torchvision_does() {
    let d = load_idx_dir(data_dir()).unwrap();
    assert_eq!((d.train.len(), d.test.len(), d.train.classes()), (60000, 10000, 10));
    assert_eq!(d.train.image_shape(), (1, 28, 28));
    // torchvision.datasets.FashionMNIST(...).targets[:10] for train and test.
    let first = |l: &tch::Tensor| Vec::<i64>::try_from(l.narrow(0, 0, 10)).unwrap();
    assert_eq!(first(&d.train.targets().unwrap()), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert_eq!(first(&d.test.targets().unwrap()), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    // 6 000 training images per class.
    let counts = Vec::<i64>::try_from(d.train.targets().unwrap().bincount::<tch::Tensor>(None, 10)).unwrap();
    assert_eq!(counts, vec![6000; 10]);
}

#[test]
fn the_main_job_runs_on_fashion_mnist() {
    let _ = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_figs"))
        .args(["search", "--train-limit", "1024", "--test-limit", "256", "--device", "cpu", "--threads", "1"])
        .args(["--steps", "10", "--eval-every", "10", "--no-retrain", "--out"])
        .arg(&out)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{log}");
    assert!(log.contains("fashion-mnist) (1024 train / 256 test images)"), "{log}");
    assert!(out.join("arch.json").is_file() && out.join("model.py").is_file(), "{log}");
}
