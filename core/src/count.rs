//! Exact parameter and multiply-accumulate counts of a [`Graph`], counted the way PyTorch
//! does: conv/linear weights and biases, batch-norm affine γ and β (running statistics
//! are buffers, not parameters) and the bias of an `add` that carries one. MACs count conv and linear layers only, as torchvision's
//! published numbers do.

use crate::graph::{Analysis, Graph, Op};

/// Parameters and MACs of one network, plus per-node detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub params: u64,
    pub macs: u64,
}

/// Counts parameters and MACs of a valid graph. The arithmetic saturates at `u64::MAX`: a
/// graph too large to count (a width of 10⁹) is reported as enormous, never a panic.
pub fn count(g: &Graph, a: &Analysis) -> Counts {
    let mut c = Counts::default();
    let u = |x: usize| x as u64;
    let mul = |xs: &[u64]| xs.iter().fold(1u64, |acc, &x| acc.saturating_mul(x));
    for (i, node) in g.nodes.iter().enumerate() {
        let src = a.inputs[i][0];
        let ins = a.source_shape(src);
        let out = a.shapes[i];
        let (params, macs) = match node.op {
            Op::Conv { out: co, kernel, depthwise, bias, .. } => {
                let per_out =
                    if depthwise { mul(&[u(kernel), u(kernel)]) } else { mul(&[u(ins.c), u(kernel), u(kernel)]) };
                let weights = mul(&[u(co), per_out]);
                (weights.saturating_add(if bias { u(co) } else { 0 }), mul(&[u(out.h), u(out.w), weights]))
            }
            Op::Linear { out: o, bias, .. } => {
                let fin = mul(&[u(ins.c), u(ins.h), u(ins.w)]);
                let weights = mul(&[fin, u(o)]);
                (weights.saturating_add(if bias { u(o) } else { 0 }), weights)
            }
            Op::BatchNorm => (mul(&[2, if out.flat { mul(&[u(out.c), u(out.h), u(out.w)]) } else { u(out.c) }]), 0),
            Op::Add { bias: true } => (if out.flat { mul(&[u(out.c), u(out.h), u(out.w)]) } else { u(out.c) }, 0),
            _ => (0, 0),
        };
        c.params = c.params.saturating_add(params);
        c.macs = c.macs.saturating_add(macs);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphBuilder, InputSpec};

    #[test]
    fn a_network_too_large_to_count_saturates_instead_of_panicking() {
        let mut b = GraphBuilder::new("huge", InputSpec { channels: 1, height: 8, width: 8 }, 2);
        let x = b.input();
        let x = b.conv("a", &x, 1 << 40, 3, 1);
        let x = b.conv("b", &x, 1 << 40, 3, 1);
        let x = b.global_avg_pool("gap", &x);
        let x = b.flatten("flat", &x);
        b.linear("fc", &x, 2);
        let g = b.finish().unwrap();
        let c = count(&g, &g.analyze().unwrap());
        assert_eq!((c.params, c.macs), (u64::MAX, u64::MAX));
    }
}
