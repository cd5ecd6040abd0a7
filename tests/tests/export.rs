//! The export is the network the search evaluated (DESIGN §9, issue 8).
//!
//! For every bundled space (MobileNetV2, MobileNetV3, ResNet basic and bottleneck, FBNet,
//! and SSDLite on MobileNetV3 searched on detection data) a
//! short search
//! with a large λ runs on synthetic data; then named groups are closed on purpose, so that
//! every case the export must handle occurs in every run whatever the search did by itself:
//! a residual block whose expansion died (its projection BN's shift must be folded into the
//! add), a block without a skip whose expansion died (kept at one channel, which evaluation
//! must keep open too), a fully dead FBNet superblock, and a dead FBNet branch. Besides
//! the bundled spaces: target mode, the `gamma_flops` source, a hand-made graph with a
//! concat (one input of which dies because its own input died), a depthwise conv, a 4×4
//! flatten into a linear and a 1-d batch norm, and an exported network (with a folded add
//! bias) searched again. Then
//! - the exported graph, built with the exported weights, gives the supernet's logits
//!   (deterministic gates, eval mode) on the same batch to 1e-4 relative;
//! - the generated PyTorch module, run by the venv's torch (tests/pytorch/check_export.py),
//!   gives them too, eager and compiled by `torch.jit.script`, and PyTorch counts the same
//!   parameters and MACs as figs;
//! - its ONNX file (`figs::export::onnx`, PyTorch's exporter) gives them in onnxruntime.

use figs::count::count;
use figs::data::{synthetic, synthetic_detection};
use figs::detect::boxes::DefaultBoxes;
use figs::detect::ssd::{detections, DetectOptions};
use figs::device::DeviceChoice;
use figs::export::{build_with_weights, write_weights};
use figs::graph::{Act, Graph, GraphBuilder, InputSpec, Op, TaskKind};
use figs::search::{Optimizer, Search, SearchConfig};
use figs::space::SearchSpace;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

struct Case {
    name: &'static str,
    graph: fn() -> Graph,
    resolution: usize,
    /// Groups closed after the search (every logit set to −3).
    close: &'static [&'static str],
    /// Groups half closed after the search (every other channel).
    half: &'static [&'static str],
    regularizer: &'static str,
    /// Target mode at this fraction of the supernet's cost.
    target: Option<f64>,
    /// Initial λ of the search.
    lambda: f64,
    /// The closures leave a removed branch's constant to fold / a group kept at width 1.
    folds: bool,
    keeps_one: bool,
    /// Searched on detection data (`synthetic_detection`, 11 classes with the background).
    detection: bool,
}

