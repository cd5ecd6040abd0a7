//! The detection [`Task`]: SSD's loss on a detector's two outputs and COCO's mAP over a
//! whole evaluation set.
//!
//! Outputs: class logits `[B, A, C]` (C counts the background, class 0) and box offsets
//! `[B, A, 4]` from the default boxes (`BoxCoder((10, 10, 5, 5))`), A default boxes.
//! Targets, one tensor per batch as every data set gives them: `[B, G, 5]` float rows
//! `(label, x1, y1, x2, y2)` in input pixels, padded with rows of label 0 (the background
//! is never an object) up to the batch's most objects.
//!
//! COCO's size ranges are areas in pixels, so mAP small / medium / large are those of the
//! network's input; a set resized on the way in scores them on the resized boxes.

use super::boxes::DefaultBoxes;
use super::coco::{Annotation, Category, Detection as CocoDetection, Image, Instances};
use super::coco_eval::{evaluate, STAT_NAMES};
use super::ssd::{detections, ssd_loss, DetectOptions, Detected, Truth};
use crate::error::{Error, Result};
use crate::graph::{detection_maps, Graph};
use crate::task::{Evaluation, Task};
use tch::{Device, Kind, Tensor};

/// SSD on its default boxes for inputs of `(height, width)` pixels.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Classes with the background (class 0).
    pub classes: usize,
    /// The default boxes, `[A, 4]` row-major (kept as numbers: a task is shared between
    /// threads, a tensor may not be).
    anchors: Vec<f32>,
    pub image: (usize, usize),
    pub options: DetectOptions,
}

impl Detection {
    /// `anchors` `[A, 4]`, as [`super::boxes::DefaultBoxes::boxes`] gives them.
    pub fn new(classes: usize, anchors: &Tensor, image: (usize, usize), options: DetectOptions) -> Result<Self> {
        let anchors = Vec::<f32>::try_from(anchors.to_kind(Kind::Float).contiguous().view([-1]))?;
        Ok(Detection { classes, anchors, image, options })
    }

    /// The task of a detection graph: SSDLite's default boxes on the feature maps its heads
    /// read (sizes from the graph), each with as many boxes per cell as SSDLite places.
    pub fn for_graph(graph: &Graph) -> Result<Self> {
        if graph.task != crate::graph::TaskKind::Detection {
            return Err(Error::GraphGlobal(format!(
                "`{}` is not a detector (its task is {}); give a detector's graph, e.g. the arch.json of a detection run",
                graph.name,
                graph.task.name()
            )));
        }
        let a = graph.analyze()?;
        let maps = detection_maps(graph, &a);
        let boxes = DefaultBoxes::ssdlite(maps.len());
        for ((h, w, k), want) in maps.iter().zip(boxes.per_location()) {
            if *k != want {
                return Err(Error::GraphGlobal(format!(
                    "the detection head on the {h}x{w} feature map predicts {k} boxes per cell, but SSDLite's default boxes are {want} per cell; give its prediction convs {want}·values channels"
                )));
            }
        }
        let grids: Vec<(usize, usize)> = maps.iter().map(|&(h, w, _)| (h, w)).collect();
        let image = (graph.input.height, graph.input.width);
        Self::new(graph.classes, &boxes.boxes(image, &grids), image, DetectOptions::default())
    }

    /// One image's detections in input pixels, best first, from its class logits `[A, C]`
    /// and offsets `[A, 4]`.
    pub fn detections(&self, logits: &Tensor, codes: &Tensor) -> Vec<Detected> {
        let (logits, codes) = (logits.to_device(Device::Cpu), codes.to_device(Device::Cpu));
        detections(&logits, &codes, &self.anchors(Device::Cpu), self.image, &self.options)
    }

    fn anchors(&self, device: Device) -> Tensor {
        Tensor::from_slice(&self.anchors).view([-1, 4]).to_device(device)
    }
}

/// `d` in COCO's results format (`[x, y, width, height]`), its box scaled by `(sx, sy)`
/// from input pixels to the image's.
pub(crate) fn coco_detection(d: &Detected, image_id: i64, (sx, sy): (f64, f64)) -> CocoDetection {
    let [x1, y1, x2, y2] = d.bbox.map(f64::from);
    CocoDetection {
        image_id,
        category_id: d.label,
        bbox: [x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy],
        score: d.score as f64,
    }
}

