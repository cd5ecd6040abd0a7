//! Checkpoint directories of a search: `manifest.json` (figs version, graph hash, config,
//! counters, λ, history) beside `weights.safetensors` (every variable, BN statistics and
//! gate logits included) and `optim.safetensors` (the optimizer's moments).
//!
//! A checkpoint is written into a temporary directory, every file fsynced, and renamed
//! into place, so a crash at any moment leaves either the whole new checkpoint or none.

use crate::error::{Error, Result};
use crate::export::safetensors_file::{read_weights, write_weights};
use crate::graph::Graph;
use crate::search::{EvalMetrics, SearchConfig, StepMetrics};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// Version of the checkpoint layout; another one is refused.
pub const FORMAT: u32 = 1;

/// Everything of a search's state that is not a tensor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub figs_version: String,
    /// [`graph_hash`] of the supernet: a checkpoint only fits the graph it came from.
    pub graph_hash: String,
    pub config: SearchConfig,
    /// Steps done.
    pub step: u64,
    /// The epoch the next batch comes from, and the position in its order (None before
    /// the first batch).
    pub epoch: u64,
    pub batch_pos: Option<usize>,
    /// Divergence watch: running average of the task loss and its best value.
    pub loss_avg: Option<f64>,
    pub best_avg: Option<f64>,
    /// λ after the last step (adapted in target mode).
    pub lambda: f64,
    pub optimizer_steps: u64,
    /// Ranks of the data-parallel search that wrote it (1: one process): the global batch
    /// depends on it, so a resume must use as many.
    #[serde(default = "one")]
    pub world: usize,
    pub history: Vec<StepMetrics>,
    pub evals: Vec<EvalMetrics>,
    /// After a compaction: per channel group, the supernet's channels the search still
    /// has (its tensors have those widths). Absent when nothing was compacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<Vec<Vec<usize>>>,
}

fn one() -> usize {
    1
}

/// A checkpoint read back.
pub struct Loaded {
    pub manifest: Manifest,
    pub weights: BTreeMap<String, Tensor>,
    pub optim: BTreeMap<String, Tensor>,
}

/// FNV-1a of the graph's JSON: stable across runs and machines (unlike `DefaultHasher`).
pub fn graph_hash(graph: &Graph) -> String {
    format!("{:016x}", fnv1a(serde_json::to_string(graph).unwrap_or_default().bytes()))
}

/// FNV-1a, 64 bits: a hash that is the same in every process and on every machine.
pub(crate) fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Writes a checkpoint to `dir` (which must not exist yet) through a temporary sibling.
pub fn save(dir: &Path, manifest: &Manifest, weights: &[(String, Tensor)], optim: &[(String, Tensor)]) -> Result<()> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = parent.join(format!(".{name}.tmp{}", std::process::id()));
    let fail = |what: &str, p: &Path, e: std::io::Error| Error::Checkpoint(format!("{what} {}: {e}", p.display()));
    if dir.exists() {
        return Err(Error::Checkpoint(format!(
            "{} exists; a checkpoint never overwrites: give a new path",
            dir.display()
        )));
    }
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| fail("cannot remove the stale", &tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| fail("cannot create", &tmp, e))?;
    let result = (|| {
        let text = serde_json::to_string_pretty(manifest)
            .map_err(|e| Error::Checkpoint(format!("cannot encode the manifest: {e}")))?;
        crate::io::write_atomic(&tmp.join("manifest.json"), text.as_bytes())?;
        write_weights(&tmp.join("weights.safetensors"), weights)?;
        write_weights(&tmp.join("optim.safetensors"), optim)?;
        std::fs::rename(&tmp, dir).map_err(|e| fail("cannot move the checkpoint into", dir, e))?;
        // The rename is durable only once the directory holding it is synced.
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Reads the checkpoint in `dir`. A missing or unreadable file, a manifest of another
/// layout, or a truncated tensor file is an error that says which.
pub fn load(dir: &Path) -> Result<Loaded> {
    let mpath = dir.join("manifest.json");
    let text = std::fs::read_to_string(&mpath).map_err(|e| {
        Error::Checkpoint(format!("cannot read {}: {e}; is {} a checkpoint directory?", mpath.display(), dir.display()))
    })?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        Error::Checkpoint(format!(
            "{} is damaged or not a figs checkpoint ({e}); use an older checkpoint",
            mpath.display()
        ))
    })?;
    if manifest.format != FORMAT {
        return Err(Error::Checkpoint(format!(
            "{} has layout {} (figs {}), this figs reads layout {FORMAT}; resume it with figs {}",
            dir.display(),
            manifest.format,
            manifest.figs_version,
            manifest.figs_version
        )));
    }
    let read = |f: &str| -> Result<BTreeMap<String, Tensor>> {
        let p = dir.join(f);
        read_weights(&p)
            .map(|v| v.into_iter().collect())
            .map_err(|e| Error::Checkpoint(format!("{e}; the checkpoint is incomplete, use an older one")))
    };
    Ok(Loaded { weights: read("weights.safetensors")?, optim: read("optim.safetensors")?, manifest })
}

/// The checkpoints under `dir` (named `step-NNNNNNNN`), oldest first.
pub fn list(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            e.path().join("manifest.json").is_file().then(|| (step, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The directory name of the checkpoint after `step` steps.
pub fn name(step: u64) -> String {
    format!("step-{step:08}")
}

/// Removes all but the newest `keep` checkpoints under `dir`.
pub fn prune(dir: &Path, keep: usize) -> Result<()> {
    let all = list(dir);
    for (_, p) in all.iter().take(all.len().saturating_sub(keep)) {
        std::fs::remove_dir_all(p).map_err(|e| Error::Checkpoint(format!("cannot remove {}: {e}", p.display())))?;
    }
    Ok(())
}
