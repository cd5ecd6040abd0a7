//! Latency tables (issue 28): what `figs profile` measures and how a table predicts. The
//! mechanics only — layers, grids, interpolation at the measured points, the cache key,
//! the check of random sub-networks — because timings in a test on a shared 2-core machine
//! would make it flaky; how well a table predicts is measured by bench/latency_table.sh
//! (docs/PERFORMANCE.md, "Latency tables").

use figs::graph::Op;
use figs::latency::check::{sample, Sampling};
use figs::latency::measure::{key, profile, ProfileOptions};
use figs::latency::{cache_path, LatencyTable};
use tch::Device;

fn options() -> ProfileOptions {
    ProfileOptions { device: Device::Cpu, batch: 2, threads: 1, block: 8, points: 3, channels_last: true, passes: 2 }
}

fn half_of(a: &figs::graph::Analysis) -> Vec<f64> {
    a.groups.iter().map(|g| if g.gated { (g.width / 2).max(8) as f64 } else { g.width as f64 }).collect()
}

#[test]
fn a_table_times_every_layer_on_its_grid_and_predicts_the_supernet_it_measured() {
    let g = figs_tests::tiny_mobilenet();
    let a = g.analyze().unwrap();
    let mut calls = 0;
    let t = profile(&g, &options(), |done, total| {
        calls += 1;
        assert!(done <= total);
    })
    .unwrap();
    let layers = g.nodes.iter().filter(|n| matches!(n.op, Op::Conv { .. } | Op::Linear { .. })).count();
    assert_eq!(t.layers.len(), layers);
    let points: usize = t.layers.iter().map(|l| l.ms.len() * l.outs.len()).sum();
    let levels = options().points;
    assert_eq!(calls, 2 * (points + levels), "a progress call per timed point and uniform sub-network, per pass");
    for l in &t.layers {
        let node = &g.nodes[g.index_of(&l.node).unwrap()];
        if let Op::Conv { depthwise: true, .. } = node.op {
            assert!(l.ins.is_empty() && l.ms.len() == 1, "{}: a depthwise conv has one axis", l.node);
        }
        assert!(l.ms.iter().flatten().all(|&v| v > 0.0 && v.is_finite()), "{}: {:?}", l.node, l.ms);
        // Multiples of the block, or an ungated width (the image's 1 channel, 10 classes).
        for &c in l.ins.iter().chain(&l.outs) {
            assert!(c as usize % 8 == 0 || c == 1.0 || c == 10.0, "{}: grid point {c}", l.node);
        }
    }
    // At full width the prediction is the supernet's measured time, by construction.
    let full: Vec<f64> = a.groups.iter().map(|g| g.width as f64).collect();
    let bound = t.bind(&g, &a).unwrap();
    assert!((bound.predict(&full) - t.supernet_ms).abs() < 1e-9);
    // The rest curve: one uniform sub-network per level, by rising layers' sum; the
    // supernet's is the one at its layers' sum.
    assert_eq!(t.rest_curve.len(), levels);
    assert!(t.rest_curve.windows(2).all(|w| w[0][0] <= w[1][0]), "{:?}", t.rest_curve);
    let whole = bound.layers_ms(&full);
    assert!(
        t.rest_curve.iter().any(|p| p[0] == whole && (p[0] + p[1] - t.supernet_ms).abs() < 1e-9),
        "{:?} lacks the supernet ({whole} + rest = {})",
        t.rest_curve,
        t.supernet_ms
    );
    // A table written before the curve existed still loads and adds its constant rest.
    let mut old = t.clone();
    old.rest_curve.clear();
    let text = serde_json::to_string(&old).unwrap().replace(",\"rest_curve\":[]", "");
    assert!(!text.contains("rest_curve"));
    let old: LatencyTable = serde_json::from_str(&text).unwrap();
    let ob = old.bind(&g, &a).unwrap();
    assert!((ob.predict(&half_of(&a)) - (ob.layers_ms(&half_of(&a)) + t.rest_ms)).abs() < 1e-12);
    assert!(bound.predict(&half_of(&a)).is_finite());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    t.save(&file).unwrap();
    assert_eq!(LatencyTable::load(&file).unwrap(), t);

    // A graph without one of the table's layers is refused, naming it.
    let other = figs_tests::tiny_mobilenet_for(1, 16, 10);
    let mut renamed = other.clone();
    let conv = renamed.nodes.iter().position(|n| n.name == "head.conv").unwrap();
    renamed.nodes[conv].name = "head.conv2".into();
    for n in &mut renamed.nodes {
        for i in &mut n.inputs {
            if i == "head.conv" {
                *i = "head.conv2".into();
            }
        }
    }
    let e = t.bind(&renamed, &renamed.analyze().unwrap()).unwrap_err().to_string();
    assert!(e.contains("head.conv") && e.contains("profile"), "{e}");
}

