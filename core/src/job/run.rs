//! The job once its run directory is held: config, search with metrics and checkpoints,
//! export, plot, retraining, summary.

use super::*;
use crate::session::{eval_line, RegularizerInfo, SupernetInfo};

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Json { path: path.into(), source })?;
    crate::io::write_atomic(path, text.as_bytes())
}

impl Job {
    pub(super) fn search_and_report(
        &self,
        ctx: &mut Ctx,
        mut s: Session,
        out: &Path,
        seed_info: SupernetInfo,
        reg: RegularizerInfo,
        target: Option<f64>,
    ) -> Result<JobReport> {
        let c = s.config().clone();
        let data = s.data_info()?;
        let train_cfg = c.train_config(data.train, c.retrain.epochs);
        let space_params = s.space().map(|(_, p)| p.clone()).unwrap_or_default();
        write_json(
            &out.join("config.json"),
            &json!({
                "config": c.to_json(),
                "space": c.search.space, "space_params": space_params, "search": s.search()?.config(),
                "retrain": train_cfg, "data": data.data,
                "figs_version": env!("CARGO_PKG_VERSION"),
            }),
        )?;
        let supernet = s.supernet()?.clone();
        supernet.save(&out.join("supernet.json"))?;
        let unit = reg.unit.clone();
        ctx.say(&format!(
            "figs search: {} on {} ({} train / {} test images), device {}, run directory {}",
            c.search.space,
            data.data,
            data.train,
            data.test,
            seed_info.device,
            out.display()
        ));
        ctx.say(&format!(
            "supernet: {} nodes, {} channel groups ({} searchable), {} params, {} MACs",
            seed_info.nodes,
            seed_info.groups.len(),
            seed_info.groups.iter().filter(|g| g.searchable).count(),
            human(seed_info.params as f64),
            human(seed_info.macs as f64)
        ));
        let cost0 = s.search()?.initial_cost();
        ctx.say(&format!(
            "regularizer: {} (source {}), supernet cost {}",
            reg.regularizer,
            reg.source,
            human_unit(cost0, &unit)
        ));

        // The stop flag ends the running phase after the current step; the run still
        // exports, plots and reports what it has.
        let cancel = self.cancel.clone();
        s.set_cancel(cancel.clone());
        let metrics = Arc::new(Mutex::new(Metrics::open(&out.join("metrics.jsonl"), s.search()?)?));
        {
            let (events, log, metrics, stop) = (ctx.events.clone(), ctx.log.clone(), metrics.clone(), cancel.clone());
            s.set_progress(move |p| {
                match p {
                    // Evaluations are lines of the report (and of run.log).
                    Progress::Eval { metrics: ev, initial_cost, unit } => {
                        say(&events, &log, &eval_line(ev, initial_cost, unit))
                    }
                    p => (*events.lock().unwrap_or_else(|e| e.into_inner()))(JobEvent::Progress(p)),
                }
                let mut m = metrics.lock().unwrap_or_else(|e| e.into_inner());
                match p {
                    Progress::Step { metrics: sm, .. } => m.step(sm),
                    Progress::Eval { metrics: ev, .. } => m.eval(ev),
                    Progress::Train { .. } | Progress::Listing { .. } => return,
                }
                if m.failed.is_some() {
                    // Stop the search after this step instead of at its end.
                    stop.store(true, Ordering::SeqCst);
                }
            });
        }
        let started = std::time::Instant::now();
        let steps = c.search.steps;
        let todo = steps.saturating_sub(s.search()?.steps_done());
        let ran = if todo > 0 { s.step(todo).map(|_| ()) } else { Ok(()) };
        if let Some(e) = metrics.lock().unwrap_or_else(|e| e.into_inner()).failed.take() {
            let step = s.search()?.steps_done();
            return Err(Error::Job(format!(
                "cannot write {}: {e}: the search stopped at step {step} (metrics.jsonl keeps whole lines); free space and continue with --resume {}",
                out.join("metrics.jsonl").display(),
                out.display()
            )));
        }
        let done = s.search()?.steps_done();
        let failure = ran.err();
        if failure.is_none() && cancel.load(Ordering::SeqCst) {
            // Not a scheduled evaluation: the checkpoint (saved at the stop) comes before it.
            let ev = s.evaluate()?;
            ctx.say(&eval_line(&ev.eval, cost0, &unit));
            let mut m = metrics.lock().unwrap_or_else(|e| e.into_inner());
            m.eval(&ev.eval);
            if let Some(e) = m.failed.take() {
                return Err(Error::io("cannot write", m.path(), e));
            }
        }
        ctx.emit(JobEvent::PhaseEnd);
        if let Some(e) = &failure {
            // The step that failed was not applied, but the steps before it may already be
            // poisoned: the newest checkpoint is the last state known to be good.
            match checkpoint::list(&checkpoint::dir(out)).pop() {
                Some((step, dir)) => {
                    ctx.note(&format!("error: {e}"));
                    s.load_for_ranks(&dir, self.group.as_ref().map_or(1, |g| g.world()))?;
                    // BN statistics for the export's fixed gates, as every export has.
                    s.evaluate()?;
                    ctx.note(&format!(
                        "exporting the last good state instead: the checkpoint at step {step}; nothing is retrained"
                    ));
                }
                None => return Err(Error::Job(format!("{e} (no checkpoint to fall back on: nothing exported)"))),
            }
        }
        let stopped = cancel.load(Ordering::SeqCst);
        if stopped {
            ctx.say(&format!(
                "search stopped by {} after {done} of {steps} steps; exporting what it found (the same command with --resume {} continues it)",
                (self.stop_cause)(),
                out.display()
            ));
        }
        let secs = started.elapsed().as_secs_f64();
        ctx.say(&format!(
            "search: {} steps in {:.1} s ({:.2} steps/s, including evaluations)",
            done,
            secs,
            done as f64 / secs.max(1e-9)
        ));
        let search = s.search()?;
        if search.rank_world().1 > 1 {
            ctx.say(&format!(
                "rank 0: {} steps, weights and gate logits checksum {}",
                search.steps_done(),
                search.checksum()
            ));
        }
        self.export(ctx, &mut s, out, &reg, cost0, target)?;
        let search_seconds = started.elapsed().as_secs_f64();

        let found = s.found().ok_or_else(|| Error::Job("the export made no network".into()))?.clone();
        let counts = [("seed", count(&supernet, &supernet.analyze()?)), ("found", count(&found, &found.analyze()?))];
        let mut results = Vec::new();
        if !c.retrain.no_retrain && failure.is_none() {
            let seed = self.retrain_seed.then(|| ("seed", RetrainSpec::seed()));
            for (name, spec) in seed.into_iter().chain([("found", RetrainSpec::found().init(c.retrain.init))]) {
                if cancel.load(Ordering::SeqCst) {
                    ctx.say(&format!("retraining of the {name} network skipped ({})", (self.stop_cause)()));
                    continue;
                }
                let r = s.retrain(spec.epochs(c.retrain.epochs).label(name));
                ctx.emit(JobEvent::PhaseEnd);
                let r = r?;
                if r.result.cancelled {
                    // A shorter training would not compare fairly with the other network.
                    ctx.say(&format!(
                        "retraining of the {name} network stopped by {} after {} steps; no accuracy reported",
                        (self.stop_cause)(),
                        r.result.steps
                    ));
                    continue;
                }
                ctx.say(&format!(
                    "retrained {name} network (from {}): {} steps in {:.0} s, {}",
                    r.result.init.as_str(),
                    r.result.steps,
                    r.result.seconds,
                    r.result.headline()
                ));
                results.push(r);
            }
        }
        let metric = crate::task::of(&supernet)?.metric_name().to_string();
        let mut report = JobReport::new(out, &counts, &results, done, steps, stopped, metric);
        report.search_seconds = search_seconds;
        ctx.say(&format!(
            "\nseed vs found ({} retraining steps each, same recipe):\n{}",
            if c.retrain.no_retrain { 0 } else { train_cfg.steps },
            report.table()
        ));
        ctx.say(&format!("MACs: found / seed = {:.3}", report.macs_ratio()));
        write_json(&out.join("summary.json"), &report.summary_json(&results))?;
        if let Some(e) = failure {
            return Err(Error::Job(format!(
                "the search failed at step {done} ({e}); arch.json holds the last checkpoint's network"
            )));
        }
        Ok(report)
    }

