//! Data sets: [`Examples`] by index (the trait a new kind of data implements) seen through
//! [`Dataset`] views, batched by [`Batches`]. IDX files (Fashion-MNIST, MNIST), CIFAR-10's
//! binary release and a synthetic set for tests are held in memory ([`TensorExamples`]).
//! Search splits the training set into train / validation; the test set is only for final
//! numbers.

mod batches;
mod cifar;
mod examples;
mod fingerprint;
pub(crate) mod idx;
pub mod images;
mod prefetch;
mod source;
mod synthetic;

pub use batches::Batches;
pub use cifar::load_cifar10_dir;
pub use examples::{Examples, Normalize, TensorExamples};
pub use fingerprint::{Fingerprint, FINGERPRINT_IMAGES};
pub use idx::{load_idx_dir, FASHION_MNIST_DIR};
pub use images::{load_image_folder, ImageFolder, ImageOptions};
pub use source::{DataSource, LoadOptions, SYNTHETIC_SIZE};
pub use synthetic::{synthetic, synthetic_detection};

use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use tch::{Device, Tensor};

/// A data set as figs uses it: a view — all of them, the first N, or one side of a split —
/// of some [`Examples`]. Cloning is cheap (the examples are shared). Nothing above the
/// batcher ([`Batches`]) sees how the examples are stored.
#[derive(Debug, Clone)]
pub struct Dataset {
    examples: Arc<dyn Examples>,
    /// Which examples, in which order; None: all, in order.
    index: Option<Arc<[i64]>>,
}

/// Train and test parts of a data set.
#[derive(Debug, Clone)]
pub struct TrainTest {
    pub train: Dataset,
    pub test: Dataset,
}

impl Dataset {
    /// Float images `[N, C, H, W]` and labels `[N]`, used as they are.
    pub fn new(images: Tensor, labels: Tensor, classes: usize) -> Dataset {
        Self::of(Arc::new(TensorExamples::new(images, labels, classes, None)))
    }

    /// Images as bytes, normalised per batch with the training set's `mean` and `std` of
    /// `x / 255` (a quarter of the memory of floats).
    pub fn from_bytes(images: Tensor, labels: Tensor, classes: usize, normalize: Normalize) -> Dataset {
        Self::of(Arc::new(TensorExamples::new(images, labels, classes, Some(normalize))))
    }

    /// Every example of `examples`, in order: how a new kind of data (an [`Examples`]
    /// implementation) becomes a data set.
    pub fn of(examples: Arc<dyn Examples>) -> Dataset {
        Dataset { examples, index: None }
    }

    /// The examples this set is a view of.
    pub fn examples(&self) -> &Arc<dyn Examples> {
        &self.examples
    }

    /// What its targets are for (class labels or detection rows).
    pub fn task(&self) -> crate::graph::TaskKind {
        self.examples.task()
    }

    pub fn len(&self) -> usize {
        self.index.as_ref().map_or(self.examples.len(), |i| i.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn classes(&self) -> usize {
        self.examples.classes()
    }

    /// `(channels, height, width)` of one input.
    pub fn image_shape(&self) -> (usize, usize, usize) {
        self.examples.input_shape()
    }

    /// The ids in the examples of this set's positions `pos`.
    pub(super) fn ids(&self, pos: &[i64]) -> Vec<i64> {
        match &self.index {
            None => pos.to_vec(),
            Some(i) => pos.iter().map(|&p| i[p as usize]).collect(),
        }
    }

    fn view(&self, positions: &[i64]) -> Dataset {
        Dataset { examples: self.examples.clone(), index: Some(self.ids(positions).into()) }
    }

    /// Network inputs (float, normalised, on the examples' device) and int64 targets of
    /// this set's positions `pos`.
    pub fn batch(&self, pos: &[i64]) -> Result<(Tensor, Tensor)> {
        let n = self.len();
        if let Some(p) = pos.iter().find(|&&p| p < 0 || p as usize >= n) {
            return Err(Error::config("data", format!("position {p} is outside this set of {n} examples")));
        }
        let (x, y) = self.examples.batch(&self.ids(pos), None)?;
        Ok((self.examples.prepare(x), y))
    }

    /// Every example as one batch (network inputs and targets): for small sets, tests and
    /// notebooks; a large set is read batch by batch instead ([`Dataset::ordered_batches`]).
    pub fn all(&self) -> Result<(Tensor, Tensor)> {
        self.batch(&(0..self.len() as i64).collect::<Vec<_>>())
    }

    /// Every target of this set, in order, on the CPU (see [`Examples::targets`]).
    pub fn targets(&self) -> Result<Tensor> {
        let all = self.examples.targets()?.f_to_device(Device::Cpu)?;
        Ok(match &self.index {
            None => all,
            Some(i) => all.f_index_select(0, &Tensor::f_from_slice(i)?)?,
        })
    }

    /// The same examples with their inputs on `device` when they are tensors that fit
    /// (`max_bytes`); else this set, whose batches are copied there one by one.
    pub fn to_device_within(&self, device: Device, max_bytes: usize) -> Dataset {
        if device == self.examples.device() {
            return self.clone();
        }
        // A view is made whole first, so only its examples move.
        let whole = match &self.index {
            None => Some(self.examples.clone()),
            Some(i) => self.examples.subset(i),
        };
        let Some(whole) = whole else { return self.clone() };
        match whole.bytes().filter(|b| *b <= max_bytes).and_then(|_| whole.to_device(device)) {
            Some(moved) => Dataset::of(moved),
            None => self.clone(),
        }
    }

    /// The same examples as `size` × `size` inputs, if they are resized when read (an
    /// image folder); None for data of a fixed size.
    pub fn at_size(&self, size: usize) -> Option<Dataset> {
        let examples = self.examples.at_size(size)?;
        Some(Dataset { examples, index: self.index.clone() })
    }

    /// The first `n` examples (all if there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len()) as i64;
        self.view(&(0..n).collect::<Vec<_>>())
    }

    /// Splits off a seeded random `fraction` as validation: `(train, validation)`.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        self.split_as(fraction, seed, "val-fraction")
    }

