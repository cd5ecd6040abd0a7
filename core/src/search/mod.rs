//! The FiGS search session: a supernet with Logistic-Sigmoid gates (or, for MorphNet's
//! baseline, its BN γ), trained step by step on `task loss + λ · regularizer / initial cost`.
//!
//! A [`Search`] owns everything it uses (graph, parameters, optimizer, data, RNG, history),
//! so it can live in a REPL session or a notebook variable. Drive it with [`Search::step`]
//! or [`Search::run`]; look at it with [`Search::evaluate`] and [`Search::alive`]; get the
//! found architecture with [`Search::export`].

mod compact;
mod gates;
mod resume;
mod step;
mod target;

pub use compact::COMPACT_EVERY;
pub use step::{host_reads, WINDOW};

use crate::collective::Collective;
use crate::data::{Batches, Dataset};
use crate::device::{device_name, DeviceChoice, MemoryFormat};
use crate::error::{Error, Result};
use crate::export::Exported;
use crate::gate::{self, GateConfig};
use crate::graph::{prune, Analysis, Graph, PruneReport};
use crate::net::Net;
use crate::optim::Optim;
use crate::precision::Precision;
use crate::regularizer::{check_cost, BoundRegularizer, Regularizer, Source};
use crate::train::evaluate_net;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tch::nn;
use tch::{Device, Kind, Tensor};

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
    /// Parameters passed to the regularizer's `bind`.
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
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "adam" => Ok(Optimizer::Adam),
            "sgd" => Ok(Optimizer::Sgd),
            _ => Err(Error::config("optimizer", format!("unknown optimizer `{s}`; use `adam` or `sgd`"))),
        }
    }
}

/// The largest training split (as float32) that a search moves to an accelerator: 2 GiB,
/// forty times Fashion-MNIST, a small share of any GPU figs targets.
const DATA_ON_DEVICE_BYTES: usize = 2 << 30;

/// SplitMix64 of `seed` and `k`: independent seeds per (run seed, epoch or step).
fn mix(seed: u64, k: u64) -> u64 {
    let mut z = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k.wrapping_add(0x632b_e59b_d9b4_e019);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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

/// Reads a number that JSON may hold as `null`: serde_json writes NaN and ±∞ that way, and
/// a checkpoint holding one (a NaN validation loss, say) must still load.
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
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
    #[serde(deserialize_with = "f64_or_nan")]
    pub accuracy: f64,
    /// Reported cost of the network that [`Search::export`] would return now.
    #[serde(deserialize_with = "f64_or_nan")]
    pub cost: f64,
    /// Alive channels per group (all groups, ungated at full width).
    pub alive: Vec<usize>,
    /// Gated channels that compaction had removed from the supernet by then.
    #[serde(default)]
    pub compacted: usize,
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

/// A FiGS search in progress.
pub struct Search {
    config: SearchConfig,
    /// The supernet the search started from, and its analysis.
    supernet: Graph,
    supernet_analysis: Analysis,
    /// The supernet the steps run: `supernet`, or what compaction left of it.
    graph: Graph,
    analysis: Analysis,
    /// Per group, the channels of `supernet` that `graph` still has (ascending).
    kept: Vec<Vec<usize>>,
    /// Which search this is: every checkpoint of it carries the id (a resumed search
    /// keeps its checkpoint's).
    id: String,
    /// The training data it searches (before the validation split).
    data: crate::data::Fingerprint,
    net: Net,
    // Owns the parameters that `net` and `gates` refer to.
    vs: nn::VarStore,
    opt: Optim,
    /// All gate logits in one parameter (None with a BN-γ source or without gated groups);
    /// [`Search::logits`] gives a group's slice.
    gates: Option<gates::FlatGates>,
    regularizer: Arc<dyn Regularizer>,
    bound: Box<dyn BoundRegularizer>,
    /// BN-γ source only: per group, the (node, channel offset, width) of every BN that
    /// produces its channels; empty for groups without one.
    gammas: Vec<Vec<(usize, usize, usize)>>,
    cost0: f64,
    train: Dataset,
    val: Dataset,
    device: Device,
    batches: Option<Batches>,
    step: u64,
    epoch: u64,
    /// Current λ; adapted in target mode.
    lambda: f64,
    /// Divergence watch: running average of the task loss and the lowest it has been.
    loss_avg: Option<f64>,
    best_avg: Option<f64>,
    history: Vec<StepMetrics>,
    evals: Vec<EvalMetrics>,
    /// Data-parallel group ([`Search::set_collective`]); None for one process.
    collective: Option<Arc<dyn Collective>>,
    /// Ranks of the run whose checkpoint this search resumed (None for a new search).
    resumed_world: Option<usize>,
    /// The step's constants on the device, and the steps queued since the last read.
    consts: step::StepConsts,
    window: Option<step::Window>,
}

impl std::fmt::Debug for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Search({}, step {}, device {})", self.graph.name, self.step, device_name(self.device))
    }
}

