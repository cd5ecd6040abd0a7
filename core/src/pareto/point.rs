//! One point of the sweep: the job configuration of a point, a `figs` or `gamma` point run
//! as the main job, a `width` or `seed` point retrained, and the width multiplier that
//! fits a budget.

use super::*;

impl Sweep {
    /// The job configuration of point `p`: the recipe, the point's seed, and for `gamma`
    /// MorphNet's procedure (momentum SGD at `gamma_lr`, λ fixed at `gamma_lambda`;
    /// retraining at the recipe's `lr` like every other network).
    pub fn config(&self, p: &Point) -> Config {
        let r = &self.recipe;
        let mut c = Config::default();
        c.search.space = r.space.clone();
        c.search.param = r.space_params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        c.search.steps = r.search_steps;
        c.search.batch_size = r.batch_size;
        c.search.gate_lr = r.gate_lr;
        c.retrain.epochs = r.retrain_epochs;
        c.retrain.lr = Some(r.lr);
        c.run.device = r.device;
        c.run.seed = p.seed;
        // One evaluation, at the last step, before the export; a point is redone whole.
        c.search.eval_every = 0;
        c.run.checkpoint_every = 0;
        if p.method == Method::Gamma {
            c.search.regularizer = "gamma_flops".into();
            c.search.optimizer = Optimizer::Sgd;
            c.search.lr = r.gamma_lr;
            c.search.lambda = r.gamma_lambda;
            c.search.lambda_rate = 0.0;
        } else {
            // The budgets are MACs: FiGS searches in FLOPs, whatever the job's default cost.
            c.search.regularizer = "flops".into();
            c.search.lr = r.lr;
            c.search.lambda = r.lambda;
            c.gates.width_multiple = r.width_multiple;
            c.search.compact = r.compact;
        }
        c
    }

    /// A `figs` or `gamma` point: the main job in target mode at the budget (its run
    /// directory is `points/<key>/`), retraining only the found network.
    fn run_search_point(
        &self,
        p: &Point,
        data: &TrainTest,
        seed_macs: u64,
        target_macs: f64,
        cancel: &Arc<AtomicBool>,
        mut progress: impl FnMut(&str),
    ) -> Result<Outcome> {
        let mut c = self.config(p);
        // FLOPs = 2 · MACs for conv and linear layers (docs/MATH.md); `{}` prints the
        // shortest text that reads back as the same number.
        c.search.target = Some(format!("{}", 2.0 * target_macs));
        let dir = self.dir.join("points").join(p.key().replace(':', "_"));
        c.run.out = Some(dir.clone());
        let every = (self.recipe.search_steps / 4).max(1);
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let job = Job::new(c)
            .with_data(&self.recipe.data, data.clone())
            .retrain_seed(false)
            .force(crate::run_dir::is_run(&dir))
            .stop_on(cancel.clone(), || "the stop flag");
        let report = std::thread::scope(|scope| {
            let run = scope.spawn(move || {
                job.run(move |e| {
                    let line = match e {
                        JobEvent::Progress(Progress::Step { metrics: m, .. }) if m.step % every == 0 => {
                            format!("search step {}: loss {:.3}, λ {:.3}", m.step, m.task_loss, m.lambda)
                        }
                        _ => return,
                    };
                    let _ = tx.send(line);
                })
            });
            for line in rx {
                progress(&line);
            }
            run.join().unwrap_or_else(|_| Err(Error::Job("the point's job panicked".into())))
        })?;
        let found = report.network("found").cloned();
        let (Some(found), false) = (found, report.stopped || cancel.load(Ordering::Relaxed)) else {
            return Ok(Outcome::Cancelled);
        };
        let Some(test_accuracy) = found.test_accuracy else {
            return Ok(Outcome::Cancelled);
        };
        let result = PointResult {
            method: p.method,
            budget: p.budget,
            seed: p.seed,
            params: found.params,
            macs: found.macs,
            macs_fraction: found.macs as f64 / seed_macs as f64,
            test_accuracy,
            metric: report.metric.clone(),
            width: None,
            search_seconds: report.search_seconds,
            retrain_seconds: found.retrain_seconds.unwrap_or(0.0),
        };
        self.record(&result)?;
        Ok(Outcome::Done(result))
    }

    /// Runs `p` on `data` and records it when it is done.
    pub fn run_point(
        &self,
        p: &Point,
        data: &TrainTest,
        cancel: &Arc<AtomicBool>,
        mut progress: impl FnMut(&str),
    ) -> Result<Outcome> {
        let r = &self.recipe;
        let space = find(&r.space)?;
        let seed_graph = space.build(&r.space_params)?;
        let seed_macs = count(&seed_graph, &seed_graph.analyze()?).macs;
        let target_macs = p.budget * seed_macs as f64;
        let mut width = None;
        let graph: Graph = match p.method {
            Method::Seed => seed_graph.clone(),
            Method::Width => {
                let mut params = r.space_params.clone();
                params.extend(r.width_params.clone());
                let (w, g) = match width_for(&space, &params, target_macs)? {
                    Ok(fit) => fit,
                    Err(floor) => {
                        return Ok(Outcome::Infeasible(format!(
                            "no width multiplier fits {target_macs:.0} MACs: the narrowest network has {floor} MACs"
                        )))
                    }
                };
                progress(&format!("width {w:.4} fits {:.0} MACs", target_macs));
                width = Some(w);
                g
            }
            Method::Figs | Method::Gamma => {
                return self.run_search_point(p, data, seed_macs, target_macs, cancel, progress);
            }
        };
        let train_cfg = self.config(p).train_config(data.train.len(), r.retrain_epochs);
        progress(&format!("retraining {} steps", train_cfg.steps));
        let t = train_from_scratch(&graph, &data.train, &data.test, &train_cfg, cancel, |_| {})?;
        if t.cancelled || cancel.load(Ordering::Relaxed) {
            return Ok(Outcome::Cancelled);
        }
        let result = PointResult {
            method: p.method,
            budget: p.budget,
            seed: p.seed,
            params: t.counts.params,
            macs: t.counts.macs,
            macs_fraction: t.counts.macs as f64 / seed_macs as f64,
            test_accuracy: t.test_accuracy,
            metric: t.metric.clone(),
            width,
            search_seconds: 0.0,
            retrain_seconds: t.seconds,
        };
        self.record(&result)?;
        Ok(Outcome::Done(result))
    }
}

/// The largest width multiplier (to 1e-4, at most 1) whose network has at most `target`
/// MACs, found by bisection (MACs grow with the width, in steps where channel counts
/// round). `Err(macs)` when even the narrowest network (width 0.001) is larger:
/// uniform width scaling has a floor, `macs`.
pub fn width_for(
    space: &impl SearchSpace,
    params: &BTreeMap<String, String>,
    target: f64,
) -> Result<std::result::Result<(f64, Graph), u64>> {
    let build = |w: f64| -> Result<(u64, Graph)> {
        let mut p = params.clone();
        p.insert("width".into(), format!("{w}"));
        let g = space.build(&p)?;
        Ok((count(&g, &g.analyze()?).macs, g))
    };
    let (mut lo, mut hi) = (1e-3, 1.0);
    let (lo_macs, mut best) = build(lo)?;
    if lo_macs as f64 > target {
        return Ok(Err(lo_macs));
    }
    while hi - lo > 1e-4 {
        let mid = 0.5 * (lo + hi);
        let (macs, g) = build(mid)?;
        if macs as f64 <= target {
            (lo, best) = (mid, g);
        } else {
            hi = mid;
        }
    }
    Ok(Ok((lo, best)))
}
