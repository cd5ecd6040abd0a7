//! CIFAR-10 in its binary version (`cifar-10-batches-bin`: `data_batch_1.bin` …
//! `data_batch_5.bin`, `test_batch.bin`; each record is 1 label byte and 3 × 32 × 32 pixel
//! bytes, red plane first).

use super::{Dataset, Normalize, TrainTest};
use crate::error::{Error, Result};
use std::path::Path;
use tch::{Kind, Tensor};

const RECORD: usize = 1 + 3 * 32 * 32;

fn read_batch(path: &Path, images: &mut Vec<u8>, labels: &mut Vec<i64>) -> Result<()> {
    let raw = std::fs::read(path).map_err(|e| Error::Data {
        path: path.into(),
        message: format!("cannot read ({e}); expected the binary CIFAR-10 files (cifar-10-batches-bin)"),
    })?;
    if raw.is_empty() || raw.len() % RECORD != 0 {
        return Err(Error::Data {
            path: path.into(),
            message: format!(
                "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records; is the file truncated?",
                raw.len()
            ),
        });
    }
    for rec in raw.chunks_exact(RECORD) {
        if rec[0] > 9 {
            return Err(Error::Data {
                path: path.into(),
                message: format!("label {} is not a CIFAR-10 class (0–9)", rec[0]),
            });
        }
        labels.push(rec[0] as i64);
        images.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

/// Loads CIFAR-10 from `dir` (the `cifar-10-batches-bin` directory). Pixels are scaled to
/// [0, 1] and normalised per channel with the training set's mean and standard deviation.
pub fn load_cifar10_dir(dir: &Path) -> Result<TrainTest> {
    if !dir.is_dir() {
        return Err(Error::Data {
            path: dir.into(),
            message: format!(
                "{}; give the `cifar-10-batches-bin` directory of the binary CIFAR-10 release",
                super::not_a_dir(dir)
            ),
        });
    }
    let load = |names: &[String]| -> Result<(Tensor, Tensor)> {
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for n in names {
            read_batch(&dir.join(n), &mut images, &mut labels)?;
        }
        let n = labels.len() as i64;
        let x = Tensor::from_slice(&images).view([n, 3, 32, 32]);
        Ok((x, Tensor::from_slice(&labels)))
    };
    let train_names: Vec<String> = (1..=5).map(|i| format!("data_batch_{i}.bin")).collect();
    let (train_x, train_y) = load(&train_names)?;
    let (test_x, test_y) = load(&["test_batch.bin".to_string()])?;
    // Kept as bytes; batches are normalised as they are drawn (Dataset::decode).
    let scaled = train_x.to_kind(Kind::Float) / 255.0;
    let normalize = Normalize {
        mean: scaled.mean_dim([0i64, 2, 3].as_slice(), true, Kind::Float),
        std: scaled.std_dim([0i64, 2, 3].as_slice(), true, true),
    };
    drop(scaled);
    Ok(TrainTest {
        train: Dataset::from_bytes(train_x, train_y, 10, normalize.clone()),
        test: Dataset::from_bytes(test_x, test_y, 10, normalize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, records: usize, label: u8) {
        let mut raw = Vec::new();
        for i in 0..records {
            raw.push(label);
            raw.extend((0..3 * 32 * 32).map(|p| ((p + i) % 256) as u8));
        }
        std::fs::write(dir.join(name), raw).unwrap();
    }

    #[test]
    fn reads_the_binary_release() {
        let d = tempfile::tempdir().unwrap();
        for i in 1..=5 {
            write(d.path(), &format!("data_batch_{i}.bin"), 2, i as u8);
        }
        write(d.path(), "test_batch.bin", 3, 0);
        let tt = load_cifar10_dir(d.path()).unwrap();
        assert_eq!((tt.train.len(), tt.test.len()), (10, 3));
        assert_eq!(tt.train.image_shape(), (3, 32, 32));
        assert_eq!(tt.train.targets().unwrap().int64_value(&[9]), 5);
    }

    #[test]
    fn truncated_and_missing_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let e = load_cifar10_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("data_batch_1.bin"), "{e}");
        std::fs::write(d.path().join("data_batch_1.bin"), [1u8; 100]).unwrap();
        let e = load_cifar10_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}
