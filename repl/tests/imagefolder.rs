//! Image folders reach every job through the one data path (`--data imagefolder:DIR`):
//! `figs search` and `figs pareto` on a folder of JPEGs and PNGs generated here by
//! tests/pytorch/make_image_folder.py (the venv's PIL; nothing is downloaded), and a folder
//! that is not an image folder is a clear error.

mod common;

use common::figs;
use std::path::Path;
use std::process::Command;

fn make_folder(dir: &Path) {
    let venv = std::env::var("FIGS_TORCH_VENV").expect("FIGS_TORCH_VENV is unset: run ./scripts/setup.sh");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/pytorch/make_image_folder.py");
    let o = Command::new(format!("{venv}/bin/python"))
        .arg(script)
        .arg(dir)
        .args(["--classes", "3", "--per-class", "20", "--min", "20", "--max", "60"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn figs_search_and_figs_pareto_read_an_image_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("photos");
    make_folder(&data);
    let spec = format!("imagefolder:{}", data.display());
    let run = dir.path().join("run");
    let common = ["--device", "cpu", "--threads", "1", "--batch-size", "8", "--steps", "4", "--eval-every", "0"];
    let (ok, log) = figs(
        &[
            &["search", "--data", &spec, "-p", "resolution=16", "--epochs", "0.2", "--out", run.to_str().unwrap()][..],
            &common[..],
        ]
        .concat(),
    );
    assert!(ok, "{log}");
    // 60 files, a tenth held out as the test set.
    assert!(log.contains("image folder") && log.contains("(54 train / 6 test images)"), "{log}");
    let arch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("arch.json")).unwrap()).unwrap();
    assert_eq!((arch["input"]["channels"].as_u64(), arch["input"]["height"].as_u64()), (Some(3), Some(16)));
    assert_eq!(arch["classes"], 3);

    let sweep = dir.path().join("sweep");
    let (ok, log) = figs(
        &[
            &["pareto", "--data", &spec, "-p", "resolution=16", "--epochs", "0.2", "--budgets", "0.6", "--seeds", "1"]
                [..],
            &["--methods", "figs,seed", "--out", sweep.to_str().unwrap()],
            &common[..8],
        ]
        .concat(),
    );
    assert!(ok, "{log}");
    let results = std::fs::read_to_string(sweep.join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 2, "{results}");
}

#[test]
fn a_folder_without_class_directories_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let flat = dir.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    std::fs::write(flat.join("a.jpg"), b"not really").unwrap();
    let spec = format!("imagefolder:{}", flat.display());
    let (ok, log) =
        figs(&["search", "--data", &spec, "--steps", "1", "--out", dir.path().join("run").to_str().unwrap()]);
    assert!(!ok);
    assert!(log.contains("has no class subdirectories") && log.contains("one directory per class"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn at_the_prompt_the_folder_follows_the_supernets_resolution() {
    // `data` loads the folder at the default 224 px; the supernet built next at 16 px is
    // what the steps read, with no second `data`.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("photos");
    make_folder(&data);
    let script = dir.path().join("s.figs");
    let text = format!(
        "set device cpu\nset batch-size 8\ndata imagefolder {}\ndata\nsupernet build mobilenet_v2 -p resolution=16\ndata\ninit --steps 2\nstep 2\n",
        data.display()
    );
    std::fs::write(&script, text).unwrap();
    let (ok, log) = figs(&["run", script.to_str().unwrap()]);
    assert!(ok, "{log}");
    let (first, rest) = log.split_once("supernet").unwrap_or((&log, ""));
    // The 224 shown first says it is only the size until a supernet reads them at its own.
    assert!(first.contains("3x224x224 (resized when read"), "{log}");
    assert!(rest.contains("3x16x16") && !rest.contains("error"), "{log}");
}
