//! Logistic-Sigmoid channel gates (FiGS, Ray Chaudhuri et al. 2020; reference:
//! google-research/morph-net `probabilistic_gating`).
//!
//! Every channel `c` of a gated group has a trainable logit `a_c` (log-odds of being
//! alive). In training, one logistic noise sample per channel and step, shared over the
//! batch and space, gives `z_c = σ((a_c + L) / τ)` with `L = ln U − ln(1 − U)`; with
//! straight-through, the forward value is `1[a_c + L > 0]` and the gradient is the
//! sigmoid's. Evaluation and export use `1[a_c > 0]` — one rule everywhere.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Which per-channel value the regularizer sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegSource {
    /// The sampled gate `z_c` (the reference's default).
    Sample,
    /// The keep probability `p_c = σ(a_c)`: the expectation of the sampled gate at any τ,
    /// with a gradient that is never zero.
    Prob,
}

impl std::str::FromStr for RegSource {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "sample" | "z" => Ok(RegSource::Sample),
            "prob" | "p" => Ok(RegSource::Prob),
            _ => Err(crate::Error::config("reg-source", format!("unknown source `{s}`; use `sample` or `prob`"))),
        }
    }
}

impl RegSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RegSource::Sample => "sample",
            RegSource::Prob => "prob",
        }
    }
}

/// Gate settings. Defaults and the measurements behind them: docs/MATH.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateConfig {
    /// Initial logit `a_c` (2.5 ⇒ p ≈ 0.92).
    pub init_logit: f64,
    /// Temperature τ at the first step.
    pub tau: f64,
    /// If set, τ decays exponentially from `tau` to `tau_final` over the planned steps.
    pub tau_final: Option<f64>,
    /// Forward pass uses the hard gate `1[a + L > 0]`, backward the sigmoid's gradient.
    pub straight_through: bool,
    /// Per-channel value that the regularizer sums. (During search a channel counts as
    /// alive in a step when `a + L > 0`, i.e. `z > 0.5`: alive with probability `σ(a)`.)
    pub reg_source: RegSource,
    /// U is drawn from [eps, 1 − eps] so the logistic noise stays finite.
    pub eps: f64,
    /// Searched widths are multiples of this: a gate opens and closes a block of this
    /// many channels (gcd with the width where the supernet's width is not a multiple).
    /// Left out of `config.json` at 1, as it was written before blocks existed.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub width_multiple: usize,
}

pub(crate) fn one() -> usize {
    1
}

pub(crate) fn is_one(k: &usize) -> bool {
    *k == 1
}

/// The configuration's defaults (crate::config).
impl Default for GateConfig {
    fn default() -> Self {
        crate::config::Config::default().gate_config()
    }
}

impl GateConfig {
    /// Checks ranges; errors name the setting and the valid range.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |n: &str, m: String| Err(crate::Error::config(n, m));
        if !(self.tau > 0.0 && self.tau.is_finite()) {
            return bad("tau", format!("τ must be positive and finite, got {}", self.tau));
        }
        if let Some(t) = self.tau_final {
            if !(t > 0.0 && t.is_finite()) {
                return bad("tau-final", format!("final τ must be positive and finite, got {t}"));
            }
        }
        if !(self.eps > 0.0 && self.eps < 0.5) {
            return bad("eps", format!("must be in (0, 0.5), got {}", self.eps));
        }
        if self.width_multiple == 0 {
            return bad("width-multiple", "must be at least 1 (1: a gate per channel)".into());
        }
        if !self.init_logit.is_finite() {
            return bad("init-logit", "must be finite".into());
        }
        Ok(())
    }

    /// τ at `step` of `total` planned steps (exponential annealing when `tau_final` is set).
    pub fn tau_at(&self, step: u64, total: u64) -> f64 {
        match self.tau_final {
            Some(end) if total > 1 => {
                let frac = (step.min(total) as f64) / (total as f64);
                self.tau * (end / self.tau).powf(frac)
            }
            _ => self.tau,
        }
    }
}

