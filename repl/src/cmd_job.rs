//! `figs search` (`cmd_job`): the main job, end to end.

use crate::format::{human, human_unit, parse_count, parse_target, table};
use crate::progress::Bars;
use crate::say::say;
use anyhow::{Context, Result};
use clap::Args;
use figs::checkpoint;
use figs::count::count;
use figs::device::DeviceChoice;
use figs::gate::RegSource;
use figs::regularizer::Regularizer;
use figs::search::Search;
use figs::session::{DataSpec, Options, PlotKind, Progress, RegularizerChange, RetrainSpec, Session};
use figs::train::Init;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

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
    /// Layout of activations and conv weights: auto (channels-last on the CPU when every
    /// conv width is a multiple of 8, where it about halves the step time; NCHW otherwise
    /// and on CUDA), channels-last or contiguous.
    #[arg(long, default_value = "auto")]
    memory_format: figs::device::MemoryFormat,
    /// Precision of training passes: fp32, or bf16 (convolutions, linear layers and
    /// activations in bfloat16; weights, loss and evaluation float32). For GPUs: on the CPU
    /// it is slower (docs/PERFORMANCE.md).
    #[arg(long, default_value = "fp32")]
    precision: figs::precision::Precision,
    /// Every 100 steps, remove from the supernet the gated channels whose logit is below
    /// −T (e.g. 2), so later steps compute less; off when not given (docs/PERFORMANCE.md).
    #[arg(long, value_name = "T")]
    compact: Option<f64>,
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

/// The session options of the job's flags.
fn options(a: &SearchArgs, out: PathBuf, target: Option<String>) -> Options {
    Options {
        seed: a.seed,
        device: a.device,
        batch_size: a.batch_size,
        lr: a.lr,
        gate_lr: a.gate_lr,
        optimizer: a.optimizer,
        tau: a.tau,
        tau_final: a.tau_final,
        straight_through: a.straight_through,
        reg_source: a.reg_source,
        lambda: a.lambda,
        target,
        steps: a.steps,
        gamma_threshold: a.gamma_threshold,
        eval_every: a.eval_every,
        out,
        threads: a.threads,
        checkpoint_every: a.checkpoint_every,
        keep_checkpoints: a.keep_checkpoints,
        plugin_path: Vec::new(),
        memory_format: a.memory_format,
        precision: a.precision,
        compact: a.compact,
    }
}

