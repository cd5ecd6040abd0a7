//! `gates` (tables of the gate state) and `plot` (charts to SVG and PNG).

use crate::format::table;
use crate::shell::Shell;
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct GatesArgs {
    /// One channel group in detail (per channel: logit, p, alive).
    group: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlotKind {
    /// Gate keep probability per channel (group × channel).
    Heatmap,
    /// Alive width per group, supernet vs now.
    Widths,
    /// Which branches survive in each superblock (fbnet).
    Branches,
    /// Loss, accuracy and cost against the step.
    Curves,
    /// Test accuracy against MACs of every retrained network.
    Pareto,
}

impl From<PlotKind> for figs::session::PlotKind {
    fn from(k: PlotKind) -> Self {
        match k {
            PlotKind::Heatmap => Self::Heatmap,
            PlotKind::Widths => Self::Widths,
            PlotKind::Branches => Self::Branches,
            PlotKind::Curves => Self::Curves,
            PlotKind::Pareto => Self::Pareto,
        }
    }
}

#[derive(Args, Debug)]
pub struct PlotArgs {
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
    let chart = sh.core.plot(a.kind.into(), a.out.as_deref(), &a.runs)?;
    println!("wrote {}, {}", chart.svg.display(), chart.png.display());
    Ok(())
}
