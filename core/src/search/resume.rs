//! Saving a search's whole state and resuming it bit-exactly (on CPU): weights, BN
//! statistics, gate logits (or γ), optimizer moments and step count, the step counter
//! (from which τ and each step's noise follow), λ, the data position, the divergence
//! watch, history and evaluations. Layout and atomicity: [`crate::checkpoint`].

use super::gates::FLAT;
use super::Search;
use crate::checkpoint::{self, graph_hash, Manifest};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::regularizer::Regularizer;
use std::path::Path;
use std::sync::Arc;
use tch::Tensor;

impl Search {
    /// Writes a checkpoint of this search to `dir` (a new directory; see
    /// [`checkpoint::save`]).
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        let manifest = Manifest {
            format: checkpoint::FORMAT,
            figs_version: env!("CARGO_PKG_VERSION").to_string(),
            graph_hash: graph_hash(&self.supernet),
            search_id: self.id.clone(),
            data: Some(self.data.clone()),
            config: self.config.clone(),
            step: self.step,
            epoch: self.epoch,
            batch_pos: self.batches.as_ref().map(|b| b.position()),
            loss_avg: self.loss_avg,
            best_avg: self.best_avg,
            lambda: self.lambda,
            optimizer_steps: self.opt.steps(),
            world: self.rank_world().1,
            history: self.history.clone(),
            evals: self.evals.clone(),
            kept: (self.compacted_channels() > 0).then(|| self.kept.clone()),
        };
        let mut weights = self.per_group_gates("", self.vs.variables().into_iter().collect());
        weights.sort_by(|a, b| a.0.cmp(&b.0));
        let mut optim = Vec::new();
        for (name, t) in self.opt.state() {
            match name.split_once('.').map(|(p, rest)| (p.to_string(), rest == FLAT)) {
                Some((prefix, true)) => optim.extend(self.per_group_gates(&prefix, vec![(name, t)])),
                _ => optim.push((name, t)),
            }
        }
        checkpoint::save(dir, &manifest, &weights, &optim)
    }

    /// Checkpoints keep one tensor per gated group (`gates.<group>`), as they did before the
    /// logits became one flat parameter: `prefix` (`m`, `v` or none) and the flat entry
    /// become the per-group entries.
    fn per_group_gates(&self, prefix: &str, entries: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
        let flat_name = if prefix.is_empty() { FLAT.to_string() } else { format!("{prefix}.{FLAT}") };
        let pre = if prefix.is_empty() { String::new() } else { format!("{prefix}.") };
        let mut out = Vec::with_capacity(entries.len());
        for (name, t) in entries {
            match &self.gates {
                Some(f) if name == flat_name => out.extend(f.split(&pre, &t)),
                _ => out.push((name, t)),
            }
        }
        out
    }

    /// Rebuilds the search saved in `dir` for `graph`, `train` and `regularizer` (the same
    /// ones it ran with) and continues where it stopped. A checkpoint of another graph,
    /// regularizer or figs version is refused with what differs.
    pub fn resume(graph: &Graph, train: &Dataset, regularizer: Arc<dyn Regularizer>, dir: &Path) -> Result<Search> {
        let loaded = checkpoint::load(dir)?;
        let m = loaded.manifest;
        let here = env!("CARGO_PKG_VERSION");
        if m.figs_version != here {
            return Err(Error::Checkpoint(format!(
                "{} was written by figs {}, this is figs {here}; resume it with figs {} (a resumed run must repeat the same code to stay exact)",
                dir.display(),
                m.figs_version,
                m.figs_version
            )));
        }
        if m.graph_hash != graph_hash(graph) {
            return Err(Error::Checkpoint(format!(
                "{} belongs to another supernet (graph hash {} here {}); use the space and parameters the run was started with",
                dir.display(),
                m.graph_hash,
                graph_hash(graph)
            )));
        }
        if m.config.regularizer != regularizer.name() {
            return Err(Error::Checkpoint(format!(
                "{} was searched with regularizer `{}`, not `{}`; resume with -r {}",
                dir.display(),
                m.config.regularizer,
                regularizer.name(),
                m.config.regularizer
            )));
        }
        // Search::new fills in the defaults of the parameters a checkpoint does not record,
        // and a default may have changed since it was written (`latency`'s hardware: h200
        // until 2026-12-07, cpu since): such a run cannot be resumed exactly.
        let unrecorded: Vec<String> = regularizer
            .params()
            .into_iter()
            .filter(|p| !m.config.regularizer_params.contains_key(&p.name))
            .map(|p| format!("{} (default now {:?})", p.name, p.default))
            .collect();
        if !unrecorded.is_empty() {
            return Err(Error::Checkpoint(format!(
                "{} does not record the value of `{}`'s parameter(s) {} it ran with (checkpoints written before 2026-12-07 hold only the ones given), and a default may have changed since; it cannot be resumed exactly: start the run again (--force)",
                dir.display(),
                m.config.regularizer,
                unrecorded.join(", ")
            )));
        }
        let mut s = Search::new(graph, train, m.config.clone(), regularizer)?;
        if let Some(saved) = &m.data {
            let diff = saved.differences(&s.data);
            if !diff.is_empty() {
                return Err(Error::Checkpoint(format!(
                    "{} was searched on other training data (checkpoint vs here: {}); its saved batch position would index another order: resume with the data and limits it was started with (its config.json)",
                    dir.display(),
                    diff.join(", ")
                )));
            }
        }
        // Checkpoints from before ids were recorded all carry the empty id: the resumed
        // search takes it too, so they stay its own.
        s.id = m.search_id.clone();
        if let Some(kept) = &m.kept {
            let keep: Vec<Vec<i64>> = kept.iter().map(|k| k.iter().map(|&c| c as i64).collect()).collect();
            s.compact_to(&keep)?;
        }
        let mut weights = loaded.weights;
        let mut optim = loaded.optim;
        if let Some(f) = &s.gates {
            let device = f.flat.device();
            if let Some(t) = f.join("", &mut weights, device)? {
                weights.insert(FLAT.to_string(), t);
            }
            for prefix in ["m.", "v."] {
                if let Some(t) = f.join(prefix, &mut optim, device)? {
                    optim.insert(format!("{prefix}{FLAT}"), t);
                }
            }
        }
        let mut vars = s.vs.variables();
        if weights.len() != vars.len() {
            return Err(Error::Checkpoint(format!(
                "{} holds {} tensors, this supernet has {}: the checkpoint is from another network",
                dir.display(),
                weights.len(),
                vars.len()
            )));
        }
        tch::no_grad(|| -> Result<()> {
            for (name, var) in vars.iter_mut() {
                let Some(t) = weights.remove(name) else {
                    return Err(Error::Checkpoint(format!("{} has no tensor `{name}`", dir.display())));
                };
                if t.size() != var.size() {
                    return Err(Error::Checkpoint(format!(
                        "tensor `{name}` of {} has shape {:?}, the supernet's {:?}",
                        dir.display(),
                        t.size(),
                        var.size()
                    )));
                }
                var.copy_(&t.to_device(var.device()).to_kind(var.kind()));
            }
            Ok(())
        })?;
        s.opt.load_state(m.optimizer_steps, optim)?;
        s.step = m.step;
        s.epoch = m.epoch;
        s.batches = m.batch_pos.map(|pos| {
            let mut b = s.epoch_batches(m.epoch);
            b.seek(pos);
            b
        });
        s.lambda = m.lambda;
        s.loss_avg = m.loss_avg;
        s.best_avg = m.best_avg;
        s.resumed_world = Some(m.world);
        s.history = m.history;
        s.evals = m.evals;
        Ok(s)
    }
}
