//! Claims: which process is running which point, so several processes on one results
//! directory (two on a 2-core machine, or cluster jobs started without `--only`) never run
//! the same point twice. A claim is the file `claims/<point>`, holding `<host> <pid>`,
//! made whole or not at all: written under a temporary name, then hard-linked to its
//! name, which fails if the name exists (the lock-file method that works on NFS too), so
//! nobody ever reads a claim half written. It goes when the point is recorded, fails or
//! is cancelled. A claim left by a process that died on this host is taken over, under
//! the claims directory's advisory lock so that one worker alone takes it; one from
//! another host that died has to be deleted by hand (the message says which file).

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A point this process is running; dropping it releases the point.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The outcome of [`claim`].
#[derive(Debug)]
pub enum Claimed {
    Mine(Claim),
    /// Another live process holds it: `<host> <pid>` and the claim file.
    Taken {
        holder: String,
        path: PathBuf,
    },
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether `holder` (`<host> <pid>`) names a process on this host that no longer runs.
fn dead_here(holder: &str) -> bool {
    let mut it = holder.split_whitespace();
    match (it.next(), it.next().and_then(|p| p.parse::<u32>().ok())) {
        (Some(h), Some(pid)) => h == host() && !crate::io::process_alive(pid),
        // Claims are written whole, so this is no claim of figs': let the run take it.
        _ => true,
    }
}

/// Claims point `key` in the sweep directory `dir`.
pub fn claim(dir: &Path, key: &str) -> Result<Claimed> {
    let claims = dir.join("claims");
    std::fs::create_dir_all(&claims).map_err(|e| Error::io("cannot create", &claims, e))?;
    let name = key.replace([':', '/'], "_");
    let me = format!("{} {}\n", host(), std::process::id());
    // Unique per call, so threads of one process never share a temporary file.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = claims.join(format!(".{name}.{}-{call}.tmp", std::process::id()));
    std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(me.as_bytes()))
        .map_err(|e| Error::io("cannot write", &tmp, e))?;
    let result = take(&tmp, claims.join(name));
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Holds the claims directory's advisory lock (released on drop, or by the kernel when
/// the process dies): deciding that a claim is dead, removing it and linking one's own
/// is one step, so two workers never both take over the same dead claim.
struct DirLock {
    _file: std::fs::File,
}

fn lock_claims(claims: &Path) -> Result<DirLock> {
    let p = claims.join(".lock");
    let f = crate::io::lock_file(&p, true).map_err(|e| Error::io("cannot lock", &p, e))?;
    Ok(DirLock { _file: f })
}

/// Links the written claim `tmp` to `path` unless a live process holds it.
fn take(tmp: &Path, path: PathBuf) -> Result<Claimed> {
    let _lock = lock_claims(path.parent().unwrap_or(Path::new(".")))?;
    for _ in 0..2 {
        match std::fs::hard_link(tmp, &path) {
            Ok(()) => return Ok(Claimed::Mine(Claim { path })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default().trim().to_string();
                if !dead_here(&holder) {
                    return Ok(Claimed::Taken { holder, path });
                }
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => return Err(Error::io("cannot create", &path, e)),
        }
    }
    let holder = std::fs::read_to_string(&path).unwrap_or_default().trim().to_string();
    Ok(Claimed::Taken { holder, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_per_point_and_dead_claims_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let first = match claim(dir.path(), "figs:0.4:1").unwrap() {
            Claimed::Mine(c) => c,
            other => panic!("{other:?}"),
        };
        // This process is alive, so its claim holds.
        match claim(dir.path(), "figs:0.4:1").unwrap() {
            Claimed::Taken { holder, .. } => assert!(holder.ends_with(&std::process::id().to_string()), "{holder}"),
            other => panic!("{other:?}"),
        }
        drop(first);
        assert!(matches!(claim(dir.path(), "figs:0.4:1").unwrap(), Claimed::Mine(_)), "released on drop");
        // A claim from a process that no longer runs here is taken over ...
        let path = dir.path().join("claims").join("width_0.5_2");
        std::fs::write(&path, format!("{} {}\n", host(), u32::MAX - 1)).unwrap();
        assert!(matches!(claim(dir.path(), "width:0.5:2").unwrap(), Claimed::Mine(_)));
        // ... one from another host is not: nobody here can tell whether it still runs.
        std::fs::write(dir.path().join("claims").join("gamma_0.6_3"), "elsewhere 1\n").unwrap();
        match claim(dir.path(), "gamma:0.6:3").unwrap() {
            Claimed::Taken { holder, path } => {
                assert_eq!(holder, "elsewhere 1");
                assert!(path.ends_with("claims/gamma_0.6_3"));
            }
            other => panic!("{other:?}"),
        }
        // Claims are written under a temporary name first; none is left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path().join("claims"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') && n != ".lock")
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// FAULTS.md 13: two workers that both found the same dead claim both took it over,
    /// so the point ran twice and was counted twice.
    #[test]
    fn a_dead_claim_is_taken_over_by_exactly_one_worker() {
        for round in 0..30 {
            let dir = tempfile::tempdir().unwrap();
            let claims = dir.path().join("claims");
            std::fs::create_dir_all(&claims).unwrap();
            std::fs::write(claims.join("figs_0.5_1"), format!("{} {}\n", host(), u32::MAX - 1)).unwrap();
            let start = std::sync::Arc::new(std::sync::Barrier::new(8));
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let (start, dir) = (start.clone(), dir.path().to_path_buf());
                    std::thread::spawn(move || {
                        start.wait();
                        claim(&dir, "figs:0.5:1").unwrap()
                    })
                })
                .collect();
            // Every claim is held until all workers are done (dropping one releases it).
            let got: Vec<Claimed> = workers.into_iter().map(|w| w.join().unwrap()).collect();
            let mine = got.iter().filter(|c| matches!(c, Claimed::Mine(_))).count();
            assert_eq!(mine, 1, "round {round}: {mine} workers took over the same dead claim");
        }
    }
}
