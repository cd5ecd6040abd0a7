//! Checkpoints: a search stopped at step k, saved, and resumed from the files gives the
//! same weights, gate logits / γ, optimizer moments and metrics, bit for bit on CPU, as
//! the same search run straight through; checkpoints that do not fit are refused.

use figs::data::{synthetic, DataSource, Dataset, ImageOptions, LoadOptions, FASHION_MNIST_DIR};
use figs::device::DeviceChoice;
use figs::graph::Graph;
use figs::regularizer::{CostRegularizer, Regularizer};
use figs::search::{Optimizer, Search, SearchConfig};
use figs::space::SearchSpace;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// Steps seed libtorch's one global generator; tests in this binary run on several threads.
static TORCH_RNG: Mutex<()> = Mutex::new(());

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

fn stop_and_resume_is_exact(cfg: SearchConfig, reg: Arc<dyn Regularizer>, k: u64) {
    let data = synthetic(384, 32, (1, 16, 16), 10, 6);
    stop_and_resume_is_exact_on(&figs_tests::tiny_mobilenet(), &data.train, cfg, reg, k);
}

fn stop_and_resume_is_exact_on(g: &Graph, train: &Dataset, cfg: SearchConfig, reg: Arc<dyn Regularizer>, k: u64) {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let n = cfg.steps;
    let go = AtomicBool::new(false);
    let dir = tempfile::tempdir().unwrap();

    let mut straight = Search::new(g, train, cfg.clone(), reg.clone()).unwrap();
    straight.run(n, &go, |_| {}).unwrap();
    straight.save_checkpoint(&dir.path().join("straight")).unwrap();

    let mut first = Search::new(g, train, cfg, reg.clone()).unwrap();
    first.run(k, &go, |_| {}).unwrap();
    first.save_checkpoint(&dir.path().join("at-k")).unwrap();
    drop(first);
    // Something else uses the generator in between, as another process would.
    let _ = tch::Tensor::randn([100], (tch::Kind::Float, tch::Device::Cpu));
    let mut resumed = Search::resume(g, train, reg, &dir.path().join("at-k")).unwrap();
    assert_eq!(resumed.steps_done(), k);
    resumed.run(n - k, &go, |_| {}).unwrap();
    resumed.save_checkpoint(&dir.path().join("resumed")).unwrap();

    assert_eq!(resumed.history(), straight.history(), "step metrics differ after the resume");
    assert_eq!(resumed.lambda(), straight.lambda());
    for f in ["weights.safetensors", "optim.safetensors"] {
        assert!(
            bytes(&dir.path().join("resumed").join(f)) == bytes(&dir.path().join("straight").join(f)),
            "{f} differs between the resumed and the straight search"
        );
    }
    assert_eq!(resumed.export_widths().unwrap(), straight.export_widths().unwrap());
}

fn config(steps: u64) -> SearchConfig {
    // 384 images at batch 32 with a 10 % validation split: 10 batches per epoch, so the
    // stop falls mid-epoch and the run crosses epochs.
    SearchConfig { seed: 5, device: DeviceChoice::Cpu, batch_size: 32, steps, lambda: 2.0, ..SearchConfig::default() }
}

#[test]
fn gates_with_adam_in_target_mode_resume_exactly() {
    let target = 0.6
        * 2.0
        * figs::count::count(&figs_tests::tiny_mobilenet(), &figs_tests::tiny_mobilenet().analyze().unwrap()).macs
            as f64;
    stop_and_resume_is_exact(SearchConfig { target: Some(target), ..config(25) }, figs_tests::flops(), 13);
}

