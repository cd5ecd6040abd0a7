//! One session API under every front end: the `figs>` prompt, `figs search` and Rust
//! notebooks all drive a [`Session`] — pick data, build a supernet from a space plugin,
//! choose a regularizer, `init`, `step`, evaluate, look at the gates, export, retrain,
//! compare, plot. Every call returns a value ([`values`]) and prints nothing; the front ends
//! format the values (the prompt as text or JSON, a notebook as HTML and SVG through
//! [`display`]).
//!
//! Long calls (`step`, `retrain`) report through the progress hook
//! ([`Session::set_progress`]) and stop between steps when the cancel flag
//! ([`Session::set_cancel`]) is raised, keeping everything done so far.
//!
//! ```no_run
//! # fn main() -> figs::Result<()> {
//! use figs::session::{DataSpec, RetrainSpec, Session};
//! let mut s = Session::new();
//! s.data(DataSpec::new("fashion-mnist").limit(4000, 1000))?;
//! s.build_supernet("mobilenet_v2", &["width=0.5"])?;
//! s.init()?;
//! s.step(200)?;
//! s.export()?;
//! let found = s.retrain(RetrainSpec::found().epochs(1.0))?;
//! println!("{}", found.result.test_accuracy);
//! # Ok(())
//! # }
//! ```

pub mod display;
mod inputs;
mod networks;
mod plots;
mod searching;
mod specs;
mod values;

pub use crate::config::Config;
pub use inputs::build_space;
pub use plots::PlotKind;
pub use searching::nothing_pruned_hint;
pub use specs::{DataSpec, Network, RegularizerChange, RetrainSpec};
pub use values::*;

