//! The Pareto experiment: does FiGS find better networks than uniform width scaling and
//! MorphNet's γ baseline at the same MACs? For each budget (a fraction of the seed
//! network's MACs) and seed it runs
//! - `figs`: a FiGS search (the `flops` cost) in target mode at the budget, export,
//!   retrain from scratch;
//! - `width`: the seed network at the largest width multiplier whose MACs fit the budget
//!   (bisection on the space's `width` parameter), retrained with the same recipe;
//! - `gamma`: MorphNet's γ regularizer (`gamma_flops`) in target mode, trained with
//!   momentum SGD as MorphNet trains it, exported and retrained with the same recipe;
//! - `seed`: the seed network itself (budget 1), for its accuracy's mean ± sd.
//!
//! Every point is one line of `results.jsonl`, appended whole when the point is done; a
//! re-run skips the points already there, so an interrupted sweep loses at most the point
//! that was running, and points can run as separate processes (`only`) that share the
//! directory. See docs/RESULTS.md.

pub mod claim;
mod point;
mod report;
mod stats;

pub use point::width_for;
pub use report::SweepReport;

pub use stats::{markdown, paired, paired_markdown, summarize, PairedRow, SummaryRow};

use crate::config::Config;
use crate::count::count;
use crate::data::TrainTest;
use crate::device::DeviceChoice;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::job::{Job, JobEvent};
use crate::plugin::find;
use crate::search::Optimizer;
use crate::session::Progress;
use crate::space::SearchSpace;
use crate::train::train_from_scratch;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One way of getting a network at a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Figs,
    Width,
    Gamma,
    Seed,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Figs => "figs",
            Method::Width => "width",
            Method::Gamma => "gamma",
            Method::Seed => "seed",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "figs" => Ok(Method::Figs),
            "width" => Ok(Method::Width),
            "gamma" => Ok(Method::Gamma),
            "seed" => Ok(Method::Seed),
            _ => Err(Error::config("methods", format!("unknown method `{s}`; use figs, width, gamma or seed"))),
        }
    }
}

/// What every point shares: a point's numbers are comparable only under one recipe, so a
/// results directory is tied to it (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub space: String,
    /// Space parameters (input size and classes filled in from the data).
    pub space_params: BTreeMap<String, String>,
    /// Which data: a description written by the caller (path, slice).
    pub data: String,
    /// Search steps of `figs` and `gamma`.
    pub search_steps: u64,
    /// Initial λ of target mode (it adapts).
    pub lambda: f64,
    /// Adam learning rate of the weights (search and retraining) and of the gate logits.
    pub lr: f64,
    pub gate_lr: f64,
    /// Momentum-SGD learning rate of the γ search (weights and γ).
    pub gamma_lr: f64,
    /// The γ search's λ, held fixed (MorphNet's own procedure: one strength per run); the
    /// penalty still applies only while the cost is above the budget, and export keeps
    /// the channels with the largest |γ| that fit it. Adapting λ as FiGS does collapses
    /// the γ network (docs/RESULTS.md).
    #[serde(default = "default_gamma_lambda")]
    pub gamma_lambda: f64,
    /// Space parameters the width baseline sets on top of `space_params` (for MobileNetV2:
    /// `round_nearest=1, head_scales=true`, so the multiplier is continuous and reaches
    /// every budget).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub width_params: BTreeMap<String, String>,
    pub batch_size: usize,
    /// FiGS' `width-multiple`: its gates open and close blocks of this many channels (1: a
    /// gate per channel, as every recipe before it had).
    #[serde(default = "crate::gate::one", skip_serializing_if = "crate::gate::is_one")]
    pub width_multiple: usize,
    /// FiGS' `compact`: every 100 steps its searches remove the gated channels whose logit
    /// is below −T (None: off, as every recipe before it had; γ points never compact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact: Option<f64>,
    /// Retraining epochs, the same for every network.
    pub retrain_epochs: f64,
    pub device: DeviceChoice,
}

