//! Continuing a run: its saved configuration and its newest intact checkpoint.

use crate::checkpoint;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::session::Session;
use std::path::{Path, PathBuf};

/// The configuration a run directory was started with (`config.json`'s `config`); None
/// when there is no config.json or it was written by a figs before the typed
/// configuration (its runs resume with their flags given again).
pub fn saved_config(dir: &Path) -> Result<Option<Config>> {
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot read", &path, e)),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| Error::Json { path: path.clone(), source })?;
    match v.get("config") {
        None => Ok(None),
        Some(c) => Config::from_json(c).map(Some).map_err(|e| Error::Job(format!("{}: {e}", path.display()))),
    }
}

/// Loads the newest checkpoint under `ck_dir` that reads back whole. A damaged one (a
/// truncated file, a manifest that does not parse) is passed over, and the lead says so;
/// a checkpoint that is whole but does not fit (other data, ranks or settings) is an error.
pub(super) fn load_newest_intact(
    s: &mut Session,
    ck_dir: &Path,
    world: usize,
    lead: bool,
    note: &mut dyn FnMut(&str),
) -> Result<(u64, PathBuf)> {
    let mut all = checkpoint::list(ck_dir);
    let mut damaged = Vec::new();
    while let Some((step, dir)) = all.pop() {
        if let Err(e) = checkpoint::load(&dir) {
            damaged.push(format!("{e}"));
            continue;
        }
        s.load_for_ranks(&dir, world)?;
        if lead && !damaged.is_empty() {
            note(&format!(
                "warning: passed over {} damaged checkpoint(s), resuming from the newest intact one (step {step}): {}",
                damaged.len(),
                damaged.join("; ")
            ));
        }
        return Ok((step, dir));
    }
    Err(Error::Job(format!(
        "--resume: every checkpoint in {} is damaged ({}); start the run again with --force",
        ck_dir.display(),
        damaged.join("; ")
    )))
}
