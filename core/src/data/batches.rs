//! Batches of a data set in a given order, each moved to the device that trains on it.

use super::prefetch::{Plan, Prefetch};
use super::Dataset;
use crate::error::Result;
use std::sync::Arc;
use tch::{Device, Tensor};

/// An iterator of `(inputs, targets)` batches of a [`Dataset`] in a given order; an
/// example that cannot be read (a file gone, a decode error) ends it with that error.
pub struct Batches {
    data: Dataset,
    /// Positions in `data`.
    order: Arc<[i64]>,
    batch: usize,
    pos: usize,
    device: Device,
    drop_last: bool,
    /// The order (as ids of the examples) on their device, when they live on an
    /// accelerator: batches are gathered there, and the order crosses once per epoch
    /// instead of once per batch.
    order_on_device: Option<Tensor>,
    /// Whether batches are gathered ahead on a thread (started at the first batch drawn,
    /// and again after a seek).
    prefetch: bool,
    ahead: Option<Prefetch>,
    /// The key random augmentation is drawn from (training batches), or None.
    augment: Option<u64>,
    /// (rank, world): each batch of the order is split in `world` equal slices and only
    /// slice `rank` is read (a data-parallel rank decodes its own examples only).
    shard: (usize, usize),
}

impl Batches {
    pub(super) fn new(data: &Dataset, order: Vec<i64>, batch: usize, device: Device, drop_last: bool) -> Batches {
        let on = data.examples().device();
        let order_on_device = (on != Device::Cpu).then(|| Tensor::from_slice(&data.ids(&order)).to_device(on));
        // Host data for an accelerator (a set too large to live there) is gathered ahead,
        // into pinned memory on CUDA, so a step waits neither for the gather nor for a
        // copy from pageable memory. On the CPU the gather of tensors is a few
        // microseconds of a step of 100 ms and more: no thread, unless the examples are
        // decoded (an image folder), which takes longer than the step.
        let prefetch = on == Device::Cpu && (device != Device::Cpu || data.examples().workers() > 0);
        Batches {
            data: data.clone(),
            order: order.into(),
            batch: batch.max(1),
            pos: 0,
            device,
            drop_last,
            order_on_device,
            prefetch,
            ahead: None,
            augment: None,
            shard: (0, 1),
        }
    }

    /// Only slice `rank` of `world` equal slices of each batch (a partial remainder of a
    /// batch that does not divide goes to no rank); positions stay those of the whole
    /// order, so every rank agrees on where an epoch is.
    pub fn shard(mut self, rank: usize, world: usize) -> Batches {
        self.shard = (rank.min(world.max(1) - 1), world.max(1));
        self.ahead = None;
        self
    }

    /// Training batches: random augmentation drawn from `key` (and each example's id).
    pub fn augmenting(mut self, key: u64) -> Batches {
        self.augment = Some(key);
        self.ahead = None;
        self
    }

    /// The same batches, gathered ahead on a thread (`true`) or when drawn (`false`).
    /// Batches of data that lives on an accelerator are always gathered when drawn.
    pub fn with_prefetch(mut self, on: bool) -> Batches {
        self.prefetch = on && self.order_on_device.is_none();
        self.ahead = None;
        self
    }

    /// Whether batches are being gathered ahead (false once the thread failed and the
    /// batches are gathered when drawn).
    pub fn prefetching(&self) -> bool {
        self.prefetch
    }

    /// How far into the order the batches have gone.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Continues at `pos` (a [`Batches::position`] of the same order).
    pub fn seek(&mut self, pos: usize) {
        let pos = pos.min(self.order.len());
        if pos != self.pos {
            self.ahead = None;
        }
        self.pos = pos;
    }

