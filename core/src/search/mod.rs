//! The FiGS search session: a supernet with Logistic-Sigmoid gates (or, for MorphNet's
//! baseline, its BN γ), trained step by step on `task loss + λ · regularizer / initial cost`.
//!
//! A [`Search`] owns everything it uses (graph, parameters, optimizer, data, RNG, history),
//! so it can live in a REPL session or a notebook variable. Drive it with [`Search::step`]
//! or [`Search::run`]; look at it with [`Search::evaluate`] and [`Search::alive`]; get the
//! found architecture with [`Search::export`].

mod build;
mod compact;
pub(crate) mod config;
mod distributed;
mod found;
mod gates;
pub(crate) mod metrics;
mod resume;
mod step;
mod target;

pub use crate::optim::Optimizer;
pub use compact::COMPACT_EVERY;
pub use config::SearchConfig;
pub(crate) use gates::block_of as gate_block_of;
pub use metrics::{EvalMetrics, GroupAlive, StepMetrics};
pub use step::{host_reads, WINDOW};

use crate::collective::Collective;
use crate::data::{Batches, Dataset};
use crate::device::device_name;
use crate::error::{Error, Result};
use crate::export::Exported;
use crate::gate;
use crate::graph::{prune_keeping, Analysis, Graph, PruneReport};
use crate::net::Net;
use crate::optim::Optim;
use crate::regularizer::{check_cost, BoundRegularizer, Regularizer, Source};
use crate::train::evaluate_net;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tch::nn;
use tch::{Device, Kind, Tensor};

/// The largest training split (as float32) that a search moves to an accelerator: 2 GiB,
/// forty times Fashion-MNIST, a small share of any GPU figs targets.
const DATA_ON_DEVICE_BYTES: usize = 2 << 30;

use crate::seed::mix;

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
    /// What the network is trained to do: its loss and metric.
    task: Arc<dyn crate::task::Task>,
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
    /// The id every checkpoint of this search carries.
    pub fn id(&self) -> &str {
        &self.id
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

    /// What the supernet is trained for: its loss and metrics.
    pub fn task(&self) -> &dyn crate::task::Task {
        self.task.as_ref()
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

    fn next_batch(&mut self) -> Result<(Tensor, Tensor)> {
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
        let (rank, world) = self.rank_world();
        self.train.shuffled_batches(self.config.batch_size * world, &mut rng, self.device).shard(rank, world)
    }

    /// Where the regularizer's `r` comes from.
    pub fn source(&self) -> Source {
        self.regularizer.source()
    }

    /// The regularizer's name and cost unit.
    pub fn regularizer(&self) -> (&str, &str) {
        (self.regularizer.name(), self.regularizer.unit())
    }

    /// The current λ (adapted in target mode).
    pub fn lambda(&self) -> f64 {
        self.lambda
    }
}
