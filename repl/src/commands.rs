//! The one command table: parsed by clap for the shell CLI (`figs search …`), for lines at
//! the `figs>` prompt and for script files, so no command exists in only one of them.

use crate::shell::Shell;
use crate::{
    cmd_cost, cmd_data, cmd_detect, cmd_gates, cmd_pareto, cmd_plot, cmd_plugins, cmd_profile, cmd_retrain, cmd_search,
    cmd_steps, cmd_supernet,
};
use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The whole job in one go: search a space on a data set, export, plot, retrain the found
    /// and the seed network and compare them.
    // `--lambda -1` must reach the value check ("must be ≥ 0"), not fail as an unknown flag.
    #[command(allow_negative_numbers = true)]
    Search(cmd_search::SearchArgs),
    /// The Pareto experiment: FiGS vs the width multiplier vs MorphNet's γ at several MAC
    /// budgets and seeds, each network retrained the same way; resumable (docs/RESULTS.md).
    // `--lambda -1` must reach the value check ("must be ≥ 0"), not fail as an unknown flag.
    #[command(allow_negative_numbers = true)]
    Pareto(cmd_pareto::ParetoArgs),
    /// List the plugins (search spaces and regularizers) on the plugin path, show one, or
    /// load a file.
    Plugins(cmd_plugins::PluginsArgs),
    /// Parameters, MACs and channel groups of an architecture file, a space or the supernet.
    Cost(cmd_cost::CostArgs),
    /// Measure a space's latency table on a device: every conv and linear layer on a grid
    /// of the widths the search reaches, cached on disk (docs/PERFORMANCE.md).
    Profile(cmd_profile::ProfileArgs),
    /// Score a detector's boxes against COCO-format ground truth: the twelve numbers of
    /// pycocotools' COCOeval (mAP@[.5:.95], mAP@.5, …, AR@100 large).
    DetectEval(cmd_detect::DetectEvalArgs),
    /// An exported detector's boxes on every image of a COCO split, written in COCO's results
    /// format in the images' own pixels, for `detect-eval` on the original annotations.
    Detect(cmd_detect::DetectArgs),
    /// Make a COCO-format detection set here: Fashion-MNIST items pasted at random scales
    /// and positions onto noisy or textured canvases (docs/DETECTION.md).
    MakeDetectionSet(cmd_detect::MakeSetArgs),
    /// Pick the data set (fashion-mnist, mnist DIR, cifar10 DIR, idx DIR, imagefolder DIR, coco DIR, synthetic) or show
    /// the current one.
    Data(cmd_data::DataArgs),
    /// Build the supernet from a search space, load one from a file, or show it.
    #[command(subcommand)]
    Supernet(cmd_supernet::SupernetCmd),
    /// Choose the regularizer and its parameters, set λ or a target, or show them.
    // `--lambda -1` must reach the value check ("must be ≥ 0"), not fail as an unknown flag.
    #[command(allow_negative_numbers = true)]
    Regularizer(cmd_steps::RegularizerArgs),
    /// Start a search on the supernet (optimizer settings from `set`, overridable here).
    // `--lambda -1` must reach the value check ("must be ≥ 0"), not fail as an unknown flag.
    #[command(allow_negative_numbers = true)]
    Init(cmd_steps::InitArgs),
    /// Run search steps (default 1) or epochs, with a progress bar; Ctrl-C stops after the
    /// current step and keeps everything.
    Step(cmd_steps::StepArgs),
    /// Evaluate the search on the validation split with deterministic gates.
    Eval(cmd_steps::JsonArg),
    /// Where the search stands: step, epoch, λ, τ, cost, alive channels.
    Status(cmd_steps::JsonArg),
    /// Gates per channel group (alive / total, mean p, histogram of p), or one group in detail.
    Gates(cmd_gates::GatesArgs),
    /// Plot to SVG and PNG: gate heat map, alive widths, surviving branches, search curves,
    /// cost vs accuracy.
    Plot(cmd_plot::PlotArgs),
    /// Write the found architecture (default: <out>/arch.json) with its weights, and with
    /// --pytorch a PyTorch module that loads them.
    Export(cmd_retrain::ExportArgs),
    /// Train an architecture from scratch and report its test accuracy: `found` (the last
    /// export), `seed` (the supernet) or an arch.json file.
    Retrain(cmd_retrain::RetrainArgs),
    /// The retrained networks side by side: params, MACs, test accuracy.
    Compare(cmd_steps::JsonArg),
    /// Save the search's whole state to a new checkpoint directory (default
    /// `<out>/checkpoints/step-N`: weights, gates, optimizer, data position, λ, history);
    /// `load` continues from it exactly.
    Save { path: Option<PathBuf> },
    /// Continue a search from a checkpoint (of `save` or `figs search`) on the current
    /// supernet and data.
    Load { path: PathBuf },
    /// Set a session option (seed, device, batch-size, lr, gate-lr, tau, lambda, target …).
    Set {
        name: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Show one session option or all of them.
    Get {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run the commands of a script file (one per line, `#` comments, `\` continues a line).
    Run {
        file: PathBuf,
        /// Only check that every line is a valid command; run nothing.
        #[arg(long)]
        check: bool,
    },
    /// Leave figs (warns once if the search has steps that were not exported).
    #[command(alias = "exit")]
    Quit {
        /// Quit even with unexported progress.
        #[arg(long)]
        force: bool,
    },
}

/// A line typed at the prompt or read from a script.
#[derive(Parser, Debug)]
#[command(name = "figs", no_binary_name = true, disable_version_flag = true, args_override_self = true)]
#[command(help_template = "{all-args}")]
pub struct Line {
    #[command(subcommand)]
    pub command: Command,
}

/// What the caller should do after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Runs one command against the session.
pub fn execute(sh: &mut Shell, cmd: Command) -> Result<Flow> {
    let flow = run_command(sh, cmd);
    sh.flush_warnings();
    flow
}

fn run_command(sh: &mut Shell, cmd: Command) -> Result<Flow> {
    match cmd {
        Command::Search(a) => cmd_search::run(sh.core.config(), a)?,
        Command::Pareto(a) => cmd_pareto::run(sh.core.config(), a)?,
        Command::Plugins(a) => cmd_plugins::run(a)?,
        Command::Cost(a) => cmd_cost::run(a, sh.core.try_supernet())?,
        Command::Profile(a) => cmd_profile::run(a)?,
        Command::DetectEval(a) => cmd_detect::run(a)?,
        Command::Detect(a) => cmd_detect::detect(a)?,
        Command::MakeDetectionSet(a) => cmd_detect::make_set(a)?,
        Command::Data(a) => cmd_data::run(sh, a)?,
        Command::Supernet(c) => cmd_supernet::run(sh, c)?,
        Command::Regularizer(a) => cmd_steps::regularizer(sh, a)?,
        Command::Init(a) => cmd_steps::init(sh, a)?,
        Command::Step(a) => cmd_steps::step(sh, a)?,
        Command::Eval(a) => cmd_steps::eval(sh, a.json)?,
        Command::Status(a) => cmd_steps::status(sh, a.json)?,
        Command::Gates(a) => cmd_gates::gates(sh, a)?,
        Command::Plot(a) => cmd_plot::plot(sh, a)?,
        Command::Export(a) => cmd_retrain::export(sh, a)?,
        Command::Retrain(a) => cmd_retrain::retrain(sh, a)?,
        Command::Compare(a) => cmd_retrain::compare(sh, a.json)?,
        Command::Save { path } => {
            let path = sh.core.save(path.as_deref())?;
            println!("saved the search at step {} to {}", sh.core.search()?.steps_done(), path.display());
        }
        Command::Load { path } => {
            let l = sh.core.load(&path)?;
            println!("loaded {}: step {}, regularizer {}", l.path.display(), l.step, l.regularizer);
        }
        Command::Set { name, value } => {
            sh.core.set(&name, &value)?;
            get(sh, Some(&name), false, true)?;
        }
        Command::Get { name, json } => get(sh, name.as_deref(), json, false)?,
        Command::Run { file, check } => return crate::script::run_file(sh, &file, check),
        Command::Quit { force } => {
            let unexported = sh.core.unexported_steps();
            if unexported > 0 && !force && !sh.quit_warned {
                sh.quit_warned = true;
                eprintln!(
                    "warning: the search has {unexported} steps that were not exported; `export` them, or `quit` again (or `quit --force`) to leave anyway"
                );
                return Ok(Flow::Continue);
            }
            return Ok(Flow::Quit);
        }
    }
    Ok(Flow::Continue)
}

/// Prints options; `named` prefixes a single value with `name = `.
fn get(sh: &Shell, name: Option<&str>, json: bool, named: bool) -> Result<()> {
    let all = sh.core.config().to_flat_json();
    let value = match name {
        Some(n) => sh.core.get(n)?,
        None => all.clone(),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::String(t) => t.clone(),
        serde_json::Value::Null => "off".into(),
        v => v.to_string(),
    };
    match name {
        Some(n) if named => println!("{n} = {}", show(&value)),
        Some(_) => println!("{}", show(&value)),
        None => {
            let rows: Vec<Vec<String>> = figs::config::Config::settings()
                .iter()
                .map(|s| vec![s.name.to_string(), show(&all[s.name]), s.help.to_string()])
                .collect();
            println!("{}", crate::format::table(&["option", "value", "meaning"], &rows));
        }
    }
    Ok(())
}

/// Splits a line into words like a shell (quotes group, `\` escapes); an error names an
/// unclosed quote.
pub fn split_words(line: &str) -> Result<Vec<String>> {
    shlex::split(line).ok_or_else(|| anyhow::anyhow!("unclosed quote in `{line}`"))
}

/// Parses one line: `None` for blank lines, `#` comments and help requests (printed).
pub fn parse_line(line: &str) -> Result<Option<Command>> {
    let line = line.replace("\\\n", " ");
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let words = split_words(t)?;
    match Line::try_parse_from(&words) {
        Ok(l) => Ok(Some(l.command)),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayVersion
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                print!("{e}");
                Ok(None)
            }
            _ => Err(anyhow::anyhow!("{}", one_line(&e.render().to_string(), &words))),
        },
    }
}

/// Folds clap's several-line parse error into one line, pointing at `help` (a shell's
/// `--help` hint does not fit the prompt): `unrecognized subcommand 'stpe'; tip: … 'step';
/// `help` lists the commands`.
fn one_line(rendered: &str, words: &[String]) -> String {
    let table = Line::command();
    let known = words.first().and_then(|w| table.find_subcommand(w));
    let mut parts: Vec<String> = Vec::new();
    for raw in rendered.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with("For more information") {
            continue;
        }
        let line = line.trim_start_matches("error: ");
        if let Some(usage) = line.strip_prefix("Usage: ") {
            // For an unknown command clap's usage is `figs <COMMAND>`: noise at the prompt.
            if known.is_some() {
                parts.push(format!("usage: {}", usage.trim_start_matches("figs ")));
            }
            continue;
        }
        // Indented lines (`<NAME>`, `--space <SPACE>`, `[possible values: …]`) continue the
        // line before; indented tips stand on their own.
        let continues = raw.starts_with(char::is_whitespace) && !line.starts_with("tip:");
        match parts.last_mut() {
            Some(last) if continues => {
                last.push_str(if last.ends_with(':') || line.starts_with('[') { " " } else { ", " });
                last.push_str(line);
            }
            _ => parts.push(line.to_string()),
        }
    }
    parts.push(match known {
        Some(cmd) => {
            let sub = words.get(1).filter(|w| cmd.find_subcommand(w.as_str()).is_some());
            let name = sub.map_or_else(|| words[0].clone(), |s| format!("{} {s}", words[0]));
            format!("`help {name}` explains it")
        }
        None => "`help` lists the commands".into(),
    });
    parts.join("; ")
}

