//! `figs search` (`cmd_job`): the main job, end to end.

use crate::format::{bar, human, human_unit, parse_count, parse_target, step_message, table};
use anyhow::{Context, Result};
use clap::Args;
use figs::checkpoint;
use figs::count::{count, Counts};
use figs::device::{device_name, DeviceChoice};
use figs::export::Exported;
use figs::gate::{GateConfig, RegSource};
use figs::graph::Graph;
use figs::plot::{alive_width_chart, WidthRow};
use figs::regularizer::{Regularizer, Source};
use figs::search::{Search, SearchConfig};
use figs::space::parse_kv;
use figs::train::{train_network, Init, TrainConfig, TrainResult};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    job: crate::job_args::JobArgs,
    /// Penalty strength λ relative to the supernet's cost (loss = CE + λ·reg/cost0).
    #[arg(long, default_value_t = 0.5)]
    lambda: f64,
    /// Target mode: the MACs to land on (suffixes k, M, G: `--target-macs 1.5M`). The
    /// penalty applies only above it and λ adapts; the export is at or under it. Needs a
    /// FLOPs regularizer (flops, gamma_flops).
    #[arg(long, value_parser = parse_count, conflicts_with = "target")]
    target_macs: Option<f64>,
    /// Target mode in the regularizer's own unit: `2.5M` weights for model_size, `40us`
    /// for latency, `3M` FLOPs for flops.
    #[arg(long)]
    target: Option<String>,
    /// Regularizer plugin: flops, model_size, latency, gamma_flops (`figs plugins` lists
    /// what is on the plugin path).
    #[arg(long, short = 'r', default_value = "flops")]
    regularizer: String,
    /// Regularizer parameter as name=value (repeatable), e.g. `-R hardware=cpu`.
    #[arg(long = "reg-param", short = 'R', value_name = "NAME=VALUE")]
    reg_params: Vec<String>,
    /// With gamma_flops: a channel is alive while its BN |γ| is above this.
    #[arg(long, default_value_t = 0.01)]
    gamma_threshold: f64,
    /// Search steps.
    #[arg(long, default_value_t = 800)]
    steps: u64,
    /// Epochs of retraining for the found and the seed network (same recipe for both).
    #[arg(long, default_value_t = 1.0)]
    epochs: f64,
    /// Start the found network's retraining from fresh weights (`scratch`, the FiGS
    /// protocol) or from the search's weights sliced to it (`search`: fine-tuning).
    #[arg(long, default_value = "scratch")]
    init: Init,
    /// Skip retraining (search, export and plot only).
    #[arg(long)]
    no_retrain: bool,
    /// Examples per step (search and retraining).
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Adam learning rate of the weights (search and retraining).
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Optimizer of the weights and gate logits during the search: adam, or sgd (momentum
    /// 0.9; MorphNet's choice for its γ baseline — give it a larger --lr, e.g. 0.05).
    #[arg(long, default_value = "adam")]
    optimizer: figs::search::Optimizer,
    /// Learning rate of the gate logits.
    #[arg(long, default_value_t = 0.05)]
    gate_lr: f64,
    /// Gate temperature τ at the first step.
    #[arg(long, default_value_t = 1.0)]
    tau: f64,
    /// τ at the last step (exponential annealing); equal to --tau for a constant τ.
    #[arg(long, default_value_t = 0.1)]
    tau_final: f64,
    /// Straight-through gates: hard 0/1 forward, sigmoid gradient backward.
    #[arg(long)]
    straight_through: bool,
    /// What the regularizer sums per channel: prob (σ(a)) or sample (z).
    #[arg(long, default_value = "prob")]
    reg_source: RegSource,
    /// Seed of weight init, gate noise, dropout, data order and the validation split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// libtorch intra-op threads (0 = libtorch's default).
    #[arg(long, default_value_t = 0)]
    threads: i32,
    /// Run directory (created); default runs/search-<unix time>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Evaluate on the validation split every N steps (0 = only at the end).
    #[arg(long, default_value_t = 200)]
    eval_every: u64,
    /// Save a checkpoint (RUN/checkpoints/step-N) every N steps, at the end and at Ctrl-C
    /// (0 = never).
    #[arg(long, default_value_t = 200)]
    checkpoint_every: u64,
    /// How many of the newest checkpoints to keep.
    #[arg(long, default_value_t = 2)]
    keep_checkpoints: usize,
    /// Continue the run in RUN_DIR from its newest checkpoint (give the flags it was
    /// started with; settings that differ are refused).
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Replace the run already in --out.
    #[arg(long, conflicts_with = "resume")]
    force: bool,
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    figs::io::write_atomic(path, text.as_bytes())?;
    Ok(())
}