impl Recipe {
    /// The recipe of `c` (space, steps, λ, learning rates, batch, epochs, device) with the
    /// sweep's own settings: the γ search's learning rate and λ, and the width baseline's
    /// extra space parameters.
    pub fn from_config(
        c: &crate::config::Config,
        space_params: BTreeMap<String, String>,
        data: String,
        (gamma_lr, gamma_lambda): (f64, f64),
        width_params: BTreeMap<String, String>,
    ) -> Recipe {
        Recipe {
            space: c.search.space.clone(),
            space_params,
            data,
            search_steps: c.search.steps,
            lambda: c.search.lambda,
            lr: c.search.lr,
            gate_lr: c.search.gate_lr,
            gamma_lr,
            gamma_lambda,
            width_params,
            batch_size: c.search.batch_size,
            width_multiple: c.gates.width_multiple,
            compact: c.search.compact,
            retrain_epochs: c.retrain.epochs,
            device: c.run.device,
        }
    }
}

fn default_gamma_lambda() -> f64 {
    0.5
}

/// One point of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub method: Method,
    /// Fraction of the seed network's MACs (1 for `seed`).
    pub budget: f64,
    pub seed: u64,
}

impl Point {
    /// A stable name (directory and `only` syntax): `figs:0.25:1`.
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.method.as_str(), self.budget, self.seed)
    }

    fn same(&self, o: &Point) -> bool {
        self.method == o.method && self.seed == o.seed && (self.budget - o.budget).abs() < 1e-9
    }
}

/// What one point measured: one line of `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    pub method: Method,
    pub budget: f64,
    pub seed: u64,
    pub params: u64,
    pub macs: u64,
    /// MACs of this network / MACs of the seed network.
    pub macs_fraction: f64,
    pub test_accuracy: f64,
    /// The headline metric's name (`accuracy`, `mAP`).
    #[serde(default = "crate::task::accuracy_name")]
    pub metric: String,
    /// The width multiplier (`width` method) or null.
    pub width: Option<f64>,
    pub search_seconds: f64,
    pub retrain_seconds: f64,
}

/// How a point ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done(PointResult),
    /// Stopped by the cancel flag; nothing recorded.
    Cancelled,
    /// The method cannot reach the budget (e.g. uniform width scaling has a floor where
    /// every layer is at its minimum width); nothing recorded, the reason says why.
    Infeasible(String),
}

/// All points of `budgets × seeds × methods` (`seed` once per seed, at budget 1).
pub fn points(budgets: &[f64], seeds: &[u64], methods: &[Method]) -> Vec<Point> {
    let mut out = Vec::new();
    for &seed in seeds {
        if methods.contains(&Method::Seed) {
            out.push(Point { method: Method::Seed, budget: 1.0, seed });
        }
        for &budget in budgets {
            for &method in methods.iter().filter(|m| **m != Method::Seed) {
                out.push(Point { method, budget, seed });
            }
        }
    }
    out
}

/// Parses `figs:0.25:1` into a point.
pub fn parse_point(s: &str) -> Result<Point> {
    let bad = || Error::config("only", format!("`{s}` is not METHOD:BUDGET:SEED (e.g. figs:0.25:1)"));
    let parts: Vec<&str> = s.split(':').collect();
    let [m, b, sd] = parts.as_slice() else { return Err(bad()) };
    Ok(Point { method: m.parse()?, budget: b.parse().map_err(|_| bad())?, seed: sd.parse().map_err(|_| bad())? })
}

/// A results directory: `config.json` (the recipe), `results.jsonl`, `points/<key>/`.
pub struct Sweep {
    pub dir: PathBuf,
    pub recipe: Recipe,
}

impl Sweep {
    /// Opens (or starts) the sweep in `dir`. A directory made with another recipe is refused:
    /// its points would not be comparable.
    pub fn open(dir: &Path, recipe: Recipe) -> Result<Sweep> {
        let cfg = dir.join("config.json");
        if cfg.is_file() {
            let text = std::fs::read_to_string(&cfg).map_err(|e| Error::io("cannot read", &cfg, e))?;
            let old: Recipe =
                serde_json::from_str(&text).map_err(|source| Error::Json { path: cfg.clone(), source })?;
            if old != recipe {
                return Err(Error::config(
                    "out",
                    format!(
                        "{} holds a sweep with another recipe ({}); use another --out, or the same settings to resume",
                        dir.display(),
                        crate::settings_diff::settings_diff(&old, &recipe)
                    ),
                ));
            }
        } else {
            let text =
                serde_json::to_string_pretty(&recipe).map_err(|source| Error::Json { path: cfg.clone(), source })?;
            crate::io::write_atomic(&cfg, text.as_bytes())?;
        }
        Ok(Sweep { dir: dir.to_path_buf(), recipe })
    }

