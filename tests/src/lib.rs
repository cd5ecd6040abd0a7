//! Helpers shared by the integration tests in `tests/tests/`.

use figs::graph::Graph;
use figs::regularizer::{CostRegularizer, Regularizer};
use figs_mobilenet_v2::{Config, Stage};
use std::sync::Arc;

/// The FLOPs regularizer, linked (the `flops` plugin exports the same value).
pub fn flops() -> Arc<dyn Regularizer> {
    Arc::new(CostRegularizer::flops())
}

/// Number of trainable parameters of the tch model that figs builds for `g`.
pub fn built_params(g: &Graph) -> i64 {
    figs::net::built_params(g).expect("graph builds")
}

/// A MobileNetV2 small enough for a search of a few dozen steps in a test: 1×16×16 input,
/// two stages (one with a residual block), 10 classes.
pub fn tiny_mobilenet() -> Graph {
    tiny_mobilenet_for(1, 16, 10)
}

/// [`tiny_mobilenet`] for `channels` × `resolution`² inputs and `classes` classes.
pub fn tiny_mobilenet_for(channels: usize, resolution: usize, classes: usize) -> Graph {
    let cfg = Config {
        channels,
        resolution,
        classes,
        width: 1.0,
        stem: 8,
        stem_stride: 1,
        stages: vec![Stage { t: 1, c: 8, n: 1, s: 1 }, Stage { t: 3, c: 16, n: 2, s: 2 }],
        last_channel: 32,
        dropout: 0.0,
        fixed_stem: false,
        head_scales: false,
        round_nearest: 8,
    };
    figs_mobilenet_v2::build(&cfg).expect("tiny config is valid")
}

/// The Python of the test venv (torch, torchvision), which `scripts/setup.sh` records.
pub fn venv_python() -> String {
    let venv = std::env::var("FIGS_TORCH_VENV")
        .expect("FIGS_TORCH_VENV is unset: run ./scripts/setup.sh, which records the torch venv in .cargo/config.toml");
    format!("{venv}/bin/python")
}

/// Runs one of `tests/pytorch/`'s scripts with the venv's Python and returns its stdout
/// (the test fails with its stderr when it fails).
pub fn run_python(script: &str, args: &[&str]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pytorch").join(script);
    let out = std::process::Command::new(venv_python()).arg(&path).args(args).output().expect("the venv's python runs");
    assert!(out.status.success(), "{script} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
