//! A search as one rank of a data-parallel group: joining it, agreeing on a stop, and the
//! checksum that shows every rank holds the same weights.

use super::*;

impl Search {
    /// Makes this search one rank of a data-parallel search: every variable (weights, BN
    /// statistics, gate logits) takes rank 0's values; from then on each step uses this
    /// rank's shard of a global batch of `batch_size × world` examples, averages the
    /// gradients of weights and gate logits over the ranks before the update, and decides
    /// NaN, divergence and λ on the loss averaged over the ranks, so every rank takes the
    /// same decisions. Gate noise is drawn from (seed, step): the same on every rank.
    pub fn set_collective(&mut self, c: Arc<dyn Collective>) -> Result<()> {
        match self.resumed_world {
            Some(w) if w != c.world() => {
                return Err(Error::Checkpoint(format!(
                    "the checkpoint was written by a {w}-rank search and this one has {} ranks; resume it with {w} (the global batch depends on it)",
                    c.world()
                )))
            }
            _ => {}
        }
        if self.config.batch_size * c.world() > self.train.len() {
            return Err(Error::config(
                "batch-size",
                format!(
                    "{} per rank × {} ranks is larger than the training split ({} examples): give at most {} per rank",
                    self.config.batch_size,
                    c.world(),
                    self.train.len(),
                    self.train.len() / c.world()
                ),
            ));
        }
        if c.device() != self.device {
            return Err(Error::Distributed(format!(
                "the process group carries tensors on {} but the search runs on {}; search on the group's device",
                device_name(c.device()),
                device_name(self.device)
            )));
        }
        let mut vars: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let refs: Vec<&Tensor> = vars.iter().map(|(_, t)| t).collect();
        c.broadcast(&refs, 0)?;
        self.collective = Some(c);
        // The epoch's order stays; its batches become global ones from the same position
        // (a resumed search continues where its checkpoint stopped).
        if let Some(pos) = self.batches.as_ref().map(|b| b.position()) {
            let mut b = self.epoch_batches(self.epoch);
            b.seek(pos);
            self.batches = Some(b);
        }
        Ok(())
    }

    /// FNV-1a over the bits of every trained variable (weights, BN affine parameters, gate
    /// logits; not the BN running statistics, which each rank keeps for itself) in name
    /// order: equal on every rank of a data-parallel search.
    pub fn checksum(&self) -> String {
        let mut vars: Vec<(String, Tensor)> =
            self.vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut bytes = Vec::new();
        for (name, t) in vars {
            let values = Vec::<f32>::try_from(t.detach().to_device(Device::Cpu).flatten(0, -1)).unwrap_or_default();
            bytes.extend(name.bytes().chain(values.iter().flat_map(|v| v.to_bits().to_le_bytes())));
        }
        format!("{:016x}", crate::checkpoint::fnv1a(bytes.into_iter()))
    }

    /// Whether to stop before the next step. With a collective every rank must agree (each
    /// sees its own Ctrl-C at its own moment), so the flags are averaged: any rank's stop
    /// stops all of them, at the same step.
    pub(super) fn stop_agreed(&self, cancel: &AtomicBool) -> Result<bool> {
        let mine = cancel.load(Ordering::Relaxed);
        let Some(c) = &self.collective else { return Ok(mine) };
        // On the group's device: NCCL takes only CUDA tensors.
        let flag = Tensor::full([1], if mine { 1.0 } else { 0.0 }, (Kind::Float, c.device()));
        c.all_reduce_mean(&[&flag])?;
        // Every WINDOW steps, with the window's metrics: counted with the step path's reads.
        let any = step::read_host(&flag)?.first().is_some_and(|&v| v > 0.0);
        if any {
            cancel.store(true, Ordering::Relaxed);
        }
        Ok(any)
    }

    /// This process's rank and the number of ranks (0, 1 without a collective).
    pub fn rank_world(&self) -> (usize, usize) {
        self.collective.as_ref().map_or((0, 1), |c| (c.rank(), c.world()))
    }
}
