//! figs' half of `bench/step_speed.sh`: times plain training steps or FiGS search steps of
//! torchvision's MobileNetV2 (`mobilenet_v2 -p preset=imagenet`) at 28×28×1, 10 classes,
//! and prints one JSON line. `bench/step_torch.py` is the same job in PyTorch eager.

mod stats;

use anyhow::{bail, Context, Result};
use clap::Parser;
use figs::cost::{CostKind, CostModel};
use figs::data::synthetic;
use figs::device::{DeviceChoice, MemoryFormat};
use figs::gate::GateConfig;
use figs::graph::Graph;
use figs::net::Net;
use figs::optim::Optim;
use figs::search::{Optimizer, Search, SearchConfig, WINDOW};
use stats::median;
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device, Tensor};

#[derive(Parser)]
struct Args {
    /// `plain` (forward, cross-entropy, backward, Adam), `figs` (a FiGS search step: gates,
    /// FLOPs penalty, two optimizer groups) or `overhead` (both in one process, alternating
    /// single steps: the FiGS step's cost over the plain one) or `cost` (the cost
    /// model's penalty and reported cost alone against FiGS steps, alternating windows) or
    /// `prefetch` (plain steps, batches gathered ahead on a thread against when drawn).
    #[arg(long)]
    mode: String,
    #[arg(long, default_value_t = 20)]
    steps: u64,
    /// Untimed steps first (allocator and kernel warm-up).
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    #[arg(long, default_value_t = 1)]
    threads: i32,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// `cpu` or `cuda`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Rounds of `overhead` mode (each: 25 pairs of one plain and one FiGS step), of
    /// `cost` mode (a window of FiGS steps, a window of the cost computation) and of
    /// `prefetch` mode (a window each way).
    #[arg(long, default_value_t = 5)]
    rounds: u64,
    /// `fp32` or `bf16` (training passes in bfloat16: figs::precision).
    #[arg(long, default_value = "fp32")]
    precision: figs::precision::Precision,
    /// `auto` (figs' default: channels-last on the CPU), `channels-last` or `contiguous`.
    #[arg(long, default_value = "auto")]
    memory_format: String,
}

