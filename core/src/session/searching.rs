//! The session's search calls: regularizer, init, load and save, step, evaluate, status,
//! gates.

use super::*;

impl Session {
    /// Chooses a regularizer plugin with `name=value` parameters for the next `init`.
    pub fn regularizer(&mut self, name: &str, params: &[&str]) -> Result<RegularizerInfo> {
        self.configure_regularizer(RegularizerChange {
            name: Some(name.to_string()),
            params: params.iter().map(|p| p.to_string()).collect(),
            ..RegularizerChange::default()
        })
    }

    /// Applies a regularizer change whole or not at all: a new regularizer (checked against
    /// the supernet now rather than at `init`), λ and the target (both reach a running
    /// search at once).
    pub fn configure_regularizer(&mut self, c: RegularizerChange) -> Result<RegularizerInfo> {
        let new = match &c.name {
            Some(name) => {
                let reg = self.find_regularizer(name)?;
                let params = crate::regularizer::with_defaults(&reg.params(), parse_kv(&c.params)?);
                if let Some(g) = &self.supernet {
                    reg.bind(g, &params)?;
                }
                Some((reg, params))
            }
            None if !c.params.is_empty() => {
                return Err(usage("give the regularizer's name with its parameters: `regularizer NAME -R name=value`"))
            }
            None => None,
        };
        let mut opts = self.config.clone();
        if let Some(l) = c.lambda {
            opts.search.lambda = l;
            opts.check()?;
        }
        if let Some(t) = &c.target {
            opts.set("target", t)?;
        }
        if let Some(name) = &c.name {
            opts.search.regularizer = name.clone();
            opts.search.reg_param = c.params.clone();
        }
        let (reg, params) = match new.clone() {
            Some(r) => r,
            None => self.regularizer_or_default()?,
        };
        opts.target_value(reg.unit(), &reg.info().name)?;
        if let Some(search) = self.search.as_mut() {
            // The running search keeps its own regularizer; only its unit counts here.
            let (live, unit) = search.regularizer();
            let live_target = opts.target_value(unit, live)?;
            if c.lambda.is_some() {
                search.set_lambda(opts.search.lambda)?;
            }
            if c.target.is_some() {
                search.set_target(live_target)?;
            }
        }
        self.config = opts;
        self.regularizer = Some((reg, params));
        let mut info = self.regularizer_info()?;
        info.applies_at_next_init = new.is_some() && self.search.is_some();
        Ok(info)
    }

    /// The chosen regularizer, λ and target.
    pub fn regularizer_info(&mut self) -> Result<RegularizerInfo> {
        let (reg, params) = self.regularizer_or_default()?;
        let unit = reg.unit().to_string();
        let target = self.config.target_value(&unit, &reg.info().name)?;
        let lambda = self.search.as_ref().map(|x| x.lambda()).unwrap_or(self.config.search.lambda);
        Ok(RegularizerInfo {
            regularizer: reg.info().name.clone(),
            source: reg.source().as_str().to_string(),
            unit,
            params,
            lambda,
            target,
            applies_at_next_init: false,
        })
    }

    /// Starts a search on the supernet with the session's configuration.
    pub fn init(&mut self) -> Result<InitReport> {
        self.init_with(self.config.clone())
    }

    /// Starts a search with `options`, which become the session's configuration if it
    /// starts.
    pub fn init_with(&mut self, options: Config) -> Result<InitReport> {
        options.check()?;
        let graph = self.supernet()?.clone();
        let train = self.train_test()?.train.clone();
        let (reg, params) = self.regularizer_or_default()?;
        let target = options.target_value(reg.unit(), &reg.info().name)?;
        if options.run.threads > 0 {
            tch::set_num_threads(options.run.threads);
        }
        let cfg = options.search_config(&reg.info().name, params.clone(), target);
        let unit = reg.unit().to_string();
        let search = Search::new(&graph, &train, cfg, Arc::new(reg.clone()))?;
        let (tr, va) = search.split_sizes();
        let report = InitReport {
            supernet: graph.name.clone(),
            device: device_name(search.device()),
            regularizer: search.regularizer().0.to_string(),
            unit,
            initial_cost: search.initial_cost(),
            train: tr,
            validation: va,
            steps_per_epoch: search.steps_per_epoch(),
        };
        self.search = Some(search);
        self.regularizer.get_or_insert((reg, params));
        self.config = options;
        self.found = None;
        self.unexported_steps = 0;
        Ok(report)
    }

