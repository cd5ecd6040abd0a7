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

/// Counts parameters and MACs of a valid graph.
pub fn count(g: &Graph, a: &Analysis) -> Counts {
    let mut c = Counts::default();
    for (i, node) in g.nodes.iter().enumerate() {
        let src = a.inputs[i][0];
        let ins = a.source_shape(src);
        let out = a.shapes[i];
        match node.op {
            Op::Conv { out: co, kernel, depthwise, bias, .. } => {
                let (co, k2) = (co as u64, (kernel * kernel) as u64);
                let per_out = if depthwise { k2 } else { ins.c as u64 * k2 };
                c.params += co * per_out + if bias { co } else { 0 };
                c.macs += (out.h * out.w) as u64 * co * per_out;
            }
            Op::Linear { out: o, bias, .. } => {
                let fin = ins.features() as u64;
                c.params += fin * o as u64 + if bias { o as u64 } else { 0 };
                c.macs += fin * o as u64;
            }
            Op::BatchNorm => c.params += 2 * if out.flat { out.features() } else { out.c } as u64,
            Op::Add { bias: true } => c.params += if out.flat { out.features() } else { out.c } as u64,
            _ => {}
        }
    }
    c
}
