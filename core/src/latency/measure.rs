//! Timing: each conv or linear layer of a graph (with the batch norm and activation that
//! follow it) alone, on a grid of channel counts, and whole networks, in evaluation mode with
//! random weights — what `figs profile` writes and what a table's prediction is checked
//! against.
//!
//! Every point is timed in several passes spread over the whole measurement and keeps its
//! fastest: a shared machine slows down for seconds at a time (this project's 2-core host ran
//! 1.7–2.5× slower for 1–3 s in every 5, 2026-12-06), and a table must not record which
//! layer happened to be timed in such a spell.

use super::{grid, LatencyTable, LayerTable, TableKey};
use crate::error::Result;
use crate::graph::{Act, Analysis, Graph, Op};
use crate::net::Net;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

/// The libtorch binding whose kernels a table times (the pair the workspace pins).
pub const LIBRARY: &str = "tch 0.24.0, libtorch 2.11.0";

/// How to measure.
#[derive(Debug, Clone)]
pub struct ProfileOptions {
    pub device: Device,
    pub batch: i64,
    /// libtorch's intra-op threads during the measurement (set by the caller; recorded).
    pub threads: i32,
    /// The grid steps in multiples of this (`width-multiple`).
    pub block: usize,
    /// Grid points per axis.
    pub points: usize,
    pub channels_last: bool,
    /// Passes over every grid point; each point keeps its fastest pass.
    pub passes: usize,
}

/// The device as a table key names it: the CPU's model, or `cuda:N`.
pub fn device_label(d: Device) -> String {
    match d {
        Device::Cpu => {
            let model = std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find(|l| l.starts_with("model name"))
                        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
                })
                .unwrap_or_else(|| "unknown".into());
            format!("cpu: {model}")
        }
        other => crate::device::device_name(other),
    }
}

/// The key of a table for `g` measured with `o`.
pub fn key(g: &Graph, o: &ProfileOptions) -> TableKey {
    TableKey {
        device: device_label(o.device),
        library: LIBRARY.into(),
        threads: o.threads,
        batch: o.batch,
        channels_last: o.channels_last,
        graph: graph_id(g),
    }
}

/// A graph as a table key names it: its name and a hash of its JSON.
pub fn graph_id(g: &Graph) -> String {
    let text = serde_json::to_string(g).unwrap_or_default();
    format!("{}:{:016x}", g.name, super::fnv(text.as_bytes()))
}

/// One layer to time: the conv or linear node, and the batch norm and activation that take
/// its output alone.
struct Unit {
    node: usize,
    bn: bool,
    act: Option<Act>,
}

fn units(g: &Graph) -> Vec<Unit> {
    let only_consumer = |name: &str| {
        let mut c = g.nodes.iter().enumerate().filter(|(_, n)| n.inputs.iter().any(|i| i == name));
        match (c.next(), c.next()) {
            (Some((j, _)), None) => Some(j),
            _ => None,
        }
    };
    let mut out = Vec::new();
    for (i, n) in g.nodes.iter().enumerate() {
        if !matches!(n.op, Op::Conv { .. } | Op::Linear { .. }) {
            continue;
        }
        let bn = only_consumer(&n.name).filter(|&j| g.nodes[j].op == Op::BatchNorm);
        let act = bn.and_then(|j| only_consumer(&g.nodes[j].name)).and_then(|k| match g.nodes[k].op {
            Op::Act { act } => Some(act),
            _ => None,
        });
        out.push(Unit { node: i, bn: bn.is_some(), act });
    }
    out
}