/// SSDLite on a COCO folder made here: lazily decoded images, random IoU crops and flips
/// drawn per epoch on two worker threads, detection targets and the SSD loss.
#[test]
fn a_detector_on_a_coco_folder_resumes_exactly() {
    use figs::detect::canvas::{make_detection_set, CanvasOptions};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("set");
    let o = CanvasOptions { train: 96, val: 4, size: 64, min_item: 12, max_item: 48, ..Default::default() };
    make_detection_set(Path::new(FASHION_MNIST_DIR), &root, &o, &mut |_, _| {}).unwrap();
    let load = LoadOptions {
        train_limit: 0,
        test_limit: 0,
        seed: 0,
        images: ImageOptions { size: 64, workers: 2 },
        holdout: 0.1,
    };
    let tt = DataSource::parse(&format!("coco:{}", root.display())).unwrap().load(&load, &mut |_| {}).unwrap();
    let p = [("preset", "small"), ("width", "0.25"), ("head", "ssdlite"), ("resolution", "64"), ("classes", "11")];
    let p = p.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let g = figs::plugin::find("mobilenet_v3").unwrap().build(&p).unwrap();
    // 86 training images at batch 32: two batches an epoch, so six steps cross epochs.
    let cfg = SearchConfig { bn_recalibration_batches: 1, ..config(6) };
    stop_and_resume_is_exact_on(&g, &tt.train, cfg, figs_tests::flops(), 3);
}

#[test]
fn gamma_flops_with_sgd_in_target_mode_resumes_exactly() {
    let target = 0.6
        * 2.0
        * figs::count::count(&figs_tests::tiny_mobilenet(), &figs_tests::tiny_mobilenet().analyze().unwrap()).macs
            as f64;
    let cfg =
        SearchConfig { optimizer: Optimizer::Sgd, lr: 0.05, lambda_rate: 0.0, target: Some(target), ..config(25) };
    stop_and_resume_is_exact(cfg, Arc::new(CostRegularizer::gamma_flops()), 7);
}

#[test]
fn checkpoints_that_do_not_fit_are_refused_with_the_reason() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let g = figs_tests::tiny_mobilenet();
    let data = synthetic(256, 32, (1, 16, 16), 10, 6);
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let mut s = Search::new(&g, &data.train, config(4), figs_tests::flops()).unwrap();
    s.run(2, &AtomicBool::new(false), |_| {}).unwrap();
    s.save_checkpoint(&ck).unwrap();
    assert!(s.save_checkpoint(&ck).is_err(), "an existing checkpoint is never overwritten");

    // Another supernet.
    let mut other = g.clone();
    other.name = "other".into();
    let e = Search::resume(&other, &data.train, figs_tests::flops(), &ck).unwrap_err().to_string();
    assert!(e.contains("another supernet"), "{e}");
    // Another regularizer.
    let e = Search::resume(&g, &data.train, Arc::new(CostRegularizer::gamma_flops()), &ck).unwrap_err().to_string();
    assert!(e.contains("resume with -r flops"), "{e}");
    // Another figs version.
    let m = ck.join("manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    let old =
        text.replace(&format!("\"figs_version\": \"{}\"", env!("CARGO_PKG_VERSION")), "\"figs_version\": \"0.0.1\"");
    std::fs::write(&m, &old).unwrap();
    let e = Search::resume(&g, &data.train, figs_tests::flops(), &ck).unwrap_err().to_string();
    assert!(e.contains("figs 0.0.1"), "{e}");
    std::fs::write(&m, &text).unwrap();
    // A truncated tensor file, a damaged manifest, a directory that is no checkpoint.
    let w = ck.join("weights.safetensors");
    let full = bytes(&w);
    std::fs::write(&w, &full[..full.len() / 2]).unwrap();
    let e = Search::resume(&g, &data.train, figs_tests::flops(), &ck).unwrap_err().to_string();
    assert!(e.contains("incomplete"), "{e}");
    std::fs::write(&w, &full).unwrap();
    std::fs::write(&m, &text[..text.len() / 2]).unwrap();
    let e = Search::resume(&g, &data.train, figs_tests::flops(), &ck).unwrap_err().to_string();
    assert!(e.contains("damaged"), "{e}");
    let e = Search::resume(&g, &data.train, figs_tests::flops(), dir.path()).unwrap_err().to_string();
    assert!(e.contains("is") && e.contains("a checkpoint directory"), "{e}");
}

