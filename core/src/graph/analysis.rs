//! Validation, shape inference and channel-group inference for a [`Graph`].
//!
//! Channel groups are inferred, never declared: each dense conv or linear starts a group;
//! depthwise conv, batch norm, activations, pooling, flatten and dropout pass their input's
//! channels through; `add` unions the groups of its inputs (so a residual stream becomes one
//! group); `concat` produces a composite (a list of segments) of its inputs' groups;
//! `per_box` (a detector's output) carries its inputs' groups, which makes them an output's.
//!
//! Why one file of ~450 lines: validation, shapes and groups are one walk over the nodes
//! (each node's shape and channel segments come from its inputs' in the same pass); the
//! union-find itself lives in `groups.rs`.

use super::groups::{self, Group, GroupId, UnionFind};
use super::{Graph, Op, INPUT};
use crate::error::{Error, Result};

/// Output shape of a node. Flat tensors keep the spatial size they were flattened from, so
/// `features() = c * h * w` and pruning one channel removes `h * w` features. A `per_box`
/// output is `[h, c]` per example: `h` default boxes of `c` values (`w` = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub flat: bool,
}

impl Shape {
    /// Number of values per example: `c·h·w`.
    pub fn features(&self) -> usize {
        self.c * self.h * self.w
    }
}

/// A run of `width` consecutive channels that all belong to `group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seg {
    pub group: GroupId,
    pub width: usize,
}

/// Where a node's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Input,
    Node(usize),
}

/// Everything figs infers from a valid graph.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Per node: its resolved inputs.
    pub inputs: Vec<Vec<Source>>,
    /// Per node: output shape.
    pub shapes: Vec<Shape>,
    /// Per node: which groups its output channels belong to, in channel order.
    pub channels: Vec<Vec<Seg>>,
    /// Channels of the input image (always the ungated group 0).
    pub input_channels: Vec<Seg>,
    /// Shape of the input image.
    pub input_shape: Shape,
    /// All channel groups, ordered by their first producer. Group 0 is the input image.
    pub groups: Vec<Group>,
    /// Per node: true if a gate is applied to this node's output (after the BN that follows
    /// a producer, or after the conv/linear itself where no BN follows).
    pub gate_after: Vec<bool>,
    /// Per node: the nodes that read its output.
    pub consumers: Vec<Vec<usize>>,
    /// The output nodes, in the order the network returns them.
    pub outputs: Vec<usize>,
}