/// Parses and runs one line. Blank lines and `#` comments do nothing.
pub fn execute_line(sh: &mut Shell, line: &str) -> Result<Flow> {
    match parse_line(line)? {
        Some(cmd) => execute(sh, cmd),
        None => Ok(Flow::Continue),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_are_one_line_that_points_at_help() {
        let e = parse_line("stpe 3").unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("unrecognized subcommand 'stpe'") && e.contains("'step'"), "{e}");
        assert!(e.ends_with("`help` lists the commands"), "{e}");
        assert!(!e.contains("usage: <COMMAND>"), "no usage for an unknown command: {e}");
        let e = parse_line("set").unwrap_err().to_string();
        assert!(!e.contains('\n') && e.contains("provided: <NAME>, <VALUE>") && e.contains("usage: set"), "{e}");
        assert!(e.ends_with("`help set` explains it"), "{e}");
        let e = parse_line("retrain --param x=1").unwrap_err().to_string();
        assert!(e.starts_with("the following required arguments were not provided: --space <SPACE>; usage:"), "{e}");
        let e = parse_line("supernet build").unwrap_err().to_string();
        assert!(e.ends_with("`help supernet build` explains it"), "{e}");
        let e = parse_line("plot bogus").unwrap_err().to_string();
        assert!(e.contains("for '<KIND>' [possible values: heatmap"), "{e}");
    }
}
