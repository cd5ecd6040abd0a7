//! A search that gets cheaper as it prunes. Gated channels whose logit has fallen below
//! `−compact_below` leave the supernet: it is rebuilt at the smaller widths, with its
//! weights, BN statistics, gate logits and optimizer moments sliced to the channels that
//! stay, so every later step computes less. Every group keeps at least its highest-logit
//! channel, so no branch disappears and the cut is plain slicing (no constant to fold).
//! The rule and the numbers behind it: docs/PERFORMANCE.md, "Compaction".

use super::gates::{FlatGates, FLAT};
use super::step::{read_host, StepConsts};
use super::Search;
use crate::error::{Error, Result};
use crate::export::slice_named;
use crate::graph::prune;
use crate::net::Net;
use std::collections::{BTreeMap, HashMap};
use tch::{nn, Tensor};

/// Steps between two compaction checks (each reads the gate logits once). A check is due
/// after every step whose number is a multiple of it, however the caller splits the run:
/// the ranks of a data-parallel search and a resumed search compact at the same steps as
/// one run straight through. Windows end at multiples of [`super::step::WINDOW`], so this
/// must be one too.
pub const COMPACT_EVERY: u64 = 100;
const _: () = assert!(COMPACT_EVERY % super::step::WINDOW == 0);

/// Gates a group of `width` channels (`supernet_width` before any compaction), gated in
/// blocks of `block` channels, keeps when its per-gate logits are `a`: those at or above
/// −`t`, at least one, and, where the supernet's width was a multiple of 8, rounded up so
/// the channels are too: oneDNN's channels-last convolutions on the CPU work in blocks
/// of 8 floats (docs/PERFORMANCE.md).
fn keep_count(a: &[f64], t: f64, block: usize, width: usize, supernet_width: usize) -> usize {
    let n = a.iter().filter(|&&x| x >= -t).count().max(1);
    if supernet_width % 8 == 0 && 8 % block == 0 {
        let per = 8 / block;
        n.div_ceil(per).saturating_mul(per).min(width / block)
    } else {
        n
    }
}

impl Search {
    /// Compacts if a check is due: after step k·[`COMPACT_EVERY`] (decided by the step
    /// number alone; a repeated check at the same step removes nothing more).
    pub(super) fn compact_if_due(&mut self) -> Result<()> {
        if self.config.compact_below.is_none() || self.step == 0 || self.step % COMPACT_EVERY != 0 {
            return Ok(());
        }
        self.compact().map(|_| ())
    }

    /// Removes from the supernet every gated channel whose logit is below
    /// `−compact_below` (keeping each group's best channel) and returns how many went; 0,
    /// changing nothing, when none is below or compaction is off. The network that
    /// [`Search::export`] returns and what [`Search::eval_logits`] computes do not change:
    /// those channels are closed there already.
    pub fn compact(&mut self) -> Result<usize> {
        let (Some(t), Some(f)) = (self.config.compact_below, &self.gates) else { return Ok(0) };
        let logits = read_host(&f.flat)?;
        let mut keep = Vec::with_capacity(self.analysis.groups.len());
        let mut removed = 0;
        for g in &self.analysis.groups {
            let Some((offset, blocks, b)) = f.block_span(g.id) else {
                keep.push((0..g.width as i64).collect());
                continue;
            };
            let a = &logits[offset as usize..(offset + blocks) as usize];
            let n = keep_count(a, t, b as usize, g.width, self.supernet_analysis.groups[g.id].width);
            // The n highest logits (those at or above −T, and the best of the rest).
            let mut k: Vec<i64> = (0..blocks).collect();
            k.sort_by(|&x, &y| a[y as usize].total_cmp(&a[x as usize]));
            k.truncate(n);
            k.sort_unstable();
            let k: Vec<i64> = k.into_iter().flat_map(|j| j * b..(j + 1) * b).collect();
            removed += g.width - k.len();
            keep.push(k);
        }
        if removed > 0 {
            self.compact_to(&keep)?;
        }
        Ok(removed)
    }

