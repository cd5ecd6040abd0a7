//! figs' half of `bench/latency_table.sh`: a latency table (from `figs profile`) against
//! the measured latency of random sub-networks of its supernet: each sample's predicted and
//! measured milliseconds, then Spearman's rank correlation and the median relative error as
//! one JSON line.

use anyhow::{Context, Result};
use clap::Parser;
use figs::graph::Graph;
use figs::latency::check::{median_relative_error, sample, spearman};
use figs::latency::LatencyTable;
use figs::space::{parse_kv, SearchSpace};
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// The table (`figs profile --out FILE`).
    #[arg(long)]
    table: PathBuf,
    /// The supernet it was measured on: an architecture file, or --space with --param.
    #[arg(long)]
    arch: Option<PathBuf>,
    #[arg(long, conflicts_with = "arch")]
    space: Option<String>,
    #[arg(long = "param", short = 'p')]
    params: Vec<String>,
    /// Random sub-networks to time.
    #[arg(long, default_value_t = 24)]
    samples: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> Result<()> {
    // SAFETY: first thing in main, no other thread yet (mallopt is MT-unsafe).
    unsafe {
        figs::keep_freed_memory();
    }
    let a = Args::parse();
    let table = LatencyTable::load(&a.table)?;
    let graph: Graph = match (&a.arch, &a.space) {
        (Some(p), _) => Graph::load(p)?,
        (None, Some(name)) => figs::plugin::find(name)?.build(&parse_kv(&a.params)?).context("building the space")?,
        (None, None) => anyhow::bail!("give --arch FILE or --space NAME"),
    };
    tch::set_num_threads(table.key.threads);
    let s = sample(&graph, &table, a.samples, a.seed, tch::Device::Cpu, |_, _| {})?;
    for x in &s {
        println!("  predicted {:8.4} ms  measured {:8.4} ms", x.predicted_ms, x.measured_ms);
    }
    let (p, m): (Vec<f64>, Vec<f64>) = s.iter().map(|x| (x.predicted_ms, x.measured_ms)).unzip();
    println!(
        "{}",
        serde_json::json!({"samples": s.len(), "spearman": spearman(&p, &m), "median_relative_error": median_relative_error(&s),
            "batch": table.key.batch, "threads": table.key.threads, "channels_last": table.key.channels_last,
            "block": table.block, "device": table.key.device})
    );
    Ok(())
}
