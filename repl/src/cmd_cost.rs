//! `figs cost`: parameters, MACs, FLOPs and per-group widths of a space or an arch.json.

use crate::format::{human, human_unit, table};
use anyhow::{bail, Context, Result};
use clap::Args;
use figs::count::count;
use figs::graph::Graph;
use figs::regularizer::Regularizer;
use figs::space::{parse_kv, SearchSpace};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CostArgs {
    /// An architecture file (arch.json, supernet.json); or use --space. At the prompt,
    /// without either, the session's supernet.
    arch: Option<PathBuf>,
    /// A search space to build (with --param) instead of a file.
    #[arg(long, conflicts_with = "arch")]
    space: Option<String>,
    /// Space parameter as name=value (repeatable).
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Also report the cost under this regularizer plugin (e.g. latency).
    #[arg(long, short = 'r')]
    regularizer: Option<String>,
    /// Regularizer parameter as name=value (repeatable), e.g. `-R hardware=cpu`.
    #[arg(long = "reg-param", short = 'R', value_name = "NAME=VALUE")]
    reg_params: Vec<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(a: CostArgs, supernet: Option<&Graph>) -> Result<()> {
    let graph: Graph = match (&a.arch, &a.space, supernet) {
        (Some(path), _, _) => Graph::load(path)?,
        (None, Some(name), _) => {
            let space = crate::format::find_space(name)?;
            space.build(&parse_kv(&a.params)?).with_context(|| format!("building space `{name}`"))?
        }
        (None, None, Some(g)) => g.clone(),
        (None, None, None) => {
            bail!("give an architecture file (figs cost arch.json) or a space (figs cost --space NAME)")
        }
    };
    let an = graph.analyze()?;
    let c = count(&graph, &an);
    let groups: Vec<_> =
        an.groups.iter().map(|g| json!({"group": g.name, "width": g.width, "searchable": g.gated})).collect();
    let reg_cost = match &a.regularizer {
        Some(name) => {
            let reg = crate::format::find_regularizer(name)?;
            let full: Vec<f64> = an.groups.iter().map(|g| g.width as f64).collect();
            let v = reg.bind(&graph, &parse_kv(&a.reg_params)?)?.reported(&full)?;
            Some((name.clone(), v, reg.unit().to_string()))
        }
        None => None,
    };
    if a.json {
        let mut out =
            json!({"name": graph.name, "params": c.params, "macs": c.macs, "flops": 2 * c.macs, "groups": groups});
        if let Some((name, v, unit)) = &reg_cost {
            out["regularizer"] = json!({"name": name, "cost": v, "unit": unit});
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let i = graph.input;
    println!(
        "{}: input {}x{}x{}, {} classes, {} nodes\nparams {} ({}), MACs {} ({}), FLOPs {}",
        graph.name,
        i.channels,
        i.height,
        i.width,
        graph.classes,
        graph.nodes.len(),
        human(c.params as f64),
        c.params,
        human(c.macs as f64),
        c.macs,
        human(2.0 * c.macs as f64)
    );
    let rows: Vec<Vec<String>> = an
        .groups
        .iter()
        .map(|g| vec![g.name.clone(), g.width.to_string(), if g.gated { "yes".into() } else { "no".into() }])
        .collect();
    if let Some((name, v, unit)) = &reg_cost {
        println!("cost under `{name}`: {}", human_unit(*v, unit));
    }
    println!("{}", table(&["group", "width", "searchable"], &rows));
    Ok(())
}
