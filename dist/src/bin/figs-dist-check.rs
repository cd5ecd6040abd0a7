//! Run under torchrun: joins the group, checks broadcast, all-reduce and barrier against
//! values every rank can compute, prints `rank R of W: ok` and exits 0 (1 with the error).
//! `torchrun --standalone --nproc-per-node 2 --no-python target/debug/figs-dist-check`

use figs_dist::ProcessGroup;
use tch::{Kind, Tensor};

fn check() -> Result<String, Box<dyn std::error::Error>> {
    let secs: u64 = std::env::var("FIGS_DIST_TIMEOUT_S").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let g = ProcessGroup::from_env(std::time::Duration::from_secs(secs))?
        .ok_or("not under torchrun (WORLD_SIZE unset or 1)")?;
    let (r, w) = (g.rank() as f64, g.world() as f64);
    let cpu = (Kind::Float, tch::Device::Cpu);
    // Two tensors of different shapes go through one flat buffer and come back in place.
    let a = Tensor::full([3, 2], r + 1.0, cpu);
    let b = Tensor::arange(5, cpu) * (r + 1.0);
    g.all_reduce_mean(&[&a, &b])?;
    let mean = (w + 1.0) / 2.0; // mean of 1..=w
    assert_eq!(Vec::<f64>::try_from(a.flatten(0, -1))?, vec![mean; 6]);
    assert_eq!(Vec::<f64>::try_from(b)?, (0..5).map(|i| i as f64 * mean).collect::<Vec<_>>());
    // A parameter that requires grad is overwritten in place by rank 0's values.
    let p = Tensor::full([4], r, cpu).set_requires_grad(true);
    g.broadcast(&[&p], 0)?;
    assert_eq!(Vec::<f64>::try_from(p.detach())?, vec![0.0; 4]);
    g.barrier()?;
    Ok(format!("rank {} of {}: ok", g.rank(), g.world()))
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
