//! Progress bars for the session's long calls: one bar per phase (`step`, a retraining's
//! label), evaluation lines printed above it.

use crate::format::{bar, step_message};
use figs::session::{Progress, Session};
use indicatif::ProgressBar;
use std::sync::{Arc, Mutex};

/// The bar of the running phase; clones share it.
#[derive(Clone, Default)]
pub struct Bars {
    current: Arc<Mutex<Option<(String, ProgressBar)>>>,
    /// Draw no bar and print no evaluation lines (`--json` output).
    pub quiet: bool,
    /// A whole run's bar: `search`, as long as the run's planned steps, at the search's
    /// step (so a resumed run starts where it was).
    pub run_total: Option<u64>,
}

impl Bars {
    /// Bars for `s`'s long calls, installed as its progress hook.
    pub fn attach(s: &mut Session, quiet: bool) -> Bars {
        let bars = Bars { quiet, ..Bars::default() };
        let b = bars.clone();
        s.set_progress(move |p| b.handle(&p));
        bars
    }

    /// Bars for `figs search`: one `search` bar over the run's `steps`.
    pub fn for_run(steps: u64) -> Bars {
        Bars { run_total: Some(steps), ..Bars::default() }
    }

    fn with_bar(&self, phase: &str, total: u64, f: impl FnOnce(&ProgressBar)) {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.as_ref().is_none_or(|(p, _)| p != phase) {
            if let Some((_, old)) = cur.take() {
                old.finish_and_clear();
            }
            let pb = if self.quiet { ProgressBar::hidden() } else { bar(total, phase) };
            *cur = Some((phase.to_string(), pb));
        }
        if let Some((_, pb)) = cur.as_ref() {
            f(pb);
        }
    }

    /// Updates the bar for one progress event.
    pub fn handle(&self, p: &Progress<'_>) {
        match *p {
            Progress::Step { done, total, metrics, initial_cost } => {
                let (phase, total, done) = match self.run_total {
                    Some(t) => ("search", t, metrics.step),
                    None => ("step", total, done),
                };
                self.with_bar(phase, total, |pb| {
                    pb.set_position(done);
                    pb.set_message(step_message(metrics, initial_cost));
                })
            }
            Progress::Eval { metrics: ev, initial_cost, unit } => {
                if !self.quiet {
                    self.println(&figs::session::eval_line(ev, initial_cost, unit));
                }
            }
            Progress::Train { label, done, total, loss } => self.with_bar(label, total, |pb| {
                pb.set_position(done);
                pb.set_message(format!("loss {loss:.3}"));
            }),
            // A folder's size is unknown until it is listed: a count, no total.
            Progress::Listing { files } => self.with_bar("listing images", 0, |pb| {
                pb.set_message(format!("{files} files"));
            }),
        }
    }

    /// Prints a line above the bar (println on a hidden bar prints nothing; suspend always does).
    pub fn println(&self, line: &str) {
        let cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match cur.as_ref() {
            Some((_, pb)) => pb.suspend(|| crate::say::line(line)),
            None => crate::say::line(line),
        }
    }

    /// Runs `f` with the bar out of the way (a note on stderr).
    pub fn suspend(&self, f: impl FnOnce()) {
        let cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match cur.as_ref() {
            Some((_, pb)) => pb.suspend(f),
            None => f(),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some((_, pb)) = self.current.lock().unwrap_or_else(|e| e.into_inner()).take() {
            pb.finish_and_clear();
        }
    }
}