fn space(name: &str, params: &[(&str, &str)], r: usize) -> Graph {
    let mut p: BTreeMap<String, String> =
        [("resolution", r.to_string()), ("channels", "1".into()), ("classes", "10".into())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    p.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    figs::plugin::find(name).unwrap().build(&p).unwrap()
}

fn mobilenet() -> Graph {
    space("mobilenet_v2", &[("width", "0.5")], 16)
}
fn mobilenet_v3() -> Graph {
    space("mobilenet_v3", &[("preset", "tiny"), ("width", "0.5")], 16)
}
/// SSDLite on the tiny MobileNetV3 (maps of 4x4, 2x2 and 1x1 at 16 px), 11 classes.
fn ssdlite() -> Graph {
    space("mobilenet_v3", &[("preset", "tiny"), ("width", "0.5"), ("head", "ssdlite"), ("classes", "11")], 16)
}
fn resnet_basic() -> Graph {
    space("resnet", &[("width", "0.25"), ("depth", "20")], 16)
}
fn resnet_bottleneck() -> Graph {
    space("resnet", &[("width", "0.125"), ("depth", "50"), ("stem", "imagenet")], 32)
}
fn fbnet() -> Graph {
    space("fbnet", &[("kernels", "3,5")], 16)
}

/// What no bundled space has: a concat of two branches (one through a depthwise conv),
/// average pooling, a flatten of 4×4 features into a linear, and a 1-d batch norm.
fn concat_flat() -> Graph {
    let mut b = GraphBuilder::new("concat_flat", InputSpec { channels: 1, height: 8, width: 8 }, 10);
    let x = b.input();
    let a = b.conv_bn_act("a", &x, 6, 3, 1, Act::Relu);
    let left = b.scope("b", |b| {
        let y = b.conv("conv", &a, 4, 1, 1);
        b.bn("bn", &y)
    });
    let e = b.conv_bn_act("e", &a, 6, 1, 1, Act::Relu);
    let right = b.scope("c", |b| {
        let y = b.dwconv("dw", &e, 3, 1);
        let y = b.bn("dw_bn", &y);
        let y = b.conv("conv", &y, 5, 1, 1);
        b.bn("bn", &y)
    });
    let y = b.concat("cat", &[&left, &right]);
    let y = b.act("cat_act", &y, Act::Relu);
    let y = b.node("pool", Op::AvgPool { kernel: 2, stride: 2, padding: 0 }, &[&y], 9);
    let y = b.flatten("flat", &y);
    let y = b.linear("l", &y, 12);
    let y = b.bn("l_bn", &y);
    let y = b.act("l_act", &y, Act::Relu);
    b.linear("fc", &y, 10);
    b.finish().unwrap()
}

/// [`concat_flat`] returning the logits and, as a second output, the features of branch
/// `e` (an image): the search keeps an output's channels, the export returns both.
fn two_outputs() -> Graph {
    let mut g = concat_flat();
    g.outputs = vec!["fc".into(), "e.act".into()];
    g.analyze().unwrap();
    g
}

const FBNET_CLOSE: &[&str] = &[
    "block2.k3e3.expand.conv",
    "block2.k3e6.expand.conv",
    "block2.k5e3.expand.conv",
    "block2.k5e6.expand.conv",
    "block1.k3e3.expand.conv",
    "block1.k3e6.expand.conv",
    "block1.k5e3.expand.conv",
    "block1.k5e6.expand.conv",
    "block3.k5e6.expand.conv",
];

const CASES: [Case; 11] = [
    // block2 has a skip (its add must get the folded shift); block1 has none (kept at 1).
    Case {
        name: "mobilenet_v2",
        graph: mobilenet,
        resolution: 16,
        close: &["block2.expand.conv", "block1.expand.conv"],
        half: &[],
        regularizer: "flops",
        lambda: 8.0,
        target: None,
        folds: true,
        keeps_one: true,
        detection: false,
    },
    // block4 (skip): its expansion dies, so its squeeze-and-excitation with it and the
    // projection's shift is folded; block0 and block5: every squeeze channel dies, which
    // would leave the block scaled by a constant, so one is kept.
    Case {
        name: "mobilenet_v3 (squeeze-and-excitation, hard-sigmoid, mul)",
        graph: mobilenet_v3,
        resolution: 16,
        close: &["block4.expand.conv", "block0.se.fc1", "block5.se.fc1"],
        half: &["block6.se.fc1", "block6.expand.conv"],
        regularizer: "flops",
        lambda: 8.0,
        target: None,
        folds: true,
        keeps_one: true,
        detection: false,
    },
    Case {
        name: "resnet basic",
        graph: resnet_basic,
        resolution: 16,
        close: &["layer1.1.conv1.conv", "layer2.0.conv1.conv"],
        half: &[],
        regularizer: "flops",
        lambda: 8.0,
        target: None,
        folds: true,
        keeps_one: false,
        detection: false,
    },
    Case {
        name: "resnet bottleneck",
        graph: resnet_bottleneck,
        resolution: 32,
        close: &["layer1.1.conv1.conv", "layer3.2.conv2.conv"],
        half: &[],
        regularizer: "flops",
        lambda: 8.0,
        target: None,
        folds: true,
        keeps_one: false,
        detection: false,
    },
    // block2 (skip): every branch dies; block1 (stride 2, no skip): every branch dies, one
    // must stay at width 1; block3: one branch dies.
    Case {
        name: "fbnet",
        graph: fbnet,
        resolution: 16,
        close: FBNET_CLOSE,
        half: &[],
        regularizer: "flops",
        lambda: 8.0,
        target: None,
        folds: true,
        keeps_one: true,
        detection: false,
    },
    Case {
        name: "fbnet, target mode",
        graph: fbnet,
        resolution: 16,
        close: FBNET_CLOSE,
        half: &[],
        regularizer: "flops",
        lambda: 8.0,
        target: Some(0.4),
        folds: true,
        keeps_one: true,
        detection: false,
    },
    Case {
        name: "mobilenet_v2, gamma_flops",
        graph: mobilenet,
        resolution: 16,
        close: &[],
        half: &[],
        regularizer: "gamma_flops",
        lambda: 8.0,
        target: Some(0.5),
        folds: false,
        keeps_one: false,
        detection: false,
    },
    // The right branch's own input group `e` dies, so the concat loses `c` whole.
    Case {
        name: "concat, depthwise, flatten 4x4, 1-d batch norm",
        graph: concat_flat,
        resolution: 8,
        close: &["e.conv"],
        half: &["b.conv", "l", "a.conv"],
        regularizer: "flops",
        lambda: 8.0,
        target: None,
        folds: false,
        keeps_one: false,
        detection: false,
    },
    Case {
        name: "concat, target mode",
        graph: concat_flat,
        resolution: 8,
        close: &[],
        half: &[],
        regularizer: "flops",
        lambda: 8.0,
        target: Some(0.3),
        folds: false,
        keeps_one: false,
        detection: false,
    },
    Case {
        name: "two outputs: logits and an image of features",
        graph: two_outputs,
        resolution: 8,
        close: &[],
        half: &["b.conv", "l", "a.conv"],
        regularizer: "flops",
        lambda: 8.0,
        target: None,
        folds: false,
        keeps_one: false,
        detection: false,
    },
    // The C4 tap (block3's expansion, read by the backbone and two heads) half closed; the
    // last extra block's output closed (its heads' predictions are then constants: kept
    // at one channel); an extra block's inner width closed (the block dies, its map too).
    Case {
        name: "ssdlite on mobilenet_v3 (per_box outputs, detection task)",
        graph: ssdlite,
        resolution: 16,
        close: &["extra3.out.conv", "extra1.reduce.conv"],
        half: &["block3.expand.conv", "extra0.out.conv"],
        regularizer: "flops",
        lambda: 8.0,
        target: None,
        folds: false,
        keeps_one: true,
        detection: true,
    },
];

fn searched_graph(case: &Case, g: &Graph) -> (Search, Tensor) {
    let r = case.resolution;
    let data = if case.detection {
        synthetic_detection(256, 16, (1, r, r), 11, 3)
    } else {
        synthetic(256, 16, (1, r, r), 10, 3)
    };
    let reg = figs::plugin::find_regularizer(case.regularizer).unwrap();
    let mut cfg = SearchConfig {
        device: DeviceChoice::Cpu,
        batch_size: 32,
        steps: 40,
        lambda: case.lambda,
        gate_lr: 0.2,
        bn_recalibration_batches: 2,
        ..SearchConfig::default()
    };
    if let Some(f) = case.target {
        let full = Search::new(g, &data.train, cfg.clone(), Arc::new(reg.clone())).unwrap().initial_cost();
        cfg.target = Some(f * full);
        cfg.lambda = 1.0;
    }
    if case.regularizer == "gamma_flops" {
        (cfg.optimizer, cfg.lr) = (Optimizer::Sgd, 0.05);
    }
    let mut s = Search::new(g, &data.train, cfg, Arc::new(reg)).unwrap();
    s.run(40, &AtomicBool::new(false), |_| {}).unwrap();
    let widths: BTreeMap<String, usize> = s.analysis().groups.iter().map(|grp| (grp.name.clone(), grp.width)).collect();
    let width = |name: &str| *widths.get(name).unwrap_or_else(|| panic!("{}: no group {name}", case.name));
    for name in case.close {
        s.set_gate_logits(name, &vec![-3.0; width(name)]).unwrap();
    }
    for name in case.half {
        let v: Vec<f64> = (0..width(name)).map(|i| if i % 2 == 0 { 3.0 } else { -3.0 }).collect();
        s.set_gate_logits(name, &v).unwrap();
    }
    // Evaluation re-estimates BN statistics under the export's gates: the state exported.
    s.evaluate().unwrap();
    let (x, _) = data.test.ordered_batches(16, Device::Cpu).next().unwrap().unwrap();
    (s, x)
}

fn searched(case: &Case) -> (Search, Tensor) {
    searched_graph(case, &(case.graph)())
}

fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let d = f64::try_from((a - b).abs().max()).unwrap();
    d / f64::try_from(a.abs().max()).unwrap().max(1e-12)
}

