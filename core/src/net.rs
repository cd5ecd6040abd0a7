//! The interpreter: builds tch parameters for a [`Graph`] under hierarchical `nn::Path`s
//! (`net.block3.expand.conv.weight`) and runs it forward, optionally multiplying gate
//! vectors into the outputs that [`Analysis::gate_after`] marks. The same code builds the
//! gated supernet and the plain child model of an exported architecture.

use crate::error::{Error, Result};
use crate::graph::{Act, Analysis, Graph, Op, Source};
use crate::precision::Precision;
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

enum Layer {
    Conv(nn::Conv2D),
    Bn(nn::BatchNorm),
    Linear(nn::Linear),
    /// The per-channel constant of an `add` with `bias`.
    Bias(Tensor),
    Stateless,
}

/// A network built from a graph. Owns its graph and analysis, so it can be kept in a
/// notebook variable without borrowing anything.
pub struct Net {
    graph: Graph,
    analysis: Analysis,
    layers: Vec<Layer>,
    /// Per batch-norm node, the activation that alone reads it, which the batch norm applies
    /// (the channels-last kernel in its own passes, [`crate::batch_norm_cl`]); the
    /// activation node then passes its input on.
    fused_act: Vec<Option<Act>>,
    /// The last node that reads node `j`'s output (`usize::MAX`: a network output or
    /// unread), after which [`Net::forward_outputs`] lets it go.
    last_reader: Vec<usize>,
    /// Inputs are converted to channels-last (and the conv weights were), see
    /// [`Net::set_channels_last`].
    channels_last: bool,
    /// Training passes run convs, linears and activations in bfloat16
    /// ([`crate::precision`]).
    bf16: bool,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Net({}, {} nodes)", self.graph.name, self.graph.nodes.len())
    }
}

fn sub<'a>(root: &nn::Path<'a>, name: &str) -> nn::Path<'a> {
    name.split('.').fold(root.sub("net"), |p, part| p.sub(part))
}

