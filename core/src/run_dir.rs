//! A run directory that figs can prove is its own, held by one process at a time.
//!
//! A run directory is created with a marker, [`MARKER`] (JSON: a run id, figs' version and
//! the creation time), and every process that writes into it holds an advisory lock on
//! [`LOCK`] for the life of the run (`flock`: the kernel releases it when the process dies,
//! so a dead holder's lock is taken over without a word). Replacing a run (`--force`)
//! removes only the files the main job writes ([`RUN_FILES`], the checkpoint directories,
//! figs' own temporary files) and only where the marker is; a directory that holds
//! anything else is refused, naming what is foreign, and nothing is removed.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::Path;

/// The marker that makes a directory a figs run.
pub const MARKER: &str = ".figs-run";
/// The file whose advisory lock the running process holds (its pid inside).
pub const LOCK: &str = ".figs-run.lock";
/// What the main job writes at the top of a run directory (besides `checkpoints/`).
pub const RUN_FILES: &[&str] = &[
    "config.json",
    "supernet.json",
    "metrics.jsonl",
    "arch.json",
    "arch.safetensors",
    "model.py",
    "alive_width.svg",
    "alive_width.png",
    "summary.json",
    "run.log",
    MARKER,
    LOCK,
];
/// The checkpoint directory and what one checkpoint holds.
const CHECKPOINTS: &str = "checkpoints";
const CHECKPOINT_FILES: &[&str] = &["manifest.json", "weights.safetensors", "optim.safetensors"];

/// A run directory this process holds the lock of (released on drop).
#[derive(Debug)]
pub struct RunDir {
    _lock: File,
}

impl RunDir {
    /// Starts a new run in `path`, which must be missing or empty: creates it, takes the
    /// lock and writes the marker.
    pub fn create(path: &Path) -> Result<RunDir> {
        std::fs::create_dir_all(path).map_err(|e| Error::io("cannot create run directory", path, e))?;
        let not_empty = |names: Vec<String>| {
            Error::Session(format!("{} is not empty ({}); choose another --out", path.display(), listing(&names)))
        };
        // Checked before the lock file is made, so a refused directory gains nothing.
        let others: Vec<String> = entries(path)?.into_iter().filter(|n| n != LOCK).collect();
        if !others.is_empty() {
            return Err(not_empty(others));
        }
        let lock = lock(path)?;
        let others: Vec<String> = entries(path)?.into_iter().filter(|n| n != LOCK).collect();
        if !others.is_empty() {
            return Err(not_empty(others));
        }
        let id = new_id();
        write_marker(path, &id)?;
        Ok(RunDir { _lock: lock })
    }

    /// Takes the lock of the run in `path` to continue it. A run from before markers (it
    /// has checkpoints but no marker) gets one now.
    pub fn resume(path: &Path) -> Result<RunDir> {
        if !path.is_dir() {
            return Err(Error::Session(format!("--resume: {} is not a directory", path.display())));
        }
        let id = match read_marker(path) {
            Some(id) => id,
            None if path.join(CHECKPOINTS).is_dir() => String::new(),
            None => {
                return Err(Error::Session(format!(
                "--resume: {} is not a figs run (no {MARKER} and no checkpoints/): give the run directory figs created",
                path.display()
            )))
            }
        };
        let lock = lock(path)?;
        if id.is_empty() {
            write_marker(path, &new_id())?;
        }
        Ok(RunDir { _lock: lock })
    }

    /// Replaces the run in `path` (`--force`): it must carry the marker and hold nothing
    /// but what figs writes; those files are removed (the directory itself stays, so
    /// `--out .` cannot remove a working directory) and a new run starts in it. On any
    /// refusal nothing is removed.
    pub fn replace(path: &Path) -> Result<RunDir> {
        if read_marker(path).is_none() {
            return Err(Error::Session(format!(
                "--force: {} is not a run that figs created (no {MARKER} marker), so nothing in it is removed; choose another --out or empty it yourself",
                path.display()
            )));
        }
        let lock = lock(path)?;
        let foreign = foreign_files(path)?;
        if !foreign.is_empty() {
            return Err(Error::Session(format!(
                "--force: {} holds files figs did not write ({}), so nothing in it is removed; move them away or choose another --out",
                path.display(),
                listing(&foreign)
            )));
        }
        remove_run_files(path)?;
        let id = new_id();
        write_marker(path, &id)?;
        Ok(RunDir { _lock: lock })
    }
}

