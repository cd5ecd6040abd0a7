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