impl Search {
    /// Builds the gated supernet of `graph`, binds `regularizer` to it (with
    /// `config.regularizer_params`) and splits `train` into train / validation.
    pub fn new(
        graph: &Graph,
        train: &Dataset,
        mut config: SearchConfig,
        regularizer: Arc<dyn Regularizer>,
    ) -> Result<Search> {
        config.validate()?;
        config.regularizer = regularizer.name().to_string();
        let analysis = graph.analyze()?;
        let (c, h, w) = train.image_shape();
        let i = graph.input;
        if (c, h, w) != (i.channels, i.height, i.width) {
            return Err(Error::config(
                "data",
                format!("the data has {c}x{h}x{w} images but the network expects {}x{}x{}; set the space's input size to match", i.channels, i.height, i.width),
            ));
        }
        if train.classes > graph.classes {
            return Err(Error::config(
                "data",
                format!("the data has {} classes but the network outputs {}", train.classes, graph.classes),
            ));
        }
        let device = config.device.resolve()?;
        let data = train.fingerprint()?;
        tch::manual_seed(config.seed as i64);
        let (train_split, val) = train.split(config.val_fraction, config.seed)?;
        crate::data::check_batch(config.batch_size, train_split.len(), "the training split")?;
        // On an accelerator, a training split that fits lives there: batches are gathered on
        // the device with no copy from the host per step.
        let train_split = if device != Device::Cpu && train_split.images.numel() * 4 <= DATA_ON_DEVICE_BYTES {
            train_split.to_device(device)
        } else {
            train_split
        };
        let vs = nn::VarStore::new(device);
        let mut net = Net::new(&vs.root(), graph)?;
        net.set_channels_last(config.memory_format.channels_last(device, graph));
        net.set_precision(config.precision);
        let bound = regularizer.bind(graph, &config.regularizer_params)?;
        let full: Vec<f64> = analysis.groups.iter().map(|g| g.width as f64).collect();
        let cost0 = check_cost(regularizer.name(), bound.reported(&full)?)?;
        if cost0 <= 0.0 {
            return Err(Error::Regularizer {
                name: regularizer.name().into(),
                message:
                    "the supernet's cost is 0, so λ has nothing to scale; does the graph have any conv or linear layer?"
                        .into(),
            });
        }
        let source = regularizer.source();
        let flat = (source == Source::Gates)
            .then(|| gates::FlatGates::new(&vs.root(), &analysis, |g| analysis.groups[g].gated, config.gate.init_logit))
            .flatten();
        let gammas = if source == Source::BnGamma { gamma_producers(graph, &analysis) } else { Vec::new() };
        if config.compact_below.is_some() && source != Source::Gates {
            return Err(Error::config(
                "compact",
                format!(
                    "compaction cuts channels by their gate logits and `{}` has none; turn it off",
                    regularizer.name()
                ),
            ));
        }
        let opt = optimizer(&vs, &config);
        let searched: Vec<usize> = (0..analysis.groups.len())
            .filter(|&g| match source {
                Source::Gates => flat.as_ref().is_some_and(|f| f.logits(g).is_some()),
                Source::BnGamma => gammas.get(g).is_some_and(|v| !v.is_empty()),
            })
            .collect();
        if let Some(t) = config.target {
            target::check_reachable(t, cost0, &searched, &analysis, bound.as_ref(), regularizer.unit())?;
        }
        let widths: Vec<usize> = analysis.groups.iter().map(|g| g.width).collect();
        let consts = step::StepConsts::new(&widths, searched, device, None);
        Ok(Search {
            consts,
            supernet: graph.clone(),
            supernet_analysis: analysis.clone(),
            kept: widths.iter().map(|&w| (0..w).collect()).collect(),
            id: crate::run_dir::new_id(),
            data,
            window: None,
            lambda: config.lambda,
            loss_avg: None,
            best_avg: None,
            config,
            graph: graph.clone(),
            analysis,
            net,
            vs,
            opt,
            gates: flat,
            regularizer,
            bound,
            gammas,
            cost0,
            train: train_split,
            val,
            device,
            batches: None,
            step: 0,
            epoch: 0,
            history: Vec::new(),
            evals: Vec::new(),
            collective: None,
            resumed_world: None,
        })
    }

