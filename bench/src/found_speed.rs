//! figs' half of `bench/found_speed.sh`: times a training step (forward, cross-entropy,
//! backward, Adam), inference at batch 64 and inference at batch 1 of one network (a
//! found `arch.json` or the seed's `supernet.json`) with random weights, and prints one
//! JSON line of milliseconds per call. `--write-module DIR` instead writes the network's
//! PyTorch module (`DIR/model.py`) for `bench/found_torch.py`; `--paired-with SEED` times the
//! network against its seed in one process, round by round; `--by-op` splits the time by
//! operator.

mod stats;

use anyhow::{Context, Result};
use clap::Parser;
use figs::device::MemoryFormat;
use figs::graph::{Graph, Op};
use figs::net::Net;
use stats::median;
use std::path::PathBuf;
use std::time::Instant;
use tch::nn;
use tch::{Device, Kind, Tensor};

#[derive(Parser)]
struct Args {
    /// A figs graph: a run's `arch.json` (found) or `supernet.json` (seed).
    #[arg(long)]
    arch: PathBuf,
    /// Timed calls of each kind (after `--warmup` untimed ones).
    #[arg(long, default_value_t = 20)]
    steps: u32,
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    #[arg(long, default_value_t = 1)]
    threads: i32,
    #[arg(long, default_value_t = 64)]
    batch: i64,
    /// `auto` (figs' default), `channels-last` or `contiguous`.
    #[arg(long, default_value = "auto")]
    memory_format: String,
    /// Write DIR/model.py for the graph and exit.
    #[arg(long)]
    write_module: Option<PathBuf>,
    /// Instead of timing whole calls, time each libtorch operator (figs::op_times) over
    /// `--steps` training steps and inference calls: milliseconds per call by operator, for
    /// `bench/found_where.py --figs`.
    #[arg(long)]
    by_op: bool,
    /// With `--by-op`: each operator at each shape apart (its input's and weight's sizes in
    /// the name), so each layer's time shows.
    #[arg(long, requires = "by_op")]
    shapes: bool,
    /// Time `--arch` against this graph (its seed) in one process, alternating every 3
    /// calls (`--steps` such rounds of each kind): prints the median of the rounds'
    /// found/seed ratios, which a host whose speed drifts by the minute cannot bias the
    /// way it biases separate processes.
    #[arg(long)]
    paired_with: Option<PathBuf>,
}

/// One network as the retraining runs it: its optimizer and a batch of random inputs.
struct Timed {
    _vs: nn::VarStore,
    net: Net,
    opt: figs::fused_adam::FusedAdam,
    x: Tensor,
    y: Tensor,
    x1: Tensor,
}

impl Timed {
    fn new(g: &Graph, batch: i64, format: MemoryFormat) -> Result<Timed> {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut net = Net::new(&vs.root(), g)?;
        net.set_channels_last(format.channels_last(Device::Cpu));
        // The retraining's optimizer (figs::train).
        let opt = figs::fused_adam::FusedAdam::new(&vs, 1e-3, 0.0);
        let i = g.input;
        let shape = |n: i64| [n, i.channels as i64, i.height as i64, i.width as i64];
        let x = Tensor::randn(shape(batch), (Kind::Float, Device::Cpu));
        let y = Tensor::randint(g.classes as i64, [batch], (Kind::Int64, Device::Cpu));
        let x1 = Tensor::randn(shape(1), (Kind::Float, Device::Cpu));
        Ok(Timed { _vs: vs, net, opt, x, y, x1 })
    }

    fn train(&mut self) -> Result<()> {
        let loss = self.net.forward(&self.x, true, None)?.cross_entropy_for_logits(&self.y);
        self.opt.backward_step(&loss)?;
        Ok(())
    }

    fn infer(&self, one: bool) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let _ = self.net.forward(if one { &self.x1 } else { &self.x }, false, None)?;
        Ok(())
    }

    fn call(&mut self, kind: usize) -> Result<()> {
        match kind {
            0 => self.train(),
            k => self.infer(k == 2),
        }
    }
}

