//! What the session's calls return: plain values that serialize (the prompt's `--json`
//! prints them as they are) and that a notebook renders inline ([`super::display`]).

use crate::count::Counts;
use crate::search::{EvalMetrics, StepMetrics};
use crate::train::TrainResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The data set in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// What was loaded and from where: `Fashion-MNIST (/usr/share/datasets/fashion-mnist)`.
    pub data: String,
    pub train: usize,
    pub test: usize,
    /// Channels, height, width.
    pub image: [usize; 3],
    pub classes: usize,
    /// Images decoded and resized when a batch asks for them (image and COCO folders): a
    /// supernet built at another resolution reads them at its own, so `image` is only the
    /// size until then.
    #[serde(default)]
    pub resized_on_read: bool,
}

/// One channel group of a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub group: String,
    pub width: usize,
    pub searchable: bool,
}

/// The supernet (or any graph): size, cost and channel groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupernetInfo {
    pub name: String,
    pub nodes: usize,
    pub params: u64,
    pub macs: u64,
    pub input: [usize; 3],
    pub classes: usize,
    /// The device the search runs on, or would at the next `init`.
    pub device: String,
    /// The `device` option as set.
    pub device_option: String,
    pub groups: Vec<GroupInfo>,
}

/// The regularizer chosen for the next (or running) search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegularizerInfo {
    pub regularizer: String,
    /// `gates` or `bn_gamma`.
    pub source: String,
    /// What its cost counts: `FLOPs`, `weights`, `s`.
    pub unit: String,
    pub params: BTreeMap<String, String>,
    /// λ now (the running search's, which target mode adapts).
    pub lambda: f64,
    /// In `unit`; None when off.
    pub target: Option<f64>,
    /// The change names another regularizer than the running search's: it applies at the
    /// next `init`.
    pub applies_at_next_init: bool,
}

/// A search that has just started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitReport {
    pub supernet: String,
    pub device: String,
    pub regularizer: String,
    pub unit: String,
    /// The supernet's cost in `unit`: the reference of λ and of every percentage.
    pub initial_cost: f64,
    pub train: usize,
    pub validation: usize,
    pub steps_per_epoch: u64,
}

/// What a `step` call did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The search's step count after the call.
    pub step: u64,
    pub steps_run: u64,
    pub steps_asked: u64,
    /// The cancel flag stopped the call early (everything done so far is kept).
    pub stopped_by_ctrl_c: bool,
    pub initial_cost: f64,
    pub last_step: Option<StepMetrics>,
    /// Evaluations made during the call (at multiples of `eval-every`).
    pub evals: Vec<EvalMetrics>,
}

/// An evaluation on the validation split with deterministic gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub eval: EvalMetrics,
    pub initial_cost: f64,
    pub unit: String,
    pub target: Option<f64>,
}

/// Where the search stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub step: u64,
    pub epoch: u64,
    pub lambda: f64,
    pub regularizer: String,
    pub unit: String,
    pub initial_cost: f64,
    /// Cost of the network an export would give now.
    pub cost: f64,
    pub alive_channels: usize,
    pub searchable_channels: usize,
    pub last_step: Option<StepMetrics>,
    pub last_eval: Option<EvalMetrics>,
    pub unexported_steps: u64,
    pub target: Option<f64>,
}

/// The gates of one channel group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateGroup {
    pub group: String,
    pub alive: usize,
    pub width: usize,
    pub searched: bool,
    pub mean_p: f64,
    /// Keep probability σ(a) per channel; None for groups without gates.
    pub p: Option<Vec<f64>>,
}

impl GateGroup {
    /// Per channel: whether the export keeps it (the `alive` highest-probability channels).
    pub fn kept(&self) -> Vec<bool> {
        let Some(p) = &self.p else { return vec![true; self.width] };
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&x, &y| p[y].total_cmp(&p[x]));
        let mut kept = vec![false; p.len()];
        for &c in order.iter().take(self.alive) {
            kept[c] = true;
        }
        kept
    }
}

/// Every channel group's gates at a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gates {
    pub step: u64,
    pub groups: Vec<GateGroup>,
}

/// What an export wrote and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportReport {
    /// The architecture file.
    pub file: PathBuf,
    /// Every file written.
    pub files: Vec<PathBuf>,
    pub params: u64,
    pub macs: u64,
    pub removed_nodes: Vec<String>,
    pub kept_at_one: Vec<String>,
    pub folded: Vec<String>,
    /// Why nothing was pruned and what to change, when nothing was.
    pub hint: Option<String>,
}

/// A network retrained from scratch (or fine-tuned) and tested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retrained {
    pub label: String,
    pub result: TrainResult,
    /// Part of the Pareto chart's baseline curve (the seed, width multipliers).
    pub baseline: bool,
}

/// One row of [`Comparison`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    pub network: String,
    pub params: u64,
    pub macs: u64,
    pub steps: u64,
    pub init: crate::train::Init,
    pub test_accuracy: f64,
    /// The headline metric's name (`accuracy`, `mAP`).
    #[serde(default = "crate::task::accuracy_name")]
    pub metric: String,
}

/// The retrained networks side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Comparison(pub Vec<CompareRow>);

impl From<&Retrained> for CompareRow {
    fn from(r: &Retrained) -> Self {
        let Counts { params, macs } = r.result.counts;
        CompareRow {
            network: r.label.clone(),
            params,
            macs,
            steps: r.result.steps,
            init: r.result.init,
            test_accuracy: r.result.test_accuracy,
            metric: r.result.metric.clone(),
        }
    }
}

/// A chart written as SVG and PNG; a notebook shows the SVG inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub title: String,
    pub svg: PathBuf,
    pub png: PathBuf,
}

impl Chart {
    pub(crate) fn from_paths(title: &str, paths: Vec<PathBuf>) -> Chart {
        let find =
            |ext: &str| paths.iter().find(|p| p.extension().is_some_and(|x| x == ext)).cloned().unwrap_or_default();
        Chart { title: title.to_string(), svg: find("svg"), png: find("png") }
    }

    /// Both files, SVG first.
    pub fn paths(&self) -> Vec<PathBuf> {
        vec![self.svg.clone(), self.png.clone()]
    }
}

/// A search continued from a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    pub path: PathBuf,
    pub step: u64,
    pub regularizer: String,
}

/// An evaluation as one line of a report:
/// `  step   200: val acc 0.8095  top5 0.9987  val loss 0.5018  cost 5.21 M FLOPs (83.2% of supernet)`.
pub fn eval_line(ev: &EvalMetrics, initial_cost: f64, unit: &str) -> String {
    let compacted = match ev.compacted {
        0 => String::new(),
        n => format!("  ({n} channels compacted away)"),
    };
    format!(
        "  step {:>5}: val {}{}  val loss {:.4}  cost {} ({:.1}% of supernet){compacted}",
        ev.step,
        ev.headline(),
        ev.more_text(),
        ev.loss,
        crate::units::human_unit(ev.cost, unit),
        100.0 * ev.cost / initial_cost
    )
}