/// Milliseconds per call of `f`: the median of 5 rounds, each long enough (≥ 2 ms, at least
/// 3 calls) that the clock's resolution does not matter.
fn time_ms(device: Device, mut f: impl FnMut()) -> f64 {
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    for _ in 0..3 {
        f();
    }
    sync();
    let start = Instant::now();
    f();
    sync();
    let once = start.elapsed().as_secs_f64().max(1e-6);
    let calls = ((2e-3 / once).ceil() as usize).clamp(3, 10_000);
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            sync();
            t.elapsed().as_secs_f64() * 1e3 / calls as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

/// [`time_ms`] of `f` after one call whose error, if any, is returned instead.
fn time_checked(device: Device, mut f: impl FnMut() -> Result<Tensor>) -> Result<f64> {
    let _ = f()?;
    Ok(time_ms(device, || {
        let _ = f();
    }))
}

fn activate(x: Tensor, act: Option<Act>) -> Tensor {
    match act {
        None => x,
        Some(act) => crate::net::activate(&x, act),
    }
}

/// Time of one unit with `ci` input and `co` output channels.
fn time_unit(g: &Graph, a: &Analysis, u: &Unit, ci: i64, co: i64, o: &ProfileOptions) -> Result<f64> {
    let node = &g.nodes[u.node];
    let si = a.source_shape(a.inputs[u.node][0]);
    let opt = (Kind::Float, o.device);
    let _guard = tch::no_grad_guard();
    let (w, b, m, v) =
        (Tensor::ones([co], opt), Tensor::zeros([co], opt), Tensor::zeros([co], opt), Tensor::ones([co], opt));
    // The batch norm and activation as the network runs them (figs' channels-last kernel
    // where it applies: libtorch's is several times slower at widths off a multiple of 8).
    let bn_act = |x: Tensor| -> Result<Tensor> {
        match u.bn {
            true => crate::net::bn_act(&x, Some(&w), Some(&b), &m, &v, false, u.act),
            false => Ok(activate(x, u.act)),
        }
    };
    match node.op {
        Op::Conv { kernel, stride, padding, depthwise, bias, .. } => {
            let k = kernel as i64;
            let (groups, per) = if depthwise { (co, 1) } else { (1, ci) };
            let mut x = Tensor::randn([o.batch, ci, si.h as i64, si.w as i64], opt);
            let mut w = Tensor::randn([co, per, k, k], opt) * 0.1;
            if o.channels_last {
                x = crate::device::to_channels_last(&x);
                w = crate::device::to_channels_last(&w);
            }
            let b = bias.then(|| Tensor::zeros([co], opt));
            let (s, p) = (stride as i64, padding as i64);
            time_checked(o.device, || bn_act(crate::net::conv2d(&x, &w, b.as_ref(), s, p, groups)?))
        }
        Op::Linear { bias, .. } => {
            let per = if si.flat { 1 } else { (si.h * si.w) as i64 };
            let x = Tensor::randn([o.batch, ci * per], opt);
            let w = Tensor::randn([co, ci * per], opt) * 0.1;
            let b = bias.then(|| Tensor::zeros([co], opt));
            time_checked(o.device, || bn_act(x.linear(&w, b.as_ref())))
        }
        _ => Ok(0.0),
    }
}

/// A network built once and timed as often as asked: a forward pass in evaluation mode,
/// random weights.
pub struct NetworkTimer {
    _vs: nn::VarStore,
    net: Net,
    x: Tensor,
    device: Device,
}

impl NetworkTimer {
    pub fn new(g: &Graph, device: Device, batch: i64, channels_last: bool) -> Result<NetworkTimer> {
        let vs = nn::VarStore::new(device);
        let mut net = Net::new(&vs.root(), g)?;
        net.set_channels_last(channels_last);
        let i = g.input;
        let x = Tensor::randn([batch, i.channels as i64, i.height as i64, i.width as i64], (Kind::Float, device));
        Ok(NetworkTimer { _vs: vs, net, x, device })
    }

    /// Milliseconds per forward pass (one measurement: the median of 5 rounds).
    pub fn ms(&self) -> Result<f64> {
        let _guard = tch::no_grad_guard();
        let mut failed = None;
        let ms = time_ms(self.device, || {
            if let Err(e) = self.net.forward(&self.x, false, None) {
                failed = Some(e);
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(ms),
        }
    }
}

/// Measures the latency table of `g` with `o`, calling `progress(done, total)` after each
/// timed point of each pass.
pub fn profile(g: &Graph, o: &ProfileOptions, mut progress: impl FnMut(usize, usize)) -> Result<LatencyTable> {
    let a = g.analyze()?;
    let gated = |segs: &[crate::graph::Seg]| segs.iter().any(|s| a.groups[s.group].gated);
    let width = |segs: &[crate::graph::Seg]| segs.iter().map(|s| s.width).sum::<usize>();
    let mut plan = Vec::new();
    for u in units(g) {
        let (ins, outs) = (a.source_channels(a.inputs[u.node][0]), &a.channels[u.node]);
        let axis = |segs: &[crate::graph::Seg]| {
            if gated(segs) {
                grid(width(segs), o.block, o.points)
            } else {
                vec![width(segs) as f64]
            }
        };
        let depthwise = matches!(g.nodes[u.node].op, Op::Conv { depthwise: true, .. });
        let ins = if depthwise { Vec::new() } else { axis(ins) };
        plan.push((u, ins, axis(outs)));
    }
    // Every (layer, row, column) to time; a depthwise layer's row takes its output count.
    let mut points = Vec::new();
    for (l, (_, ins, outs)) in plan.iter().enumerate() {
        for r in 0..ins.len().max(1) {
            for c in 0..outs.len() {
                points.push((l, r, c));
            }
        }
    }
    // Sub-networks with every gated group at k/points of its width (the last: the supernet).
    let levels: Vec<Vec<f64>> =
        (1..=o.points).map(|k| uniform_widths(&a, o.block, k as f64 / o.points as f64)).collect();
    let timers = levels
        .iter()
        .map(|w| {
            let widths: Vec<usize> = w.iter().map(|&x| x as usize).collect();
            let (pruned, _) = crate::graph::prune(g, &a, &widths)?;
            NetworkTimer::new(&pruned, o.device, o.batch, o.channels_last)
        })
        .collect::<Result<Vec<_>>>()?;
    let passes = o.passes.max(1);
    let total = passes * (points.len() + timers.len());
    let mut best = vec![f64::INFINITY; points.len()];
    let mut whole = vec![f64::INFINITY; timers.len()];
    let mut done = 0;
    for _ in 0..passes {
        for (&(l, r, c), b) in points.iter().zip(best.iter_mut()) {
            let (u, ins, outs) = &plan[l];
            let co = outs[c];
            let ci = ins.get(r).copied().unwrap_or(co);
            *b = b.min(time_unit(g, &a, u, ci as i64, co as i64, o)?);
            done += 1;
            progress(done, total);
        }
        for (t, w) in timers.iter().zip(whole.iter_mut()) {
            *w = w.min(t.ms()?);
            done += 1;
            progress(done, total);
        }
    }
    let mut times = best.into_iter();
    let mut layers = Vec::with_capacity(plan.len());
    let mut full = 0.0;
    for (u, ins, outs) in plan {
        let ms: Vec<Vec<f64>> =
            (0..ins.len().max(1)).map(|_| (0..outs.len()).filter_map(|_| times.next()).collect()).collect();
        full += ms.last().and_then(|r| r.last()).copied().unwrap_or(0.0);
        layers.push(LayerTable { node: g.nodes[u.node].name.clone(), ins, outs, ms });
    }
    let supernet_ms = whole.last().copied().unwrap_or(f64::NAN);
    let mut table = LatencyTable {
        key: key(g, o),
        block: o.block,
        layers,
        rest_ms: supernet_ms - full,
        supernet_ms,
        rest_curve: vec![],
    };
    let bound = table.bind(g, &a)?;
    let mut curve: Vec<[f64; 2]> = levels
        .iter()
        .zip(&whole)
        .map(|(alive, &ms)| {
            let layers = bound.layers_ms(alive);
            [layers, ms - layers]
        })
        .collect();
    curve.sort_by(|x, y| x[0].total_cmp(&y[0]));
    table.rest_curve = curve;
    Ok(table)
}

/// Every gated group at `fraction` of its width, rounded to whole blocks (at least one).
fn uniform_widths(a: &Analysis, block: usize, fraction: f64) -> Vec<f64> {
    a.groups
        .iter()
        .map(|gr| if gr.gated { super::width_at(gr.width, block, fraction) as f64 } else { gr.width as f64 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphBuilder, InputSpec};

    /// A conv's batch norm and ReLU6 are timed as the network runs them: channels-last on
    /// the CPU, through figs' kernel. The table used libtorch's batch norm, several times
    /// slower at widths off a multiple of 8, and priced such widths at 1.4 ms where the
    /// network spends 0.2 (seen in a batch-64 table).
    #[test]
    fn units_time_the_batch_norm_the_network_runs() {
        let mut b = GraphBuilder::new("u", InputSpec { channels: 3, height: 6, width: 6 }, 2);
        let x = b.input();
        let c = b.conv_bn_act("c", &x, 6, 1, 1, Act::Relu6);
        let p = b.global_avg_pool("gap", &c);
        let f = b.flatten("flat", &p);
        b.linear("fc", &f, 2);
        let g = b.finish().unwrap();
        let a = g.analyze().unwrap();
        let u = units(&g).into_iter().find(|u| u.bn).expect("the conv has its batch norm");
        let o = ProfileOptions {
            device: Device::Cpu,
            batch: 2,
            threads: 1,
            block: 1,
            points: 2,
            channels_last: true,
            passes: 1,
        };
        crate::op_times::start(false).unwrap();
        let ms = time_unit(&g, &a, &u, 3, 6, &o);
        let ops = crate::op_times::stop().unwrap();
        assert!(ms.unwrap() > 0.0);
        let names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
        assert!(names.contains(&"figs::batch_norm_cl"), "{names:?}");
        assert!(!names.iter().any(|n| n.starts_with("aten::batch_norm")), "{names:?}");
    }
}
