//! The MobileNetV3 search space (Howard et al. 2019) for figs: inverted residual blocks with
//! squeeze-and-excitation and hard-swish, whose expansion, squeeze, residual-stream and head
//! widths are searched.
//!
//! At `preset=large` / `small`, `width=1`, 224×224 and 1000 classes the graph is exactly
//! torchvision's `mobilenet_v3_large` / `mobilenet_v3_small` (same layers, same parameter
//! and MAC counts; tests/golden). The squeeze-and-excitation block is torchvision's:
//! global average pool, 1×1 conv to `make_divisible(expanded / 4, 8)` channels with bias,
//! ReLU, 1×1 conv back with bias, hard-sigmoid, times the block's expanded channels. Its
//! squeeze channels are a searched group of their own; its second conv joins the expanded
//! channels' group (the `mul`), so a closed expanded channel loses its scale too.
//! `preset=tiny` is a shortened, stride-adjusted variant for 28×28 inputs. `head=ssdlite`
//! puts SSDLite's detector on the backbone: at `preset=large`, 320×320 and 91 classes it is
//! torchvision's `ssdlite320_mobilenet_v3_large` (tests/golden).

use figs::graph::{Act, Graph, GraphBuilder, InputSpec, Op, T};
use figs::space::{input_params, make_divisible, ParamSpec, Params, SearchSpace};
use figs::{Error, Result};
use std::collections::BTreeMap;

/// One block before the width multiplier: kernel, expanded and output channels,
/// squeeze-and-excitation, hard-swish (else ReLU), stride.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub kernel: usize,
    pub expanded: usize,
    pub out: usize,
    pub se: bool,
    pub hs: bool,
    pub stride: usize,
}

const fn bk(kernel: usize, expanded: usize, out: usize, se: bool, hs: bool, stride: usize) -> Block {
    Block { kernel, expanded, out, se, hs, stride }
}

/// torchvision's `mobilenet_v3_large` setting (input channels are the previous output's).
pub const LARGE: [Block; 15] = [
    bk(3, 16, 16, false, false, 1),
    bk(3, 64, 24, false, false, 2),
    bk(3, 72, 24, false, false, 1),
    bk(5, 72, 40, true, false, 2),
    bk(5, 120, 40, true, false, 1),
    bk(5, 120, 40, true, false, 1),
    bk(3, 240, 80, false, true, 2),
    bk(3, 200, 80, false, true, 1),
    bk(3, 184, 80, false, true, 1),
    bk(3, 184, 80, false, true, 1),
    bk(3, 480, 112, true, true, 1),
    bk(3, 672, 112, true, true, 1),
    bk(5, 672, 160, true, true, 2),
    bk(5, 960, 160, true, true, 1),
    bk(5, 960, 160, true, true, 1),
];

/// torchvision's `mobilenet_v3_small` setting.
pub const SMALL: [Block; 11] = [
    bk(3, 16, 16, true, false, 2),
    bk(3, 72, 24, false, false, 2),
    bk(3, 88, 24, false, false, 1),
    bk(5, 96, 40, true, true, 2),
    bk(5, 240, 40, true, true, 1),
    bk(5, 240, 40, true, true, 1),
    bk(5, 120, 48, true, true, 1),
    bk(5, 144, 48, true, true, 1),
    bk(5, 288, 96, true, true, 2),
    bk(5, 576, 96, true, true, 1),
    bk(5, 576, 96, true, true, 1),
];

/// For 28×28 inputs: the small network's first seven blocks with the stem at stride 1 and
/// three downsamplings (28→14→7→4).
pub const TINY: [Block; 7] = [
    bk(3, 16, 16, true, false, 2),
    bk(3, 72, 24, false, false, 2),
    bk(3, 88, 24, false, false, 1),
    bk(5, 96, 40, true, true, 2),
    bk(5, 240, 40, true, true, 1),
    bk(5, 120, 48, true, true, 1),
    bk(5, 144, 48, true, true, 1),
];

/// Typed configuration of the space.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub channels: usize,
    pub resolution: usize,
    pub classes: usize,
    pub width: f64,
    pub stem_stride: usize,
    pub blocks: Vec<Block>,
    /// Width of the classifier's hidden linear layer before the multiplier.
    pub last_channel: usize,
    pub dropout: f64,
    /// Halve the last three blocks' outputs, the last two blocks' expansions and the
    /// classifier's hidden layer (torchvision's `reduced_tail`, which its SSDLite uses).
    pub reduced_tail: bool,
    pub head: Head,
}

