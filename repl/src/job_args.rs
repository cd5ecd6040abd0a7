//! The space and data flags that the shell jobs (`figs search`, `figs pareto`) share.

use anyhow::Result;
use clap::Args;
use figs::data::{load_idx_dir, synthetic, TrainTest, FASHION_MNIST_DIR};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct JobArgs {
    /// Search space.
    #[arg(long, default_value = "mobilenet_v2")]
    pub space: String,
    /// Space parameter as name=value (repeatable). resolution, channels and classes default
    /// to the data set's.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Directory with the four MNIST-style IDX files (Fashion-MNIST, MNIST).
    #[arg(long, default_value = FASHION_MNIST_DIR, conflicts_with = "synthetic")]
    pub data: PathBuf,
    /// Use a small synthetic data set instead of --data (for smoke tests).
    #[arg(long)]
    pub synthetic: bool,
    /// Use only the first N training images (0 = all).
    #[arg(long, default_value_t = 0)]
    pub train_limit: usize,
    /// Use only the first N test images (0 = all).
    #[arg(long, default_value_t = 0)]
    pub test_limit: usize,
}

impl JobArgs {
    /// The data set, sliced; `seed` draws the synthetic one.
    pub fn load(&self, seed: u64) -> Result<TrainTest> {
        let mut data =
            if self.synthetic { synthetic(2048, 512, (1, 28, 28), 10, seed) } else { load_idx_dir(&self.data)? };
        if self.train_limit > 0 {
            data.train = data.train.take(self.train_limit);
        }
        if self.test_limit > 0 {
            data.test = data.test.take(self.test_limit);
        }
        Ok(data)
    }

    /// `synthetic` or the data directory.
    pub fn data_name(&self) -> String {
        if self.synthetic {
            "synthetic".to_string()
        } else {
            self.data.display().to_string()
        }
    }
}
