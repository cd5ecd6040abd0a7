//! Compaction: removing closed channels from the supernet leaves the found network, its
//! weights and the supernet's function as they were, keeps widths in blocks of 8, counts
//! its one read per check, and a compacted search resumes bit-exactly from a checkpoint.

use figs::data::synthetic;
use figs::device::DeviceChoice;
use figs::search::{host_reads, Search, SearchConfig, COMPACT_EVERY};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use tch::{Device, Kind, Tensor};

/// Steps seed libtorch's one global generator; tests in this binary run on several threads.
static TORCH_RNG: Mutex<()> = Mutex::new(());

/// tiny_mobilenet's widest gated group (48 channels).
const GROUP: &str = "block2.expand.conv";

fn config(steps: u64) -> SearchConfig {
    SearchConfig {
        seed: 9,
        device: DeviceChoice::Cpu,
        batch_size: 32,
        steps,
        lambda: 1.0,
        // Slow gates: no logit but the ones set below −2 gets there in these few steps.
        gate_lr: 0.005,
        compact_below: Some(2.0),
        ..SearchConfig::default()
    }
}

/// A search whose GROUP has its first `closed` channels' logits far below −2.
fn search(cfg: SearchConfig, closed: usize) -> Search {
    let g = figs_tests::tiny_mobilenet();
    let data = synthetic(384, 32, (1, 16, 16), 10, 6);
    let mut s = Search::new(&g, &data.train, cfg, figs_tests::flops()).unwrap();
    let width = s.analysis().groups.iter().find(|x| x.name == GROUP).unwrap().width;
    let logits: Vec<f64> = (0..width).map(|c| if c < closed { -20.0 } else { 2.5 }).collect();
    s.set_gate_logits(GROUP, &logits).unwrap();
    s
}

fn width_of(s: &Search, name: &str) -> usize {
    let a = s.current_graph().analyze().unwrap();
    a.groups.iter().find(|x| x.name == name).unwrap().width
}

#[test]
fn compaction_keeps_the_found_network_and_what_the_supernet_computes() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = search(config(60), 20);
    s.run(30, &AtomicBool::new(false), |_| {}).unwrap();
    let x = Tensor::randn([16, 1, 16, 16], (Kind::Float, Device::Cpu));
    let before = s.eval_logits(&x).unwrap();
    let found = s.export_network().unwrap();
    let probs = s.probabilities();

    // 20 channels are below −2; 48 − 20 = 28 stay, rounded up to 32 (blocks of 8).
    assert_eq!(s.compact().unwrap(), 16);
    assert_eq!((width_of(&s, GROUP), s.compacted_channels()), (32, 16));
    assert_eq!(s.graph().nodes.len(), s.current_graph().nodes.len(), "compaction only slices channels");
    let g = s.analysis().groups.iter().position(|x| x.name == GROUP).unwrap();
    let kept = &s.kept_channels()[g];
    assert!(kept.len() == 32 && (20..48).all(|c| kept.contains(&c)), "every open channel stays: {kept:?}");

    let after = s.eval_logits(&x).unwrap();
    let diff = f64::try_from((&after - &before).abs().max()).unwrap();
    assert!(diff < 1e-4, "the compacted supernet computes something else (max difference {diff})");
    let again = s.export_network().unwrap();
    assert_eq!(again.graph, found.graph, "the found architecture changed");
    assert_eq!(again.weights.len(), found.weights.len());
    for ((n1, t1), (n2, t2)) in again.weights.iter().zip(&found.weights) {
        assert_eq!(n1, n2);
        assert!(t1.equal(t2), "exported weight `{n1}` changed");
    }
    // Probabilities keep the supernet's layout; removed channels read 0.
    let (p0, p1) = (probs.iter().flatten().map(Vec::len).sum::<usize>(), s.probabilities());
    assert_eq!(p1.iter().flatten().map(Vec::len).sum::<usize>(), p0);
    assert_eq!(p1[g].as_ref().unwrap()[..20].iter().filter(|&&p| p == 0.0).count(), 16);

    // Nothing left to remove: a second call changes nothing; the search goes on.
    assert_eq!(s.compact().unwrap(), 0);
    s.run(30, &AtomicBool::new(false), |_| {}).unwrap();
    assert_eq!(s.steps_done(), 60);
    let e = s.evaluate().unwrap();
    assert!(e.accuracy.is_finite() && e.compacted == 16, "{e:?}");
}

#[test]
fn a_check_is_one_read_every_hundred_steps_and_off_is_off() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let steps = COMPACT_EVERY * 2;
    let windows = steps / figs::search::WINDOW;
    for (compact, checks) in [(Some(2.0), 2), (None, 0)] {
        let mut s = search(SearchConfig { compact_below: compact, ..config(steps) }, 20);
        let before = host_reads();
        s.run(steps, &AtomicBool::new(false), |_| {}).unwrap();
        assert_eq!(host_reads() - before, windows + checks, "compact_below = {compact:?}");
        assert_eq!(s.compacted_channels(), if compact.is_some() { 16 } else { 0 });
    }
}

