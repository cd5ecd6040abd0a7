//! A search step never waits for the device: its metrics stay there and come back in one
//! read per window of steps ([`figs::search::WINDOW`]). The counter is process-wide, so
//! these tests live in their own binary and run one after another under a lock.

use figs::data::synthetic;
use figs::device::DeviceChoice;
use figs::graph::Graph;
use figs::regularizer::{BoundRegularizer, CostRegularizer, Regularizer};
use figs::search::{host_reads, Search, SearchConfig, WINDOW};
use figs_tests::{flops, tiny_mobilenet};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use tch::Tensor;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn config() -> SearchConfig {
    SearchConfig { seed: 5, device: DeviceChoice::Cpu, batch_size: 16, steps: 200, ..SearchConfig::default() }
}

/// Reads made by `steps` steps of a fresh search (after one warm-up window).
fn reads_for(reg: Arc<dyn Regularizer>, cfg: SearchConfig, steps: u64) -> u64 {
    let data = synthetic(512, 16, (1, 16, 16), 10, 2);
    let mut s = Search::new(&tiny_mobilenet(), &data.train, cfg, reg).unwrap();
    let cancel = AtomicBool::new(false);
    s.run(WINDOW, &cancel, |_| {}).unwrap();
    let before = host_reads();
    assert_eq!(s.run(steps, &cancel, |_| {}).unwrap(), steps);
    assert_eq!(s.history().len() as u64, WINDOW + steps, "every step is recorded");
    host_reads() - before
}

#[test]
fn a_window_of_steps_reads_the_device_once() {
    let _l = lock();
    assert_eq!(reads_for(flops(), config(), 3 * WINDOW), 3);
    // A run that ends inside a window reads once more, for its last steps.
    assert_eq!(reads_for(flops(), config(), WINDOW + 1), 2);
}

#[test]
fn target_mode_keeps_lambda_and_the_comparison_on_the_device() {
    let _l = lock();
    let g = tiny_mobilenet();
    let full = figs::cost::CostModel::new(&g, &g.analyze().unwrap(), figs::cost::CostKind::Flops).full();
    let cfg = SearchConfig { target: Some(0.5 * full), ..config() };
    assert_eq!(reads_for(flops(), cfg, 2 * WINDOW), 2);
}

/// FLOPs with only the host form: the search must read the alive counts every step.
struct HostOnly;
struct HostOnlyBound(Box<dyn BoundRegularizer>);

impl Regularizer for HostOnly {
    fn name(&self) -> &str {
        "host_only"
    }
    fn unit(&self) -> &str {
        "FLOPs"
    }
    fn bind(&self, g: &Graph, p: &BTreeMap<String, String>) -> figs::Result<Box<dyn BoundRegularizer>> {
        Ok(Box::new(HostOnlyBound(CostRegularizer::flops().bind(g, p)?)))
    }
}

impl BoundRegularizer for HostOnlyBound {
    fn penalty(&self, r: &[Option<Tensor>], alive: &[f64]) -> figs::Result<Tensor> {
        self.0.penalty(r, alive)
    }
    fn reported(&self, alive: &[f64]) -> figs::Result<f64> {
        self.0.reported(alive)
    }
}

#[test]
fn the_counter_sees_a_regularizer_without_a_device_form() {
    let _l = lock();
    // One read per step for the counts, one for the penalty's value check, one per window.
    let steps = 2 * WINDOW;
    assert_eq!(reads_for(Arc::new(HostOnly), config(), steps), 2 * steps + 2);
}

/// Files of `core/src` that may copy tensor values to the host, with how many such calls
/// each holds and why none of them is on the step path. Every other file — today's and
/// any added later — must hold none (FAULTS.md 9: the old list named seven files and
/// missed the batcher, the prefetcher, the search's per-window stop flag, the
/// regularizer checks and the plugin host).
const ALLOWED: &[(&str, usize, &str)] = &[
    ("search/step.rs", 1, "read_host itself: the one counted read of the step path"),
    ("data/examples.rs", 1, "Examples::gather's default, for sets on an accelerator that are not tensors (none yet)"),
    ("search/distributed.rs", 1, "the checksum of weights and gate logits"),
    ("search/found.rs", 4, "export gates, open counts, evaluation, probabilities"),
    ("search/target.rs", 1, "target fitting at the export"),
    ("regularizer.rs", 1, "check_penalty: the host form's check, counted by the test above"),
    ("train.rs", 2, "retraining and its evaluation, after the search"),
    ("task.rs", 1, "an evaluation's metrics, read once at its end"),
    ("detect/ssd.rs", 3, "a detector's boxes for its evaluation, after the step"),
    ("detect/task.rs", 3, "the default boxes once per task; the evaluation's detections and ground truth"),
    ("export/weights.rs", 2, "export's check of folded constants"),
    ("export/safetensors_file.rs", 1, "reading a weights file"),
    ("data/fingerprint.rs", 3, "the data's fingerprint (labels or detection targets), once per Search::new"),
    ("io.rs", 1, "`pid_t::try_from` in process_alive: a number, not a tensor"),
];

/// The step path reads from the device only through `read_host`: no other call that
/// copies a tensor's value to the host appears outside tests anywhere in `core/src` but
/// in the files of [`ALLOWED`], as often as it says.
#[test]
fn the_step_path_has_no_other_read() {
    let core = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src");
    let reads = ["double_value", "int64_value", "f64_value", "try_from(", "f64::from(", ".item("];
    let mut files = Vec::new();
    let mut dirs = vec![core.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 40, "found only {} files under {}", files.len(), core.display());
    let mut problems = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&core).unwrap().to_string_lossy().replace('\\', "/");
        if rel == "testutil.rs" || rel.ends_with("/tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let n: usize = reads.iter().map(|r| code.matches(r).count()).sum();
        let allowed = ALLOWED.iter().find(|(f, _, _)| *f == rel).map_or(0, |(_, n, _)| *n);
        if n != allowed {
            problems.push(format!("{rel}: {n} host reads, {allowed} allowed"));
        }
    }
    assert!(problems.is_empty(), "reads from the device outside read_host: {problems:?}");
}