impl Net {
    /// Creates the parameters of `graph` under `root`.
    pub fn new(root: &nn::Path, graph: &Graph) -> Result<Net> {
        let analysis = graph.analyze()?;
        check_fits(crate::count::count(graph, &analysis).params, root.device())?;
        // tch panics when libtorch cannot allocate a parameter; that becomes an error here.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Net::build(root, graph, analysis))).unwrap_or_else(
            |payload| {
                let msg = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown error");
                let first = msg.split("\nframe #").next().unwrap_or(msg);
                Err(Error::config("network", format!("libtorch could not create the network's parameters: {first}")))
            },
        )
    }

    fn build(root: &nn::Path, graph: &Graph, analysis: Analysis) -> Result<Net> {
        let mut layers = Vec::with_capacity(graph.nodes.len());
        for (i, node) in graph.nodes.iter().enumerate() {
            let ins = analysis.source_shape(analysis.inputs[i][0]);
            let p = sub(root, &node.name);
            let layer = match node.op {
                Op::Conv { out, kernel, stride, padding, depthwise, bias, .. } => {
                    let cfg = nn::ConvConfig {
                        stride: stride as i64,
                        padding: padding as i64,
                        groups: if depthwise { ins.c as i64 } else { 1 },
                        bias,
                        ..Default::default()
                    };
                    Layer::Conv(nn::conv2d(p, ins.c as i64, out as i64, kernel as i64, cfg))
                }
                Op::BatchNorm => {
                    // PyTorch starts γ at 1; tch's default is uniform in [0, 1), which would
                    // start a γ-based search with channels already below any threshold.
                    let cfg = nn::BatchNormConfig { ws_init: nn::Init::Const(1.0), ..Default::default() };
                    let s = analysis.shapes[i];
                    if s.flat {
                        Layer::Bn(nn::batch_norm1d(p, s.features() as i64, cfg))
                    } else {
                        Layer::Bn(nn::batch_norm2d(p, s.c as i64, cfg))
                    }
                }
                Op::Linear { out, bias, .. } => {
                    let cfg = nn::LinearConfig { bias, ..Default::default() };
                    Layer::Linear(nn::linear(p, ins.features() as i64, out as i64, cfg))
                }
                Op::Add { bias: true } => {
                    let s = analysis.shapes[i];
                    let n = if s.flat { s.features() } else { s.c };
                    Layer::Bias(p.zeros("bias", &[n as i64]))
                }
                _ => Layer::Stateless,
            };
            layers.push(layer);
        }
        let fused_act = fusable_activations(graph, &analysis);
        let last_reader = (0..graph.nodes.len())
            .map(|j| match analysis.outputs.contains(&j) {
                true => usize::MAX,
                false => analysis.consumers[j].iter().copied().max().unwrap_or(usize::MAX),
            })
            .collect();
        Ok(Net { graph: graph.clone(), analysis, layers, fused_act, last_reader, channels_last: false, bf16: false })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Lays the conv weights out channels-last (in place: the var store and an optimizer
    /// holding them see the change) and converts every input batch to it, so activations
    /// and gradients follow ([`crate::device::MemoryFormat`]). Call it before the first
    /// step; `false` leaves the network as it is.
    pub fn set_channels_last(&mut self, on: bool) {
        if !on || self.channels_last {
            return;
        }
        for layer in &mut self.layers {
            if let Layer::Conv(c) = layer {
                let cl = crate::device::to_channels_last(&c.ws);
                let _no_grad = tch::no_grad_guard();
                c.ws.set_data(&cl);
            }
        }
        self.channels_last = true;
    }

    /// Runs training passes (`train == true`) in `p`; evaluation stays float32.
    pub fn set_precision(&mut self, p: Precision) {
        self.bf16 = p == Precision::Bf16;
    }

    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    /// The scale γ of batch-norm node `i` (`None` for other nodes).
    pub fn bn_scale(&self, i: usize) -> Option<&Tensor> {
        match self.layers.get(i) {
            Some(Layer::Bn(b)) => b.ws.as_ref(),
            _ => None,
        }
    }

    /// Every batch norm's running mean and variance (the tensors themselves): a training
    /// pass updates them in place, so a step that is refused puts them back.
    pub fn bn_statistics(&self) -> Vec<Tensor> {
        let mut out = Vec::new();
        for l in &self.layers {
            if let Layer::Bn(m) = l {
                out.push(m.running_mean.shallow_clone());
                out.push(m.running_var.shallow_clone());
            }
        }
        out
    }

    /// Runs the network on a batch `x` of shape `[N, C, H, W]` and returns its first output
    /// (a classifier's `[N, classes]` logits). `gates[g]` is the gate vector of group `g`
    /// (`None`: ungated or all ones).
    pub fn forward(&self, x: &Tensor, train: bool, gates: Option<&[Option<Tensor>]>) -> Result<Tensor> {
        let mut outs = self.forward_outputs(x, train, gates)?;
        Ok(outs.swap_remove(0))
    }

    /// Runs the network and returns every output the graph names, in its order, in float32.
    pub fn forward_outputs(&self, x: &Tensor, train: bool, gates: Option<&[Option<Tensor>]>) -> Result<Vec<Tensor>> {
        let all = self.run(x, train, gates, false)?;
        // The loss is computed in float32 (as autocast does), whatever the pass ran in.
        let float = |y: &Tensor| if y.kind() == Kind::Float { y.shallow_clone() } else { y.to_kind(Kind::Float) };
        Ok(self.analysis.outputs.iter().map(|&o| float(&all[o])).collect())
    }

    /// Like [`Net::forward`], but returns the output of every node, in graph order (in
    /// bfloat16 for a training pass of a network set to [`Precision::Bf16`]). A batch norm
    /// read only by its activation holds the activation's output (see `fused_act`).
    pub fn forward_all(&self, x: &Tensor, train: bool, gates: Option<&[Option<Tensor>]>) -> Result<Vec<Tensor>> {
        self.run(x, train, gates, true)
    }

    /// The forward pass. Unless `keep_all`, a node's output is released (an undefined
    /// tensor in its place) once its last reader has run: an inference pass then writes
    /// each layer into memory the layer before last just freed, still in cache, instead of
    /// into a fresh buffer for every one of the network's outputs (a training pass keeps
    /// what autograd saved either way).
    fn run(&self, x: &Tensor, train: bool, gates: Option<&[Option<Tensor>]>, keep_all: bool) -> Result<Vec<Tensor>> {
        let (c, h, w) = (self.analysis.input_shape.c, self.analysis.input_shape.h, self.analysis.input_shape.w);
        let size = x.size();
        if size.len() != 4 || size[1..] != [c as i64, h as i64, w as i64] {
            return Err(Error::config(
                "input",
                format!("the network expects batches of shape [N, {c}, {h}, {w}], got {size:?}"),
            ));
        }
        let cl;
        let x = if self.channels_last {
            cl = crate::device::to_channels_last(x);
            &cl
        } else {
            x
        };
        let low = self.bf16 && train;
        let x_low;
        let x = if low {
            x_low = x.to_kind(Kind::BFloat16);
            &x_low
        } else {
            x
        };
        // Weights stay float32 (the optimizer's master copy); a low-precision pass uses a
        // bfloat16 copy, through which gradients flow back in float32.
        let low_copy = |t: &Tensor| t.to_kind(Kind::BFloat16);
        let mut outs: Vec<Tensor> = Vec::with_capacity(self.layers.len());
        for (i, node) in self.graph.nodes.iter().enumerate() {
            let ins: Vec<&Tensor> = self.analysis.inputs[i]
                .iter()
                .map(|s| match s {
                    Source::Input => x,
                    Source::Node(j) => &outs[*j],
                })
                .collect();
            let x0 = ins[0];
            let gate_here = match (self.analysis.gate_after[i], gates) {
                (true, Some(gates)) => Some(gates),
                _ => None,
            };
            let mut gated = false;
            let mut y = match (&node.op, &self.layers[i]) {
                (Op::BatchNorm, Layer::Bn(m)) if gate_here.is_some() && !self.analysis.shapes[i].flat => {
                    gated = true;
                    let v = self.gate_vector(i, gate_here.unwrap_or_default(), x0).view([-1]);
                    batch_norm_gated(m, x0, &v, train, self.fused_act[i])?
                }
                (Op::Conv { stride, padding, depthwise, .. }, Layer::Conv(m)) if low => {
                    let (s, p) = (*stride as i64, *padding as i64);
                    let groups = if *depthwise { x0.size()[1] } else { 1 };
                    let b = m.bs.as_ref().map(low_copy);
                    x0.conv2d(&low_copy(&m.ws), b.as_ref(), [s, s], [p, p], [1, 1], groups)
                }
                (Op::Linear { .. }, Layer::Linear(m)) if low => {
                    let b = m.bs.as_ref().map(low_copy);
                    x0.linear(&low_copy(&m.ws), b.as_ref())
                }
                (Op::Conv { stride, padding, depthwise, .. }, Layer::Conv(m)) => {
                    let groups = if *depthwise { x0.size()[1] } else { 1 };
                    conv2d(x0, &m.ws, m.bs.as_ref(), *stride as i64, *padding as i64, groups)?
                }
                (Op::BatchNorm, Layer::Bn(m)) => {
                    bn_act(x0, m.ws.as_ref(), m.bs.as_ref(), &m.running_mean, &m.running_var, train, self.fused_act[i])?
                }
                // Its batch norm applied it.
                (Op::Act { .. }, _) if matches!(self.analysis.inputs[i][0], Source::Node(j) if self.fused_act[j].is_some()) => {
                    x0.shallow_clone()
                }
                (Op::Linear { .. }, Layer::Linear(m)) => m.forward_t(x0, train),
                (Op::Act { act }, _) => activate(x0, *act),
                (Op::Mul, _) => x0 * ins[1],
                (Op::Add { .. }, layer) => {
                    let sum = ins[1..].iter().fold(x0.shallow_clone(), |acc, t| acc + *t);
                    match layer {
                        Layer::Bias(b) if self.analysis.shapes[i].flat => {
                            let b = b.view([1, -1]).to_kind(sum.kind());
                            sum + b
                        }
                        Layer::Bias(b) => {
                            let b = b.view([1, -1, 1, 1]).to_kind(sum.kind());
                            sum + b
                        }
                        _ => sum,
                    }
                }
                (Op::Concat, _) => Tensor::cat(&ins, 1),
                (Op::AvgPool { kernel, stride, padding }, _) => {
                    let (k, s, p) = (*kernel as i64, *stride as i64, *padding as i64);
                    x0.avg_pool2d([k, k], [s, s], [p, p], false, true, None::<i64>)
                }
                (Op::MaxPool { kernel, stride, padding }, _) => {
                    let (k, s, p) = (*kernel as i64, *stride as i64, *padding as i64);
                    x0.max_pool2d([k, k], [s, s], [p, p], [1, 1], false)
                }
                (Op::GlobalAvgPool, _) => global_avg_pool(x0),
                (Op::Flatten, _) => x0.flatten(1, -1),
                (Op::Dropout { p }, _) => x0.dropout(*p, train),
                (Op::Identity, _) => x0.shallow_clone(),
                (Op::PerBox { values }, _) => per_box(&ins, *values as i64),
                _ => unreachable!("layers are built from the same graph"),
            };
            if let (Some(gates), false) = (gate_here, gated) {
                let v = self.gate_vector(i, gates, &y).to_kind(y.kind());
                y = y * v;
            }
            outs.push(y);
            if !keep_all {
                for s in &self.analysis.inputs[i] {
                    if let Source::Node(j) = *s {
                        if self.last_reader[j] == i {
                            outs[j] = Tensor::new();
                        }
                    }
                }
            }
        }
        Ok(outs)
    }

    /// The gate vector for node `i`'s output, shaped to broadcast over it.
    fn gate_vector(&self, i: usize, gates: &[Option<Tensor>], y: &Tensor) -> Tensor {
        let segs = &self.analysis.channels[i];
        let parts: Vec<Tensor> = segs
            .iter()
            .map(|s| match gates.get(s.group).and_then(|g| g.as_ref()) {
                Some(g) => g.shallow_clone(),
                None => Tensor::ones([s.width as i64], (y.kind(), y.device())),
            })
            .collect();
        let v = if parts.len() == 1 {
            parts.into_iter().next().unwrap_or_else(|| Tensor::ones([0], (y.kind(), y.device())))
        } else {
            Tensor::cat(&parts, 0)
        };
        let shape = self.analysis.shapes[i];
        if shape.flat {
            let v = if shape.h * shape.w > 1 {
                v.repeat_interleave_self_int((shape.h * shape.w) as i64, 0, None)
            } else {
                v
            };
            v.view([1, -1])
        } else {
            v.view([1, -1, 1, 1])
        }
    }
}

/// Trainable parameters of the tch model built for `g` on the CPU (what
/// [`crate::count::count`] must say; the golden tests compare both with torchvision's).
pub fn built_params(g: &Graph) -> Result<i64> {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let _net = Net::new(&vs.root(), g)?;
    Ok(vs.trainable_variables().iter().map(|t| t.numel() as i64).sum())
}

/// Head outputs `[N, K·values, H, W]` as `[N, Σ H·W·K, values]`, torchvision's SSD order.
fn per_box(ins: &[&Tensor], values: i64) -> Tensor {
    let parts: Vec<Tensor> = ins
        .iter()
        .map(|t| {
            let [n, _, h, w] = t.size()[..] else { unreachable!("analysis checked per_box inputs are images") };
            t.view([n, -1, values, h, w]).permute([0, 3, 4, 1, 2]).reshape([n, -1, values])
        })
        .collect();
    Tensor::cat(&parts, 1)
}

/// One activation, the same in the supernet, the exported network's figs build and the
/// latency profile.
pub(crate) fn activate(x: &Tensor, act: Act) -> Tensor {
    match act {
        Act::Relu => x.relu(),
        Act::Relu6 => x.relu6(),
        Act::HardSwish => x.hardswish(),
        Act::Swish => x.silu(),
        Act::Sigmoid => x.sigmoid(),
        Act::HardSigmoid => x.hardsigmoid(),
    }
}

/// Batch norm followed by a per-channel gate `z`, in one call: `BN(x) · z = (γ·z) x̂ + β·z`,
/// so the gate scales the affine parameters (a few hundred numbers) instead of taking a
/// pass over the activations forward and two backward. The running statistics depend on
/// `x` alone, as before.
fn batch_norm_gated(m: &nn::BatchNorm, x: &Tensor, z: &Tensor, train: bool, act: Option<Act>) -> Result<Tensor> {
    let w = m.ws.as_ref().map_or_else(|| z.shallow_clone(), |w| w * z);
    let b = m.bs.as_ref().map(|b| b * z);
    bn_act(x, Some(&w), b.as_ref(), &m.running_mean, &m.running_var, train, act)
}

/// The mean over each channel's pixels, `[N, C, 1, 1]`, as a sum and a division: libtorch's
/// `adaptive_avg_pool2d` to 1×1 is a `mean`, whose backward materializes the broadcast
/// gradient divided by the pixel count in NCHW order, which the channels-last batch norm
/// behind it then copies back (0.5 ms of a batch-64 training step at 310 channels of 4×4,
/// as much as the found network's head conv forward). A sum's backward is a broadcast view
/// that the batch norm reads once.
fn global_avg_pool(x: &Tensor) -> Tensor {
    let s = x.size();
    let pixels = s[2..].iter().product::<i64>().max(1);
    x.sum_dim_intlist([2i64, 3].as_slice(), true, None::<Kind>) / pixels as f64
}

/// A convolution as `Net` runs it (and `figs profile` times it): figs' loop for a pointwise
/// convolution where it applies ([`crate::pointwise`]: oneDNN is slow at few and at odd
/// channel counts), libtorch's convolution otherwise.
pub(crate) fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: i64,
    padding: i64,
    groups: i64,
) -> Result<Tensor> {
    if b.is_none() && stride == 1 && padding == 0 && groups == 1 && crate::pointwise::applies(x, w) {
        return crate::pointwise::conv(x, w);
    }
    Ok(x.conv2d(w, b, [stride, stride], [padding, padding], [1, 1], groups))
}

