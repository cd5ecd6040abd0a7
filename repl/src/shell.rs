//! What the prompt keeps between commands: the library's [`figs::session::Session`] (data,
//! supernet, search, exports, retrained networks, options) and the little that belongs to
//! the prompt alone.

use std::path::PathBuf;

/// The prompt's state.
#[derive(Default)]
pub struct Shell {
    pub core: figs::session::Session,
    /// Set once `quit` has warned about unexported progress.
    pub quit_warned: bool,
    /// The script files running now, outermost first (canonical paths): a script that runs
    /// itself, directly or through others, is refused instead of overflowing the stack.
    pub scripts: Vec<PathBuf>,
}

impl Shell {
    /// Prints the session's warnings (a shadowed plugin) to stderr.
    pub fn flush_warnings(&mut self) {
        for w in self.core.take_warnings() {
            eprintln!("warning: {w}");
        }
    }
}
