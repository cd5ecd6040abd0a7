//! What the main job prints: to stdout, and into the run directory's `run.log` once it
//! has one. A closed stdout (`figs search … | head -1`) must not kill a search: figs
//! ignores SIGPIPE during the job, write errors on stdout are dropped, and the whole
//! report stays in `run.log`.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

struct Log {
    /// Lines are kept for run.log (from [`start_job`] on).
    keep: bool,
    /// Lines printed before the run directory was opened.
    pending: Vec<String>,
    file: Option<std::fs::File>,
}

static LOG: Mutex<Log> = Mutex::new(Log { keep: false, pending: Vec::new(), file: None });

/// From now on every line is kept for the run's `run.log` ([`log_to`]).
pub fn start_job() {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).keep = true;
}

/// Prints one line to stdout (a failed write is ignored) and logs it.
pub fn line(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    let mut guard = LOG.lock().unwrap_or_else(|e| e.into_inner());
    let log = &mut *guard;
    match (log.file.as_mut(), log.keep) {
        (Some(f), _) => {
            let _ = writeln!(f, "{text}");
        }
        (None, true) => log.pending.push(text.to_string()),
        (None, false) => {}
    }
}

/// Appends every later line (and those printed so far) to `path`.
pub fn log_to(path: &Path) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    for l in log.pending.drain(..) {
        writeln!(f, "{l}")?;
    }
    log.file = Some(f);
    Ok(())
}

/// `println!` for the main job: see the module.
macro_rules! say {
    ($($arg:tt)*) => { $crate::say::line(&format!($($arg)*)) };
}
pub(crate) use say;
