//! `width-multiple`: gates that open and close blocks of K channels, so every searched
//! width is a multiple of K (issue 28) — in a plain search, with a group closed by hand,
//! in target mode and through compaction — and the exported network still computes what
//! the search evaluated.

use figs::data::synthetic;
use figs::device::DeviceChoice;
use figs::export::build_with_weights;
use figs::gate::GateConfig;
use figs::search::{Search, SearchConfig};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tch::{Device, Tensor};

/// Steps seed libtorch's one global generator; tests in this binary run on several threads.
static TORCH_RNG: Mutex<()> = Mutex::new(());

/// tiny_mobilenet's widest gated group (48 channels).
const GROUP: &str = "block2.expand.conv";

fn config(k: usize) -> SearchConfig {
    SearchConfig {
        seed: 4,
        device: DeviceChoice::Cpu,
        batch_size: 32,
        steps: 60,
        // Strong enough that blocks close within these steps.
        lambda: 6.0,
        gate_lr: 0.2,
        bn_recalibration_batches: 2,
        gate: GateConfig { width_multiple: k, ..GateConfig::default() },
        ..SearchConfig::default()
    }
}

fn search(cfg: SearchConfig) -> (Search, Tensor) {
    let data = synthetic(384, 32, (1, 16, 16), 10, 6);
    let s = Search::new(&figs_tests::tiny_mobilenet(), &data.train, cfg, figs_tests::flops()).unwrap();
    let (x, _) = data.test.ordered_batches(16, Device::Cpu).next().unwrap().unwrap();
    (s, x)
}

/// Widths of the searched groups of the found network (the export's).
fn searched_widths(s: &Search) -> Vec<(String, usize)> {
    let w = s.export_widths().unwrap();
    s.analysis().groups.iter().filter(|g| g.gated).map(|g| (g.name.clone(), w[g.id])).collect()
}

/// The exported network with its weights computes the supernet's evaluation.
fn assert_export_matches(s: &mut Search, x: &Tensor) {
    s.evaluate().unwrap();
    let e = s.export_network().unwrap();
    assert_eq!(s.evals().last().unwrap().alive, e.report.widths);
    let want = s.eval_logits(x).unwrap();
    let (_vs, net) = build_with_weights(&e.graph, &e.weights, Device::Cpu).unwrap();
    let got = tch::no_grad(|| net.forward(x, false, None)).unwrap();
    let d = f64::try_from((&want - &got).abs().max()).unwrap() / f64::try_from(want.abs().max()).unwrap();
    assert!(d < 1e-4, "the export differs from the supernet by {d:.3e} (relative)");
}

#[test]
fn every_searched_width_is_a_multiple_of_k_and_the_export_computes_the_search() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    for k in [8, 4] {
        let (mut s, x) = search(config(k));
        s.run(60, &AtomicBool::new(false), |_| {}).unwrap();
        let widths = searched_widths(&s);
        let pruned: usize =
            widths.iter().map(|(n, w)| s.analysis().groups.iter().find(|g| &g.name == n).unwrap().width - w).sum();
        assert!(pruned >= k, "k = {k}: λ = 6 closes at least one block in 60 steps: {widths:?}");
        for (name, w) in &widths {
            assert!(w % k == 0, "k = {k}: `{name}` has {w} channels, not a multiple of {k}: {widths:?}");
        }
        // A channel's gate is its block's: probabilities are equal within every block.
        for p in s.probabilities().into_iter().flatten() {
            for b in p.chunks(k) {
                assert!(b.iter().all(|v| *v == b[0]), "k = {k}: a block's channels differ: {b:?}");
            }
        }
        assert_export_matches(&mut s, &x);
    }
}

