//! `figs profile`: the measured latency table of a space (or an arch.json) on a device.

use crate::format::bar;
use anyhow::{bail, Context, Result};
use clap::Args;
use figs::device::{DeviceChoice, MemoryFormat};
use figs::graph::Graph;
use figs::latency::measure::{key, profile, ProfileOptions};
use figs::latency::{cache_path, LatencyTable};
use figs::space::{parse_kv, SearchSpace};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// An architecture file (a run's supernet.json); or use --space.
    arch: Option<PathBuf>,
    /// A search space to build (with --param).
    #[arg(long, conflicts_with = "arch")]
    space: Option<String>,
    /// Space parameter as name=value (repeatable).
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Batch size the latency is measured at (1: a single request).
    #[arg(long, default_value_t = 1)]
    batch: i64,
    /// libtorch threads during the measurement.
    #[arg(long, default_value_t = 1)]
    threads: i32,
    /// The widths the search reaches: multiples of this (the search's width-multiple;
    /// default: the configuration's).
    #[arg(long)]
    width_multiple: Option<usize>,
    /// Grid points per channel axis (more: finer interpolation, longer measurement).
    #[arg(long, default_value_t = 5)]
    points: usize,
    /// Passes over every point, each point keeping its fastest (a shared machine's slow
    /// spells then do not land in the table).
    #[arg(long, default_value_t = 7)]
    passes: usize,
    /// Layout: auto (what figs runs the network in: channels-last on the CPU), channels-last
    /// or contiguous.
    #[arg(long, default_value = "auto")]
    memory_format: MemoryFormat,
    /// Where to write the table (default: the cache, keyed by device, library, threads,
    /// batch, layout and graph).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Measure again even if the cache has the table.
    #[arg(long)]
    again: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: ProfileArgs) -> Result<()> {
    let graph: Graph = match (&a.arch, &a.space) {
        (Some(path), _) => Graph::load(path)?,
        (None, Some(name)) => {
            let space = crate::format::find_space(name)?;
            space.build(&parse_kv(&a.params)?).with_context(|| format!("building space `{name}`"))?
        }
        (None, None) => {
            bail!("give an architecture file (figs profile runs/x/supernet.json) or a space (--space NAME)")
        }
    };
    let width_multiple = a.width_multiple.unwrap_or(figs::config::Config::default().gates.width_multiple);
    if a.batch < 1 || a.threads < 1 || width_multiple < 1 || a.points < 2 || a.passes < 1 {
        bail!("--batch, --threads, --width-multiple and --passes must be at least 1, --points at least 2");
    }
    let device = a.device.resolve()?;
    // The layout figs runs the network in (one rule, figs::device): a table of another
    // layout would price a network figs never runs.
    let channels_last = a.memory_format.channels_last(device);
    let o = ProfileOptions {
        device,
        batch: a.batch,
        threads: a.threads,
        block: width_multiple,
        points: a.points,
        channels_last,
        passes: a.passes,
    };
    let path = a.out.clone().unwrap_or_else(|| cache_path(&key(&graph, &o)));
    // figs replaces only a table it wrote: anything else at --out is refused and stays.
    if path.exists() && LatencyTable::load(&path).is_err() {
        bail!("{} exists and is not a latency table figs wrote; give another --out", path.display());
    }
    let cached = !a.again && path.is_file();
    let table = if cached {
        let t = LatencyTable::load(&path)?;
        if t.key != key(&graph, &o) {
            bail!("{} holds a table for another set-up ({:?}); give another --out or --again", path.display(), t.key);
        }
        t
    } else {
        tch::set_num_threads(a.threads);
        if !a.json {
            // Say what is measured before the minutes it takes: `--space S` alone is the
            // space's default network (for mobilenet_v2 the 224-px ImageNet one), not what
            // `figs search` builds for its data.
            let macs = figs::count::count(&graph, &graph.analyze()?).macs;
            let i = &graph.input;
            eprintln!(
                "profiling {}: {}×{}×{} input, {} MACs per image, batch {}{}",
                graph.name,
                i.channels,
                i.height,
                i.width,
                figs::units::human(macs as f64),
                a.batch,
                if a.space.is_some() && a.params.is_empty() {
                    " (the space's defaults: give -p resolution=… -p channels=… -p classes=…, or a run's supernet.json, for the network a search of your data builds)"
                } else {
                    ""
                }
            );
        }
        let pb = if a.json { indicatif::ProgressBar::hidden() } else { bar(1, "profile") };
        let t = profile(&graph, &o, |done, total| {
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        })?;
        pb.finish_and_clear();
        t.save(&path)?;
        t
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"table": path, "cached": cached, "layers": table.layers.len(),
                "supernet_ms": table.supernet_ms, "rest_ms": table.rest_ms, "key": table.key}))?
        );
    } else {
        let points: usize = table.layers.iter().map(|l| l.ms.len() * l.outs.len()).sum();
        println!(
            "{} latency table of {} ({} layers, {} timed points, batch {}, {} thread(s), {}): {}\nsupernet {:.3} ms per call, of which {:.3} ms outside the timed layers",
            if cached { "cached" } else { "measured" },
            graph.name,
            table.layers.len(),
            points,
            table.key.batch,
            table.key.threads,
            if table.key.channels_last { "channels-last" } else { "NCHW" },
            path.display(),
            table.supernet_ms,
            table.rest_ms
        );
    }
    Ok(())
}
