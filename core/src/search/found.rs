//! What the search has found so far: gate scores, the alive channels, the deterministic
//! gates, evaluation, and the export of the pruned network.

use super::*;

impl Search {
    /// Group `g`'s gate logits: a view of the flat parameter (None for ungated groups and
    /// with a BN-γ source).
    pub(super) fn logits(&self, g: usize) -> Option<Tensor> {
        self.gates.as_ref().and_then(|f| f.logits(g))
    }

    /// `max` over the producing BNs of `|γ|` for group `g` (BN-γ source), with gradient.
    pub(super) fn gamma_vector(&self, g: usize) -> Option<Tensor> {
        let parts: Vec<Tensor> = self
            .gammas
            .get(g)?
            .iter()
            .filter_map(|&(i, off, w)| self.net.bn_scale(i).map(|t| t.narrow(0, off as i64, w as i64).abs()))
            .collect();
        match parts.len() {
            0 => None,
            1 => parts.into_iter().next(),
            _ => Some(Tensor::stack(&parts, 0).amax([0], false)),
        }
    }

    /// Per searched group, a detached score per gate that is above 0 exactly for the gates
    /// the export keeps (the gate logit, or `|γ| − threshold` with a BN-γ source), and how
    /// many channels a gate holds (`width-multiple`; 1 with BN γ).
    pub(super) fn block_score(&self, g: usize) -> Option<(Tensor, usize)> {
        match self.source() {
            Source::Gates => {
                let f = self.gates.as_ref()?;
                f.block_logits(g).map(|a| (a.detach(), f.block(g)))
            }
            Source::BnGamma => self.gamma_vector(g).map(|v| (v.detach() - self.config.gamma_threshold, 1)),
        }
    }

    /// [`Search::block_score`] per channel.
    pub(super) fn score(&self, g: usize) -> Option<Tensor> {
        self.block_score(g).map(|(s, b)| spread(s, b))
    }

    /// Channels per gate of group `g` (1 for groups without gates).
    pub(super) fn gate_block(&self, g: usize) -> usize {
        self.gates.as_ref().map_or(1, |f| f.block(g))
    }

    /// [`Search::gate_block`] of every group.
    pub(super) fn gate_blocks(&self) -> Vec<usize> {
        (0..self.analysis.groups.len()).map(|g| self.gate_block(g)).collect()
    }

    /// The gates of the network [`Search::export`] returns, for its group `widths`
    /// ([`PruneReport::widths`]): per searched group, 1 for the `widths[g]` highest-scoring
    /// channels (exactly those with a score above 0, unless target mode fitted the count or
    /// the group was kept at one channel to stay connected), 0 for the rest.
    pub(super) fn deterministic_gates(&self, widths: &[usize]) -> Vec<Option<Tensor>> {
        (0..self.analysis.groups.len())
            .map(|g| {
                self.block_score(g).map(|(s, b)| {
                    let open = gate::deterministic(&s);
                    // Widths are whole blocks: target fitting and pruning count in blocks.
                    let k = (widths[g] / b) as i64;
                    if f64::try_from(open.sum(Kind::Float)).ok() == Some(k as f64) {
                        return spread(open, b);
                    }
                    let (_, idx) = s.topk(k, 0, true, false);
                    spread(s.zeros_like().index_fill(0, &idx, 1.0), b)
                })
            })
            .collect()
    }

    /// The group widths of the network [`Search::export`] returns (the alive counts, with
    /// groups kept at one channel for connectivity at 1).
    pub fn export_widths(&self) -> Result<Vec<usize>> {
        Ok(self.export()?.1.widths)
    }

