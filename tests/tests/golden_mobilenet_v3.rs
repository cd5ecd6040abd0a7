//! MobileNetV3 at 224×224 / 1000 classes, and SSDLite on it at 320×320, must be
//! torchvision's networks (its own test
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

/// torchvision's `ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)` (its
/// published 3,440,060 parameters and 0.583 GFLOPS, counted as MACs), with 11 classes, and
/// SSDLite on `mobilenet_v3_small` put together from torchvision's own pieces
/// (tests/golden/torchvision_counts.py).
#[test]
fn ssdlite_matches_torchvision() {
    use figs_mobilenet_v3::{build as v3, Config as V3, Head};
    let det = |cfg: V3| V3 { reduced_tail: true, head: Head::SsdLite, ..cfg };
    let cases = [
        ("large, 91 classes", det(V3::large(1.0, 320, 91)), 3_440_060, 583_171_904),
        ("large, 11 classes", det(V3::large(1.0, 320, 11)), 2_331_260, 423_305_024),
        ("small, 11 classes", det(V3::small(1.0, 320, 11)), 1_035_788, 118_212_544),
    ];
    for (name, cfg, params, macs) in cases {
        let g = v3(&cfg).unwrap();
        let c = count(&g, &g.analyze().unwrap());
        assert_eq!((c.params, c.macs), (params, macs), "{name}");
    }
    let g = v3(&det(V3::large(1.0, 320, 91))).unwrap();
    assert_eq!(built_params(&g).unwrap(), 3_440_060, "the tch model figs builds has the counted parameters");
}

/// The width baseline shrinks the detector until the last stride-2 block has no expansion
/// (its expanded width rounds to its input's): the C4 tap is then its depthwise conv, as
/// torchvision's `block[0]` (found when `figs pareto`'s width search failed on it).
#[test]
fn ssdlite_at_any_width_has_its_c4_map() {
    use figs_mobilenet_v3::{build as v3, Config as V3, Head};
    for width in [0.01, 0.03, 0.05, 0.1, 0.5] {
        let cfg = V3 { reduced_tail: true, head: Head::SsdLite, ..V3::small(width, 128, 11) };
        let g = v3(&cfg).unwrap_or_else(|e| panic!("width {width}: {e}"));
        assert_eq!(figs::graph::detection_maps(&g, &g.analyze().unwrap()).len(), 6, "width {width}");
    }
}
