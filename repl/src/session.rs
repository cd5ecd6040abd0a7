//! What an interactive session holds between commands, and its settable options.

use anyhow::{bail, Result};
use figs::data::TrainTest;
use figs::device::DeviceChoice;
use figs::graph::Graph;
use figs::plugin::{Plugin, RegularizerPlugin};
use figs::search::Search;
use figs::train::TrainResult;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Settings shared by `init`, `step`, `retrain` (`set NAME VALUE`, `get`).
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub device: DeviceChoice,
    pub batch_size: usize,
    pub lr: f64,
    pub gate_lr: f64,
    pub tau: f64,
    pub tau_final: f64,
    pub lambda: f64,
    /// As typed (`2M`, `40us`): its meaning depends on the regularizer's unit.
    pub target: Option<String>,
    pub steps: u64,
    pub gamma_threshold: f64,
    pub eval_every: u64,
    pub out: PathBuf,
    pub threads: i32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 0,
            device: DeviceChoice::Auto,
            batch_size: 128,
            lr: 2e-3,
            gate_lr: 0.05,
            tau: 1.0,
            tau_final: 0.1,
            lambda: 0.5,
            target: None,
            steps: 800,
            gamma_threshold: 0.01,
            eval_every: 200,
            out: PathBuf::from("runs/session"),
            threads: 0,
        }
    }
}

/// Option names with their help, for `get`, `set` and completion.
pub const OPTIONS: [(&str, &str); 14] = [
    ("seed", "seed of weights, gate noise, data order and validation split"),
    ("device", "cpu, cuda, cuda:N or auto"),
    ("batch-size", "examples per step (search and retraining)"),
    ("lr", "Adam learning rate of the weights"),
    ("gate-lr", "Adam learning rate of the gate logits"),
    ("tau", "gate temperature at the first step"),
    ("tau-final", "gate temperature at the planned last step"),
    ("lambda", "penalty strength λ (relative to the supernet's cost)"),
    ("target", "target cost in the regularizer's unit (2M, 40us) or `off`"),
    ("steps", "planned search steps (τ anneals over them)"),
    ("gamma-threshold", "with gamma_flops: alive while |γ| is above this"),
    ("eval-every", "`step N` evaluates every this many steps (0: only at the end)"),
    ("out", "directory for exports and plots"),
    ("threads", "libtorch intra-op threads (0: libtorch's default)"),
];

fn device_str(d: DeviceChoice) -> String {
    match d {
        DeviceChoice::Cpu => "cpu".into(),
        DeviceChoice::Auto => "auto".into(),
        DeviceChoice::Cuda(n) => format!("cuda:{n}"),
    }
}

impl Options {
    /// Sets one option from its text; errors name the option and what it accepts.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let bad = |what: &str| anyhow::anyhow!("`{value}` is not valid for `{name}`: {what}");
        let pos_f = |v: &str| v.parse::<f64>().ok().filter(|x| *x > 0.0 && x.is_finite());
        match name {
            "seed" => self.seed = value.parse().map_err(|_| bad("expected a whole number"))?,
            "device" => self.device = value.parse().map_err(|e: figs::Error| anyhow::anyhow!("{e}"))?,
            "batch-size" => {
                self.batch_size = value.parse().ok().filter(|b| *b > 0).ok_or_else(|| bad("expected a count ≥ 1"))?
            }
            "lr" => self.lr = pos_f(value).ok_or_else(|| bad("expected a positive number"))?,
            "gate-lr" => self.gate_lr = pos_f(value).ok_or_else(|| bad("expected a positive number"))?,
            "tau" => self.tau = pos_f(value).ok_or_else(|| bad("expected a positive number"))?,
            "tau-final" => self.tau_final = pos_f(value).ok_or_else(|| bad("expected a positive number"))?,
            "lambda" => {
                self.lambda = value
                    .parse()
                    .ok()
                    .filter(|x: &f64| *x >= 0.0 && x.is_finite())
                    .ok_or_else(|| bad("expected ≥ 0"))?
            }
            "target" => {
                self.target = match value {
                    "off" | "none" => None,
                    v => {
                        crate::format::parse_quantity(v).map_err(|e| anyhow::anyhow!(e))?;
                        Some(v.to_string())
                    }
                }
            }
            "steps" => self.steps = value.parse().ok().filter(|s| *s > 0).ok_or_else(|| bad("expected a count ≥ 1"))?,
            "gamma-threshold" => {
                self.gamma_threshold = pos_f(value).ok_or_else(|| bad("expected a positive number"))?
            }
            "eval-every" => self.eval_every = value.parse().map_err(|_| bad("expected a whole number"))?,
            "out" => self.out = PathBuf::from(value),
            "threads" => self.threads = value.parse().map_err(|_| bad("expected a whole number"))?,
            _ => {
                bail!("no option `{name}`; options: {}", OPTIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
            }
        }
        Ok(())
    }