/// The main job: the session's calls in order (data, supernet, regularizer, init or
/// resume, step, export, plot, retrain seed and found, compare), with the run directory's
/// files, checkpoints and data-parallel ranks around them.
pub fn run(mut a: SearchArgs) -> Result<()> {
    // A closed stdout (`figs search … | head`) must not end the search: writes to it fail
    // quietly instead (crate::say), and run.log keeps the report.
    // SAFETY: sets a signal disposition; no handler code runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    crate::say::start_job();
    crate::interrupt::stop_on_sigterm();
    if let Some(dir) = &a.resume {
        match &a.out {
            Some(out) if out != dir => {
                anyhow::bail!("--resume {} and --out {} name different runs; give one", dir.display(), out.display())
            }
            _ => a.out = Some(dir.clone()),
        }
    }
    crate::format::check_job_flags(a.batch_size, a.steps, a.epochs, a.threads)?;
    if let Err(m) = checkpoint::check_keep(a.keep_checkpoints) {
        anyhow::bail!("--keep-checkpoints {}: {m}", a.keep_checkpoints);
    }
    let unit = crate::format::find_regularizer(&a.regularizer)?.unit().to_string();
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
    let out = a.out.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from(format!("runs/search-{t}"))
    });
    let mut s = Session::new();
    // `{}` prints the shortest text that parses back to the same number.
    s.options = options(&a, out.clone(), target.map(|t| format!("{t}")));
    if a.threads > 0 {
        tch::set_num_threads(a.threads);
    }
    // Under torchrun (WORLD_SIZE > 1) this process is one rank of a data-parallel search.
    // Each rank sees only its own GPU (before anything initialises CUDA), so every rank asks
    // for the same device and records the same settings.
    figs_dist::pin_local_gpu()?;
    // An unavailable device fails here, before anything is loaded or written.
    let device = a.device.resolve()?;
    // Rank 0 leads: it alone writes the run directory, prints, evaluates and exports.
    // Gloo carries CPU tensors, NCCL CUDA ones (as PyTorch's DDP chooses).
    let group = figs_dist::ProcessGroup::from_env(dist_timeout()?, figs_dist::Backend::for_device(device))?;
    let lead = group.as_ref().is_none_or(|g| g.rank() == 0);
    let spec = if a.job.synthetic { DataSpec::new("synthetic") } else { DataSpec::new("idx").dir(&a.job.data) };
    s.data(spec.limit(a.job.train_limit, a.job.test_limit))?;
    let params: Vec<&str> = a.job.params.iter().map(String::as_str).collect();
    let seed_info = s.build_supernet(&a.job.space, &params)?;
    let reg = s.configure_regularizer(RegularizerChange {
        name: Some(a.regularizer.clone()),
        params: a.reg_params.clone(),
        ..RegularizerChange::default()
    })?;
    flush(&mut s);

    let ck_dir = out.join("checkpoints");
    let holds_run = std::fs::read_dir(&out).map(|mut d| d.next().is_some()).unwrap_or(false);
    // The lead holds the run directory's lock for the whole run: a second figs on the same
    // --out is refused instead of mixing its files with this run's.
    let mut run_dir = None;
    if lead && a.resume.is_some() && out.is_dir() {
        run_dir = Some(figs::run_dir::RunDir::resume(&out)?);
    }
    if lead && a.resume.is_some() && checkpoint::list(&ck_dir).is_empty() {
        let fix = if figs::run_dir::is_run(&out) {
            format!("it stopped before its first checkpoint: start it again with --force --out {}", out.display())
        } else {
            "run without --resume".to_string()
        };
        anyhow::bail!("--resume: {} has no checkpoint to continue from; {fix}", ck_dir.display());
    }
    if lead && holds_run && a.resume.is_none() && !a.force {
        if figs::run_dir::is_run(&out) {
            anyhow::bail!(
                "{} holds a figs run; pass --resume {} to continue it, --force to replace it, or choose another --out",
                out.display(),
                out.display()
            );
        }
        anyhow::bail!("{} already holds files that are not a figs run; choose another --out", out.display());
    }
    // Every setting is checked (and the regularizer bound) before anything is written: a
    // bad value leaves no half-made run directory behind.
    let world = group.as_ref().map_or(1, |g| g.world());
    if a.resume.is_some() {
        let (step, dir) = load_newest_intact(&mut s, &ck_dir, world, lead)?;
        let search = s.search()?;
        let want = s.options.search_config(&search.config().regularizer, reg.params.clone(), target);
        if search.config() != &want {
            anyhow::bail!(
                "--resume: the run in {} was started with other settings ({}); give the flags it was started with (its config.json)",
                out.display(),
                figs::settings_diff::settings_diff(search.config(), &want)
            );
        }
        if lead {
            say!("resuming {} from step {step} ({})", out.display(), dir.display());
        }
    } else {
        s.init()?;
    }
    if let Some(g) = group {
        let world = g.world();
        s.search_mut()?.set_collective(Arc::new(g))?;
        if !lead {
            return follow(s.search_mut()?, a.steps);
        }
        say!(
            "data-parallel search: {world} ranks, {} examples per rank and step, global batch {}",
            a.batch_size,
            a.batch_size * world
        );
    }
    if run_dir.is_none() {
        // Only what figs wrote into a directory marked as its run is ever removed.
        run_dir = Some(if a.force && holds_run {
            figs::run_dir::RunDir::replace(&out)?
        } else {
            figs::run_dir::RunDir::create(&out)?
        });
    }
    let _held = run_dir;
    // Only the lead gets here (the other ranks followed above).
    crate::say::log_to(&out.join("run.log"))
        .with_context(|| format!("cannot write {}", out.join("run.log").display()))?;
    let data = s.data_info()?;
    let train_cfg = s.options.train_config(data.train, a.epochs);
    let space_params = s.space().map(|(_, p)| p.clone()).unwrap_or_default();
    write_json(
        &out.join("config.json"),
        &json!({
            "space": a.job.space, "space_params": space_params, "search": s.search()?.config(),
            "retrain": train_cfg, "data": a.job.data_name(),
            "train_limit": a.job.train_limit, "test_limit": a.job.test_limit,
            "figs_version": env!("CARGO_PKG_VERSION"),
        }),
    )?;
    let supernet = s.supernet()?.clone();
    supernet.save(&out.join("supernet.json"))?;

    say!(
        "figs search: {} on {} ({} train / {} test images), device {}, run directory {}",
        a.job.space,
        a.job.data_name(),
        data.train,
        data.test,
        seed_info.device,
        out.display()
    );
    say!(
        "supernet: {} nodes, {} channel groups ({} searchable), {} params, {} MACs",
        seed_info.nodes,
        seed_info.groups.len(),
        seed_info.groups.iter().filter(|g| g.searchable).count(),
        human(seed_info.params as f64),
        human(seed_info.macs as f64)
    );
    let cost0 = s.search()?.initial_cost();
    say!("regularizer: {} (source {}), supernet cost {}", a.regularizer, reg.source, human_unit(cost0, &unit));

    // Ctrl-C stops the running phase after the current step; the run still exports,
    // plots and reports what it has. A second Ctrl-C ends the process (not at the prompt).
    let cancel = crate::interrupt::fresh();
    s.set_cancel(cancel.clone());
    let metrics = Arc::new(Mutex::new(open_metrics(&out.join("metrics.jsonl"), s.search()?)?));
    let write_err: Arc<Mutex<Option<std::io::Error>>> = Arc::default();
    let bars = Bars::for_run(a.steps);
    {
        let (bars, metrics, write_err, stop) = (bars.clone(), metrics.clone(), write_err.clone(), cancel.clone());
        s.set_progress(move |p| {
            bars.handle(&p);
            let line = match p {
                Progress::Step { metrics: m, .. } => json!({"kind": "step", "metrics": m}),
                Progress::Eval { metrics: ev, .. } => json!({"kind": "eval", "metrics": ev}),
                Progress::Train { .. } => return,
            };
            let mut err = write_err.lock().unwrap_or_else(|e| e.into_inner());
            if err.is_some() {
                return;
            }
            let mut f = metrics.lock().unwrap_or_else(|e| e.into_inner());
            let whole = f.metadata().map(|m| m.len()).ok();
            if let Err(e) = f.write_all(format!("{line}\n").as_bytes()) {
                // No half line (a full disk, a file-size limit): cut back to the last whole
                // one, and stop the search after this step instead of at its end.
                if let Some(n) = whole {
                    let _ = f.set_len(n);
                }
                *err = Some(e);
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let started = std::time::Instant::now();
    let todo = a.steps.saturating_sub(s.search()?.steps_done());
    let ran = if todo > 0 { s.step(todo).map(|_| ()) } else { Ok(()) };
    if let Some(e) = write_err.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let step = s.search()?.steps_done();
        return Err(e).with_context(|| {
            format!(
                "cannot write {}: the search stopped at step {step} (metrics.jsonl keeps whole lines); free space and continue with --resume {}",
                out.join("metrics.jsonl").display(),
                out.display()
            )
        });
    }
    let done = s.search()?.steps_done();
    let failure = ran.err();
    if failure.is_none() && cancel.load(Ordering::SeqCst) {
        // Not a scheduled evaluation: the checkpoint (saved at the stop) comes before it.
        let ev = s.evaluate()?;
        bars.handle(&Progress::Eval { metrics: &ev.eval, initial_cost: cost0, unit: &unit });
        let line = json!({"kind": "eval", "metrics": ev.eval});
        metrics.lock().unwrap_or_else(|e| e.into_inner()).write_all(format!("{line}\n").as_bytes())?;
    }
    bars.finish();
    if let Some(e) = &failure {
        // The step that failed was not applied, but the steps before it may already be
        // poisoned: the newest checkpoint is the last state known to be good.
        match checkpoint::list(&ck_dir).pop() {
            Some((step, dir)) => {
                eprintln!("error: {e}");
                s.load_for_ranks(&dir, world)?;
                // BN statistics for the export's fixed gates, as every export has.
                s.evaluate()?;
                eprintln!("exporting the last good state instead: the checkpoint at step {step}; nothing is retrained");
            }
            None => anyhow::bail!("{e} (no checkpoint to fall back on: nothing exported)"),
        }
    }
    if cancel.load(Ordering::SeqCst) {
        say!(
            "search stopped by {} after {done} of {} steps; exporting what it found (the same command with --resume {} continues it)",
            stop_cause(),
            a.steps,
            out.display()
        );
    }
    let secs = started.elapsed().as_secs_f64();
    say!(
        "search: {} steps in {:.1} s ({:.2} steps/s, including evaluations)",
        done,
        secs,
        done as f64 / secs.max(1e-9)
    );
    let search = s.search()?;
    if search.rank_world().1 > 1 {
        say!("rank 0: {} steps, weights and gate logits checksum {}", search.steps_done(), search.checksum());
    }

    let exported = s.export_to(&out.join("arch.json"), None)?;
    let mut written = exported.files.clone();
    // The architecture and weights are what the run is for; a graph that PyTorch cannot
    // name the same way costs only model.py.
    match s.export_module(&out) {
        Ok(p) => written.push(p),
        Err(e) => eprintln!("warning: no model.py: {e}"),
    }
    let search = s.search()?;
    let table_rows: Vec<Vec<String>> = search
        .alive()
        .iter()
        .filter(|g| g.gated)
        .map(|g| vec![g.name.clone(), g.width.to_string(), g.alive.to_string(), format!("{:.2}", g.mean_prob)])
        .collect();
    if reg.source == figs::regularizer::Source::BnGamma.as_str() {
        say!("\nalive width per channel group (rule: |γ| > {}):", a.gamma_threshold);
        say!("{}", table(&["group", "supernet", "found", "alive frac"], &table_rows));
    } else {
        say!("\nalive width per channel group (rule: a > 0):");
        say!("{}", table(&["group", "supernet", "found", "mean p"], &table_rows));
    }
    if !exported.removed_nodes.is_empty() {
        say!("removed nodes (dead branches): {}", exported.removed_nodes.join(", "));
    }
    if !exported.kept_at_one.is_empty() {
        say!(
            "groups that died but were kept at width 1 to keep the network connected: {}",
            exported.kept_at_one.join(", ")
        );
    }
    if !exported.folded.is_empty() {
        say!("constants of removed branches folded into the bias of: {}", exported.folded.join(", "));
    }
    if let Some(hint) = &exported.hint {
        eprintln!("note: {hint}");
    }
    let found_cost = search.current_cost();
    say!(
        "cost ({}): supernet {} -> found {} ({:.1}%)",
        a.regularizer,
        human_unit(cost0, &unit),
        human_unit(found_cost, &unit),
        100.0 * found_cost / cost0
    );
    if let Some(t) = a.target_macs {
        say!(
            "target {} MACs: landed at {} MACs ({:.1}% of the target; λ ended at {:.3})",
            human(t),
            human(exported.macs as f64),
            100.0 * exported.macs as f64 / t,
            search.lambda()
        );
    } else if let Some(t) = target {
        say!(
            "target {}: landed at {} ({:.1}% of the target; λ ended at {:.3})",
            human_unit(t, &unit),
            human_unit(found_cost, &unit),
            100.0 * found_cost / t,
            search.lambda()
        );
    }
    let chart = s.plot(PlotKind::Widths, Some(&out.join("alive_width")), &[])?;
    written.extend(chart.paths());
    say!("wrote {}", written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    say!(
        "in Python: `import sys; sys.path.insert(0, \"{}\"); from model import load; net = load().eval()` (needs only torch)",
        out.display()
    );

    let found = s.found().context("the export above made the found network")?;
    let rows = [("seed", count(&supernet, &supernet.analyze()?)), ("found", count(found, &found.analyze()?))];
    let mut results = Vec::new();
    if !a.no_retrain && failure.is_none() {
        for (name, spec) in [("seed", RetrainSpec::seed()), ("found", RetrainSpec::found().init(a.init))] {
            if cancel.load(Ordering::SeqCst) {
                say!("retraining of the {name} network skipped ({})", stop_cause());
                continue;
            }
            let r = s.retrain(spec.epochs(a.epochs).label(name));
            bars.finish();
            let r = r?;
            if r.result.cancelled {
                // A shorter training would not compare fairly with the other network.
                say!(
                    "retraining of the {name} network stopped by {} after {} steps; no accuracy reported",
                    stop_cause(),
                    r.result.steps
                );
                continue;
            }
            say!(
                "retrained {name} network (from {}): {} steps in {:.0} s, test accuracy {:.4}",
                r.result.init.as_str(),
                r.result.steps,
                r.result.seconds,
                r.result.test_accuracy
            );
            results.push(r);
        }
    }
    let mut summary_rows = Vec::new();
    let mut summary = Vec::new();
    for (name, c) in &rows {
        let res = results.iter().find(|r| r.label == *name).map(|r| &r.result);
        summary_rows.push(vec![
            name.to_string(),
            human(c.params as f64),
            human(c.macs as f64),
            res.map(|r| format!("{:.4}", r.test_accuracy)).unwrap_or_else(|| "-".into()),
        ]);
        summary.push(json!({"network": name, "params": c.params, "macs": c.macs,
            "test_accuracy": res.map(|r| r.test_accuracy), "init": res.map(|r| r.init), "retrain": res}));
    }
    say!(
        "\nseed vs found ({} retraining steps each, same recipe):\n{}",
        if a.no_retrain { 0 } else { train_cfg.steps },
        table(&["network", "params", "MACs", "test acc"], &summary_rows)
    );
    say!("MACs: found / seed = {:.3}", rows[1].1.macs as f64 / rows[0].1.macs as f64);
    write_json(&out.join("summary.json"), &json!(summary))?;
    if let Some(e) = failure {
        anyhow::bail!("the search failed at step {done} ({e}); arch.json holds the last checkpoint's network");
    }
    if crate::interrupt::terminated() {
        // A scheduler's stop is no success: the exit status says the run did not finish.
        anyhow::bail!(
            "stopped by SIGTERM after {done} of {} search steps; what it found is exported, and --resume {} continues it",
            a.steps,
            out.display()
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

/// Loads the newest checkpoint under `ck_dir` that reads back whole. A damaged one (a
/// truncated file, a manifest that does not parse) is passed over, and the lead says so;
/// a checkpoint that is whole but does not fit (other data, ranks or settings) is an error.
fn load_newest_intact(s: &mut Session, ck_dir: &Path, world: usize, lead: bool) -> Result<(u64, PathBuf)> {
    let mut all = checkpoint::list(ck_dir);
    let mut damaged = Vec::new();
    while let Some((step, dir)) = all.pop() {
        if let Err(e) = checkpoint::load(&dir) {
            damaged.push(format!("{e}"));
            continue;
        }
        s.load_for_ranks(&dir, world)?;
        if lead && !damaged.is_empty() {
            eprintln!(
                "warning: passed over {} damaged checkpoint(s), resuming from the newest intact one (step {step}): {}",
                damaged.len(),
                damaged.join("; ")
            );
        }
        return Ok((step, dir));
    }
    anyhow::bail!(
        "--resume: every checkpoint in {} is damaged ({}); start the run again with --force",
        ck_dir.display(),
        damaged.join("; ")
    )
}

fn flush(s: &mut Session) {
    for w in s.take_warnings() {
        eprintln!("warning: {w}");
    }
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
        Err(
            e @ (figs::Error::NonFiniteLoss { .. }
            | figs::Error::NonFiniteGradient { .. }
            | figs::Error::Diverged { .. }),
        ) => {
            say!("rank {rank}: stopped with the others at step {}: {e}", search.steps_done());
            return Ok(());
        }
        r => r?,
    };
    say!("rank {rank}: {} steps, weights and gate logits checksum {}", search.steps_done(), search.checksum());
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
