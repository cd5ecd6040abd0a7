//! An FBNet/DNAS-style search space for figs: every block is a *superblock* holding parallel
//! candidate branches — inverted residuals with kernel 3/5/7 × expansion 3/6 by default —
//! summed into the residual stream, plus the identity where shapes allow. Each branch's
//! expansion channels are a gated group of their own, so one FiGS search selects operators
//! (a branch whose channels all die is removed at export) and sizes the survivors.
//!
//! Stage layout after Wu et al., *FBNet* (2019): `imagenet` uses its macro-architecture
//! (16 → 24 → 32 → 64 → 112 → 184 → 352, head 1984); `small` is a shortened variant for
//! 28×28 inputs.

use figs::graph::{Act, Graph, GraphBuilder, InputSpec, T};
use figs::space::{input_params, ParamSpec, Params, SearchSpace};
use figs::{Error, Result};
use std::collections::BTreeMap;

/// One stage: output channels, number of superblocks, first stride.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub c: usize,
    pub n: usize,
    pub s: usize,
}

const fn st(c: usize, n: usize, s: usize) -> Stage {
    Stage { c, n, s }
}

/// FBNet's macro-architecture (stem 16/2, head 1984).
pub const IMAGENET: [Stage; 7] =
    [st(16, 1, 1), st(24, 4, 2), st(32, 4, 2), st(64, 4, 2), st(112, 4, 1), st(184, 4, 2), st(352, 1, 1)];

/// For 28×28 inputs (stem 16/1, head 256).
pub const SMALL: [Stage; 4] = [st(16, 1, 1), st(24, 2, 2), st(32, 2, 2), st(64, 2, 2)];

/// Typed configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub channels: usize,
    pub resolution: usize,
    pub classes: usize,
    pub width: f64,
    pub stem: usize,
    pub stem_stride: usize,
    pub stages: Vec<Stage>,
    pub head: usize,
    pub kernels: Vec<usize>,
    pub expansions: Vec<usize>,
    /// Offer the identity as a candidate where the block keeps shape.
    pub skip: bool,
}

impl Config {
    pub fn imagenet(width: f64, resolution: usize, classes: usize) -> Config {
        Config {
            channels: 3,
            resolution,
            classes,
            width,
            stem: 16,
            stem_stride: 2,
            stages: IMAGENET.to_vec(),
            head: 1984,
            kernels: vec![3, 5, 7],
            expansions: vec![3, 6],
            skip: true,
        }
    }

    pub fn small(width: f64, channels: usize, classes: usize) -> Config {
        Config { channels, stem_stride: 1, stages: SMALL.to_vec(), head: 256, ..Config::imagenet(width, 28, classes) }
    }
}

fn bad(name: &str, message: String) -> Error {
    Error::Config { name: name.into(), message }
}

fn scaled(c: usize, w: f64) -> usize {
    ((c as f64 * w / 8.0).round() as usize).max(1) * 8
}

/// Builds the supernet of `cfg`. Branch nodes are named `block{i}.k{k}e{e}.*`, the
/// identity candidate is the block input itself.
pub fn build(cfg: &Config) -> Result<Graph> {
    if !(cfg.width > 0.0 && cfg.width.is_finite()) {
        return Err(bad("width", format!("must be positive, got {}", cfg.width)));
    }
    if cfg.kernels.is_empty() || cfg.expansions.is_empty() {
        return Err(bad("kernels", "at least one kernel size and one expansion are needed".into()));
    }
    if let Some(k) = cfg.kernels.iter().find(|k| *k % 2 == 0 || **k == 0) {
        return Err(bad("kernels", format!("kernel sizes must be odd, got {k}")));
    }
    let input = InputSpec { channels: cfg.channels, height: cfg.resolution, width: cfg.resolution };
    let mut b = GraphBuilder::new("fbnet", input, cfg.classes);
    let x = b.input();
    let mut x = b.conv_bn_act("stem", &x, scaled(cfg.stem, cfg.width), 3, cfg.stem_stride, Act::Relu);
    let mut block = 0;
    for stage in &cfg.stages {
        let out_c = scaled(stage.c, cfg.width);
        for i in 0..stage.n {
            let stride = if i == 0 { stage.s } else { 1 };
            x = b.scope(&format!("block{block}"), |b| superblock(b, &x, out_c, stride, cfg));
            block += 1;
        }
    }
    let x = b.conv_bn_act("head", &x, scaled(cfg.head, cfg.width.max(1.0)), 1, 1, Act::Relu);
    let x = b.global_avg_pool("pool", &x);
    let x = b.flatten("flatten", &x);
    b.linear("classifier", &x, cfg.classes);
    b.finish()
}

fn superblock(b: &mut GraphBuilder, x: &T, out_c: usize, stride: usize, cfg: &Config) -> T {
    let mut branches = Vec::new();
    for &k in &cfg.kernels {
        for &e in &cfg.expansions {
            let y = b.scope(&format!("k{k}e{e}"), |b| {
                let y = b.conv_bn_act("expand", x, x.channels * e, 1, 1, Act::Relu);
                let y = b.dwconv_bn_act("dw", &y, k, stride, Act::Relu);
                b.conv_bn("project", &y, out_c, 1, 1)
            });
            branches.push(y);
        }
    }
    if cfg.skip && stride == 1 && x.channels == out_c {
        branches.push(x.clone());
    }
    let refs: Vec<&T> = branches.iter().collect();
    if refs.len() == 1 {
        return branches.remove(0);
    }
    b.add("sum", &refs)
}

/// The space as a [`SearchSpace`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FbNet;

fn list(p: &Params, name: &str) -> Result<Vec<usize>> {
    p.raw(name)
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| bad(name, format!("`{}` is not a comma-separated list of integers", p.raw(name))))
        })
        .collect()
}

impl SearchSpace for FbNet {
    fn name(&self) -> &str {
        "fbnet"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let mut p = input_params();
        p.extend([
            ParamSpec::new(
                "preset",
                "auto",
                "imagenet (FBNet macro-architecture), small (28x28 variant) or auto (small below 64 px)",
            ),
            ParamSpec::new("kernels", "3,5,7", "depthwise kernel sizes of the candidate branches"),
            ParamSpec::new("expansions", "3,6", "expansion ratios of the candidate branches"),
            ParamSpec::new("skip", "true", "offer the identity where a block keeps its shape"),
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
        cfg.kernels = list(&p, "kernels")?;
        cfg.expansions = list(&p, "expansions")?;
        cfg.skip = p.get("skip")?;
        build(&cfg)
    }
}

figs::export_plugin!(
    search_space: FbNet,
    version: env!("CARGO_PKG_VERSION"),
    description: "FBNet-style superblocks: parallel k3/5/7 x e3/6 branches + skip; selects and sizes operators",
);