    /// The id every checkpoint of this search carries.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Makes this search one rank of a data-parallel search: every variable (weights, BN
    /// statistics, gate logits) takes rank 0's values; from then on each step uses this
    /// rank's shard of a global batch of `batch_size × world` examples, averages the
    /// gradients of weights and gate logits over the ranks before the update, and decides
    /// NaN, divergence and λ on the loss averaged over the ranks, so every rank takes the
    /// same decisions. Gate noise is drawn from (seed, step): the same on every rank.
    pub fn set_collective(&mut self, c: Arc<dyn Collective>) -> Result<()> {
        match self.resumed_world {
            Some(w) if w != c.world() => {
                return Err(Error::Checkpoint(format!(
                    "the checkpoint was written by a {w}-rank search and this one has {} ranks; resume it with {w} (the global batch depends on it)",
                    c.world()
                )))
            }
            _ => {}
        }
        if self.config.batch_size * c.world() > self.train.len() {
            return Err(Error::config(
                "batch-size",
                format!(
                    "{} per rank × {} ranks is larger than the training split ({} examples): give at most {} per rank",
                    self.config.batch_size,
                    c.world(),
                    self.train.len(),
                    self.train.len() / c.world()
                ),
            ));
        }
        if c.device() != self.device {
            return Err(Error::Distributed(format!(
                "the process group carries tensors on {} but the search runs on {}; search on the group's device",
                device_name(c.device()),
                device_name(self.device)
            )));
        }
        let mut vars: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let refs: Vec<&Tensor> = vars.iter().map(|(_, t)| t).collect();
        c.broadcast(&refs, 0)?;
        self.collective = Some(c);
        // The epoch's order stays; its batches become global ones from the same position
        // (a resumed search continues where its checkpoint stopped).
        if let Some(pos) = self.batches.as_ref().map(|b| b.position()) {
            let mut b = self.epoch_batches(self.epoch);
            b.seek(pos);
            self.batches = Some(b);
        }
        Ok(())
    }

    /// FNV-1a over the bits of every trained variable (weights, BN affine parameters, gate
    /// logits; not the BN running statistics, which each rank keeps for itself) in name
    /// order: equal on every rank of a data-parallel search.
    pub fn checksum(&self) -> String {
        let mut vars: Vec<(String, Tensor)> =
            self.vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut bytes = Vec::new();
        for (name, t) in vars {
            let values = Vec::<f32>::try_from(t.detach().to_device(Device::Cpu).flatten(0, -1)).unwrap_or_default();
            bytes.extend(name.bytes().chain(values.iter().flat_map(|v| v.to_bits().to_le_bytes())));
        }
        format!("{:016x}", crate::checkpoint::fnv1a(bytes.into_iter()))
    }