/// A batch norm with the affine parameters `w`, `b` and the running statistics `mean`,
/// `var`, then `act`, as `Net` runs it (and `figs profile` times it): figs' channels-last
/// kernel where it applies ([`crate::batch_norm_cl`], the activation in its passes when it
/// [`fuses`](crate::batch_norm_cl::fuses) it), libtorch's batch norm and activation
/// otherwise. The settings are tch's defaults, which `Net` builds every BN with.
pub(crate) fn bn_act(
    x: &Tensor,
    w: Option<&Tensor>,
    b: Option<&Tensor>,
    mean: &Tensor,
    var: &Tensor,
    train: bool,
    act: Option<Act>,
) -> Result<Tensor> {
    let d = nn::BatchNormConfig::default();
    if crate::batch_norm_cl::applies(x) {
        let (fused, after) = match act {
            Some(a) if !crate::batch_norm_cl::fuses(a) => (None, Some(a)),
            a => (a, None),
        };
        let y = crate::batch_norm_cl::batch_norm(x, w, b, mean, var, train, d.momentum, d.eps, fused)?;
        return Ok(match after {
            Some(a) => activate(&y, a),
            None => y,
        });
    }
    let y = Tensor::batch_norm(x, w, b, Some(mean), Some(var), train, d.momentum, d.eps, d.cudnn_enabled);
    Ok(match act {
        Some(a) => activate(&y, a),
        None => y,
    })
}

