//! The session's calls on found networks: export, retrain, compare, plot.

use super::*;

impl Session {
    /// Exports the found architecture with its weights to `<out>/arch.json`.
    pub fn export(&mut self) -> Result<ExportReport> {
        let file = self.out_dir().join("arch.json");
        self.export_to(&file, None)
    }

    /// Exports to `file` (weights beside it) and, with `pytorch`, a self-contained PyTorch
    /// module in that directory.
    pub fn export_to(&mut self, file: &Path, pytorch: Option<&Path>) -> Result<ExportReport> {
        let search = self.search()?;
        let e = search.export_network()?;
        let hint = nothing_pruned_hint(search);
        let mut files = vec![file.to_path_buf(), e.save(file)?];
        if let Some(dir) = pytorch {
            files.extend(e.save_pytorch(dir)?);
        }
        let c = count(&e.graph, &e.graph.analyze()?);
        let report = ExportReport {
            file: file.to_path_buf(),
            files,
            params: c.params,
            macs: c.macs,
            removed_nodes: e.report.removed_nodes.clone(),
            kept_at_one: e.report.kept_at_one.clone(),
            folded: e.report.folded.iter().map(|f| f.node.clone()).collect(),
            hint,
        };
        self.found = Some(e);
        self.unexported_steps = 0;
        Ok(report)
    }

    /// Writes `dir/model.py`, a PyTorch module for the last export (which it loads from
    /// `arch.json` and `arch.safetensors` beside it).
    pub fn export_module(&self, dir: &Path) -> Result<PathBuf> {
        self.found.as_ref().ok_or_else(|| usage("nothing exported yet: `export` first"))?.save_module(dir)
    }

    /// Trains a network from scratch (or from the search's weights) with the session's
    /// recipe and tests it; the result joins `compare` unless cancelled
    /// (`result.cancelled`).
    pub fn retrain(&mut self, spec: RetrainSpec) -> Result<Retrained> {
        if !(spec.epochs > 0.0 && spec.epochs.is_finite()) {
            return Err(Error::config("epochs", format!("must be positive, got {}", spec.epochs)));
        }
        let search_init = spec.init == Init::Search;
        let (graph, init): (Graph, Option<Weights>) = match &spec.network {
            Network::Found if search_init => {
                if self.found.is_none() {
                    let e = self.search.as_ref().map(|x| x.export_network()).transpose()?;
                    self.found = Some(e.ok_or_else(|| usage("nothing found yet: `init` and `step N` first"))?);
                }
                let e = self.found.as_ref().ok_or_else(|| usage("nothing found yet"))?;
                (e.graph.clone(), Some(e.weights.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect()))
            }
            Network::File(file) if search_init => {
                let e = Exported::load(file)?;
                (e.graph, Some(e.weights))
            }
            _ if search_init => {
                return Err(usage(&format!(
                    "--init search starts from exported weights (`found`, or an arch.json with its .safetensors); `{}` has none",
                    spec.default_label()
                )))
            }
            Network::Space { space, params } => {
                self.train_test()?;
                (self.build_space(space, params)?.2, None)
            }
            Network::Found => match (&self.found, &self.search) {
                (Some(e), _) => (e.graph.clone(), None),
                (None, Some(search)) => (search.export()?.0, None),
                (None, None) => return Err(usage("nothing found yet: `init` and `step N` first, or `retrain FILE`")),
            },
            Network::Seed => (self.supernet()?.clone(), None),
            Network::File(file) => (Graph::load(file)?, None),
        };
        let data = self.train_test()?.clone();
        self.config.check()?;
        let cfg = self.config.train_config(data.train.len(), spec.epochs);
        if self.config.run.threads > 0 {
            tch::set_num_threads(self.config.run.threads);
        }
        let label = spec.label.clone().unwrap_or_else(|| spec.default_label());
        let cancel = self.cancel.clone();
        let mut hook = self.progress.take();
        let total = cfg.steps;
        let r = train_network(&graph, init.as_deref(), &data.train, &data.test, &cfg, &cancel, |p| {
            if let Some(h) = hook.as_mut() {
                h(Progress::Train { label: &label, done: p.steps, total, loss: p.loss });
            }
        });
        self.progress = hook;
        let retrained = Retrained { label, result: r?, baseline: spec.baseline || spec.network == Network::Seed };
        if !retrained.result.cancelled {
            self.retrained.retain(|x| x.label != retrained.label);
            self.retrained.push(retrained.clone());
        }
        Ok(retrained)
    }

    /// The retrained networks side by side.
    pub fn compare(&self) -> Result<Comparison> {
        if self.retrained.is_empty() {
            return Err(usage("nothing retrained yet: `retrain seed` and `retrain found`"));
        }
        Ok(Comparison(self.retrained.iter().map(CompareRow::from).collect()))
    }

    /// Draws a chart to `<stem>.svg` and `.png` (default stem `<out>/<kind>`); `runs` adds
    /// the seed and found networks of `figs search` run directories to the Pareto chart.
    pub fn plot(&self, kind: PlotKind, stem: Option<&Path>, runs: &[PathBuf]) -> Result<Chart> {
        let stem = stem.map(Path::to_path_buf).unwrap_or_else(|| self.out_dir().join(kind.name()));
        plots::draw(self, kind, &stem, runs)
    }
}
