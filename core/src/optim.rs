//! Adam and momentum SGD over named tensors, with state that can be saved and loaded.
//!
//! tch 0.24's `nn::Optimizer` wraps libtorch's C++ optimizers and cannot read or write
//! their moments, so a search could not be checkpointed and resumed bit-exactly. These
//! are PyTorch's update rules (`torch.optim.Adam` with L2 weight decay, `torch.optim.SGD`
//! with momentum, no dampening, no Nesterov), written over the tensors themselves.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::Tensor;

/// Which optimizer a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    #[default]
    Adam,
    /// SGD with momentum (`SearchConfig::momentum`).
    Sgd,
}

impl Optimizer {
    pub fn as_str(self) -> &'static str {
        match self {
            Optimizer::Adam => "adam",
            Optimizer::Sgd => "sgd",
        }
    }
}

impl std::str::FromStr for Optimizer {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "adam" => Ok(Optimizer::Adam),
            "sgd" => Ok(Optimizer::Sgd),
            _ => Err(crate::Error::config("optimizer", format!("unknown optimizer `{s}`; use `adam` or `sgd`"))),
        }
    }
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// One parameter and its moments.
struct Slot {
    name: String,
    param: Tensor,
    /// Adam: first moment; SGD: momentum buffer.
    m: Option<Tensor>,
    /// Adam only: second moment.
    v: Option<Tensor>,
    lr: f64,
    wd: f64,
}

/// The optimizer of a search: one learning rate and weight decay per parameter (set per
/// group by the caller), a shared step count.
pub struct Optim {
    kind: Optimizer,
    momentum: f64,
    slots: Vec<Slot>,
    steps: u64,
}

impl Optim {
    /// `params`: name, tensor, learning rate, weight decay. Order is kept (names sorted by
    /// the caller make the update order reproducible).
    pub fn new(kind: Optimizer, momentum: f64, params: Vec<(String, Tensor, f64, f64)>) -> Optim {
        let slots =
            params.into_iter().map(|(name, param, lr, wd)| Slot { name, param, m: None, v: None, lr, wd }).collect();
        Optim { kind, momentum, slots, steps: 0 }
    }

    /// Steps applied so far (Adam's bias correction uses it).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Zeroes the gradients, back-propagates `loss` and applies one update.
    pub fn backward_step(&mut self, loss: &Tensor) {
        self.backward(loss);
        self.step();
    }

