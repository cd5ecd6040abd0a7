//! What a data set is made of: examples by index, read (or decoded) when a batch asks for
//! them. [`Examples`] is the extension point a new kind of data implements (an image
//! folder decodes files on demand; IDX, CIFAR-10 and the synthetic set are
//! [`TensorExamples`], held in memory). Everything above the batcher goes through
//! [`super::Dataset`], a view (all examples, a slice, a split) of one `Examples`.

use crate::error::Result;
use std::fmt::Debug;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// Examples by index. Implementations are shared between the batcher and the thread that
/// gathers batches ahead, so they must be `Send + Sync` and read-only behind `&self`.
pub trait Examples: Send + Sync + Debug {
    /// How many examples there are.
    fn len(&self) -> usize;

    /// Number of classes; targets are in `0..classes`.
    fn classes(&self) -> usize;

    /// `(channels, height, width)` of one input.
    fn input_shape(&self) -> (usize, usize, usize);

    /// The inputs of `ids` as stored (before [`Examples::prepare`]: bytes are a quarter of
    /// the floats to copy to an accelerator) and their targets (int64 labels; for detection
    /// float rows `[G, 5]` of `(label, x1, y1, x2, y2)`, see [`crate::detect::task`]), in the order of
    /// `ids`, on [`Examples::device`]. With `augment`, a training batch: random
    /// augmentation of example `id` is drawn from (`augment`, `id`) alone, so the same
    /// batch comes back for the same key however it is gathered (a resumed search, another
    /// thread). Without, the deterministic evaluation form.
    fn batch(&self, ids: &[i64], augment: Option<u64>) -> Result<(Tensor, Tensor)>;

    /// [`Examples::batch`] (without augmentation) with the ids as an int64 tensor on
    /// [`Examples::device`] (an order that already lives there: no copy of the ids per
    /// batch).
    fn gather(&self, ids: &Tensor) -> Result<(Tensor, Tensor)> {
        let ids = Vec::<i64>::try_from(ids.to_device(Device::Cpu))?;
        self.batch(&ids, None)
    }

    /// Threads that should gather batches ahead of the step, even for a step on the CPU
    /// (0: gathering is cheap, as for tensors in memory; an image folder decodes files and
    /// asks for several).
    fn workers(&self) -> usize {
        0
    }

    /// Network inputs (float, normalised) from stored ones, on their device. Default: the
    /// inputs are already network inputs.
    fn prepare(&self, stored: Tensor) -> Tensor {
        stored
    }

    /// Every target, in order (int64 labels, or detection rows padded with label-0 rows to
    /// the most objects): a data set knows its targets without decoding its inputs.
    fn targets(&self) -> Result<Tensor>;

    /// Where the stored inputs live.
    fn device(&self) -> Device {
        Device::Cpu
    }

    /// The same examples on `device`, if they are tensors that can move there (None: they
    /// stay where they are and batches are copied).
    fn to_device(&self, _device: Device) -> Option<Arc<dyn Examples>> {
        None
    }

    /// The examples `ids` as a set of their own in memory, if they are tensors (a view made
    /// whole before it moves to a device).
    fn subset(&self, _ids: &[i64]) -> Option<Arc<dyn Examples>> {
        None
    }

    /// The same examples made at `size` × `size` inputs, for data that is resized when it
    /// is read (an image folder: a network built for another resolution than the data was
    /// loaded at); None for data of a fixed size.
    fn at_size(&self, _size: usize) -> Option<Arc<dyn Examples>> {
        None
    }

    /// Bytes a copy of every stored input would take on a device, if it can move there.
    fn bytes(&self) -> Option<usize> {
        None
    }

    /// What the targets are for: class labels, or detection rows.
    fn task(&self) -> crate::graph::TaskKind {
        crate::graph::TaskKind::Classification
    }

    /// How the inputs are stored (`Uint8`, `Float`, `jpeg` …): part of the data's
    /// fingerprint, so a resumed search sees the same data.
    fn storage(&self) -> String;
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

/// Examples held as tensors: images `[N, C, H, W]` (float and used as they are, or bytes
/// normalised per batch) and labels `[N]` (any integer kind, read as int64) or float
/// detection targets `[N, G, 5]` (kept as they are).
#[derive(Debug)]
pub struct TensorExamples {
    images: Tensor,
    labels: Tensor,
    classes: usize,
    normalize: Option<Normalize>,
}

// SAFETY: the tensors are only read behind `&self` (index_select, to_device), and libtorch
// tensors may be read from several threads at once; nothing mutates them after `new`.
unsafe impl Sync for TensorExamples {}

impl TensorExamples {
    pub fn new(images: Tensor, labels: Tensor, classes: usize, normalize: Option<Normalize>) -> TensorExamples {
        let labels = if labels.is_floating_point() { labels } else { labels.to_kind(Kind::Int64) };
        TensorExamples { images, labels, classes, normalize }
    }
}

impl Examples for TensorExamples {
    fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn input_shape(&self) -> (usize, usize, usize) {
        let s = self.images.size();
        (s[1] as usize, s[2] as usize, s[3] as usize)
    }

    fn batch(&self, ids: &[i64], _augment: Option<u64>) -> Result<(Tensor, Tensor)> {
        let ids = Tensor::f_from_slice(ids)?.f_to_device(self.images.device())?;
        self.gather(&ids)
    }

    fn gather(&self, ids: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((self.images.f_index_select(0, ids)?, self.labels.f_index_select(0, ids)?))
    }

    fn prepare(&self, stored: Tensor) -> Tensor {
        match &self.normalize {
            None => stored,
            Some(n) => {
                let d = stored.device();
                (stored.to_kind(Kind::Float) / 255.0 - n.mean.to_device(d)) / n.std.to_device(d)
            }
        }
    }

    fn targets(&self) -> Result<Tensor> {
        Ok(self.labels.shallow_clone())
    }

    fn device(&self) -> Device {
        self.images.device()
    }

    fn to_device(&self, device: Device) -> Option<Arc<dyn Examples>> {
        let normalize =
            self.normalize.as_ref().map(|n| Normalize { mean: n.mean.to_device(device), std: n.std.to_device(device) });
        Some(Arc::new(TensorExamples {
            images: self.images.to_device(device),
            labels: self.labels.to_device(device),
            classes: self.classes,
            normalize,
        }))
    }

    fn subset(&self, ids: &[i64]) -> Option<Arc<dyn Examples>> {
        let ids = Tensor::f_from_slice(ids).ok()?.f_to_device(self.images.device()).ok()?;
        let (images, labels) = (self.images.f_index_select(0, &ids).ok()?, self.labels.f_index_select(0, &ids).ok()?);
        Some(Arc::new(TensorExamples { images, labels, classes: self.classes, normalize: self.normalize.clone() }))
    }

    fn bytes(&self) -> Option<usize> {
        // As float32, the form a batch takes on the device.
        Some(self.images.numel() * 4)
    }

    fn storage(&self) -> String {
        format!("{:?}", self.images.kind())
    }

    fn task(&self) -> crate::graph::TaskKind {
        if self.labels.is_floating_point() {
            crate::graph::TaskKind::Detection
        } else {
            crate::graph::TaskKind::Classification
        }
    }
}
