//! Compiles src/shim.cpp against the torch wheel's headers (the same include paths and
//! C++ ABI flag torch-sys uses) and Debian's gloo headers (libgloo-dev: the wheel does not
//! ship the gloo/ headers that ProcessGroupGloo.hpp includes). src/shim_nccl.cpp (the NCCL
//! process group) is compiled in when the CUDA and NCCL headers of the nvidia-* wheels sit
//! beside torch (scripts/setup.sh installs the two small header wheels the CUDA build of
//! torch does not pull in); without them the crate builds with Gloo alone.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src/shim.cpp");
    println!("cargo:rerun-if-changed=src/shim_nccl.cpp");
    println!("cargo:rustc-check-cfg=cfg(figs_nccl)");
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
    let lib = Path::new(&root).join("lib");
    let nccl = nccl_includes(Path::new(&root)).filter(|_| lib.join("libtorch_cuda.so").exists());
    let mut b = cc::Build::new();
    b.cpp(true)
        .file("src/shim.cpp")
        .include(&inc)
        .include(inc.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-w")
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .define("USE_C10D_GLOO", None);
    match &nccl {
        Some(dirs) => {
            b.file("src/shim_nccl.cpp").define("USE_C10D_NCCL", None).define("FIGS_NCCL", None);
            for d in dirs {
                b.include(d);
            }
            println!("cargo:rustc-cfg=figs_nccl");
        }
        None => println!(
            "cargo:warning=figs-dist: building without NCCL (no CUDA/NCCL headers beside torch, or a CPU-only torch); re-run scripts/setup.sh to add them"
        ),
    }
    b.compile("figs_dist_shim");
    println!("cargo:rustc-link-search=native={}", lib.display());
    for l in ["torch_cpu", "c10"] {
        println!("cargo:rustc-link-lib=dylib={l}");
    }
    if nccl.is_some() {
        // The NCCL half calls into these directly; a link-lib (not a link-arg) reaches every
        // binary that depends on this crate.
        for l in ["torch_cuda", "c10_cuda"] {
            println!("cargo:rustc-link-lib=dylib={l}");
        }
    }
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-L{},-ltorch_cuda,--as-needed", lib.display());
    }
}

/// The include directories ProcessGroupNCCL.hpp needs (CUDA runtime, its crt/ and nv/
/// parts, nccl.h), from the nvidia-* wheels in torch's site-packages; None if any is missing.
fn nccl_includes(torch: &Path) -> Option<Vec<std::path::PathBuf>> {
    let nvidia = torch.parent()?.join("nvidia");
    if nvidia.is_dir() {
        // Headers installed later (setup.sh on an older venv) must bring NCCL in.
        println!("cargo:rerun-if-changed={}", nvidia.display());
    }
    let cuda = ["cu13", "cu12"].iter().map(|v| nvidia.join(v).join("include")).find(|d| {
        d.join("cuda_runtime.h").exists() && d.join("crt/host_config.h").exists() && d.join("nv/target").exists()
    })?;
    let nccl = nvidia.join("nccl/include");
    nccl.join("nccl.h").exists().then(|| vec![cuda, nccl])
}
