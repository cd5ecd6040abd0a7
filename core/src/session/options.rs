//! The settings a session keeps between calls (`set NAME VALUE` at the prompt,
//! [`Session::set`](super::Session::set) in a notebook), and how they become a search's and
//! a retraining's configuration.

use crate::device::{DeviceChoice, MemoryFormat};
use crate::error::{Error, Result};
use crate::gate::{GateConfig, RegSource};
use crate::precision::Precision;
use crate::search::{Optimizer, SearchConfig};
use crate::train::TrainConfig;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Settings shared by `init`, `step` and `retrain`. Every field is public for Rust callers;
/// [`Options::set`] sets one from its text with the checks the prompt applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub seed: u64,
    pub device: DeviceChoice,
    pub batch_size: usize,
    pub lr: f64,
    pub gate_lr: f64,
    pub optimizer: Optimizer,
    pub tau: f64,
    pub tau_final: f64,
    pub straight_through: bool,
    pub reg_source: RegSource,
    pub lambda: f64,
    /// As typed (`2M`, `40us`): its meaning depends on the regularizer's unit.
    pub target: Option<String>,
    pub steps: u64,
    pub gamma_threshold: f64,
    pub eval_every: u64,
    pub out: PathBuf,
    pub threads: i32,
    /// `step` saves a checkpoint to `<out>/checkpoints/step-N` at every multiple of this
    /// step, at the planned last step and when cancelled (0 = never).
    pub checkpoint_every: u64,
    /// How many of the newest checkpoints `step` keeps.
    pub keep_checkpoints: usize,
    /// Directories (or files) of plugins to load before the plugin search path: how a
    /// notebook, whose kernel runs outside `target/`, finds the bundled plugins.
    pub plugin_path: Vec<PathBuf>,
    /// Layout of activations and conv weights in search and retraining.
    pub memory_format: MemoryFormat,
    pub precision: Precision,
    /// Compaction threshold T (gated channels with a logit below −T leave the supernet);
    /// None: off.
    pub compact: Option<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 0,
            device: DeviceChoice::Auto,
            batch_size: 128,
            lr: 2e-3,
            gate_lr: 0.05,
            optimizer: Optimizer::Adam,
            tau: 1.0,
            tau_final: 0.1,
            straight_through: false,
            reg_source: RegSource::Prob,
            lambda: 0.5,
            target: None,
            steps: 800,
            gamma_threshold: 0.01,
            eval_every: 200,
            out: PathBuf::from("runs/session"),
            threads: 0,
            checkpoint_every: 0,
            keep_checkpoints: 2,
            plugin_path: Vec::new(),
            memory_format: MemoryFormat::Auto,
            precision: Precision::Fp32,
            compact: None,
        }
    }
}

/// Option names with their help, for `get`, `set` and completion.
pub const OPTIONS: [(&str, &str); 23] = [
    ("seed", "seed of weights, gate noise, data order and validation split"),
    ("device", "cpu, cuda, cuda:N or auto"),
    ("batch-size", "examples per step (search and retraining)"),
    ("lr", "learning rate of the weights (search and retraining)"),
    ("gate-lr", "learning rate of the gate logits"),
    ("optimizer", "search optimizer: adam, or sgd (momentum 0.9, MorphNet's choice for γ)"),
    ("tau", "gate temperature at the first step"),
    ("tau-final", "gate temperature at the planned last step"),
    ("straight-through", "hard 0/1 gates forward, sigmoid gradient backward (true/false)"),
    ("reg-source", "what the regularizer sums per channel: prob (σ(a)) or sample (z)"),
    ("lambda", "penalty strength λ (relative to the supernet's cost)"),
    ("target", "target cost in the regularizer's unit (2M, 40us) or `off`"),
    ("steps", "planned search steps (τ anneals over them)"),
    ("gamma-threshold", "with gamma_flops: alive while |γ| is above this"),
    ("eval-every", "evaluate at every multiple of this step (0: only at the planned last step)"),
    ("out", "directory for exports and plots"),
    ("threads", "libtorch intra-op threads (0: libtorch's default)"),
    ("checkpoint-every", "`step` saves <out>/checkpoints/step-N at every multiple of this step (0: never)"),
    ("keep-checkpoints", "how many of the newest checkpoints `step` keeps"),
    ("plugin-path", "plugin directories or files searched first, `:`-separated (`off`: none)"),
    (
        "memory-format",
        "layout of activations: auto (channels-last on the CPU for widths in blocks of 8), channels-last or contiguous",
    ),
    ("precision", "training passes in fp32 or bf16 (convs, linears and activations in bfloat16; weights, loss and evaluation float32; for GPUs)"),
    ("compact", "remove gated channels whose logit is below −T from the supernet every 100 steps: T (e.g. 2) or `off`"),
];

