//! The IDX format of MNIST and Fashion-MNIST, read straight from the `.gz` files.

use super::{Dataset, TrainTest};
use crate::error::{Error, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

const FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// The four IDX files as bytes, checked: images row-major, one byte per pixel.
pub struct RawIdx {
    pub train: RawSplit,
    pub test: RawSplit,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
}

pub struct RawSplit {
    /// `labels.len() * height * width` bytes.
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

/// Loads a directory holding the four MNIST-style IDX files (gzipped or not). Pixels are
/// scaled to [0, 1] and normalised with the training set's mean and standard deviation.
pub fn load_idx_dir(dir: &Path) -> Result<TrainTest> {
    let raw = read_idx_dir(dir)?;
    let (h, w, classes) = (raw.height, raw.width, raw.classes);
    // Kept as bytes; batches are normalised as they are drawn (Dataset::decode).
    let to_tensor = |px: &[u8], n: usize| Tensor::from_slice(px).view([n as i64, 1, h as i64, w as i64]);
    let train_images = to_tensor(&raw.train.pixels, raw.train.labels.len());
    let scaled = train_images.to_kind(Kind::Float) / 255.0;
    let normalize = super::Normalize { mean: scaled.mean(Kind::Float), std: scaled.std(true) };
    drop(scaled);
    let labels = |l: &[u8]| Tensor::from_slice(l).to_kind(Kind::Int64);
    Ok(TrainTest {
        train: Dataset::from_bytes(train_images, labels(&raw.train.labels), classes, normalize.clone()),
        test: Dataset::from_bytes(
            to_tensor(&raw.test.pixels, raw.test.labels.len()),
            labels(&raw.test.labels),
            classes,
            normalize,
        ),
    })
}

/// Reads and checks the four IDX files of `dir` (sizes agree, labels are classes).
pub fn read_idx_dir(dir: &Path) -> Result<RawIdx> {
    if !dir.is_dir() {
        return Err(Error::Data {
            path: dir.into(),
            message: format!(
                "{}. For Fashion-MNIST run `apt-get install dataset-fashion-mnist` (it fills {FASHION_MNIST_DIR}) or pass --data DIR with the four IDX files",
                super::not_a_dir(dir)
            ),
        });
    }
    let read = |stem: &str| -> Result<(PathBuf, Vec<u8>)> {
        for name in [format!("{stem}.gz"), stem.to_string()] {
            let p = dir.join(&name);
            if p.is_file() {
                let raw = std::fs::read(&p).map_err(|e| Error::io("cannot read", &p, e))?;
                if name.ends_with(".gz") {
                    let mut out = Vec::new();
                    GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| Error::Data {
                        path: p.clone(),
                        message: format!("not a valid gzip file ({e}); download it again"),
                    })?;
                    return Ok((p, out));
                }
                return Ok((p, raw));
            }
        }
        Err(Error::Data {
            path: dir.join(format!("{stem}.gz")),
            message: "missing (expected the four MNIST-style IDX files)".into(),
        })
    };
    let (ptr, tr_img) = read(FILES[0])?;
    let (plt, tr_lab) = read(FILES[1])?;
    let (pte, te_img) = read(FILES[2])?;
    let (plte, te_lab) = read(FILES[3])?;
    let (train_x, (c, h, w)) = parse_images(&ptr, &tr_img)?;
    let train_y = parse_labels(&plt, &tr_lab)?;
    let (test_x, _) = parse_images(&pte, &te_img)?;
    let test_y = parse_labels(&plte, &te_lab)?;
    if train_x.len() / (c * h * w) != train_y.len() {
        return Err(Error::Data {
            path: plt,
            message: format!("{} labels for {} images", train_y.len(), train_x.len() / (h * w)),
        });
    }
    if test_x.len() / (h * w) != test_y.len() {
        return Err(Error::Data {
            path: plte,
            message: format!("{} labels for {} images", test_y.len(), test_x.len() / (h * w)),
        });
    }
    let classes = train_y.iter().copied().max().unwrap_or(0) as usize + 1;
    // Classes are 0..=max label; one with no training example means a damaged label file
    // (a stray 200 among 0–9 would otherwise make a 201-class network).
    let mut seen = vec![false; classes];
    for &l in &train_y {
        seen[l as usize] = true;
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        let max = classes - 1;
        return Err(Error::Data {
            path: plt,
            message: format!(
                "labels run up to {max} but class {missing} has no training example: the label file is damaged, or not the one for these images"
            ),
        });
    }
    if let Some(&bad) = test_y.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::Data {
            path: plte,
            message: format!(
                "test label {bad} is not a class of the training set (0–{}): the label file is damaged",
                classes - 1
            ),
        });
    }
    Ok(RawIdx {
        train: RawSplit { pixels: train_x, labels: train_y },
        test: RawSplit { pixels: test_x, labels: test_y },
        height: h,
        width: w,
        classes,
    })
}

