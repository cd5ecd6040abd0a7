//! The export is the network the search evaluated (DESIGN §9, issue 8).
//!
//! For every bundled space (MobileNetV2, ResNet basic and bottleneck, FBNet) a short search
//! with a large λ runs on synthetic data; then named groups are closed on purpose, so that
//! every case the export must handle occurs in every run whatever the search did by itself:
//! a residual block whose expansion died (its projection BN's shift must be folded into the
//! add), a block without a skip whose expansion died (kept at one channel, which evaluation
//! must keep open too), a fully dead FBNet superblock, and a dead FBNet branch. Then
//! - the exported graph, built with the exported weights, gives the supernet's logits
//!   (deterministic gates, eval mode) on the same batch to 1e-4 relative;
//! - the generated PyTorch module, run by the venv's torch (tests/pytorch/check_export.py),
//!   gives them too, and PyTorch counts the same parameters and MACs as figs.

use figs::count::count;
use figs::data::synthetic;
use figs::device::DeviceChoice;
use figs::export::{build_with_weights, write_weights};
use figs::regularizer::CostRegularizer;
use figs::search::{Search, SearchConfig};
use figs::space::SearchSpace;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

struct Case {
    space: &'static str,
    params: &'static [(&'static str, &'static str)],
    resolution: usize,
    /// Groups closed after the search (every logit set to −3).
    close: &'static [&'static str],
}

const CASES: [Case; 4] = [
    Case {
        space: "mobilenet_v2",
        params: &[("width", "0.5")],
        resolution: 16,
        // block2 has a skip (its add must get the folded shift); block1 has none (kept at 1).
        close: &["block2.expand.conv", "block1.expand.conv"],
    },
    Case {
        space: "resnet",
        params: &[("width", "0.25"), ("depth", "20")],
        resolution: 16,
        close: &["layer1.1.conv1.conv", "layer2.0.conv1.conv"],
    },
    Case {
        space: "resnet",
        params: &[("width", "0.125"), ("depth", "50"), ("stem", "imagenet")],
        resolution: 32,
        close: &["layer1.1.conv1.conv", "layer3.2.conv2.conv"],
    },
    Case {
        space: "fbnet",
        params: &[("kernels", "3,5")],
        resolution: 16,
        // block2 (skip): every branch dies; block1 (stride 2, no skip): every branch dies,
        // one must stay at width 1; block3: one branch dies.
        close: &[
            "block2.k3e3.expand.conv",
            "block2.k3e6.expand.conv",
            "block2.k5e3.expand.conv",
            "block2.k5e6.expand.conv",
            "block1.k3e3.expand.conv",
            "block1.k3e6.expand.conv",
            "block1.k5e3.expand.conv",
            "block1.k5e6.expand.conv",
            "block3.k5e6.expand.conv",
        ],
    },
];

