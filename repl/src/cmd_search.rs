//! `figs search`: the main job (figs::job::Job) from flags. This file parses and shows;
//! the job itself — run directory, search, export, retraining, summary — is in core.

use crate::config_flags::{All, ConfigFlags};
use crate::format::parse_count;
use crate::progress::Bars;
use anyhow::Result;
use clap::Args;
use figs::config::Config;
use figs::job::{Job, JobEvent};
use figs::regularizer::Regularizer;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Every setting, as `--NAME VALUE` (`figs search --help` lists them with their
    /// defaults; `set` at the prompt takes the same names).
    #[command(flatten)]
    settings: ConfigFlags<All>,
    /// Target mode: the MACs to land on (suffixes k, M, G: `--target-macs 1.5M`). The
    /// penalty applies only above it and λ adapts; the export is at or under it. Searches
    /// with `flops` unless `--regularizer` names another FLOPs regularizer (gamma_flops).
    #[arg(long, value_parser = parse_count, conflicts_with = "target")]
    target_macs: Option<f64>,
    /// Use a small synthetic data set (`--data synthetic`; for smoke tests).
    #[arg(long, conflicts_with = "data")]
    synthetic: bool,
    /// Continue the run in RUN_DIR from its newest checkpoint, with the settings it was
    /// started with (flags that differ from them are refused).
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Replace the run already in --out.
    #[arg(long, conflicts_with = "resume")]
    force: bool,
}

/// The job's configuration: `base` (the session's at the prompt, the defaults in a shell)
/// with the flags, or a resumed run's saved configuration, which flags may only repeat.
fn configure(base: &Config, a: &SearchArgs) -> Result<(Config, bool)> {
    let saved = match &a.resume {
        Some(dir) => figs::job::saved_config(dir)?,
        None => None,
    };
    if let (Some(dir), Some(out)) = (&a.resume, a.settings.given.iter().find(|(n, _)| *n == "out")) {
        if PathBuf::from(out.1.last().cloned().unwrap_or_default()) != *dir {
            anyhow::bail!("--resume {} and --out {} name different runs; give one", dir.display(), out.1.join(" "));
        }
    }
    let had_saved = saved.is_some();
    let mut c = match saved {
        Some(saved) => {
            let mut differ = a.settings.differing(&saved)?;
            if a.synthetic && saved.data.data != "synthetic" {
                differ.push(format!("--synthetic (the run has --data {})", saved.data.data));
            }
            if let Some(m) = a.target_macs {
                if saved.search.target.as_deref() != Some(format!("{}", 2.0 * m).as_str()) {
                    differ.push(format!("--target-macs {m} (the run has --target {:?})", saved.search.target));
                }
            }
            if !differ.is_empty() {
                anyhow::bail!(
                    "--resume {}: {} differ from the run's saved settings (its config.json); leave them out to continue it as it was started, or start a new run",
                    a.resume.as_deref().unwrap_or_else(|| std::path::Path::new("")).display(),
                    differ.join(", ")
                );
            }
            saved
        }
        None => {
            let mut c = base.clone();
            a.settings.apply(&mut c)?;
            if a.synthetic {
                c.set("data", "synthetic")?;
            }
            c
        }
    };
    if let Some(dir) = &a.resume {
        c.run.out = Some(dir.clone());
    }
    if let Some(m) = a.target_macs {
        // A MACs target asks for a FLOPs search: with the default cost (time) and no
        // regularizer given, it is one. A fresh run only: a resumed one keeps its own.
        let given = a.settings.given.iter().any(|(n, _)| *n == "regularizer");
        if !had_saved && !given && c.search.regularizer == Config::default().search.regularizer {
            c.search.regularizer = "flops".into();
        }
        let reg = crate::format::find_regularizer(&c.search.regularizer)?;
        let unit = reg.unit();
        if unit != "FLOPs" {
            anyhow::bail!(
                "--target-macs needs a FLOPs regularizer (flops, gamma_flops); `{}` measures {unit}: give --target in {unit} instead",
                c.search.regularizer
            );
        }
        // FLOPs = 2 · MACs for conv and linear layers (docs/MATH.md); `{}` prints the
        // shortest text that parses back to the same number.
        c.search.target = Some(format!("{}", 2.0 * m));
    }
    c.check()?;
    Ok((c, had_saved))
}

/// Runs the main job with `base` under the flags.
pub fn run(base: &Config, a: SearchArgs) -> Result<()> {
    // A closed stdout (`figs search … | head`) must not end the search: writes to it fail
    // quietly instead (crate::say), and run.log keeps the report.
    // SAFETY: sets a signal disposition; no handler code runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    crate::interrupt::stop_on_sigterm();
    let (c, had_saved) = configure(base, &a)?;
    if a.resume.as_ref().is_some_and(|d| d.join("config.json").is_file()) && !had_saved {
        eprintln!("note: the run has no saved settings (an older figs started it): the flags given are checked against its checkpoint");
    }
    let steps = c.search.steps;
    // Under torchrun (WORLD_SIZE > 1) this process is one rank of a data-parallel search.
    // Each rank sees only its own GPU (before anything initialises CUDA), so every rank asks
    // for the same device and records the same settings.
    figs_dist::pin_local_gpu()?;
    // An unavailable device fails here, before anything is loaded or written.
    let device = c.run.device.resolve()?;
    // Gloo carries CPU tensors, NCCL CUDA ones (as PyTorch's DDP chooses).
    let group = figs_dist::ProcessGroup::from_env(dist_timeout()?, figs_dist::Backend::for_device(device))?;
    let cancel = crate::interrupt::fresh();
    let mut job =
        Job::new(c).resuming(a.resume.is_some()).force(a.force).stop_on(cancel, stop_cause).target_macs(a.target_macs);
    if let Some(g) = group {
        job = job.collective(Arc::new(g));
    }
    let bars = Bars::for_run(steps);
    let b = bars.clone();
    let report = job.run(move |e| match e {
        JobEvent::Line(text) => b.println(text),
        JobEvent::Note(text) => b.suspend(|| eprintln!("{text}")),
        JobEvent::Progress(p) => b.handle(&p),
        JobEvent::PhaseEnd => b.finish(),
    });
    bars.finish();
    let report = report?;
    if crate::interrupt::terminated() {
        // A scheduler's stop is no success: the exit status says the run did not finish.
        anyhow::bail!(
            "stopped by SIGTERM after {} of {} search steps; what it found is exported, and --resume {} continues it",
            report.steps_done,
            report.steps,
            report.out.display()
        );
    }
    Ok(())
}

/// What stopped the job early: the user's Ctrl-C or a scheduler's SIGTERM.
fn stop_cause() -> &'static str {
    if crate::interrupt::terminated() {
        "SIGTERM"
    } else {
        "Ctrl-C"
    }
}

/// How long a rank waits for the others (joining, each collective): FIGS_DIST_TIMEOUT_S,
/// default 30 minutes (rank 0 evaluates and checkpoints while the others wait).
fn dist_timeout() -> Result<std::time::Duration> {
    match std::env::var("FIGS_DIST_TIMEOUT_S") {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(s) if s > 0 => Ok(std::time::Duration::from_secs(s)),
            _ => anyhow::bail!("FIGS_DIST_TIMEOUT_S={v} is not a positive number of seconds"),
        },
        Err(_) => Ok(std::time::Duration::from_secs(1800)),
    }
}
