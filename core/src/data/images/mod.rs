//! Image folders (`imagefolder:DIR`): torchvision's `ImageFolder` layout, read lazily.
//! Nothing holds the set: an example is a path and a class, decoded and transformed when
//! a batch asks for it, on the batcher's worker threads (see [`super::prefetch`]).
//! Workers deliver network inputs: float `[N, 3, S, S]` normalised with ImageNet's mean
//! and std in the same pass that lays the pixels out as planes, so the thread that trains
//! does no per-pixel work (bytes would be a quarter of the copy to an accelerator, but a
//! normalisation pass on the training thread costs more on a CPU than the copy saves).

mod decode;
mod listing;
mod transform;

pub use decode::{decode, decode_file, Rgb};
pub use listing::{list, Listing};
pub use transform::{center_crop, draw, random_resized_crop, resized_size, Crop, Draw, Resampler};

use super::examples::Examples;
use super::{Dataset, TrainTest};
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// ImageNet's per-channel mean and standard deviation of `x / 255`, torchvision's
/// `Normalize` for its pretrained models.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The evaluation transform resizes the shorter side to `size / EVAL_CROP` before the
/// centre crop: 256 for 224, torchvision's ImageNet recipe.
pub const EVAL_CROP: f64 = 0.875;

/// How an image folder's examples become inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageOptions {
    /// Side of the square network input (the space's `resolution`).
    pub size: usize,
    /// Threads that decode and transform batches (at least 1).
    pub workers: usize,
}

impl ImageOptions {
    /// The shorter side the evaluation transform resizes to.
    pub fn eval_shorter(&self) -> usize {
        ((self.size as f64 / EVAL_CROP).round() as usize).max(self.size)
    }
}

/// Examples read from image files.
#[derive(Debug)]
pub struct ImageFolder {
    files: Arc<[(PathBuf, i64)]>,
    classes: usize,
    options: ImageOptions,
}

thread_local! {
    // One resampler per thread: it keeps its filter tables between images of one size.
    static RESAMPLER: RefCell<Resampler> = RefCell::new(Resampler::default());
}

/// Runs `f` with this thread's resampler.
pub(crate) fn with_resampler<R>(f: impl FnOnce(&mut Resampler) -> R) -> R {
    RESAMPLER.with(|r| f(&mut r.borrow_mut()))
}

impl ImageFolder {
    pub fn new(listing: &Listing, options: ImageOptions) -> ImageFolder {
        ImageFolder { files: listing.files.clone().into(), classes: listing.classes.len(), options }
    }

    /// Example `id` as network pixels (HWC bytes, `size` × `size`): the training transform
    /// drawn from (`augment`, `id`), or the evaluation transform.
    pub fn pixels(&self, id: usize, augment: Option<u64>) -> Result<Rgb> {
        let (path, _) = self.files.get(id).ok_or_else(|| {
            Error::config("data", format!("example {id} is outside this image folder of {} files", self.files.len()))
        })?;
        let bad = |message: String| Error::Data { path: path.clone(), message };
        let img = decode_file(path).map_err(|why| bad(format!("{why}; remove or replace the file")))?;
        let s = self.options.size;
        RESAMPLER
            .with(|r| {
                let mut r = r.borrow_mut();
                match augment {
                    Some(key) => r.train(&img, draw(img.width, img.height, key, id as u64), s),
                    None => r.eval(img, self.options.eval_shorter(), s),
                }
            })
            .map_err(|e| bad(format!("resizing failed: {e}")))
    }
}

impl Examples for ImageFolder {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn input_shape(&self) -> (usize, usize, usize) {
        (3, self.options.size, self.options.size)
    }

    fn batch(&self, ids: &[i64], augment: Option<u64>) -> Result<(Tensor, Tensor)> {
        let s = self.options.size;
        let mut labels = Vec::with_capacity(ids.len());
        let x = input_batch(ids.len(), s, |k, planes| {
            // A plain sign check, not `try_from`: tests/tests/host_sync.rs counts that as a host read.
            if ids[k] < 0 {
                return Err(Error::config("data", format!("example {} does not exist", ids[k])));
            }
            let id = ids[k] as usize;
            write_planes(&self.pixels(id, augment)?, planes);
            labels.push(self.files[id].1);
            Ok(())
        })?;
        Ok((x, Tensor::f_from_slice(&labels)?))
    }