fn header(path: &Path, bytes: &[u8], magic: u32, dims: usize) -> Result<Vec<usize>> {
    let bad = |m: String| Error::Data { path: path.into(), message: m };
    let word = |i: usize| u32::from_be_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]]);
    if bytes.len() >= 4 && word(0) != magic {
        return Err(bad(format!(
            "magic number {:#010x}, expected {magic:#010x}: not an IDX file of this kind",
            word(0)
        )));
    }
    if bytes.len() < 4 + 4 * dims {
        return Err(bad(format!("file is {} bytes, too short for an IDX header", bytes.len())));
    }
    let shape: Vec<usize> = (1..=dims).map(|i| word(i) as usize).collect();
    let expected = 4 + 4 * dims + shape.iter().product::<usize>();
    if bytes.len() != expected {
        return Err(bad(format!(
            "file has {} bytes but its header promises {expected}; the file is truncated or corrupt",
            bytes.len()
        )));
    }
    Ok(shape)
}

fn parse_images(path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, (usize, usize, usize))> {
    let s = header(path, bytes, 0x0000_0803, 3)?;
    Ok((bytes[16..].to_vec(), (1, s[1], s[2])))
}

fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    header(path, bytes, 0x0000_0801, 1)?;
    Ok(bytes[8..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn write_set(dir: &Path, n_train: u32, n_test: u32) {
        let px = |n: u32| (0..n * 4).map(|i| (i * 37 % 256) as u8).collect::<Vec<u8>>();
        let lab = |n: u32| (0..n).map(|i| (i % 3) as u8).collect::<Vec<u8>>();
        std::fs::write(dir.join("train-images-idx3-ubyte.gz"), gz(&idx(0x803, &[n_train, 2, 2], &px(n_train))))
            .unwrap();
        std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), gz(&idx(0x801, &[n_train], &lab(n_train)))).unwrap();
        // The test files uncompressed: both forms are accepted.
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx(0x803, &[n_test, 2, 2], &px(n_test))).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(0x801, &[n_test], &lab(n_test))).unwrap();
    }

    #[test]
    fn loads_a_small_idx_set() {
        let d = tempfile::tempdir().unwrap();
        write_set(d.path(), 6, 3);
        let tt = load_idx_dir(d.path()).unwrap();
        assert_eq!((tt.train.len(), tt.test.len(), tt.train.classes()), (6, 3, 3));
        assert_eq!(tt.train.image_shape(), (1, 2, 2));
        assert_eq!(tt.train.examples().storage(), "Uint8", "held as bytes");
        let mean = f64::try_from(tt.train.all().unwrap().0.mean(Kind::Float)).unwrap();
        assert!(mean.abs() < 1e-5, "normalised to zero mean: {mean}");
    }

    #[test]
    fn missing_directory_and_file_are_named() {
        let e = load_idx_dir(Path::new("/nonexistent/fmnist")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/fmnist") && e.contains("dataset-fashion-mnist"), "{e}");
        let d = tempfile::tempdir().unwrap();
        write_set(d.path(), 6, 3);
        std::fs::remove_file(d.path().join("t10k-labels-idx1-ubyte")).unwrap();
        let e = load_idx_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("t10k-labels-idx1-ubyte.gz") && e.contains("missing"), "{e}");
    }

    /// FAULTS.md 19: an IDX label of 200 among 0–2 made a 201-class network.
    #[test]
    fn a_stray_label_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        write_set(d.path(), 6, 3);
        let lab = [0u8, 1, 2, 200, 1, 0];
        std::fs::write(d.path().join("train-labels-idx1-ubyte.gz"), gz(&idx(0x801, &[6], &lab))).unwrap();
        let e = load_idx_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("train-labels") && e.contains("up to 200") && e.contains("class 3"), "{e}");
        write_set(d.path(), 6, 3);
        std::fs::write(d.path().join("t10k-labels-idx1-ubyte"), idx(0x801, &[3], &[0, 7, 1])).unwrap();
        let e = load_idx_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("test label 7"), "{e}");
    }

    #[test]
    fn corrupt_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        write_set(d.path(), 6, 3);
        let p = d.path().join("train-images-idx3-ubyte.gz");
        let good = std::fs::read(&p).unwrap();
        std::fs::write(&p, &good[..good.len() / 2]).unwrap();
        let e = load_idx_dir(d.path()).unwrap_err().to_string();
        // A cut gzip stream either fails to decompress or decompresses to too few bytes.
        let named = e.contains("train-images-idx3-ubyte.gz");
        assert!(named && (e.contains("gzip") || e.contains("too short") || e.contains("truncated")), "{e}");
        std::fs::write(&p, gz(&idx(0x803, &[6, 2, 2], &[0; 10]))).unwrap();
        let e = load_idx_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("truncated or corrupt"), "{e}");
        std::fs::write(&p, gz(&idx(0x801, &[6], &[0; 6]))).unwrap();
        let e = load_idx_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("magic number"), "{e}");
    }
}