    /// Continues a search from a checkpoint directory on the current supernet and data
    /// (which must be the ones it was saved with: another data set, split or limit is
    /// refused, naming what differs), in this one process.
    pub fn load(&mut self, path: &Path) -> Result<Loaded> {
        self.load_for_ranks(path, 1)
    }

    /// [`Session::load`] for one rank of a data-parallel search of `world` ranks: a
    /// checkpoint written by another number of ranks is refused (the global batch, and so
    /// every step after it, depends on it).
    pub fn load_for_ranks(&mut self, path: &Path, world: usize) -> Result<Loaded> {
        let m = crate::checkpoint::load(path)?.manifest;
        if m.world != world {
            let how = if m.world > 1 {
                format!("resume it under torchrun with --nproc-per-node {}", m.world)
            } else {
                "resume it in one process (without torchrun)".to_string()
            };
            return Err(Error::Checkpoint(format!(
                "{} was written by a search of {} rank(s) and this one has {world}; {how} (the global batch depends on it)",
                path.display(),
                m.world
            )));
        }
        let reg = self.find_regularizer(&m.config.regularizer)?;
        let (graph, train) = (self.supernet()?.clone(), self.train_test()?.train.clone());
        let search = Search::resume(&graph, &train, Arc::new(reg.clone()), path)?;
        let loaded =
            Loaded { path: path.to_path_buf(), step: search.steps_done(), regularizer: m.config.regularizer.clone() };
        self.regularizer = Some((reg, m.config.regularizer_params.clone()));
        self.search = Some(search);
        self.found = None;
        self.unexported_steps = 0;
        Ok(loaded)
    }

