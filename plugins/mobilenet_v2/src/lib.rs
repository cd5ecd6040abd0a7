//! The MobileNetV2 search space (Sandler et al. 2018) for figs: inverted residual blocks
//! whose expansion, residual-stream and head widths are searched (MorphNet's setting).
//!
//! At `preset=imagenet`, `width=1`, 224×224 and 1000 classes the graph is exactly
//! torchvision's `mobilenet_v2` (same layers, same parameter and MAC counts). `preset=small`
//! is a shortened, stride-adjusted variant for 28×28 inputs such as Fashion-MNIST.

use figs::graph::{Act, Graph, GraphBuilder, InputSpec};
use figs::space::{input_params, ParamSpec, Params, SearchSpace};
use figs::{Error, Result};
use std::collections::BTreeMap;

/// One stage of inverted residual blocks: expansion `t`, output channels `c`, `n` blocks,
/// first stride `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub t: usize,
    pub c: usize,
    pub n: usize,
    pub s: usize,
}

const fn st(t: usize, c: usize, n: usize, s: usize) -> Stage {
    Stage { t, c, n, s }
}

/// torchvision's `inverted_residual_setting`.
pub const IMAGENET: [Stage; 7] = [
    st(1, 16, 1, 1),
    st(6, 24, 2, 2),
    st(6, 32, 3, 2),
    st(6, 64, 4, 2),
    st(6, 96, 3, 1),
    st(6, 160, 3, 2),
    st(6, 320, 1, 1),
];

/// A shortened variant for 28×28 inputs: stem stride 1, three downsamplings (28→14→7→4),
/// five stages of half the ImageNet widths (the first five stages of torchvision's network
/// at `width_mult=0.5`, with stage 3 shortened to two blocks). About 3.1 M MACs on
/// Fashion-MNIST, small enough to search and retrain on 2 CPU cores in minutes.
pub const SMALL: [Stage; 5] = [st(1, 8, 1, 1), st(6, 16, 2, 2), st(6, 16, 2, 2), st(6, 32, 2, 2), st(6, 48, 1, 1)];

/// Typed configuration of the space.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub channels: usize,
    pub resolution: usize,
    pub classes: usize,
    pub width: f64,
    /// Stem channels before the width multiplier.
    pub stem: usize,
    pub stem_stride: usize,
    pub stages: Vec<Stage>,
    pub last_channel: usize,
    pub dropout: f64,
    /// Keep the stem's group ungated.
    pub fixed_stem: bool,
    /// Scale the head conv by the width multiplier below 1 too. torchvision keeps it at
    /// `last_channel` for widths under 1, which puts a floor under the MACs that uniform
    /// width scaling can reach (36.7 % of the `small` preset's MACs).
    pub head_scales: bool,
    /// Channel counts round to multiples of this (torchvision's `round_nearest`, 8). At 1
    /// the width multiplier is practically continuous, which a width-scaling baseline
    /// compared at equal MACs needs.
    pub round_nearest: usize,
}

impl Config {
    /// torchvision's network for `classes` classes at `resolution`.
    pub fn imagenet(width: f64, resolution: usize, classes: usize) -> Config {
        Config {
            channels: 3,
            resolution,
            classes,
            width,
            stem: 32,
            stem_stride: 2,
            stages: IMAGENET.to_vec(),
            last_channel: 1280,
            dropout: 0.2,
            fixed_stem: false,
            head_scales: false,
            round_nearest: 8,
        }
    }

    /// The 28×28 variant.
    pub fn small(width: f64, channels: usize, classes: usize) -> Config {
        Config {
            channels,
            stem: 16,
            stem_stride: 1,
            stages: SMALL.to_vec(),
            last_channel: 320,
            ..Config::imagenet(width, 28, classes)
        }
    }
}

pub use figs::space::make_divisible;