    /// The results recorded so far (lines that do not parse, e.g. one cut by a crash in an
    /// older version, are skipped and counted).
    pub fn results(&self) -> Result<(Vec<PointResult>, usize)> {
        let path = self.dir.join("results.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(Error::io("cannot read", &path, e)),
        };
        let mut bad = 0;
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str(line) {
                Ok(r) => out.push(r),
                Err(_) => bad += 1,
            }
        }
        Ok((out, bad))
    }

    /// Whether `p` is already in `results`.
    pub fn done(results: &[PointResult], p: &Point) -> bool {
        results.iter().any(|r| p.same(&Point { method: r.method, budget: r.budget, seed: r.seed }))
    }

    /// Appends one result as one whole line (a single write, then fsync).
    fn record(&self, r: &PointResult) -> Result<()> {
        let path = self.dir.join("results.jsonl");
        let line = serde_json::to_string(r).map_err(|source| Error::Json { path: path.clone(), source })? + "\n";
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open", &path, e))?;
        f.write_all(line.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| Error::io("cannot append to", &path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_cover_every_budget_seed_and_method_once() {
        let p = points(&[0.25, 0.5], &[1, 2], &[Method::Figs, Method::Width, Method::Seed]);
        assert_eq!(p.len(), 2 * (1 + 2 * 2));
        assert_eq!(p[0], Point { method: Method::Seed, budget: 1.0, seed: 1 });
        assert_eq!(parse_point("figs:0.25:2").unwrap(), Point { method: Method::Figs, budget: 0.25, seed: 2 });
        assert!(parse_point("figs:0.25").unwrap_err().to_string().contains("METHOD:BUDGET:SEED"));
        assert!(parse_point("bogus:0.25:1").unwrap_err().to_string().contains("unknown method"));
    }

    #[test]
    fn a_recipe_compacts_figs_points_only_and_old_recipes_read_as_off() {
        let mut c = crate::config::Config::default();
        c.search.compact = Some(2.0);
        let recipe = Recipe::from_config(&c, BTreeMap::new(), "data".into(), (0.1, 0.5), BTreeMap::new());
        let sweep = Sweep { dir: PathBuf::from("unused"), recipe: recipe.clone() };
        let at = |method| Point { method, budget: 0.5, seed: 1 };
        assert_eq!(sweep.config(&at(Method::Figs)).search.compact, Some(2.0));
        assert_eq!(sweep.config(&at(Method::Gamma)).search.compact, None, "γ has no logits to compact by");
        // A results directory from before the setting holds no `compact`: it reads as off,
        // so its recipe still equals one made without --compact.
        let off = Recipe { compact: None, ..recipe };
        let text = serde_json::to_string(&off).unwrap();
        assert!(!text.contains("compact"));
        assert_eq!(serde_json::from_str::<Recipe>(&text).unwrap(), off);
    }

    /// The budgets are MACs, so FiGS searches in FLOPs whatever `figs search`'s default
    /// cost is (it became `latency` on 2026-12-07; the sweep's targets are FLOPs).
    #[test]
    fn figs_points_search_in_flops_and_gamma_points_in_gamma_flops() {
        let recipe = Recipe::from_config(
            &crate::config::Config::default(),
            BTreeMap::new(),
            "data".into(),
            (0.1, 0.5),
            BTreeMap::new(),
        );
        let sweep = Sweep { dir: PathBuf::from("unused"), recipe };
        let at = |method| Point { method, budget: 0.5, seed: 1 };
        assert_eq!(sweep.config(&at(Method::Figs)).search.regularizer, "flops");
        assert_eq!(sweep.config(&at(Method::Gamma)).search.regularizer, "gamma_flops");
    }
}
