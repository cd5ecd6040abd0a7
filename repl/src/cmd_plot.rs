//! `plot`: charts to SVG and PNG.

use crate::shell::Shell;
use anyhow::Result;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;
use figs::session::PlotKind;
use std::path::PathBuf;

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

pub fn plot(sh: &mut Shell, a: PlotArgs) -> Result<()> {
    let chart = sh.core.plot(a.kind, a.out.as_deref(), &a.runs)?;
    println!("wrote {}, {}", chart.svg.display(), chart.png.display());
    Ok(())
}