    /// Zeroes the gradients and back-propagates `loss` (then [`Optim::grads`] can be
    /// averaged over processes before [`Optim::step`]).
    pub fn backward(&mut self, loss: &Tensor) {
        for s in &mut self.slots {
            let mut g = s.param.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        loss.backward();
    }

    /// The gradients of every parameter that has one, in update order.
    pub fn grads(&self) -> Vec<Tensor> {
        self.slots.iter().map(|s| s.param.grad()).filter(Tensor::defined).collect()
    }

    /// Applies one update with the current gradients.
    pub fn step(&mut self) {
        self.update(None);
    }

    /// Applies one update where the boolean scalar tensor `ok` (on the parameters' device)
    /// is true, and leaves parameters and moments exactly as they are where it is false:
    /// a step whose loss turned out non-finite is never applied, and nobody has to read the
    /// flag on the host first. The step count advances either way; the search resets it
    /// when it learns that a step was refused (see `Search::flush`).
    pub fn step_masked(&mut self, ok: &Tensor) {
        self.update(Some(ok));
    }

    fn update(&mut self, ok: Option<&Tensor>) {
        self.steps += 1;
        let t = self.steps as i32;
        let _guard = tch::no_grad_guard();
        // Per step, not per parameter: the mask as a float and the masked scalars.
        // Parameters are float32 (autocast never changes their kind).
        let keep = ok.map(|ok| ok.to_kind(tch::Kind::Float));
        let scaled = |c: f64| keep.as_ref().map(|k| k * c);
        let (w1, w2) = (scaled(1.0 - BETA1), scaled(1.0 - BETA2));
        // SGD: a refused step multiplies the momentum buffer by 1, not by μ.
        let mu = keep.as_ref().map(|k| k * (self.momentum - 1.0) + 1.0);
        let mut per_lr: Vec<(u64, Tensor)> = Vec::new();
        for s in &mut self.slots {
            let grad = s.param.grad();
            if !grad.defined() {
                continue;
            }
            let g = if s.wd != 0.0 { &grad + &s.param * s.wd } else { grad };
            // A refused step's gradient is replaced by zeros (it may be NaN or infinite, and
            // NaN · 0 is NaN), so it reaches neither the moments nor the momentum buffer; an
            // accepted step's gradient is used as it is (the search refuses a step whose
            // gradient is not finite, so nothing is zeroed behind its back).
            let g = match ok {
                Some(ok) => g.where_scalarother(ok, 0.0),
                None => g,
            };
            let step_scale = |c: f64, per_lr: &mut Vec<(u64, Tensor)>| -> Option<Tensor> {
                let k = keep.as_ref()?;
                let key = c.to_bits();
                if let Some((_, t)) = per_lr.iter().find(|(b, _)| *b == key) {
                    return Some(t.shallow_clone());
                }
                let t = k * c;
                per_lr.push((key, t.shallow_clone()));
                Some(t)
            };
            match self.kind {
                Optimizer::Adam => {
                    // In-place kernels, two temporaries per parameter: the update is
                    // memory-bound, so every pass over the weights counts.
                    let m = s.m.get_or_insert_with(|| g.zeros_like());
                    let _ = match &w1 {
                        Some(w) => m.lerp_tensor_(&g, w),
                        None => m.lerp_(&g, 1.0 - BETA1),
                    };
                    let v = s.v.get_or_insert_with(|| g.zeros_like());
                    let _ = match &w2 {
                        Some(w) => v.lerp_tensor_(&g.square(), w),
                        None => v.lerp_(&g.square(), 1.0 - BETA2),
                    };
                    let bc1 = 1.0 - BETA1.powi(t);
                    let bc2 = 1.0 - BETA2.powi(t);
                    let mut d = v.sqrt();
                    let _ = d.g_div_scalar_(bc2.sqrt()).g_add_scalar_(EPS);
                    // param += m / (d / c) with c = −lr/bc1 (times the mask). A refused step
                    // has c = −0, so d / c = −∞ and the finite m adds ±0: nothing.
                    let _ = match step_scale(-s.lr / bc1, &mut per_lr) {
                        Some(c) => d.g_div_(&c),
                        None => d.g_mul_scalar_(-bc1 / s.lr),
                    };
                    let _ = s.param.addcdiv_(&*m, &d);
                }
                Optimizer::Sgd => {
                    let buf = match s.m.as_mut() {
                        Some(b) => {
                            let _ = match &mu {
                                Some(mu) => b.g_mul_(mu),
                                None => b.g_mul_scalar_(self.momentum),
                            };
                            let _ = b.g_add_(&g);
                            b
                        }
                        // A refused first step leaves a zero buffer, which the next step
                        // uses exactly as no buffer (0 · μ + g = g).
                        None => s.m.insert(g.copy()),
                    };
                    let update = match step_scale(-s.lr, &mut per_lr) {
                        Some(c) => &*buf * c,
                        None => &*buf * -s.lr,
                    };
                    let _ = s.param.g_add_(&update);
                }
            }
        }
    }

    /// Sets the step count (Adam's bias correction) back to `steps`, after refused steps.
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// The moments by name (`m.<param>`, `v.<param>`) for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for s in &self.slots {
            if let Some(m) = &s.m {
                out.push((format!("m.{}", s.name), m.shallow_clone()));
            }
            if let Some(v) = &s.v {
                out.push((format!("v.{}", s.name), v.shallow_clone()));
            }
        }
        out
    }

    /// Restores moments saved by [`Optim::state`] and the step count. A moment whose shape
    /// does not match its parameter is refused (another graph's checkpoint).
    pub fn load_state(&mut self, steps: u64, mut tensors: BTreeMap<String, Tensor>) -> Result<()> {
        for s in &mut self.slots {
            for (key, slot) in [(format!("m.{}", s.name), &mut s.m), (format!("v.{}", s.name), &mut s.v)] {
                *slot = match tensors.remove(&key) {
                    Some(t) if t.size() == s.param.size() => {
                        // Into a tensor laid out like the parameter (channels-last conv
                        // weights keep their moments channels-last).
                        let mut m = s.param.detach().zeros_like();
                        m.copy_(&t);
                        Some(m)
                    }
                    Some(t) => {
                        return Err(Error::Checkpoint(format!(
                            "optimizer state `{key}` has shape {:?}, its parameter {:?}: the checkpoint is from another network",
                            t.size(),
                            s.param.size()
                        )))
                    }
                    None => None,
                };
            }
        }
        if let Some(k) = tensors.keys().next() {
            return Err(Error::Checkpoint(format!(
                "optimizer state `{k}` has no parameter here: the checkpoint is from another network"
            )));
        }
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, nn::OptimizerConfig, Kind};

    /// Our update equals libtorch's own optimizer on the same problem (the reference).
    fn matches_libtorch(kind: Optimizer) {
        let run = |ours: bool| -> Vec<f64> {
            // Fixed values, not random draws: tests share libtorch's one generator.
            let opts = (Kind::Float, tch::Device::Cpu);
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let mut w = vs.root().var("w", &[5, 3], nn::Init::Const(0.0));
            tch::no_grad(|| w.copy_(&(Tensor::arange(15, opts) * 0.37).sin().view([5, 3])));
            let x = (Tensor::arange(40, opts) * 0.11).cos().view([8, 5]);
            let (lr, wd) = (0.05, 0.01);
            let mut theirs = match kind {
                Optimizer::Adam => nn::Adam { wd, ..Default::default() }.build(&vs, lr).unwrap(),
                Optimizer::Sgd => nn::Sgd { momentum: 0.9, wd, ..Default::default() }.build(&vs, lr).unwrap(),
            };
            let mut mine = Optim::new(kind, 0.9, vec![("w".into(), w.shallow_clone(), lr, wd)]);
            for _ in 0..20 {
                let loss = x.matmul(&w).tanh().pow_tensor_scalar(2).sum(Kind::Float);
                if ours {
                    mine.backward_step(&loss);
                } else {
                    theirs.backward_step(&loss);
                }
            }
            Vec::<f64>::try_from(w.flatten(0, -1)).unwrap()
        };
        let (a, b) = (run(true), run(false));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{kind:?}: ours {x}, libtorch {y}");
        }
    }

    #[test]
    fn adam_matches_libtorch() {
        matches_libtorch(Optimizer::Adam);
    }

    #[test]
    fn sgd_matches_libtorch() {
        matches_libtorch(Optimizer::Sgd);
    }

    #[test]
    fn a_refused_step_changes_nothing_and_an_accepted_one_is_the_plain_step() {
        for kind in [Optimizer::Adam, Optimizer::Sgd] {
            let opts = (Kind::Float, tch::Device::Cpu);
            let run = |mask: Option<bool>, nan: bool| {
                let w = (Tensor::arange(6, opts) * 0.3).sin().set_requires_grad(true);
                let mut o = Optim::new(kind, 0.9, vec![("w".into(), w.shallow_clone(), 0.05, 0.01)]);
                o.backward_step(&(&w * &w).sum(Kind::Float)); // moments exist
                let loss = (&w * &w * 3.0).sum(Kind::Float) * if nan { f64::NAN } else { 1.0 };
                o.backward(&loss);
                match mask {
                    Some(ok) => o.step_masked(&Tensor::from(ok)),
                    None => o.step(),
                }
                let mut state = vec![w.detach().copy()];
                state.extend(o.state().into_iter().map(|(_, t)| t.copy()));
                state
            };
            let before = {
                let w = (Tensor::arange(6, opts) * 0.3).sin().set_requires_grad(true);
                let mut o = Optim::new(kind, 0.9, vec![("w".into(), w.shallow_clone(), 0.05, 0.01)]);
                o.backward_step(&(&w * &w).sum(Kind::Float));
                let mut state = vec![w.detach().copy()];
                state.extend(o.state().into_iter().map(|(_, t)| t.copy()));
                state
            };
            for nan in [true, false] {
                // FAULTS.md 5: a refused step with a finite gradient (a diverged one) still
                // added it to SGD's momentum buffer.
                for (a, b) in run(Some(false), nan).iter().zip(&before) {
                    assert!(a.equal(b), "{kind:?}: a refused step (NaN loss: {nan}) changed the state");
                }
            }
            for (a, b) in run(Some(true), false).iter().zip(&run(None, false)) {
                assert!(a.allclose(b, 1e-6, 1e-7, false), "{kind:?}: the accepted step differs from the plain one");
            }
        }
    }

    #[test]
    fn state_from_another_shape_is_refused() {
        let w = Tensor::zeros([3], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let mut o = Optim::new(Optimizer::Adam, 0.9, vec![("w".into(), w, 0.1, 0.0)]);
        let bad: BTreeMap<String, Tensor> =
            [("m.w".to_string(), Tensor::zeros([4], (Kind::Float, tch::Device::Cpu)))].into();
        assert!(o.load_state(1, bad).unwrap_err().to_string().contains("another network"));
        let extra: BTreeMap<String, Tensor> =
            [("m.q".to_string(), Tensor::zeros([3], (Kind::Float, tch::Device::Cpu)))].into();
        assert!(o.load_state(1, extra).unwrap_err().to_string().contains("no parameter here"));
    }
}