pub fn run(mut a: SearchArgs) -> Result<()> {
    if let Some(dir) = &a.resume {
        match &a.out {
            Some(out) if out != dir => {
                anyhow::bail!("--resume {} and --out {} name different runs; give one", dir.display(), out.display())
            }
            _ => a.out = Some(dir.clone()),
        }
    }
    crate::format::check_job_flags(a.batch_size, a.steps, a.epochs, a.threads)?;
    let regularizer = crate::format::find_regularizer(&a.regularizer)?;
    let reg_params = parse_kv(&a.reg_params)?;
    let unit = regularizer.unit().to_string();
    if a.target_macs.is_some() && unit != "FLOPs" {
        anyhow::bail!(
            "--target-macs needs a FLOPs regularizer (flops, gamma_flops); `{}` measures {unit}: give --target in {unit} instead",
            a.regularizer
        );
    }
    // FLOPs = 2 · MACs for conv and linear layers (docs/MATH.md).
    let target = match &a.target {
        Some(t) => Some(parse_target(t, &unit, &a.regularizer).map_err(|e| anyhow::anyhow!("--target: {e}"))?),
        None => a.target_macs.map(|m| 2.0 * m),
    };
    if a.threads > 0 {
        tch::set_num_threads(a.threads);
    }
    let device = a.device.resolve()?;
    // Under torchrun (WORLD_SIZE > 1) this process is one rank of a data-parallel search;
    // rank 0 leads: it alone writes the run directory, prints, evaluates and exports.
    let group = figs_dist::ProcessGroup::from_env(dist_timeout()?)?;
    let lead = group.as_ref().is_none_or(|g| g.rank() == 0);
    let data = a.job.load(a.seed)?;
    let (_, params, supernet) = crate::cmd_supernet::build_space(&a.job.space, &a.job.params, Some(&data.train))?;
    let sa = supernet.analyze()?;
    let seed_counts = count(&supernet, &sa);

    let out = a.out.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from(format!("runs/search-{t}"))
    });
    let ck_dir = out.join("checkpoints");
    let holds_run = std::fs::read_dir(&out).map(|mut d| d.next().is_some()).unwrap_or(false);
    if lead && a.resume.is_some() && checkpoint::list(&ck_dir).is_empty() {
        anyhow::bail!("--resume: {} has no checkpoint to continue from; run without --resume", ck_dir.display());
    }
    if lead && holds_run && a.resume.is_none() && !a.force {
        anyhow::bail!(
            "{} already holds files (a run?); pass --resume {} to continue it, --force to replace it, or choose another --out",
            out.display(),
            out.display()
        );
    }

    let steps_per_epoch = (data.train.len() / a.batch_size).max(1) as u64;
    let retrain_steps = ((a.epochs * steps_per_epoch as f64).round() as u64).max(1);
    let search_cfg = SearchConfig {
        seed: a.seed,
        device: a.device,
        batch_size: a.batch_size,
        steps: a.steps,
        lr: a.lr,
        optimizer: a.optimizer,
        weight_decay: 0.0,
        gate_lr: a.gate_lr,
        lambda: a.lambda,
        regularizer: a.regularizer.clone(),
        regularizer_params: reg_params,
        gamma_threshold: a.gamma_threshold,
        gate: GateConfig {
            tau: a.tau,
            tau_final: (a.tau_final != a.tau).then_some(a.tau_final),
            straight_through: a.straight_through,
            reg_source: a.reg_source,
            ..GateConfig::default()
        },
        val_fraction: 0.1,
        target,
        ..SearchConfig::default()
    };
    // Every setting is checked (and the regularizer bound) before anything is written: a
    // bad value leaves no half-made run directory behind.
    let gamma = regularizer.source() == Source::BnGamma;
    let regularizer: Arc<dyn Regularizer> = Arc::new(regularizer);
    let mut search = if a.resume.is_some() {
        let (step, dir) = checkpoint::list(&ck_dir).pop().context("no checkpoint")?;
        let s = Search::resume(&supernet, &data.train, regularizer.clone(), &dir)?;
        let want = SearchConfig { regularizer: s.config().regularizer.clone(), ..search_cfg.clone() };
        if s.config() != &want {
            anyhow::bail!(
                "--resume: the run in {} was started with other settings ({}); give the flags it was started with (its config.json)",
                out.display(),
                figs::settings_diff::settings_diff(s.config(), &want)
            );
        }
        if lead {
            println!("resuming {} from step {step} ({})", out.display(), dir.display());
        }
        s
    } else {
        Search::new(&supernet, &data.train, search_cfg.clone(), regularizer.clone())?
    };
    if group.is_none() && search.resumed_world() > 1 {
        anyhow::bail!(
            "--resume: the run in {} was searched by {} ranks; resume it under torchrun with --nproc-per-node {} (the global batch depends on it)",
            out.display(),
            search.resumed_world(),
            search.resumed_world()
        );
    }
    if let Some(g) = group {
        let world = g.world();
        search.set_collective(Arc::new(g))?;
        if !lead {
            return follow(&mut search, a.steps);
        }
        println!(
            "data-parallel search: {world} ranks, {} examples per rank and step, global batch {}",
            a.batch_size,
            a.batch_size * world
        );
    }
    if a.force && holds_run {
        // Only a figs run is replaced: `--out . --force` must not wipe a working directory.
        if !(out.join("config.json").is_file() || out.join("checkpoints").is_dir()) {
            anyhow::bail!(
                "{} holds files but no figs run (no config.json or checkpoints/); --force only replaces runs: choose another --out",
                out.display()
            );
        }
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot remove the old run in {}", out.display()))?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create run directory {}", out.display()))?;
    let train_cfg = TrainConfig {
        seed: a.seed,
        device: a.device,
        batch_size: a.batch_size,
        steps: retrain_steps,
        lr: a.lr,
        weight_decay: 0.0,
    };
    write_json(
        &out.join("config.json"),
        &json!({
            "space": a.job.space, "space_params": params, "search": search_cfg, "retrain": train_cfg,
            "data": a.job.data_name(),
            "train_limit": a.job.train_limit, "test_limit": a.job.test_limit,
            "figs_version": env!("CARGO_PKG_VERSION"),
        }),
    )?;
    supernet.save(&out.join("supernet.json"))?;

    println!(
        "figs search: {} on {} ({} train / {} test images), device {}, run directory {}",
        a.job.space,
        a.job.data_name(),
        data.train.len(),
        data.test.len(),
        device_name(device),
        out.display()
    );
    println!(
        "supernet: {} nodes, {} channel groups ({} searchable), {} params, {} MACs",
        supernet.nodes.len(),
        sa.groups.len(),
        sa.groups.iter().filter(|g| g.gated).count(),
        human(seed_counts.params as f64),
        human(seed_counts.macs as f64)
    );

    let cost0 = search.initial_cost();
    println!(
        "regularizer: {} (source {}), supernet cost {}",
        a.regularizer,
        search.source().as_str(),
        human_unit(cost0, &unit)
    );
    // Ctrl-C stops the running phase after the current step; the run still exports,
    // plots and reports what it has. A second Ctrl-C ends the process (not at the prompt).
    let cancel = crate::interrupt::fresh();
    let mut metrics = open_metrics(&out.join("metrics.jsonl"), &search)?;
    let pb = bar(a.steps, "search");
    pb.inc(search.steps_done());
    let started = std::time::Instant::now();
    let mut done = search.steps_done();
    let mut failure = None;
    while done < a.steps {
        let next = |every: u64| if every > 0 { (done / every + 1) * every } else { a.steps };
        let chunk = next(a.eval_every).min(next(a.checkpoint_every)).min(a.steps) - done;
        let mut write_err = None;
        let ran = search.run(chunk, &cancel, |m| {
            pb.inc(1);
            pb.set_message(step_message(m, cost0));
            let line = format!("{}\n", json!({"kind": "step", "metrics": m}));
            if let Err(e) = metrics.write_all(line.as_bytes()) {
                write_err.get_or_insert(e);
            }
        });
        if let Some(e) = write_err {
            return Err(e).context("cannot write metrics.jsonl");
        }
        done = search.steps_done();
        if let Err(e) = ran {
            failure = Some(e);
            break;
        }
        let stopped = cancel.load(Ordering::SeqCst);
        let scheduled_eval = done == a.steps || (a.eval_every > 0 && done % a.eval_every == 0);
        let checkpoint_now = a.checkpoint_every > 0 && (done % a.checkpoint_every == 0 || done == a.steps || stopped);
        // An evaluation recalibrates BN statistics. A scheduled one belongs to the run, so
        // the checkpoint comes after it (a resume then has it); the extra one at a Ctrl-C
        // step does not, so the checkpoint comes before it.
        if checkpoint_now && !scheduled_eval {
            save_checkpoint(&search, &ck_dir, a.keep_checkpoints)?;
        }
        if !(stopped || scheduled_eval) {
            continue;
        }
        let ev = search.evaluate()?;
        if checkpoint_now && scheduled_eval {
            save_checkpoint(&search, &ck_dir, a.keep_checkpoints)?;
        }
        metrics.write_all(format!("{}\n", json!({"kind": "eval", "metrics": ev})).as_bytes())?;
        let line = format!(
            "  step {:>5}: val acc {:.4}  val loss {:.4}  cost {} ({:.1}% of supernet)",
            ev.step,
            ev.accuracy,
            ev.loss,
            human_unit(ev.cost, &unit),
            100.0 * ev.cost / cost0
        );
        // println on a hidden bar (output not a terminal) prints nothing; suspend always does.
        pb.suspend(|| println!("{line}"));
        if cancel.load(Ordering::SeqCst) {
            break;
        }
    }
    pb.finish_and_clear();
    if let Some(e) = &failure {
        // The step that failed was not applied, but the steps before it may already be
        // poisoned: the newest checkpoint is the last state known to be good.
        match checkpoint::list(&ck_dir).pop() {
            Some((step, dir)) => {
                eprintln!("error: {e}");
                search = Search::resume(&supernet, &data.train, regularizer.clone(), &dir)?;
                // BN statistics for the export's fixed gates, as every export has.
                search.evaluate()?;
                eprintln!("exporting the last good state instead: the checkpoint at step {step}; nothing is retrained");
            }
            None => anyhow::bail!("{e} (no checkpoint to fall back on: nothing exported)"),
        }
    }
    if cancel.load(Ordering::SeqCst) {
        println!(
            "search stopped by Ctrl-C after {done} of {} steps; exporting what it found (the same command with --resume {} continues it)",
            a.steps,
            out.display()
        );
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "search: {} steps in {:.1} s ({:.2} steps/s, including evaluations)",
        done,
        secs,
        done as f64 / secs.max(1e-9)
    );
    if search.rank_world().1 > 1 {
        println!("rank 0: {} steps, weights and gate logits checksum {}", search.steps_done(), search.checksum());
    }

    let exported = search.export_network()?;
    let mut written = vec![out.join("arch.json"), exported.save(&out.join("arch.json"))?];
    // The architecture and weights are what the run is for; a graph that PyTorch cannot
    // name the same way costs only model.py.
    match exported.save_module(&out) {
        Ok(p) => written.push(p),
        Err(e) => eprintln!("warning: no model.py: {e}"),
    }
    let Exported { graph: found, report, weights } = exported;
    let fa = found.analyze()?;
    let found_counts = count(&found, &fa);
    let alive = search.alive();
    let rows: Vec<WidthRow> = alive
        .iter()
        .filter(|g| g.gated)
        .map(|g| WidthRow { group: g.name.clone(), supernet: g.width, found: g.alive })
        .collect();
    let table_rows: Vec<Vec<String>> = alive
        .iter()
        .filter(|g| g.gated)
        .map(|g| vec![g.name.clone(), g.width.to_string(), g.alive.to_string(), format!("{:.2}", g.mean_prob)])
        .collect();
    if gamma {
        println!("\nalive width per channel group (rule: |γ| > {}):", a.gamma_threshold);
        println!("{}", table(&["group", "supernet", "found", "alive frac"], &table_rows));
    } else {
        println!("\nalive width per channel group (rule: a > 0):");
        println!("{}", table(&["group", "supernet", "found", "mean p"], &table_rows));
    }
    if !report.removed_nodes.is_empty() {
        println!("removed nodes (dead branches): {}", report.removed_nodes.join(", "));
    }
    if !report.kept_at_one.is_empty() {
        println!(
            "groups that died but were kept at width 1 to keep the network connected: {}",
            report.kept_at_one.join(", ")
        );
    }
    if !report.folded.is_empty() {
        let f: Vec<&str> = report.folded.iter().map(|f| f.node.as_str()).collect();
        println!("constants of removed branches folded into the bias of: {}", f.join(", "));
    }
    if let Some(hint) = crate::format::nothing_pruned_hint(&search) {
        eprintln!("note: {hint}");
    }
    let found_cost = search.current_cost();
    println!(
        "cost ({}): supernet {} -> found {} ({:.1}%)",
        a.regularizer,
        human_unit(cost0, &unit),
        human_unit(found_cost, &unit),
        100.0 * found_cost / cost0
    );
    if let Some(t) = a.target_macs {
        println!(
            "target {} MACs: landed at {} MACs ({:.1}% of the target; λ ended at {:.3})",
            human(t),
            human(found_counts.macs as f64),
            100.0 * found_counts.macs as f64 / t,
            search.lambda()
        );
    } else if let Some(t) = target {
        println!(
            "target {}: landed at {} ({:.1}% of the target; λ ended at {:.3})",
            human_unit(t, &unit),
            human_unit(found_cost, &unit),
            100.0 * found_cost / t,
            search.lambda()
        );
    }
    let plots = alive_width_chart(
        &format!("{}: alive channels per group (λ = {})", a.job.space, a.lambda),
        &rows,
        &out.join("alive_width"),
    )?;
    println!("wrote {}", written.iter().chain(&plots).map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    println!(
        "in Python: `import sys; sys.path.insert(0, \"{}\"); from model import load; net = load().eval()` (needs only torch)",
        out.display()
    );

    let mut results: Vec<(&str, &Graph, Counts, Option<TrainResult>)> =
        vec![("seed", &supernet, seed_counts, None), ("found", &found, found_counts, None)];
    if !a.no_retrain && failure.is_none() {
        for (name, graph, _, res) in results.iter_mut() {
            if cancel.load(Ordering::SeqCst) {
                println!("retraining of the {name} network skipped (Ctrl-C)");
                continue;
            }
            let pb = bar(train_cfg.steps, name);
            let init = (*name == "found" && a.init == Init::Search).then_some(weights.as_slice());
            let r = train_network(graph, init, &data.train, &data.test, &train_cfg, &cancel, |p| {
                pb.inc(1);
                pb.set_message(format!("loss {:.3}", p.loss));
            })?;
            pb.finish_and_clear();
            if r.cancelled {
                // A shorter training would not compare fairly with the other network.
                println!(
                    "retraining of the {name} network stopped by Ctrl-C after {} steps; no accuracy reported",
                    r.steps
                );
                continue;
            }
            println!(
                "retrained {name} network (from {}): {} steps in {:.0} s, test accuracy {:.4}",
                r.init.as_str(),
                r.steps,
                r.seconds,
                r.test_accuracy
            );
            *res = Some(r);
        }
    }
    let mut summary_rows = Vec::new();
    let mut summary = Vec::new();
    for (name, _, c, res) in &results {
        summary_rows.push(vec![
            name.to_string(),
            human(c.params as f64),
            human(c.macs as f64),
            res.as_ref().map(|r| format!("{:.4}", r.test_accuracy)).unwrap_or_else(|| "-".into()),
        ]);
        summary.push(json!({"network": name, "params": c.params, "macs": c.macs,
            "test_accuracy": res.as_ref().map(|r| r.test_accuracy), "init": res.as_ref().map(|r| r.init), "retrain": res}));
    }
    println!(
        "\nseed vs found ({} retraining steps each, same recipe):\n{}",
        if a.no_retrain { 0 } else { train_cfg.steps },
        table(&["network", "params", "MACs", "test acc"], &summary_rows)
    );
    println!("MACs: found / seed = {:.3}", found_counts.macs as f64 / seed_counts.macs as f64);
    write_json(&out.join("summary.json"), &json!(summary))?;
    if let Some(e) = failure {
        anyhow::bail!("the search failed at step {done} ({e}); arch.json holds the last checkpoint's network");
    }
    Ok(())
}