    fn targets(&self) -> Result<Tensor> {
        let labels: Vec<i64> = self.files.iter().map(|(_, l)| *l).collect();
        Ok(Tensor::f_from_slice(&labels)?)
    }

    fn workers(&self) -> usize {
        self.options.workers
    }

    fn at_size(&self, size: usize) -> Option<Arc<dyn Examples>> {
        let options = ImageOptions { size, ..self.options };
        Some(Arc::new(ImageFolder { files: self.files.clone(), classes: self.classes, options }))
    }

    fn storage(&self) -> String {
        format!("image files at {} px", self.options.size)
    }
}

/// A float batch `[n, 3, size, size]` whose example k's normalised planes `fill(k, planes)`
/// writes (with [`write_planes`]).
pub(crate) fn input_batch(
    n: usize,
    size: usize,
    mut fill: impl FnMut(usize, &mut [f32]) -> Result<()>,
) -> Result<Tensor> {
    let per = 3 * size * size;
    let x = Tensor::f_empty([n as i64, 3, size as i64, size as i64], (Kind::Float, Device::Cpu))?;
    // SAFETY: `x` is a new contiguous float tensor of exactly `n · per` values that nothing
    // else refers to until it is returned; writing into it saves copying a batch
    // (38 MB at 224 px) from a buffer of our own.
    let out = unsafe { std::slice::from_raw_parts_mut(x.data_ptr() as *mut f32, n * per) };
    for (k, planes) in out.chunks_exact_mut(per).enumerate() {
        fill(k, planes)?;
    }
    Ok(x)
}

/// HWC bytes as normalised CHW planes: `(x / 255 − mean) / std` with ImageNet's mean and
/// std, one multiply-add per value.
pub(crate) fn write_planes(px: &Rgb, dst: &mut [f32]) {
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * IMAGENET_STD[c]));
    let shift: [f32; 3] = std::array::from_fn(|c| -IMAGENET_MEAN[c] / IMAGENET_STD[c]);
    let plane = dst.len() / 3;
    let (r, rest) = dst.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, p) in px.pixels.chunks_exact(3).enumerate() {
        r[i] = f32::from(p[0]) * scale[0] + shift[0];
        g[i] = f32::from(p[1]) * scale[1] + shift[1];
        b[i] = f32::from(p[2]) * scale[2] + shift[2];
    }
}

/// The seed of the test split of a folder without `train/` and `val/`: one test set for
/// every run, so runs of different seeds are scored on the same images.
pub(crate) const HOLDOUT_SEED: u64 = 0;

/// Loads `root`: `root/train` and `root/val` when both exist (each an image folder with
/// the same classes), else `root` itself, of which a seeded random `holdout` share is the
/// test set. `progress` hears the running count of files listed.
pub fn load_image_folder(
    root: &Path,
    options: ImageOptions,
    holdout: f64,
    progress: &mut dyn FnMut(usize),
) -> Result<TrainTest> {
    if !root.is_dir() {
        return Err(Error::Data { path: root.into(), message: super::not_a_dir(root).into() });
    }
    let (train, val) = (root.join("train"), root.join("val"));
    if train.is_dir() && val.is_dir() {
        let tr = list(&train, progress)?;
        let te = list(&val, progress)?;
        if tr.classes != te.classes {
            return Err(Error::Data {
                path: val,
                message: format!(
                    "has classes {:?}, train/ has {:?}: both must hold the same class directories",
                    short(&te.classes),
                    short(&tr.classes)
                ),
            });
        }
        let of = |l: &Listing| Dataset::of(Arc::new(ImageFolder::new(l, options)));
        return Ok(TrainTest { train: of(&tr), test: of(&te) });
    }
    let all = Dataset::of(Arc::new(ImageFolder::new(&list(root, progress)?, options)));
    let (train, test) = all.split_as(holdout, HOLDOUT_SEED, "test-fraction")?;
    Ok(TrainTest { train, test })
}

/// The first few class names, for an error message.
fn short(classes: &[String]) -> Vec<&str> {
    classes.iter().take(5).map(|s| s.as_str()).collect()
}
