//! The found network leaves figs intact: its architecture (`arch.json`, a [`Graph`]), its
//! weights sliced from the supernet (`arch.safetensors`, PyTorch state-dict names), and a
//! self-contained PyTorch module (`model.py`) that rebuilds it and loads them.
//!
//! Invariant (DESIGN §9): with deterministic gates in eval mode, the supernet and the
//! exported network with its exported weights compute the same logits.

mod detect_py;
pub mod onnx;
mod pad;
mod pytorch;
pub(crate) mod safetensors_file;
mod weights;

pub use pytorch::module_source;
pub use safetensors_file::{read_weights, write_weights};
pub(crate) use weights::{slice_named, slice_weights};

use crate::error::{Error, Result};
use crate::graph::{Graph, PruneReport};
use crate::net::Net;
use std::path::{Path, PathBuf};
use tch::{nn, Device, Tensor};

/// Named tensors: `<node>.<parameter>` (`block3.expand.conv.weight`,
/// `block3.expand.bn.running_mean`), as in a PyTorch state dict.
pub type Weights = Vec<(String, Tensor)>;

/// A found network with its weights.
#[derive(Debug)]
pub struct Exported {
    pub graph: Graph,
    pub report: PruneReport,
    /// On the CPU, float32.
    pub weights: Weights,
}

/// The PyTorch module file that [`Exported::save_pytorch`] writes.
pub const MODULE_FILE: &str = "model.py";

/// Where the weights of the architecture file `arch` live: beside it, same stem,
/// `.safetensors` (`runs/x/arch.json` → `runs/x/arch.safetensors`).
pub fn weights_path(arch: &Path) -> PathBuf {
    arch.with_extension("safetensors")
}

impl Exported {
    /// Writes the architecture to `arch` and the weights beside it ([`weights_path`]);
    /// both atomically. Returns the weight file's path.
    pub fn save(&self, arch: &Path) -> Result<PathBuf> {
        let w = weights_path(arch);
        write_weights(&w, &self.weights)?;
        self.graph.save(arch)?;
        Ok(w)
    }

    /// Writes `dir/arch.json`, `dir/arch.safetensors` and `dir/model.py`, a plain
    /// `torch.nn` module that rebuilds the network and loads the weights. Returns the paths.
    pub fn save_pytorch(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let arch = dir.join("arch.json");
        let w = self.save(&arch)?;
        Ok(vec![arch, w, self.save_module(dir)?])
    }

    /// Writes only `dir/model.py` (it loads `arch.safetensors` from beside itself).
    pub fn save_module(&self, dir: &Path) -> Result<PathBuf> {
        let module = dir.join(MODULE_FILE);
        crate::io::write_atomic(&module, module_source(&self.graph)?.as_bytes())?;
        Ok(module)
    }

    /// Loads an architecture file and the weights beside it, and checks that they fit.
    pub fn load(arch: &Path) -> Result<Exported> {
        let graph = Graph::load(arch)?;
        let path = weights_path(arch);
        let weights = read_weights(&path)?;
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&vs.root(), &graph)?;
        load_into(&vs, &weights, &path.display().to_string())?;
        Ok(Exported { graph, report: PruneReport::default(), weights })
    }
}

/// Builds `graph` on `device` and loads `weights` into it. Every parameter and BN
/// statistic must be present with its shape; extra tensors are an error too (they mean the
/// file belongs to another architecture).
pub fn build_with_weights(graph: &Graph, weights: &[(String, Tensor)], device: Device) -> Result<(nn::VarStore, Net)> {
    let vs = nn::VarStore::new(device);
    let net = Net::new(&vs.root(), graph)?;
    load_into(&vs, weights, &graph.name)?;
    Ok((vs, net))
}

/// Copies `weights` into the network parameters of `vs` (names without the `net.` prefix);
/// `what` names the weights' origin in errors.
pub fn load_into(vs: &nn::VarStore, weights: &[(String, Tensor)], what: &str) -> Result<()> {
    let bad = |m: String| Error::Weights { path: what.into(), message: m };
    let mut vars = vs.variables();
    vars.retain(|k, _| k.starts_with("net."));
    let _no_grad = tch::no_grad_guard();
    for (name, t) in weights {
        let Some(mut v) = vars.remove(&format!("net.{name}")) else {
            return Err(bad(format!(
                "tensor `{name}` has no place in the network; is this the weight file of another architecture?"
            )));
        };
        if v.size() != t.size() {
            return Err(bad(format!(
                "tensor `{name}` has shape {:?} but the network needs {:?}; is this the weight file of another architecture?",
                t.size(),
                v.size()
            )));
        }
        v.copy_(&t.to_kind(v.kind()).to_device(v.device()));
    }
    if let Some(missing) = vars.keys().map(|k| k.trim_start_matches("net.")).min() {
        return Err(bad(format!("no tensor `{missing}` ({} missing in all)", vars.len())));
    }
    Ok(())
}
