//! `gates` (tables of the gate state) and `plot` (charts to SVG and PNG).

use crate::format::table;
use crate::shell::Shell;
use anyhow::Result;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;
use figs::session::PlotKind;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct GatesArgs {
    /// One channel group in detail (per channel: logit, p, alive).
    group: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The chart kinds with their help, from the session's own list.
fn plot_kinds() -> impl TypedValueParser<Value = PlotKind> {
    let values = PlotKind::ALL.map(|k| PossibleValue::new(k.name()).help(k.help()));
    PossibleValuesParser::new(values).try_map(|name| name.parse::<PlotKind>())
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    #[arg(value_parser = plot_kinds())]
    kind: PlotKind,
    /// Output path without extension (default: <out>/<kind>); writes .svg and .png.
    #[arg(long)]
    out: Option<PathBuf>,
    /// pareto: also draw the seed and found networks of a `figs search` run directory (its
    /// summary.json); repeatable, e.g. one run per λ.
    #[arg(long = "run", value_name = "DIR")]
    runs: Vec<PathBuf>,
}

pub fn gates(sh: &mut Shell, a: GatesArgs) -> Result<()> {
    if let Some(name) = &a.group {
        let g = sh.core.group_gates(name)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&g)?);
            return Ok(());
        }
        let kept = g.kept();
        let rows: Vec<Vec<String>> = g
            .p
            .iter()
            .flatten()
            .enumerate()
            .map(|(c, p)| {
                let logit = (p / (1.0 - p)).ln();
                vec![c.to_string(), format!("{logit:.3}"), format!("{p:.3}"), if kept[c] { "yes" } else { "no" }.into()]
            })
            .collect();
        println!("{name}: {} of {} channels kept by the export", g.alive, g.width);
        println!("{}", table(&["channel", "logit a", "p = σ(a)", "alive"], &rows));
        return Ok(());
    }
    let gates = sh.core.gates()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&gates)?);
        return Ok(());
    }
    println!("step {}: gates per searched group (histogram of p from 0 to 1)", gates.step);
    println!("{}", table(&figs::session::Gates::HEADER, &gates.rows()));
    Ok(())
}

pub fn plot(sh: &mut Shell, a: PlotArgs) -> Result<()> {
    let chart = sh.core.plot(a.kind, a.out.as_deref(), &a.runs)?;
    println!("wrote {}, {}", chart.svg.display(), chart.png.display());
    Ok(())
}
