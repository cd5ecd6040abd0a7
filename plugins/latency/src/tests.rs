//! Roofline numbers worked out by hand on a two-layer network.

use super::*;
use figs::graph::{GraphBuilder, InputSpec};
use hardware::Hardware;
use tch::Kind;

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

/// A block with every case of the roofline: a dense stem, an expansion, a depthwise conv, a
/// residual add (a shared group), concat, global pool and a linear head.
fn block_graph() -> Graph {
    use figs::graph::Act;
    let mut b = GraphBuilder::new("b", InputSpec { channels: 3, height: 16, width: 16 }, 10);
    let x = b.input();
    let stem = b.conv_bn_act("stem", &x, 8, 3, 2, Act::Relu);
    let e = b.conv_bn_act("expand", &stem, 24, 1, 1, Act::Relu);
    let d = b.dwconv("dw", &e, 3, 1);
    let d = b.bn("dw_bn", &d);
    let p = b.conv("project", &d, 8, 1, 1);
    let p = b.bn("project_bn", &p);
    let r = b.add("res", &[&stem, &p]);
    let side = b.conv_bn_act("side", &r, 6, 3, 1, Act::Relu);
    let c = b.concat("cat", &[&r, &side]);
    let g = b.global_avg_pool("gap", &c);
    let f = b.flatten("flat", &g);
    b.linear("fc", &f, 10);
    b.finish().unwrap()
}

/// The device form (alive counts in a tensor) against the host form, value and gradient,
/// at full width and at random alive counts, on hardware where some layers are compute-
/// and others memory-bound.
#[test]
fn device_form_equals_host_form() {
    let g = block_graph();
    let a = g.analyze().unwrap();
    let hw = Hardware { peak_flops: 2e4, bandwidth: 1e3, ..toy() };
    let roof = Roofline::new(&g, &a, hw, 2.0);
    let bound: &dyn BoundRegularizer = &roof;
    let (mut compute, mut memory) = (0, 0);
    for trial in 0..20 {
        let alive: Vec<f64> = a
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                // A fixed scramble of (trial, group) into 1..=width.
                let h = (trial as usize * 7919 + i * 104_729) % g.width;
                if trial == 0 || !g.gated {
                    g.width as f64
                } else {
                    (h + 1) as f64
                }
            })
            .collect();
        let make_r = || -> Vec<Option<Tensor>> {
            a.groups
                .iter()
                .map(|g| {
                    g.gated.then(|| {
                        Tensor::rand([g.width as i64], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true)
                    })
                })
                .collect()
        };
        tch::manual_seed(trial);
        let r_host = make_r();
        tch::manual_seed(trial);
        let r_dev = make_r();
        let alive_t = Tensor::from_slice(&alive).to_kind(Kind::Float);
        let host = bound.penalty(&r_host, &alive).unwrap();
        let dev = bound.penalty_on_device(&r_dev, &alive_t).unwrap().unwrap();
        figs::regularizer::check_penalty("latency", &dev, &r_dev).unwrap();
        let (hv, dv) = (host.double_value(&[]), dev.double_value(&[]));
        assert!((hv - dv).abs() <= 1e-5 * hv.abs().max(1e-9), "trial {trial}: penalty {hv} vs {dv}");
        host.backward();
        dev.backward();
        for (h, d) in r_host.iter().zip(&r_dev) {
            if let (Some(h), Some(d)) = (h, d) {
                let diff = (h.grad() - d.grad()).abs().max().double_value(&[]);
                let scale = h.grad().abs().max().double_value(&[]).max(1e-12);
                assert!(diff <= 1e-5 * scale, "trial {trial}: gradient differs by {diff} (scale {scale})");
            }
        }
        let lat = roof.latency(&alive);
        let lat_t = bound.reported_on_device(&alive_t).unwrap().unwrap().double_value(&[]);
        assert!((lat - lat_t).abs() <= 1e-9 * lat, "trial {trial}: latency {lat} vs {lat_t}");
        let (c, m) = roof.bound_sides(&alive);
        compute += c;
        memory += m;
    }
    // Both sides of the max must have been exercised for the check to mean anything.
    assert!(compute > 0 && memory > 0, "compute-bound layers {compute}, memory-bound {memory}");
}

#[test]
fn device_form_refuses_counts_of_the_wrong_shape() {
    let g = graph();
    let a = g.analyze().unwrap();
    let roof = Roofline::new(&g, &a, toy(), 1.0);
    let e = roof.latency_t(&Tensor::ones([a.groups.len() as i64 + 1], (Kind::Float, tch::Device::Cpu))).unwrap_err();
    assert!(e.to_string().contains("expected ["), "{e}");
}
