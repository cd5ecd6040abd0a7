//! Shared build script of every figs crate that links binaries, tests or plugins.
//!
//! The linker's `--as-needed` drops `libtorch_cuda.so` (no symbol of it is referenced
//! directly), after which tch reports no CUDA on a GPU machine. This links it explicitly.
//! It cannot live in `.cargo/config.toml` rustflags: those also apply to proc-macro crates,
//! which rustc loads into itself, and libtorch's exit handlers then crash rustc.

use std::path::Path;

pub fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(root) = std::env::var("LIBTORCH") else { return };
    let lib = Path::new(&root).join("lib");
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-L{},-ltorch_cuda,--as-needed", lib.display());
    }
}
