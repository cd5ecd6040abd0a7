//! Object detection: COCO's file formats and its box evaluation, so that figs' detectors
//! and anyone else's are scored by the same numbers (`figs detect-eval`); SSD's boxes, loss
//! and detections; SSDLite's extra layers and heads for a backbone's graph; the task.

pub mod boxes;
pub mod canvas;
pub mod coco;
pub mod coco_eval;
pub mod folder;
pub mod iou_crop;
pub mod results;
pub mod ssd;
pub mod ssdlite;
pub mod task;

pub use coco::{Detection, Instances};
pub use coco_eval::{evaluate, CocoStats, STAT_NAMES};
