//! Resource cost of a network with some channels alive, and its differentiable surrogate.
//!
//! For every conv or linear with alive input/output counts `A_in`, `A_out` and coefficient
//! `k` the reported cost is `k · A_in · A_out` (depthwise: `k · A_out`) and the
//! regularization term is `k · (A_in · R_out + A_out · R_in)` (depthwise: `k · (R_in + R_out)`),
//! where `R` sums the per-channel regularization values `r` of a group. Ungated groups count
//! their full width for both `A` and `R`. Coefficients: FLOPs `2·H_out·W_out·kh·kw` for a conv
//! and `2` for a linear; model size `kh·kw` resp. `1`. See docs/MATH.md.

use crate::graph::{Analysis, Graph, Op, Seg};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use tch::{Device, Kind, Tensor};

/// Which resource the penalty measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CostKind {
    /// Floating-point operations (2 per multiply-accumulate) of conv and linear layers.
    #[default]
    Flops,
    /// Number of conv and linear weights.
    ModelSize,
}

impl std::str::FromStr for CostKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "flops" => Ok(CostKind::Flops),
            "model_size" | "size" => Ok(CostKind::ModelSize),
            _ => Err(crate::Error::config("cost", format!("unknown cost `{s}`; use `flops` or `model_size`"))),
        }
    }
}

#[derive(Debug, Clone)]
struct Term {
    k: f64,
    ins: Vec<Seg>,
    /// Features per input channel (h·w of a flatten before a linear, else 1).
    in_mult: f64,
    out: Vec<Seg>,
    depthwise: bool,
}

/// The cost rules of one graph, precomputed.
#[derive(Debug, Clone)]
pub struct CostModel {
    pub kind: CostKind,
    terms: Vec<Term>,
    widths: Vec<usize>,
    gated: Vec<bool>,
    /// The terms as index tensors on the last device asked for (built on first use).
    indexed: Arc<Mutex<Option<Indexed>>>,
}

/// The terms of a [`CostModel`] as tensors on one device, so that the cost and the
/// regularizer of alive counts that live on the device are a few kernels, O(terms +
/// segments), with nothing read back to the host.
struct Indexed {
    device: Device,
    /// Per input segment of every term: the term and the group (int64).
    in_term: Tensor,
    in_group: Tensor,
    out_term: Tensor,
    out_group: Tensor,
    /// Per term: `k · in_mult` of a dense term (0 for depthwise) and `k` of a depthwise one.
    quad: Tensor,
    lin: Tensor,
    widths: Tensor,
    gated: Tensor,
}

impl std::fmt::Debug for Indexed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Indexed({:?})", self.device)
    }
}

impl Indexed {
    fn new(m: &CostModel, device: Device) -> Indexed {
        let (mut in_term, mut in_group, mut out_term, mut out_group) = (vec![], vec![], vec![], vec![]);
        let (mut quad, mut lin) = (vec![], vec![]);
        for (i, t) in m.terms.iter().enumerate() {
            for s in &t.ins {
                in_term.push(i as i64);
                in_group.push(s.group as i64);
            }
            for s in &t.out {
                out_term.push(i as i64);
                out_group.push(s.group as i64);
            }
            quad.push(if t.depthwise { 0.0 } else { t.k * t.in_mult });
            lin.push(if t.depthwise { t.k } else { 0.0 });
        }
        let long = |v: &[i64]| Tensor::from_slice(v).to_device(device);
        let double = |v: &[f64]| Tensor::from_slice(v).to_device(device);
        let widths: Vec<f64> = m.widths.iter().map(|&w| w as f64).collect();
        Indexed {
            device,
            in_term: long(&in_term),
            in_group: long(&in_group),
            out_term: long(&out_term),
            out_group: long(&out_group),
            quad: double(&quad),
            lin: double(&lin),
            widths: double(&widths),
            gated: Tensor::from_slice(&m.gated).to_device(device),
        }
    }

    /// Per term, the sum of `v` (per group) over the term's input resp. output segments.
    fn per_term(&self, v: &Tensor) -> (Tensor, Tensor) {
        let n = self.quad.size()[0];
        let sum = |term: &Tensor, group: &Tensor| {
            Tensor::zeros([n], (Kind::Double, self.device)).index_add(0, term, &v.index_select(0, group))
        };
        (sum(&self.in_term, &self.in_group), sum(&self.out_term, &self.out_group))
    }
}

