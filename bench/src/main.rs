//! figs' half of `bench/step_speed.sh`: times plain training steps or FiGS search steps of
//! torchvision's MobileNetV2 (`mobilenet_v2 -p preset=imagenet`) at 28×28×1, 10 classes,
//! and prints one JSON line. `bench/step_torch.py` is the same job in PyTorch eager.

use anyhow::{bail, Context, Result};
use clap::Parser;
use figs::data::synthetic;
use figs::device::{DeviceChoice, MemoryFormat};
use figs::gate::GateConfig;
use figs::net::Net;
use figs::optim::Optim;
use figs::search::{Optimizer, Search, SearchConfig};
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device};

#[derive(Parser)]
struct Args {
    /// `plain` (forward, cross-entropy, backward, Adam) or `figs` (a FiGS search step: gates,
    /// FLOPs penalty, two optimizer groups).
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
    /// `auto` (figs' default: channels-last on the CPU), `channels-last` or `contiguous`.
    #[arg(long, default_value = "auto")]
    memory_format: String,
}

fn main() -> Result<()> {
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
    let ms = match a.mode.as_str() {
        "plain" => {
            let vs = nn::VarStore::new(device);
            let net = Net::new(&vs.root(), &graph)?;
            let mut net = net;
            net.set_channels_last(memory_format.channels_last(device, &graph));
            let mut vars: Vec<_> = vs.trainable_variables().into_iter().enumerate().collect();
            let params = vars.drain(..).map(|(i, t)| (format!("{i:05}"), t, 2e-3, 0.0)).collect();
            let mut opt = Optim::new(Optimizer::Adam, 0.9, params);
            let mut batches = data.ordered_batches(a.batch, device);
            let mut start = Instant::now();
            for i in 0..total {
                if i == a.warmup {
                    sync(device);
                    start = Instant::now();
                }
                let (x, y) = match batches.next() {
                    Some(b) if b.0.size()[0] == a.batch as i64 => b,
                    _ => {
                        batches = data.ordered_batches(a.batch, device);
                        batches.next().context("no batch")?
                    }
                };
                let loss = net.forward(&x, true, None)?.cross_entropy_for_logits(&y);
                opt.backward_step(&loss);
            }
            sync(device);
            start.elapsed().as_secs_f64() * 1e3 / a.steps as f64
        }
        "figs" => {
            let reg = Arc::new(figs::plugin::find_regularizer("flops")?);
            let config = SearchConfig {
                device: choice,
                memory_format,
                batch_size: a.batch,
                steps: total,
                gate: GateConfig { tau: 1.0, tau_final: None, ..GateConfig::default() },
                lambda: 0.5,
                ..SearchConfig::default()
            };
            let mut s = Search::new(&graph, &data, config, reg)?;
            let cancel = std::sync::atomic::AtomicBool::new(false);
            s.run(a.warmup, &cancel, |_| {})?;
            sync(device);
            let start = Instant::now();
            s.run(a.steps, &cancel, |_| {})?;
            sync(device);
            start.elapsed().as_secs_f64() * 1e3 / a.steps as f64
        }
        m => bail!("unknown mode `{m}`; use plain or figs"),
    };
    let line = serde_json::json!({
        "impl": "figs", "mode": a.mode, "memory_format": memory_format.as_str(), "device": a.device, "threads": a.threads, "batch": a.batch,
        "steps": a.steps, "ms_per_step": ms, "peak_rss_mb": peak_rss_mb(),
    });
    println!("{line}");
    Ok(())
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