    /// Whether to stop before the next step. With a collective every rank must agree (each
    /// sees its own Ctrl-C at its own moment), so the flags are averaged: any rank's stop
    /// stops all of them, at the same step.
    fn stop_agreed(&self, cancel: &AtomicBool) -> Result<bool> {
        let mine = cancel.load(Ordering::Relaxed);
        let Some(c) = &self.collective else { return Ok(mine) };
        // On the group's device: NCCL takes only CUDA tensors.
        let flag = Tensor::full([1], if mine { 1.0 } else { 0.0 }, (Kind::Float, c.device()));
        c.all_reduce_mean(&[&flag])?;
        // Every WINDOW steps, with the window's metrics: counted with the step path's reads.
        let any = step::read_host(&flag)?.first().is_some_and(|&v| v > 0.0);
        if any {
            cancel.store(true, Ordering::Relaxed);
        }
        Ok(any)
    }

    /// This process's rank and the number of ranks (0, 1 without a collective).
    pub fn rank_world(&self) -> (usize, usize) {
        self.collective.as_ref().map_or((0, 1), |c| (c.rank(), c.world()))
    }

    pub fn config(&self) -> &SearchConfig {
        &self.config
    }
    /// The supernet the search started from (compaction does not change it).
    pub fn graph(&self) -> &Graph {
        &self.supernet
    }
    pub fn analysis(&self) -> &Analysis {
        &self.supernet_analysis
    }
    /// The supernet the steps run now: [`Search::graph`] less what compaction removed.
    pub fn current_graph(&self) -> &Graph {
        &self.graph
    }
    pub fn device(&self) -> Device {
        self.device
    }
    pub fn steps_done(&self) -> u64 {
        self.step
    }
    pub fn history(&self) -> &[StepMetrics] {
        &self.history
    }
    pub fn evals(&self) -> &[EvalMetrics] {
        &self.evals
    }
    /// Cost of the full supernet (the λ normaliser).
    pub fn initial_cost(&self) -> f64 {
        self.cost0
    }
    /// Sizes of the train and validation splits.
    pub fn split_sizes(&self) -> (usize, usize) {
        (self.train.len(), self.val.len())
    }
    /// Changes λ between steps.
    pub fn set_lambda(&mut self, lambda: f64) -> Result<()> {
        if !(lambda >= 0.0 && lambda.is_finite()) {
            return Err(Error::config("lambda", format!("must be a finite number ≥ 0, got {lambda}")));
        }
        self.config.lambda = lambda;
        self.lambda = lambda;
        Ok(())
    }

    /// Changes (or clears) the target between steps; λ keeps its current value.
    pub fn set_target(&mut self, target: Option<f64>) -> Result<()> {
        let mut c = self.config.clone();
        c.target = target;
        c.lambda = self.lambda.max(1e-4);
        c.validate()?;
        self.config.target = target;
        Ok(())
    }

    /// The epoch the next batch comes from.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Batches per epoch of the training split.
    pub fn steps_per_epoch(&self) -> u64 {
        (self.train.len() / self.config.batch_size).max(1) as u64
    }

    fn next_batch(&mut self) -> (Tensor, Tensor) {
        loop {
            if let Some(b) = self.batches.as_mut() {
                if let Some(batch) = b.next() {
                    return batch;
                }
                self.epoch += 1;
            }
            self.batches = Some(self.epoch_batches(self.epoch));
        }
    }

