//! Gathering host batches ahead of the step on threads (several when the examples decode
//! files), into pinned (page-locked) memory when they go to a CUDA device, so that the
//! copy to the device can run while the step before it computes.

use super::batches::{batch_end, shard_part};
use super::Dataset;
use std::cell::Cell;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use tch::{Device, Tensor};

/// How many gathered batches may wait per thread: one for the next step and one being
/// copied; more only holds memory.
const AHEAD: usize = 2;

/// The batch starting at `start` of the order, on the host (where it ends follows from
/// `start`: [`batch_end`]).
pub(super) struct HostBatch {
    pub start: usize,
    pub images: Tensor,
    pub labels: Tensor,
}

/// Which batches to gather: the order, the batch size, whether a last partial batch is
/// dropped, and the key of random augmentation.
#[derive(Clone)]
pub(super) struct Plan {
    pub order: Arc<[i64]>,
    pub batch: usize,
    pub drop_last: bool,
    pub augment: Option<u64>,
    /// (rank, world) of [`super::Batches::shard`].
    pub shard: (usize, usize),
}

/// Threads gathering the batches of one order from a position on. With several, thread
/// `k` gathers batches `k`, `k + n`, `k + 2n` … whole (no thread waits for another within
/// a batch), and the batches are taken from the threads in turn, so they arrive in order.
pub(super) struct Prefetch {
    rx: Vec<Receiver<HostBatch>>,
    next: Cell<usize>,
    threads: Vec<JoinHandle<()>>,
}

impl Prefetch {
    /// Starts gathering at `pos` on `data.examples().workers()` threads (at least one);
    /// None if no thread could be started (the caller gathers the batches itself then).
    pub fn start(data: &Dataset, plan: Plan, pos: usize, device: Device) -> Option<Prefetch> {
        let mut starts = Vec::new();
        let mut at = pos;
        while let Some(end) = batch_end(plan.order.len(), plan.batch, plan.drop_last, at) {
            starts.push(at);
            at = end;
        }
        let starts: Arc<[usize]> = starts.into();
        let n = data.examples().workers().max(1);
        let pin = device.is_cuda().then_some(device);
        let (mut rx, mut threads) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for k in 0..n {
            let (data, plan, starts) = (data.clone(), plan.clone(), starts.clone());
            let (tx, r) = sync_channel(AHEAD);
            let t = std::thread::Builder::new().name(format!("figs-prefetch-{k}")).spawn(move || {
                for &start in starts.iter().skip(k).step_by(n) {
                    let end = batch_end(plan.order.len(), plan.batch, plan.drop_last, start).unwrap_or(start);
                    let (a, b) = shard_part(start, end, plan.shard);
                    let Ok((images, labels)) = gather(&data, &plan.order[a..b], plan.augment, pin) else {
                        return;
                    };
                    if tx.send(HostBatch { start, images, labels }).is_err() {
                        return; // the batches were dropped or moved elsewhere
                    }
                }
            });
            match t {
                Ok(t) => {
                    rx.push(r);
                    threads.push(t);
                }
                // Fewer threads than asked would break the turn-taking: none, then.
                Err(_) => return None,
            }
        }
        Some(Prefetch { rx, next: Cell::new(0), threads })
    }

    /// The next batch, waiting for it if it is not gathered yet; None if its thread
    /// stopped (an error, or the end of the order).
    pub fn next(&self) -> Option<HostBatch> {
        let k = self.next.get();
        self.next.set((k + 1) % self.rx.len());
        self.rx.get(k)?.recv().ok()
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Closing the channels first makes each thread's next send fail, so the joins wait
        // for one gather each at most.
        self.rx.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The stored inputs and int64 targets of `data`'s positions `pos`, pinned for `pin`'s copy
/// engine when given.
fn gather(data: &Dataset, pos: &[i64], augment: Option<u64>, pin: Option<Device>) -> crate::Result<(Tensor, Tensor)> {
    let (x, y) = data.examples().batch(&data.ids(pos), augment)?;
    Ok(match pin {
        // Page-locked memory is a limited resource: a batch that cannot be pinned goes
        // from pageable memory, as it did before. `_pin_memory`, not `pin_memory`: tch
        // always passes a device, and `pin_memory(device)` warns that the argument is
        // deprecated, on every call (two warnings per tensor, four per batch).
        Some(d) => (x.f_internal_pin_memory(d).unwrap_or(x), y.f_internal_pin_memory(d).unwrap_or(y)),
        None => (x, y),
    })
}