#[test]
fn metrics_holding_nan_read_back() {
    // serde_json writes NaN and ∞ as null; a checkpoint whose history holds one (a NaN
    // validation loss, say) must still load.
    let m = figs::search::EvalMetrics {
        step: 1,
        loss: f64::NAN,
        accuracy: 0.5,
        more: [("top5".to_string(), f64::NAN)].into(),
        cost: f64::INFINITY,
        alive: vec![1],
        compacted: 0,
        metric: "accuracy".into(),
    };
    let back: figs::search::EvalMetrics = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert!(back.loss.is_nan() && back.cost.is_nan() && back.accuracy == 0.5 && back.more["top5"].is_nan());
}

/// `flops` or `model_size` by its parameter `cost`, whose default a test changes between
/// a checkpoint and its resume, as a new figs version may change a plugin's default.
struct DefaultMoves;

static COST_DEFAULT: Mutex<&str> = Mutex::new("flops");

impl Regularizer for DefaultMoves {
    fn name(&self) -> &str {
        "default_moves"
    }
    fn unit(&self) -> &str {
        "FLOPs"
    }
    fn params(&self) -> Vec<figs::space::ParamSpec> {
        let d = *COST_DEFAULT.lock().unwrap_or_else(|e| e.into_inner());
        vec![figs::space::ParamSpec::new("cost", d, "flops or model_size")]
    }
    fn bind(
        &self,
        graph: &Graph,
        params: &std::collections::BTreeMap<String, String>,
    ) -> figs::Result<Box<dyn figs::regularizer::BoundRegularizer>> {
        let p = figs::space::Params::new("default_moves", self.params(), params)?;
        let inner = if p.raw("cost") == "flops" { CostRegularizer::flops() } else { CostRegularizer::model_size() };
        inner.bind(graph, &Default::default())
    }
}

/// A search records every regularizer parameter, defaults included, so a resume binds to
/// the values it ran with even after a default changed (before, it took the new default
/// and continued another search without a word).
#[test]
fn a_resume_keeps_the_regularizer_defaults_it_ran_with() {
    let set = |d: &'static str| *COST_DEFAULT.lock().unwrap_or_else(|e| e.into_inner()) = d;
    set("flops");
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (g, data) = (figs_tests::tiny_mobilenet(), synthetic(384, 32, (1, 16, 16), 10, 6));
    let go = AtomicBool::new(false);
    let dir = tempfile::tempdir().unwrap();
    let reg: Arc<dyn Regularizer> = Arc::new(DefaultMoves);
    let mut straight = Search::new(&g, &data.train, config(12), reg.clone()).unwrap();
    assert_eq!(straight.config().regularizer_params.get("cost").map(String::as_str), Some("flops"));
    straight.run(12, &go, |_| {}).unwrap();
    let mut first = Search::new(&g, &data.train, config(12), reg.clone()).unwrap();
    first.run(5, &go, |_| {}).unwrap();
    first.save_checkpoint(&dir.path().join("at-5")).unwrap();
    drop(first);
    set("model_size");
    let resumed = Search::resume(&g, &data.train, reg.clone(), &dir.path().join("at-5"));
    set("flops");
    let mut resumed = resumed.unwrap();
    resumed.run(7, &go, |_| {}).unwrap();
    assert_eq!(resumed.history(), straight.history(), "the resumed search took the changed default");

    // A checkpoint that does not record a parameter (as before 2026-12-07) is refused.
    let m = dir.path().join("at-5").join("manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["config"]["regularizer_params"] = serde_json::json!({});
    std::fs::write(&m, serde_json::to_string(&v).unwrap()).unwrap();
    let e = Search::resume(&g, &data.train, reg, &dir.path().join("at-5")).unwrap_err().to_string();
    assert!(e.contains("`cost`") || e.contains("cost (default now"), "{e}");
    assert!(e.contains("cannot be resumed exactly"), "{e}");
}