    /// Epoch `e`'s batches: its order depends on (seed, epoch) only, so a resumed search can
    /// rebuild it and continue at the saved position.
    fn epoch_batches(&self, e: u64) -> Batches {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.config.seed, e));
        let world = self.rank_world().1;
        self.train.shuffled_batches(self.config.batch_size * world, &mut rng, self.device)
    }

    /// Group `g`'s gate logits: a view of the flat parameter (None for ungated groups and
    /// with a BN-γ source).
    fn logits(&self, g: usize) -> Option<Tensor> {
        self.gates.as_ref().and_then(|f| f.logits(g))
    }

    /// Where the regularizer's `r` comes from.
    pub fn source(&self) -> Source {
        self.regularizer.source()
    }

    /// The regularizer's name and cost unit.
    pub fn regularizer(&self) -> (&str, &str) {
        (self.regularizer.name(), self.regularizer.unit())
    }

    /// `max` over the producing BNs of `|γ|` for group `g` (BN-γ source), with gradient.
    fn gamma_vector(&self, g: usize) -> Option<Tensor> {
        let parts: Vec<Tensor> = self
            .gammas
            .get(g)?
            .iter()
            .filter_map(|&(i, off, w)| self.net.bn_scale(i).map(|t| t.narrow(0, off as i64, w as i64).abs()))
            .collect();
        match parts.len() {
            0 => None,
            1 => parts.into_iter().next(),
            _ => Some(Tensor::stack(&parts, 0).amax([0], false)),
        }
    }

    /// Per searched group, a detached score that is above 0 exactly for the channels the
    /// export keeps: the gate logit, or `|γ| − threshold` with a BN-γ source.
    fn score(&self, g: usize) -> Option<Tensor> {
        match self.source() {
            Source::Gates => self.logits(g).map(|a| a.detach()),
            Source::BnGamma => self.gamma_vector(g).map(|v| v.detach() - self.config.gamma_threshold),
        }
    }

    /// The gates of the network [`Search::export`] returns, for its group `widths`
    /// ([`PruneReport::widths`]): per searched group, 1 for the `widths[g]` highest-scoring
    /// channels (exactly those with a score above 0, unless target mode fitted the count or
    /// the group was kept at one channel to stay connected), 0 for the rest.
    fn deterministic_gates(&self, widths: &[usize]) -> Vec<Option<Tensor>> {
        (0..self.analysis.groups.len())
            .map(|g| {
                self.score(g).map(|s| {
                    let open = gate::deterministic(&s);
                    let k = widths[g] as i64;
                    if f64::try_from(open.sum(Kind::Float)).ok() == Some(k as f64) {
                        return open;
                    }
                    let (_, idx) = s.topk(k, 0, true, false);
                    s.zeros_like().index_fill(0, &idx, 1.0)
                })
            })
            .collect()
    }

    /// The group widths of the network [`Search::export`] returns (the alive counts, with
    /// groups kept at one channel for connectivity at 1).
    pub fn export_widths(&self) -> Result<Vec<usize>> {
        Ok(self.export()?.1.widths)
    }

    /// The supernet's logits for a batch `x` in evaluation mode with the deterministic gates
    /// of the export: the function that [`Search::export_network`] hands out.
    pub fn eval_logits(&self, x: &Tensor) -> Result<Tensor> {
        let gates = self.deterministic_gates(&self.export_widths()?);
        let _no_grad = tch::no_grad_guard();
        self.net.forward(&x.to_device(self.device), false, Some(&gates))
    }

    /// The found network with its weights: the pruned graph, what pruning did, and the
    /// supernet's parameters and BN statistics sliced to the kept channels (constants of
    /// removed branches folded into add biases). It computes what [`Search::eval_logits`]
    /// computes.
    pub fn export_network(&self) -> Result<Exported> {
        let (graph, report) = self.export()?;
        let gates = self.deterministic_gates(&report.widths);
        let weights = crate::export::slice_weights(&self.net, &self.vs, &gates, &graph, &report)?;
        Ok(Exported { graph, report, weights })
    }

    /// Sets the gate logits of group `group` (a notebook's "what if", or a test that needs
    /// a group closed); the optimizer's moments are kept. After a compaction, give one per
    /// channel still in the supernet ([`Search::kept_channels`]).
    pub fn set_gate_logits(&mut self, group: &str, values: &[f64]) -> Result<()> {
        let Some(g) = self.analysis.groups.iter().position(|g| g.name == group) else {
            return Err(Error::config("group", format!("no channel group `{group}`; `gates` lists them")));
        };
        let Some(mut a) = self.logits(g) else {
            return Err(Error::config(
                "group",
                format!("group `{group}` has no gate logits (ungated, or the regularizer uses BN γ)"),
            ));
        };
        let width = self.analysis.groups[g].width;
        if values.len() != width || values.iter().any(|v| !v.is_finite()) {
            let cut = self.supernet_analysis.groups[g].width - width;
            let note = if cut > 0 { format!(" ({cut} of its channels were compacted away)") } else { String::new() };
            return Err(Error::config(
                "group",
                format!("group `{group}` needs {width} finite logits{note}, got {}", values.len()),
            ));
        }
        let v = Tensor::from_slice(values).to_kind(a.kind()).to_device(a.device());
        let _no_grad = tch::no_grad_guard();
        a.copy_(&v);
        Ok(())
    }

    /// Alive channels per group under the export rule `1[a > 0]`; in target mode, fitted to
    /// the target by logit rank (see `close_to_target`).
    pub fn alive_counts(&self) -> Vec<usize> {
        let mut counts = self.open_counts();
        if let Some(target) = self.config.target {
            self.close_to_target(&mut counts, target);
        }
        counts
    }

    /// Channels with a score above 0 per group (full width for groups not searched).
    fn open_counts(&self) -> Vec<usize> {
        self.analysis
            .groups
            .iter()
            .map(|g| match self.score(g.id) {
                Some(s) => s.gt(0.0).sum(Kind::Int64).int64_value(&[]) as usize,
                None => g.width,
            })
            .collect()
    }

    /// Fits the alive counts to `target` by logit rank: closes the lowest-logit open
    /// channels (never a group's last) while the cost is above the target, then reopens the
    /// highest-logit closed channels that still fit. Gates rank channels; in target mode the
    /// budget, not the sign of the logit, decides how many stay.
    fn close_to_target(&self, counts: &mut [usize], target: f64) {
        // A failing regularizer counts as over the target: channels close, never open.
        let cost = |c: &[usize]| {
            self.bound.reported(&c.iter().map(|&n| n as f64).collect::<Vec<f64>>()).unwrap_or(f64::INFINITY)
        };
        // Per searched group: open scores (descending) and closed scores (descending).
        let n = self.analysis.groups.len();
        let mut open: Vec<Vec<f64>> = Vec::with_capacity(n);
        let mut closed: Vec<Vec<f64>> = Vec::with_capacity(n);
        for g in 0..n {
            let mut v = self
                .score(g)
                .and_then(|s| Vec::<f64>::try_from(s.to_kind(Kind::Double).to_device(Device::Cpu)).ok())
                .unwrap_or_default();
            v.sort_by(|x, y| y.total_cmp(x));
            let split = v.iter().take_while(|&&x| x > 0.0).count();
            closed.push(v.split_off(split));
            open.push(v);
        }
        while cost(counts) > target {
            let pick = open
                .iter()
                .enumerate()
                .filter(|(g, v)| counts[*g] > 1 && !v.is_empty())
                .min_by(|(_, x), (_, y)| x[x.len() - 1].total_cmp(&y[y.len() - 1]))
                .map(|(g, _)| g);
            let Some(g) = pick else { return };
            if let Some(x) = open[g].pop() {
                closed[g].insert(0, x);
            }
            counts[g] -= 1;
        }
        let mut blocked = vec![false; closed.len()];
        loop {
            let pick = closed
                .iter()
                .enumerate()
                .filter(|(g, v)| !blocked[*g] && !v.is_empty())
                .max_by(|(_, x), (_, y)| x[0].total_cmp(&y[0]))
                .map(|(g, _)| g);
            let Some(g) = pick else { return };
            counts[g] += 1;
            if cost(counts) <= target {
                closed[g].remove(0);
            } else {
                counts[g] -= 1;
                blocked[g] = true;
            }
        }
    }

    /// The current λ (adapted in target mode).
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// Alive width (as exported) and mean keep probability of every group.
    pub fn alive(&self) -> Vec<GroupAlive> {
        let counts = self.export_widths().unwrap_or_else(|_| self.alive_counts());
        self.supernet_analysis
            .groups
            .iter()
            .zip(self.probabilities())
            .map(|(g, p)| GroupAlive {
                name: g.name.clone(),
                width: g.width,
                alive: counts[g.id],
                gated: g.gated,
                mean_prob: match (p, self.score(g.id)) {
                    (Some(p), _) => p.iter().sum::<f64>() / p.len().max(1) as f64,
                    (None, Some(s)) => s.gt(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]),
                    (None, None) => 1.0,
                },
            })
            .collect()
    }

    /// Keep probabilities σ(a) per gated group, one per channel of the supernet the search
    /// started from (0 for channels compaction removed); `None` for ungated groups, and for
    /// every group with a BN-γ source. On the CPU.
    pub fn probabilities(&self) -> Vec<Option<Vec<f64>>> {
        (0..self.analysis.groups.len())
            .map(|g| {
                let p = self.logits(g).and_then(|a| {
                    Vec::<f64>::try_from(a.sigmoid().to_kind(Kind::Double).to_device(Device::Cpu)).ok()
                })?;
                let mut full = vec![0.0; self.supernet_analysis.groups[g].width];
                for (&c, v) in self.kept[g].iter().zip(p) {
                    full[c] = v;
                }
                Some(full)
            })
            .collect()
    }

    /// Cost of the network that [`Search::export`] would return now (groups kept at one
    /// channel and removed branches included). NaN if the export fails.
    pub fn current_cost(&self) -> f64 {
        let cost = |g: &Graph| -> Result<f64> {
            let full: Vec<f64> = g.analyze()?.groups.iter().map(|g| g.width as f64).collect();
            self.regularizer.bind(g, &self.config.regularizer_params)?.reported(&full)
        };
        self.export().and_then(|(g, _)| cost(&g)).unwrap_or(f64::NAN)
    }

    /// Validation loss and accuracy of the network [`Search::export`] would return (the
    /// supernet with its gates fixed to 0/1); recorded in [`Search::evals`].
    pub fn evaluate(&mut self) -> Result<EvalMetrics> {
        let widths = self.export_widths()?;
        let gates = self.deterministic_gates(&widths);
        if self.config.bn_recalibration_batches > 0 {
            let _no_grad = tch::no_grad_guard();
            let batches = self.train.ordered_batches(self.config.batch_size, self.device);
            for (x, _) in batches.take(self.config.bn_recalibration_batches) {
                let _ = self.net.forward(&x, true, Some(&gates))?;
            }
        }
        let (loss, accuracy) = evaluate_net(&self.net, &self.val, Some(&gates), self.device, 256)?;
        let compacted = self.compacted_channels();
        let m = EvalMetrics { step: self.step, loss, accuracy, cost: self.current_cost(), alive: widths, compacted };
        self.evals.push(m.clone());
        Ok(m)
    }

    /// The found architecture: the supernet graph pruned to the channels with a score above
    /// 0 (gate logit, or |γ| above the threshold), fitted to the target in target mode.
    pub fn export(&self) -> Result<(Graph, PruneReport)> {
        prune(&self.graph, &self.analysis, &self.alive_counts())
    }
}

/// The optimizer of the trainable variables in `vs`: gate logits with their own learning
/// rate and no weight decay. Sorted names fix the update order, so a resumed search
/// repeats it.
fn optimizer(vs: &nn::VarStore, config: &SearchConfig) -> Optim {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let params = vars
        .into_iter()
        .map(|(name, t)| {
            let gate = name == gates::FLAT;
            let (lr, wd) = if gate { (config.gate_lr, 0.0) } else { (config.lr, config.weight_decay) };
            (name, t, lr, wd)
        })
        .collect();
    Optim::new(config.optimizer, config.momentum, params)
}

/// For a BN-γ search: per channel group, the (node, channel offset, width) of every 2-d batch
/// norm whose output carries channels of that group.
fn gamma_producers(graph: &Graph, analysis: &Analysis) -> Vec<Vec<(usize, usize, usize)>> {
    let mut out = vec![Vec::new(); analysis.groups.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        if !matches!(node.op, crate::graph::Op::BatchNorm) || analysis.shapes[i].flat {
            continue;
        }
        let mut offset = 0;
        for seg in &analysis.channels[i] {
            if analysis.groups[seg.group].gated {
                out[seg.group].push((i, offset, seg.width));
            }
            offset += seg.width;
        }
    }
    out
}
