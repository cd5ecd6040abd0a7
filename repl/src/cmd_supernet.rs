//! `supernet build|load|show`.

use crate::format::{human, table};
use crate::shell::Shell;
use anyhow::Result;
use clap::Subcommand;
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

pub fn run(sh: &mut Shell, c: SupernetCmd) -> Result<()> {
    let dropped = sh.core.has_search();
    let json = match c {
        SupernetCmd::Build { space, params } => {
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            sh.core.build_supernet(&space, &params)?;
            false
        }
        SupernetCmd::Load { file } => {
            sh.core.load_supernet(&file)?;
            false
        }
        SupernetCmd::Show { json } => return show(sh, json),
    };
    if dropped {
        println!("(the previous search is dropped; `init` starts one on the new supernet)");
    }
    show(sh, json)
}

fn show(sh: &Shell, json: bool) -> Result<()> {
    let info = sh.core.supernet_info()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    let [c, h, w] = info.input;
    println!(
        "supernet {}: input {c}x{h}x{w}, {} classes, {} nodes, {} channel groups ({} searchable), {} params, {} MACs, device {} (option {})",
        info.name,
        info.classes,
        info.nodes,
        info.groups.len(),
        info.groups.iter().filter(|g| g.searchable).count(),
        human(info.params as f64),
        human(info.macs as f64),
        info.device,
        info.device_option
    );
    let rows: Vec<Vec<String>> = info
        .groups
        .iter()
        .map(|g| vec![g.group.clone(), g.width.to_string(), if g.searchable { "yes".into() } else { "no".into() }])
        .collect();
    println!("{}", table(&["group", "width", "searchable"], &rows));
    Ok(())
}
