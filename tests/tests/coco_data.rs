//! COCO-format detection data (`coco:DIR`): a made-here set read back as targets that equal
//! its annotations, SSDLite's training transform keeping boxes inside the input, and the
//! errors a wrong folder or file gets.

use figs::data::{DataSource, ImageOptions, LoadOptions, FASHION_MNIST_DIR};
use figs::detect::canvas::{make_detection_set, CanvasOptions};
use figs::detect::coco::Instances;
use figs::graph::TaskKind;
use std::path::Path;

fn made(dir: &Path) -> std::path::PathBuf {
    let fm = Path::new(FASHION_MNIST_DIR);
    assert!(fm.is_dir(), "Fashion-MNIST is not installed in {FASHION_MNIST_DIR}: run scripts/setup.sh");
    let out = dir.join("set");
    let o = CanvasOptions { train: 8, val: 4, size: 96, min_item: 12, max_item: 64, ..Default::default() };
    make_detection_set(fm, &out, &o, &mut |_, _| {}).unwrap();
    out
}

fn options(size: usize) -> LoadOptions {
    LoadOptions { train_limit: 0, test_limit: 0, seed: 0, images: ImageOptions { size, workers: 1 }, holdout: 0.25 }
}

/// Rows `(label, x1, y1, x2, y2)` of image `k` of an instances file, scaled by `s`.
fn annotated(gt: &Instances, k: usize, s: f32) -> Vec<[f32; 5]> {
    let id = gt.images[k].id;
    gt.annotations
        .iter()
        .filter(|a| a.image_id == id && !a.iscrowd)
        .map(|a| {
            let [x, y, w, h] = a.bbox.map(|v| v as f32);
            [a.category_id as f32, x * s, y * s, (x + w) * s, (y + h) * s]
        })
        .collect()
}

fn rows(t: &tch::Tensor, k: i64) -> Vec<[f32; 5]> {
    let v = Vec::<f32>::try_from(t.get(k).flatten(0, -1)).unwrap();
    v.chunks(5).filter(|r| r[0] > 0.0).map(|r| [r[0], r[1], r[2], r[3], r[4]]).collect()
}

fn close(a: &[[f32; 5]], b: &[[f32; 5]]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.iter().zip(y).all(|(p, q)| (p - q).abs() < 1e-3))
}

#[test]
fn a_made_set_reads_back_as_its_annotations_at_any_input_size() {
    let dir = tempfile::tempdir().unwrap();
    let root = made(dir.path());
    let gt = Instances::load(&root.join("annotations/instances_val.json")).unwrap();
    for size in [96, 48] {
        let src = DataSource::parse(&format!("coco:{}", root.display())).unwrap();
        let tt = src.load(&options(size), &mut |_| {}).unwrap();
        assert_eq!((tt.train.len(), tt.test.len()), (8, 4));
        assert_eq!(tt.test.classes(), 11, "Fashion-MNIST's ten categories have ids 1-10");
        assert_eq!(tt.test.task(), TaskKind::Detection);
        let (x, y) = tt.test.all().unwrap();
        assert_eq!(x.size(), [4, 3, size as i64, size as i64]);
        let all = tt.test.targets().unwrap();
        for k in 0..4 {
            let want = annotated(&gt, k, size as f32 / 96.0);
            assert!(close(&rows(&y, k as i64), &want), "image {k} at {size} px: {:?} vs {want:?}", rows(&y, k as i64));
            assert!(close(&rows(&all, k as i64), &want), "targets() of image {k}");
        }
    }
}

