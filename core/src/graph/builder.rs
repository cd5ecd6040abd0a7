//! A small builder so that a search space reads like a model definition:
//!
//! ```
//! use figs::graph::{GraphBuilder, InputSpec, Act};
//! let mut b = GraphBuilder::new("tiny", InputSpec { channels: 1, height: 8, width: 8 }, 10);
//! let x = b.input();
//! let x = b.conv_bn_act("stem", &x, 8, 3, 1, Act::Relu);
//! let x = b.global_avg_pool("pool", &x);
//! let x = b.flatten("flat", &x);
//! let _ = b.linear("fc", &x, 10);
//! let graph = b.finish().unwrap();
//! assert_eq!(graph.nodes.len(), 6);
//! ```

use super::{Act, Graph, InputSpec, Node, Op, TaskKind, INPUT};
use crate::error::Result;

/// A handle to a node's output while building: its name and channel count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct T {
    pub name: String,
    pub channels: usize,
}

/// Builds a [`Graph`] node by node. Names are prefixed by the open scopes
/// (`block3.expand.conv`).
#[derive(Debug, Clone)]
pub struct GraphBuilder {
    name: String,
    input: InputSpec,
    classes: usize,
    nodes: Vec<Node>,
    scopes: Vec<String>,
    outputs: Vec<String>,
    task: TaskKind,
}

impl GraphBuilder {
    pub fn new(name: impl Into<String>, input: InputSpec, classes: usize) -> Self {
        GraphBuilder {
            name: name.into(),
            input,
            classes,
            nodes: Vec::new(),
            scopes: Vec::new(),
            outputs: Vec::new(),
            task: TaskKind::default(),
        }
    }

    /// The input image.
    pub fn input(&self) -> T {
        T { name: INPUT.to_string(), channels: self.input.channels }
    }

    /// Runs `f` with `scope` appended to the name prefix.
    pub fn scope<R>(&mut self, scope: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.scopes.push(scope.to_string());
        let r = f(self);
        self.scopes.pop();
        r
    }

    /// Adds a node with any op; `channels` is its output width.
    pub fn node(&mut self, name: &str, op: Op, inputs: &[&T], channels: usize) -> T {
        let mut full = self.scopes.join(".");
        if !full.is_empty() {
            full.push('.');
        }
        full.push_str(name);
        self.nodes.push(Node { name: full.clone(), op, inputs: inputs.iter().map(|t| t.name.clone()).collect() });
        T { name: full, channels }
    }

    /// A dense, bias-free, searchable conv with "same" padding (`kernel / 2`).
    pub fn conv(&mut self, name: &str, x: &T, out: usize, kernel: usize, stride: usize) -> T {
        self.conv_spec(name, x, out, kernel, stride, true)
    }

    /// A dense conv whose output group is never gated (a stem, say).
    pub fn fixed_conv(&mut self, name: &str, x: &T, out: usize, kernel: usize, stride: usize) -> T {
        self.conv_spec(name, x, out, kernel, stride, false)
    }

    fn conv_spec(&mut self, name: &str, x: &T, out: usize, kernel: usize, stride: usize, searchable: bool) -> T {
        let op = Op::Conv { out, kernel, stride, padding: kernel / 2, depthwise: false, bias: false, searchable };
        self.node(name, op, &[x], out)
    }

    /// A depthwise conv with "same" padding.
    pub fn dwconv(&mut self, name: &str, x: &T, kernel: usize, stride: usize) -> T {
        let op = Op::Conv {
            out: x.channels,
            kernel,
            stride,
            padding: kernel / 2,
            depthwise: true,
            bias: false,
            searchable: true,
        };
        self.node(name, op, &[x], x.channels)
    }

    pub fn bn(&mut self, name: &str, x: &T) -> T {
        self.node(name, Op::BatchNorm, &[x], x.channels)
    }

    pub fn act(&mut self, name: &str, x: &T, act: Act) -> T {
        self.node(name, Op::Act { act }, &[x], x.channels)
    }

    /// conv → batch norm → activation, in a scope called `name` (`name.conv`, `name.bn`,
    /// `name.act`).
    pub fn conv_bn_act(&mut self, name: &str, x: &T, out: usize, kernel: usize, stride: usize, act: Act) -> T {
        self.scope(name, |b| {
            let y = b.conv("conv", x, out, kernel, stride);
            let y = b.bn("bn", &y);
            b.act("act", &y, act)
        })
    }

    /// depthwise conv → batch norm → activation in a scope called `name` (an inverted
    /// residual block's middle).
    pub fn dwconv_bn_act(&mut self, name: &str, x: &T, kernel: usize, stride: usize, act: Act) -> T {
        self.scope(name, |b| {
            let y = b.dwconv("conv", x, kernel, stride);
            let y = b.bn("bn", &y);
            b.act("act", &y, act)
        })
    }

    /// conv → batch norm in a scope called `name`, no activation (a linear bottleneck's
    /// projection).
    pub fn conv_bn(&mut self, name: &str, x: &T, out: usize, kernel: usize, stride: usize) -> T {
        self.scope(name, |b| {
            let y = b.conv("conv", x, out, kernel, stride);
            b.bn("bn", &y)
        })
    }

    pub fn add(&mut self, name: &str, xs: &[&T]) -> T {
        let c = xs.first().map(|t| t.channels).unwrap_or(0);
        self.node(name, Op::Add { bias: false }, xs, c)
    }

    /// `x` times a per-channel `scale` (`[C, 1, 1]`, a squeeze-and-excitation's gate).
    pub fn mul(&mut self, name: &str, x: &T, scale: &T) -> T {
        self.node(name, Op::Mul, &[x, scale], x.channels)
    }

    pub fn concat(&mut self, name: &str, xs: &[&T]) -> T {
        let c = xs.iter().map(|t| t.channels).sum();
        self.node(name, Op::Concat, xs, c)
    }

    pub fn global_avg_pool(&mut self, name: &str, x: &T) -> T {
        self.node(name, Op::GlobalAvgPool, &[x], x.channels)
    }

    pub fn flatten(&mut self, name: &str, x: &T) -> T {
        self.node(name, Op::Flatten, &[x], x.channels)
    }

    pub fn dropout(&mut self, name: &str, x: &T, p: f64) -> T {
        self.node(name, Op::Dropout { p }, &[x], x.channels)
    }

    /// A linear layer with bias.
    pub fn linear(&mut self, name: &str, x: &T, out: usize) -> T {
        self.node(name, Op::Linear { out, bias: true, searchable: true }, &[x], out)
    }

    /// A detector's output per default box from head convs `xs` (see [`Op::PerBox`]).
    pub fn per_box(&mut self, name: &str, xs: &[&T], values: usize) -> T {
        self.node(name, Op::PerBox { values }, xs, values)
    }

    /// Names the nodes the network returns, in order (by default the last node alone).
    pub fn outputs(&mut self, xs: &[&T]) {
        self.outputs = xs.iter().map(|t| t.name.clone()).collect();
    }

    /// Sets what the network is trained for (by default classification).
    pub fn task(&mut self, task: TaskKind) {
        self.task = task;
    }

    /// Validates and returns the graph.
    pub fn finish(self) -> Result<Graph> {
        let g = Graph {
            name: self.name,
            input: self.input,
            classes: self.classes,
            nodes: self.nodes,
            outputs: self.outputs,
            task: self.task,
        };
        g.analyze()?;
        Ok(g)
    }
}
