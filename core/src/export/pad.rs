//! A found network with every searched width rounded up to a multiple of K by channels
//! whose weights are zero, for the runtimes it is deployed with: onnxruntime and PyTorch's
//! channels-last kernels run odd widths (7, 21, 57 channels) several times slower than the
//! multiples of 8 around them (docs/FORMATS.md). It computes exactly what the network
//! computes: a padded channel's producer has zero weights and bias, its batch norm zero
//! weight and bias, and every layer that reads it zero weights for it, so whatever an
//! activation makes of its zeros never reaches a kept channel or an output.

use super::{Exported, Weights};
use crate::error::{Error, Result};
use crate::graph::{Op, PruneReport};
use crate::net::Net;
use std::collections::HashMap;
use tch::{nn, Device, Kind, Tensor};

impl Exported {
    /// This network with each gated channel group (not the input, not an output) widened to
    /// the next multiple of `multiple` by zero channels; `multiple` 1 changes nothing.
    pub fn padded(&self, multiple: usize) -> Result<Exported> {
        if multiple == 0 {
            return Err(Error::config("pad-to", "must be 1 (no padding) or more, e.g. 8"));
        }
        let a = self.graph.analyze()?;
        let width: Vec<usize> = a
            .groups
            .iter()
            .map(|g| if g.gated && g.width > 0 { g.width.div_ceil(multiple) * multiple } else { g.width })
            .collect();
        let mut graph = self.graph.clone();
        for (i, node) in graph.nodes.iter_mut().enumerate() {
            if let Op::Conv { out, .. } | Op::Linear { out, .. } = &mut node.op {
                *out = a.channels[i].iter().map(|s| width[s.group]).sum();
            }
        }
        let pa = graph.analyze()?;
        if pa.groups.len() != a.groups.len() || pa.groups.iter().zip(&width).any(|(g, w)| g.width != *w) {
            return Err(Error::graph(&graph.name, "padding changed the network's channel groups"));
        }
        // Where each tensor of this network sits in the padded one: the export's slicing
        // (which cuts a supernet to the channels it keeps) applied to the padded tensors'
        // flat positions, keeping each group's first (real) channels.
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), &graph)?;
        let vars = vs.variables();
        let positions = |name: &str| {
            vars.get(name)
                .map(|t| Tensor::arange(t.numel() as i64, (Kind::Int64, Device::Cpu)).view(t.size().as_slice()))
        };
        let kept: Vec<Tensor> =
            a.groups.iter().map(|g| Tensor::arange(g.width as i64, (Kind::Int64, Device::Cpu))).collect();
        let at = super::slice_named(&net, &positions, &kept, &self.graph, &HashMap::new(), true)?;
        let own: HashMap<&str, &Tensor> = self.weights.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let _no_grad = tch::no_grad_guard();
        let mut weights: Weights = Vec::with_capacity(at.len());
        for (name, idx) in at {
            let t = own.get(name.as_str()).ok_or_else(|| Error::graph(&graph.name, format!("no tensor `{name}`")))?;
            let full = vars
                .get(&format!("net.{name}"))
                .ok_or_else(|| Error::graph(&graph.name, format!("the padded network has no `{name}`")))?;
            // A padded channel's variance is 1, like a fresh batch norm's; all else is zero.
            let base = if name.ends_with(".running_var") { full.ones_like() } else { full.zeros_like() };
            // libtorch's checks become errors here, not panics (a tensor of another shape).
            let values = t.to_kind(base.kind()).to_device(Device::Cpu).f_reshape(-1)?;
            let filled = base.f_view(-1)?.f_index_put(&[Some(idx.f_reshape(-1)?)], &values, false)?;
            weights.push((name, filled.f_view(full.size().as_slice())?));
        }
        Ok(Exported { graph, report: PruneReport::default(), weights })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    /// Reference: the unpadded network's own logits (figs' forward, eval mode), on the hand
    /// graph's residual add, depthwise conv, concat and flatten.
    #[test]
    fn padding_keeps_the_outputs_and_rounds_every_searched_width() {
        tch::manual_seed(11);
        let graph = crate::testutil::hand_graph();
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&vs.root(), &graph).unwrap();
        // Batch norms away from their fresh state, so a padded channel that took a real
        // channel's statistics or affine parameters would show.
        let weights: Weights = {
            let _g = tch::no_grad_guard();
            let mut w: Vec<(String, Tensor)> = vs
                .variables()
                .into_iter()
                .map(|(n, t)| {
                    let t = if n.ends_with("running_var") { t.rand_like() + 0.5 } else { t.randn_like() };
                    (n.trim_start_matches("net.").to_string(), t)
                })
                .collect();
            w.sort_by(|a, b| a.0.cmp(&b.0));
            w
        };
        let e = Exported { graph: graph.clone(), report: PruneReport::default(), weights };
        let p = e.padded(8).unwrap();
        let a = p.graph.analyze().unwrap();
        for g in &a.groups {
            assert!(!g.gated || g.width % 8 == 0, "group {} has width {}", g.name, g.width);
        }
        assert_eq!(p.graph.input.channels, 1);
        let x = Tensor::randn([5, 1, 4, 4], (Kind::Float, Device::Cpu));
        let (_v1, n1) = super::super::build_with_weights(&e.graph, &e.weights, Device::Cpu).unwrap();
        let (_v2, n2) = super::super::build_with_weights(&p.graph, &p.weights, Device::Cpu).unwrap();
        let _g = tch::no_grad_guard();
        let (y1, y2) = (n1.forward(&x, false, None).unwrap(), n2.forward(&x, false, None).unwrap());
        assert_eq!(y1.size(), y2.size());
        assert!(max_diff(&y1, &y2) < 1e-5, "logits differ by {}", max_diff(&y1, &y2));
        assert!(e.padded(0).is_err());
        let same = e.padded(1).unwrap();
        assert_eq!(same.graph, e.graph);
    }
}