/// One image's objects from its padded target rows: (boxes `[G, 4]`, labels `[G]`).
fn objects(rows: &Tensor) -> (Tensor, Tensor) {
    let real = rows.select(1, 0).gt(0.0).nonzero().squeeze_dim(1);
    let rows = rows.index_select(0, &real);
    (rows.narrow(1, 1, 4).to_kind(Kind::Float), rows.select(1, 0).to_kind(Kind::Int64))
}

impl Task for Detection {
    fn name(&self) -> &str {
        "detection"
    }

    fn loss(&self, outputs: &[Tensor], target: &Tensor) -> Tensor {
        let anchors = self.anchors(outputs[0].device());
        let per_image: Vec<(Tensor, Tensor)> = (0..target.size()[0]).map(|i| objects(&target.get(i))).collect();
        let truth: Vec<Truth> = per_image.iter().map(|(b, l)| Truth { boxes: b, labels: l }).collect();
        let (boxes, classes) = ssd_loss(&outputs[0], &outputs[1], &anchors, &truth);
        boxes + classes
    }

    /// The share of default boxes matched to an object whose most likely class is that
    /// object's: cheap, per batch (mAP needs the whole set). Background boxes are left out:
    /// counted in, they held the share near 0.98 from the first step (SSD matches a few
    /// boxes per object among thousands).
    fn batch_metric(&self, outputs: &[Tensor], target: &Tensor) -> Tensor {
        let anchors = self.anchors(outputs[0].device());
        let labels: Vec<Tensor> = (0..target.size()[0])
            .map(|i| {
                let (boxes, labels) = objects(&target.get(i));
                let m = super::boxes::match_boxes(&boxes, &anchors, super::ssd::MATCH_IOU);
                let padded = Tensor::cat(&[Tensor::zeros([1], (Kind::Int64, anchors.device())), labels], 0);
                padded.index_select(0, &(m + 1))
            })
            .collect();
        let want = Tensor::stack(&labels, 0);
        let objects = want.gt(0);
        let right = outputs[0].argmax(-1, false).eq_tensor(&want).logical_and(&objects);
        // A batch without objects has no share to give: 0, not NaN in the step line.
        right.sum(Kind::Double) / objects.sum(Kind::Double).clamp_min(1.0)
    }

    fn metric_name(&self) -> &str {
        "mAP"
    }

    fn evaluation(&self, _device: Device) -> Box<dyn Evaluation> {
        Box::new(CocoEvaluation {
            anchors: self.anchors(Device::Cpu),
            image: self.image,
            classes: self.classes,
            options: self.options,
            truth: Instances::default(),
            found: Vec::new(),
        })
    }
}

/// Detections and ground truth of every image seen, scored by COCO's evaluation at the end.
struct CocoEvaluation {
    anchors: Tensor,
    image: (usize, usize),
    classes: usize,
    options: DetectOptions,
    truth: Instances,
    found: Vec<CocoDetection>,
}

