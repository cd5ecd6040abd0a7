//! Run under torchrun: joins the group, checks broadcast, all-reduce and barrier against
//! values every rank can compute, prints `rank R of W: ok` and exits 0 (1 with the error).
//! `torchrun --standalone --nproc-per-node 2 --no-python target/debug/figs-dist-check`
//! checks Gloo on CPU tensors; with the argument `cuda` each rank uses its own GPU (the
//! LOCAL_RANK-th, pinned with CUDA_VISIBLE_DEVICES) and NCCL (bench/gpu-check.sh runs it where a GPU is lent).

use figs_dist::{Backend, Env, ProcessGroup};
use tch::{Device, Kind, Tensor};

fn check() -> Result<String, Box<dyn std::error::Error>> {
    let secs: u64 = std::env::var("FIGS_DIST_TIMEOUT_S").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let env = Env::from_env()?.ok_or("not under torchrun (WORLD_SIZE unset)")?;
    let asked = match std::env::args().nth(1).as_deref() {
        None | Some("cpu") => Device::Cpu,
        Some("cuda") => Device::Cuda(0),
        Some(other) => return Err(format!("unknown device `{other}`: give cpu or cuda").into()),
    };
    figs_dist::pin_local_gpu()?;
    let device = match asked {
        Device::Cuda(_) if tch::Cuda::device_count() == 0 => {
            return Err("cuda asked for, but libtorch sees no CUDA device on this rank".into())
        }
        d => d,
    };
    // Joined directly, so that one process makes a group too (a machine with one GPU can
    // only check NCCL with one rank: NCCL refuses two ranks on one device).
    let g = ProcessGroup::join(
        &env,
        "figs-dist-check/",
        std::time::Duration::from_secs(secs),
        Backend::for_device(device),
    )?;
    let (r, w) = (g.rank() as f64, g.world() as f64);
    let on = (Kind::Float, device);
    // Two tensors of different shapes go through one flat buffer and come back in place.
    let a = Tensor::full([3, 2], r + 1.0, on);
    let b = Tensor::arange(5, on) * (r + 1.0);
    g.all_reduce_mean(&[&a, &b])?;
    let mean = (w + 1.0) / 2.0; // mean of 1..=w
    assert_eq!(Vec::<f64>::try_from(a.flatten(0, -1).to(Device::Cpu))?, vec![mean; 6]);
    assert_eq!(Vec::<f64>::try_from(b.to(Device::Cpu))?, (0..5).map(|i| i as f64 * mean).collect::<Vec<_>>());
    // A parameter that requires grad is overwritten in place by rank 0's values.
    let p = Tensor::full([4], r, on).set_requires_grad(true);
    g.broadcast(&[&p], 0)?;
    assert_eq!(Vec::<f64>::try_from(p.detach().to(Device::Cpu))?, vec![0.0; 4]);
    g.barrier()?;
    Ok(format!("rank {} of {}: ok ({:?})", g.rank(), g.world(), Backend::for_device(device)))
}

fn main() {
    match check() {
        Ok(m) => println!("{m}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
