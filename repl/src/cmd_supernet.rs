//! `supernet build|load|show`.

use crate::format::{human, table};
use crate::session::Session;
use anyhow::{Context, Result};
use clap::Subcommand;
use figs::count::count;
use figs::data::Dataset;
use figs::graph::Graph;
use figs::plugin::Plugin;
use figs::space::{parse_kv, SearchSpace};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum SupernetCmd {
    /// Build from a search space; resolution, channels and classes default to the data set's.
    Build {
        /// Search space plugin (`plugins` lists them).
        space: String,
        /// Space parameter as name=value (repeatable).
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Load a graph file (supernet.json, arch.json) as the supernet.
    Load { file: PathBuf },
    /// Nodes, channel groups with widths, params and MACs.
    Show {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(s: &mut Session, c: SupernetCmd) -> Result<()> {
    match c {
        SupernetCmd::Build { space, params } => {
            let (plugin, p, g) = build_space(&space, &params, s.data.as_ref().map(|(_, d)| &d.train))?;
            set(s, g);
            s.space = Some((plugin, p));
        }
        SupernetCmd::Load { file } => {
            let g = Graph::load(&file)?;
            set(s, g);
            s.space = None;
        }
        SupernetCmd::Show { json } => return show(s, json),
    }
    show(s, false)
}

/// Builds a network from a search space; `resolution`, `channels` and `classes` default to
/// those of `data` when given.
pub fn build_space(
    space: &str,
    params: &[String],
    data: Option<&Dataset>,
) -> Result<(Plugin, BTreeMap<String, String>, Graph)> {
    let plugin = crate::format::find_space(space)?;
    let mut p = parse_kv(params)?;
    if let Some(d) = data {
        let (ch, h, _) = d.image_shape();
        let known: Vec<String> = plugin.params().into_iter().map(|p| p.name).collect();
        for (k, v) in [("resolution", h), ("channels", ch), ("classes", d.classes)] {
            if known.iter().any(|n| n == k) {
                p.entry(k.to_string()).or_insert_with(|| v.to_string());
            }
        }
    }
    let g = plugin.build(&p).with_context(|| format!("building space `{space}`"))?;
    Ok((plugin, p, g))
}

fn set(s: &mut Session, g: Graph) {
    if s.search.is_some() {
        println!("(the previous search is dropped; `init` starts one on the new supernet)");
    }
    s.supernet = Some(g);
    s.search = None;
    s.found = None;
    s.found_weights = None;
    s.unsaved_steps = 0;
}

fn show(s: &Session, json: bool) -> Result<()> {
    let g = s.supernet()?;
    let a = g.analyze()?;
    let c = count(g, &a);
    // The device the search runs on (or would at the next `init`), not just the option.
    let device = match &s.search {
        Some(search) => figs::device::device_name(search.device()),
        None => match s.opts.device.resolve() {
            Ok(d) => figs::device::device_name(d),
            // `init` explains why; here it is one word in a summary line.
            Err(_) => "unavailable here".into(),
        },
    };
    if json {
        let groups: Vec<_> =
            a.groups.iter().map(|g| json!({"group": g.name, "width": g.width, "searchable": g.gated})).collect();
        let v = json!({"name": g.name, "nodes": g.nodes.len(), "params": c.params, "macs": c.macs,
            "input": [g.input.channels, g.input.height, g.input.width], "classes": g.classes,
            "device": device, "device_option": s.opts.to_json()["device"], "groups": groups});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "supernet {}: input {}x{}x{}, {} classes, {} nodes, {} channel groups ({} searchable), {} params, {} MACs, device {} (option {})",
        g.name,
        g.input.channels,
        g.input.height,
        g.input.width,
        g.classes,
        g.nodes.len(),
        a.groups.len(),
        a.groups.iter().filter(|g| g.gated).count(),
        human(c.params as f64),
        human(c.macs as f64),
        device,
        s.opts.to_json()["device"].as_str().unwrap_or("auto")
    );
    let rows: Vec<Vec<String>> = a
        .groups
        .iter()
        .map(|g| vec![g.name.clone(), g.width.to_string(), if g.gated { "yes".into() } else { "no".into() }])
        .collect();
    println!("{}", table(&["group", "width", "searchable"], &rows));
    Ok(())
}
