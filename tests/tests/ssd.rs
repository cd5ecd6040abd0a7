//! SSD's default boxes, matching, loss and detections against torchvision 0.26
//! (tests/pytorch/ssd_reference.py: `DefaultBoxGenerator`, `SSDMatcher`, `BoxCoder`,
//! `SSD.compute_loss`, `SSD.postprocess_detections` with ssdlite320's settings).

use figs::detect::boxes::{encode, match_boxes, DefaultBoxes};
use figs::detect::ssd::{detections, ssd_loss, DetectOptions, Truth};
use figs_tests::run_python;
use serde_json::Value;
use tch::Tensor;

fn floats(v: &Value) -> Vec<f32> {
    fn walk(v: &Value, out: &mut Vec<f32>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Number(n) => out.push(n.as_f64().unwrap() as f32),
            _ => panic!("not a number: {v}"),
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

fn tensor(v: &Value, cols: i64) -> Tensor {
    Tensor::from_slice(&floats(v)).view([-1, cols])
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn default_boxes_matching_loss_and_detections_equal_torchvision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssd.json");
    run_python("ssd_reference.py", &[path.to_str().unwrap()]);
    let r: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();

    // ssdlite320's 3234 default boxes, and those of the 160-px grids.
    let gen = DefaultBoxes::ssdlite(6);
    let b320 = gen.boxes((320, 320), &[(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]);
    assert_eq!(b320.size(), [3234, 4]);
    let d = max_diff(&Vec::<f32>::try_from(b320.view([-1])).unwrap(), &floats(&r["default_boxes_320"]));
    assert!(d <= 1e-4, "default boxes at 320 px differ by {d}");
    let size = r["size"].as_u64().unwrap() as usize;
    let grids: Vec<(usize, usize)> = r["grids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g.as_u64().unwrap() as usize, g.as_u64().unwrap() as usize))
        .collect();
    let anchors = gen.boxes((size, size), &grids);
    let d = max_diff(&Vec::<f32>::try_from(anchors.view([-1])).unwrap(), &floats(&r["default_boxes"]));
    assert!(d <= 1e-4, "default boxes at {size} px differ by {d}");

    // Matching, with an image without ground truth.
    let targets = r["targets"].as_array().unwrap();
    let truth_tensors: Vec<(Tensor, Tensor)> = targets
        .iter()
        .map(|t| {
            let labels: Vec<i64> = t["labels"].as_array().unwrap().iter().map(|l| l.as_i64().unwrap()).collect();
            (tensor(&t["boxes"], 4), Tensor::from_slice(&labels))
        })
        .collect();
    for (i, (boxes, _)) in truth_tensors.iter().enumerate() {
        let got = Vec::<i64>::try_from(match_boxes(boxes, &anchors, 0.5)).unwrap();
        let want: Vec<i64> = r["matched"][i].as_array().unwrap().iter().map(|m| m.as_i64().unwrap()).collect();
        assert_eq!(got, want, "matches of image {i}");
    }
    let m0 = match_boxes(&truth_tensors[0].0, &anchors, 0.5);
    let fg = m0.ge(0).nonzero().squeeze_dim(1);
    let enc = encode(&truth_tensors[0].0.index_select(0, &m0.index_select(0, &fg)), &anchors.index_select(0, &fg));
    let d = max_diff(&Vec::<f32>::try_from(enc.view([-1])).unwrap(), &floats(&r["encoded"]));
    assert!(d <= 1e-4, "encoded offsets differ by {d}");

    // The loss.
    let classes = r["classes"].as_i64().unwrap();
    let a = anchors.size()[0];
    let logits = tensor(&r["cls_logits"], classes).view([-1, a, classes]);
    let codes = tensor(&r["bbox_regression"], 4).view([-1, a, 4]);
    let truth: Vec<Truth> = truth_tensors.iter().map(|(b, l)| Truth { boxes: b, labels: l }).collect();
    let (box_loss, class_loss) = ssd_loss(&logits, &codes, &anchors, &truth);
    let (bl, cl) = (box_loss.double_value(&[]), class_loss.double_value(&[]));
    let (wb, wc) = (r["loss_box"].as_f64().unwrap(), r["loss_cls"].as_f64().unwrap());
    assert!((bl - wb).abs() <= 1e-5 * wb.abs(), "box loss {bl}, torchvision {wb}");
    assert!((cl - wc).abs() <= 1e-5 * wc.abs(), "class loss {cl}, torchvision {wc}");

    // Detections: decode, clip, per-class top-k, NMS, the best 300.
    for i in 0..truth.len() {
        let got =
            detections(&logits.get(i as i64), &codes.get(i as i64), &anchors, (size, size), &DetectOptions::default());
        let want = &r["detections"][i];
        let labels: Vec<i64> = want["labels"].as_array().unwrap().iter().map(|l| l.as_i64().unwrap()).collect();
        assert_eq!(got.len(), labels.len(), "image {i}: number of detections");
        assert_eq!(got.iter().map(|d| d.label).collect::<Vec<_>>(), labels, "image {i}: labels in order");
        let scores: Vec<f32> = got.iter().map(|d| d.score).collect();
        assert!(max_diff(&scores, &floats(&want["scores"])) <= 1e-6, "image {i}: scores");
        let boxes: Vec<f32> = got.iter().flat_map(|d| d.bbox).collect();
        let d = max_diff(&boxes, &floats(&want["boxes"]));
        assert!(d <= 1e-3, "image {i}: boxes differ by {d} px");
    }
}
