//! MobileNetV2 at 224×224 / 1000 classes must be torchvision's network.
//!
//! Golden numbers: tests/golden/torchvision_counts.py run with torch 2.11.0 and
//! torchvision 0.26.0 (output in tests/golden/torchvision_counts.json). The parameter
//! count also matches torchvision's published 3,504,872.

use figs::count::count;
use figs_mobilenet_v2::{build, Config};
use figs_tests::built_params;

#[test]
fn mobilenet_v2_matches_torchvision() {
    let g = build(&Config::imagenet(1.0, 224, 1000)).unwrap();
    let c = count(&g, &g.analyze().unwrap());
    assert_eq!(c.params, 3_504_872);
    assert_eq!(c.macs, 300_774_272);
    assert_eq!(built_params(&g), 3_504_872, "the tch model figs builds has the counted parameters");
}

#[test]
fn mobilenet_v2_width_half_matches_torchvision() {
    let g = build(&Config::imagenet(0.5, 224, 1000)).unwrap();
    let c = count(&g, &g.analyze().unwrap());
    assert_eq!(c.params, 1_968_680);
    assert_eq!(c.macs, 97_131_840);
}

#[test]
fn mobilenet_v2_round_nearest_1_matches_torchvision() {
    // torchvision.models.mobilenet_v2(width_mult=0.35, round_nearest=1): channel counts
    // round to integers, the head stays at 1280.
    let g = build(&Config { round_nearest: 1, ..Config::imagenet(0.35, 224, 1000) }).unwrap();
    let c = count(&g, &g.analyze().unwrap());
    assert_eq!(c.params, 1_670_588);
    assert_eq!(c.macs, 49_487_572);
}