/// Per kind (training step, inference, inference at batch 1): `rounds` rounds of 3 calls of
/// each network, the order alternating; the medians of the rounds' found/seed ratios and of
/// each network's milliseconds per call.
fn paired(seed: &mut Timed, found: &mut Timed, warmup: u32, rounds: u32) -> Result<serde_json::Value> {
    const CALLS: u32 = 3;
    let mut out = serde_json::Map::new();
    for (kind, name) in ["train", "infer", "infer1"].iter().enumerate() {
        for _ in 0..warmup {
            seed.call(kind)?;
            found.call(kind)?;
        }
        let (mut ratios, mut s_ms, mut f_ms) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..rounds.max(1) {
            let once = |t: &mut Timed| -> Result<f64> { time_ms(0, CALLS, || t.call(kind)) };
            let (s, f) = if r % 2 == 0 {
                let s = once(seed)?;
                (s, once(found)?)
            } else {
                let f = once(found)?;
                (once(seed)?, f)
            };
            ratios.push(f / s);
            s_ms.push(s);
            f_ms.push(f);
        }
        out.insert(format!("{name}_ratio"), median(&ratios).into());
        out.insert(format!("{name}_seed_ms"), median(&s_ms).into());
        out.insert(format!("{name}_found_ms"), median(&f_ms).into());
    }
    Ok(out.into())
}

/// Each operator's self time in milliseconds per call of `f`, over `steps` calls.
fn ms_by_op(warmup: u32, steps: u32, shapes: bool, mut f: impl FnMut() -> Result<()>) -> Result<serde_json::Value> {
    for _ in 0..warmup {
        f()?;
    }
    figs::op_times::start(shapes)?;
    let run = (0..steps).try_for_each(|_| f());
    let ops = figs::op_times::stop()?;
    run?;
    let per = |v: u64| v as f64 / steps as f64;
    Ok(ops.iter().map(|o| (o.name.clone(), serde_json::json!([per(o.self_ns) / 1e6, per(o.calls)]))).collect())
}

fn time_ms(warmup: u32, steps: u32, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..warmup {
        f()?;
    }
    let start = Instant::now();
    for _ in 0..steps {
        f()?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e3 / steps as f64)
}

fn main() -> Result<()> {
    // What the figs binary does first (malloc thresholds that keep freed memory).
    // SAFETY: first thing in main, no other thread yet (mallopt is MT-unsafe).
    unsafe {
        figs::keep_freed_memory();
    }
    let a = Args::parse();
    let g = Graph::load(&a.arch).with_context(|| format!("reading {}", a.arch.display()))?;
    if let Some(dir) = &a.write_module {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("model.py"), figs::export::module_source(&g)?)?;
        return Ok(());
    }
    tch::set_num_threads(a.threads);
    tch::manual_seed(0);
    let format: MemoryFormat = a.memory_format.parse()?;
    let mut t = Timed::new(&g, a.batch, format)?;
    if let Some(seed_path) = &a.paired_with {
        let gs = Graph::load(seed_path).with_context(|| format!("reading {}", seed_path.display()))?;
        let mut seed = Timed::new(&gs, a.batch, format)?;
        let macs = |g: &Graph| -> Result<f64> { Ok(figs::count::count(g, &g.analyze()?).macs as f64) };
        let mut v = paired(&mut seed, &mut t, a.warmup, a.steps)?;
        v["impl"] = "figs, paired in one process".into();
        v["arch"] = a.arch.display().to_string().into();
        v["seed"] = seed_path.display().to_string().into();
        v["macs_ratio"] = (macs(&g)? / macs(&gs)?).into();
        v["rounds"] = a.steps.into();
        println!("{v}");
        return Ok(());
    }
    if a.by_op {
        let train = ms_by_op(a.warmup, a.steps, a.shapes, || t.train())?;
        let infer = ms_by_op(a.warmup, a.steps, a.shapes, || t.infer(false))?;
        let macs = figs::count::count(&g, &g.analyze()?).macs;
        println!(
            "{}",
            serde_json::json!({"impl": "figs", "arch": a.arch, "macs": macs, "ops_train": train, "ops_infer": infer})
        );
        return Ok(());
    }
    let train = time_ms(a.warmup, a.steps, || t.train())?;
    let infer = time_ms(a.warmup, a.steps, || t.infer(false))?;
    let infer1 = time_ms(a.warmup, a.steps * 4, || t.infer(true))?;
    let analysis = g.analyze()?;
    let macs = figs::count::count(&g, &analysis).macs;
    // Values per image out of every batch norm: what memory-bound work (batch norm, its
    // activation, depthwise convolutions, adds) scales with, where MACs scale with width².
    let activations: usize = g
        .nodes
        .iter()
        .zip(&analysis.shapes)
        .filter(|(n, _)| matches!(n.op, Op::BatchNorm))
        .map(|(_, s)| s.features())
        .sum();
    println!(
        "{}",
        serde_json::json!({"impl": "figs", "arch": a.arch, "macs": macs, "activations": activations, "train_ms": train, "infer_ms": infer, "infer1_ms": infer1})
    );
    Ok(())
}
