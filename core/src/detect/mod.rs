//! Object detection: COCO's file formats and its box evaluation, so that figs' detectors
//! and anyone else's are scored by the same numbers (`figs detect-eval`).

pub mod boxes;
pub mod canvas;
pub mod coco;
pub mod coco_eval;
pub mod ssd;
pub mod task;

pub use coco::{Detection, Instances};
pub use coco_eval::{evaluate, CocoStats, STAT_NAMES};