/// Whether `path` carries a figs run marker.
pub fn is_run(path: &Path) -> bool {
    read_marker(path).is_some()
}

/// The entries of `path` that the main job would not have written, as paths relative to
/// it (`checkpoints/notes.txt`), sorted.
pub fn foreign_files(path: &Path) -> Result<Vec<String>> {
    let mut foreign = Vec::new();
    for name in entries(path)? {
        let p = path.join(&name);
        if name == CHECKPOINTS && is_plain_dir(&p) {
            for c in entries(&p)? {
                if !is_checkpoint_entry(&p.join(&c), &c)? {
                    foreign.push(format!("{CHECKPOINTS}/{c}"));
                }
            }
        } else if !(RUN_FILES.contains(&name.as_str()) && is_plain_file(&p)) && !is_own_temp(&p, &name) {
            foreign.push(name);
        }
    }
    foreign.sort();
    Ok(foreign)
}

/// `checkpoints/step-N` holding only a checkpoint's files, or a checkpoint's temporary
/// directory `.step-N.tmpPID` (a write that was killed).
fn is_checkpoint_entry(p: &Path, name: &str) -> Result<bool> {
    let step_name = name.strip_prefix("step-").or_else(|| {
        let rest = name.strip_prefix(".step-")?;
        let (step, pid) = rest.split_once(".tmp")?;
        pid.parse::<u32>().ok().map(|_| step)
    });
    let Some(step) = step_name else { return Ok(false) };
    if step.parse::<u64>().is_err() || !is_plain_dir(p) {
        return Ok(false);
    }
    Ok(entries(p)?.iter().all(|f| {
        let q = p.join(f);
        is_plain_file(&q) && (CHECKPOINT_FILES.contains(&f.as_str()) || is_own_temp(&q, f))
    }))
}

/// A temporary file of [`crate::io::write_atomic`] for one of figs' own names.
fn is_own_temp(p: &Path, name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else { return false };
    let Some((base, pid)) = rest.rsplit_once(".tmp") else { return false };
    pid.parse::<u32>().is_ok() && is_plain_file(p) && (RUN_FILES.contains(&base) || CHECKPOINT_FILES.contains(&base))
}

fn remove_run_files(path: &Path) -> Result<()> {
    for name in entries(path)? {
        if name == LOCK {
            continue; // held by this process; the new run keeps it
        }
        let p = path.join(&name);
        if name == CHECKPOINTS {
            for c in entries(&p)? {
                let q = p.join(&c);
                std::fs::remove_dir_all(&q).map_err(|e| Error::io("cannot remove", &q, e))?;
            }
            std::fs::remove_dir(&p).map_err(|e| Error::io("cannot remove", &p, e))?;
        } else {
            std::fs::remove_file(&p).map_err(|e| Error::io("cannot remove", &p, e))?;
        }
    }
    Ok(())
}

fn is_plain_file(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file())
}

fn is_plain_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_dir())
}

fn entries(path: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(path).map_err(|e| Error::io("cannot read directory", path, e))?;
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io("cannot read directory", path, e))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn listing(names: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut s = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        s += &format!(" and {} more", names.len() - SHOWN);
    }
    s
}

fn read_marker(path: &Path) -> Option<String> {
    let p = path.join(MARKER);
    if !is_plain_file(&p) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    v.get("run_id")?.as_str().map(str::to_string)
}

fn write_marker(path: &Path, id: &str) -> Result<()> {
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let text = serde_json::json!({
        "run_id": id,
        "figs_version": env!("CARGO_PKG_VERSION"),
        "created_unix": created,
        "note": "written by figs: this directory is a figs run; `figs search --force` removes only the files figs wrote here",
    });
    crate::io::write_atomic(&path.join(MARKER), format!("{text:#}\n").as_bytes())
}

/// A run id: unique enough to tell two runs of one directory apart.
pub fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let bytes = format!("{nanos}/{}/{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", crate::checkpoint::fnv1a(bytes.bytes()))
}