    /// The batch at `pos` from the thread gathering ahead, moved to the device without
    /// waiting for the copy; None when there is no such thread or it could not deliver.
    fn from_ahead(&mut self) -> Option<(Tensor, Tensor)> {
        if !self.prefetch {
            return None;
        }
        if self.ahead.is_none() {
            let plan = Plan {
                order: self.order.clone(),
                batch: self.batch,
                drop_last: self.drop_last,
                augment: self.augment,
                shard: self.shard,
            };
            self.ahead = Prefetch::start(&self.data, plan, self.pos, self.device);
        }
        match self.ahead.as_ref().and_then(Prefetch::next) {
            Some(b) if b.start == self.pos => Some((
                b.images.to_device_(self.device, b.images.kind(), true, false),
                b.labels.to_device_(self.device, b.labels.kind(), true, false),
            )),
            // The thread failed (it stops on any error) or is out of step: gather here from
            // now on, which gives the same batches (or the error).
            _ => {
                self.ahead = None;
                self.prefetch = false;
                None
            }
        }
    }

    /// The stored inputs and targets of this shard's part of the positions `pos..end`, on
    /// `device`.
    fn gather(&self, end: usize) -> Result<(Tensor, Tensor)> {
        let e = self.data.examples();
        let (a, b) = shard_part(self.pos, end, self.shard);
        let (x, y) = match &self.order_on_device {
            Some(o) => e.gather(&o.narrow(0, a as i64, (b - a) as i64))?,
            None => e.batch(&self.data.ids(&self.order[a..b]), self.augment)?,
        };
        Ok((x.f_to_device(self.device)?, y.f_to_device(self.device)?))
    }
}

/// The part of the batch `start..end` that shard (rank, world) reads.
pub(super) fn shard_part(start: usize, end: usize, (rank, world): (usize, usize)) -> (usize, usize) {
    let b = (end - start) / world;
    (start + rank * b, start + (rank + 1) * b)
}

/// Where the batch starting at `pos` of an order of `len` examples ends, or None when the
/// epoch is over. A last batch smaller than `batch` is dropped when `drop_last` (so
/// batch-norm statistics never see a batch of one), unless it is the only one.
pub(super) fn batch_end(len: usize, batch: usize, drop_last: bool, pos: usize) -> Option<usize> {
    let rest = len.saturating_sub(pos);
    if rest == 0 || (drop_last && rest < batch && pos > 0) {
        return None;
    }
    Some((pos + batch).min(len))
}

