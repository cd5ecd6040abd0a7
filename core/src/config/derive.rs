//! The engine's parameter sets, derived from the configuration: what a [`Search`] and a
//! retraining take, and what the search's checkpoint manifest records. They have no
//! defaults of their own: `SearchConfig::default()` is the configuration's default.
//!
//! [`Search`]: crate::search::Search

use super::Config;
use crate::data::{ImageOptions, LoadOptions};
use crate::error::{Error, Result};
use crate::gate::GateConfig;
use crate::search::SearchConfig;
use crate::train::TrainConfig;
use std::collections::BTreeMap;

/// U is drawn from [eps, 1 − eps] so the logistic noise stays finite (not a setting: any
/// other value only changes how rare a saturated gate is).
pub(crate) const GATE_NOISE_EPS: f64 = 1e-6;

impl Config {
    /// The gates' parameters. `tau-final` equal to `tau` means a constant temperature.
    pub fn gate_config(&self) -> GateConfig {
        let g = &self.gates;
        GateConfig {
            init_logit: g.init_logit,
            tau: g.tau,
            tau_final: (g.tau_final != g.tau).then_some(g.tau_final),
            straight_through: g.straight_through,
            reg_source: g.reg_source,
            eps: GATE_NOISE_EPS,
            width_multiple: g.width_multiple,
        }
    }

    /// The search's parameters with the regularizer it is bound to and the target in that
    /// regularizer's unit ([`Config::target_value`]).
    pub fn search_config(
        &self,
        regularizer: &str,
        regularizer_params: BTreeMap<String, String>,
        target: Option<f64>,
    ) -> SearchConfig {
        let s = &self.search;
        SearchConfig {
            seed: self.run.seed,
            device: self.run.device,
            batch_size: s.batch_size,
            steps: s.steps,
            lr: s.lr,
            optimizer: s.optimizer,
            momentum: s.momentum,
            weight_decay: s.weight_decay,
            gate_lr: s.gate_lr,
            lambda: s.lambda,
            regularizer: regularizer.to_string(),
            regularizer_params,
            gamma_threshold: s.gamma_threshold,
            gate: self.gate_config(),
            val_fraction: s.val_fraction,
            bn_recalibration_batches: s.bn_recalibration,
            target,
            lambda_rate: s.lambda_rate,
            memory_format: self.run.memory_format,
            precision: self.run.precision,
            compact_below: s.compact,
        }
    }

    /// The retraining recipe for `epochs` passes over `train_len` examples (the learning
    /// rate decays linearly to 0 over its steps).
    pub fn train_config(&self, train_len: usize, epochs: f64) -> TrainConfig {
        let batch = self.search.batch_size.max(1);
        let per_epoch = (train_len / batch).max(1) as f64;
        TrainConfig {
            seed: self.run.seed,
            device: self.run.device,
            batch_size: batch,
            steps: ((epochs * per_epoch).round() as u64).max(1),
            lr: self.retrain.lr.unwrap_or(self.search.lr),
            weight_decay: 0.0,
            memory_format: self.run.memory_format,
            precision: self.run.precision,
        }
    }

    /// The target in the unit of `regularizer` (`unit`: "FLOPs", "weights", "s"), checked
    /// against it.
    pub fn target_value(&self, unit: &str, regularizer: &str) -> Result<Option<f64>> {
        match &self.search.target {
            None => Ok(None),
            Some(t) => {
                crate::units::parse_target(t, unit, regularizer).map(Some).map_err(|e| Error::config("target", e))
            }
        }
    }

    /// The regularizer's `name=value` parameters as a map.
    pub fn regularizer_params(&self) -> Result<BTreeMap<String, String>> {
        crate::space::parse_kv(&self.search.reg_param)
    }

    /// How the `data` setting is loaded: limits, the synthetic set's seed, and for image
    /// folders the input size (the space's `resolution` parameter, else
    /// [`DEFAULT_IMAGE_SIZE`]), decoding threads and the test share.
    pub fn load_options(&self) -> Result<LoadOptions> {
        let params = crate::space::parse_kv(&self.search.param)?;
        let size = match params.get("resolution") {
            None => DEFAULT_IMAGE_SIZE,
            Some(r) => r.parse().ok().filter(|&r: &usize| r >= 8).ok_or_else(|| {
                Error::config("param", format!("resolution={r}: give a whole number of pixels, at least 8"))
            })?,
        };
        let d = &self.data;
        Ok(LoadOptions {
            train_limit: d.train_limit,
            test_limit: d.test_limit,
            seed: self.run.seed,
            images: ImageOptions { size, workers: decode_workers(d.workers, self.run.threads) },
            holdout: d.test_fraction,
        })
    }
}

/// An image folder's input side when the space names no `resolution`: ImageNet's.
pub const DEFAULT_IMAGE_SIZE: usize = 224;

/// Decoding threads: `workers` when given, else the cores that libtorch's intra-op
/// threads (`threads`, or libtorch's own count) leave free, at least one.
pub fn decode_workers(workers: usize, threads: i32) -> usize {
    if workers > 0 {
        return workers;
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let torch = if threads > 0 { threads as usize } else { tch::get_num_threads().max(1) as usize };
    cores.saturating_sub(torch).max(1)
}
