//! core's build script: links libtorch_cuda like every figs crate (build/link_torch.rs) and
//! compiles core/csrc (src/batch_norm_cl.rs, src/fused_adam.rs, src/op_times.rs, src/pointwise.rs) against the headers
//! of the libtorch that torch-sys found, with its flags, so both sides share one ABI.

#[path = "../build/link_torch.rs"]
mod link_torch;

use std::path::PathBuf;

fn main() {
    link_torch::main();
    for f in [
        "csrc/batch_norm_cl.cpp",
        "csrc/bn_loops.h",
        "csrc/bn_loops_impl.h",
        "csrc/bn_loops_base.cpp",
        "csrc/bn_loops_avx2.cpp",
        "csrc/fused_adam.cpp",
        "csrc/op_times.cpp",
        "csrc/pointwise.h",
        "csrc/pointwise.cpp",
        "csrc/pointwise_avx2.cpp",
        "csrc/cpu.h",
        "csrc/ffi.h",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
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
        // at::parallel_for is an OpenMP region compiled here: without this flag it runs on
        // one thread. The binaries already link libtorch's libgomp (torch-sys), one runtime.
        .flag("-fopenmp")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        // libtorch's release builds define it, and some of its headers' classes have
        // members only without it (RecordFunction's inputs_valid_): both sides must agree.
        .define("NDEBUG", None)
        .file("csrc/batch_norm_cl.cpp")
        .file("csrc/bn_loops_base.cpp")
        .file("csrc/fused_adam.cpp")
        .file("csrc/op_times.cpp")
        .file("csrc/pointwise.cpp")
        .compile("figs_kernels");
    // The batch norm's loops once more with 8-wide vectors and FMA, and the narrow pointwise
    // convolution's loop, in a library of their own (these flags must not reach any other
    // file: batch_norm_cl.cpp and pointwise.cpp call them only where the CPU has AVX2 and FMA).
    let mut avx2 = cc::Build::new();
    avx2.cpp(true)
        .pic(true)
        .warnings(false)
        .flag("-std=c++17")
        .flag("-O3")
        .file("csrc/bn_loops_avx2.cpp")
        .file("csrc/pointwise_avx2.cpp");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        avx2.flag("-mavx2").flag("-mfma");
    }
    avx2.compile("figs_kernels_avx2");
}
