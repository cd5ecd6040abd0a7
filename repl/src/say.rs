//! Printing a report line to stdout. A closed stdout (`figs search … | head -1`) must not
//! kill a search: figs ignores SIGPIPE during the job and drops write errors on stdout here;
//! the job keeps the whole report in `run.log` itself (figs::job).

use std::io::Write;

/// Prints one line to stdout; a failed write is ignored.
pub fn line(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
