//! `figs detect`'s results file (`figs::detect::results`): a detector's boxes mapped back to
//! the images' own pixels score, through COCO's evaluation on the original annotations, what
//! figs' own evaluation scores on the resized images — IoU does not change when both boxes
//! scale alike, so mAP@[.5:.95] over all sizes must agree; a box left at input size would not.

use figs::data::{DataSource, ImageOptions, LoadOptions, FASHION_MNIST_DIR};
use figs::detect::canvas::{make_detection_set, CanvasOptions};
use figs::detect::coco::Instances;
use figs::detect::results::{detect_images, Images};
use figs::space::SearchSpace;
use std::path::Path;
use tch::{nn, Device};

#[test]
fn detections_in_the_images_pixels_score_what_figs_scores_on_resized_images() {
    let fm = Path::new(FASHION_MNIST_DIR);
    assert!(fm.is_dir(), "Fashion-MNIST is not installed in {FASHION_MNIST_DIR}: run scripts/setup.sh");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("set");
    // Large items, so that even an untrained detector's default boxes land on some of them.
    let o = CanvasOptions { train: 4, val: 24, size: 96, min_item: 40, max_item: 96, ..Default::default() };
    make_detection_set(fm, &root, &o, &mut |_, _| {}).unwrap();

    // The network reads 64 px: figs' evaluation scales every box by 2/3.
    let p = [("preset", "small"), ("width", "0.25"), ("head", "ssdlite"), ("resolution", "64"), ("classes", "11")];
    let p = p.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let g = figs::plugin::find("mobilenet_v3").unwrap().build(&p).unwrap();
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = figs::net::Net::new(&vs.root(), &g).unwrap();
    let weights: Vec<(String, tch::Tensor)> =
        vs.variables().into_iter().filter_map(|(k, t)| k.strip_prefix("net.").map(|k| (k.to_string(), t))).collect();

    let load = LoadOptions {
        train_limit: 0,
        test_limit: 0,
        seed: 0,
        images: ImageOptions { size: 64, workers: 1 },
        holdout: 0.1,
    };
    let tt = DataSource::parse(&format!("coco:{}", root.display())).unwrap().load(&load, &mut |_| {}).unwrap();
    let task = figs::task::of(&g).unwrap();
    let e = figs::train::evaluate_net(task.as_ref(), &net, &tt.test, None, Device::Cpu, 8).unwrap();
    let inside = [e.headline, e.more["AP50"]];

    let ann = root.join("annotations/instances_val.json");
    let images = Images { dir: &root.join("val"), annotations: &ann, workers: 2, batch: 5 };
    let mut calls = 0;
    let found = detect_images(&g, &weights, &images, Device::Cpu, &mut |done, total| {
        calls += 1;
        assert!(done <= total && total == 24);
    })
    .unwrap();
    assert_eq!(calls, 5, "one progress call per batch of 5");
    let gt = Instances::load(&ann).unwrap();
    assert!(found.iter().all(|d| {
        let [x, y, w, h] = d.bbox;
        x >= 0.0 && y >= 0.0 && x + w <= 96.0 + 1e-3 && y + h <= 96.0 + 1e-3
    }));
    let s = figs::detect::evaluate(&gt, &found).stats;
    let outside = [s[0], s[1]];
    // Measured when written: mAP 3.2e-5, AP50 1.8e-4 (few hits, but a box left at input
    // size scores 0).
    assert!(inside[0] > 0.0, "the untrained detector hit nothing, so the test proves nothing ({inside:?})");
    for (a, b) in inside.iter().zip(outside) {
        assert!((a - b).abs() < 1e-9, "figs' evaluation (mAP, AP50) {inside:?}, the written results {outside:?}");
    }

    // A classifier's arch.json is refused by name, not misread as a detector with odd heads.
    let e = detect_images(&figs_tests::tiny_mobilenet(), &[], &images, Device::Cpu, &mut |_, _| {});
    let e = e.unwrap_err().to_string();
    assert!(e.contains("not a detector") && e.contains("classification"), "{e}");
}
