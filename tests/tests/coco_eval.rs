//! figs' COCO box evaluation against pycocotools' `COCOeval` (2.0.11, PyPI, in the test
//! venv): the twelve numbers of every generated case (tests/pytorch/coco_cases.py) equal
//! to 1e-6.

use figs::detect::coco::{load_detections, Instances};
use figs::detect::{evaluate, STAT_NAMES};
use figs_tests::run_python;

#[test]
fn the_twelve_numbers_equal_pycocotools_on_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_python("coco_cases.py", &[dir.path().to_str().unwrap()]);
    let cases: Vec<&str> = out.lines().collect();
    assert!(cases.len() >= 6, "the case script wrote {cases:?}");
    let mut worst = 0.0f64;
    for case in cases {
        let d = dir.path().join(case);
        let gt = Instances::load(&d.join("gt.json")).unwrap();
        let dets = load_detections(&d.join("dt.json"), &gt).unwrap();
        let want: Vec<f64> = serde_json::from_slice(&std::fs::read(d.join("stats.json")).unwrap()).unwrap();
        let got = evaluate(&gt, &dets).stats;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-6, "{case}: {} is {g}, pycocotools says {w}", STAT_NAMES[i]);
            worst = worst.max((g - w).abs());
        }
        // Each case must measure something in every range, or it tests less than it says.
        assert!(want.iter().all(|&v| v > 0.0), "{case}: pycocotools gave {want:?}");
    }
    eprintln!("largest difference from pycocotools: {worst:e}");
}
