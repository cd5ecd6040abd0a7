//! Which data set, as one line of text (`fashion-mnist`, `cifar10:DIR`, `synthetic:4096`,
//! `coco:DIR`, or an IDX directory), and the one function that loads it: every front end (`figs
//! search`, `figs pareto`, the prompt's `data`, notebooks) reads data through here.

use super::{load_cifar10_dir, load_idx_dir, load_image_folder, synthetic, ImageOptions, TrainTest, FASHION_MNIST_DIR};
use crate::error::{Error, Result};
use std::path::PathBuf;

/// Training images of the synthetic set unless `synthetic:N` says otherwise (its test part
/// has a quarter as many).
pub const SYNTHETIC_SIZE: usize = 2048;

/// How to load a data set: the settings of the `data` section that loading reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadOptions {
    pub train_limit: usize,
    pub test_limit: usize,
    /// Draws the synthetic set.
    pub seed: u64,
    /// Image folders: input size and decoding threads.
    pub images: ImageOptions,
    /// Image folders without `train/` and `val/`: the share held out as the test set.
    pub holdout: f64,
}

/// A data set, parsed from its text form.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// Fashion-MNIST's four IDX files (Debian's `dataset-fashion-mnist` by default).
    FashionMnist(PathBuf),
    /// Any MNIST-style IDX directory (MNIST, KMNIST …).
    Idx(PathBuf),
    /// CIFAR-10's binary release (`data_batch_1.bin` … `test_batch.bin`).
    Cifar10(PathBuf),
    /// A small generated set (28×28, 10 classes), drawn from the run's seed.
    Synthetic { train: usize },
    /// torchvision's ImageFolder layout (one directory per class; `train/` and `val/` when
    /// both exist), decoded lazily.
    ImageFolder(PathBuf),
    /// COCO-format detection data: a root with train and val splits, or one image
    /// directory and its instances file (`coco:IMAGES,ANNOTATIONS.json`).
    Coco { root: PathBuf, annotations: Option<PathBuf> },
}

