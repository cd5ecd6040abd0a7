//! Run under torchrun with 2 ranks (dist/tests/torchrun.rs does): one step of plain SGD
//! (no momentum, no weight decay) of a network without batch norm on 2 ranks must equal
//! one step of one process on the same global batch, to float tolerance (FAULTS.md 10).
//! Each rank also runs that one-process step itself and compares every weight and gate
//! logit: summing the gradients instead of averaging them, or two ranks reading the same
//! shard, is caught. Prints `rank R: one step equals the single-process step (max |Δ| …)`.

use figs::data::synthetic;
use figs::device::DeviceChoice;
use figs::graph::{Act, Graph, GraphBuilder, InputSpec};
use figs::regularizer::CostRegularizer;
use figs::search::{Optimizer, Search, SearchConfig};
use figs_dist::{Backend, ProcessGroup};
use std::sync::Arc;
use tch::Tensor;

/// Without batch norm, each rank's forward pass is a slice of the one-process pass.
fn network() -> figs::Result<Graph> {
    let mut b = GraphBuilder::new("no_bn", InputSpec { channels: 1, height: 8, width: 8 }, 4);
    let x = b.input();
    let y = b.conv("c1", &x, 8, 3, 1);
    let y = b.act("a1", &y, Act::Relu);
    let y = b.conv("c2", &y, 16, 3, 2);
    let y = b.act("a2", &y, Act::Relu);
    let y = b.global_avg_pool("gap", &y);
    let y = b.flatten("flat", &y);
    let _ = b.linear("fc", &y, 4);
    b.finish()
}

fn weights(s: &Search) -> figs::Result<Vec<(String, Tensor)>> {
    Ok(s.export_network()?.weights)
}

fn check() -> Result<String, Box<dyn std::error::Error>> {
    let g = ProcessGroup::from_env(std::time::Duration::from_secs(60), Backend::Gloo)?
        .ok_or("run under torchrun with --nproc-per-node 2")?;
    let (rank, world) = (g.rank(), g.world());
    let graph = network()?;
    let data = synthetic(256, 16, (1, 8, 8), 4, 3);
    let per_rank = 16;
    let config = |batch_size| SearchConfig {
        seed: 11,
        device: DeviceChoice::Cpu,
        batch_size,
        steps: 1,
        optimizer: Optimizer::Sgd,
        momentum: 0.0,
        weight_decay: 0.0,
        lr: 0.5,
        gate_lr: 0.5,
        lambda: 1.0,
        ..SearchConfig::default()
    };
    let flops = || Arc::new(CostRegularizer::flops());
    let mut parallel = Search::new(&graph, &data.train, config(per_rank), flops())?;
    parallel.set_collective(Arc::new(g))?;
    parallel.step()?;
    let mut alone = Search::new(&graph, &data.train, config(per_rank * world), flops())?;
    alone.step()?;
    let (a, b) = (weights(&parallel)?, weights(&alone)?);
    if a.len() != b.len() {
        return Err(format!("{} weights against {}", a.len(), b.len()).into());
    }
    let mut worst = 0.0f64;
    let mut moved = 0.0f64;
    let init = Search::new(&graph, &data.train, config(per_rank * world), flops())?;
    for (((name, x), (_, y)), (_, w0)) in a.iter().zip(&b).zip(weights(&init)?) {
        let d = f64::try_from((x - y).abs().max())?;
        moved = moved.max(f64::try_from((y - &w0).abs().max())?);
        if !(d <= 1e-5) {
            return Err(format!("rank {rank}: `{name}` differs from the single-process step by {d:e}").into());
        }
        worst = worst.max(d);
    }
    if moved < 1e-3 {
        return Err(format!("the step moved no weight by more than {moved:e}: the check proves nothing").into());
    }
    Ok(format!("rank {rank}: one step equals the single-process step (max |Δ| {worst:e}, step moved up to {moved:e})"))
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