/// Takes the run's advisory lock without waiting, or says which process holds it.
fn lock(path: &Path) -> Result<File> {
    use std::io::{Seek, Write};
    let p = path.join(LOCK);
    let mut f = match crate::io::lock_file(&p, false) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            let holder = std::fs::read_to_string(&p).unwrap_or_default();
            let holder = holder.trim();
            let who =
                if holder.is_empty() { "another figs process".to_string() } else { format!("figs process {holder}") };
            return Err(Error::Session(format!(
                "{} is in use by {who}: wait for it to finish (or stop it), or choose another --out",
                path.display()
            )));
        }
        Err(e) => return Err(Error::io("cannot lock", &p, e)),
    };
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = f.write_all(std::process::id().to_string().as_bytes());
    let _ = f.sync_all();
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_refuses_a_directory_without_the_marker_and_removes_nothing() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("checkpoints")).unwrap();
        std::fs::write(d.path().join("config.json"), "{}").unwrap();
        std::fs::write(d.path().join("thesis.tex"), "x").unwrap();
        let e = RunDir::replace(d.path()).unwrap_err().to_string();
        assert!(e.contains("not a run that figs created"), "{e}");
        assert!(d.path().join("thesis.tex").is_file() && d.path().join("config.json").is_file());
    }

    #[test]
    fn force_refuses_foreign_files_in_a_run_and_names_them() {
        let d = tempfile::tempdir().unwrap();
        let run = RunDir::create(d.path()).unwrap();
        drop(run);
        std::fs::create_dir_all(d.path().join("checkpoints/step-00000010")).unwrap();
        std::fs::write(d.path().join("checkpoints/step-00000010/manifest.json"), "{}").unwrap();
        std::fs::write(d.path().join("checkpoints/step-00000010/model.pt"), "mine").unwrap();
        std::fs::write(d.path().join("thesis.tex"), "x").unwrap();
        std::fs::create_dir(d.path().join("data")).unwrap();
        let e = RunDir::replace(d.path()).unwrap_err().to_string();
        assert!(e.contains("checkpoints/step-00000010") && e.contains("thesis.tex") && e.contains("data"), "{e}");
        assert!(d.path().join("thesis.tex").is_file());
        assert!(d.path().join("checkpoints/step-00000010/model.pt").is_file());
    }

    #[test]
    fn force_removes_only_what_figs_wrote_and_keeps_the_directory() {
        let d = tempfile::tempdir().unwrap();
        let first = RunDir::create(d.path()).unwrap();
        let first_id = read_marker(d.path()).unwrap();
        drop(first);
        for f in ["config.json", "metrics.jsonl", "arch.json", ".arch.json.tmp123"] {
            std::fs::write(d.path().join(f), "x").unwrap();
        }
        let ck = d.path().join("checkpoints/step-00000200");
        std::fs::create_dir_all(&ck).unwrap();
        for f in CHECKPOINT_FILES {
            std::fs::write(ck.join(f), "x").unwrap();
        }
        std::fs::create_dir_all(d.path().join("checkpoints/.step-00000400.tmp99")).unwrap();
        let _run = RunDir::replace(d.path()).unwrap();
        assert_ne!(read_marker(d.path()).unwrap(), first_id);
        let mut left = entries(d.path()).unwrap();
        left.sort();
        assert_eq!(left, vec![MARKER.to_string(), LOCK.to_string()]);
    }

    #[test]
    fn a_second_process_is_refused_while_the_first_holds_the_run() {
        let d = tempfile::tempdir().unwrap();
        let _run = RunDir::create(d.path()).unwrap();
        // flock locks belong to the open file description: a second open in this process
        // conflicts just as another process would.
        let e = RunDir::resume(d.path()).unwrap_err().to_string();
        assert!(e.contains("in use by figs process") && e.contains(&std::process::id().to_string()), "{e}");
        let e = RunDir::replace(d.path()).unwrap_err().to_string();
        assert!(e.contains("in use"), "{e}");
    }

    #[test]
    fn a_dead_holders_lock_is_taken_over() {
        let d = tempfile::tempdir().unwrap();
        drop(RunDir::create(d.path()).unwrap());
        // The lock file stays behind with the old pid; nobody holds the lock.
        std::fs::write(d.path().join(LOCK), "999999").unwrap();
        let run = RunDir::resume(d.path()).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join(LOCK)).unwrap(), std::process::id().to_string());
        drop(run);
    }

    #[test]
    fn create_refuses_a_directory_with_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("notes.txt"), "x").unwrap();
        let e = RunDir::create(d.path()).unwrap_err().to_string();
        assert!(e.contains("not empty") && e.contains("notes.txt"), "{e}");
        assert!(!d.path().join(MARKER).exists());
    }
}
