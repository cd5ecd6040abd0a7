//! Data sets held in memory as tensors: IDX files (Fashion-MNIST, MNIST), CIFAR-10's binary
//! release and a synthetic set for tests. Search splits the training set into train / validation; the test set is
//! only for final numbers.

mod batches;
mod cifar;
mod fingerprint;
mod idx;
mod prefetch;
mod source;
mod synthetic;

pub use batches::Batches;
pub use cifar::load_cifar10_dir;
pub use fingerprint::{Fingerprint, FINGERPRINT_IMAGES};
pub use idx::{load_idx_dir, FASHION_MNIST_DIR};
pub use source::{DataSource, SYNTHETIC_SIZE};
pub use synthetic::synthetic;

use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// Images `[N, C, H, W]` and labels `[N]` (int64), on the CPU unless moved. The images are
/// float and normalised, or, when `normalize` is set, the raw bytes (uint8), which each batch
/// turns into normalised floats: a quarter of the memory for Fashion-MNIST or CIFAR.
#[derive(Debug)]
pub struct Dataset {
    pub images: Tensor,
    pub labels: Tensor,
    pub classes: usize,
    pub normalize: Option<Normalize>,
}

/// How images held as bytes become network inputs: `(x / 255 − mean) / std`, with `mean`
/// and `std` broadcastable to a batch (one value, or one per channel).
#[derive(Debug)]
pub struct Normalize {
    pub mean: Tensor,
    pub std: Tensor,
}

impl Clone for Normalize {
    fn clone(&self) -> Self {
        Normalize { mean: self.mean.shallow_clone(), std: self.std.shallow_clone() }
    }
}

impl Clone for Dataset {
    fn clone(&self) -> Self {
        self.with(self.images.shallow_clone(), self.labels.shallow_clone())
    }
}

/// Train and test parts of a data set.
#[derive(Debug, Clone)]
pub struct TrainTest {
    pub train: Dataset,
    pub test: Dataset,
}

impl Dataset {
    /// Float images, used as they are.
    pub fn new(images: Tensor, labels: Tensor, classes: usize) -> Dataset {
        Dataset { images, labels, classes, normalize: None }
    }

    /// Images as bytes, normalised per batch with the training set's `mean` and `std` of
    /// `x / 255`.
    pub fn from_bytes(images: Tensor, labels: Tensor, classes: usize, normalize: Normalize) -> Dataset {
        Dataset { images, labels, classes, normalize: Some(normalize) }
    }

    /// Other images and labels with this set's classes and normalisation.
    fn with(&self, images: Tensor, labels: Tensor) -> Dataset {
        Dataset { images, labels, classes: self.classes, normalize: self.normalize.clone() }
    }

    /// Network inputs from images of this set (`images` or a batch of them): normalised
    /// floats, on the images' device.
    pub fn decode(&self, images: Tensor) -> Tensor {
        match &self.normalize {
            None => images,
            Some(n) => {
                let d = images.device();
                (images.to_kind(Kind::Float) / 255.0 - n.mean.to_device(d)) / n.std.to_device(d)
            }
        }
    }

    /// Every image as a network input (float, normalised).
    pub fn decoded(&self) -> Tensor {
        self.decode(self.images.shallow_clone())
    }

    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(channels, height, width)` of one image.
    pub fn image_shape(&self) -> (usize, usize, usize) {
        let s = self.images.size();
        (s[1] as usize, s[2] as usize, s[3] as usize)
    }

    /// The same examples on `device` (a copy; the same tensors if they are there already).
    pub fn to_device(&self, device: Device) -> Dataset {
        let mut d = self.with(self.images.to_device(device), self.labels.to_device(device));
        d.normalize =
            self.normalize.as_ref().map(|n| Normalize { mean: n.mean.to_device(device), std: n.std.to_device(device) });
        d
    }

    /// The first `n` examples (all if there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len()) as i64;
        self.with(self.images.narrow(0, 0, n), self.labels.narrow(0, 0, n))
    }

    /// Splits off a seeded random `fraction` as validation: `(train, validation)`.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&fraction) || fraction == 0.0 {
            return Err(Error::config("val-fraction", format!("must be in (0, 1), got {fraction}")));
        }
        let n = self.len();
        let n_val = ((n as f64) * fraction).round().max(1.0) as usize;
        if n_val >= n {
            return Err(Error::config("val-fraction", format!("{n} examples are too few to split off {n_val}")));
        }
        let mut idx: Vec<i64> = (0..n as i64).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let pick = |ids: &[i64]| {
            let t = Tensor::from_slice(ids);
            self.with(self.images.index_select(0, &t), self.labels.index_select(0, &t))
        };
        Ok((pick(&idx[n_val..]), pick(&idx[..n_val])))
    }

    /// Batches in a seeded random order, each moved to `device`. The last, smaller batch is
    /// dropped so batch-norm statistics never see a batch of one.
    pub fn shuffled_batches(&self, batch: usize, rng: &mut ChaCha8Rng, device: Device) -> Batches {
        let mut idx: Vec<i64> = (0..self.len() as i64).collect();
        idx.shuffle(rng);
        Batches::new(self, idx, batch, device, true)
    }

    /// Batches in order (for evaluation), keeping the last partial batch.
    pub fn ordered_batches(&self, batch: usize, device: Device) -> Batches {
        let order = (0..self.len() as i64).collect();
        Batches::new(self, order, batch, device, false)
    }
}

/// Why `dir` is not a data directory: missing, or a file.
fn not_a_dir(dir: &std::path::Path) -> &'static str {
    if dir.exists() {
        "is a file, not a directory"
    } else {
        "no such directory"
    }
}

/// Refuses a batch larger than the `examples` it is drawn from (`what`: "the training
/// split", "the training set"): it would silently train full-batch.
pub fn check_batch(batch: usize, examples: usize, what: &str) -> Result<()> {
    if batch > examples {
        return Err(Error::config(
            "batch-size",
            format!("{batch} is larger than {what} ({examples} examples): give at most {examples}"),
        ));
    }
    Ok(())
}