impl Analysis {
    pub(crate) fn new(g: &Graph) -> Result<Analysis> {
        if g.nodes.is_empty() {
            return Err(Error::GraphGlobal("the graph has no nodes".into()));
        }
        if g.input.channels == 0 || g.input.height == 0 || g.input.width == 0 {
            return Err(Error::GraphGlobal(format!(
                "input size {}x{}x{} has a zero dimension",
                g.input.channels, g.input.height, g.input.width
            )));
        }
        if g.classes == 0 {
            return Err(Error::GraphGlobal("`classes` must be at least 1".into()));
        }
        let inputs = resolve_inputs(g)?;
        let outputs = super::outputs::resolve(g)?;
        let mut uf = UnionFind::default();
        let input_group = uf.fresh();
        let input_shape = Shape { c: g.input.channels, h: g.input.height, w: g.input.width, flat: false };
        let input_channels = vec![Seg { group: input_group, width: g.input.channels }];
        let mut shapes: Vec<Shape> = Vec::with_capacity(g.nodes.len());
        let mut channels: Vec<Vec<Seg>> = Vec::with_capacity(g.nodes.len());
        let mut producer_of: Vec<Option<GroupId>> = vec![None; g.nodes.len()];

        for (i, node) in g.nodes.iter().enumerate() {
            let ins: Vec<(Shape, Vec<Seg>)> = inputs[i]
                .iter()
                .map(|s| match *s {
                    Source::Input => (input_shape, input_channels.clone()),
                    Source::Node(j) => (shapes[j], channels[j].clone()),
                })
                .collect();
            let err = |m: String| Error::graph(&node.name, m);
            let arity_one = || -> Result<()> {
                if ins.len() != 1 {
                    return Err(err(format!("{} takes exactly one input, got {}", node.op.kind(), ins.len())));
                }
                Ok(())
            };
            let (shape, segs) = match &node.op {
                Op::Conv { out, kernel, stride, padding, depthwise, .. } => {
                    arity_one()?;
                    let (s, c) = &ins[0];
                    if s.flat {
                        return Err(err(format!(
                            "conv gets flat features from `{}`; convs need an image tensor (move the flatten after this conv)",
                            node.inputs[0]
                        )));
                    }
                    check_window(&node.name, "conv", *kernel, *stride, *padding, s)?;
                    if *out == 0 {
                        return Err(err("conv has 0 output channels".into()));
                    }
                    let (h, w) = window_out(s, *kernel, *stride, *padding);
                    if *depthwise {
                        if *out != s.c {
                            return Err(err(format!(
                                "depthwise conv must keep its input width: input has {} channels, `out` is {}",
                                s.c, out
                            )));
                        }
                        (Shape { c: s.c, h, w, flat: false }, c.clone())
                    } else {
                        let gid = uf.fresh();
                        producer_of[i] = Some(gid);
                        (Shape { c: *out, h, w, flat: false }, vec![Seg { group: gid, width: *out }])
                    }
                }
                Op::Linear { out, .. } => {
                    arity_one()?;
                    if !ins[0].0.flat {
                        return Err(err(format!(
                            "linear gets an image tensor from `{}`; add a flatten (or global_avg_pool + flatten) before it",
                            node.inputs[0]
                        )));
                    }
                    if *out == 0 {
                        return Err(err("linear has 0 outputs".into()));
                    }
                    let gid = uf.fresh();
                    producer_of[i] = Some(gid);
                    (Shape { c: *out, h: 1, w: 1, flat: true }, vec![Seg { group: gid, width: *out }])
                }
                Op::BatchNorm | Op::Act { .. } | Op::Identity => {
                    arity_one()?;
                    ins[0].clone()
                }
                Op::Dropout { p } => {
                    arity_one()?;
                    if !(0.0..1.0).contains(p) {
                        return Err(err(format!("dropout probability {p} is not in [0, 1)")));
                    }
                    ins[0].clone()
                }
                Op::AvgPool { kernel, stride, padding } | Op::MaxPool { kernel, stride, padding } => {
                    arity_one()?;
                    let (s, c) = &ins[0];
                    if s.flat {
                        return Err(err("pooling needs an image tensor, got flat features".into()));
                    }
                    check_window(&node.name, node.op.kind(), *kernel, *stride, *padding, s)?;
                    if 2 * padding > *kernel {
                        return Err(err(format!("padding {padding} is more than half the kernel {kernel}")));
                    }
                    let (h, w) = window_out(s, *kernel, *stride, *padding);
                    (Shape { c: s.c, h, w, flat: false }, c.clone())
                }
                Op::GlobalAvgPool => {
                    arity_one()?;
                    let (s, c) = &ins[0];
                    if s.flat {
                        return Err(err("global_avg_pool needs an image tensor, got flat features".into()));
                    }
                    (Shape { c: s.c, h: 1, w: 1, flat: false }, c.clone())
                }
                Op::Flatten => {
                    arity_one()?;
                    let (s, c) = &ins[0];
                    if s.flat {
                        return Err(err("flatten of features that are already flat".into()));
                    }
                    (Shape { flat: true, ..*s }, c.clone())
                }
                Op::Add { bias } => {
                    let least = if *bias { 1 } else { 2 };
                    if ins.len() < least {
                        return Err(err(format!("add needs at least {least} inputs, got {}", ins.len())));
                    }
                    let (s0, c0) = &ins[0];
                    for (k, (s, c)) in ins.iter().enumerate().skip(1) {
                        if (s.c, s.h, s.w, s.flat) != (s0.c, s0.h, s0.w, s0.flat) {
                            return Err(err(format!(
                                "add joins `{}` ({}x{}x{}) and `{}` ({}x{}x{}); give both producers the same width and stride",
                                node.inputs[0], s0.c, s0.h, s0.w, node.inputs[k], s.c, s.h, s.w
                            )));
                        }
                        let same_split = c.len() == c0.len() && c.iter().zip(c0).all(|(a, b)| a.width == b.width);
                        if !same_split {
                            return Err(err(format!(
                                "add joins `{}` and `{}`, whose channels are concatenated from different groups; add only tensors with the same concat structure",
                                node.inputs[0], node.inputs[k]
                            )));
                        }
                        for (a, b) in c.iter().zip(c0) {
                            uf.union(a.group, b.group);
                        }
                    }
                    (*s0, c0.clone())
                }
                Op::Mul => {
                    if ins.len() != 2 {
                        return Err(err(format!(
                            "mul takes an image and its per-channel scale, got {} inputs",
                            ins.len()
                        )));
                    }
                    let ((s0, c0), (s1, c1)) = (&ins[0], &ins[1]);
                    if s0.flat || s1.flat || (s1.c, s1.h, s1.w) != (s0.c, 1, 1) {
                        return Err(err(format!(
                            "mul scales `{}` ({}x{}x{}) by `{}`, which must be {}x1x1 (a global average pool's shape); give the scale the image's width",
                            node.inputs[0], s0.c, s0.h, s0.w, node.inputs[1], s0.c
                        )));
                    }
                    if c1.len() != c0.len() || c1.iter().zip(c0).any(|(a, b)| a.width != b.width) {
                        return Err(err(format!(
                            "mul scales `{}` by `{}`, whose channels are concatenated from different groups",
                            node.inputs[0], node.inputs[1]
                        )));
                    }
                    for (a, b) in c1.iter().zip(c0) {
                        uf.union(a.group, b.group);
                    }
                    (*s0, c0.clone())
                }
                Op::Concat => {
                    if ins.len() < 2 {
                        return Err(err(format!("concat needs at least two inputs, got {}", ins.len())));
                    }
                    let s0 = ins[0].0;
                    let mut segs = Vec::new();
                    let mut c = 0;
                    for (k, (s, cs)) in ins.iter().enumerate() {
                        if (s.h, s.w, s.flat) != (s0.h, s0.w, s0.flat) || (s.flat && s.h * s.w != 1) {
                            return Err(err(format!(
                                "concat input `{}` is {}x{} but `{}` is {}x{}; concat needs equal spatial sizes (or 1x1 flat features)",
                                node.inputs[k], s.h, s.w, node.inputs[0], s0.h, s0.w
                            )));
                        }
                        c += s.c;
                        segs.extend_from_slice(cs);
                    }
                    (Shape { c, ..s0 }, segs)
                }
                Op::PerBox { values } => per_box(&node.name, &node.inputs, &ins, *values)?,
            };
            shapes.push(shape);
            channels.push(segs);
        }

        super::outputs::check(g, &outputs, &shapes)?;

        let groups::Resolved { groups, map } =
            groups::resolve(g, &mut uf, &producer_of, &channels, input_group, &outputs);
        let remap = |segs: &mut Vec<Seg>| {
            for s in segs.iter_mut() {
                s.group = map[uf.find(s.group)];
            }
        };
        let mut input_channels = input_channels;
        remap(&mut input_channels);
        for c in channels.iter_mut() {
            remap(c);
        }
        let mut consumers = vec![Vec::new(); g.nodes.len()];
        for (i, srcs) in inputs.iter().enumerate() {
            for s in srcs {
                if let Source::Node(j) = s {
                    consumers[*j].push(i);
                }
            }
        }
        for (i, node) in g.nodes.iter().enumerate() {
            if let (Op::PerBox { .. }, Some(&j)) = (&node.op, consumers[i].first()) {
                return Err(Error::graph(
                    &g.nodes[j].name,
                    format!(
                        "reads `{}`, a per_box output; per_box gives a detector's outputs and only the network may return it (name it in `outputs`)",
                        node.name
                    ),
                ));
            }
        }
        let mut gate_after = vec![false; g.nodes.len()];
        for (i, node) in g.nodes.iter().enumerate() {
            let gated = channels[i].iter().any(|s| groups[s.group].gated);
            // An add with a bias (an exported graph searched again) would reopen closed
            // channels with its bias: its output is gated too.
            if gated && matches!(node.op, Op::Add { bias: true }) {
                gate_after[i] = true;
                continue;
            }
            if !gated || !matches!(node.op, Op::Conv { .. } | Op::Linear { .. }) {
                continue;
            }
            match consumers[i].as_slice() {
                [j] if g.nodes[*j].op == Op::BatchNorm => gate_after[*j] = true,
                _ => gate_after[i] = true,
            }
        }
        check_closed_stays_zero(g, &channels, &groups, &gate_after, &consumers)?;
        Ok(Analysis { inputs, outputs, shapes, channels, input_channels, input_shape, groups, gate_after, consumers })
    }