/// Builds the MobileNetV2 graph of `cfg`.
pub fn build(cfg: &Config) -> Result<Graph> {
    if !(cfg.width > 0.0 && cfg.width.is_finite()) {
        return Err(Error::Config { name: "width".into(), message: format!("must be positive, got {}", cfg.width) });
    }
    if cfg.round_nearest == 0 {
        return Err(Error::Config { name: "round_nearest".into(), message: "must be at least 1".into() });
    }
    let round = |c: usize, w: f64| make_divisible(c as f64 * w, cfg.round_nearest);
    let input = InputSpec { channels: cfg.channels, height: cfg.resolution, width: cfg.resolution };
    let mut b = GraphBuilder::new("mobilenet_v2", input, cfg.classes);
    let x = b.input();
    let stem_c = round(cfg.stem, cfg.width);
    let mut x = b.scope("stem", |b| {
        let y = if cfg.fixed_stem {
            b.fixed_conv("conv", &x, stem_c, 3, cfg.stem_stride)
        } else {
            b.conv("conv", &x, stem_c, 3, cfg.stem_stride)
        };
        let y = b.bn("bn", &y);
        b.act("act", &y, Act::Relu6)
    });
    let mut block = 0;
    for stage in &cfg.stages {
        let out_c = round(stage.c, cfg.width);
        for i in 0..stage.n {
            let stride = if i == 0 { stage.s } else { 1 };
            x = b.scope(&format!("block{block}"), |b| inverted_residual(b, &x, out_c, stride, stage.t));
            block += 1;
        }
    }
    let head_width = if cfg.head_scales { cfg.width } else { cfg.width.max(1.0) };
    let last_c = round(cfg.last_channel, head_width);
    let x = b.conv_bn_act("head", &x, last_c, 1, 1, Act::Relu6);
    let x = b.global_avg_pool("pool", &x);
    let x = b.flatten("flatten", &x);
    let x = if cfg.dropout > 0.0 { b.dropout("dropout", &x, cfg.dropout) } else { x };
    b.linear("classifier", &x, cfg.classes);
    b.finish()
}

fn inverted_residual(
    b: &mut GraphBuilder,
    x: &figs::graph::T,
    out_c: usize,
    stride: usize,
    t: usize,
) -> figs::graph::T {
    let hidden = (x.channels as f64 * t as f64).round() as usize;
    let mut y = x.clone();
    if t != 1 {
        y = b.conv_bn_act("expand", &y, hidden, 1, 1, Act::Relu6);
    }
    y = b.dwconv_bn_act("dw", &y, 3, stride, Act::Relu6);
    let y = b.conv_bn("project", &y, out_c, 1, 1);
    if stride == 1 && x.channels == out_c {
        b.add("add", &[x, &y])
    } else {
        y
    }
}

/// The space as a [`SearchSpace`]: parameters as strings.
#[derive(Debug, Clone, Copy, Default)]
pub struct MobileNetV2;

impl SearchSpace for MobileNetV2 {
    fn name(&self) -> &str {
        "mobilenet_v2"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let mut p = input_params();
        p.extend([
            ParamSpec::new(
                "preset",
                "auto",
                "imagenet (torchvision's network), small (28x28 variant) or auto (small below 64 px)",
            ),
            ParamSpec::new("dropout", "0.2", "dropout before the classifier"),
            ParamSpec::new("fixed_stem", "false", "keep the stem conv's channels out of the search"),
            ParamSpec::new(
                "head_scales",
                "false",
                "scale the head conv by width below 1 too (torchvision keeps it at full width)",
            ),
            ParamSpec::new("round_nearest", "8", "channel counts round to multiples of this (1: continuous width)"),
        ]);
        p
    }

    fn build(&self, given: &BTreeMap<String, String>) -> Result<Graph> {
        let p = Params::new(self.name(), self.params(), given)?;
        let v = p.input()?;
        let base = if p.imagenet_preset("preset", v.resolution)? {
            Config::imagenet(v.width, v.resolution, v.classes)
        } else {
            Config::small(v.width, v.channels, v.classes)
        };
        let mut cfg = Config { channels: v.channels, resolution: v.resolution, ..base };
        cfg.dropout = p.get("dropout")?;
        cfg.fixed_stem = p.get("fixed_stem")?;
        cfg.head_scales = p.get("head_scales")?;
        cfg.round_nearest = p.get("round_nearest")?;
        build(&cfg)
    }
}

figs::export_plugin!(
    search_space: MobileNetV2,
    version: env!("CARGO_PKG_VERSION"),
    description: "MobileNetV2 inverted residual blocks, width search (torchvision-exact at preset=imagenet)",
);
