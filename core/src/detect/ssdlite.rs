//! SSDLite's extra layers and prediction heads (MobileNetV2 paper §6.2, torchvision's
//! `ssdlite.py`), added to any backbone's graph: a search space that offers a detector
//! gives its two feature maps and gets torchvision's detector, every conv before the heads'
//! last 1×1 convs searchable.
//!
//! From the backbone's last feature map four extra blocks follow (1×1 conv to half the
//! width, 3×3 depthwise at stride 2, 1×1 conv; batch norm and ReLU6 after each; 512, 256,
//! 256 and 128 channels). On each of the six maps two heads predict: 3×3 depthwise + batch
//! norm + ReLU6, then a 1×1 conv with bias to `K·classes` logits or `K·4` offsets, K = 6
//! default boxes per cell ([`super::boxes::DefaultBoxes::ssdlite`]). The heads' depthwise
//! convs share their map's channel group, so searching the maps sizes the heads too.

use super::boxes::DefaultBoxes;
use crate::graph::{Act, GraphBuilder, Op, TaskKind, T};

/// The extra blocks' output widths before the width multiplier (torchvision's).
pub const EXTRA_WIDTHS: [usize; 4] = [512, 256, 256, 128];

/// torchvision's `get_depth`: `max(16, int(d · width))`.
fn depth(d: usize, width: f64) -> usize {
    ((d as f64 * width) as usize).max(16)
}

/// Adds the extra blocks and both heads to `b` after the backbone's feature maps `c4` (the
/// stride-16 map) and `last` (the backbone's last conv), names the outputs `logits`
/// (`[A, classes]`, class 0 the background) and `offsets` (`[A, 4]`), and makes the graph a
/// detection graph. `width` scales the extra blocks (torchvision's `width_mult`, which it
/// leaves at 1).
pub fn attach(b: &mut GraphBuilder, c4: &T, last: &T, classes: usize, width: f64) {
    let mut maps = vec![c4.clone(), last.clone()];
    let mut x = last.clone();
    for (i, &w) in EXTRA_WIDTHS.iter().enumerate() {
        let out = depth(w, width);
        x = b.scope(&format!("extra{i}"), |b| {
            let y = b.conv_bn_act("reduce", &x, out / 2, 1, 1, Act::Relu6);
            let y = b.dwconv_bn_act("dw", &y, 3, 2, Act::Relu6);
            b.conv_bn_act("out", &y, out, 1, 1, Act::Relu6)
        });
        maps.push(x.clone());
    }
    let per_cell = DefaultBoxes::ssdlite(maps.len()).per_location();
    let mut heads = |kind: &str, values: usize| -> Vec<T> {
        maps.iter()
            .zip(&per_cell)
            .enumerate()
            .map(|(k, (m, &boxes))| {
                b.scope(&format!("{kind}{k}"), |b| {
                    let y = b.dwconv_bn_act("dw", m, 3, 1, Act::Relu6);
                    let out = boxes * values;
                    let pred = Op::Conv {
                        out,
                        kernel: 1,
                        stride: 1,
                        padding: 0,
                        depthwise: false,
                        bias: true,
                        searchable: false,
                    };
                    b.node("pred", pred, &[&y], out)
                })
            })
            .collect()
    };
    let cls = heads("cls", classes);
    let reg = heads("box", 4);
    let logits = b.per_box("logits", &cls.iter().collect::<Vec<_>>(), classes);
    let offsets = b.per_box("offsets", &reg.iter().collect::<Vec<_>>(), 4);
    b.outputs(&[&logits, &offsets]);
    b.task(TaskKind::Detection);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, InputSpec};
    use crate::net::Net;
    use tch::{nn, Device, Kind, Tensor};

    /// A two-map backbone at 64 px (maps of 8×8 and 4×4), SSDLite on it, 3 classes.
    fn detector() -> Graph {
        let mut b = GraphBuilder::new("tiny_det", InputSpec { channels: 3, height: 64, width: 64 }, 3);
        let x = b.input();
        let x = b.conv_bn_act("stem", &x, 8, 3, 4, Act::Relu);
        let c4 = b.conv_bn_act("c4", &x, 16, 3, 2, Act::Relu);
        let last = b.conv_bn_act("last", &c4, 24, 3, 2, Act::Relu);
        attach(&mut b, &c4, &last, 3, 0.125);
        b.finish().unwrap()
    }

    #[test]
    fn heads_give_one_row_per_default_box_in_the_tasks_order() {
        let g = detector();
        let a = g.analyze().unwrap();
        // 8x8, 4x4, then extras at 2x2, 1x1, 1x1, 1x1: six boxes per cell.
        let boxes = 6 * (64 + 16 + 4 + 1 + 1 + 1);
        assert_eq!(crate::graph::detection_maps(&g, &a).len(), 6);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), &g).unwrap();
        let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        let outs = net.forward_outputs(&x, false, None).unwrap();
        assert_eq!(outs[0].size(), [2, boxes as i64, 3]);
        assert_eq!(outs[1].size(), [2, boxes as i64, 4]);
        let task = crate::task::of(&g).unwrap();
        // One object of class 2 in the first image, none in the second.
        let target = Tensor::from_slice(&[2.0f32, 10.0, 10.0, 40.0, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0]).view([2, 1, 5]);
        let loss = f64::try_from(task.loss(&outs, &target)).unwrap();
        assert!(loss.is_finite() && loss > 0.0, "loss {loss}");
        // The anchors the task holds are one per output row.
        let m = f64::try_from(task.batch_metric(&outs, &target)).unwrap();
        assert!((0.0..=1.0).contains(&m));
    }

    #[test]
    fn the_heads_searchable_channels_are_the_feature_maps_and_the_predictions_are_not() {
        let g = detector();
        let a = g.analyze().unwrap();
        let gated: Vec<&str> = a.groups.iter().filter(|gr| gr.gated).map(|gr| gr.name.as_str()).collect();
        assert!(gated.contains(&"c4.conv") && gated.contains(&"extra3.out.conv"), "{gated:?}");
        assert!(!gated.iter().any(|n| n.ends_with("pred")), "prediction convs are outputs: {gated:?}");
    }

    #[test]
    fn a_per_box_output_that_another_node_reads_is_refused() {
        let mut g = detector();
        let n = g.nodes.len();
        g.nodes.push(crate::graph::Node {
            name: "after".into(),
            op: crate::graph::Op::Identity,
            inputs: vec![g.nodes[n - 1].name.clone()],
        });
        let e = g.analyze().unwrap_err().to_string();
        assert!(e.contains("after") && e.contains("per_box"), "{e}");
    }

    #[test]
    fn a_detection_graph_whose_logits_miss_the_classes_is_refused() {
        let mut g = detector();
        g.classes = 4;
        let e = g.analyze().unwrap_err().to_string();
        assert!(e.contains("`values` 4") || e.contains("values` 4"), "{e}");
        let mut g = detector();
        g.outputs.pop();
        let e = g.analyze().unwrap_err().to_string();
        assert!(e.contains("two outputs"), "{e}");
    }
}
