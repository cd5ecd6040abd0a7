//! `data`: pick the data set or show the current one.

use crate::shell::Shell;
use anyhow::Result;
use clap::Args;
use figs::session::DataSpec;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DataArgs {
    /// fashion-mnist (Debian's package), mnist DIR, idx DIR, cifar10 DIR, imagefolder DIR, coco DIR or synthetic; none
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

pub fn run(sh: &mut Shell, a: DataArgs) -> Result<()> {
    let info = match &a.kind {
        Some(kind) => {
            let mut spec = DataSpec::new(kind).limit(a.train_limit, a.test_limit).size(a.size);
            spec.dir = a.dir.clone();
            sh.core.data(spec)?
        }
        None => sh.core.data_info()?,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        let [c, h, w] = info.image;
        println!(
            "data: {}: {} train / {} test images of {c}x{h}x{w}{}, {} classes",
            info.data,
            info.train,
            info.test,
            info.resize_note(),
            info.classes
        );
    }
    Ok(())
}