/// What follows the backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// Global pool, hidden linear layer, classifier: torchvision's `mobilenet_v3_*`.
    Classifier,
    /// SSDLite's extra layers and heads on the last stride-2 block's expansion and the last
    /// conv ([`figs::detect::ssdlite`]): torchvision's `ssdlite320_mobilenet_v3_large`,
    /// `classes` counting the background.
    SsdLite,
}

impl Config {
    /// torchvision's `mobilenet_v3_large`.
    pub fn large(width: f64, resolution: usize, classes: usize) -> Config {
        Config {
            channels: 3,
            resolution,
            classes,
            width,
            stem_stride: 2,
            blocks: LARGE.to_vec(),
            last_channel: 1280,
            dropout: 0.2,
            reduced_tail: false,
            head: Head::Classifier,
        }
    }

    /// torchvision's `mobilenet_v3_small`.
    pub fn small(width: f64, resolution: usize, classes: usize) -> Config {
        Config { blocks: SMALL.to_vec(), last_channel: 1024, ..Config::large(width, resolution, classes) }
    }

    /// The 28×28 variant.
    pub fn tiny(width: f64, channels: usize, classes: usize) -> Config {
        Config {
            channels,
            stem_stride: 1,
            blocks: TINY.to_vec(),
            last_channel: 256,
            ..Config::large(width, 28, classes)
        }
    }
}

/// Builds the MobileNetV3 graph of `cfg`.
pub fn build(cfg: &Config) -> Result<Graph> {
    if !(cfg.width > 0.0 && cfg.width.is_finite()) {
        return Err(Error::Config { name: "width".into(), message: format!("must be positive, got {}", cfg.width) });
    }
    if cfg.blocks.is_empty() {
        return Err(Error::Config { name: "blocks".into(), message: "a MobileNetV3 needs at least one block".into() });
    }
    let adjust = |c: usize| make_divisible(c as f64 * cfg.width, 8);
    // torchvision's reduced tail halves the last three blocks' outputs and the last two
    // blocks' expansions (the first of the three keeps its expansion).
    let tail = cfg.blocks.len().saturating_sub(3);
    let reduce = |from: usize, k: usize, c: usize| if cfg.reduced_tail && k >= from { c / 2 } else { c };
    let input = InputSpec { channels: cfg.channels, height: cfg.resolution, width: cfg.resolution };
    let mut b = GraphBuilder::new("mobilenet_v3", input, cfg.classes);
    let x = b.input();
    // SSDLite reads the output of the last stride-2 block's first layer (torchvision's C4
    // tap, `block[0]`): its expansion, or its depthwise conv where the width multiplier left
    // no expansion.
    let tap = cfg.blocks.iter().rposition(|blk| blk.stride > 1);
    let mut c4 = None;
    let mut x = b.conv_bn_act("stem", &x, adjust(16), 3, cfg.stem_stride, Act::HardSwish);
    for (k, blk) in cfg.blocks.iter().enumerate() {
        let (expanded, out) = (adjust(reduce(tail + 1, k, blk.expanded)), adjust(reduce(tail, k, blk.out)));
        let (y, first) = b.scope(&format!("block{k}"), |b| inverted_residual(b, &x, expanded, out, blk));
        if Some(k) == tap {
            c4 = Some(first);
        }
        x = y;
    }
    let last_conv = 6 * x.channels;
    let x = b.conv_bn_act("head", &x, last_conv, 1, 1, Act::HardSwish);
    if cfg.head == Head::SsdLite {
        let c4 = c4.ok_or_else(|| Error::Config {
            name: "head".into(),
            message: "SSDLite reads the last stride-2 block, and this network has none; use preset large or small"
                .into(),
        })?;
        figs::detect::ssdlite::attach(&mut b, &c4, &x, cfg.classes, cfg.width);
        return b.finish();
    }
    let x = b.global_avg_pool("pool", &x);
    let x = b.flatten("flatten", &x);
    let last_channel = adjust(if cfg.reduced_tail { cfg.last_channel / 2 } else { cfg.last_channel });
    let x = b.linear("hidden", &x, last_channel);
    let x = b.act("hidden_act", &x, Act::HardSwish);
    let x = if cfg.dropout > 0.0 { b.dropout("dropout", &x, cfg.dropout) } else { x };
    b.linear("classifier", &x, cfg.classes);
    b.finish()
}