impl DataSource {
    /// `KIND` or `KIND:DIR`; a text with no known kind is an IDX directory.
    pub fn parse(text: &str) -> std::result::Result<DataSource, String> {
        let t = text.trim();
        let (kind, arg) = match t.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (t, None),
        };
        let dir = |what: &str| match arg {
            Some(a) if !a.is_empty() => Ok(PathBuf::from(a)),
            _ => Err(format!("`{what}` needs a directory: `{what}:DIR`")),
        };
        Ok(match kind {
            "fashion-mnist" | "fmnist" => {
                DataSource::FashionMnist(arg.filter(|a| !a.is_empty()).unwrap_or(FASHION_MNIST_DIR).into())
            }
            "mnist" | "idx" => DataSource::Idx(dir(kind)?),
            "cifar10" | "cifar-10" => DataSource::Cifar10(dir(kind)?),
            "imagefolder" | "images" => DataSource::ImageFolder(dir("imagefolder")?),
            "coco" => match dir("coco")?.to_string_lossy().rsplit_once(',') {
                Some((images, ann)) if ann.ends_with(".json") => {
                    DataSource::Coco { root: images.into(), annotations: Some(ann.into()) }
                }
                _ => DataSource::Coco { root: dir("coco")?, annotations: None },
            },
            "synthetic" => {
                let train = match arg {
                    None => SYNTHETIC_SIZE,
                    Some(n) => n.parse().ok().filter(|n| *n >= 64).ok_or_else(|| {
                        format!("`synthetic:{n}`: give at least 64 training images, e.g. synthetic:{SYNTHETIC_SIZE}")
                    })?,
                };
                DataSource::Synthetic { train }
            }
            "" => {
                return Err("expected a data set: fashion-mnist, mnist:DIR, cifar10:DIR, coco:DIR, synthetic …".into())
            }
            _ => DataSource::Idx(PathBuf::from(t)),
        })
    }

    /// The text form, which parses back to the same source.
    pub fn text(&self) -> String {
        match self {
            DataSource::FashionMnist(d) if d.as_os_str() == FASHION_MNIST_DIR => "fashion-mnist".into(),
            DataSource::FashionMnist(d) => format!("fashion-mnist:{}", d.display()),
            DataSource::Idx(d) => format!("idx:{}", d.display()),
            DataSource::Cifar10(d) => format!("cifar10:{}", d.display()),
            DataSource::ImageFolder(d) => format!("imagefolder:{}", d.display()),
            DataSource::Coco { root, annotations: None } => format!("coco:{}", root.display()),
            DataSource::Coco { root, annotations: Some(a) } => format!("coco:{},{}", root.display(), a.display()),
            DataSource::Synthetic { train } if *train == SYNTHETIC_SIZE => "synthetic".into(),
            DataSource::Synthetic { train } => format!("synthetic:{train}"),
        }
    }

    /// The directory, or `synthetic`: how `figs pareto`'s recipe names its data.
    pub fn name(&self) -> String {
        match self {
            DataSource::FashionMnist(d) | DataSource::Idx(d) | DataSource::Cifar10(d) | DataSource::ImageFolder(d) => {
                d.display().to_string()
            }
            DataSource::Coco { root, .. } => root.display().to_string(),
            DataSource::Synthetic { .. } => "synthetic".into(),
        }
    }

    /// What a person reads: `Fashion-MNIST (/usr/share/datasets/fashion-mnist)`.
    pub fn describe(&self) -> String {
        match self {
            DataSource::FashionMnist(d) => format!("Fashion-MNIST ({})", d.display()),
            DataSource::Idx(d) => format!("IDX files ({})", d.display()),
            DataSource::Cifar10(d) => format!("CIFAR-10 ({})", d.display()),
            DataSource::ImageFolder(d) => format!("image folder ({})", d.display()),
            DataSource::Coco { root, .. } => format!("COCO-format detection data ({})", root.display()),
            DataSource::Synthetic { .. } => "synthetic".into(),
        }
    }

    /// Loads it as `opts` says, keeping only the first `train_limit` / `test_limit` examples
    /// (0: all).
    pub fn load(&self, opts: &LoadOptions, progress: &mut dyn FnMut(usize)) -> Result<TrainTest> {
        let (train_limit, test_limit) = (opts.train_limit, opts.test_limit);
        let mut tt = match self {
            DataSource::FashionMnist(d) | DataSource::Idx(d) => load_idx_dir(d)?,
            DataSource::Cifar10(d) => load_cifar10_dir(d)?,
            DataSource::Synthetic { train } => synthetic(*train, (train / 4).max(16), (1, 28, 28), 10, opts.seed),
            DataSource::ImageFolder(d) => load_image_folder(d, opts.images, opts.holdout, progress)?,
            DataSource::Coco { root, annotations } => {
                crate::detect::folder::load_coco(root, annotations.as_deref(), opts.images, opts.holdout)?
            }
        };
        if train_limit > 0 {
            tt.train = tt.train.take(train_limit);
        }
        if test_limit > 0 {
            tt.test = tt.test.take(test_limit);
        }
        if tt.train.is_empty() || tt.test.is_empty() {
            return Err(Error::config("data", format!("{} has no training or no test examples", self.describe())));
        }
        Ok(tt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_read_back() {
        for t in [
            "fashion-mnist",
            "fashion-mnist:/d",
            "idx:/d",
            "cifar10:/c",
            "imagefolder:/i",
            "coco:/c",
            "coco:/c/val2017,/c/annotations/instances_val2017.json",
            "synthetic",
            "synthetic:100",
        ] {
            assert_eq!(DataSource::parse(t).unwrap().text(), t);
        }
        assert_eq!(DataSource::parse("/some/dir").unwrap(), DataSource::Idx("/some/dir".into()));
        assert!(DataSource::parse("cifar10").unwrap_err().contains("cifar10:DIR"));
        assert!(DataSource::parse("synthetic:3").unwrap_err().contains("at least 64"));
    }
}
