//! Every bundled space loads as a plugin and runs a short search on synthetic data with
//! every bundled regularizer, also loaded as a plugin; superblock branches can be removed
//! at export.

use figs::data::synthetic;
use figs::device::DeviceChoice;
use figs::graph::prune;
use figs::search::{Search, SearchConfig};
use figs::space::SearchSpace;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn small_params(space: &str) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [("resolution", "16"), ("channels", "1"), ("classes", "10")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match space {
        "mobilenet_v2" | "mobilenet_v3" => p.insert("width".into(), "0.5".into()),
        "resnet" => p.insert("width".into(), "0.25".into()),
        _ => p.insert("kernels".into(), "3,5".into()),
    };
    p
}

/// The four bundled regularizers, each loaded from its `.so`, with the parameters to use.
const REGULARIZERS: [(&str, &[(&str, &str)]); 4] =
    [("flops", &[]), ("model_size", &[]), ("latency", &[("hardware", "cpu")]), ("gamma_flops", &[])];

#[test]
fn every_space_searches_with_every_regularizer() {
    let data = synthetic(256, 32, (1, 16, 16), 10, 5);
    let cancel = AtomicBool::new(false);
    for name in ["mobilenet_v2", "mobilenet_v3", "resnet", "fbnet"] {
        let space = figs::plugin::find(name).unwrap();
        let g = space.build(&small_params(name)).unwrap();
        for (reg_name, params) in REGULARIZERS {
            let reg = figs::plugin::find_regularizer(reg_name).unwrap();
            assert_eq!(reg.info().kind, "regularizer");
            let cfg = SearchConfig {
                device: DeviceChoice::Cpu,
                batch_size: 32,
                steps: 6,
                lambda: 2.0,
                regularizer_params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                bn_recalibration_batches: 2,
                ..SearchConfig::default()
            };
            let ctx = format!("{name} × {reg_name}");
            let mut s = Search::new(&g, &data.train, cfg, Arc::new(reg)).unwrap();
            assert_eq!(s.run(6, &cancel, |m| assert!(m.reg.is_finite(), "{ctx}")).unwrap(), 6, "{ctx}");
            let ev = s.evaluate().unwrap();
            assert!(ev.loss.is_finite() && ev.cost > 0.0 && ev.cost <= s.initial_cost() * 1.0001, "{ctx}: {ev:?}");
            let (arch, _) = s.export().unwrap();
            arch.analyze().unwrap();
            assert_eq!(s.config().regularizer, reg_name);
        }
    }
}

#[test]
fn an_fbnet_branch_whose_channels_die_is_removed() {
    let g = figs_fbnet::FbNet.build(&small_params("fbnet")).unwrap();
    let a = g.analyze().unwrap();
    // Kill the k5e6 branch of block 1 (a stride-1 block with a skip) and nothing else.
    let dead = a.groups.iter().find(|grp| grp.name == "block1.k5e6.expand.conv").unwrap().id;
    let alive: Vec<usize> = a.groups.iter().map(|grp| if grp.id == dead { 0 } else { grp.width }).collect();
    let (p, report) = prune(&g, &a, &alive).unwrap();
    let removed: Vec<&str> = report.removed_nodes.iter().map(String::as_str).collect();
    assert!(removed.contains(&"block1.k5e6.expand.conv") && removed.contains(&"block1.k5e6.project.bn"), "{removed:?}");
    assert!(removed.iter().all(|n| n.starts_with("block1.k5e6.")), "only that branch goes: {removed:?}");
    let sum = &p.nodes[p.index_of("block1.sum").unwrap()];
    assert!(!sum.inputs.iter().any(|i| i.starts_with("block1.k5e6")));
    assert!(sum.inputs.iter().any(|i| i.starts_with("block1.k3e3")));
}
