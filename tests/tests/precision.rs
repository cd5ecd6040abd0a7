//! bf16 training passes: the same network's logits and gradients as float32 within
//! bfloat16's rounding, float32 everywhere the optimizer and the evaluation look, and a
//! search and a retraining that run with it.

use figs::data::synthetic;
use figs::device::DeviceChoice;
use figs::net::Net;
use figs::precision::Precision;
use figs::search::{Search, SearchConfig};
use figs::train::{train_from_scratch, TrainConfig};
use std::sync::atomic::AtomicBool;
use tch::{nn, Device, Kind, Tensor};

/// libtorch's generator is global and both tests draw from it: one at a time, so each
/// draws the same numbers on every run.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Cosine similarity of two tensors, flattened.
fn cosine(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_kind(Kind::Double).flatten(0, -1), b.to_kind(Kind::Double).flatten(0, -1));
    (a.dot(&b) / (a.norm() * b.norm())).double_value(&[])
}

/// The same network twice, with the same weights: one float32, one bf16.
fn twin_nets() -> [(nn::VarStore, Net); 2] {
    let g = figs_tests::tiny_mobilenet();
    tch::manual_seed(3);
    let [a, mut b] = [Precision::Fp32, Precision::Bf16].map(|p| {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut net = Net::new(&vs.root(), &g).unwrap();
        net.set_precision(p);
        (vs, net)
    });
    b.0.copy(&a.0).unwrap();
    [a, b]
}

#[test]
fn a_bf16_pass_matches_float32_within_rounding() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|p| p.into_inner());
    let [(vs32, n32), (vs16, n16)] = twin_nets();
    tch::manual_seed(4);
    let x = Tensor::randn([8, 1, 16, 16], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 7]);
    // Evaluation ignores the setting: bit-identical to float32.
    let (e32, e16) = (n32.forward(&x, false, None).unwrap(), n16.forward(&x, false, None).unwrap());
    assert!(e16.equal(&e32), "evaluation runs in float32");
    let pass = |vs: &nn::VarStore, net: &Net| -> (Tensor, Vec<Tensor>) {
        let logits = net.forward(&x, true, None).unwrap();
        logits.cross_entropy_for_logits(&y).backward();
        (logits.detach(), vs.trainable_variables().iter().map(|v| v.grad().copy()).collect())
    };
    let (l32, g32) = pass(&vs32, &n32);
    let (l16, g16) = pass(&vs16, &n16);
    assert_eq!(l16.kind(), Kind::Float, "logits come back as float32 for the loss");
    assert!(!l16.equal(&l32), "a bf16 pass must differ from float32 somewhere (is it really bf16?)");
    assert!(cosine(&l16, &l32) > 0.99, "logits: cosine {}", cosine(&l16, &l32));
    assert_eq!(g16.len(), g32.len());
    for (a, b) in g16.iter().zip(&g32) {
        assert_eq!(a.kind(), Kind::Float, "gradients reach the float32 weights");
        // A gradient at float32's rounding level (one BN γ here: norm 4e-5) has no direction
        // to compare.
        if b.norm().double_value(&[]) > 1e-3 {
            assert!(cosine(a, b) > 0.95, "gradient cosine {}", cosine(a, b));
        }
    }
    for v in vs16.trainable_variables() {
        assert_eq!(v.kind(), Kind::Float, "weights stay float32");
    }
}

#[test]
fn a_bf16_search_and_retraining_run() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|p| p.into_inner());
    let g = figs_tests::tiny_mobilenet();
    let data = synthetic(256, 64, (1, 16, 16), 10, 2);
    let cfg = SearchConfig {
        device: DeviceChoice::Cpu,
        batch_size: 32,
        steps: 6,
        precision: Precision::Bf16,
        ..SearchConfig::default()
    };
    let mut s = Search::new(&g, &data.train, cfg, figs_tests::flops()).unwrap();
    let cancel = AtomicBool::new(false);
    let mut losses = Vec::new();
    assert_eq!(s.run(6, &cancel, |m| losses.push(m.task_loss)).unwrap(), 6);
    assert!(losses.iter().all(|l| l.is_finite() && *l > 0.0), "{losses:?}");
    let json = serde_json::to_value(s.config()).unwrap();
    assert_eq!(json["precision"], "bf16", "config.json records the precision");
    let (found, _) = s.export().unwrap();
    let tc = TrainConfig {
        device: DeviceChoice::Cpu,
        batch_size: 32,
        steps: 4,
        precision: Precision::Bf16,
        ..TrainConfig::default()
    };
    let r = train_from_scratch(&found, &data.train, &data.test, &tc, &cancel, |_| {}).unwrap();
    assert!(r.test_accuracy.is_finite());
}