    /// The target in the unit of `regularizer`, checked against it.
    pub fn target_value(&self, unit: &str, regularizer: &str) -> Result<Option<f64>> {
        match &self.target {
            None => Ok(None),
            Some(t) => crate::format::parse_target(t, unit, regularizer).map(Some).map_err(|e| anyhow::anyhow!(e)),
        }
    }

    /// Every option as JSON (name → value).
    pub fn to_json(&self) -> Value {
        json!({
            "seed": self.seed, "device": device_str(self.device), "batch-size": self.batch_size,
            "lr": self.lr, "gate-lr": self.gate_lr, "tau": self.tau, "tau-final": self.tau_final,
            "lambda": self.lambda, "target": self.target, "steps": self.steps,
            "gamma-threshold": self.gamma_threshold, "eval-every": self.eval_every,
            "out": self.out.display().to_string(), "threads": self.threads,
        })
    }
}

/// A retrained network, for `compare` and the Pareto plot.
#[derive(Debug, Clone)]
pub struct Retrained {
    pub label: String,
    pub result: TrainResult,
    /// Part of the Pareto plot's baseline curve.
    pub baseline: bool,
}

/// Everything the commands share.
#[derive(Default)]
pub struct Session {
    pub opts: Options,
    /// Data set description and data.
    pub data: Option<(String, TrainTest)>,
    /// Space and the parameters the supernet was built with.
    pub space: Option<(Plugin, BTreeMap<String, String>)>,
    pub supernet: Option<Graph>,
    pub regularizer: Option<(RegularizerPlugin, BTreeMap<String, String>)>,
    pub search: Option<Search>,
    /// The last export.
    pub found: Option<Graph>,
    /// The weights of the last export (the supernet's, sliced to it).
    pub found_weights: Option<figs::export::Weights>,
    /// Steps taken since the last export.
    pub unsaved_steps: u64,
    pub retrained: Vec<Retrained>,
    /// Set once `quit` has warned about unsaved progress.
    pub quit_warned: bool,
    /// The script files running now, outermost first (canonical paths): a script that runs
    /// itself, directly or through others, is refused instead of overflowing the stack.
    pub scripts: Vec<std::path::PathBuf>,
}

impl Session {
    pub fn search(&mut self) -> Result<&mut Search> {
        match self.search.as_mut() {
            Some(s) => Ok(s),
            None => bail!("no search yet: `data …`, `supernet build SPACE`, then `init`"),
        }
    }

    pub fn data(&self) -> Result<&TrainTest> {
        match &self.data {
            Some((_, d)) => Ok(d),
            None => {
                bail!("no data set yet: `data fashion-mnist`, `data mnist DIR`, `data cifar10 DIR` or `data synthetic`")
            }
        }
    }

    /// The chosen regularizer and its parameters; `flops` until one is chosen.
    pub fn regularizer_or_default(&self) -> Result<(RegularizerPlugin, BTreeMap<String, String>)> {
        match &self.regularizer {
            Some(r) => Ok(r.clone()),
            None => Ok((crate::format::find_regularizer("flops")?, BTreeMap::new())),
        }
    }

    pub fn supernet(&self) -> Result<&Graph> {
        match &self.supernet {
            Some(g) => Ok(g),
            None => bail!("no supernet yet: `supernet build SPACE [-p name=value]…` (see `plugins`)"),
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
        assert_eq!((o.lambda, o.device), (2.0, DeviceChoice::Cpu));
        assert!((o.target_value("s", "latency").unwrap().unwrap() - 40e-6).abs() < 1e-15);
        assert!(o.target_value("FLOPs", "flops").is_err());
        o.set("target", "off").unwrap();
        assert_eq!(o.target, None);
        let e = o.set("lr", "-1").unwrap_err().to_string();
        assert!(e.contains("lr") && e.contains("positive"), "{e}");
        let e = o.set("colour", "red").unwrap_err().to_string();
        assert!(e.contains("no option `colour`") && e.contains("batch-size"), "{e}");
        for (name, _) in OPTIONS {
            assert!(o.to_json().get(name).is_some(), "{name} is in get's output");
        }
    }
}
