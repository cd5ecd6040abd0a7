//! Roofline numbers worked out by hand on a two-layer network.

use super::*;
use figs::graph::{GraphBuilder, InputSpec};
use hardware::Hardware;

/// 1×8×8 input → conv3x3 (4) + BN → global pool → linear (2).
fn graph() -> Graph {
    let mut b = GraphBuilder::new("t", InputSpec { channels: 1, height: 8, width: 8 }, 2);
    let x = b.input();
    let x = b.conv("c", &x, 4, 3, 1);
    let x = b.bn("c_bn", &x);
    let x = b.global_avg_pool("gap", &x);
    let x = b.flatten("flat", &x);
    b.linear("fc", &x, 2);
    b.finish().unwrap()
}

fn toy() -> Hardware {
    Hardware {
        description: String::new(),
        peak_flops: 1000.0,
        bandwidth: 100.0,
        bytes_per_element: 1.0,
        source: String::new(),
    }
}

fn group(a: &figs::graph::Analysis, name: &str) -> usize {
    a.groups.iter().find(|g| g.name == name).unwrap().id
}

#[test]
fn latency_by_hand() {
    // conv: FLOPs 2·64·9·1·4 = 4608 → 4.608 s; bytes 64 + 64·4 + 9·4 = 356 → 3.56 s: compute-bound.
    // fc: FLOPs 2·4·2 = 16 → 0.016 s; bytes 4 + 2 + 8 = 14 → 0.14 s: memory-bound. Total 4.748 s.
    let g = graph();
    let a = g.analyze().unwrap();
    let r = Roofline::new(&g, &a, toy(), 1.0);
    let mut alive: Vec<f64> = a.groups.iter().map(|g| g.width as f64).collect();
    assert!((r.latency(&alive) - 4.748).abs() < 1e-12, "{}", r.latency(&alive));
    // Two conv channels: conv 2304 FLOPs → 2.304 s vs 210 B → 2.1 s; fc 8 B + … → 0.08 s.
    alive[group(&a, "c")] = 2.0;
    assert!((r.latency(&alive) - 2.384).abs() < 1e-12, "{}", r.latency(&alive));
}

#[test]
fn penalty_gradient_is_the_active_side() {
    // d/dA_c at full width: conv compute 2·64·9·1/1000 = 1.152, fc memory (1 + 2)/100 = 0.03.
    let g = graph();
    let a = g.analyze().unwrap();
    let bound = Roofline::new(&g, &a, toy(), 1.0);
    let c = group(&a, "c");
    let alive: Vec<f64> = a.groups.iter().map(|g| g.width as f64).collect();
    let mut r: Vec<Option<Tensor>> = a.groups.iter().map(|_| None).collect();
    r[c] = Some(Tensor::ones([4], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true));
    let p = bound.penalty(&r, &alive).unwrap();
    figs::regularizer::check_penalty("latency", &p, &r).unwrap();
    p.backward();
    let grad = Vec::<f64>::try_from(r[c].as_ref().unwrap().grad().to_kind(Kind::Double)).unwrap();
    for v in grad {
        assert!((v - 1.182).abs() < 1e-5, "{v}");
    }
}

#[test]
fn bind_reads_params_and_tables() {
    let g = graph();
    let mut p = BTreeMap::new();
    p.insert("hardware".to_string(), "cpu".to_string());
    assert!(Latency.bind(&g, &p).is_ok());
    p.insert("hardware".to_string(), "abacus".to_string());
    let e = Latency.bind(&g, &p).err().unwrap().to_string();
    assert!(e.contains("abacus") && e.contains("h200"), "{e}");
    let dir = tempfile_dir();
    let path = dir.join("hw.json");
    std::fs::write(&path, r#"{"toy": {"peak_flops": 1000, "bandwidth": 100, "bytes_per_element": 1}}"#).unwrap();
    p.insert("hardware".to_string(), "toy".to_string());
    p.insert("table".to_string(), path.display().to_string());
    let b = Latency.bind(&g, &p).unwrap();
    let a = g.analyze().unwrap();
    let full: Vec<f64> = a.groups.iter().map(|g| g.width as f64).collect();
    assert!((b.reported(&full).unwrap() - 4.748).abs() < 1e-12);
    p.insert("table".to_string(), dir.join("missing.json").display().to_string());
    let e = Latency.bind(&g, &p).err().unwrap().to_string();
    assert!(e.contains("missing.json"), "{e}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("figs-latency-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