pub(crate) fn device_str(d: DeviceChoice) -> String {
    match d {
        DeviceChoice::Cpu => "cpu".into(),
        DeviceChoice::Auto => "auto".into(),
        DeviceChoice::Cuda(n) => format!("cuda:{n}"),
    }
}

/// The error for an option that does not exist, listing those that do.
pub(crate) fn no_option(name: &str) -> Error {
    Error::config(name, format!("no such option; options: {}", OPTIONS.map(|(n, _)| n).join(", ")))
}

impl Options {
    /// Sets one option from its text; errors name the option and what it accepts, and
    /// leave the options as they were.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let bad = |what: &str| Error::config(name, format!("`{value}` is not valid: {what}"));
        let pos_f = |v: &str| v.parse::<f64>().ok().filter(|x| *x > 0.0 && x.is_finite());
        let count = |v: &str| v.parse::<u64>().ok().filter(|s| *s > 0);
        match name {
            "seed" => self.seed = value.parse().map_err(|_| bad("expected a whole number"))?,
            "device" => self.device = value.parse()?,
            "batch-size" => self.batch_size = count(value).ok_or_else(|| bad("expected a count ≥ 1"))? as usize,
            "lr" => self.lr = pos_f(value).ok_or_else(|| bad("expected a positive number"))?,
            "gate-lr" => self.gate_lr = pos_f(value).ok_or_else(|| bad("expected a positive number"))?,
            "optimizer" => self.optimizer = value.parse()?,
            "tau" => self.tau = pos_f(value).ok_or_else(|| bad("expected a positive number"))?,
            "tau-final" => self.tau_final = pos_f(value).ok_or_else(|| bad("expected a positive number"))?,
            "straight-through" => self.straight_through = value.parse().map_err(|_| bad("expected true or false"))?,
            "reg-source" => self.reg_source = value.parse()?,
            "lambda" => {
                self.lambda = value
                    .parse()
                    .ok()
                    .filter(|x: &f64| *x >= 0.0 && x.is_finite())
                    .ok_or_else(|| bad("expected a finite number ≥ 0"))?
            }
            "target" => {
                self.target = match value {
                    "off" | "none" => None,
                    v => {
                        crate::units::parse_quantity(v).map_err(|e| Error::config(name, e))?;
                        Some(v.to_string())
                    }
                }
            }
            "steps" => self.steps = count(value).ok_or_else(|| bad("expected a count ≥ 1"))?,
            "gamma-threshold" => {
                self.gamma_threshold = pos_f(value).ok_or_else(|| bad("expected a positive number"))?
            }
            "eval-every" => self.eval_every = value.parse().map_err(|_| bad("expected a whole number"))?,
            "out" => self.out = PathBuf::from(value),
            "threads" => {
                let n: i32 = value.parse().map_err(|_| bad("expected a whole number ≥ 0"))?;
                crate::device::check_threads(n as i64).map_err(|m| bad(&m))?;
                self.threads = n;
            }
            "checkpoint-every" => self.checkpoint_every = value.parse().map_err(|_| bad("expected a whole number"))?,
            "keep-checkpoints" => {
                let n: usize = value.parse().map_err(|_| bad("expected a count ≥ 1"))?;
                crate::checkpoint::check_keep(n).map_err(|m| bad(&m))?;
                self.keep_checkpoints = n;
            }
            "plugin-path" => {
                self.plugin_path = match value {
                    "off" | "none" | "" => Vec::new(),
                    v => std::env::split_paths(v).filter(|p| !p.as_os_str().is_empty()).collect(),
                }
            }
            "memory-format" => self.memory_format = value.parse()?,
            "precision" => self.precision = value.parse()?,
            "compact" => {
                self.compact = match value {
                    "off" | "none" => None,
                    v => Some(pos_f(v).ok_or_else(|| bad("expected a positive logit threshold, e.g. 2, or `off`"))?),
                }
            }
            _ => return Err(no_option(name)),
        }
        Ok(())
    }

    /// The target in the unit of `regularizer`, checked against it.
    pub fn target_value(&self, unit: &str, regularizer: &str) -> Result<Option<f64>> {
        match &self.target {
            None => Ok(None),
            Some(t) => {
                crate::units::parse_target(t, unit, regularizer).map(Some).map_err(|e| Error::config("target", e))
            }
        }
    }

    /// Every option as JSON (name → value), in the order of [`OPTIONS`].
    pub fn to_json(&self) -> Value {
        json!({
            "seed": self.seed, "device": device_str(self.device), "batch-size": self.batch_size,
            "lr": self.lr, "gate-lr": self.gate_lr, "optimizer": self.optimizer, "tau": self.tau,
            "tau-final": self.tau_final, "straight-through": self.straight_through,
            "reg-source": self.reg_source, "lambda": self.lambda, "target": self.target,
            "steps": self.steps, "gamma-threshold": self.gamma_threshold,
            "eval-every": self.eval_every, "out": self.out.display().to_string(), "threads": self.threads,
            "checkpoint-every": self.checkpoint_every, "keep-checkpoints": self.keep_checkpoints,
            "plugin-path": (!self.plugin_path.is_empty()).then(|| {
                self.plugin_path.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":")
            }),
            "memory-format": self.memory_format.as_str(),
            "precision": self.precision.as_str(),
            "compact": self.compact,
        })
    }

    /// One option's value as JSON.
    pub fn get(&self, name: &str) -> Result<Value> {
        self.to_json().get(name).cloned().ok_or_else(|| no_option(name))
    }

    /// The search configuration these options give with a regularizer and a target (in its
    /// unit). `tau_final` equal to `tau` means a constant temperature.
    pub fn search_config(
        &self,
        regularizer: &str,
        regularizer_params: BTreeMap<String, String>,
        target: Option<f64>,
    ) -> SearchConfig {
        SearchConfig {
            seed: self.seed,
            device: self.device,
            batch_size: self.batch_size,
            steps: self.steps,
            lr: self.lr,
            optimizer: self.optimizer,
            gate_lr: self.gate_lr,
            lambda: self.lambda,
            regularizer: regularizer.to_string(),
            regularizer_params,
            gamma_threshold: self.gamma_threshold,
            gate: GateConfig {
                tau: self.tau,
                tau_final: (self.tau_final != self.tau).then_some(self.tau_final),
                straight_through: self.straight_through,
                reg_source: self.reg_source,
                ..GateConfig::default()
            },
            target,
            memory_format: self.memory_format,
            precision: self.precision,
            compact_below: self.compact,
            ..SearchConfig::default()
        }
    }

    /// The retraining recipe for `epochs` passes over `train_len` examples.
    pub fn train_config(&self, train_len: usize, epochs: f64) -> TrainConfig {
        let per_epoch = (train_len / self.batch_size.max(1)).max(1) as f64;
        TrainConfig {
            seed: self.seed,
            device: self.device,
            batch_size: self.batch_size,
            steps: ((epochs * per_epoch).round() as u64).max(1),
            lr: self.lr,
            weight_decay: 0.0,
            memory_format: self.memory_format,
            precision: self.precision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_set_and_refuse() {
        let mut o = Options::default();
        o.set("lambda", "2").unwrap();
        o.set("target", "40us").unwrap();
        o.set("device", "cpu").unwrap();
        o.set("optimizer", "sgd").unwrap();
        assert_eq!((o.lambda, o.device, o.optimizer), (2.0, DeviceChoice::Cpu, Optimizer::Sgd));
        assert!((o.target_value("s", "latency").unwrap().unwrap() - 40e-6).abs() < 1e-15);
        assert!(o.target_value("FLOPs", "flops").is_err());
        o.set("target", "off").unwrap();
        assert_eq!(o.target, None);
        let before = o.clone();
        let e = o.set("lr", "-1").unwrap_err().to_string();
        assert!(e.contains("lr") && e.contains("positive"), "{e}");
        let e = o.set("straight-through", "maybe").unwrap_err().to_string();
        assert!(e.contains("true or false"), "{e}");
        let e = o.set("colour", "red").unwrap_err().to_string();
        assert!(e.contains("no such option") && e.contains("batch-size"), "{e}");
        assert_eq!(o, before, "a refused value changes nothing");
        for (name, _) in OPTIONS {
            assert!(o.get(name).is_ok(), "{name} is in get's output");
        }
        assert_eq!(o.to_json().as_object().unwrap().len(), OPTIONS.len());
    }

    #[test]
    fn configs_carry_the_options() {
        let mut o = Options::default();
        o.set("tau-final", "1").unwrap();
        o.set("straight-through", "true").unwrap();
        let c = o.search_config("flops", BTreeMap::new(), Some(2e6));
        assert_eq!((c.gate.tau_final, c.gate.straight_through, c.target), (None, true, Some(2e6)));
        assert_eq!(o.train_config(1000, 1.5).steps, 11, "1000 / 128 = 7 steps per epoch, × 1.5 = 10.5, rounded");
    }
}
