//! Per-layer roofline latency: `max(FLOPs / peak, bytes / bandwidth)` for every conv and
//! linear layer, summed; its surrogate linearises the active side of each max at the current
//! alive counts (MorphNet's latency regularizer does the same).

use crate::device::Indexed;
use crate::hardware::Hardware;
use figs::graph::{Analysis, Graph, Op, Seg};
use std::sync::{Arc, Mutex};

/// One conv or linear layer, in per-channel coefficients.
#[derive(Debug, Clone)]
pub struct Layer {
    /// FLOPs per (input × output) channel pair; per channel for depthwise.
    pub(crate) flops: f64,
    /// Bytes read per input channel (activations).
    pub(crate) in_bytes: f64,
    /// Bytes written per output channel (activations).
    pub(crate) out_bytes: f64,
    /// Weight bytes per channel pair; per channel for depthwise.
    pub(crate) weight_bytes: f64,
    pub(crate) ins: Vec<Seg>,
    pub(crate) out: Vec<Seg>,
    pub(crate) depthwise: bool,
}

/// The layers of a graph on one device.
#[derive(Debug, Clone)]
pub struct Roofline {
    pub(crate) layers: Vec<Layer>,
    pub(crate) hw: Hardware,
    /// Channel groups of the graph (the length of an alive-count vector).
    pub(crate) groups: usize,
    /// The device form's index tensors, built on first use (`crate::device`).
    pub(crate) indexed: Arc<Mutex<Option<Indexed>>>,
}

fn sum(segs: &[Seg], alive: &[f64]) -> f64 {
    segs.iter().map(|s| alive.get(s.group).copied().unwrap_or(s.width as f64)).sum()
}

impl Roofline {
    pub fn new(g: &Graph, a: &Analysis, hw: Hardware, batch: f64) -> Roofline {
        let b = hw.bytes_per_element;
        let mut layers = Vec::new();
        for (i, node) in g.nodes.iter().enumerate() {
            let src = a.inputs[i][0];
            let (si, so) = (a.source_shape(src), a.shapes[i]);
            let (flops, in_px, weights, depthwise) = match node.op {
                Op::Conv { kernel, depthwise, .. } => {
                    let k2 = (kernel * kernel) as f64;
                    (2.0 * (so.h * so.w) as f64 * k2, (si.h * si.w) as f64, k2, depthwise)
                }
                // A linear after a flatten sees h·w features per input channel.
                Op::Linear { .. } => {
                    let m = (si.h * si.w) as f64;
                    (2.0 * m, m, m, false)
                }
                _ => continue,
            };
            let out_px = if so.flat { 1.0 } else { (so.h * so.w) as f64 };
            layers.push(Layer {
                flops: batch * flops,
                in_bytes: b * batch * in_px,
                out_bytes: b * batch * out_px,
                weight_bytes: b * weights,
                ins: a.source_channels(src).to_vec(),
                out: a.channels[i].clone(),
                depthwise,
            });
        }
        Roofline { layers, hw, groups: a.groups.len(), indexed: Arc::new(Mutex::new(None)) }
    }

    /// (compute seconds, memory seconds) of one layer.
    fn times(&self, l: &Layer, alive: &[f64]) -> (f64, f64) {
        let (ai, ao) = (sum(&l.ins, alive), sum(&l.out, alive));
        let (f, bytes) = if l.depthwise {
            (l.flops * ao, (l.in_bytes + l.out_bytes + l.weight_bytes) * ao)
        } else {
            (l.flops * ai * ao, l.in_bytes * ai + l.out_bytes * ao + l.weight_bytes * ai * ao)
        };
        (f / self.hw.peak_flops, bytes / self.hw.bandwidth)
    }

    /// Latency in seconds with `alive[g]` channels per group.
    pub fn latency(&self, alive: &[f64]) -> f64 {
        self.layers
            .iter()
            .map(|l| {
                let (c, m) = self.times(l, alive);
                c.max(m)
            })
            .sum()
    }

    /// How many layers are compute-bound and how many memory-bound at `alive`.
    #[cfg(test)]
    pub(crate) fn bound_sides(&self, alive: &[f64]) -> (usize, usize) {
        let compute = self.layers.iter().filter(|l| {
            let (c, m) = self.times(l, alive);
            c >= m
        });
        let c = compute.count();
        (c, self.layers.len() - c)
    }

    /// Per group, `d latency / d alive_g` at `alive` (the side of each max that is active).
    pub fn gradient(&self, alive: &[f64]) -> Vec<f64> {
        let mut grad = vec![0.0; alive.len()];
        let mut add = |segs: &[Seg], c: f64| {
            for s in segs {
                if let Some(g) = grad.get_mut(s.group) {
                    *g += c;
                }
            }
        };
        let (peak, bw) = (self.hw.peak_flops, self.hw.bandwidth);
        for l in &self.layers {
            let (c, m) = self.times(l, alive);
            let compute_bound = c >= m;
            let (ai, ao) = (sum(&l.ins, alive), sum(&l.out, alive));
            if l.depthwise {
                let per = if compute_bound { l.flops / peak } else { (l.in_bytes + l.out_bytes + l.weight_bytes) / bw };
                add(&l.out, per);
            } else if compute_bound {
                add(&l.ins, l.flops * ao / peak);
                add(&l.out, l.flops * ai / peak);
            } else {
                add(&l.ins, (l.in_bytes + l.weight_bytes * ao) / bw);
                add(&l.out, (l.out_bytes + l.weight_bytes * ai) / bw);
            }
        }
        grad
    }
}