/// Draws one logistic noise sample `L = ln U − ln(1 − U)` per logit.
pub fn logistic_noise(logits: &Tensor, eps: f64) -> Tensor {
    let u = Tensor::rand_like(logits) * (1.0 - 2.0 * eps) + eps;
    u.log() - (-&u + 1.0).log()
}

/// The training-time gate for one group: `σ((a + L)/τ)`, or its straight-through form.
pub fn sample(logits: &Tensor, tau: f64, straight_through: bool, eps: f64) -> Tensor {
    let noisy = logits + logistic_noise(logits, eps);
    let soft = (&noisy / tau).sigmoid();
    if straight_through {
        let hard = noisy.gt(0.0).to_kind(Kind::Float);
        &hard + (&soft - soft.detach())
    } else {
        soft
    }
}

/// Which channels a sampled gate `z` (from [`sample`]) leaves open in its step:
/// `z > 0.5 ⇔ a + L > 0`, so a channel is open with probability `σ(a)` at any τ, soft or
/// straight-through.
pub fn open_in_sample(z: &Tensor) -> Tensor {
    z.detach().gt(0.5)
}

/// The deterministic gate `1[a > 0]` used in evaluation and export.
pub fn deterministic(logits: &Tensor) -> Tensor {
    logits.gt(0.0).to_kind(Kind::Float)
}

/// Keep probabilities `p = σ(a)`.
pub fn probabilities(logits: &Tensor) -> Tensor {
    logits.sigmoid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_gate_mean_is_the_keep_probability() {
        // P(a + L > 0) = σ(a) for logistic L, so at small τ the mean of z is σ(a).
        tch::manual_seed(1);
        let a = Tensor::from_slice(&[-2.0f32, -0.5, 0.0, 1.0, 2.5]);
        let n = 20_000;
        let mut sum = Tensor::zeros([5], (Kind::Float, tch::Device::Cpu));
        for _ in 0..n {
            sum += sample(&a, 1e-3, false, 1e-6);
        }
        let mean = Vec::<f64>::try_from(sum / n as f64).unwrap();
        let p = Vec::<f64>::try_from(probabilities(&a)).unwrap();
        for (m, p) in mean.iter().zip(&p) {
            // 4 standard errors of a Bernoulli mean with n = 20 000 is at most 0.0142.
            assert!((m - p).abs() < 0.0142, "mean {m} vs σ(a) {p}");
        }
    }

    #[test]
    fn straight_through_forward_is_binary_and_has_a_gradient() {
        tch::manual_seed(2);
        let a = Tensor::from_slice(&[0.3f32; 64]).set_requires_grad(true);
        let z = sample(&a, 1.0, true, 1e-6);
        let v = Vec::<f32>::try_from(&z.detach()).unwrap();
        assert!(v.iter().all(|&x| x == 0.0 || x == 1.0), "{v:?}");
        assert!(v.iter().any(|&x| x == 1.0) && v.iter().any(|&x| x == 0.0));
        z.sum(Kind::Float).backward();
        let g = Vec::<f32>::try_from(&a.grad()).unwrap();
        assert!(g.iter().all(|&x| x > 0.0), "sigmoid gradient reaches every logit: {g:?}");
    }

    #[test]
    fn eval_gate_is_indicator_of_positive_logit() {
        let a = Tensor::from_slice(&[-1.0f32, -1e-6, 0.0, 1e-6, 3.0]);
        let v = Vec::<f32>::try_from(deterministic(&a)).unwrap();
        assert_eq!(v, [0.0, 0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn tau_anneals_exponentially() {
        let c = GateConfig { tau: 1.0, tau_final: Some(0.01), ..GateConfig::default() };
        assert_eq!(c.tau_at(0, 100), 1.0);
        assert!((c.tau_at(50, 100) - 0.1).abs() < 1e-12);
        assert!((c.tau_at(100, 100) - 0.01).abs() < 1e-12);
        let fixed = GateConfig { tau_final: None, ..c };
        assert_eq!(fixed.tau_at(70, 100), 1.0);
    }

    #[test]
    fn bad_settings_are_named() {
        let c = GateConfig { tau: 0.0, ..GateConfig::default() };
        assert!(c.validate().unwrap_err().to_string().contains("`tau`"));
    }
}
