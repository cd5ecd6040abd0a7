//! Compiles src/shim.cpp against the torch wheel's headers (the same include paths and
//! C++ ABI flag torch-sys uses) and Debian's gloo headers (libgloo-dev: the wheel does not
//! ship the gloo/ headers that ProcessGroupGloo.hpp includes).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src/shim.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let root = match std::env::var("LIBTORCH") {
        Ok(r) => r,
        Err(_) => panic!("LIBTORCH is not set: run scripts/setup.sh, which writes it into .cargo/config.toml"),
    };
    let inc = Path::new(&root).join("include");
    if !Path::new("/usr/include/gloo/algorithm.h").exists() {
        panic!("gloo headers are missing: `apt-get install libgloo-dev` (scripts/setup.sh does this)");
    }
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("src/shim.cpp")
        .include(&inc)
        .include(inc.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-w")
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .define("USE_C10D_GLOO", None)
        .compile("figs_dist_shim");
    let lib = Path::new(&root).join("lib");
    println!("cargo:rustc-link-search=native={}", lib.display());
    for l in ["torch_cpu", "c10"] {
        println!("cargo:rustc-link-lib=dylib={l}");
    }
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-L{},-ltorch_cuda,--as-needed", lib.display());
    }
}
