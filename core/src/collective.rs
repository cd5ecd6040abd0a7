//! The collectives a data-parallel search needs, as a trait: core stays free of any
//! distributed back end; `figs-dist` implements it on PyTorch's c10d.

use crate::error::Result;
use tch::{Device, Tensor};

/// A group of processes that search together (one per device or CPU socket).
pub trait Collective: Send + Sync {
    /// This process's index, 0 ≤ rank < world.
    fn rank(&self) -> usize;
    /// Number of processes.
    fn world(&self) -> usize;
    /// The device of every tensor the collectives take (NCCL: this rank's GPU; Gloo: the
    /// CPU). A tensor the search makes for a collective is made there.
    fn device(&self) -> Device;
    /// Replaces each tensor by its mean over the group.
    fn all_reduce_mean(&self, tensors: &[&Tensor]) -> Result<()>;
    /// Gives every process `root`'s values of `tensors`.
    fn broadcast(&self, tensors: &[&Tensor], root: usize) -> Result<()>;
}
