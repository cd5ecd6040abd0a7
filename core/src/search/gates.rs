//! All gate logits of a search in one flat parameter.
//!
//! Sampling noise, gates, keep probabilities and per-group counts are a few kernels over
//! one tensor instead of ~11 per group (the FBNet ImageNet preset has 145 gated groups);
//! each group sees a `narrow` view. Checkpoints keep one tensor per group
//! (`gates.<group>`, and `m.` / `v.` for the optimizer's moments), as they always have: see
//! [`FlatGates::split`] and [`FlatGates::join`].

use crate::error::{Error, Result};
use crate::graph::Analysis;
use std::collections::BTreeMap;
use tch::{nn, Device, Kind, Tensor};

/// The name of the flat parameter in the var store and the optimizer.
pub(super) const FLAT: &str = "gates";

/// The flat logits and where each group's slice lies.
pub(super) struct FlatGates {
    pub(super) flat: Tensor,
    /// Per group: `(offset, width)` of its slice, None for groups without gates.
    spans: Vec<Option<(i64, i64)>>,
    /// The checkpoint name of each gated group's slice (`gates.<group>`).
    names: Vec<(usize, String)>,
    /// For every logit, the index of its group among the gated ones (int64).
    segment: Tensor,
}

impl FlatGates {
    /// Logits at `init` for every group where `gated(g)` holds; None if there is none.
    pub(super) fn new(root: &nn::Path, analysis: &Analysis, gated: impl Fn(usize) -> bool, init: f64) -> Option<Self> {
        let mut spans = Vec::with_capacity(analysis.groups.len());
        let (mut names, mut segment) = (Vec::new(), Vec::new());
        let mut offset = 0i64;
        for g in &analysis.groups {
            if !gated(g.id) {
                spans.push(None);
                continue;
            }
            let w = g.width as i64;
            spans.push(Some((offset, w)));
            segment.extend(std::iter::repeat(names.len() as i64).take(g.width));
            names.push((g.id, format!("{FLAT}.{}", g.name.replace('.', "_"))));
            offset += w;
        }
        if offset == 0 {
            return None;
        }
        let flat = root.set_group(1).var(FLAT, &[offset], nn::Init::Const(init));
        let segment = Tensor::from_slice(&segment).to_device(flat.device());
        Some(FlatGates { flat, spans, names, segment })
    }

    /// Group `g`'s slice of the logits (None if it has no gates): a view, so writes reach
    /// the parameter.
    pub(super) fn logits(&self, g: usize) -> Option<Tensor> {
        self.span(g).map(|(o, w)| self.flat.narrow(0, o, w))
    }

    /// `(offset, width)` of group `g`'s slice of the flat logits (None without gates).
    pub(super) fn span(&self, g: usize) -> Option<(i64, i64)> {
        self.spans.get(g).copied().flatten()
    }

    /// Flat indices of the channels `keep[g]` (indices within each group) of every gated
    /// group, in group order: how the logits of a compacted supernet are cut from these.
    pub(super) fn index_of(&self, keep: &[Vec<i64>]) -> Tensor {
        let idx: Vec<i64> = self
            .spans
            .iter()
            .zip(keep)
            .filter_map(|(s, k)| s.map(|(o, _)| k.iter().map(move |&c| o + c)))
            .flatten()
            .collect();
        Tensor::from_slice(&idx)
    }

    /// Views of `t` (laid out like the flat logits) per group; None for groups without gates.
    pub(super) fn views(&self, t: &Tensor) -> Vec<Option<Tensor>> {
        self.spans.iter().map(|s| s.map(|(o, w)| t.narrow(0, o, w))).collect()
    }

    /// Per gated group (in group order), the sum of `t` (laid out like the logits) over
    /// its channels: one kernel.
    pub(super) fn group_sums(&self, t: &Tensor) -> Tensor {
        let n = self.names.len() as i64;
        Tensor::zeros([n], (Kind::Float, t.device())).index_add(0, &self.segment, &t.to_kind(Kind::Float))
    }

    /// Checkpoint entries: `name` (the flat tensor under any prefix, e.g. `m.gates`)
    /// becomes one entry per group.
    pub(super) fn split(&self, prefix: &str, t: &Tensor) -> Vec<(String, Tensor)> {
        self.names
            .iter()
            .filter_map(|(g, name)| self.spans[*g].map(|(o, w)| (format!("{prefix}{name}"), t.narrow(0, o, w))))
            .collect()
    }

    /// Takes the per-group entries under `prefix` out of `tensors` and joins them into one
    /// flat tensor on `device`; None when the checkpoint has none of them (no moments yet).
    pub(super) fn join(
        &self,
        prefix: &str,
        tensors: &mut BTreeMap<String, Tensor>,
        device: Device,
    ) -> Result<Option<Tensor>> {
        let mut parts = Vec::with_capacity(self.names.len());
        for (g, name) in &self.names {
            let key = format!("{prefix}{name}");
            let Some(t) = tensors.remove(&key) else {
                if parts.is_empty() {
                    continue;
                }
                return Err(Error::Checkpoint(format!("`{key}` is missing: the checkpoint is from another network")));
            };
            let want = self.spans[*g].map_or(0, |(_, w)| w);
            if t.size() != [want] {
                return Err(Error::Checkpoint(format!(
                    "`{key}` has shape {:?}, the supernet's group has {want} channels: the checkpoint is from another network",
                    t.size()
                )));
            }
            parts.push(t.to_device(device).to_kind(Kind::Float));
        }
        match parts.len() {
            0 => Ok(None),
            n if n == self.names.len() => Ok(Some(Tensor::cat(&parts, 0))),
            _ => {
                Err(Error::Checkpoint(format!("the checkpoint has gate logits for only some groups under `{prefix}`")))
            }
        }
    }
}