    /// [`Dataset::split`], whose errors name the setting that gave `fraction`.
    pub(crate) fn split_as(&self, fraction: f64, seed: u64, setting: &str) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&fraction) || fraction == 0.0 {
            return Err(Error::config(setting, format!("must be in (0, 1), got {fraction}")));
        }
        let n = self.len();
        let n_val = ((n as f64) * fraction).round().max(1.0) as usize;
        if n_val >= n {
            return Err(Error::config(setting, format!("{n} examples are too few to split off {n_val}")));
        }
        let mut idx: Vec<i64> = (0..n as i64).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        Ok((self.view(&idx[n_val..]), self.view(&idx[..n_val])))
    }

    /// Training batches in a seeded random order, each moved to `device`. The last,
    /// smaller batch is dropped so batch-norm statistics never see a batch of one. Random
    /// augmentation (of examples that have it) is drawn from a key that `rng` gives without
    /// advancing: the orders of later epochs drawn from the same `rng` stay what they were.
    pub fn shuffled_batches(&self, batch: usize, rng: &mut ChaCha8Rng, device: Device) -> Batches {
        let mut idx: Vec<i64> = (0..self.len() as i64).collect();
        idx.shuffle(rng);
        let key = crate::seed::mix(rng.clone().next_u64(), AUGMENT_KEY);
        Batches::new(self, idx, batch, device, true).augmenting(key)
    }

    /// Batches in order (for evaluation), keeping the last partial batch.
    pub fn ordered_batches(&self, batch: usize, device: Device) -> Batches {
        let order = (0..self.len() as i64).collect();
        Batches::new(self, order, batch, device, false)
    }
}

/// Whether `graph` can learn from `data`: the same input shape, enough classes and the
/// same task (class labels for a classifier, boxes for a detector).
pub fn check_fits(data: &Dataset, graph: &crate::graph::Graph) -> Result<()> {
    let (c, h, w) = data.image_shape();
    let i = graph.input;
    if (c, h, w) != (i.channels, i.height, i.width) {
        return Err(Error::config(
            "data",
            format!(
                "the data has {c}x{h}x{w} images but the network expects {}x{}x{}; set the space's input size to match",
                i.channels, i.height, i.width
            ),
        ));
    }
    if data.classes() > graph.classes {
        return Err(Error::config(
            "data",
            format!("the data has {} classes but the network outputs {}", data.classes(), graph.classes),
        ));
    }
    if data.task() != graph.task {
        let fix = match data.task() {
            crate::graph::TaskKind::Detection => "build a detector (`-p head=ssdlite` on mobilenet_v3)",
            crate::graph::TaskKind::Classification => "give a classification data set, or build a classifier",
        };
        return Err(Error::config(
            "data",
            format!("the data is for {} but the network for {}; {fix}", data.task().name(), graph.task.name()),
        ));
    }
    Ok(())
}

/// Tells the augmentation key of an epoch from the next number of its order's generator.
const AUGMENT_KEY: u64 = 0xa06_3e47;

/// Why `dir` is not a data directory: missing, or a file.
pub(crate) fn not_a_dir(dir: &std::path::Path) -> &'static str {
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
