//! ResNet-18/34/50 at 224×224 / 1000 classes must be torchvision's networks.
//!
//! Golden numbers: tests/golden/torchvision_counts.py with torch 2.11.0 and torchvision
//! 0.26.0 (output in tests/golden/torchvision_counts.json); ResNet-18's 11,689,512 and
//! ResNet-50's 25,557,032 parameters are also torchvision's published counts.
//!
//! (One plugin crate per test binary: each plugin rlib carries the `figs_plugin_entry`
//! symbol, so two in one binary collide; see docs/PLUGINS.md.)

use figs::count::count;

/// Parameters of the tch model figs builds (not `figs_tests::built_params`, which would
/// link the MobileNetV2 plugin crate into this binary too).
fn built_params(g: &figs::graph::Graph) -> i64 {
    figs::net::built_params(g).unwrap()
}

#[test]
fn resnets_match_torchvision() {
    for (depth, params, macs) in
        [(18, 11_689_512u64, 1_814_073_344u64), (34, 21_797_672, 3_663_761_408), (50, 25_557_032, 4_089_184_256)]
    {
        let g = figs_resnet::build(&figs_resnet::Config::imagenet(depth, 1.0, 224, 1000).unwrap()).unwrap();
        let c = count(&g, &g.analyze().unwrap());
        assert_eq!((c.params, c.macs), (params, macs), "resnet{depth}");
        if depth == 18 {
            assert_eq!(built_params(&g), params as i64, "the tch model has the counted parameters");
        }
    }
}

#[test]
fn resnet_stage_stream_is_one_group() {
    let g = figs_resnet::build(&figs_resnet::Config::imagenet(50, 1.0, 224, 1000).unwrap()).unwrap();
    let a = g.analyze().unwrap();
    let group = |n: &str| a.channels[g.index_of(n).unwrap()][0].group;
    let s = group("layer3.0.conv3.conv");
    assert_eq!(group("layer3.0.downsample.conv"), s);
    assert_eq!(group("layer3.5.conv3.conv"), s);
    assert_eq!(a.groups[s].width, 1024);
    assert_ne!(group("layer3.1.conv1.conv"), s);
}
