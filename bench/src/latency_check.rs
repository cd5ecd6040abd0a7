//! figs' half of `bench/latency_table.sh`: a latency table (from `figs profile`) against
//! the measured latency of random sub-networks of its supernet: each sample's predicted and
//! measured milliseconds (the fastest pass, and paired with the supernet: scaled to the host's
//! speed when the table was measured), then Spearman's rank correlation and the median
//! relative error of both as one JSON line.

use anyhow::{Context, Result};
use clap::Parser;
use figs::graph::Graph;
use figs::latency::check::{median_relative_error, sample, spearman, Sampling};
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
    /// How sub-networks are drawn: `per-group` (every gated group uniformly over its widths,
    /// independently) or `sized` (a size in [0.1, 1] first, every group within ±50 % of it).
    #[arg(long, default_value = "per-group")]
    sampling: String,
    /// Round-robin passes over the sub-networks; each keeps its fastest.
    #[arg(long, default_value_t = 7)]
    passes: usize,
    /// Instead of random sub-networks: time this found network (a search's arch.json) and
    /// the supernet in alternating passes, against the table's prediction for it.
    #[arg(long)]
    found: Option<PathBuf>,
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
    let sampling = match a.sampling.as_str() {
        "per-group" => Sampling::PerGroup,
        "sized" => Sampling::Sized,
        other => anyhow::bail!("--sampling {other}: choose per-group or sized"),
    };
    tch::set_num_threads(table.key.threads);
    if let Some(path) = &a.found {
        return time_found(&table, &graph, &Graph::load(path)?, a.passes);
    }
    let s = sample(&graph, &table, a.samples, a.seed, tch::Device::Cpu, a.passes, sampling, |_, _| {})?;
    for x in &s {
        println!(
            "  predicted {:8.4} ms  measured {:8.4} ms  paired with the supernet {:8.4} ms",
            x.predicted_ms, x.measured_ms, x.paired_ms
        );
    }
    let p: Vec<f64> = s.iter().map(|x| x.predicted_ms).collect();
    let m: Vec<f64> = s.iter().map(|x| x.measured_ms).collect();
    let q: Vec<f64> = s.iter().map(|x| x.paired_ms).collect();
    let pairs = |v: &[f64]| p.iter().copied().zip(v.iter().copied()).collect::<Vec<_>>();
    println!(
        "{}",
        serde_json::json!({"samples": s.len(), "spearman": spearman(&p, &m), "median_relative_error": median_relative_error(&pairs(&m)),
            "paired_spearman": spearman(&p, &q), "paired_median_relative_error": median_relative_error(&pairs(&q)),
            "batch": table.key.batch, "threads": table.key.threads, "channels_last": table.key.channels_last,
            "block": table.block, "supernet_table_ms": table.supernet_ms, "passes": a.passes, "sampling": a.sampling,
            "device": table.key.device})
    );
    Ok(())
}

/// The found network's measured latency (the fastest pass, and paired with the supernet
/// timed right after it: the median ratio) against the table's prediction.
fn time_found(table: &LatencyTable, supernet: &Graph, found: &Graph, passes: usize) -> Result<()> {
    use figs::latency::measure::NetworkTimer;
    let a = found.analyze()?;
    let full: Vec<f64> = a.groups.iter().map(|g| g.width as f64).collect();
    let predicted = table.bind(found, &a)?.predict(&full);
    let (batch, cl) = (table.key.batch, table.key.channels_last);
    let timers = [
        NetworkTimer::new(found, tch::Device::Cpu, batch, cl)?,
        NetworkTimer::new(supernet, tch::Device::Cpu, batch, cl)?,
    ];
    let (mut found_ms, mut supernet_ms, mut ratios) = (f64::INFINITY, f64::INFINITY, Vec::new());
    for _ in 0..passes.max(1) {
        let f = timers[0].ms()?;
        let s = timers[1].ms()?;
        found_ms = found_ms.min(f);
        supernet_ms = supernet_ms.min(s);
        ratios.push(f / s);
    }
    ratios.sort_by(f64::total_cmp);
    let paired_ms = table.supernet_ms * ratios[ratios.len() / 2];
    println!(
        "{}",
        serde_json::json!({"found_predicted_ms": predicted, "found_measured_ms": found_ms, "found_paired_ms": paired_ms,
            "supernet_measured_ms": supernet_ms, "supernet_table_ms": table.supernet_ms,
            "measured_over_predicted": found_ms / predicted, "paired_over_predicted": paired_ms / predicted})
    );
    Ok(())
}