    /// Writes the found network (arch.json, its weights, model.py) and the widths chart,
    /// and reports what was pruned.
    fn export(
        &self,
        ctx: &mut Ctx,
        s: &mut Session,
        out: &Path,
        reg: &RegularizerInfo,
        cost0: f64,
        target: Option<f64>,
    ) -> Result<()> {
        let c = s.config().clone();
        let unit = &reg.unit;
        let exported = s.export_to(&out.join("arch.json"), None)?;
        let mut written = exported.files.clone();
        // The architecture and weights are what the run is for; a graph that PyTorch cannot
        // name the same way costs only model.py.
        match s.export_module(out) {
            Ok(p) => written.push(p),
            Err(e) => ctx.note(&format!("warning: no model.py: {e}")),
        }
        let search = s.search()?;
        let rows: Vec<Vec<String>> = search
            .alive()
            .iter()
            .filter(|g| g.gated)
            .map(|g| vec![g.name.clone(), g.width.to_string(), g.alive.to_string(), format!("{:.2}", g.mean_prob)])
            .collect();
        if reg.source == crate::regularizer::Source::BnGamma.as_str() {
            ctx.say(&format!("\nalive width per channel group (rule: |γ| > {}):", c.search.gamma_threshold));
            ctx.say(&table(&["group", "supernet", "found", "alive frac"], &rows));
        } else {
            ctx.say("\nalive width per channel group (rule: a > 0):");
            ctx.say(&table(&["group", "supernet", "found", "mean p"], &rows));
        }
        if !exported.removed_nodes.is_empty() {
            ctx.say(&format!("removed nodes (dead branches): {}", exported.removed_nodes.join(", ")));
        }
        if !exported.kept_at_one.is_empty() {
            ctx.say(&format!(
                "groups that died but were kept at one channel (or gate block) to keep the network connected: {}",
                exported.kept_at_one.join(", ")
            ));
        }
        if !exported.folded.is_empty() {
            ctx.say(&format!("constants of removed branches folded into the bias of: {}", exported.folded.join(", ")));
        }
        if let Some(hint) = &exported.hint {
            ctx.note(&format!("note: {hint}"));
        }
        let found_cost = search.current_cost();
        ctx.say(&format!(
            "cost ({}): supernet {} -> found {} ({:.1}%)",
            reg.regularizer,
            human_unit(cost0, unit),
            human_unit(found_cost, unit),
            100.0 * found_cost / cost0
        ));
        if let Some(t) = self.target_macs {
            ctx.say(&format!(
                "target {} MACs: landed at {} MACs ({:.1}% of the target; λ ended at {:.3})",
                human(t),
                human(exported.macs as f64),
                100.0 * exported.macs as f64 / t,
                search.lambda()
            ));
        } else if let Some(t) = target {
            ctx.say(&format!(
                "target {}: landed at {} ({:.1}% of the target; λ ended at {:.3})",
                human_unit(t, unit),
                human_unit(found_cost, unit),
                100.0 * found_cost / t,
                search.lambda()
            ));
        }
        let chart = s.plot(PlotKind::Widths, Some(&out.join("alive_width")), &[])?;
        written.extend(chart.paths());
        ctx.say(&format!("wrote {}", written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")));
        ctx.say(&format!(
            "in Python: `import sys; sys.path.insert(0, \"{}\"); from model import load; net = load().eval()` (needs only torch)",
            out.display()
        ));
        Ok(())
    }
}
