//! Gathering host batches ahead of the step on a thread, into pinned (page-locked) memory
//! when they go to a CUDA device, so that the copy to the device can run while the step
//! before it computes.

use super::batches::batch_end;
use super::Dataset;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use tch::{Device, Tensor};

/// How many gathered batches may wait: one for the next step and one being copied; more
/// only holds memory.
const AHEAD: usize = 2;

/// The batch starting at `start` of the order, on the host (where it ends follows from
/// `start`: [`batch_end`]).
pub(super) struct HostBatch {
    pub start: usize,
    pub images: Tensor,
    pub labels: Tensor,
}

/// A thread gathering the batches of one order from a position on.
pub(super) struct Prefetch {
    rx: Option<Receiver<HostBatch>>,
    thread: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Starts gathering at `pos`; None if no thread could be started (the caller gathers
    /// the batches itself then).
    pub fn start(
        data: &Dataset,
        order: Arc<[i64]>,
        batch: usize,
        drop_last: bool,
        pos: usize,
        device: Device,
    ) -> Option<Prefetch> {
        let data = data.clone();
        let (tx, rx) = sync_channel(AHEAD);
        let pin = device.is_cuda().then_some(device);
        let thread = std::thread::Builder::new()
            .name("figs-prefetch".into())
            .spawn(move || {
                let mut start = pos;
                while let Some(end) = batch_end(order.len(), batch, drop_last, start) {
                    let Ok((images, labels)) = gather(&data, &order[start..end], pin) else {
                        return;
                    };
                    if tx.send(HostBatch { start, images, labels }).is_err() {
                        return; // the batches were dropped or moved elsewhere
                    }
                    start = end;
                }
            })
            .ok()?;
        Some(Prefetch { rx: Some(rx), thread: Some(thread) })
    }

    /// The next batch, waiting for it if it is not gathered yet; None if the thread
    /// stopped (an error, or the end of the order).
    pub fn next(&self) -> Option<HostBatch> {
        self.rx.as_ref()?.recv().ok()
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Closing the channel first makes the thread's next send fail, so the join waits
        // for one gather at most.
        self.rx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The stored inputs and int64 targets of `data`'s positions `pos`, pinned for `pin`'s copy
/// engine when given.
fn gather(data: &Dataset, pos: &[i64], pin: Option<Device>) -> crate::Result<(Tensor, Tensor)> {
    let (x, y) = data.examples().batch(&data.ids(pos))?;
    Ok(match pin {
        // Page-locked memory is a limited resource: a batch that cannot be pinned goes
        // from pageable memory, as it did before. `_pin_memory`, not `pin_memory`: tch
        // always passes a device, and `pin_memory(device)` warns that the argument is
        // deprecated, on every call (two warnings per tensor, four per batch).
        Some(d) => (x.f_internal_pin_memory(d).unwrap_or(x), y.f_internal_pin_memory(d).unwrap_or(y)),
        None => (x, y),
    })
}
