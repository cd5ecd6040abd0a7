//! Every setting of one search, as the engine takes it (derived from crate::config, which
//! declares the defaults) and as checkpoints record it.

use crate::device::{DeviceChoice, MemoryFormat};
use crate::error::{Error, Result};
use crate::gate::GateConfig;
use crate::optim::Optimizer;
use crate::precision::Precision;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every setting of a search; saved as `config.json` with each run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    pub seed: u64,
    pub device: DeviceChoice,
    pub batch_size: usize,
    /// Planned number of steps (τ annealing runs over these).
    pub steps: u64,
    /// Learning rate of the network weights (and of BN γ).
    pub lr: f64,
    /// The optimizer of the weights and the gate logits: Adam (FiGS' default here) or
    /// momentum SGD (how MorphNet trains its γ baseline: under Adam a γ moves about `lr` per
    /// step whatever its gradient, so it cannot reach the threshold in a normal budget).
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Momentum of SGD (ignored by Adam).
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// Weight decay of the network weights (never applied to gate logits).
    pub weight_decay: f64,
    /// Learning rate of the gate logits (their own optimizer group, no weight decay).
    pub gate_lr: f64,
    /// Penalty strength, relative to the initial cost: the loss is
    /// `CE + lambda · reg / cost(supernet)`.
    pub lambda: f64,
    /// Name of the regularizer (filled in by [`Search::new`] from the one it is given).
    #[serde(default)]
    pub regularizer: String,
    /// Parameters passed to the regularizer's `bind`: [`Search::new`] fills in the
    /// defaults of the ones not given, so a checkpoint records every value it ran with.
    #[serde(default)]
    pub regularizer_params: BTreeMap<String, String>,
    /// With a BN-γ regularizer (`gamma_flops`), a channel is alive when `|γ|` is above this.
    #[serde(default = "default_gamma_threshold")]
    pub gamma_threshold: f64,
    pub gate: GateConfig,
    /// Fraction of the training set held out for validation.
    pub val_fraction: f64,
    /// Before each evaluation, this many training batches are run forward (no gradient)
    /// with the deterministic gates to re-estimate batch-norm statistics; 0 turns it off.
    /// Training sees gates that drop channels at random, so without this the statistics
    /// do not match the network that evaluation and export use (see docs/MATH.md).
    #[serde(default = "default_recalibration")]
    pub bn_recalibration_batches: usize,
    /// Target mode: a cost (in the units of `cost`: FLOPs or weights) to land on. The
    /// penalty applies only in steps where the cost of the channels with `a > 0` is above it,
    /// λ adapts (×(1 + `lambda_rate`) per step above, ×(1 − `lambda_rate`) below, starting
    /// at `lambda`), and [`Search::export`] keeps the highest-logit channels that fit the
    /// target.
    #[serde(default)]
    pub target: Option<f64>,
    /// How fast target mode adapts λ per step; 0 keeps λ fixed (the penalty still applies
    /// only above the target). MorphNet's γ under momentum SGD responds too slowly for the
    /// default 0.02 and collapses (docs/RESULTS.md), so the γ baseline uses 0.
    #[serde(default = "default_lambda_rate")]
    pub lambda_rate: f64,
    /// Memory layout of activations and conv weights (channels-last on the CPU by default).
    #[serde(default)]
    pub memory_format: MemoryFormat,
    /// Precision of the training passes (evaluation is float32): crate::precision.
    #[serde(default)]
    pub precision: Precision,
    /// Compaction: every [`COMPACT_EVERY`] steps, gated channels whose logit is below
    /// `−compact_below` leave the supernet, so later steps compute less (None: never).
    /// Gate logits only; not with a BN-γ regularizer. docs/PERFORMANCE.md, "Compaction".
    #[serde(default)]
    pub compact_below: Option<f64>,
}

fn default_momentum() -> f64 {
    crate::config::Config::default().search.momentum
}

fn default_lambda_rate() -> f64 {
    crate::config::Config::default().search.lambda_rate
}

fn default_recalibration() -> usize {
    crate::config::Config::default().search.bn_recalibration
}

fn default_gamma_threshold() -> f64 {
    crate::config::Config::default().search.gamma_threshold
}

/// The configuration's defaults (crate::config), with no regularizer bound yet.
impl Default for SearchConfig {
    fn default() -> Self {
        crate::config::Config::default().search_config("", BTreeMap::new(), None)
    }
}

impl SearchConfig {
    /// Checks every setting; errors name the setting and its valid range.
    pub fn validate(&self) -> Result<()> {
        let bad = |n: &str, m: String| Err(Error::config(n, m));
        if self.batch_size == 0 {
            return bad("batch-size", "must be at least 1".into());
        }
        for (n, v) in [("lr", self.lr), ("gate-lr", self.gate_lr)] {
            if !(v > 0.0 && v.is_finite()) {
                return bad(n, format!("must be positive, got {v}"));
            }
        }
        if !(self.lambda >= 0.0 && self.lambda.is_finite()) {
            return bad("lambda", format!("must be a finite number ≥ 0, got {}", self.lambda));
        }
        if let Some(t) = self.target {
            if !(t > 0.0 && t.is_finite()) {
                return bad("target", format!("must be a positive cost, got {t}"));
            }
            if self.lambda <= 0.0 {
                return bad("lambda", "target mode adapts λ multiplicatively, so it must start above 0".into());
            }
        }
        if !(0.0..1.0).contains(&self.lambda_rate) {
            return bad("lambda-rate", format!("must be in [0, 1), got {}", self.lambda_rate));
        }
        if !(self.gamma_threshold > 0.0 && self.gamma_threshold.is_finite()) {
            return bad("gamma-threshold", format!("must be positive, got {}", self.gamma_threshold));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", format!("must be in [0, 1), got {}", self.momentum));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad("weight-decay", format!("must be ≥ 0, got {}", self.weight_decay));
        }
        if let Some(t) = self.compact_below.filter(|t| !(*t > 0.0 && t.is_finite())) {
            return bad("compact", format!("the logit threshold must be positive (channels below −T go), got {t}"));
        }
        self.gate.validate()
    }
}