/// figs' default boxes (`anchors`) and detections of every image of the batch from the
/// supernet's outputs (`detections`: rows of image, label, score, x1, y1, x2, y2), for
/// model.py's helper to reproduce.
fn figs_detections(g: &Graph, outs: &[Tensor]) -> Vec<(String, Tensor)> {
    let a = g.analyze().unwrap();
    let maps = figs::graph::detection_maps(g, &a);
    let grids: Vec<(usize, usize)> = maps.iter().map(|&(h, w, _)| (h, w)).collect();
    let image = (g.input.height, g.input.width);
    let anchors = DefaultBoxes::ssdlite(maps.len()).boxes(image, &grids);
    let mut rows: Vec<f32> = Vec::new();
    for i in 0..outs[0].size()[0] {
        for d in detections(&outs[0].get(i), &outs[1].get(i), &anchors, image, &DetectOptions::default()) {
            rows.extend([i as f32, d.label as f32, d.score, d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]]);
        }
    }
    let n = rows.len() as i64 / 7;
    vec![("anchors".into(), anchors), ("detections".into(), Tensor::from_slice(&rows).view([n, 7]))]
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

/// Checks the export of `s` against its evaluation, in tch and in PyTorch; returns the
/// largest relative logit difference.
fn check(ctx: &str, s: &Search, x: &Tensor) -> f64 {
    let e = s.export_network().unwrap();
    // The search's own evaluation counts the same widths the export has.
    assert_eq!(s.evals().last().unwrap().alive, e.report.widths, "{ctx}");
    let want = s.eval_outputs(x).unwrap();
    let (_vs, net) = build_with_weights(&e.graph, &e.weights, Device::Cpu).unwrap();
    let got = tch::no_grad(|| net.forward_outputs(x, false, None)).unwrap();
    assert_eq!(got.len(), want.len(), "{ctx}: outputs of the export vs the supernet");
    let d_tch = want.iter().zip(&got).map(|(w, g)| rel_diff(w, g)).fold(0.0, f64::max);
    assert!(d_tch < 1e-4, "{ctx}: exported network differs from the supernet by {d_tch:.3e} (relative)");

    let dir = tempfile::tempdir().unwrap();
    e.save_pytorch(dir.path()).unwrap();
    // ONNX too: its own check (onnxruntime and TorchScript against eager), then figs' batch.
    let (_, onnx) = figs::export::onnx::write_onnx(dir.path()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert!(onnx["onnxruntime_max_rel_diff"].as_f64().unwrap() <= 1e-4, "{ctx}: {onnx}");
    // `output0` is the logits; `output1`… the further outputs a graph names.
    let mut batch = vec![("x".to_string(), x.shallow_clone())];
    if e.graph.task == TaskKind::Detection {
        batch.extend(figs_detections(&e.graph, &want));
    }
    batch.extend(want.into_iter().enumerate().map(|(i, t)| (format!("output{i}"), t)));
    write_weights(&dir.path().join("batch.safetensors"), &batch).unwrap();
    let py = check_in_pytorch(dir.path());
    assert_eq!(py["outputs"].as_u64().unwrap() as usize, got.len(), "{ctx}: outputs of the PyTorch module: {py}");
    let d_py = py["max_rel_diff"].as_f64().unwrap();
    assert!(d_py < 1e-4, "{ctx}: the PyTorch module differs from the supernet by {d_py:.3e} (relative): {py}");
    if e.graph.task == TaskKind::Detection {
        assert!(
            py["anchors_max_diff"].as_f64().unwrap() < 1e-3,
            "{ctx}: model.py's default boxes differ from figs': {py}"
        );
        assert_eq!(py["detect_same_labels"], true, "{ctx}: model.py's detections differ from figs': {py}");
        assert!(py["detect_max_score_diff"].as_f64().unwrap() < 1e-5, "{ctx}: detection scores: {py}");
        assert!(py["detect_max_box_diff"].as_f64().unwrap() < 1e-3, "{ctx}: detection boxes: {py}");
    }
    let d_onnx = py["onnx_max_rel_diff"].as_f64().unwrap_or_else(|| panic!("{ctx}: no ONNX check: {py}"));
    assert!(d_onnx < 1e-4, "{ctx}: the ONNX file differs from the supernet by {d_onnx:.3e} (relative): {py}");
    let c = count(&e.graph, &e.graph.analyze().unwrap());
    assert_eq!(py["params"].as_u64().unwrap(), c.params, "{ctx}: parameters, PyTorch vs figs");
    assert_eq!(py["macs"].as_u64().unwrap(), c.macs, "{ctx}: MACs, PyTorch vs figs");
    d_tch.max(d_py)
}

#[test]
fn the_exported_network_computes_what_the_supernet_evaluated() {
    let mut worst: f64 = 0.0;
    for case in &CASES {
        let ctx = case.name;
        let (s, x) = searched(case);
        let r = s.export_network().unwrap().report;
        if case.folds {
            assert!(!r.folded.is_empty(), "{ctx}: a closed residual branch left no constant to fold: {r:?}");
        }
        if case.keeps_one {
            assert!(!r.kept_at_one.is_empty(), "{ctx}: no group had to stay at width 1: {r:?}");
        }
        if case.name == "fbnet" {
            let gone = |b: &str| r.removed_nodes.iter().any(|n| n.starts_with(b));
            assert!(gone("block3.k5e6."), "{ctx}: the dead branch is still there");
            for k in ["k3e3", "k3e6", "k5e3", "k5e6"] {
                assert!(gone(&format!("block2.{k}.")), "{ctx}: block2.{k} of the dead superblock is still there");
            }
            let kept1 =
                r.kept_at_one.iter().filter(|n| n.starts_with("block1.") && n.ends_with(".expand.conv")).count();
            assert_eq!(kept1, 1, "{ctx}: exactly one branch of the skip-less dead block stays: {r:?}");
        }
        if case.close == ["e.conv"] {
            assert!(r.removed_nodes.iter().any(|n| n == "c.conv"), "{ctx}: the concat input whose input died: {r:?}");
        }
        worst = worst.max(check(ctx, &s, &x));
    }
    println!("largest relative logit difference over all cases: {worst:.3e}");
}

#[test]
fn an_exported_network_with_a_folded_bias_searches_and_exports_again() {
    // The export of a first search (an add with a bias) is the supernet of a second one.
    let (s, _) = searched(&CASES[0]);
    let first = s.export_network().unwrap().graph;
    assert!(first.nodes.iter().any(|n| n.op == Op::Add { bias: true }), "the first export folded a shift");
    // Half of the stream that runs through the biased add closes: the bias must not reopen it.
    // A small λ keeps the rest of the network wide, so a reopened channel would show.
    let again = Case { close: &[], half: &["block1.project.conv"], lambda: 0.01, ..CASES[0] };
    let (s2, x) = searched_graph(&again, &first);
    check("re-searched export", &s2, &x);
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

#[test]
fn an_onnx_file_figs_did_not_write_is_kept() {
    let data = synthetic(64, 16, (1, 16, 16), 10, 1);
    let cfg = SearchConfig { device: DeviceChoice::Cpu, batch_size: 16, ..SearchConfig::default() };
    let s = Search::new(&mobilenet(), &data.train, cfg, figs_tests::flops()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    s.export_network().unwrap().save_pytorch(dir.path()).unwrap();
    let theirs = dir.path().join("model.onnx");
    std::fs::write(&theirs, b"someone else's model").unwrap();
    let e = figs::export::onnx::write_onnx(dir.path()).unwrap_err().to_string();
    assert!(e.contains("figs did not write it"), "{e}");
    assert_eq!(std::fs::read(&theirs).unwrap(), b"someone else's model");
    // One figs wrote is replaced.
    std::fs::remove_file(&theirs).unwrap();
    figs::export::onnx::write_onnx(dir.path()).unwrap();
    let (again, report) = figs::export::onnx::write_onnx(dir.path()).unwrap();
    assert_eq!(again, theirs);
    assert!(report["onnxruntime_max_rel_diff"].as_f64().unwrap() <= 1e-4, "{report}");
}
