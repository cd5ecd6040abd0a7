//! The exact parameter count of a graph equals the parameters of the tch model built from
//! it, for full and pruned graphs, and a pruned graph runs.

use figs::count::count;
use figs::graph::{prune, Graph};
use figs_tests::{built_params, tiny_mobilenet};
use tch::{Device, Kind, Tensor};

fn check(g: &Graph) {
    let c = count(g, &g.analyze().unwrap());
    assert_eq!(built_params(g), c.params as i64, "graph `{}`", g.name);
}

/// Alive counts that keep every `k`-th fraction of each gated group, some at zero.
fn some_alive(g: &Graph, seed: usize) -> Vec<usize> {
    let a = g.analyze().unwrap();
    a.groups.iter().map(|grp| if !grp.gated { grp.width } else { (grp.width * ((grp.id + seed) % 4)) / 4 }).collect()
}

#[test]
fn full_graphs() {
    check(&tiny_mobilenet());
    check(&figs_mobilenet_v2::build(&figs_mobilenet_v2::Config::small(0.5, 1, 10)).unwrap());
}

#[test]
fn pruned_graphs_build_run_and_count() {
    let g = tiny_mobilenet();
    let a = g.analyze().unwrap();
    for seed in 0..4 {
        let alive = some_alive(&g, seed);
        let (p, report) = prune(&g, &a, &alive).unwrap();
        check(&p);
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let net = figs::net::Net::new(&vs.root(), &p).unwrap();
        let y = net.forward(&Tensor::randn([3, 1, 16, 16], (Kind::Float, Device::Cpu)), false, None).unwrap();
        assert_eq!(y.size(), [3, 10], "seed {seed}, removed {:?}", report.removed_nodes);
        assert!(count(&p, &p.analyze().unwrap()).macs < count(&g, &a).macs);
    }
}

#[test]
fn arch_json_round_trip() {
    let g = tiny_mobilenet();
    let a = g.analyze().unwrap();
    let (p, _) = prune(&g, &a, &some_alive(&g, 1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arch.json");
    p.save(&path).unwrap();
    let back = Graph::load(&path).unwrap();
    assert_eq!(p, back);
    check(&back);
}

#[test]
fn bad_arch_json_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arch.json");
    std::fs::write(&path, "{ not json").unwrap();
    let e = Graph::load(&path).unwrap_err().to_string();
    assert!(e.contains("arch.json") && e.contains("line 1"), "{e}");
    let e = Graph::load(&dir.path().join("missing.json")).unwrap_err().to_string();
    assert!(e.contains("cannot read") && e.contains("missing.json"), "{e}");
}