#[test]
fn the_cache_key_tells_set_ups_apart() {
    let g = figs_tests::tiny_mobilenet();
    let o = options();
    let base = cache_path(&key(&g, &o));
    assert_eq!(base, cache_path(&key(&g, &o)));
    for other in [
        ProfileOptions { threads: 2, ..options() },
        ProfileOptions { batch: 1, ..options() },
        ProfileOptions { channels_last: false, ..options() },
    ] {
        assert_ne!(cache_path(&key(&g, &other)), base);
    }
    assert_ne!(cache_path(&key(&figs_tests::tiny_mobilenet_for(3, 16, 10), &o)), base);
}

#[test]
fn random_sub_networks_are_built_timed_and_predicted() {
    let g = figs_tests::tiny_mobilenet();
    let t = profile(&g, &ProfileOptions { points: 2, ..options() }, |_, _| {}).unwrap();
    let s = sample(&g, &t, 3, 7, Device::Cpu, 2, Sampling::Sized, |_, _| {}).unwrap();
    assert_eq!(s.len(), 3);
    let a = g.analyze().unwrap();
    for x in &s {
        assert!(x.measured_ms > 0.0 && x.predicted_ms.is_finite(), "{x:?}");
        for grp in a.groups.iter().filter(|g| g.gated) {
            assert_eq!(x.widths[grp.id] % 8, 0, "{x:?}");
        }
    }
}

#[test]
fn the_latency_table_regularizer_reports_the_table_and_lands_a_target() {
    use figs::data::synthetic;
    use figs::device::DeviceChoice;
    use figs::gate::GateConfig;
    use figs::regularizer::Regularizer;
    use figs::search::{Search, SearchConfig};
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    let g = figs_tests::tiny_mobilenet();
    let mut t = profile(&g, &ProfileOptions { points: 2, ..options() }, |_, _| {}).unwrap();
    // Times that grow with channels (a tiny network's measured ones need not: they are
    // microseconds of noise), so that a target between the smallest and the whole network
    // exists; the mechanics under test do not depend on the numbers.
    for l in &mut t.layers {
        for (r, row) in l.ms.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = 1e-3 * l.ins.get(r).copied().unwrap_or(1.0) * l.outs[c];
            }
        }
    }
    let a = g.analyze().unwrap();
    let full: Vec<f64> = a.groups.iter().map(|g| g.width as f64).collect();
    let layers = t.bind(&g, &a).unwrap().layers_ms(&full);
    t.rest_curve = vec![[0.0, 0.02], [layers, 0.05]];
    t.supernet_ms = layers + 0.05;
    t.rest_ms = 0.05;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("table.json");
    t.save(&file).unwrap();
    let reg = figs::plugin::find_regularizer("latency_table").unwrap();
    let params = BTreeMap::from([("table".to_string(), file.display().to_string())]);
    let bound = reg.bind(&g, &params).unwrap();
    let seconds = bound.reported(&full).unwrap();
    assert!((seconds - t.supernet_ms * 1e-3).abs() < 1e-12, "{seconds} s vs the table's {} ms", t.supernet_ms);

    // A missing table is an error that says how to make one.
    let none = BTreeMap::from([("table".to_string(), dir.path().join("none.json").display().to_string())]);
    let e = reg.bind(&g, &none).err().expect("no table, no binding").to_string();
    assert!(e.contains("none.json"), "{e}");

    // Target mode in the table's unit: the export's predicted latency is at or below it.
    let min: Vec<f64> = a.groups.iter().map(|g| if g.gated { 8.0 } else { g.width as f64 }).collect();
    let target = 0.5 * (bound.reported(&min).unwrap() + seconds);
    let data = synthetic(256, 16, (1, 16, 16), 10, 3);
    let cfg = SearchConfig {
        device: DeviceChoice::Cpu,
        batch_size: 32,
        steps: 40,
        lambda: 1.0,
        gate_lr: 0.2,
        target: Some(target),
        regularizer_params: params,
        gate: GateConfig { width_multiple: 8, ..GateConfig::default() },
        ..SearchConfig::default()
    };
    let mut s = Search::new(&g, &data.train, cfg, Arc::new(reg)).unwrap();
    s.run(40, &AtomicBool::new(false), |_| {}).unwrap();
    let landed = s.current_cost();
    assert!(landed <= target, "the export's predicted latency {landed} s is above the target {target} s");
}