impl Evaluation for CocoEvaluation {
    fn add(&mut self, outputs: &[Tensor], target: &Tensor) -> Result<()> {
        let (logits, codes) = (outputs[0].to_device(Device::Cpu), outputs[1].to_device(Device::Cpu));
        let target = target.to_device(Device::Cpu);
        for i in 0..target.size()[0] {
            let id = self.truth.images.len() as i64 + 1;
            let (h, w) = self.image;
            self.truth.images.push(Image { id, file_name: String::new(), width: w as u32, height: h as u32 });
            let (boxes, labels) = objects(&target.get(i));
            let boxes = Vec::<f32>::try_from(boxes.contiguous().view([-1]))?;
            let labels = Vec::<i64>::try_from(labels)?;
            for (b, label) in boxes.chunks(4).zip(labels) {
                let (bw, bh) = ((b[2] - b[0]) as f64, (b[3] - b[1]) as f64);
                self.truth.annotations.push(Annotation {
                    id: self.truth.annotations.len() as i64 + 1,
                    image_id: id,
                    category_id: label,
                    bbox: [b[0] as f64, b[1] as f64, bw, bh],
                    area: None,
                    iscrowd: false,
                });
            }
            for d in detections(&logits.get(i), &codes.get(i), &self.anchors, self.image, &self.options) {
                self.found.push(coco_detection(&d, id, (1.0, 1.0)));
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<(String, f64)>> {
        if self.truth.images.is_empty() {
            return Err(Error::config("data", "evaluation set is empty"));
        }
        self.truth.categories = (1..self.classes as i64).map(|id| Category { id, name: String::new() }).collect();
        let s = evaluate(&self.truth, &self.found);
        let names = ["mAP"].into_iter().chain(STAT_NAMES[1..].iter().copied());
        Ok(names.zip(s.stats).map(|(n, v)| (n.to_string(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::boxes::{encode, DefaultBoxes};

    fn task() -> Detection {
        let anchors = DefaultBoxes::ssdlite(2).boxes((64, 64), &[(4, 4), (2, 2)]);
        Detection::new(4, &anchors, (64, 64), DetectOptions::default()).unwrap()
    }

    /// Outputs that put `(label, box)` exactly on each object's best default boxes.
    fn perfect(t: &Detection, objects: &[(i64, [f32; 4])]) -> (Tensor, Tensor) {
        let anchors = t.anchors(Device::Cpu);
        let a = anchors.size()[0];
        let mut logits = Tensor::zeros([a, t.classes as i64], (Kind::Float, Device::Cpu));
        let _ = logits.select(1, 0).fill_(10.0);
        let mut codes = Tensor::zeros([a, 4], (Kind::Float, Device::Cpu));
        for &(label, b) in objects {
            let gt = Tensor::from_slice(&b).view([1, 4]);
            let m = crate::detect::boxes::match_boxes(&gt, &anchors, 0.5);
            let hits = m.ge(0).nonzero().squeeze_dim(1);
            let n = hits.size()[0];
            let rows = logits.index_select(0, &hits).zero_();
            let _ = rows.select(1, label).fill_(10.0);
            let _ = logits.index_copy_(0, &hits, &rows);
            let _ = codes.index_copy_(0, &hits, &encode(&gt.expand([n, 4], false), &anchors.index_select(0, &hits)));
        }
        (logits.unsqueeze(0), codes.unsqueeze(0))
    }

    /// A detector that calls every box background finds nothing: its batch metric is 0, not
    /// the background's share of the default boxes (0.99 here, as the metric once was).
    #[test]
    fn calling_everything_background_scores_zero_in_the_batch() {
        let t = task();
        let objects = [(1i64, [4.0f32, 4.0, 30.0, 28.0])];
        let (logits, codes) = perfect(&t, &objects);
        let background = logits.zeros_like();
        let _ = background.select(2, 0).fill_(10.0);
        let rows: Vec<f32> = objects.iter().flat_map(|(l, b)| [*l as f32, b[0], b[1], b[2], b[3]]).collect();
        let target = Tensor::from_slice(&rows).view([1, 1, 5]);
        assert_eq!(f64::try_from(t.batch_metric(&[background, codes.shallow_clone()], &target)).unwrap(), 0.0);
        let empty = Tensor::zeros([1, 1, 5], (Kind::Float, Device::Cpu));
        assert_eq!(f64::try_from(t.batch_metric(&[logits, codes], &empty)).unwrap(), 0.0, "no objects: 0, not NaN");
    }

    #[test]
    fn a_perfect_detector_scores_map_one_and_padding_is_no_object() {
        let t = task();
        let objects = [(1i64, [4.0f32, 4.0, 30.0, 28.0]), (3, [34.0, 30.0, 62.0, 62.0])];
        let (logits, codes) = perfect(&t, &objects);
        let mut rows: Vec<f32> = objects.iter().flat_map(|(l, b)| [*l as f32, b[0], b[1], b[2], b[3]]).collect();
        rows.extend([0.0; 5]);
        let target = Tensor::from_slice(&rows).view([1, 3, 5]);
        let mut e = t.evaluation(Device::Cpu);
        e.add(&[logits.shallow_clone(), codes.shallow_clone()], &target).unwrap();
        let m = e.finish().unwrap();
        assert_eq!(m[0].0, "mAP");
        assert!((m[0].1 - 1.0).abs() < 1e-9, "{m:?}");
        assert_eq!(
            f64::try_from(t.batch_metric(&[logits.shallow_clone(), codes.shallow_clone()], &target)).unwrap(),
            1.0
        );
        let loss = f64::try_from(t.loss(&[logits, codes], &target)).unwrap();
        assert!(loss < 1e-3, "confident and exact: loss {loss}");
    }
}