/// The block's output and its first layer's (the expansion, or the depthwise conv where
/// there is none: torchvision's `block[0]`).
fn inverted_residual(b: &mut GraphBuilder, x: &T, expanded: usize, out: usize, blk: &Block) -> (T, T) {
    let act = if blk.hs { Act::HardSwish } else { Act::Relu };
    let mut y = x.clone();
    let mut first = None;
    if expanded != x.channels {
        y = b.conv_bn_act("expand", &y, expanded, 1, 1, act);
        first = Some(y.clone());
    }
    y = b.dwconv_bn_act("dw", &y, blk.kernel, blk.stride, act);
    let first = first.unwrap_or_else(|| y.clone());
    if blk.se {
        y = b.scope("se", |b| squeeze_excite(b, &y));
    }
    let y = b.conv_bn("project", &y, out, 1, 1);
    let y = if blk.stride == 1 && x.channels == out { b.add("add", &[x, &y]) } else { y };
    (y, first)
}

/// torchvision's `SqueezeExcitation(c, make_divisible(c // 4, 8), scale_activation=Hardsigmoid)`.
fn squeeze_excite(b: &mut GraphBuilder, x: &T) -> T {
    let squeeze = make_divisible((x.channels / 4) as f64, 8);
    let conv = |out| Op::Conv { out, kernel: 1, stride: 1, padding: 0, depthwise: false, bias: true, searchable: true };
    let s = b.global_avg_pool("pool", x);
    let s = b.node("fc1", conv(squeeze), &[&s], squeeze);
    let s = b.act("relu", &s, Act::Relu);
    let s = b.node("fc2", conv(x.channels), &[&s], x.channels);
    let s = b.act("gate", &s, Act::HardSigmoid);
    b.mul("scale", x, &s)
}

/// The space as a [`SearchSpace`]: parameters as strings.
#[derive(Debug, Clone, Copy, Default)]
pub struct MobileNetV3;

impl SearchSpace for MobileNetV3 {
    fn name(&self) -> &str {
        "mobilenet_v3"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let mut p = input_params();
        p.extend([
            ParamSpec::new(
                "preset",
                "auto",
                "large or small (torchvision's networks), tiny (28x28 variant) or auto (tiny below 64 px, else large)",
            ),
            ParamSpec::new("dropout", "0.2", "dropout before the classifier"),
            ParamSpec::new(
                "reduced_tail",
                "auto",
                "halve the last three blocks and the hidden layer (torchvision's SSDLite backbone): true, false or auto (true with head=ssdlite)",
            ),
            ParamSpec::new(
                "head",
                "classifier",
                "classifier, or ssdlite: SSDLite's detector (classes count the background, as torchvision's num_classes)",
            ),
        ]);
        p
    }

    fn build(&self, given: &BTreeMap<String, String>) -> Result<Graph> {
        let p = Params::new(self.name(), self.params(), given)?;
        let v = p.input()?;
        let preset: String = p.get("preset")?;
        let base = match preset.as_str() {
            "large" => Config::large(v.width, v.resolution, v.classes),
            "small" => Config::small(v.width, v.resolution, v.classes),
            "tiny" => Config::tiny(v.width, v.channels, v.classes),
            "auto" if v.resolution < 64 => Config::tiny(v.width, v.channels, v.classes),
            "auto" => Config::large(v.width, v.resolution, v.classes),
            other => {
                return Err(Error::Config {
                    name: "preset".into(),
                    message: format!("`{other}` is not a preset; give large, small, tiny or auto"),
                })
            }
        };
        let mut cfg = Config { channels: v.channels, resolution: v.resolution, ..base };
        cfg.dropout = p.get("dropout")?;
        cfg.head = match p.raw("head") {
            "classifier" => Head::Classifier,
            "ssdlite" => Head::SsdLite,
            other => {
                return Err(Error::Config {
                    name: "head".into(),
                    message: format!("`{other}` is not a head; give classifier or ssdlite"),
                })
            }
        };
        cfg.reduced_tail = match p.raw("reduced_tail") {
            "auto" => cfg.head == Head::SsdLite,
            _ => p.get("reduced_tail")?,
        };
        build(&cfg)
    }
}

figs::export_plugin!(
    search_space: MobileNetV3,
    version: env!("CARGO_PKG_VERSION"),
    description: "MobileNetV3 large/small with squeeze-and-excitation, width search (torchvision-exact at width 1)",
);