/// A rank other than 0: takes its part in every step (the collectives need it), writes
/// nothing, and reports the checksum of its weights and gate logits.
fn follow(search: &mut Search, steps: u64) -> Result<()> {
    let cancel = crate::interrupt::fresh();
    let todo = steps.saturating_sub(search.steps_done());
    let (rank, _) = search.rank_world();
    match search.run(todo, &cancel, |_| {}) {
        // Every rank refused the same step (the loss is averaged first); rank 0 reports it
        // and exports its last checkpoint. Exiting 0 keeps torchrun from killing rank 0
        // while it does.
        Err(e @ (figs::Error::NonFiniteLoss { .. } | figs::Error::Diverged { .. })) => {
            println!("rank {rank}: stopped with the others at step {}: {e}", search.steps_done());
            return Ok(());
        }
        r => r?,
    };
    println!("rank {rank}: {} steps, weights and gate logits checksum {}", search.steps_done(), search.checksum());
    Ok(())
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

/// Writes a checkpoint of `search` under `dir` and keeps the newest `keep`.
fn save_checkpoint(search: &Search, dir: &Path, keep: usize) -> Result<()> {
    let path = dir.join(checkpoint::name(search.steps_done()));
    if path.exists() {
        return Ok(()); // a resumed run starts at a checkpoint it already has
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    search.save_checkpoint(&path).context("the previous checkpoints are intact")?;
    checkpoint::prune(dir, keep.max(1))?;
    Ok(())
}

/// metrics.jsonl for appending, holding exactly the steps and evaluations of `search`
/// (a resumed run drops the lines written after its checkpoint).
fn open_metrics(path: &Path, search: &Search) -> Result<std::fs::File> {
    let mut text = String::new();
    let mut evals = search.evals().iter().peekable();
    for m in search.history() {
        text += &format!("{}\n", json!({"kind": "step", "metrics": m}));
        while let Some(ev) = evals.next_if(|e| e.step <= m.step) {
            text += &format!("{}\n", json!({"kind": "eval", "metrics": ev}));
        }
    }
    for ev in evals {
        text += &format!("{}\n", json!({"kind": "eval", "metrics": ev}));
    }
    figs::io::write_atomic(path, text.as_bytes())?;
    std::fs::OpenOptions::new().append(true).open(path).with_context(|| format!("cannot open {}", path.display()))
}
