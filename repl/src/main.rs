//! `figs`: FiGS searches at an interactive prompt (`figs` alone), from the shell
//! (`figs search …`, `figs step …` — the same command table), from script files
//! (`figs run FILE.figs`) and from `figs -c "cmd; cmd"`.

// One file per group of commands, named `cmd_<what>`: `cmd_search` is `figs search` (the
// main job in one go), `cmd_steps` the session's step-by-step search commands.
mod cmd_cost;
mod cmd_data;
mod cmd_detect;
mod cmd_gates;
mod cmd_pareto;
mod cmd_plot;
mod cmd_plugins;
mod cmd_profile;
mod cmd_retrain;
mod cmd_search;
mod cmd_steps;
mod cmd_supernet;
mod commands;
mod config_flags;
mod format;
mod interrupt;
mod progress;
mod repl;
mod say;
mod script;
mod shell;

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "figs", version, about = "Fine-Grained Stochastic Architecture Search (FiGS) on libtorch")]
#[command(args_override_self = true, args_conflicts_with_subcommands = true)]
#[command(after_help = "Without a command, figs opens its interactive prompt; `help` there lists the same commands.")]
struct Cli {
    /// Run these commands (separated by `;`) in one session and exit.
    #[arg(short = 'c', value_name = "COMMANDS")]
    commands: Option<String>,
    /// History file of the interactive prompt (default: ~/.local/share/figs/history).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<commands::Command>,
}

fn main() {
    // Die quietly when the reader of stdout goes away (`figs cost … | head`), as CLI tools do,
    // instead of panicking on the failed write.
    // SAFETY: setting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Before any thread exists (mallopt is MT-unsafe): libtorch's step frees and allocates
    // the same blocks every step, and glibc's defaults hand them back to the kernel.
    // SAFETY: first thing in main, no other thread yet.
    unsafe {
        figs::keep_freed_memory();
    }
    let cli = Cli::parse();
    for p in figs::plugin::missing_path_entries() {
        eprintln!("warning: FIGS_PLUGIN_PATH names {}, which does not exist", p.display());
    }
    let mut session = shell::Shell::default();
    let result = match (cli.command, cli.commands) {
        (Some(cmd), _) => commands::execute(&mut session, cmd).map(|_| ()),
        (None, Some(text)) => script::run_text(&mut session, &script::split_commands(&text), "-c").map(|_| ()),
        (None, None) => repl::run(cli.history),
    };
    if let Err(e) = result {
        eprintln!("error: {}", format::error_text(&e));
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_tables_are_consistent() {
        super::Cli::command().debug_assert();
        crate::commands::Line::command().debug_assert();
    }
}