fn main() -> Result<()> {
    // What the figs binary does first, before the plain step's network too.
    // SAFETY: first thing in main, no other thread yet (mallopt is MT-unsafe).
    unsafe {
        figs::keep_freed_memory();
    }
    let a = Args::parse();
    tch::set_num_threads(a.threads);
    let choice: DeviceChoice = a.device.parse()?;
    let device = choice.resolve()?;
    let memory_format: MemoryFormat = a.memory_format.parse()?;
    let params: Vec<String> =
        ["preset=imagenet", "resolution=28", "channels=1", "classes=10"].iter().map(|s| s.to_string()).collect();
    let (_, _, graph) = figs::session::build_space("mobilenet_v2", &params, None)
        .context("building mobilenet_v2 (its plugin comes from `cargo build --workspace`)")?;
    let data = synthetic(a.batch * 40, 64, (1, 28, 28), 10, 0).train;
    let total = a.warmup + a.steps;
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut extra = serde_json::Map::new();
    let ms = match a.mode.as_str() {
        "plain" => {
            let mut p = Plain::new(&graph, &data, a.batch, device, memory_format, a.precision)?;
            p.steps(a.warmup)?;
            sync(device);
            let start = Instant::now();
            p.steps(a.steps)?;
            sync(device);
            start.elapsed().as_secs_f64() * 1e3 / a.steps as f64
        }
        "figs" => {
            let mut s = search(&graph, &data, &a, choice, memory_format, total)?;
            s.run(a.warmup, &cancel, |_| {})?;
            sync(device);
            let start = Instant::now();
            s.run(a.steps, &cancel, |_| {})?;
            sync(device);
            start.elapsed().as_secs_f64() * 1e3 / a.steps as f64
        }
        "overhead" => {
            // Both steps in one process, alternating single steps (which goes first swaps
            // every pair): the machine drifts by ±20 % within minutes, which windows of 25
            // steps and separate processes both feel; adjacent steps see the same machine.
            // A FiGS step here is `run(1)`, so it also pays one host read of its metrics
            // (a window's read, made every step): a bias against figs, ~0.05 ms on the CPU.
            let rounds = a.rounds.max(1);
            let mut p = Plain::new(&graph, &data, a.batch, device, memory_format, a.precision)?;
            let mut s = search(&graph, &data, &a, choice, memory_format, (rounds + 1) * WINDOW + a.warmup)?;
            p.steps(a.warmup)?;
            s.run(a.warmup, &cancel, |_| {})?;
            let mut per_round = Vec::new();
            let (mut all_plain, mut all_figs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let (plain_ms, figs_ms) =
                    alternate_steps(WINDOW, device, || p.steps(1), || Ok(s.run(1, &cancel, |_| {}).map(|_| ())?))?;
                let r: Vec<f64> = figs_ms.iter().zip(&plain_ms).map(|(f, p)| f / p - 1.0).collect();
                per_round.push(median(&r));
                ratios.extend(r);
                all_plain.extend(plain_ms);
                all_figs.extend(figs_ms);
            }
            extra.insert("plain_ms".into(), serde_json::json!(median(&all_plain)));
            extra.insert("figs_ms".into(), serde_json::json!(median(&all_figs)));
            extra.insert("overhead_per_round".into(), serde_json::json!(per_round));
            extra.insert("overhead_median".into(), serde_json::json!(median(&ratios)));
            extra.insert("overhead_of_medians".into(), serde_json::json!(median(&all_figs) / median(&all_plain) - 1.0));
            median(&all_figs)
        }
        "cost" => {
            // The cost model's share of a FiGS step: windows of search steps and windows of
            // the cost computation alone (the penalty forward and backward, and the reported
            // cost), alternating in one process.
            let rounds = a.rounds.max(1);
            let mut s = search(&graph, &data, &a, choice, memory_format, (rounds + 1) * WINDOW + a.warmup)?;
            s.run(a.warmup, &cancel, |_| {})?;
            let an = graph.analyze()?;
            let model = CostModel::new(&graph, &an, CostKind::Flops);
            let widths: Vec<f64> = an.groups.iter().map(|g| g.width as f64).collect();
            let alive = Tensor::from_slice(&widths).to_device(device) * 0.7;
            let r = (Tensor::from_slice(&widths).to_device(device) * 0.6).set_requires_grad(true);
            let cost_once = || {
                let penalty = model.regularizer_t(&alive, &r);
                penalty.backward();
                model.reported_t(&alive)
            };
            let _ = cost_once();
            let cost_window = || -> Result<()> {
                for _ in 0..WINDOW {
                    let _ = cost_once();
                }
                Ok(())
            };
            let (step_ms, cost_ms) =
                alternate(rounds, device, || Ok(s.run(WINDOW, &cancel, |_| {}).map(|_| ())?), cost_window)?;
            let fractions: Vec<f64> = cost_ms.iter().zip(&step_ms).map(|(c, f)| c / f).collect();
            extra.insert("cost_ms".into(), serde_json::json!(cost_ms));
            extra.insert("step_ms".into(), serde_json::json!(step_ms));
            extra.insert("cost_fraction_median".into(), serde_json::json!(median(&fractions)));
            median(&cost_ms)
        }
        "prefetch" => {
            // Plain steps on host data with batches gathered ahead on a thread (pinned on
            // CUDA: figs' path for a training split too large for the device) against
            // batches gathered when drawn, alternating windows. On the CPU figs gathers when
            // drawn; this says what a thread would buy there.
            let rounds = a.rounds.max(1);
            let plain = |prefetch| {
                Plain::new(&graph, &data, a.batch, device, memory_format, a.precision)
                    .map(|p| p.with_prefetch(prefetch))
            };
            let (mut ahead, mut drawn) = (plain(true)?, plain(false)?);
            let mut thread = data.ordered_batches(a.batch, device).with_prefetch(true);
            let same = thread.by_ref().zip(data.ordered_batches(a.batch, device).with_prefetch(false)).all(|(a, b)| {
                match (a, b) {
                    (Ok((xa, ya)), Ok((xb, yb))) => xa.equal(&xb) && ya.equal(&yb),
                    _ => false,
                }
            });
            if !same {
                bail!("batches gathered ahead differ from batches gathered when drawn");
            }
            // A thread that fails hands the gathering back to the step with the same
            // batches: the timing would then be of the wrong path.
            if !thread.prefetching() {
                bail!("the prefetching thread failed; its batches were gathered when drawn");
            }
            ahead.steps(a.warmup)?;
            drawn.steps(a.warmup)?;
            // Each `ahead` window starts from fresh batches: otherwise its thread would fill
            // its queue during the other window, outside the timer. The fresh start puts
            // one un-overlapped gather in each window instead: a bias against the thread.
            let (ahead_ms, drawn_ms) = alternate(
                rounds,
                device,
                || {
                    ahead.batches = ahead.fresh_batches();
                    ahead.steps(WINDOW)
                },
                || drawn.steps(WINDOW),
            )?;
            if !ahead.batches.prefetching() {
                bail!("the prefetching thread failed during the timed steps");
            }
            let speedups: Vec<f64> = drawn_ms.iter().zip(&ahead_ms).map(|(d, a)| d / a).collect();
            extra.insert("ahead_ms".into(), serde_json::json!(ahead_ms));
            extra.insert("drawn_ms".into(), serde_json::json!(drawn_ms));
            extra.insert("speedup_median".into(), serde_json::json!(median(&speedups)));
            median(&ahead_ms)
        }
        m => bail!("unknown mode `{m}`; use plain, figs, overhead, cost or prefetch"),
    };
    let line = serde_json::json!({
        "impl": "figs", "mode": a.mode, "memory_format": memory_format.as_str(), "precision": a.precision.as_str(), "device": a.device, "threads": a.threads, "batch": a.batch,
        "steps": a.steps, "ms_per_step": ms, "peak_rss_mb": peak_rss_mb(),
    });
    let mut line = line;
    if let Some(obj) = line.as_object_mut() {
        obj.extend(extra);
    }
    println!("{line}");
    Ok(())
}

