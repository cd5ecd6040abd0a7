//! `gates`: tables of the gate state.

use crate::format::table;
use crate::shell::Shell;
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct GatesArgs {
    /// One channel group in detail (per channel: logit, p, alive).
    group: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
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
