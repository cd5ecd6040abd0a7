//! `figs`: the command line of figs. `figs search` runs a whole FiGS search: supernet,
//! search, export, plot, retrain of the found and the seed network, summary.

mod cost_cmd;
mod format;
mod plugins_cmd;
mod search_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "figs", version, about = "Fine-Grained Stochastic Architecture Search (FiGS) on libtorch")]
#[command(args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Search a space on a data set, export the found architecture, retrain and compare it
    /// with the seed network.
    Search(search_cmd::SearchArgs),
    /// List the plugins on the plugin search path (FIGS_PLUGIN_PATH, then the directory of
    /// the figs binary) with their parameters.
    Plugins(plugins_cmd::PluginsArgs),
    /// Parameters, MACs and channel groups of an architecture file or a search space.
    Cost(cost_cmd::CostArgs),
}

fn main() {
    // Die quietly when the reader of stdout goes away (`figs cost … | head`), as CLI tools do,
    // instead of panicking on the failed write.
    // SAFETY: setting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Search(args) => search_cmd::run(args),
        Command::Plugins(args) => plugins_cmd::run(args),
        Command::Cost(args) => cost_cmd::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
