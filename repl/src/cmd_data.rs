//! `data`: pick the data set or show the current one.

use crate::session::Session;
use anyhow::{bail, Result};
use clap::Args;
use figs::data::{load_cifar10_dir, load_idx_dir, synthetic, TrainTest, FASHION_MNIST_DIR};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DataArgs {
    /// fashion-mnist (Debian's package), mnist DIR, idx DIR, cifar10 DIR or synthetic; none
    /// shows the current data set.
    kind: Option<String>,
    /// Directory of the files (MNIST-style IDX files, or `cifar-10-batches-bin`).
    dir: Option<PathBuf>,
    /// Use only the first N training images (0 = all).
    #[arg(long, default_value_t = 0)]
    train_limit: usize,
    /// Use only the first N test images (0 = all).
    #[arg(long, default_value_t = 0)]
    test_limit: usize,
    /// Synthetic: training images (28×28, 10 classes; test gets a quarter as many).
    #[arg(long, default_value_t = 2048)]
    size: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(s: &mut Session, a: DataArgs) -> Result<()> {
    if let Some(kind) = &a.kind {
        let dir = |default: Option<&str>| -> Result<PathBuf> {
            match (&a.dir, default) {
                (Some(d), _) => Ok(d.clone()),
                (None, Some(d)) => Ok(PathBuf::from(d)),
                (None, None) => bail!("`data {kind}` needs a directory: `data {kind} DIR`"),
            }
        };
        let (desc, mut tt): (String, TrainTest) = match kind.as_str() {
            "fashion-mnist" | "fmnist" => {
                let d = dir(Some(FASHION_MNIST_DIR))?;
                (format!("Fashion-MNIST ({})", d.display()), load_idx_dir(&d)?)
            }
            "mnist" | "idx" => {
                let d = dir(None)?;
                (format!("IDX files ({})", d.display()), load_idx_dir(&d)?)
            }
            "cifar10" | "cifar-10" => {
                let d = dir(None)?;
                (format!("CIFAR-10 ({})", d.display()), load_cifar10_dir(&d)?)
            }
            "synthetic" => {
                if a.size < 64 {
                    bail!("--size must be at least 64, got {}", a.size);
                }
                ("synthetic".to_string(), synthetic(a.size, (a.size / 4).max(16), (1, 28, 28), 10, s.opts.seed))
            }
            other => {
                bail!("unknown data set `{other}`; use fashion-mnist, mnist DIR, idx DIR, cifar10 DIR or synthetic")
            }
        };
        if a.train_limit > 0 {
            tt.train = tt.train.take(a.train_limit);
        }
        if a.test_limit > 0 {
            tt.test = tt.test.take(a.test_limit);
        }
        s.data = Some((desc, tt));
    }
    let Some((desc, tt)) = &s.data else {
        bail!("no data set yet: `data fashion-mnist`, `data mnist DIR`, `data cifar10 DIR` or `data synthetic`")
    };
    let (c, h, w) = tt.train.image_shape();
    if a.json {
        let v = json!({"data": desc, "train": tt.train.len(), "test": tt.test.len(),
            "image": [c, h, w], "classes": tt.train.classes});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "data: {desc}: {} train / {} test images of {c}x{h}x{w}, {} classes",
            tt.train.len(),
            tt.test.len(),
            tt.train.classes
        );
    }
    Ok(())
}
