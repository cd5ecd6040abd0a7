//! Training a plain (ungated) network from scratch and evaluating it: used to retrain the
//! exported architecture and, with the same recipe, the seed network it is compared to.

use crate::count::{count, Counts};
use crate::data::Dataset;
use crate::device::{DeviceChoice, MemoryFormat};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::net::Net;
use crate::precision::Precision;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use tch::nn;
use tch::{Device, Kind, Tensor};

/// A training recipe; the same one trains the seed and the found network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub seed: u64,
    pub device: DeviceChoice,
    pub batch_size: usize,
    /// Number of optimisation steps; the learning rate decays linearly to 0 over them.
    pub steps: u64,
    /// Adam learning rate at the first step.
    pub lr: f64,
    pub weight_decay: f64,
    /// Memory layout of activations and conv weights (channels-last on the CPU by default).
    #[serde(default)]
    pub memory_format: MemoryFormat,
    /// Precision of the training passes (evaluation is float32): crate::precision.
    #[serde(default)]
    pub precision: Precision,
}

/// The configuration's recipe (crate::config) for 1000 steps.
impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { steps: 1000, ..crate::config::Config::default().train_config(1, 1.0) }
    }
}

/// Progress of a training run, passed to the caller's callback after each step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainProgress {
    pub step: u64,
    pub steps: u64,
    pub loss: f64,
}

/// Result of [`train_from_scratch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub counts: Counts,
    pub steps: u64,
    pub final_train_loss: f64,
    pub test_loss: f64,
    /// The task's headline metric (classification: top-1 accuracy; detection: mAP).
    pub test_accuracy: f64,
    /// Its name (`accuracy`, `mAP`).
    #[serde(default = "crate::task::accuracy_name")]
    pub metric: String,
    /// Its other metrics (classification: `top5` where there are more than five classes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub test_more: BTreeMap<String, f64>,
    pub seconds: f64,
    /// True if the run was stopped early through the cancel flag (then `test_loss` and
    /// `test_accuracy` are NaN: a stopped training is not evaluated).
    pub cancelled: bool,
    /// Where the weights started.
    #[serde(default)]
    pub init: Init,
}

impl TrainResult {
    /// The test metrics beyond the headline as text (`, top5 0.9987`), empty when none.
    pub fn more_text(&self) -> String {
        crate::task::more_text(&self.test_more, ", ")
    }

    /// `test accuracy 0.9123, top5 0.9987` (the headline and the rest).
    pub fn headline(&self) -> String {
        format!("test {} {:.4}{}", self.metric, self.test_accuracy, self.more_text())
    }
}

/// Where a retrained network's weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Fresh random weights (the FiGS protocol: the found architecture, retrained).
    #[default]
    Scratch,
    /// The supernet's weights sliced to the found network (fine-tuning).
    Search,
}

impl std::str::FromStr for Init {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "scratch" => Ok(Init::Scratch),
            "search" => Ok(Init::Search),
            _ => Err(Error::config("init", format!("unknown init `{s}`; use `scratch` or `search`"))),
        }
    }
}

impl Init {
    pub fn as_str(self) -> &'static str {
        match self {
            Init::Scratch => "scratch",
            Init::Search => "search",
        }
    }
}

/// Builds `graph` with fresh weights, trains it on `train` and evaluates it on `test`.
pub fn train_from_scratch(
    graph: &Graph,
    train: &Dataset,
    test: &Dataset,
    cfg: &TrainConfig,
    cancel: &AtomicBool,
    on_step: impl FnMut(TrainProgress),
) -> Result<TrainResult> {
    train_network(graph, None, train, test, cfg, cancel, on_step)
}

