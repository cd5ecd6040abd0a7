//! All gate logits of a search in one flat parameter.
//!
//! Sampling noise, gates, keep probabilities and per-group counts are a few kernels over
//! one tensor instead of ~11 per group (the FBNet ImageNet preset has 145 gated groups);
//! each group sees a `narrow` view. Checkpoints keep one tensor per group
//! (`gates.<group>`, and `m.` / `v.` for the optimizer's moments), as they always have: see
//! [`FlatGates::split`] and [`FlatGates::join`].
//!
//! With `width-multiple` K above 1 a logit gates a block of channels (K, or
//! gcd(width, K) for a group whose supernet width is not a multiple of K), so every width
//! the search reaches is a multiple of the block: the flat parameter holds one logit per
//! block and [`FlatGates::channels`] spreads a block's value over its channels, which is
//! what the network, the regularizer and the counts see.

use crate::error::{Error, Result};
use crate::graph::Analysis;
use std::collections::BTreeMap;
use tch::{nn, Device, Kind, Tensor};

/// The name of the flat parameter in the var store and the optimizer.
pub(super) const FLAT: &str = "gates";

/// The gate block of a group of `supernet_width` channels for `width-multiple` `k`: the
/// largest block that divides the width and `k` (a width that is not a multiple of `k`
/// could not be reached otherwise).
pub(crate) fn block_of(supernet_width: usize, k: usize) -> usize {
    let (mut a, mut b) = (supernet_width.max(1), k.max(1));
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The flat logits and where each group's slice lies.
pub(super) struct FlatGates {
    pub(super) flat: Tensor,
    /// Per group: `(offset, width)` of its channels in the channel layout that
    /// [`FlatGates::channels`] makes, None for groups without gates.
    spans: Vec<Option<(i64, i64)>>,
    /// Per group: `(offset, blocks, block)` of its logits in `flat`.
    blocks: Vec<Option<(i64, i64, i64)>>,
    /// The checkpoint name of each gated group's slice (`gates.<group>`).
    names: Vec<(usize, String)>,
    /// For every channel, the index of its group among the gated ones (int64).
    segment: Tensor,
    /// For every channel, the index of its logit in `flat`; None when every block is one
    /// channel.
    spread: Option<Tensor>,
}

impl FlatGates {
    /// Logits at `init` for every group where `gated(g)` holds, one per block of
    /// `block(g)` channels (which must divide the group's width); None if there is none.
    pub(super) fn new(
        root: &nn::Path,
        analysis: &Analysis,
        gated: impl Fn(usize) -> bool,
        block: impl Fn(usize) -> usize,
        init: f64,
    ) -> Option<Self> {
        let mut spans = Vec::with_capacity(analysis.groups.len());
        let mut blocks = Vec::with_capacity(analysis.groups.len());
        let (mut names, mut segment, mut spread) = (Vec::new(), Vec::new(), Vec::new());
        let (mut offset, mut flat_offset) = (0i64, 0i64);
        for g in &analysis.groups {
            if !gated(g.id) {
                spans.push(None);
                blocks.push(None);
                continue;
            }
            let b = block(g.id).max(1);
            debug_assert_eq!(g.width % b, 0, "a gate block must divide its group's width");
            let (w, n) = (g.width as i64, (g.width / b) as i64);
            spans.push(Some((offset, w)));
            blocks.push(Some((flat_offset, n, b as i64)));
            segment.extend(std::iter::repeat(names.len() as i64).take(g.width));
            spread.extend((0..w).map(|c| flat_offset + c / b as i64));
            names.push((g.id, format!("{FLAT}.{}", g.name.replace('.', "_"))));
            offset += w;
            flat_offset += n;
        }
        if offset == 0 {
            return None;
        }
        let flat = root.set_group(1).var(FLAT, &[flat_offset], nn::Init::Const(init));
        let segment = Tensor::from_slice(&segment).to_device(flat.device());
        let spread = (flat_offset != offset).then(|| Tensor::from_slice(&spread).to_device(flat.device()));
        Some(FlatGates { flat, spans, blocks, names, segment, spread })
    }

    /// `t`, laid out like the flat logits, with each block's value on each of its channels.
    pub(super) fn channels(&self, t: &Tensor) -> Tensor {
        match &self.spread {
            Some(i) => t.index_select(0, i),
            None => t.shallow_clone(),
        }
    }

    /// Group `g`'s logit per channel (None if it has no gates): a view of the parameter
    /// when each channel has its own gate.
    pub(super) fn logits(&self, g: usize) -> Option<Tensor> {
        let (o, n, b) = self.block_span(g)?;
        let a = self.flat.narrow(0, o, n);
        Some(if b == 1 { a } else { a.repeat_interleave_self_int(b, 0, None) })
    }

    /// Group `g`'s logits, one per block: a view, so writes reach the parameter.
    pub(super) fn block_logits(&self, g: usize) -> Option<Tensor> {
        self.block_span(g).map(|(o, n, _)| self.flat.narrow(0, o, n))
    }

    /// `(offset, blocks, block size)` of group `g`'s slice of the flat logits.
    pub(super) fn block_span(&self, g: usize) -> Option<(i64, i64, i64)> {
        self.blocks.get(g).copied().flatten()
    }

    /// Channels per gate of group `g` (1 for groups without gates).
    pub(super) fn block(&self, g: usize) -> usize {
        self.block_span(g).map_or(1, |(_, _, b)| b as usize)
    }

    /// Flat indices of the logits of the channels `keep[g]` (indices within each group,
    /// whole blocks) of every gated group, in group order: how the logits of a compacted
    /// supernet are cut from these.
    pub(super) fn index_of(&self, keep: &[Vec<i64>]) -> Tensor {
        let idx: Vec<i64> = self
            .blocks
            .iter()
            .zip(keep)
            .filter_map(|(s, k)| s.map(|(o, _, b)| k.iter().filter(move |&&c| c % b == 0).map(move |&c| o + c / b)))
            .flatten()
            .collect();
        Tensor::from_slice(&idx)
    }

    /// Views of `t` (laid out like the channels) per group; None for groups without gates.
    pub(super) fn views(&self, t: &Tensor) -> Vec<Option<Tensor>> {
        self.spans.iter().map(|s| s.map(|(o, w)| t.narrow(0, o, w))).collect()
    }

    /// Per gated group (in group order), the sum of `t` (laid out like the channels) over
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
            .filter_map(|(g, name)| self.blocks[*g].map(|(o, n, _)| (format!("{prefix}{name}"), t.narrow(0, o, n))))
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
            let (want, block) = self.blocks[*g].map_or((0, 1), |(_, n, b)| (n, b));
            if t.size() != [want] {
                let per =
                    if block == 1 { "channels".to_string() } else { format!("gates (blocks of {block} channels)") };
                return Err(Error::Checkpoint(format!(
                    "`{key}` has shape {:?}, the supernet's group has {want} {per}: the checkpoint is from another network or width-multiple",
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

#[cfg(test)]
mod tests {
    use super::block_of;

    #[test]
    fn a_block_divides_the_width_and_the_multiple() {
        assert_eq!(block_of(96, 8), 8);
        assert_eq!(block_of(20, 8), 4);
        assert_eq!(block_of(21, 8), 1);
        assert_eq!(block_of(16, 1), 1);
        assert_eq!(block_of(320, 16), 16);
    }
}
