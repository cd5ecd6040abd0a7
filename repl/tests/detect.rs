//! `figs detect-eval` from the shell: COCO's numbers in its order, and clear errors for
//! files that are not what they should be (the numbers themselves are checked against
//! pycocotools in tests/tests/coco_eval.rs).

use std::process::Command;

fn figs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_figs"))
}

#[test]
fn detect_eval_prints_cocos_numbers_and_names_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let gt = dir.path().join("gt.json");
    let dt = dir.path().join("dt.json");
    std::fs::write(
        &gt,
        r#"{"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 3, "name": "shirt"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 120, 100], "area": 12000, "iscrowd": 0},
                            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [0, 0, 100, 110], "area": 11000, "iscrowd": 0}]}"#,
    )
    .unwrap();
    // One exact hit and one miss (a box elsewhere on image 2).
    std::fs::write(
        &dt,
        r#"[{"image_id": 1, "category_id": 3, "bbox": [10, 10, 120, 100], "score": 0.9},
            {"image_id": 2, "category_id": 3, "bbox": [300, 300, 50, 50], "score": 0.8}]"#,
    )
    .unwrap();
    let o = figs().arg("detect-eval").args([&gt, &dt]).arg("--json").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.trim_start().starts_with(r#"{"AP": "#), "COCOeval's order, AP first: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Half the objects found at every threshold, the hit ranked first: AP 0.5 (101 recall
    // points, 51 of them at precision 1), AR 0.5; no small or medium objects: -1.
    assert!((v["AP"].as_f64().unwrap() - 51.0 / 101.0).abs() < 1e-9, "{v}");
    assert_eq!(v["AR100"].as_f64(), Some(0.5));
    assert_eq!(v["APs"].as_f64(), Some(-1.0));

    let o = figs().arg("detect-eval").args([&gt, &gt]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("gt.json") && err.contains("results format"), "{err}");
}

fn fashion_mnist() -> &'static str {
    let d = figs::data::FASHION_MNIST_DIR;
    assert!(
        std::path::Path::new(d).join("train-images-idx3-ubyte.gz").is_file(),
        "Fashion-MNIST is not installed in {d}: run scripts/setup.sh (it installs Debian's dataset-fashion-mnist)"
    );
    d
}

fn make_set(out: &std::path::Path, train: &str) -> std::process::Output {
    figs()
        .args(["make-detection-set", "--train", train, "--val", "5", "--size", "96", "--seed", "7"])
        .args(["--min-item", "12", "--max-item", "96", "--fashion-mnist", fashion_mnist()])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn make_detection_set_writes_a_coco_folder_that_scores_itself_perfectly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    let o = make_set(&out, "12");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ann = out.join("annotations/instances_train.json");
    let gt = figs::detect::Instances::load(&ann).unwrap();
    assert_eq!(gt.images.len(), 12);
    assert_eq!(gt.categories.len(), 10);
    assert!(gt.annotations.len() >= 12, "at least one object per canvas");
    for img in &gt.images {
        let rgb = figs::data::images::decode_file(&out.join("train").join(&img.file_name)).unwrap();
        assert_eq!((rgb.width, rgb.height), (96, 96));
    }
    for a in &gt.annotations {
        let b = a.bbox;
        assert!(b[0] >= 0.0 && b[1] >= 0.0 && b[0] + b[2] <= 96.0 && b[1] + b[3] <= 96.0, "{b:?}");
        assert!(a.area.unwrap() <= b[2] * b[3]);
    }
    // The ground truth as detections: a perfect detector.
    let dets: Vec<serde_json::Value> = gt
        .annotations
        .iter()
        .map(
            |a| serde_json::json!({"image_id": a.image_id, "category_id": a.category_id, "bbox": a.bbox, "score": 1.0}),
        )
        .collect();
    let dt = dir.path().join("dt.json");
    std::fs::write(&dt, serde_json::to_vec(&dets).unwrap()).unwrap();
    let o = figs().arg("detect-eval").args([&ann, &dt]).arg("--json").output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((v["AP"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{v}");

    // Each canvas has its own seed: a smaller set is the start of a larger one.
    let small = dir.path().join("small");
    assert!(make_set(&small, "4").status.success());
    for f in ["000001.jpg", "000004.jpg"] {
        assert_eq!(
            std::fs::read(out.join("train").join(f)).unwrap(),
            std::fs::read(small.join("train").join(f)).unwrap()
        );
    }
    // A folder that is not empty is refused and left as it was.
    let o = make_set(&small, "4");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an empty folder"));
    assert_eq!(std::fs::read_dir(small.join("train")).unwrap().count(), 4);
}
