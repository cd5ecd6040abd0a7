//! What several of the `figs` binary's tests share.

use std::process::Command;

/// Runs `figs ARGS` on one libtorch thread: whether it succeeded, and stdout + stderr.
pub fn figs(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_figs")).args(args).env("OMP_NUM_THREADS", "1").output().unwrap();
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}