#[test]
fn compaction_refuses_bad_settings() {
    // Search::new seeds libtorch's global generator (FAULTS.md 13).
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let g = figs_tests::tiny_mobilenet();
    let data = synthetic(64, 16, (1, 16, 16), 10, 1);
    let e = Search::new(&g, &data.train, SearchConfig { compact_below: Some(-1.0), ..config(10) }, figs_tests::flops())
        .unwrap_err()
        .to_string();
    assert!(e.contains("compact") && e.contains("positive"), "{e}");
    let gamma = std::sync::Arc::new(figs::regularizer::CostRegularizer::gamma_flops());
    let e = Search::new(&g, &data.train, config(10), gamma).unwrap_err().to_string();
    assert!(e.contains("compact") && e.contains("gamma_flops"), "{e}");
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn a_compacted_search_resumes_exactly() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (n, k) = (130, 110);
    let go = AtomicBool::new(false);
    let dir = tempfile::tempdir().unwrap();
    let mut straight = search(config(n), 20);
    straight.run(n, &go, |_| {}).unwrap();
    straight.save_checkpoint(&dir.path().join("straight")).unwrap();

    let mut first = search(config(n), 20);
    first.run(k, &go, |_| {}).unwrap();
    assert_eq!(first.compacted_channels(), 16, "the check at step 100 compacted");
    first.save_checkpoint(&dir.path().join("at-k")).unwrap();
    drop(first);
    let _ = Tensor::randn([100], (Kind::Float, Device::Cpu));
    let g = figs_tests::tiny_mobilenet();
    let data = synthetic(384, 32, (1, 16, 16), 10, 6);
    let mut resumed = Search::resume(&g, &data.train, figs_tests::flops(), &dir.path().join("at-k")).unwrap();
    assert_eq!((resumed.steps_done(), resumed.compacted_channels()), (k, 16));
    resumed.run(n - k, &go, |_| {}).unwrap();
    resumed.save_checkpoint(&dir.path().join("resumed")).unwrap();
    assert_eq!(resumed.history(), straight.history(), "step metrics differ after the resume");
    for f in ["weights.safetensors", "optim.safetensors"] {
        assert!(
            bytes(&dir.path().join("resumed").join(f)) == bytes(&dir.path().join("straight").join(f)),
            "{f} differs between the resumed and the straight search"
        );
    }
    assert_eq!(resumed.export_widths().unwrap(), straight.export_widths().unwrap());
}

/// FAULTS.md 4: compaction was decided at the end of a `run()` window, so a caller that
/// ran in chunks (rank 0 stopping at every evaluation, `--eval-every 30`) compacted at
/// other steps than one that ran straight (the other ranks), and a search resumed from a
/// checkpoint off the 25-step grid compacted late. Now both match the straight run bit
/// for bit.
#[test]
fn compaction_happens_at_the_same_step_however_the_run_is_split() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let n = 130;
    let go = AtomicBool::new(false);
    let dir = tempfile::tempdir().unwrap();
    let mut straight = search(config(n), 20);
    straight.run(n, &go, |_| {}).unwrap();
    straight.save_checkpoint(&dir.path().join("straight")).unwrap();

    // In chunks of 30, as rank 0 runs with --eval-every 30.
    let mut chunked = search(config(n), 20);
    while chunked.steps_done() < n {
        chunked.run(30.min(n - chunked.steps_done()), &go, |_| {}).unwrap();
        if chunked.steps_done() == 90 {
            assert_eq!(chunked.compacted_channels(), 0, "nothing is compacted before step 100");
        }
    }
    chunked.save_checkpoint(&dir.path().join("chunked")).unwrap();

    // `step 95; save`, then resumed.
    let mut first = search(config(n), 20);
    first.run(95, &go, |_| {}).unwrap();
    first.save_checkpoint(&dir.path().join("at-95")).unwrap();
    drop(first);
    let g = figs_tests::tiny_mobilenet();
    let data = synthetic(384, 32, (1, 16, 16), 10, 6);
    let mut resumed = Search::resume(&g, &data.train, figs_tests::flops(), &dir.path().join("at-95")).unwrap();
    resumed.run(n - 95, &go, |_| {}).unwrap();
    resumed.save_checkpoint(&dir.path().join("resumed")).unwrap();

    for (name, other) in [("chunked", &chunked), ("resumed", &resumed)] {
        assert_eq!(other.compacted_channels(), straight.compacted_channels(), "{name}");
        assert_eq!(other.history(), straight.history(), "{name}: step metrics differ from the straight run");
        for f in ["weights.safetensors", "optim.safetensors"] {
            assert!(
                bytes(&dir.path().join(name).join(f)) == bytes(&dir.path().join("straight").join(f)),
                "{f} differs between the {name} and the straight search"
            );
        }
    }
}
