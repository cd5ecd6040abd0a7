//! core's build script: links libtorch_cuda like every figs crate (build/link_torch.rs) and
//! compiles core/csrc (C++ kernels with autograd, src/batch_norm_cl.rs) against the headers
//! of the libtorch that torch-sys found, with its flags, so both sides share one ABI.

#[path = "../build/link_torch.rs"]
mod link_torch;

use std::path::PathBuf;

fn main() {
    link_torch::main();
    println!("cargo:rerun-if-changed=csrc/batch_norm_cl.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let lib = PathBuf::from(std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys says where libtorch is"));
    let root = lib.parent().expect("libtorch's lib directory has a parent").to_path_buf();
    let include = root.join("include");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-O3")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/batch_norm_cl.cpp")
        .compile("figs_kernels");
}
