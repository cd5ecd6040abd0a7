//! A data set that is not a tensor: an `Examples` implementation that makes each example
//! when a batch asks for it (docs/ARCHITECTURE.md's worked example, verbatim) searches,
//! evaluates, resumes at a batch position and retrains like the in-memory sets; a failing
//! example ends the search with its error instead of a panic.

use figs::data::{Dataset, Examples};
use figs::device::DeviceChoice;
use figs::search::{Search, SearchConfig};
use figs::train::{train_network, TrainConfig};
use figs_tests::{flops, tiny_mobilenet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

#[derive(Debug)]
struct Stripes {
    n: usize,
}

impl Examples for Stripes {
    fn len(&self) -> usize {
        self.n
    }
    fn classes(&self) -> usize {
        2
    }
    fn input_shape(&self) -> (usize, usize, usize) {
        (1, 16, 16)
    }
    fn batch(&self, ids: &[i64], _augment: Option<u64>) -> figs::Result<(Tensor, Tensor)> {
        // Decode (here: draw) each example when a batch asks for it; no augmentation.
        let xs: Vec<Tensor> = ids
            .iter()
            .map(|&i| {
                let t = Tensor::zeros([1, 16, 16], (Kind::Float, Device::Cpu));
                let _ = t.narrow(1 + (i % 2), i % 16, 1).fill_(1.0);
                t
            })
            .collect();
        let y: Vec<i64> = ids.iter().map(|i| i % 2).collect();
        Ok((Tensor::stack(&xs, 0), Tensor::from_slice(&y)))
    }
    fn targets(&self) -> figs::Result<Tensor> {
        Ok(Tensor::from_slice(&(0..self.n as i64).map(|i| i % 2).collect::<Vec<_>>()))
    }
    fn storage(&self) -> String {
        "stripes".into()
    }
}

/// Stripes that count the examples made, and fail at the `fail_at`-th batch asked for.
#[derive(Debug)]
struct Counted {
    inner: Stripes,
    made: AtomicUsize,
    calls: AtomicUsize,
    fail_at: Option<usize>,
}

impl Examples for Counted {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn classes(&self) -> usize {
        2
    }
    fn input_shape(&self) -> (usize, usize, usize) {
        (1, 16, 16)
    }
    fn batch(&self, ids: &[i64], augment: Option<u64>) -> figs::Result<(Tensor, Tensor)> {
        if Some(self.calls.fetch_add(1, Ordering::SeqCst)) == self.fail_at {
            return Err(figs::Error::Data {
                path: format!("stripe-{}.png", ids[0]).into(),
                message: "cannot decode".into(),
            });
        }
        self.made.fetch_add(ids.len(), Ordering::SeqCst);
        self.inner.batch(ids, augment)
    }
    fn targets(&self) -> figs::Result<Tensor> {
        self.inner.targets()
    }
    fn storage(&self) -> String {
        "stripes".into()
    }
}

/// 16×16 grey inputs and 10 class logits (the stripes use two of them).
fn graph() -> figs::Graph {
    tiny_mobilenet()
}

fn config() -> SearchConfig {
    SearchConfig { seed: 5, device: DeviceChoice::Cpu, batch_size: 16, steps: 40, ..SearchConfig::default() }
}

#[test]
fn examples_made_on_demand_search_resume_and_retrain() {
    let g = graph();
    let counted = Arc::new(Counted {
        inner: Stripes { n: 256 },
        made: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
        fail_at: None,
    });
    let data = Dataset::of(counted.clone());
    assert_eq!((data.len(), data.classes(), data.image_shape()), (256, 2, (1, 16, 16)));
    assert_eq!(counted.made.load(Ordering::SeqCst), 0, "nothing is made before a batch asks");

    let stop = AtomicBool::new(false);
    let mut s = Search::new(&g, &data, config(), flops()).unwrap();
    s.run(20, &stop, |_| {}).unwrap();
    let made = counted.made.load(Ordering::SeqCst);
    assert!(made > 0 && made < 20 * 16 + 256, "examples are made per batch ({made})");
    let dir = tempfile::tempdir().unwrap();
    s.save_checkpoint(&dir.path().join("ck")).unwrap();
    s.run(20, &stop, |_| {}).unwrap();
    let ev = s.evaluate().unwrap();
    assert!(ev.accuracy.is_finite());

    // Resumed from step 20 (mid-epoch: 230 training examples, 14 batches per epoch), the
    // search ends where the straight one did.
    let mut r = Search::resume(&g, &data, flops(), &dir.path().join("ck")).unwrap();
    r.run(20, &stop, |_| {}).unwrap();
    assert_eq!(r.checksum(), s.checksum(), "a resumed search on made-on-demand examples differs");

    let test = Dataset::of(Arc::new(Stripes { n: 64 }));
    let cfg = TrainConfig { device: DeviceChoice::Cpu, batch_size: 16, steps: 30, lr: 0.01, ..TrainConfig::default() };
    let t = train_network(&g, None, &data, &test, &cfg, &stop, |_| {}).unwrap();
    assert!(t.test_accuracy > 0.9, "stripes are easy: {}", t.test_accuracy);
}

#[test]
fn an_example_that_cannot_be_read_is_an_error_naming_it() {
    let g = graph();
    // The fingerprint asks for one batch at Search::new; the fifth batch is the fourth step's.
    let bad = Arc::new(Counted {
        inner: Stripes { n: 256 },
        made: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
        fail_at: Some(4),
    });
    let mut s = Search::new(&g, &Dataset::of(bad), config(), flops()).unwrap();
    let e = s.run(40, &AtomicBool::new(false), |_| {}).unwrap_err().to_string();
    assert!(e.contains("stripe-") && e.contains(".png") && e.contains("cannot decode"), "{e}");
}
