//! Channel groups of MobileNetV2: the residual stream of a stage is one group.

use figs_mobilenet_v2::{build, Config};

#[test]
fn residual_stream_of_a_stage_is_one_group() {
    let g = build(&Config::imagenet(1.0, 224, 1000)).unwrap();
    let a = g.analyze().unwrap();
    let group_of = |node: &str| a.channels[g.index_of(node).unwrap()][0].group;
    // Stage 3 (t=6, c=32, n=3) is blocks 3, 4, 5; blocks 4 and 5 add onto block 3's output.
    let s = group_of("block3.project.conv");
    assert_eq!(group_of("block4.project.conv"), s);
    assert_eq!(group_of("block5.project.conv"), s);
    let stream = &a.groups[s];
    assert_eq!(stream.width, 32);
    assert_eq!(stream.producers.len(), 3);
    assert!(stream.gated);
    // The next stage starts a new stream, and expansions are groups of their own.
    assert_ne!(group_of("block6.project.conv"), s);
    assert_ne!(group_of("block4.expand.conv"), s);
    // Depthwise convs pass their input group through.
    assert_eq!(group_of("block4.dw.conv"), group_of("block4.expand.conv"));
    // 1 input + stem + 17 blocks' projections merged into 7 streams + 16 expansions + head + classifier.
    assert_eq!(a.groups.len(), 1 + 1 + 7 + 16 + 1 + 1);
    assert_eq!(a.groups.iter().filter(|g| g.gated).count(), 1 + 7 + 16 + 1);
}
