//! Checkpoint directories of a search: `manifest.json` (figs version, graph hash, config,
//! counters, λ, history) beside `weights.safetensors` (every variable, BN statistics and
//! gate logits included) and `optim.safetensors` (the optimizer's moments).
//!
//! A checkpoint is written into a temporary directory, every file fsynced, and renamed
//! into place, so a crash at any moment leaves either the whole new checkpoint or none.

use crate::data::Fingerprint;
use crate::error::{Error, Result};
use crate::export::safetensors_file::{read_weights, write_weights};
use crate::graph::Graph;
use crate::search::config::SearchConfig;
use crate::search::metrics::{EvalMetrics, StepMetrics};
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
    /// The search this checkpoint belongs to (every checkpoint of one search, resumed or
    /// not, carries the same id); empty in checkpoints from before it was recorded.
    #[serde(default)]
    pub search_id: String,
    /// The training data the search ran on; absent in checkpoints from before it was
    /// recorded (those cannot be checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Fingerprint>,
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
    remove_stale(parent);
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
        let fix = if manifest.figs_version == env!("CARGO_PKG_VERSION") {
            "this figs wrote no such layout: the manifest is damaged or from a development build; use another checkpoint".to_string()
        } else {
            format!("resume it with figs {}", manifest.figs_version)
        };
        return Err(Error::Checkpoint(format!(
            "{} has layout {} (figs {}), this figs {} reads layout {FORMAT}; {fix}",
            dir.display(),
            manifest.format,
            manifest.figs_version,
            env!("CARGO_PKG_VERSION"),
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

/// Checks how many checkpoints to keep (the prompt's `keep-checkpoints`, `figs search
/// --keep-checkpoints`): at least one; `checkpoint-every 0` is how checkpoints go off.
pub fn check_keep(n: usize) -> std::result::Result<(), String> {
    if n == 0 {
        return Err("keep at least 1 (checkpoint-every 0 turns checkpoints off)".into());
    }
    Ok(())
}

/// The checkpoints directory of the run directory `out`.
pub fn dir(out: &Path) -> PathBuf {
    out.join("checkpoints")
}

/// The checkpoint after `step` steps in the run directory `out`.
pub fn path(out: &Path, step: u64) -> PathBuf {
    dir(out).join(name(step))
}

/// The directory name of the checkpoint after `step` steps.
pub fn name(step: u64) -> String {
    format!("step-{step:08}")
}

/// The search id in the manifest of the checkpoint in `dir` (empty for checkpoints from
/// before it was recorded); None when the manifest cannot be read.
pub fn search_id(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v.get("search_id").and_then(|x| x.as_str()).unwrap_or_default().to_string())
}

/// The checkpoints under `dir` of the search `id`, oldest first.
pub fn list_of(dir: &Path, id: &str) -> Vec<(u64, PathBuf)> {
    list(dir).into_iter().filter(|(_, p)| search_id(p).as_deref() == Some(id)).collect()
}

/// The steps of the checkpoints under `dir` that belong to another search than `id`.
pub fn others(dir: &Path, id: &str) -> Vec<u64> {
    list(dir).into_iter().filter(|(_, p)| search_id(p).as_deref() != Some(id)).map(|(s, _)| s).collect()
}

/// Removes all but the newest `keep` checkpoints of the search `id` under `dir` (other
/// searches' checkpoints are never touched). Each goes by a rename to a temporary name
/// first, so one that is killed half-deleted never looks like a checkpoint.
pub fn prune(dir: &Path, keep: usize, id: &str) -> Result<()> {
    remove_stale(dir);
    let mine = list_of(dir, id);
    for (_, p) in mine.iter().take(mine.len().saturating_sub(keep)) {
        discard(p)?;
    }
    Ok(())
}

/// Removes the checkpoint directory `p` (`…/step-N`) through a rename to `.step-N.delPID`,
/// so that a removal cut short never leaves something that looks like a checkpoint.
pub fn discard(p: &Path) -> Result<()> {
    let parent = p.parent().unwrap_or(Path::new("."));
    let base = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let doomed = parent.join(format!(".{base}.del{}", std::process::id()));
    let fail = |p: &Path, e: std::io::Error| Error::Checkpoint(format!("cannot remove {}: {e}", p.display()));
    std::fs::rename(p, &doomed).map_err(|e| fail(p, e))?;
    std::fs::remove_dir_all(&doomed).map_err(|e| fail(&doomed, e))
}

/// Removes the temporary directories that killed checkpoint writes and deletions left
/// under `dir` (`.step-N.tmpPID`, `.step-N.delPID` of processes that no longer run).
/// Best effort: a directory that cannot be removed stays for the next time.
pub fn remove_stale(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = stale_pid(&name) {
            if pid != std::process::id() && !crate::io::process_alive(pid) && e.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// The pid in a checkpoint's temporary name `.step-N.tmpPID` or `.step-N.delPID`.
fn stale_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(".step-")?;
    let (step, pid) = rest.split_once(".tmp").or_else(|| rest.split_once(".del"))?;
    step.parse::<u64>().ok()?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FAULTS.md 7: a killed checkpoint write left `.step-N.tmpPID` behind forever.
    #[test]
    fn stale_temporary_directories_of_dead_processes_are_removed() {
        let d = tempfile::tempdir().unwrap();
        // A pid that cannot be running (above the kernel's pid_max).
        let dead = d.path().join(".step-00000200.tmp4194305");
        let half_deleted = d.path().join(".step-00000100.del4194305");
        let mine = d.path().join(format!(".step-00000300.tmp{}", std::process::id()));
        let user = d.path().join(".notes.tmp4194305");
        for p in [&dead, &half_deleted, &mine, &user] {
            std::fs::create_dir_all(p).unwrap();
            std::fs::write(p.join("weights.safetensors"), "x").unwrap();
        }
        remove_stale(d.path());
        assert!(!dead.exists() && !half_deleted.exists());
        assert!(mine.exists(), "a live process's write is never touched");
        assert!(user.exists(), "only figs' own temporary names are removed");
        assert!(list(d.path()).is_empty(), "temporary directories never count as checkpoints");
    }

    /// FAULTS.md 18: a manifest of an unknown layout told figs 0.1.0 to use figs 0.1.0.
    #[test]
    fn an_unknown_layout_of_this_version_is_called_damaged() {
        let d = tempfile::tempdir().unwrap();
        let m = Manifest {
            format: 99,
            figs_version: env!("CARGO_PKG_VERSION").into(),
            graph_hash: String::new(),
            search_id: String::new(),
            data: None,
            config: SearchConfig::default(),
            step: 0,
            epoch: 0,
            batch_pos: None,
            loss_avg: None,
            best_avg: None,
            lambda: 1.0,
            optimizer_steps: 0,
            world: 1,
            history: Vec::new(),
            evals: Vec::new(),
            kept: None,
        };
        std::fs::write(d.path().join("manifest.json"), serde_json::to_string(&m).unwrap()).unwrap();
        let e = load(d.path()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("layout 99") && e.contains("damaged"), "{e}");
        assert!(!e.contains(&format!("resume it with figs {}", env!("CARGO_PKG_VERSION"))), "{e}");
    }
}
