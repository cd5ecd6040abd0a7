//! The ResNet search space for figs: basic or bottleneck residual networks whose widths are
//! searched, including the residual stream of each stage (one channel group, since every
//! block of a stage adds onto it).
//!
//! `stem=imagenet` with depth 18/34/50/101/152 at 224×224 and 1000 classes is torchvision's
//! `resnetNN` exactly (v1.5: the stride sits in the bottleneck's 3×3 conv). `stem=cifar` is
//! He et al.'s CIFAR network (depth 6n+2: three stages of 16/32/64 basic blocks).

use figs::graph::{Act, Graph, GraphBuilder, InputSpec, Op, T};
use figs::space::{input_params, ParamSpec, Params, SearchSpace};
use figs::{Error, Result};
use std::collections::BTreeMap;

/// Residual block type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    Basic,
    Bottleneck,
}

impl Block {
    fn expansion(self) -> usize {
        match self {
            Block::Basic => 1,
            Block::Bottleneck => 4,
        }
    }
}

/// Typed configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub channels: usize,
    pub resolution: usize,
    pub classes: usize,
    pub width: f64,
    pub block: Block,
    /// Blocks per stage.
    pub layers: Vec<usize>,
    /// Base width (planes) per stage, before the multiplier.
    pub planes: Vec<usize>,
    /// ImageNet stem (7×7/2 conv + 3×3/2 max pool) or CIFAR stem (3×3/1 conv).
    pub imagenet_stem: bool,
}

impl Config {
    /// torchvision's `resnet{depth}`.
    pub fn imagenet(depth: usize, width: f64, resolution: usize, classes: usize) -> Result<Config> {
        let (block, layers) = match depth {
            18 => (Block::Basic, vec![2, 2, 2, 2]),
            34 => (Block::Basic, vec![3, 4, 6, 3]),
            50 => (Block::Bottleneck, vec![3, 4, 6, 3]),
            101 => (Block::Bottleneck, vec![3, 4, 23, 3]),
            152 => (Block::Bottleneck, vec![3, 8, 36, 3]),
            d => return Err(bad("depth", format!("ImageNet ResNets have depth 18, 34, 50, 101 or 152, not {d}"))),
        };
        Ok(Config {
            channels: 3,
            resolution,
            classes,
            width,
            block,
            layers,
            planes: vec![64, 128, 256, 512],
            imagenet_stem: true,
        })
    }

    /// He et al.'s CIFAR ResNet of depth `6n + 2`.
    pub fn cifar(depth: usize, width: f64, resolution: usize, classes: usize) -> Result<Config> {
        if depth < 8 || (depth - 2) % 6 != 0 {
            return Err(bad("depth", format!("CIFAR ResNets have depth 6n+2 (20, 32, 44, 56, 110), not {depth}")));
        }
        let n = (depth - 2) / 6;
        Ok(Config {
            channels: 3,
            resolution,
            classes,
            width,
            block: Block::Basic,
            layers: vec![n; 3],
            planes: vec![16, 32, 64],
            imagenet_stem: false,
        })
    }
}

fn bad(name: &str, message: String) -> Error {
    Error::Config { name: name.into(), message }
}

fn scaled(c: usize, w: f64) -> usize {
    ((c as f64 * w).round() as usize).max(1)
}

/// Builds the graph of `cfg`.
pub fn build(cfg: &Config) -> Result<Graph> {
    if !(cfg.width > 0.0 && cfg.width.is_finite()) {
        return Err(bad("width", format!("must be positive, got {}", cfg.width)));
    }
    let input = InputSpec { channels: cfg.channels, height: cfg.resolution, width: cfg.resolution };
    let mut b = GraphBuilder::new("resnet", input, cfg.classes);
    let x = b.input();
    let stem_c = scaled(if cfg.imagenet_stem { 64 } else { cfg.planes[0] }, cfg.width);
    let mut x = if cfg.imagenet_stem {
        let y = b.scope("stem", |b| {
            let y = b.conv("conv", &x, stem_c, 7, 2);
            let y = b.bn("bn", &y);
            b.act("act", &y, Act::Relu)
        });
        let op = Op::MaxPool { kernel: 3, stride: 2, padding: 1 };
        b.node("maxpool", op, &[&y], y.channels)
    } else {
        b.conv_bn_act("stem", &x, stem_c, 3, 1, Act::Relu)
    };
    for (s, (&n, &planes)) in cfg.layers.iter().zip(&cfg.planes).enumerate() {
        let planes = scaled(planes, cfg.width);
        for i in 0..n {
            let stride = if i == 0 && s > 0 { 2 } else { 1 };
            x = b.scope(&format!("layer{}.{i}", s + 1), |b| block(b, &x, planes, stride, cfg.block));
        }
    }
    let x = b.global_avg_pool("avgpool", &x);
    let x = b.flatten("flatten", &x);
    b.linear("fc", &x, cfg.classes);
    b.finish()
}

fn block(b: &mut GraphBuilder, x: &T, planes: usize, stride: usize, kind: Block) -> T {
    let out_c = planes * kind.expansion();
    let y = match kind {
        Block::Basic => {
            let y = b.conv_bn_act("conv1", x, planes, 3, stride, Act::Relu);
            b.scope("conv2", |b| {
                let y = b.conv("conv", &y, planes, 3, 1);
                b.bn("bn", &y)
            })
        }
        Block::Bottleneck => {
            let y = b.conv_bn_act("conv1", x, planes, 1, 1, Act::Relu);
            let y = b.conv_bn_act("conv2", &y, planes, 3, stride, Act::Relu);
            b.scope("conv3", |b| {
                let y = b.conv("conv", &y, out_c, 1, 1);
                b.bn("bn", &y)
            })
        }
    };
    let shortcut = if stride != 1 || x.channels != out_c {
        b.scope("downsample", |b| {
            let s = b.conv("conv", x, out_c, 1, stride);
            b.bn("bn", &s)
        })
    } else {
        x.clone()
    };
    let s = b.add("add", &[&shortcut, &y]);
    b.act("relu", &s, Act::Relu)
}

/// The space as a [`SearchSpace`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ResNet;

impl SearchSpace for ResNet {
    fn name(&self) -> &str {
        "resnet"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let mut p = input_params();
        p.extend([
            ParamSpec::new(
                "stem",
                "auto",
                "imagenet (7x7/2 conv + max pool, torchvision), cifar or small (3x3/1 conv) or auto (cifar below 64 px)",
            ),
            ParamSpec::new(
                "depth",
                "auto",
                "18/34/50/101/152 (imagenet) or 6n+2 such as 20/56 (cifar); auto: 18 resp. 20",
            ),
        ]);
        p
    }

    fn build(&self, given: &BTreeMap<String, String>) -> Result<Graph> {
        let p = Params::new(self.name(), self.params(), given)?;
        let v = p.input()?;
        let (resolution, classes, width) = (v.resolution, v.classes, v.width);
        let imagenet = p.imagenet_preset("stem", resolution)?;
        let depth: usize = match p.raw("depth") {
            "auto" => {
                if imagenet {
                    18
                } else {
                    20
                }
            }
            _ => p.get("depth")?,
        };
        let mut cfg = if imagenet {
            Config::imagenet(depth, width, resolution, classes)?
        } else {
            Config::cifar(depth, width, resolution, classes)?
        };
        cfg.channels = p.get("channels")?;
        build(&cfg)
    }
}

figs::export_plugin!(
    search_space: ResNet,
    version: env!("CARGO_PKG_VERSION"),
    description: "ResNet (basic/bottleneck), width search across residual stages (torchvision-exact at stem=imagenet)",
);
