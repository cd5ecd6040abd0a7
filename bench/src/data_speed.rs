//! figs' half of `bench/data_speed.sh`: draws training batches (RandomResizedCrop, flip,
//! normalisation) of an image folder through figs' pipeline and prints one JSON line with
//! the images per second delivered as ready batches. `bench/data_torch.py` is the same job
//! with torchvision's `ImageFolder` and a `DataLoader`. With `--coco ANN.json` it times the
//! detection pipeline of a COCO-format folder instead (`bench/coco_step.sh`).

use anyhow::{Context, Result};
use clap::Parser;
use figs::data::images::{decode_file, list, ImageFolder};
use figs::data::{Dataset, ImageOptions};
use figs::detect::folder::CocoFolder;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tch::Device;

#[derive(Parser)]
struct Args {
    /// An image folder (one directory per class), or with --coco the folder of its images.
    #[arg(long)]
    dir: PathBuf,
    /// A COCO instances file listing the images of --dir: times the detection pipeline
    /// (SSDLite's IoU crop, flip and resize, box targets) instead of the classification one.
    #[arg(long)]
    coco: Option<PathBuf>,
    #[arg(long, default_value_t = 224)]
    size: usize,
    /// Decoding threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Timed batches (after the warm-up ones).
    #[arg(long, default_value_t = 20)]
    batches: usize,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Only decode `--batches` × `--batch` files on this thread (no crop, resize or
    /// batching): where the pipeline's time goes.
    #[arg(long)]
    decode_only: bool,
}

fn main() -> Result<()> {
    // What the figs binary does first (malloc thresholds that keep freed memory).
    // SAFETY: first thing in main, no other thread yet (mallopt is MT-unsafe).
    unsafe {
        figs::keep_freed_memory();
    }
    let a = Args::parse();
    // libtorch's own threads only normalise the batches here.
    tch::set_num_threads(1);
    let options = ImageOptions { size: a.size, workers: a.workers };
    if let Some(ann) = &a.coco {
        let folder = CocoFolder::load(&a.dir, ann, options).with_context(|| format!("reading {}", ann.display()))?;
        let data = Dataset::of(Arc::new(folder));
        return time_batches(&data, &a, data.len());
    }
    let listing = list(&a.dir, &mut |_| {}).with_context(|| format!("listing {}", a.dir.display()))?;
    if a.decode_only {
        let n = (a.batches * a.batch).min(listing.files.len());
        let start = Instant::now();
        for (path, _) in &listing.files[..n] {
            decode_file(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
        let s = start.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({"impl": "figs", "stage": "decode", "images": n, "seconds": s, "images_per_s": n as f64 / s})
        );
        return Ok(());
    }
    let data = Dataset::of(Arc::new(ImageFolder::new(&listing, options)));
    time_batches(&data, &a, listing.files.len())
}

/// Images per second of ready training batches (augmented, shuffled) after the warm-up.
fn time_batches(data: &Dataset, a: &Args, files: usize) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut batches = data.shuffled_batches(a.batch, &mut rng, Device::Cpu);
    let mut next = || -> Result<usize> {
        loop {
            match batches.next() {
                Some(b) => return Ok(b?.0.size()[0] as usize),
                None => batches = data.shuffled_batches(a.batch, &mut rng, Device::Cpu),
            }
        }
    };
    for _ in 0..a.warmup {
        next()?;
    }
    let start = Instant::now();
    let mut images = 0;
    for _ in 0..a.batches {
        images += next()?;
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"impl": "figs", "workers": a.workers, "files": files,
            "images": images, "seconds": s, "images_per_s": images as f64 / s})
    );
    Ok(())
}