/// Per node, the activation a batch norm applies itself: a 4-d batch norm that is not an
/// output and whose only reader is an activation the kernel [`fuses`](crate::batch_norm_cl::fuses).
fn fusable_activations(graph: &Graph, analysis: &Analysis) -> Vec<Option<Act>> {
    (0..graph.nodes.len())
        .map(|i| match (&graph.nodes[i].op, analysis.consumers[i].as_slice()) {
            (Op::BatchNorm, [k]) if !analysis.shapes[i].flat && !analysis.outputs.contains(&i) => {
                match graph.nodes[*k].op {
                    Op::Act { act } if crate::batch_norm_cl::fuses(act) => Some(act),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

fn check_fits(params: u64, device: tch::Device) -> Result<()> {
    let bytes = params.saturating_mul(4);
    let available = match device {
        tch::Device::Cpu => mem_available(),
        _ => None,
    };
    let too_big = bytes > i64::MAX as u64 || available.is_some_and(|a| bytes > a);
    if too_big {
        return Err(Error::config(
            "network",
            format!(
                "the network has {} parameters ({} of float32){}; make it smaller (a lower width, fewer or narrower layers)",
                crate::units::human(params as f64),
                gib(bytes),
                available.map(|a| format!(", more than the {} of memory available", gib(a))).unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// `MemAvailable` from /proc/meminfo, in bytes (Linux); `None` elsewhere.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The global pool is libtorch's mean, forward and gradient, and its backward divides
    /// only the pooled `[N, C, 1, 1]` gradient: no full-size division (what `mean`'s
    /// backward did, in NCHW order, before the channels-last batch norm copied it back).
    #[test]
    fn global_pool_is_the_mean_without_a_full_size_division() {
        let x = crate::device::to_channels_last(&Tensor::randn([2, 5, 3, 3], (Kind::Float, tch::Device::Cpu)))
            .set_requires_grad(true);
        let g = Tensor::randn([2, 5, 1, 1], (Kind::Float, tch::Device::Cpu));
        crate::op_times::start(true).unwrap();
        let y = global_avg_pool(&x);
        let got = Tensor::run_backward(&[(&y * &g).sum(Kind::Float)], &[&x], false, false);
        let ops = crate::op_times::stop().unwrap();
        let want_y = x.adaptive_avg_pool2d([1, 1]);
        let want = Tensor::run_backward(&[(&want_y * &g).sum(Kind::Float)], &[&x], false, false);
        assert!((&y - &want_y).abs().max().double_value(&[]) < 1e-6);
        assert!((&got[0] - &want[0]).abs().max().double_value(&[]) < 1e-6);
        let full: Vec<_> =
            ops.iter().filter(|o| o.name.starts_with("aten::div") && o.name.contains("[2, 5, 3, 3]")).collect();
        assert!(full.is_empty(), "a full-size division in the backward: {full:?}");
    }

    /// torchvision's `SSDScoringHead`: channel `k·D + d` of cell `(y, x)` is value `d` of
    /// box `(y·W + x)·K + k`, maps concatenated in order.
    #[test]
    fn per_box_orders_cells_then_boxes_as_torchvision() {
        let (k, d, h, w) = (2i64, 3i64, 2i64, 3i64);
        let a = Tensor::arange(k * d * h * w, (Kind::Float, tch::Device::Cpu)).view([1, k * d, h, w]);
        let b = Tensor::arange(k * d, (Kind::Float, tch::Device::Cpu)).view([1, k * d, 1, 1]) + 1000.0;
        let out = per_box(&[&a, &b], d);
        assert_eq!(out.size(), [1, h * w * k + k, d]);
        for y in 0..h {
            for x in 0..w {
                for kk in 0..k {
                    for dd in 0..d {
                        let want = a.double_value(&[0, kk * d + dd, y, x]);
                        assert_eq!(out.double_value(&[0, (y * w + x) * k + kk, dd]), want);
                    }
                }
            }
        }
        assert_eq!(out.double_value(&[0, h * w * k + 1, 2]), 1000.0 + (d + 2) as f64, "the second map follows");
    }

    /// `forward_outputs` lets each output go after its last reader: on a graph whose
    /// nodes are read twice (an add and a concat beside their inputs' other readers) it must
    /// compute what `forward_all`, which keeps everything, does (a tensor released too early
    /// is undefined, and libtorch refuses it).
    #[test]
    fn releasing_outputs_early_computes_the_same() {
        let graph = crate::testutil::hand_graph();
        tch::manual_seed(3);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), &graph).unwrap();
        let input = Tensor::randn([5, 1, 4, 4], (Kind::Float, tch::Device::Cpu));
        let gates: Vec<Option<Tensor>> = net
            .analysis()
            .groups
            .iter()
            .map(|g| g.gated.then(|| Tensor::rand([g.width as i64], (Kind::Float, tch::Device::Cpu))))
            .collect();
        assert!(net.last_reader.iter().filter(|&&r| r != usize::MAX).count() > 5);
        for gates in [None, Some(gates.as_slice())] {
            for train in [false, true] {
                let kept = net.forward_all(&input, train, gates).unwrap();
                let out = net.forward(&input, train, gates).unwrap();
                let want = &kept[net.analysis().outputs[0]];
                assert!(out.equal(want), "train {train}, gated {}", gates.is_some());
            }
        }
    }

    /// Odd widths, batch norms with their ReLU6 / ReLU fused and one read twice (not fused),
    /// gates: the channels-last network (figs' batch-norm kernel) computes what the NCHW one
    /// (libtorch's batch norm and activations) does, forward, backward and in its running
    /// statistics.
    #[test]
    fn channels_last_batch_norm_kernel_matches_libtorch_in_a_network() {
        use crate::graph::{GraphBuilder, InputSpec};
        let mut b = GraphBuilder::new("odd", InputSpec { channels: 3, height: 9, width: 9 }, 4);
        let x = b.input();
        let a = b.conv_bn_act("a", &x, 7, 3, 1, Act::Relu6);
        let d = b.dwconv_bn_act("d", &a, 3, 2, Act::Relu);
        let p = b.conv_bn("p", &d, 5, 1, 1);
        let q = b.act("q", &p, Act::Relu6);
        let s = b.add("s", &[&p, &q]);
        let g = b.global_avg_pool("gap", &s);
        let f = b.flatten("flat", &g);
        b.linear("fc", &f, 4);
        let graph = b.finish().unwrap();
        let fused = fusable_activations(&graph, &graph.analyze().unwrap());
        assert_eq!(fused.iter().flatten().count(), 2, "a and d fuse, p (read twice) does not");
        tch::manual_seed(5);
        let (vs_cl, mut vs_nchw) = (nn::VarStore::new(tch::Device::Cpu), nn::VarStore::new(tch::Device::Cpu));
        let mut cl = Net::new(&vs_cl.root(), &graph).unwrap();
        let nchw = Net::new(&vs_nchw.root(), &graph).unwrap();
        vs_nchw.copy(&vs_cl).unwrap();
        cl.set_channels_last(true);
        let gates: Vec<Option<Tensor>> = cl
            .analysis()
            .groups
            .iter()
            .map(|g| {
                g.gated.then(|| Tensor::rand([g.width as i64], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true))
            })
            .collect();
        assert!(gates.iter().flatten().count() >= 2);
        let input = Tensor::randn([6, 3, 9, 9], (Kind::Float, tch::Device::Cpu)) * 2.0;
        let w = Tensor::randn([6, 4], (Kind::Float, tch::Device::Cpu));
        let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        for gated in [true, false] {
            let gates = gated.then_some(gates.as_slice());
            let mut grads = Vec::new();
            for (net, vs) in [(&cl, &vs_cl), (&nchw, &vs_nchw)] {
                let y = net.forward(&input, true, gates).unwrap();
                let mut named: Vec<(String, Tensor)> =
                    vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
                named.sort_by(|a, b| a.0.cmp(&b.0));
                let refs: Vec<&Tensor> =
                    gates.unwrap_or_default().iter().flatten().chain(named.iter().map(|(_, t)| t)).collect();
                grads.push((
                    y.shallow_clone(),
                    Tensor::run_backward(&[(&y * &w).sum(Kind::Float)], &refs, false, false),
                ));
            }
            assert!(diff(&grads[0].0, &grads[1].0) < 1e-5, "outputs differ by {}", diff(&grads[0].0, &grads[1].0));
            for (k, (a, b)) in grads[0].1.iter().zip(&grads[1].1).enumerate() {
                assert!(diff(a, b) < 1e-4, "gated {gated}: gradient {k} differs by {}", diff(a, b));
            }
        }
        for (a, b) in cl.bn_statistics().iter().zip(nchw.bn_statistics()) {
            assert!(diff(a, &b) < 1e-5, "running statistics differ by {}", diff(a, &b));
        }
        let _g = tch::no_grad_guard();
        let (e1, e2) =
            (cl.forward(&input, false, Some(&gates)).unwrap(), nchw.forward(&input, false, Some(&gates)).unwrap());
        assert!(diff(&e1, &e2) < 1e-5, "evaluation differs by {}", diff(&e1, &e2));
    }
}
