//! What a search measures: per step, per evaluation, per channel group.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Reads a number that JSON may hold as `null`: serde_json writes NaN and ±∞ that way, and
/// a checkpoint holding one (a NaN validation loss, say) must still load.
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// [`f64_or_nan`] for each value of a map.
fn map_f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<BTreeMap<String, f64>, D::Error> {
    let m = BTreeMap::<String, Option<f64>>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
}

/// What one training step measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: u64,
    pub epoch: u64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub task_loss: f64,
    /// The regularization term (in cost units, before λ).
    #[serde(deserialize_with = "f64_or_nan")]
    pub reg: f64,
    /// Reported cost with the channels open in this step's sampled gates (`a + L > 0`).
    #[serde(deserialize_with = "f64_or_nan")]
    pub cost: f64,
    /// Fraction of gated channels alive in this step's sample.
    #[serde(deserialize_with = "f64_or_nan")]
    pub alive_fraction: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub tau: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub batch_accuracy: f64,
    /// λ applied in this step (differs from the configured λ in target mode).
    #[serde(default)]
    pub lambda: f64,
}

/// What an evaluation on the validation split measured (deterministic gates `1[a > 0]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub step: u64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub loss: f64,
    /// The task's headline metric (classification: top-1 accuracy).
    #[serde(deserialize_with = "f64_or_nan")]
    pub accuracy: f64,
    /// Its other metrics (classification: `top5` where there are more than five classes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "map_f64_or_nan")]
    pub more: BTreeMap<String, f64>,
    /// Reported cost of the network that [`Search::export`] would return now.
    #[serde(deserialize_with = "f64_or_nan")]
    pub cost: f64,
    /// Alive channels per group (all groups, ungated at full width).
    pub alive: Vec<usize>,
    /// Gated channels that compaction had removed from the supernet by then.
    #[serde(default)]
    pub compacted: usize,
    /// The headline metric's name (`accuracy`, `mAP`).
    #[serde(default = "crate::task::accuracy_name")]
    pub metric: String,
}

impl EvalMetrics {
    /// The headline as a report shows it: `acc 0.8095`, `mAP 0.0203`.
    pub fn headline(&self) -> String {
        format!("{} {:.4}", crate::task::short_name(&self.metric), self.accuracy)
    }

    /// The metrics beyond the headline as text (`  top5 0.9987`), empty when there are none.
    pub fn more_text(&self) -> String {
        crate::task::more_text(&self.more, "  ")
    }
}

/// Alive width of one channel group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupAlive {
    pub name: String,
    pub width: usize,
    /// Channels with `a > 0` (the export rule); the full width for ungated groups.
    pub alive: usize,
    pub gated: bool,
    /// Mean keep probability σ(a) over the group (1 for ungated groups; with a BN-γ
    /// regularizer, the fraction of channels with |γ| above the threshold).
    pub mean_prob: f64,
}
