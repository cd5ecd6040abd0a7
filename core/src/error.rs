//! The one error type of the `figs` library: every variant names the thing that is wrong
//! and, where there is one, the fix.

use std::path::PathBuf;

/// Errors returned by the `figs` library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The graph is malformed; `node` names the offending node.
    #[error("graph error at node `{node}`: {message}")]
    Graph { node: String, message: String },

    /// A graph-level problem that belongs to no single node.
    #[error("graph error: {0}")]
    GraphGlobal(String),

    /// A graph file that parses but is not a valid graph: which file, and why.
    #[error("{}: {source}", path.display())]
    GraphFile { path: std::path::PathBuf, source: Box<Error> },

    /// A session call made before what it needs (no data, no supernet, no search yet) or
    /// with an argument that names nothing; the message says what to do first.
    #[error("{0}")]
    Session(String),

    /// A configuration value is out of range or inconsistent.
    #[error("invalid setting `{name}`: {message}")]
    Config { name: String, message: String },

    /// A data set file is missing or unreadable.
    #[error("data set file {path}: {message}")]
    Data { path: PathBuf, message: String },

    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `figs export --onnx` failed: PyTorch's exporter or the onnxruntime check.
    #[error("ONNX export of {path}: {message}")]
    Onnx { path: PathBuf, message: String },

    /// A COCO-format file (ground truth or detections) is not what COCO's tools read.
    #[error("COCO file {path}: {message}")]
    Coco { path: PathBuf, message: String },

    /// A JSON document could not be parsed or written.
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// The loss became NaN or infinite; the search state before the step is kept.
    #[error("the loss became {value} at step {step} (task loss {task}, regularizer {reg}); lower the learning rates or λ and run again")]
    NonFiniteLoss { step: u64, value: f64, task: f64, reg: f64 },

    /// The loss was finite but a gradient was not (NaN or infinite elements); the search
    /// state before the step is kept.
    #[error(
        "a gradient became NaN or infinite at step {step} (loss {loss}); lower the learning rates or λ and run again"
    )]
    NonFiniteGradient { step: u64, loss: f64 },

    /// The loss grew by orders of magnitude over its best recent value: the search is
    /// diverging even though the numbers are still finite.
    #[error("the search diverged at step {step}: task loss {value:.4e}, {ratio:.1e}× its best running average {best:.4}; lower the learning rates or λ and run again")]
    Diverged { step: u64, value: f64, best: f64, ratio: f64 },

    /// The main job refused or stopped (a run directory in the way, a failed search).
    #[error("{0}")]
    Job(String),

    /// A checkpoint cannot be written, read or used here; the message says which and why.
    #[error("checkpoint: {0}")]
    Checkpoint(String),

    /// A collective operation of a data-parallel search failed (a peer died, a timeout).
    #[error("distributed: {0}")]
    Distributed(String),

    /// A device was requested that this machine or this libtorch build does not have.
    #[error("device `{requested}` is not available: {message}")]
    Device { requested: String, message: String },

    /// A plugin could not be loaded or failed; the host stays usable.
    #[error("plugin {path}: {message}")]
    Plugin { path: PathBuf, message: String },

    /// A regularizer returned something unusable (a non-scalar, NaN or gradient-free
    /// penalty, a negative cost) or failed; the search state before the step is kept.
    #[error("regularizer `{name}`: {message}")]
    Regularizer { name: String, message: String },

    /// A weight file is unreadable, or its tensors do not fit the architecture.
    #[error("weights {path}: {message}")]
    Weights { path: PathBuf, message: String },

    /// Drawing or saving a plot failed.
    #[error("plot {path}: {message}")]
    Plot { path: PathBuf, message: String },

    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// `Result` with the `figs` error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn graph(node: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Graph { node: node.into(), message: message.into() }
    }

    pub(crate) fn config(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { name: name.into(), message: message.into() }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}
