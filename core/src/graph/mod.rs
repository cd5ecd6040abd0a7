//! The supernet graph IR: one serialisable description of a network that flows through
//! everything in figs — search spaces produce it, the interpreter builds it, the search
//! prunes it, and the exported architecture (`arch.json`) is again a `Graph`.

mod analysis;
mod builder;
mod groups;
mod outputs;
mod prune;

pub use analysis::{Analysis, Seg, Shape, Source};
pub use builder::{GraphBuilder, T};
pub use groups::{Group, GroupId};
pub use outputs::{detection_maps, TaskKind};
pub use prune::{prune, prune_keeping, Folded, PruneReport};

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The name by which nodes refer to the input image.
pub const INPUT: &str = "input";

/// The input image: channels × height × width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// A network: input, number of classes, a topologically ordered list of nodes, the nodes
/// it returns and the task it is trained for. With no `outputs` named the last node is the
/// output; a classification network's first output produces `classes` logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// A human-readable name, e.g. `mobilenet_v2`.
    pub name: String,
    pub input: InputSpec,
    pub classes: usize,
    pub nodes: Vec<Node>,
    /// The nodes whose outputs the network returns, in order; empty: the last node alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    #[serde(default, skip_serializing_if = "TaskKind::is_classification")]
    pub task: TaskKind,
}

/// One operation applied to the outputs of earlier nodes (or to [`INPUT`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    #[serde(flatten)]
    pub op: Op,
    pub inputs: Vec<String>,
}

/// Activation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    Relu,
    Relu6,
    HardSwish,
    Swish,
    Sigmoid,
    /// `relu6(x + 3) / 6`: squeeze-and-excitation's gate in MobileNetV3.
    HardSigmoid,
}

fn yes() -> bool {
    true
}

/// The closed op set. Every op has a channel-grouping rule (see [`Analysis`]) and a cost rule
/// (see [`crate::cost`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// 2-D convolution. `depthwise` convolutions have `out` equal to their input width and
    /// pass the input's channel group through; all others start a new group.
    Conv {
        out: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default)]
        depthwise: bool,
        #[serde(default)]
        bias: bool,
        /// `false` keeps this conv's group ungated (e.g. the stem).
        #[serde(default = "yes")]
        searchable: bool,
    },
    /// Batch norm with affine parameters (2-D on images, 1-D on flat features).
    BatchNorm,
    Act {
        act: Act,
    },
    /// Element-wise sum; unions the channel groups of its inputs. With `bias`, a learned
    /// per-channel constant is added too (one input is then enough): the export folds into
    /// it the constant that a removed branch still added to the stream (docs/MATH.md).
    Add {
        #[serde(default, skip_serializing_if = "is_false")]
        bias: bool,
    },
    /// Channel concatenation; its output is a composite of the input groups.
    Concat,
    /// An image tensor times a per-channel scale of the same channels (`[C, 1, 1]`, e.g.
    /// squeeze-and-excitation's); unions the channel groups of its two inputs.
    Mul,
    AvgPool {
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
    },
    MaxPool {
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
    },
    GlobalAvgPool,
    /// Turns an image tensor into flat features (channel-major, as PyTorch does).
    Flatten,
    Linear {
        out: usize,
        #[serde(default = "yes")]
        bias: bool,
        #[serde(default = "yes")]
        searchable: bool,
    },
    Dropout {
        p: f64,
    },
    Identity,
    /// A detector's output per default box: each input `[K·values, H, W]` (a head's
    /// prediction conv on one feature map) becomes `[H·W·K, values]` — cell by cell, then
    /// box by box, as torchvision's SSD heads order them — and the inputs are concatenated
    /// in order, giving `[A, values]` for A default boxes. Only a graph output may be one,
    /// and its inputs' channels are never gated (they are an output's, like a classifier's
    /// logits).
    PerBox {
        values: usize,
    },
}

fn one() -> usize {
    1
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Op {
    /// True for ops that start a new channel group (dense conv and linear).
    pub fn is_producer(&self) -> bool {
        matches!(self, Op::Conv { depthwise: false, .. } | Op::Linear { .. })
    }

    /// A short name for tables and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Conv { depthwise: true, .. } => "dwconv",
            Op::Conv { .. } => "conv",
            Op::BatchNorm => "batch_norm",
            Op::Act { .. } => "act",
            Op::Add { .. } => "add",
            Op::Concat => "concat",
            Op::Mul => "mul",
            Op::AvgPool { .. } => "avg_pool",
            Op::MaxPool { .. } => "max_pool",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::Flatten => "flatten",
            Op::Linear { .. } => "linear",
            Op::Dropout { .. } => "dropout",
            Op::Identity => "identity",
            Op::PerBox { .. } => "per_box",
        }
    }
}

impl Graph {
    /// Validates the graph and infers shapes and channel groups.
    pub fn analyze(&self) -> Result<Analysis> {
        Analysis::new(self)
    }

    /// Index of the node called `name`, if any.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Parses a graph from JSON and validates it.
    pub fn from_json(text: &str) -> Result<Graph> {
        let g: Graph =
            serde_json::from_str(text).map_err(|source| Error::Json { path: "<graph json>".into(), source })?;
        g.analyze()?;
        Ok(g)
    }

    /// Loads and validates a graph (`arch.json`) from a file.
    pub fn load(path: &Path) -> Result<Graph> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        let g: Graph = serde_json::from_str(&text).map_err(|source| Error::Json { path: path.into(), source })?;
        g.analyze().map_err(|e| Error::GraphFile { path: path.into(), source: Box::new(e) })?;
        Ok(g)
    }

    /// Pretty JSON of the graph.
    pub fn to_json(&self) -> String {
        // A Graph holds only strings, numbers and enums: serialisation cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Writes the graph as pretty JSON, atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, self.to_json().as_bytes())
    }
}

#[cfg(test)]
mod tests;