#[test]
fn training_draws_keep_boxes_inside_and_repeat_for_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = made(dir.path());
    let tt = DataSource::parse(&format!("coco:{}", root.display())).unwrap().load(&options(64), &mut |_| {}).unwrap();
    let ex = tt.train.examples();
    let ids: Vec<i64> = (0..8).collect();
    let (xa, ya) = ex.batch(&ids, Some(5)).unwrap();
    let (xb, yb) = ex.batch(&ids, Some(5)).unwrap();
    assert!(xa.equal(&xb) && ya.equal(&yb), "the same key gives the same batch");
    let (_, eval) = ex.batch(&ids, None).unwrap();
    let mut moved = 0;
    for k in 0..8 {
        let r = rows(&ya, k);
        for b in &r {
            assert!((1.0..=10.0).contains(&b[0]), "label {b:?}");
            assert!(b[1] >= 0.0 && b[3] <= 64.0 && b[2] >= 0.0 && b[4] <= 64.0 && b[3] > b[1] && b[4] > b[2], "{b:?}");
        }
        moved += usize::from(!close(&r, &rows(&eval, k)));
    }
    assert!(moved >= 4, "crops and flips moved the boxes of only {moved} of 8 images");
}

#[test]
fn one_split_with_its_file_holds_out_a_test_share() {
    let dir = tempfile::tempdir().unwrap();
    let root = made(dir.path());
    let text =
        format!("coco:{},{}", root.join("train").display(), root.join("annotations/instances_train.json").display());
    let tt = DataSource::parse(&text).unwrap().load(&options(96), &mut |_| {}).unwrap();
    assert_eq!((tt.train.len(), tt.test.len()), (6, 2));
}

#[test]
fn wrong_folders_and_files_are_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = |text: String| DataSource::parse(&text).unwrap().load(&options(96), &mut |_| {}).unwrap_err().to_string();
    let e = err(format!("coco:{}", dir.path().display()));
    assert!(e.contains("train/ and val/") && e.contains("coco:IMAGES,ANNOTATIONS.json"), "{e}");
    let ann = dir.path().join("a.json");
    std::fs::write(
        &ann,
        r#"{"images": [{"id": 1, "file_name": "x.jpg", "width": 8, "height": 8}], "annotations": [],
            "categories": [{"id": 0, "name": "thing"}]}"#,
    )
    .unwrap();
    let e = err(format!("coco:{},{}", dir.path().display(), ann.display()));
    assert!(e.contains("id 0") && e.contains("background"), "{e}");
    std::fs::write(&ann, r#"{"images": [{"id": 1, "file_name": "x.jpg"}], "annotations": [], "categories": []}"#)
        .unwrap();
    let e = err(format!("coco:{},{}", dir.path().display(), ann.display()));
    assert!(e.contains("no width or height"), "{e}");
}

#[test]
fn a_network_of_the_other_task_is_refused_with_the_fix() {
    use figs::device::DeviceChoice;
    use figs::search::{Search, SearchConfig};
    let cfg = SearchConfig { device: DeviceChoice::Cpu, batch_size: 16, ..SearchConfig::default() };
    let boxes = figs::data::synthetic_detection(64, 16, (1, 16, 16), 4, 0);
    let classifier = figs_tests::tiny_mobilenet_for(1, 16, 4);
    let e = Search::new(&classifier, &boxes.train, cfg.clone(), figs_tests::flops()).unwrap_err().to_string();
    assert!(e.contains("for detection but the network for classification") && e.contains("head=ssdlite"), "{e}");
    let labels = figs::data::synthetic(64, 16, (1, 16, 16), 4, 0);
    let mut detector = classifier.clone();
    detector.task = TaskKind::Detection;
    // A classifier's graph marked `detection` is refused by the graph check itself.
    assert!(detector.analyze().is_err());
    let p = [("preset", "tiny"), ("head", "ssdlite"), ("resolution", "16"), ("channels", "1"), ("classes", "4")];
    let p = p.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    use figs::space::SearchSpace;
    let detector = figs::plugin::find("mobilenet_v3").unwrap().build(&p).unwrap();
    let e = Search::new(&detector, &labels.train, cfg, figs_tests::flops()).unwrap_err().to_string();
    assert!(e.contains("for classification but the network for detection"), "{e}");
}