/// Milliseconds `f` takes, the device's queue drained before and after.
fn timed_ms(device: Device, f: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    sync(device);
    let t = Instant::now();
    f()?;
    sync(device);
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

/// `rounds` times, a window of `first` then a window of `second` (each `WINDOW` steps),
/// timed: per round, ms per step of each.
fn alternate(
    rounds: u64,
    device: Device,
    mut first: impl FnMut() -> Result<()>,
    mut second: impl FnMut() -> Result<()>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(timed_ms(device, &mut first)? / WINDOW as f64);
        b.push(timed_ms(device, &mut second)? / WINDOW as f64);
    }
    Ok((a, b))
}

/// `pairs` times, one step of `first` and one of `second`, timed each, the order swapped
/// every pair: ms per step of each, in pair order.
fn alternate_steps(
    pairs: u64,
    device: Device,
    mut first: impl FnMut() -> Result<()>,
    mut second: impl FnMut() -> Result<()>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..pairs {
        if i % 2 == 0 {
            a.push(timed_ms(device, &mut first)?);
            b.push(timed_ms(device, &mut second)?);
        } else {
            b.push(timed_ms(device, &mut second)?);
            a.push(timed_ms(device, &mut first)?);
        }
    }
    Ok((a, b))
}

/// Waits for queued CUDA work so a timer brackets it.
fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Peak resident memory of this process (VmHWM), in MB.
fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// figs' plain training step: the network without gates, cross-entropy, figs' Adam.
struct Plain {
    _vs: nn::VarStore,
    net: Net,
    opt: Optim,
    data: figs::data::Dataset,
    batches: figs::data::Batches,
    batch: usize,
    device: Device,
    /// None: figs' default for the device.
    prefetch: Option<bool>,
}

impl Plain {
    fn new(
        graph: &Graph,
        data: &figs::data::Dataset,
        batch: usize,
        device: Device,
        format: MemoryFormat,
        precision: figs::precision::Precision,
    ) -> Result<Plain> {
        let vs = nn::VarStore::new(device);
        let mut net = Net::new(&vs.root(), graph)?;
        net.set_channels_last(format.channels_last(device));
        net.set_precision(precision);
        let params =
            vs.trainable_variables().into_iter().enumerate().map(|(i, t)| (format!("{i:05}"), t, 2e-3, 0.0)).collect();
        let opt = Optim::new(Optimizer::Adam, 0.9, params);
        let batches = data.ordered_batches(batch, device);
        Ok(Plain { _vs: vs, net, opt, data: data.clone(), batches, batch, device, prefetch: None })
    }

    /// Batches gathered ahead on a thread or when drawn (without this, figs' default).
    fn with_prefetch(mut self, on: bool) -> Plain {
        self.prefetch = Some(on);
        self.batches = self.fresh_batches();
        self
    }

    fn fresh_batches(&self) -> figs::data::Batches {
        let b = self.data.ordered_batches(self.batch, self.device);
        match self.prefetch {
            Some(on) => b.with_prefetch(on),
            None => b,
        }
    }

    fn steps(&mut self, n: u64) -> Result<()> {
        for _ in 0..n {
            let (x, y) = match self.batches.next().transpose()? {
                Some(b) if b.0.size()[0] == self.batch as i64 => b,
                _ => {
                    self.batches = self.fresh_batches();
                    self.batches.next().context("no batch")??
                }
            };
            let loss = self.net.forward(&x, true, None)?.cross_entropy_for_logits(&y);
            self.opt.backward_step(&loss);
        }
        Ok(())
    }
}

/// The FiGS search the benchmark times: τ = 1 fixed, λ = 0.5, the flops plugin.
fn search(
    graph: &Graph,
    data: &figs::data::Dataset,
    a: &Args,
    device: DeviceChoice,
    memory_format: MemoryFormat,
    steps: u64,
) -> Result<Search> {
    let reg = Arc::new(figs::plugin::find_regularizer("flops")?);
    let config = SearchConfig {
        device,
        memory_format,
        precision: a.precision,
        batch_size: a.batch,
        steps,
        gate: GateConfig { tau: 1.0, tau_final: None, ..GateConfig::default() },
        lambda: 0.5,
        ..SearchConfig::default()
    };
    Ok(Search::new(graph, data, config, reg)?)
}