    /// Rebuilds the supernet with the channels `keep[g]` of each group (indices into the
    /// current supernet, ascending, at least one per group). Nothing changes on an error.
    pub(super) fn compact_to(&mut self, keep: &[Vec<i64>]) -> Result<()> {
        let groups = &self.analysis.groups;
        if keep.len() != groups.len()
            || keep.iter().zip(groups).any(|(k, g)| {
                k.is_empty() || k.windows(2).any(|w| w[0] >= w[1]) || k.iter().any(|&c| c < 0 || c as usize >= g.width)
            })
        {
            return Err(Error::Checkpoint(
                "the compaction does not fit this supernet's channel groups: the checkpoint is from another network"
                    .into(),
            ));
        }
        let counts: Vec<usize> = keep.iter().map(Vec::len).collect();
        let (graph, report) = prune(&self.graph, &self.analysis, &counts)?;
        if !report.removed_nodes.is_empty() || !report.kept_at_one.is_empty() || !report.folded.is_empty() {
            return Err(Error::Session(format!(
                "compaction would remove nodes ({:?}); it only slices channels, so it was skipped",
                report.removed_nodes
            )));
        }
        let kept: Vec<Tensor> = keep.iter().map(|k| Tensor::from_slice(k)).collect();
        // Weights and BN statistics, then each optimizer moment, sliced alike.
        let vars = self.vs.variables();
        let none = HashMap::new();
        let slice = |lookup: &dyn Fn(&str) -> Option<Tensor>, required: bool| {
            slice_named(&self.net, lookup, &kept, &graph, &none, required)
        };
        let mut weights: BTreeMap<String, Tensor> = slice(&|n| vars.get(n).map(|t| t.detach()), true)?
            .into_iter()
            .map(|(n, t)| (format!("net.{n}"), t))
            .collect();
        let state: HashMap<String, Tensor> = self.opt.state().into_iter().collect();
        let mut moments = BTreeMap::new();
        for prefix in ["m.", "v."] {
            let sliced = slice(&|n| state.get(&format!("{prefix}{n}")).map(|t| t.detach()), false)?;
            moments.extend(sliced.into_iter().map(|(n, t)| (format!("{prefix}net.{n}"), t)));
        }
        if let Some(f) = &self.gates {
            let idx = f.index_of(keep).to_device(f.flat.device());
            weights.insert(FLAT.to_string(), f.flat.detach().index_select(0, &idx));
            for prefix in ["m.", "v."] {
                if let Some(t) = state.get(&format!("{prefix}{FLAT}")) {
                    moments.insert(format!("{prefix}{FLAT}"), t.index_select(0, &idx));
                }
            }
        }
        // The smaller supernet, filled with those values.
        let analysis = graph.analyze()?;
        let vs = nn::VarStore::new(self.device);
        let mut net = Net::new(&vs.root(), &graph)?;
        let blocks = self.gate_blocks();
        let gates = FlatGates::new(&vs.root(), &analysis, |g| analysis.groups[g].gated, |g| blocks[g], 0.0);
        let mut fresh = vs.variables();
        if fresh.len() != weights.len() {
            return Err(Error::Session(format!(
                "compaction sliced {} tensors for a supernet of {}; this is a bug in figs",
                weights.len(),
                fresh.len()
            )));
        }
        tch::no_grad(|| -> Result<()> {
            for (name, var) in fresh.iter_mut() {
                let t = weights
                    .remove(name)
                    .ok_or_else(|| Error::Session(format!("compaction lost `{name}`; this is a bug in figs")))?;
                var.copy_(&t.to_device(var.device()).to_kind(var.kind()));
            }
            Ok(())
        })?;
        net.set_channels_last(self.config.memory_format.channels_last(self.device));
        net.set_precision(self.config.precision);
        let mut opt = super::build::optimizer(&vs, &self.config);
        opt.load_state(self.opt.steps(), moments)?;
        let bound = self.regularizer.bind(&graph, &self.config.regularizer_params)?;
        let widths: Vec<usize> = analysis.groups.iter().map(|g| g.width).collect();
        let searched =
            (0..widths.len()).filter(|&g| gates.as_ref().is_some_and(|f| f.block_span(g).is_some())).collect();
        let consts = StepConsts::new(&widths, searched, self.device, Some(self.consts.supernet_width()));
        self.kept = self.kept.iter().zip(keep).map(|(old, k)| k.iter().map(|&c| old[c as usize]).collect()).collect();
        self.graph = graph;
        self.analysis = analysis;
        self.net = net;
        self.vs = vs;
        self.opt = opt;
        self.gates = gates;
        self.bound = bound;
        self.consts = consts;
        Ok(())
    }

    /// Gated channels compaction has removed so far.
    pub fn compacted_channels(&self) -> usize {
        self.supernet_analysis.groups.iter().zip(&self.kept).map(|(g, k)| g.width - k.len()).sum()
    }

    /// Per group, the supernet's channels still in the compacted supernet (ascending).
    pub fn kept_channels(&self) -> &[Vec<usize>] {
        &self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::keep_count;

    #[test]
    fn a_group_keeps_its_open_channels_in_blocks_of_8_and_never_none() {
        let a = [3.0, -2.5, 0.1, -1.9, -7.0];
        assert_eq!(keep_count(&a, 2.0, 1, 5, 5), 3, "−2.5 and −7 go; the width was not a block of 8");
        assert_eq!(keep_count(&a, 2.0, 1, 5, 16), 5, "rounded up to 8, capped at the current width");
        let low = [-9.0; 24];
        assert_eq!(keep_count(&low, 2.0, 1, 24, 24), 8, "a block of 8 at least");
        assert_eq!(keep_count(&low, 2.0, 1, 24, 23), 1, "and at least one");
        let mut mixed = [-9.0; 48];
        mixed[..17].fill(1.0);
        assert_eq!(keep_count(&mixed, 2.0, 1, 48, 48), 24);
    }

    #[test]
    fn gate_blocks_are_kept_whole() {
        // Six gates of 8 channels: two open blocks are 16 channels, a multiple of 8 already.
        let a = [1.0, -5.0, 0.5, -3.0, -9.0, -9.0];
        assert_eq!(keep_count(&a, 2.0, 8, 48, 48), 2);
        // Gates of 4 on a width of 48: three open gates round up to four (16 channels).
        let b = [1.0, 1.0, 1.0, -9.0, -9.0, -9.0, -9.0, -9.0, -9.0, -9.0, -9.0, -9.0];
        assert_eq!(keep_count(&b, 2.0, 4, 48, 48), 4);
    }
}