    /// The supernet's first output (a classifier's logits) for a batch `x` in evaluation
    /// mode with the deterministic gates of the export: the function that
    /// [`Search::export_network`] hands out.
    pub fn eval_logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.eval_outputs(x)?.swap_remove(0))
    }

    /// Like [`Search::eval_logits`], every output the graph names, in its order.
    pub fn eval_outputs(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let gates = self.deterministic_gates(&self.export_widths()?);
        let _no_grad = tch::no_grad_guard();
        self.net.forward_outputs(&x.to_device(self.device), false, Some(&gates))
    }

    /// The found network with its weights: the pruned graph, what pruning did, and the
    /// supernet's parameters and BN statistics sliced to the kept channels (constants of
    /// removed branches folded into add biases). It computes what [`Search::eval_logits`]
    /// computes.
    pub fn export_network(&self) -> Result<Exported> {
        let (graph, report) = self.export()?;
        let gates = self.deterministic_gates(&report.widths);
        let weights = crate::export::slice_weights(&self.net, &self.vs, &gates, &graph, &report)?;
        Ok(Exported { graph, report, weights })
    }

    /// Sets the gate logits of group `group` (a notebook's "what if", or a test that needs
    /// a group closed); the optimizer's moments are kept. One per gate: per channel, or
    /// per block with `width-multiple` above 1; after a compaction, for the channels still
    /// in the supernet ([`Search::kept_channels`]).
    pub fn set_gate_logits(&mut self, group: &str, values: &[f64]) -> Result<()> {
        let Some(g) = self.analysis.groups.iter().position(|g| g.name == group) else {
            return Err(Error::config("group", format!("no channel group `{group}`; `gates` lists them")));
        };
        let Some(mut a) = self.gates.as_ref().and_then(|f| f.block_logits(g)) else {
            return Err(Error::config(
                "group",
                format!("group `{group}` has no gate logits (ungated, or the regularizer uses BN γ)"),
            ));
        };
        let block = self.gate_block(g);
        let width = self.analysis.groups[g].width;
        let n = width / block;
        if values.len() != n || values.iter().any(|v| !v.is_finite()) {
            let cut = self.supernet_analysis.groups[g].width - width;
            let mut note =
                if cut > 0 { format!(" ({cut} of its channels were compacted away)") } else { String::new() };
            if block > 1 {
                note += &format!(", one per block of {block} channels");
            }
            return Err(Error::config(
                "group",
                format!("group `{group}` needs {n} finite logits{note}, got {}", values.len()),
            ));
        }
        let v = Tensor::from_slice(values).to_kind(a.kind()).to_device(a.device());
        let _no_grad = tch::no_grad_guard();
        a.copy_(&v);
        Ok(())
    }

    /// Alive channels per group under the export rule `1[a > 0]`; in target mode, fitted to
    /// the target by logit rank (see `close_to_target`).
    pub fn alive_counts(&self) -> Vec<usize> {
        let mut counts = self.open_counts();
        if let Some(target) = self.config.target {
            // A closed group that pruning keeps (removing it would cut the network) costs
            // one channel or block: fitting counts it, or the export lands above the target.
            let floor = match prune_keeping(&self.graph, &self.analysis, &counts, &self.gate_blocks()) {
                Ok((_, r)) => counts.iter().zip(r.widths).map(|(&c, w)| if c == 0 { w } else { 0 }).collect(),
                Err(_) => vec![0; counts.len()],
            };
            self.close_to_target(&mut counts, target, &floor);
        }
        counts
    }

    /// Channels with a score above 0 per group (full width for groups not searched).
    pub(super) fn open_counts(&self) -> Vec<usize> {
        self.analysis
            .groups
            .iter()
            .map(|g| match self.score(g.id) {
                Some(s) => s.gt(0.0).sum(Kind::Int64).int64_value(&[]) as usize,
                None => g.width,
            })
            .collect()
    }

    /// Alive width (as exported) and mean keep probability of every group.
    pub fn alive(&self) -> Vec<GroupAlive> {
        let counts = self.export_widths().unwrap_or_else(|_| self.alive_counts());
        self.supernet_analysis
            .groups
            .iter()
            .zip(self.probabilities())
            .map(|(g, p)| GroupAlive {
                name: g.name.clone(),
                width: g.width,
                alive: counts[g.id],
                gated: g.gated,
                mean_prob: match (p, self.score(g.id)) {
                    (Some(p), _) => p.iter().sum::<f64>() / p.len().max(1) as f64,
                    (None, Some(s)) => s.gt(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]),
                    (None, None) => 1.0,
                },
            })
            .collect()
    }

    /// Keep probabilities σ(a) per gated group, one per channel of the supernet the search
    /// started from (0 for channels compaction removed); `None` for ungated groups, and for
    /// every group with a BN-γ source. On the CPU.
    pub fn probabilities(&self) -> Vec<Option<Vec<f64>>> {
        (0..self.analysis.groups.len())
            .map(|g| {
                let p = self.logits(g).and_then(|a| {
                    Vec::<f64>::try_from(a.sigmoid().to_kind(Kind::Double).to_device(Device::Cpu)).ok()
                })?;
                let mut full = vec![0.0; self.supernet_analysis.groups[g].width];
                for (&c, v) in self.kept[g].iter().zip(p) {
                    full[c] = v;
                }
                Some(full)
            })
            .collect()
    }

    /// Cost of the network that [`Search::export`] would return now (groups kept at one
    /// channel and removed branches included). NaN if the export fails.
    pub fn current_cost(&self) -> f64 {
        let cost = |g: &Graph| -> Result<f64> {
            let full: Vec<f64> = g.analyze()?.groups.iter().map(|g| g.width as f64).collect();
            self.regularizer.bind(g, &self.config.regularizer_params)?.reported(&full)
        };
        self.export().and_then(|(g, _)| cost(&g)).unwrap_or(f64::NAN)
    }

    /// Validation loss and accuracy of the network [`Search::export`] would return (the
    /// supernet with its gates fixed to 0/1); recorded in [`Search::evals`].
    pub fn evaluate(&mut self) -> Result<EvalMetrics> {
        let widths = self.export_widths()?;
        let gates = self.deterministic_gates(&widths);
        if self.config.bn_recalibration_batches > 0 {
            let _no_grad = tch::no_grad_guard();
            let batches = self.train.ordered_batches(self.config.batch_size, self.device);
            for b in batches.take(self.config.bn_recalibration_batches) {
                let _ = self.net.forward(&b?.0, true, Some(&gates))?;
            }
        }
        let e = evaluate_net(self.task.as_ref(), &self.net, &self.val, Some(&gates), self.device, 256)?;
        let compacted = self.compacted_channels();
        let m = EvalMetrics {
            step: self.step,
            loss: e.loss,
            accuracy: e.headline,
            more: e.more,
            cost: self.current_cost(),
            alive: widths,
            compacted,
            metric: self.task.metric_name().to_string(),
        };
        self.evals.push(m.clone());
        Ok(m)
    }

    /// The found architecture: the supernet graph pruned to the channels with a score above
    /// 0 (gate logit, or |γ| above the threshold), fitted to the target in target mode.
    pub fn export(&self) -> Result<(Graph, PruneReport)> {
        prune_keeping(&self.graph, &self.analysis, &self.alive_counts(), &self.gate_blocks())
    }
}

/// A value per gate as a value per channel (`b` channels per gate).
fn spread(t: Tensor, b: usize) -> Tensor {
    if b == 1 {
        t
    } else {
        t.repeat_interleave_self_int(b as i64, 0, None)
    }
}