/// Builds `graph`, starting from `init` (exported weights, e.g. the search's: see
/// [`crate::export`]) or from fresh weights, trains it on `train` and evaluates it on `test`.
pub fn train_network(
    graph: &Graph,
    init: Option<&[(String, Tensor)]>,
    train: &Dataset,
    test: &Dataset,
    cfg: &TrainConfig,
    cancel: &AtomicBool,
    mut on_step: impl FnMut(TrainProgress),
) -> Result<TrainResult> {
    if cfg.batch_size == 0 || !(cfg.lr > 0.0) {
        return Err(Error::config("train", "batch size and learning rate must be positive"));
    }
    crate::data::check_batch(cfg.batch_size, train.len(), "the training set")?;
    crate::data::check_fits(train, graph)?;
    let start = std::time::Instant::now();
    let device = cfg.device.resolve()?;
    let analysis = graph.analyze()?;
    let task = crate::task::of(graph)?;
    tch::manual_seed(cfg.seed as i64);
    let vs = nn::VarStore::new(device);
    let mut net = Net::new(&vs.root(), graph)?;
    if let Some(w) = init {
        crate::export::load_into(&vs, w, &graph.name)?;
    }
    net.set_channels_last(cfg.memory_format.channels_last(device));
    net.set_precision(cfg.precision);
    let mut opt = crate::fused_adam::FusedAdam::new(&vs, cfg.lr, cfg.weight_decay);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut batches = train.shuffled_batches(cfg.batch_size, &mut rng, device);
    let mut last_loss = f64::NAN;
    let mut done = 0;
    let mut cancelled = false;
    while done < cfg.steps {
        if cancel.load(Ordering::Relaxed) {
            cancelled = true;
            break;
        }
        let (x, y) = match batches.next() {
            Some(b) => b?,
            None => {
                batches = train.shuffled_batches(cfg.batch_size, &mut rng, device);
                continue;
            }
        };
        opt.set_lr(cfg.lr * (1.0 - done as f64 / cfg.steps as f64));
        let loss = task.loss(&net.forward_outputs(&x, true, None)?, &y);
        last_loss = f64::try_from(&loss)?;
        if !last_loss.is_finite() {
            return Err(Error::NonFiniteLoss { step: done, value: last_loss, task: last_loss, reg: 0.0 });
        }
        opt.backward_step(&loss)?;
        done += 1;
        on_step(TrainProgress { step: done, steps: cfg.steps, loss: last_loss });
    }
    // A stopped training is not reported (it would not compare fairly): no test pass, so a
    // Ctrl-C or SIGTERM ends it after the step, not after a whole evaluation.
    let eval = if cancelled {
        Evaluated { loss: f64::NAN, headline: f64::NAN, more: BTreeMap::new() }
    } else {
        evaluate_net(task.as_ref(), &net, test, None, device, 256)?
    };
    Ok(TrainResult {
        counts: count(graph, &analysis),
        steps: done,
        final_train_loss: last_loss,
        test_loss: eval.loss,
        test_accuracy: eval.headline,
        metric: task.metric_name().to_string(),
        test_more: eval.more,
        seconds: start.elapsed().as_secs_f64(),
        cancelled,
        init: if init.is_some() { Init::Search } else { Init::Scratch },
    })
}

/// What an evaluation measured: the mean loss, the task's headline metric (for
/// classification, top-1 accuracy) and its other metrics (top-5).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    pub loss: f64,
    pub headline: f64,
    pub more: BTreeMap<String, f64>,
}

/// The mean loss and the metrics of `task` of `net` on `data` in eval mode.
pub fn evaluate_net(
    task: &dyn crate::task::Task,
    net: &Net,
    data: &Dataset,
    gates: Option<&[Option<Tensor>]>,
    device: Device,
    batch: usize,
) -> Result<Evaluated> {
    let _guard = tch::no_grad_guard();
    // Sums stay on the device and are read once at the end, not twice per batch.
    let mut loss_sum = Tensor::zeros([1], (Kind::Double, device));
    let mut metrics = task.evaluation(device);
    let mut n = 0usize;
    for b in data.ordered_batches(batch, device) {
        let (x, y) = b?;
        let out = net.forward_outputs(&x, false, gates)?;
        loss_sum += (task.loss(&out, &y).to_kind(Kind::Double) * y.size()[0] as f64).unsqueeze(0);
        metrics.add(&out, &y)?;
        n += y.size()[0] as usize;
    }
    if n == 0 {
        return Err(Error::config("data", "evaluation set is empty"));
    }
    let loss = f64::try_from(loss_sum.to_device(Device::Cpu).get(0))? / n as f64;
    let mut all = metrics.finish()?.into_iter();
    let headline = all.next().map(|(_, v)| v).unwrap_or(f64::NAN);
    Ok(Evaluated { loss, headline, more: all.collect() })
}
