//! Ctrl-C: one process-wide flag that long commands poll between steps. In the shell CLI a
//! second Ctrl-C quits at once; at the interactive prompt it never ends the session.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
static INTERACTIVE: AtomicBool = AtomicBool::new(false);
/// SIGTERM (what `timeout`, Slurm and `kill` send) arrived: it stops a long command like
/// Ctrl-C, and the main job then exits non-zero.
static TERMINATED: AtomicBool = AtomicBool::new(false);

/// From now on SIGTERM stops the running command after its step, as Ctrl-C does (the main
/// job calls it; elsewhere SIGTERM ends the process as usual, an idle prompt included).
pub fn stop_on_sigterm() {
    let _ = flag();
    // SAFETY: installs a handler that only stores atomics (async-signal-safe).
    unsafe {
        let handler: extern "C" fn(libc::c_int) = on_sigterm;
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

/// Whether SIGTERM arrived.
pub fn terminated() -> bool {
    TERMINATED.load(Ordering::SeqCst)
}

extern "C" fn on_sigterm(_: libc::c_int) {
    // Only atomic stores: async-signal-safe. The job says what happened when it stops.
    TERMINATED.store(true, Ordering::SeqCst);
    if let Some(f) = FLAG.get() {
        f.store(true, Ordering::SeqCst);
    }
}

/// Marks the process as an interactive session (Ctrl-C never exits) and installs the
/// handler at once, so Ctrl-C during any command (not only the long ones) is caught.
pub fn set_interactive() {
    INTERACTIVE.store(true, Ordering::SeqCst);
    let _ = flag();
}

/// Whether Ctrl-C was pressed since the last [`fresh`].
pub fn interrupted() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// The flag, cleared, with the handler installed: call at the start of a long command.
pub fn fresh() -> Arc<AtomicBool> {
    let flag = flag();
    // A SIGTERM that came before the command started still stops it.
    flag.store(terminated(), Ordering::SeqCst);
    flag
}

fn flag() -> Arc<AtomicBool> {
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) && !INTERACTIVE.load(Ordering::SeqCst) {
                // `process::exit` runs exit handlers and static destructors (libtorch's among
                // them) while the main thread is still inside libtorch: that segfaulted.
                // `_exit` ends the process at once; every file figs writes is written whole
                // (temp + rename), so nothing is left half-written.
                eprintln!("\nCtrl-C again: quitting");
                // SAFETY: _exit takes an int and never returns; it is async-signal-safe.
                unsafe { libc::_exit(130) };
            }
            eprintln!("\nCtrl-C: stopping after the current step");
        });
        flag
    })
    .clone()
}