    /// Saves the search's whole state to a new checkpoint directory (default
    /// `<out>/checkpoints/step-N`).
    pub fn save(&mut self, path: Option<&Path>) -> Result<PathBuf> {
        let out = self.out_dir();
        let search = self.search()?;
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => crate::checkpoint::path(&out, search.steps_done()),
        };
        search.save_checkpoint(&path)?;
        self.unexported_steps = 0;
        Ok(path)
    }

    /// Runs `n` search steps; evaluates at every multiple of `eval-every` and at the planned
    /// last step (`steps`), and saves checkpoints as `checkpoint-every` says (after the
    /// evaluation of the same step, so that a resumed run has it). Stops early, keeping
    /// every step, when the cancel flag is raised (saving a checkpoint first if
    /// checkpoints are on).
    pub fn step(&mut self, n: u64) -> Result<StepReport> {
        if n == 0 {
            return Err(Error::config("steps", "the number of steps must be at least 1"));
        }
        let o = self.config.clone();
        o.check()?;
        // Checkpoints go into a run directory: `out`, which a prompt session may not have.
        let mut ck = o.run.out.as_ref().filter(|_| o.run.checkpoint_every > 0).map(|d| Checkpoints {
            dir: crate::checkpoint::dir(d),
            every: o.run.checkpoint_every,
            keep: o.run.keep_checkpoints,
        });
        if ck.is_none() && o.run.checkpoint_every > 0 && !self.warned_no_checkpoints {
            self.warned_no_checkpoints = true;
            self.warnings.push(format!(
                "no checkpoints: `checkpoint-every {}` saves them into the run directory, and `out` is not set (`set out DIR` keeps them, `set checkpoint-every 0` silences this)",
                o.run.checkpoint_every
            ));
        }
        let cancel = self.cancel.clone();
        let mut search =
            self.search.take().ok_or_else(|| usage("no search yet: `data …`, `supernet build SPACE`, then `init`"))?;
        if let Err(e) = check_checkpoints_are_own(&search, ck.as_ref()) {
            // Another search's checkpoints stay as they are, and this one saves none: a
            // notebook run again, or a loop over λ, must not stop at its autosave.
            ck = None;
            if self.warned_checkpoints_of != search.id() {
                self.warned_checkpoints_of = search.id().to_string();
                self.warnings.push(format!("{e}; this search saves no checkpoints"));
            }
        }
        let cost0 = search.initial_cost();
        let unit = search.regularizer().1.to_string();
        let start = search.steps_done();
        let mut evals = Vec::new();
        let mut result = Ok(());
        // The next multiple of `every` after `done`, and the planned last step.
        let next = |done: u64, every: u64| {
            let m = if every > 0 { (done / every + 1) * every } else { u64::MAX };
            if done < o.search.steps {
                m.min(o.search.steps)
            } else {
                m
            }
        };
        while search.steps_done() - start < n {
            let done = search.steps_done();
            let eval_at = next(done, o.search.eval_every);
            let ck_at = ck.as_ref().map_or(u64::MAX, |c| next(done, c.every));
            let chunk = (eval_at.min(ck_at) - done).min(n - (done - start));
            let mut hook = self.progress.take();
            let r = search.run(chunk, &cancel, |m| {
                if let Some(h) = hook.as_mut() {
                    h(Progress::Step { done: m.step - start, total: n, metrics: m, initial_cost: cost0 });
                }
            });
            self.progress = hook;
            if let Err(e) = r {
                result = Err(e);
                break;
            }
            let now = search.steps_done();
            if cancel.load(Ordering::SeqCst) {
                if let Some(c) = &ck {
                    result = save_kept(&search, c);
                }
                break;
            }
            if now == eval_at {
                match search.evaluate() {
                    Ok(ev) => {
                        self.report(Progress::Eval { metrics: &ev, initial_cost: cost0, unit: &unit });
                        evals.push(ev);
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            if now == ck_at {
                if let Some(Err(e)) = ck.as_ref().map(|c| save_kept(&search, c)) {
                    result = Err(e);
                    break;
                }
            }
        }
        let steps_run = search.steps_done() - start;
        let report = StepReport {
            step: search.steps_done(),
            steps_run,
            steps_asked: n,
            stopped_by_ctrl_c: cancel.load(Ordering::SeqCst),
            initial_cost: cost0,
            last_step: search.history().last().cloned(),
            evals,
        };
        self.search = Some(search);
        self.unexported_steps += steps_run;
        result.map(|_| report)
    }

    /// Runs `epochs` passes over the training split (fractions allowed).
    pub fn step_epochs(&mut self, epochs: f64) -> Result<StepReport> {
        if !(epochs > 0.0 && epochs.is_finite()) {
            return Err(Error::config("epochs", format!("must be positive, got {epochs}")));
        }
        let per = self.search()?.steps_per_epoch();
        self.step(((epochs * per as f64).round() as u64).max(1))
    }

    /// Evaluates on the validation split with deterministic gates (and re-estimated BN
    /// statistics).
    pub fn evaluate(&mut self) -> Result<EvalReport> {
        let search = self.search_mut()?;
        let unit = search.regularizer().1.to_string();
        let initial_cost = search.initial_cost();
        let target = search.config().target;
        let eval = search.evaluate()?;
        Ok(EvalReport { eval, initial_cost, unit, target })
    }

    /// Where the search stands.
    pub fn status(&self) -> Result<Status> {
        let search = self.search()?;
        let (reg, unit) = search.regularizer();
        let alive = search.alive();
        let (a, t) = alive.iter().filter(|g| g.gated).fold((0, 0), |(a, t), g| (a + g.alive, t + g.width));
        Ok(Status {
            step: search.steps_done(),
            epoch: search.epoch(),
            lambda: search.lambda(),
            regularizer: reg.to_string(),
            unit: unit.to_string(),
            initial_cost: search.initial_cost(),
            cost: search.current_cost(),
            alive_channels: a,
            searchable_channels: t,
            last_step: search.history().last().cloned(),
            last_eval: search.evals().last().cloned(),
            unexported_steps: self.unexported_steps,
            target: search.config().target,
        })
    }

    /// Every channel group's gates.
    pub fn gates(&self) -> Result<Gates> {
        let search = self.search()?;
        let groups = search
            .alive()
            .into_iter()
            .zip(search.probabilities())
            .map(|(g, p)| GateGroup {
                group: g.name,
                alive: g.alive,
                width: g.width,
                searched: g.gated,
                mean_p: g.mean_prob,
                p,
            })
            .collect();
        Ok(Gates { step: search.steps_done(), groups })
    }

    /// One group's gates, per channel.
    pub fn group_gates(&self, name: &str) -> Result<GateGroup> {
        let g = self.gates()?.groups.into_iter().find(|g| g.group == name);
        let g = g.ok_or_else(|| usage(&format!("no channel group `{name}`; `gates` lists them")))?;
        if g.p.is_none() {
            return Err(usage(&format!("group `{name}` has no gates (not searched, or the regularizer uses BN γ)")));
        }
        Ok(g)
    }
}

/// Where and how often `step` saves checkpoints.
struct Checkpoints {
    dir: PathBuf,
    every: u64,
    keep: usize,
}

/// Refuses to start steps whose checkpoints would land among another search's: one
/// search's `save` would skip or prune the other's, and `load` would restore the wrong one.
fn check_checkpoints_are_own(search: &Search, ck: Option<&Checkpoints>) -> Result<()> {
    let Some(Checkpoints { dir, .. }) = ck else {
        return Ok(());
    };
    let others = crate::checkpoint::others(&dir, search.id());
    if others.is_empty() {
        return Ok(());
    }
    let steps: Vec<String> = others.iter().map(u64::to_string).collect();
    Err(Error::Checkpoint(format!(
        "{} holds the checkpoints of another search (steps {}); this search's would mix with them. Give it its own directory (`set out DIR`), turn checkpoints off (`set checkpoint-every 0`), or `load` one of those to continue that search",
        dir.display(),
        steps.join(", ")
    )))
}

/// Saves `search` to `<out>/checkpoints/step-N` and keeps its newest `keep-checkpoints`.
fn save_kept(search: &Search, ck: &Checkpoints) -> Result<()> {
    let dir = &ck.dir;
    let path = dir.join(crate::checkpoint::name(search.steps_done()));
    if path.exists() {
        // A resumed run starts at a checkpoint it already has; another search's is never
        // taken for this one's.
        if crate::checkpoint::search_id(&path).as_deref() != Some(search.id()) {
            return Err(Error::Checkpoint(format!(
                "{} belongs to another search; give this one its own directory (`set out DIR`)",
                path.display()
            )));
        }
        if crate::checkpoint::load(&path).is_ok() {
            return Ok(());
        }
        // This search's own checkpoint of this step, damaged (a resume passed over it):
        // the new one replaces it.
        crate::checkpoint::discard(&path)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    search.save_checkpoint(&path).map_err(|e| {
        let m = match e {
            Error::Checkpoint(m) => m,
            e => e.to_string(),
        };
        Error::Checkpoint(format!("{m}; the previous checkpoints are intact"))
    })?;
    crate::checkpoint::prune(dir, ck.keep.max(1), search.id())
}

/// When a search pruned nothing, what to change, in the terms of its source: a common
/// first experience (λ too small for the steps given; γ under Adam moving ≈ lr per step)
/// that would otherwise look like a broken search.
pub fn nothing_pruned_hint(search: &Search) -> Option<String> {
    let alive = search.alive();
    if alive.iter().any(|g| g.gated && g.alive < g.width) {
        return None;
    }
    let c = search.config();
    if c.target.is_some() {
        return Some(format!(
            "nothing was pruned yet: every searched channel is still open after {} steps. Target mode raises λ step by step until the network fits; search longer",
            search.steps_done()
        ));
    }
    Some(match search.source() {
        Source::Gates => format!(
            "nothing was pruned: every searched channel is still open after {} steps (λ {}). Raise λ \
             (--lambda, `set lambda`), search longer, or give a target (--target-macs, `set target`)",
            search.steps_done(),
            search.lambda()
        ),
        Source::BnGamma => format!(
            "nothing was pruned: no BN |γ| fell under the threshold {}. Under Adam a γ moves about \
             lr = {} per step, so {} steps cannot bring γ from 1 that low; raise --lr or the steps, \
             or --gamma-threshold (docs/MATH.md explains why)",
            c.gamma_threshold,
            c.lr,
            search.steps_done()
        ),
    })
}
