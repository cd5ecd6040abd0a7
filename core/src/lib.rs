//! figs: Fine-Grained Stochastic Architecture Search (FiGS) on libtorch.
//!
//! One graph IR ([`graph::Graph`]) flows through everything: a search space produces it,
//! [`net::Net`] builds a gated supernet from it, [`search::Search`] trains weights and
//! Logistic-Sigmoid gates ([`gate`]) under a resource penalty ([`regularizer`], [`cost`]), and
//! [`search::Search::export`] returns the pruned graph — the found architecture — which the
//! same interpreter rebuilds for retraining ([`train`]); [`export`] carries its weights out
//! as safetensors and as a plain PyTorch module.

pub mod batch_norm_cl;
pub(crate) mod checkpoint;
pub mod collective;
pub mod config;
pub mod cost;
pub mod count;
pub mod data;
pub mod detect;
pub mod device;
pub mod error;
pub mod export;
mod ffi;
pub mod fused_adam;
pub mod gate;
pub mod graph;
pub(crate) mod io;
pub mod job;
pub mod latency;
mod malloc;
pub mod net;
pub mod op_times;
pub mod optim;
pub mod pareto;
pub mod plot;
pub mod plugin;
pub mod pointwise;
pub mod precision;
pub mod regularizer;
pub(crate) mod run_dir;
pub mod search;
pub(crate) mod seed;
pub mod session;
pub(crate) mod settings_diff;
pub mod space;
pub mod table;
pub mod task;
pub mod train;
pub mod units;

#[cfg(test)]
pub(crate) mod testutil;

// The types a user of the library starts from; the modules hold the rest.
pub use config::Config;
pub use data::{DataSource, Dataset, TrainTest};
pub use error::{Error, Result};
pub use graph::Graph;
pub use job::{Job, JobEvent, JobReport};
pub use malloc::keep_freed_memory;
pub use regularizer::Regularizer;
pub use search::{Search, SearchConfig};
pub use session::Session;
pub use space::SearchSpace;
pub use task::Task;
