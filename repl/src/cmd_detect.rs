//! `figs detect-eval`: COCO's twelve box numbers for any detector's results, computed as
//! pycocotools' `COCOeval` computes them, so figs' detectors can be checked against other
//! tools and other tools against pycocotools.

use anyhow::Result;
use clap::Args;
use figs::detect::coco::{load_detections, Instances};
use figs::detect::coco_eval::summary_lines;
use figs::detect::{evaluate, STAT_NAMES};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DetectEvalArgs {
    /// Ground truth in COCO's instances format (`images`, `annotations`, `categories`).
    gt: PathBuf,
    /// Detections in COCO's results format: a list of {image_id, category_id, bbox, score}.
    detections: PathBuf,
    /// Print the numbers as JSON ({"AP": …, "AP50": …}) instead of COCO's summary.
    #[arg(long)]
    json: bool,
}

pub fn run(a: DetectEvalArgs) -> Result<()> {
    let gt = Instances::load(&a.gt)?;
    let dets = load_detections(&a.detections, &gt)?;
    let s = evaluate(&gt, &dets);
    if a.json {
        // In COCOeval's order, not serde_json's sorted keys.
        let pairs: Vec<String> = STAT_NAMES.iter().zip(s.stats).map(|(n, v)| format!("\"{n}\": {v:?}")).collect();
        println!("{{{}}}", pairs.join(", "));
    } else {
        for line in summary_lines(&s.stats) {
            println!("{line}");
        }
    }
    if s.unknown_category > 0 {
        eprintln!(
            "note: {} detections name a category {} does not list; they were left out, as COCOeval leaves them out",
            s.unknown_category,
            a.gt.display()
        );
    }
    Ok(())
}
