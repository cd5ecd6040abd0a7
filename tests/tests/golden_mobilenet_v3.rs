//! MobileNetV3 at 224×224 / 1000 classes must be torchvision's network (its own test
//! binary: two plugin crates linked into one binary clash on the plugin entry symbol, so
//! nothing of `figs_tests`, which links MobileNetV2's).
//!
//! Golden numbers: tests/golden/torchvision_counts.py run with torch 2.11.0 and
//! torchvision 0.26.0 (output in tests/golden/torchvision_counts.json).

use figs::count::count;
use figs::net::built_params;

/// torchvision's `mobilenet_v3_large` / `_small` (with and without `width_mult`,
/// `reduced_tail`): tests/golden/torchvision_counts.json. torchvision publishes 5,483,032
/// and 2,542,856 parameters for the two.
#[test]
fn mobilenet_v3_matches_torchvision() {
    use figs_mobilenet_v3::{build as v3, Config as V3};
    let cases = [
        ("large", V3::large(1.0, 224, 1000), 5_483_032, 216_589_760),
        ("small", V3::small(1.0, 224, 1000), 2_542_856, 56_510_400),
        ("large, width 0.75", V3::large(0.75, 224, 1000), 3_377_576, 140_033_816),
        ("large, reduced tail", V3 { reduced_tail: true, ..V3::large(1.0, 224, 1000) }, 2_569_352, 182_302_720),
    ];
    for (name, cfg, params, macs) in cases {
        let g = v3(&cfg).unwrap();
        let c = count(&g, &g.analyze().unwrap());
        assert_eq!((c.params, c.macs), (params, macs), "{name}");
    }
    let g = v3(&V3::large(1.0, 224, 1000)).unwrap();
    assert_eq!(built_params(&g).unwrap(), 5_483_032, "the tch model figs builds has the counted parameters");
}