    /// Channels (segments) of a node input.
    pub fn source_channels(&self, s: Source) -> &[Seg] {
        match s {
            Source::Input => &self.input_channels,
            Source::Node(j) => &self.channels[j],
        }
    }

    /// Shape of a node input.
    pub fn source_shape(&self, s: Source) -> Shape {
        match s {
            Source::Input => self.input_shape,
            Source::Node(j) => self.shapes[j],
        }
    }

    /// Indices of the gated groups, in group order.
    pub fn gated_groups(&self) -> Vec<GroupId> {
        self.groups.iter().filter(|g| g.gated).map(|g| g.id).collect()
    }
}

/// A closed gate makes its channel exactly 0, and the export deletes the channel: so every
/// op after the gate must map 0 to 0 on gated channels, or the evaluated supernet would not
/// be the exported network. A batch norm that is not the gate's position (after an add or a
/// concat, or after a conv with several consumers) adds its shift to a closed channel, and a
/// sigmoid maps 0 to 0.5; both are refused here, naming the node.
fn check_closed_stays_zero(
    g: &Graph,
    channels: &[Vec<Seg>],
    groups: &[Group],
    gate_after: &[bool],
    consumers: &[Vec<usize>],
) -> Result<()> {
    for (i, node) in g.nodes.iter().enumerate() {
        let Some(seg) = channels[i].iter().find(|s| groups[s.group].gated) else { continue };
        let group = &groups[seg.group].name;
        match node.op {
            Op::BatchNorm if !gate_after[i] => {
                return Err(Error::graph(
                    &node.name,
                    format!(
                        "this batch norm acts on the searched channels of group `{group}` after their gate, so a closed channel would come out as its shift β − γ·μ/σ instead of 0; put the batch norm directly after the (single-consumer) conv or linear that produces the channels, or mark that producer `searchable: false`"
                    ),
                ));
            }
            // A gate (a squeeze-and-excitation's scale) may be 0.5 on a closed channel:
            // the mul it feeds multiplies it with that channel's zero.
            Op::Act { act: super::Act::Sigmoid | super::Act::HardSigmoid }
                if !consumers[i]
                    .iter()
                    .all(|&j| g.nodes[j].op == Op::Mul && g.nodes[j].inputs.get(1) == Some(&node.name)) =>
            {
                return Err(Error::graph(
                    &node.name,
                    format!(
                        "this sigmoid maps a closed (zero) channel of group `{group}` to 0.5, so the searched network would not be the exported one; use an activation with f(0) = 0 (relu, relu6, hard_swish, swish), use it only as the scale of a mul, or mark the producer of `{group}` `searchable: false`"
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A per_box node's shape, `values` wide and one row per default box (`h` counts the
/// boxes), and its channels: its inputs', so their groups count as an output's (ungated).
fn per_box(name: &str, names: &[String], ins: &[(Shape, Vec<Seg>)], values: usize) -> Result<(Shape, Vec<Seg>)> {
    let err = |m: String| Error::graph(name, m);
    if ins.is_empty() {
        return Err(err("per_box needs at least one input (a head's prediction conv)".into()));
    }
    if values == 0 {
        return Err(err(
            "per_box has `values` 0; give the values per default box (the classes, or 4 for box offsets)".into()
        ));
    }
    let mut boxes = 0;
    let mut segs = Vec::new();
    for ((s, c), input) in ins.iter().zip(names) {
        if s.flat || s.c % values != 0 {
            return Err(err(format!(
                "per_box input `{input}` is {}x{}x{}{}; it must be an image whose channels are a multiple of `values` {values} (K default boxes per cell times {values})",
                s.c,
                s.h,
                s.w,
                if s.flat { " (flat)" } else { "" }
            )));
        }
        boxes += s.c / values * s.h * s.w;
        segs.extend_from_slice(c);
    }
    Ok((Shape { c: values, h: boxes, w: 1, flat: true }, segs))
}

fn window_out(s: &Shape, k: usize, stride: usize, pad: usize) -> (usize, usize) {
    ((s.h + 2 * pad - k) / stride + 1, (s.w + 2 * pad - k) / stride + 1)
}

fn check_window(node: &str, kind: &str, k: usize, stride: usize, pad: usize, s: &Shape) -> Result<()> {
    if k == 0 || stride == 0 {
        return Err(Error::graph(node, format!("{kind} kernel and stride must be at least 1")));
    }
    if s.h + 2 * pad < k || s.w + 2 * pad < k {
        return Err(Error::graph(
            node,
            format!(
                "{kind} kernel {k} (padding {pad}) does not fit the {}x{} input; use a smaller kernel or a larger input",
                s.h, s.w
            ),
        ));
    }
    Ok(())
}

/// Maps input names to node indices, checking uniqueness, order and cycles.
fn resolve_inputs(g: &Graph) -> Result<Vec<Vec<Source>>> {
    use std::collections::HashMap;
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        if n.name == INPUT {
            return Err(Error::graph(&n.name, format!("`{INPUT}` is reserved for the input image; rename this node")));
        }
        if n.name.is_empty() {
            return Err(Error::GraphGlobal(format!("node #{i} has an empty name")));
        }
        if index.insert(&n.name, i).is_some() {
            return Err(Error::graph(&n.name, "two nodes have this name; names must be unique"));
        }
    }
    let mut out = Vec::with_capacity(g.nodes.len());
    for (i, n) in g.nodes.iter().enumerate() {
        let mut srcs = Vec::with_capacity(n.inputs.len());
        for name in &n.inputs {
            if name == INPUT {
                srcs.push(Source::Input);
                continue;
            }
            match index.get(name.as_str()) {
                None => {
                    return Err(Error::graph(&n.name, format!("unknown input `{name}`")));
                }
                Some(&j) if j >= i => {
                    if let Some(cycle) = find_cycle(g, &index) {
                        return Err(Error::graph(&n.name, format!("the graph has a cycle: {}", cycle.join(" -> "))));
                    }
                    return Err(Error::graph(
                        &n.name,
                        format!("input `{name}` is listed after this node; list nodes in topological order"),
                    ));
                }
                Some(&j) => srcs.push(Source::Node(j)),
            }
        }
        out.push(srcs);
    }
    Ok(out)
}

fn find_cycle(g: &Graph, index: &std::collections::HashMap<&str, usize>) -> Option<Vec<String>> {
    // 0 = unvisited, 1 = on stack, 2 = done
    fn dfs(
        v: usize,
        g: &Graph,
        index: &std::collections::HashMap<&str, usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[v] = 1;
        stack.push(v);
        for name in &g.nodes[v].inputs {
            let Some(&u) = index.get(name.as_str()) else { continue };
            if state[u] == 1 {
                let start = stack.iter().position(|&x| x == u).unwrap_or(0);
                let mut c: Vec<String> = stack[start..].iter().rev().map(|&x| g.nodes[x].name.clone()).collect();
                c.insert(0, g.nodes[v].name.clone());
                c.dedup();
                c.push(g.nodes[v].name.clone());
                return Some(c);
            }
            if state[u] == 0 {
                if let Some(c) = dfs(u, g, index, state, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state[v] = 2;
        None
    }
    let mut state = vec![0u8; g.nodes.len()];
    for v in 0..g.nodes.len() {
        if state[v] == 0 {
            if let Some(c) = dfs(v, g, index, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}
