//! `figs plugins`: the plugins on the search path (search spaces and regularizers), with
//! their parameters.

use crate::format::table;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PluginsArgs {
    /// Show only this plugin.
    name: Option<String>,
    /// Also load these plugin files (in addition to the search path).
    #[arg(long = "load", value_name = "FILE")]
    load: Vec<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(a: PluginsArgs) -> Result<()> {
    // A file named with --load is the user's request: failing it is an error, not a warning.
    // The same file a second time is a no-op (a script may say it twice), said as a note.
    for p in &a.load {
        match figs::plugin::loaded_from(p) {
            Some(l) => eprintln!("note: {} is already loaded (plugin `{}`)", p.display(), l.info().name),
            None => {
                figs::plugin::load(p)?;
            }
        }
    }
    let errors: Vec<String> = figs::plugin::load_search_path().iter().map(ToString::to_string).collect();
    let mut plugins = figs::plugin::loaded();
    if let Some(n) = &a.name {
        plugins.retain(|p| &p.info().name == n);
        if plugins.is_empty() {
            let all: Vec<String> = figs::plugin::loaded().iter().map(|p| p.info().name.clone()).collect();
            anyhow::bail!("no plugin `{n}` on the plugin path; there are {}", all.join(", "));
        }
    }
    if a.json {
        let infos: Vec<_> = plugins.iter().map(|p| p.info().clone()).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"plugins": infos, "errors": errors}))?);
        return Ok(());
    }
    let search_path: Vec<String> = figs::plugin::search_path().iter().map(|p| p.display().to_string()).collect();
    println!("plugin search path: {}", search_path.join(":"));
    let rows: Vec<Vec<String>> = plugins
        .iter()
        .map(|p| {
            let i = p.info();
            let kind = match (&i.source, &i.unit) {
                (Some(src), Some(unit)) => format!("{} ({}, {unit})", i.kind, src.as_str()),
                _ => i.kind.clone(),
            };
            vec![i.name.clone(), kind, i.version.clone(), i.description.clone()]
        })
        .collect();
    println!("{}", table(&["name", "kind", "version", "description"], &rows));
    for p in &plugins {
        let i = p.info();
        println!("\n{} ({}) parameters:", i.name, i.path.display());
        let rows: Vec<Vec<String>> =
            i.params.iter().map(|s| vec![s.name.clone(), s.default.clone(), s.help.clone()]).collect();
        println!("{}", table(&["name", "default", "help"], &rows));
    }
    for e in &errors {
        eprintln!("warning: {e}");
    }
    Ok(())
}