#[test]
fn a_group_takes_one_logit_per_block_and_closes_whole_blocks() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (mut s, x) = search(SearchConfig { lambda: 0.0, ..config(8) });
    let e = s.set_gate_logits(GROUP, &[1.0; 48]).unwrap_err().to_string();
    assert!(e.contains("needs 6 finite logits") && e.contains("one per block of 8 channels"), "{e}");
    s.set_gate_logits(GROUP, &[3.0, -3.0, 3.0, -3.0, 3.0, 3.0]).unwrap();
    let g = s.analysis().groups.iter().position(|g| g.name == GROUP).unwrap();
    assert_eq!(s.export_widths().unwrap()[g], 32);
    let p = s.probabilities()[g].clone().unwrap();
    assert!(p[8..16].iter().chain(&p[24..32]).all(|&v| v < 0.5) && p[..8].iter().all(|&v| v > 0.5), "{p:?}");
    // Every gate of a residual branch's expansion closed: the branch goes.
    s.set_gate_logits(GROUP, &[-3.0; 6]).unwrap();
    assert_eq!(s.export_widths().unwrap()[g], 0);
    assert_export_matches(&mut s, &x);
    // The stem cannot go (the network would be cut): it stays at one block, not one channel.
    s.set_gate_logits("stem.conv", &[-3.0]).unwrap();
    let stem = s.analysis().groups.iter().position(|g| g.name == "stem.conv").unwrap();
    assert_eq!(s.export_widths().unwrap()[stem], 8);
    assert_export_matches(&mut s, &x);
}

#[test]
fn target_mode_fits_in_whole_blocks() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (probe, _) = search(config(8));
    let target = 0.6 * probe.initial_cost();
    drop(probe);
    let (mut s, x) = search(SearchConfig { target: Some(target), lambda: 1.0, ..config(8) });
    s.run(60, &AtomicBool::new(false), |_| {}).unwrap();
    for (name, w) in searched_widths(&s) {
        assert!(w % 8 == 0, "`{name}` has {w} channels in target mode");
    }
    let cost = s.current_cost();
    assert!(cost <= target, "the found network costs {cost}, above the target {target}");
    assert_export_matches(&mut s, &x);
}

#[test]
fn compaction_removes_whole_blocks() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = SearchConfig { lambda: 0.0, gate_lr: 0.005, compact_below: Some(2.0), ..config(8) };
    let (mut s, x) = search(cfg);
    s.set_gate_logits(GROUP, &[-20.0, 2.5, -20.0, 2.5, 2.5, 2.5]).unwrap();
    let before = s.eval_logits(&x).unwrap();
    assert_eq!(s.compact().unwrap(), 16);
    let g = s.analysis().groups.iter().position(|g| g.name == GROUP).unwrap();
    let kept = &s.kept_channels()[g];
    assert_eq!(kept.len(), 32);
    assert!(kept.iter().all(|c| !(0..8).contains(c) && !(16..24).contains(c)), "{kept:?}");
    let after = s.eval_logits(&x).unwrap();
    let d = f64::try_from((&after - &before).abs().max()).unwrap();
    assert!(d < 1e-4, "the compacted supernet computes something else ({d})");
    // The compacted supernet still gates in blocks of 8: four logits for 32 channels.
    s.set_gate_logits(GROUP, &[2.5, -3.0, 2.5, 2.5]).unwrap();
    assert_eq!(s.export_widths().unwrap()[g], 24);
    s.run(20, &AtomicBool::new(false), |_| {}).unwrap();
    assert_export_matches(&mut s, &x);
}

#[test]
fn width_multiple_needs_gates() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let data = synthetic(64, 16, (1, 16, 16), 10, 1);
    let gamma = Arc::new(figs::regularizer::CostRegularizer::gamma_flops());
    let e = Search::new(&figs_tests::tiny_mobilenet(), &data.train, config(8), gamma).unwrap_err().to_string();
    assert!(e.contains("width-multiple") && e.contains("gamma_flops"), "{e}");
    let bad = SearchConfig { gate: GateConfig { width_multiple: 0, ..GateConfig::default() }, ..config(1) };
    let e = Search::new(&figs_tests::tiny_mobilenet(), &data.train, bad, figs_tests::flops()).unwrap_err().to_string();
    assert!(e.contains("width-multiple"), "{e}");
}