impl CostModel {
    pub fn new(g: &Graph, a: &Analysis, kind: CostKind) -> CostModel {
        let mut terms = Vec::new();
        for (i, node) in g.nodes.iter().enumerate() {
            let src = a.inputs[i][0];
            let ins = a.source_shape(src);
            let out = a.shapes[i];
            let (k, depthwise, in_mult) = match (node.op.clone(), kind) {
                (Op::Conv { kernel, depthwise, .. }, CostKind::Flops) => {
                    ((2 * out.h * out.w * kernel * kernel) as f64, depthwise, 1.0)
                }
                (Op::Conv { kernel, depthwise, .. }, CostKind::ModelSize) => ((kernel * kernel) as f64, depthwise, 1.0),
                (Op::Linear { .. }, CostKind::Flops) => (2.0, false, (ins.h * ins.w) as f64),
                (Op::Linear { .. }, CostKind::ModelSize) => (1.0, false, (ins.h * ins.w) as f64),
                _ => continue,
            };
            terms.push(Term {
                k,
                ins: a.source_channels(src).to_vec(),
                in_mult,
                out: a.channels[i].clone(),
                depthwise,
            });
        }
        CostModel {
            kind,
            terms,
            widths: a.groups.iter().map(|g| g.width).collect(),
            gated: a.groups.iter().map(|g| g.gated).collect(),
            indexed: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs `f` on the index tensors for `device`, building them on first use.
    fn with_indexed<T>(&self, device: Device, f: impl FnOnce(&Indexed) -> T) -> T {
        let mut slot = self.indexed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !matches!(slot.as_ref(), Some(ix) if ix.device == device) {
            *slot = Some(Indexed::new(self, device));
        }
        f(slot.as_ref().expect("just built"))
    }

    /// [`CostModel::reported`] of alive counts held in a tensor `[groups]` (any float
    /// kind, ungated groups at full width), as a float64 scalar on the same device.
    pub fn reported_t(&self, alive: &Tensor) -> Tensor {
        self.with_indexed(alive.device(), |ix| {
            let (a_in, a_out) = ix.per_term(&alive.to_kind(Kind::Double));
            (&ix.quad * &a_in * &a_out + &ix.lin * &a_out).sum(Kind::Double)
        })
    }

    /// [`CostModel::regularizer`] with alive counts and `R` in tensors `[groups]` (`r_sums`
    /// is read for gated groups only; ungated ones count their full width, as constants),
    /// as a float64 scalar with the gradient of `r_sums`.
    pub fn regularizer_t(&self, alive: &Tensor, r_sums: &Tensor) -> Tensor {
        self.with_indexed(alive.device(), |ix| {
            let r = r_sums.to_kind(Kind::Double).where_self(&ix.gated, &ix.widths);
            let (a_in, a_out) = ix.per_term(&alive.to_kind(Kind::Double));
            let (r_in, r_out) = ix.per_term(&r);
            // Dense: k·(A_in·R_out + A_out·R_in); depthwise: k·(R_in + R_out) = 2k·R_out.
            (&ix.quad * (&a_in * &r_out + &a_out * &r_in) + &ix.lin * &r_out * 2.0).sum(Kind::Double)
        })
    }

    /// Full widths per group (everything alive).
    pub fn full_alive(&self) -> Vec<f64> {
        self.widths.iter().map(|&w| w as f64).collect()
    }

    /// Reported cost `Σ k · A_in · A_out` for alive counts per group.
    pub fn reported(&self, alive: &[f64]) -> f64 {
        let sum = |segs: &[Seg]| segs.iter().map(|s| alive[s.group]).sum::<f64>();
        self.terms
            .iter()
            .map(|t| if t.depthwise { t.k * sum(&t.out) } else { t.k * sum(&t.ins) * t.in_mult * sum(&t.out) })
            .sum()
    }

    /// Cost with every channel alive.
    pub fn full(&self) -> f64 {
        self.reported(&self.full_alive())
    }

    /// Per group, the coefficient `c_g` such that the regularizer is
    /// `constant + Σ_g c_g · R_g` for the given alive counts (gated groups only; the
    /// constant collects the ungated terms).
    pub fn linear_coefficients(&self, alive: &[f64]) -> (Vec<f64>, f64) {
        let mut coef = vec![0.0; self.widths.len()];
        let mut constant = 0.0;
        let add = |segs: &[Seg], c: f64, coef: &mut Vec<f64>, constant: &mut f64| {
            for s in segs {
                if self.gated[s.group] {
                    coef[s.group] += c;
                } else {
                    *constant += c * s.width as f64;
                }
            }
        };
        let sum = |segs: &[Seg]| segs.iter().map(|s| alive[s.group]).sum::<f64>();
        for t in &self.terms {
            if t.depthwise {
                // k · (R_in + R_out), and input and output are the same channels.
                add(&t.out, 2.0 * t.k, &mut coef, &mut constant);
            } else {
                add(&t.out, t.k * sum(&t.ins) * t.in_mult, &mut coef, &mut constant);
                add(&t.ins, t.k * sum(&t.out) * t.in_mult, &mut coef, &mut constant);
            }
        }
        (coef, constant)
    }

    /// The differentiable regularizer `Σ k · (A_in · R_out + A_out · R_in)`.
    ///
    /// `r_sums[g]` is `R_g` (a scalar tensor) for gated groups and `None` for ungated ones.
    pub fn regularizer(&self, alive: &[f64], r_sums: &[Option<Tensor>]) -> Tensor {
        let (coef, constant) = self.linear_coefficients(alive);
        let mut total: Option<Tensor> = None;
        for (g, r) in r_sums.iter().enumerate() {
            if let Some(r) = r {
                let term = r * coef[g];
                total = Some(match total {
                    Some(t) => t + term,
                    None => term,
                });
            }
        }
        match total {
            Some(t) => t + constant,
            None => Tensor::from(constant).to_kind(Kind::Float),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hand_graph;

    /// Groups of the hand graph by name: G1 = a∪b, C = e, D = f, E = fc.
    fn ids(a: &Analysis) -> (usize, usize, usize, usize) {
        let id = |n: &str| a.groups.iter().find(|g| g.name == n).map(|g| g.id).expect("group exists");
        (id("a"), id("e"), id("f"), id("fc"))
    }

    /// The hand graph's FLOPs model with G1 = 1, C = 2, D = 3 alive (and its groups).
    fn pruned_case() -> (Analysis, CostModel, Vec<f64>, (usize, usize, usize)) {
        let g = hand_graph();
        let a = g.analyze().unwrap();
        let (g1, c, d, _) = ids(&a);
        let m = CostModel::new(&g, &a, CostKind::Flops);
        let mut alive = m.full_alive();
        alive[g1] = 1.0;
        alive[c] = 2.0;
        alive[d] = 3.0;
        (a, m, alive, (g1, c, d))
    }

    #[test]
    fn full_flops_by_hand() {
        // k = 2·H·W·kh·kw: 1×1 convs at 4×4 → 32, the 3×3 depthwise → 288, linear → 2.
        // a 32·1·2=64, b 32·2·2=128, d 288·2=576, e 32·2·3=192, f 32·5·4=640, fc 2·4·2=16.
        let g = hand_graph();
        let a = g.analyze().unwrap();
        let m = CostModel::new(&g, &a, CostKind::Flops);
        assert_eq!(m.full(), 1616.0);
    }

    #[test]
    fn pruned_flops_by_hand() {
        // Alive G1=1, C=2, D=3: a 32, b 32, d 288, e 32·1·2=64, f 32·3·3=288, fc 2·3·2=12.
        let (_, m, alive, _) = pruned_case();
        assert_eq!(m.reported(&alive), 716.0);
    }

    #[test]
    fn regularizer_by_hand() {
        // Alive G1=1, C=2, D=3; R_G1=0.5, R_C=1.5, R_D=2; input A=R=1, output A=R=2.
        // a 32(1·.5+1·1)=48, b 32(1·.5+1·.5)=32, d 288(.5+.5)=288, e 32(1·1.5+2·.5)=80,
        // f 32(3·2+3·2)=384, fc 2(3·2+2·2)=20; total 852.
        let (a, m, alive, (g1, c, d)) = pruned_case();
        let mut r: Vec<Option<Tensor>> = (0..a.groups.len()).map(|_| None).collect();
        r[g1] = Some(Tensor::from(0.5f32));
        r[c] = Some(Tensor::from(1.5f32));
        r[d] = Some(Tensor::from(2.0f32));
        let v = f64::try_from(m.regularizer(&alive, &r)).unwrap();
        assert!((v - 852.0).abs() < 1e-3, "{v}");
    }

    #[test]
    fn device_forms_equal_the_host_forms() {
        // The regularizer_by_hand case (852) and its reported cost (716), through tensors.
        let (a, m, alive, (g1, c, d)) = pruned_case();
        let alive_t = Tensor::from_slice(&alive).to_kind(Kind::Float);
        assert_eq!(f64::try_from(m.reported_t(&alive_t)).unwrap(), 716.0);
        let mut r = vec![0.0f32; a.groups.len()];
        r[g1] = 0.5;
        r[c] = 1.5;
        r[d] = 2.0;
        let r_t = Tensor::from_slice(&r).set_requires_grad(true);
        let reg = m.regularizer_t(&alive_t, &r_t);
        assert!((f64::try_from(&reg).unwrap() - 852.0).abs() < 1e-9);
        // The gradient of R_g is its coefficient c_g; ungated groups get none.
        reg.backward();
        let grad = Vec::<f64>::try_from(r_t.grad()).unwrap();
        let (coef, _) = m.linear_coefficients(&alive);
        for (gi, (x, y)) in grad.iter().zip(&coef).enumerate() {
            assert!((x - y).abs() < 1e-3, "group {gi}: {x} vs {y}");
        }
    }

    #[test]
    fn model_size_by_hand() {
        // Weights: a 2, b 4, d 2·9=18, e 6, f 20, fc 8 → 58 (biases are not weights).
        let g = hand_graph();
        let a = g.analyze().unwrap();
        assert_eq!(CostModel::new(&g, &a, CostKind::ModelSize).full(), 58.0);
    }

    #[test]
    fn full_flops_are_twice_the_macs() {
        let g = hand_graph();
        let a = g.analyze().unwrap();
        let macs = crate::count::count(&g, &a).macs as f64;
        assert_eq!(CostModel::new(&g, &a, CostKind::Flops).full(), 2.0 * macs);
    }
}