impl Iterator for Batches {
    type Item = Result<(Tensor, Tensor)>;
    fn next(&mut self) -> Option<Self::Item> {
        let end = batch_end(self.order.len(), self.batch, self.drop_last, self.pos)?;
        let (x, y) = match self.from_ahead() {
            Some(b) => b,
            None => match self.gather(end) {
                Ok(b) => b,
                Err(e) => {
                    // The order is over for this iterator: the error is the last item.
                    self.pos = self.order.len();
                    return Some(Err(e));
                }
            },
        };
        self.pos = end;
        Some(Ok((self.data.examples().prepare(x), y)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Dataset, Normalize};
    use super::Batches;
    #[allow(unused_imports)]
    use crate::error::Result;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use tch::{Device, Kind, Tensor};

    /// 103 byte images (so batches of 16 leave a partial one) with distinct contents.
    fn bytes() -> Dataset {
        let n = 103;
        let images = Tensor::arange(n * 16, (Kind::Int64, Device::Cpu)).remainder(251).to_kind(Kind::Uint8);
        let labels = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(10).to_kind(Kind::Uint8);
        let normalize = Normalize { mean: Tensor::from(0.3f32), std: Tensor::from(0.2f32) };
        Dataset::from_bytes(images.view([n, 1, 4, 4]), labels, 10, normalize)
    }

    /// Every batch left; for batches gathered ahead, also checks that each came from the
    /// thread (a batch out of step would be gathered here and hide a wrong thread).
    fn all(mut b: Batches) -> Vec<(Tensor, Tensor)> {
        let ahead = b.prefetch;
        let out: Vec<_> = b.by_ref().map(|r| r.unwrap()).collect();
        assert_eq!(b.prefetch, ahead, "a batch gathered ahead was out of step");
        out
    }

    fn same(a: &[(Tensor, Tensor)], b: &[(Tensor, Tensor)]) {
        assert_eq!(a.len(), b.len());
        for ((xa, ya), (xb, yb)) in a.iter().zip(b) {
            assert_eq!(xa.kind(), Kind::Float);
            assert_eq!(ya.kind(), Kind::Int64);
            assert!(xa.equal(xb) && ya.equal(yb));
        }
    }

    #[test]
    fn gathered_ahead_equals_gathered_when_drawn() {
        let d = bytes();
        let shuffled = |prefetch| {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            all(d.shuffled_batches(16, &mut rng, Device::Cpu).with_prefetch(prefetch))
        };
        let (ahead, here) = (shuffled(true), shuffled(false));
        assert_eq!(ahead.len(), 6, "the partial seventh batch is dropped");
        same(&ahead, &here);
        let ordered = |prefetch| all(d.ordered_batches(16, Device::Cpu).with_prefetch(prefetch));
        let (ahead, here) = (ordered(true), ordered(false));
        assert_eq!(ahead.len(), 7, "evaluation keeps the partial batch");
        assert_eq!(ahead[6].1.size(), [7]);
        same(&ahead, &here);
    }

    #[test]
    fn a_seek_restarts_the_thread_at_the_new_position() {
        let d = bytes();
        let draw = |prefetch| {
            let mut b = d.ordered_batches(16, Device::Cpu).with_prefetch(prefetch);
            let mut out: Vec<_> = b.by_ref().take(3).map(|r| r.unwrap()).collect();
            b.seek(16);
            out.extend(b.by_ref().take(2).map(|r| r.unwrap()));
            b.seek(80);
            out.extend(b.by_ref().map(|r| r.unwrap()));
            assert_eq!(b.prefetch, prefetch, "a batch gathered ahead was out of step");
            out
        };
        let (ahead, here) = (draw(true), draw(false));
        assert_eq!(ahead.len(), 3 + 2 + 2);
        same(&ahead, &here);
        assert!(ahead[3].0.equal(&ahead[1].0), "after seek(16) the second batch comes again");
    }

    #[test]
    fn the_shards_of_a_batch_are_its_slices_in_rank_order() {
        let d = bytes();
        let draw = |rank, world, prefetch| {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            all(d.shuffled_batches(16, &mut rng, Device::Cpu).shard(rank, world).with_prefetch(prefetch))
        };
        let whole = draw(0, 1, false);
        for prefetch in [false, true] {
            let (r0, r1) = (draw(0, 2, prefetch), draw(1, 2, prefetch));
            assert_eq!(r0.len(), whole.len());
            for ((w, a), b) in whole.iter().zip(&r0).zip(&r1) {
                assert_eq!(a.0.size()[0], 8);
                assert!(Tensor::cat(&[&a.0, &b.0], 0).equal(&w.0) && Tensor::cat(&[&a.1, &b.1], 0).equal(&w.1));
            }
        }
    }

    #[test]
    fn dropping_batches_mid_epoch_stops_the_thread() {
        let d = bytes();
        let mut b = d.ordered_batches(1, Device::Cpu).with_prefetch(true);
        assert!(b.next().is_some());
        // The thread is blocked on a full channel here; dropping must not wait for ever.
        drop(b);
    }
}

#[cfg(test)]
mod positions {
    use super::super::Dataset;
    use tch::{Device, Kind, Tensor};

    /// `Dataset::batch` takes positions from its caller: one outside the set (of a split,
    /// whose index would be read out of bounds) is an error naming it, never a panic.
    #[test]
    fn a_position_outside_the_set_is_an_error() {
        let images = Tensor::zeros([10, 1, 2, 2], (Kind::Float, Device::Cpu));
        let labels = Tensor::arange(10, (Kind::Int64, Device::Cpu));
        let (train, _) = Dataset::new(images, labels, 10).split(0.3, 1).unwrap();
        assert_eq!(train.batch(&[0, 6]).unwrap().1.size(), [2]);
        for bad in [7, -1, 1000] {
            let e = train.batch(&[0, bad]).unwrap_err().to_string();
            assert!(e.contains(&format!("position {bad}")) && e.contains("7 examples"), "{e}");
        }
    }
}