use crate::count::count;
use crate::data::{DataSource, Dataset, TrainTest};
use crate::device::device_name;
use crate::error::{Error, Result};
use crate::export::{Exported, Weights};
use crate::graph::Graph;
use crate::plugin::{Plugin, RegularizerPlugin};
use crate::regularizer::{Regularizer, Source};
use crate::search::{EvalMetrics, Search, StepMetrics};
use crate::space::{parse_kv, SearchSpace};
use crate::train::{train_network, Init};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What a long call reports while it runs.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A search step finished: `done` of `total` steps of this call.
    Step { done: u64, total: u64, metrics: &'a StepMetrics, initial_cost: f64 },
    /// An evaluation during `step` (at a multiple of `eval-every`).
    Eval { metrics: &'a EvalMetrics, initial_cost: f64, unit: &'a str },
    /// A retraining step finished.
    Train { label: &'a str, done: u64, total: u64, loss: f64 },
    /// Listing an image folder: `files` found so far.
    Listing { files: usize },
}

/// The progress hook's type.
pub type ProgressHook = Box<dyn FnMut(Progress<'_>) + Send>;

/// Everything a user builds up between calls.
pub struct Session {
    config: Config,
    data: Option<(String, TrainTest)>,
    space: Option<(Plugin, BTreeMap<String, String>)>,
    supernet: Option<Graph>,
    regularizer: Option<(RegularizerPlugin, BTreeMap<String, String>)>,
    search: Option<Search>,
    found: Option<Exported>,
    unexported_steps: u64,
    retrained: Vec<Retrained>,
    warnings: Vec<String>,
    warned_no_checkpoints: bool,
    /// The search last warned that another search's checkpoints hold its directory.
    warned_checkpoints_of: String,
    progress: Option<ProgressHook>,
    cancel: Arc<AtomicBool>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("data", &self.data.as_ref().map(|(d, _)| d))
            .field("supernet", &self.supernet.as_ref().map(|g| &g.name))
            .field("search", &self.search)
            .field("retrained", &self.retrained.len())
            .finish()
    }
}

/// Where a session's exports and plots go while the `out` setting is off.
pub const SESSION_OUT: &str = "runs/session";

fn usage(message: &str) -> Error {
    Error::Session(message.to_string())
}

impl Session {
    pub fn new() -> Session {
        Session {
            config: Config::default(),
            data: None,
            space: None,
            supernet: None,
            regularizer: None,
            search: None,
            found: None,
            unexported_steps: 0,
            retrained: Vec::new(),
            warnings: Vec::new(),
            warned_no_checkpoints: false,
            warned_checkpoints_of: String::new(),
            progress: None,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Calls `hook` with the progress of long calls (replacing any earlier hook).
    pub fn set_progress(&mut self, hook: impl FnMut(Progress<'_>) + Send + 'static) {
        self.progress = Some(Box::new(hook));
    }

    /// Long calls stop after the current step once `flag` is true (a Ctrl-C handler sets it).
    pub fn set_cancel(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = flag;
    }

    /// Warnings gathered since the last call of this (a plugin shadowed by another file).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn report(&mut self, p: Progress<'_>) {
        if let Some(h) = self.progress.as_mut() {
            h(p);
        }
    }

    // ----- state -----

    pub fn search(&self) -> Result<&Search> {
        self.search.as_ref().ok_or_else(|| usage("no search yet: `data …`, `supernet build SPACE`, then `init`"))
    }

    pub fn search_mut(&mut self) -> Result<&mut Search> {
        self.search.as_mut().ok_or_else(|| usage("no search yet: `data …`, `supernet build SPACE`, then `init`"))
    }

    /// The search, if one was started.
    pub fn try_search(&self) -> Option<&Search> {
        self.search.as_ref()
    }

    pub fn train_test(&self) -> Result<&TrainTest> {
        match &self.data {
            Some((_, d)) => Ok(d),
            None => Err(usage(
                "no data set yet: `data fashion-mnist`, `data mnist DIR`, `data cifar10 DIR` or `data synthetic`",
            )),
        }
    }

    pub fn supernet(&self) -> Result<&Graph> {
        self.supernet
            .as_ref()
            .ok_or_else(|| usage("no supernet yet: `supernet build SPACE [-p name=value]…` (see `plugins`)"))
    }

    /// The supernet, if one was built or loaded.
    pub fn try_supernet(&self) -> Option<&Graph> {
        self.supernet.as_ref()
    }

    /// The last export's architecture.
    pub fn found(&self) -> Option<&Graph> {
        self.exported().map(|e| &e.graph)
    }

    /// The last export: architecture, prune report and weights.
    pub fn exported(&self) -> Option<&Exported> {
        self.found.as_ref()
    }

    /// The space plugin and parameters the supernet was built from (None for a loaded file).
    pub fn space(&self) -> Option<(&Plugin, &BTreeMap<String, String>)> {
        self.space.as_ref().map(|(p, m)| (p, m))
    }

    /// Steps taken since the last export.
    pub fn unexported_steps(&self) -> u64 {
        self.unexported_steps
    }

    /// The retrained networks, in order.
    pub fn retrained(&self) -> &[Retrained] {
        &self.retrained
    }

    /// The regularizer chosen (or the configuration's until one is) and all its parameters
    /// (defaults filled in).
    pub fn regularizer_or_default(&mut self) -> Result<(RegularizerPlugin, BTreeMap<String, String>)> {
        match &self.regularizer {
            Some(r) => Ok(r.clone()),
            None => {
                let reg = self.find_regularizer(&self.config.search.regularizer.clone())?;
                let params = crate::regularizer::with_defaults(&reg.params(), self.config.regularizer_params()?);
                Ok((reg, params))
            }
        }
    }

    /// The name of the chosen regularizer (the configuration's until one is chosen).
    pub fn regularizer_name(&self) -> String {
        self.regularizer.as_ref().map_or(self.config.search.regularizer.clone(), |(r, _)| r.info().name.clone())
    }

    /// Loads the plugins of the `plugin-path` option (their load errors become warnings).
    fn load_plugin_path(&mut self) {
        for dir in self.config.run.plugin_path.clone() {
            if !dir.exists() {
                self.warnings.push(format!("plugin-path: {} does not exist", dir.display()));
            }
            for e in crate::plugin::load_dir(&dir) {
                self.warnings.push(e.to_string());
            }
        }
    }

    fn find_space(&mut self, name: &str) -> Result<Plugin> {
        self.load_plugin_path();
        let (p, w) = crate::plugin::find_warned(name)?;
        self.warnings.extend(w);
        Ok(p)
    }

    fn find_regularizer(&mut self, name: &str) -> Result<RegularizerPlugin> {
        self.load_plugin_path();
        let (r, w) = crate::plugin::find_regularizer_warned(name)?;
        self.warnings.extend(w);
        Ok(r)
    }

    // ----- configuration -----

    /// Every setting, typed: `s.config().search.lambda`.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Typed access to every setting: `s.config_mut().search.lambda = 1.0;`. Changes apply
    /// at the next call that uses them (`init`, `step`, `retrain`, `data`); [`Session::set`]
    /// also gives λ and the target to a running search at once.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Sets a setting from its text (as `set NAME VALUE` does); λ and the target reach a
    /// running search at once, `threads` reaches libtorch at once.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let mut c = self.config.clone();
        c.set(name, value)?;
        if let Some(search) = self.search.as_mut() {
            match name {
                "lambda" => search.set_lambda(c.search.lambda)?,
                "target" => {
                    let (reg, unit) = search.regularizer();
                    let t = c.target_value(unit, reg)?;
                    search.set_target(t)?
                }
                _ => {}
            }
        }
        if name == "threads" && c.run.threads > 0 {
            tch::set_num_threads(c.run.threads);
        }
        self.config = c;
        Ok(())
    }

    /// One setting's value.
    pub fn get(&self, name: &str) -> Result<serde_json::Value> {
        self.config.get(name)
    }

    /// Where exports, plots and checkpoints go: the `out` setting, else [`SESSION_OUT`].
    pub fn out_dir(&self) -> PathBuf {
        self.config.run.out.clone().unwrap_or_else(|| PathBuf::from(SESSION_OUT))
    }
}

#[cfg(test)]
mod tests;