fn searched(case: &Case) -> (Search, Tensor) {
    let r = case.resolution;
    let data = synthetic(256, 16, (1, r, r), 10, 3);
    let mut params: BTreeMap<String, String> =
        [("resolution", r.to_string()), ("channels", "1".into()), ("classes", "10".into())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    params.extend(case.params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let g = figs::plugin::find(case.space).unwrap().build(&params).unwrap();
    let cfg = SearchConfig {
        device: DeviceChoice::Cpu,
        batch_size: 32,
        steps: 40,
        lambda: 8.0,
        gate_lr: 0.2,
        bn_recalibration_batches: 2,
        ..SearchConfig::default()
    };
    let mut s = Search::new(&g, &data.train, cfg, Arc::new(CostRegularizer::flops())).unwrap();
    s.run(40, &AtomicBool::new(false), |_| {}).unwrap();
    let widths: BTreeMap<String, usize> = s.analysis().groups.iter().map(|grp| (grp.name.clone(), grp.width)).collect();
    for name in case.close {
        let w = *widths.get(*name).unwrap_or_else(|| panic!("{}: no group {name}", case.space));
        s.set_gate_logits(name, &vec![-3.0; w]).unwrap();
    }
    // Evaluation re-estimates BN statistics under the export's gates: the state exported.
    s.evaluate().unwrap();
    let (x, _) = data.test.ordered_batches(16, Device::Cpu).next().unwrap();
    (s, x)
}

fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let d = f64::try_from((a - b).abs().max()).unwrap();
    d / f64::try_from(a.abs().max()).unwrap().max(1e-12)
}

fn python() -> String {
    let venv = std::env::var("FIGS_TORCH_VENV")
        .expect("FIGS_TORCH_VENV is unset: run ./scripts/setup.sh, which records the torch venv in .cargo/config.toml");
    format!("{venv}/bin/python")
}

fn check_in_pytorch(dir: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("pytorch/check_export.py");
    let out = Command::new(python()).arg(&script).arg(dir).output().expect("the venv's python runs");
    assert!(out.status.success(), "check_export.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("check_export.py prints JSON")
}

#[test]
fn the_exported_network_computes_what_the_supernet_evaluated() {
    let mut worst: f64 = 0.0;
    for case in &CASES {
        let ctx = format!("{} {:?}", case.space, case.params);
        let (s, x) = searched(case);
        let e = s.export_network().unwrap();
        let r = &e.report;
        assert!(!r.folded.is_empty(), "{ctx}: a closed residual branch left no constant to fold: {r:?}");
        if case.space != "resnet" {
            assert!(!r.kept_at_one.is_empty(), "{ctx}: no group had to stay at width 1: {r:?}");
        }
        if case.space == "fbnet" {
            let gone = |b: &str| r.removed_nodes.iter().any(|n| n.starts_with(b));
            assert!(gone("block3.k5e6."), "{ctx}: the dead branch is still there");
            for k in ["k3e3", "k3e6", "k5e3", "k5e6"] {
                assert!(gone(&format!("block2.{k}.")), "{ctx}: block2.{k} of the dead superblock is still there");
            }
            let kept1 =
                r.kept_at_one.iter().filter(|n| n.starts_with("block1.") && n.ends_with(".expand.conv")).count();
            assert_eq!(kept1, 1, "{ctx}: exactly one branch of the skip-less dead block stays: {r:?}");
        }
        // The search's own evaluation counts the same widths the export has.
        assert_eq!(s.evals().last().unwrap().alive, r.widths, "{ctx}");

        let want = s.eval_logits(&x).unwrap();
        let (_vs, net) = build_with_weights(&e.graph, &e.weights, Device::Cpu).unwrap();
        let got = tch::no_grad(|| net.forward(&x, false, None)).unwrap();
        let d = rel_diff(&want, &got);
        assert!(d < 1e-4, "{ctx}: exported network differs from the supernet by {d:.3e} (relative)");
        worst = worst.max(d);

        let dir = tempfile::tempdir().unwrap();
        e.save_pytorch(dir.path()).unwrap();
        write_weights(&dir.path().join("batch.safetensors"), &[("x".into(), x), ("logits".into(), want)]).unwrap();
        let py = check_in_pytorch(dir.path());
        let d = py["max_rel_diff"].as_f64().unwrap();
        assert!(d < 1e-4, "{ctx}: the PyTorch module differs from the supernet by {d:.3e} (relative): {py}");
        worst = worst.max(d);
        let c = count(&e.graph, &e.graph.analyze().unwrap());
        assert_eq!(py["params"].as_u64().unwrap(), c.params, "{ctx}: parameters, PyTorch vs figs");
        assert_eq!(py["macs"].as_u64().unwrap(), c.macs, "{ctx}: MACs, PyTorch vs figs");
    }
    println!("largest relative logit difference over all spaces: {worst:.3e}");
}

#[test]
fn retraining_from_the_search_starts_where_the_search_ended() {
    let (s, x) = searched(&CASES[0]);
    let e = s.export_network().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("arch.json");
    e.save(&arch).unwrap();
    let back = figs::export::Exported::load(&arch).unwrap();
    assert_eq!(back.graph, e.graph);
    let (_vs, net) = build_with_weights(&back.graph, &back.weights, Device::Cpu).unwrap();
    let got = tch::no_grad(|| net.forward(&x, false, None)).unwrap();
    assert!(rel_diff(&s.eval_logits(&x).unwrap(), &got) < 1e-4);
    // A weight file that belongs to another network is refused by name.
    let mut wrong = back.weights;
    wrong.retain(|(n, _)| !n.ends_with("running_var"));
    let err = build_with_weights(&back.graph, &wrong, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("running_var") && err.contains("missing"), "{err}");
    let extra = vec![("nope.weight".to_string(), Tensor::zeros([1], (Kind::Float, Device::Cpu)))];
    let err = build_with_weights(&back.graph, &extra, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("`nope.weight`") && err.contains("another architecture"), "{err}");
}
