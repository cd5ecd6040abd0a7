//! Detection commands. `figs detect-eval`: COCO's twelve box numbers for any detector's
//! results, computed as pycocotools' `COCOeval` computes them, so figs' detectors can be
//! checked against other tools and other tools against pycocotools.
//! `figs make-detection-set`: a COCO-format folder of Fashion-MNIST items on canvases.
//! `figs detect`: an exported detector's boxes on a COCO split, in COCO's results format.

use anyhow::Result;
use clap::Args;
use figs::detect::canvas::{make_detection_set, CanvasOptions};
use figs::detect::coco::{load_detections, Instances};
use figs::detect::coco_eval::summary_lines;
use figs::detect::results::{detect_images, Images};
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

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// The detector: an exported `arch.json` with its `arch.safetensors` beside it.
    arch: PathBuf,
    /// The folder of the images the instances file names.
    images: PathBuf,
    /// COCO's instances file listing the images (their ids and sizes).
    annotations: PathBuf,
    /// Where to write the detections (COCO's results format); an existing file is refused.
    #[arg(long)]
    out: PathBuf,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Threads decoding images (0: the cores libtorch's threads leave, at least 1, as the
    /// `workers` setting).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Writes the detections of an exported detector on every image of a COCO split, boxes in
/// the images' own pixels, for `figs detect-eval` (or pycocotools) on the original annotations.
pub fn detect(a: DetectArgs) -> Result<()> {
    if a.out.exists() {
        anyhow::bail!("{} exists; figs does not overwrite it: give another --out", a.out.display());
    }
    let device = a.device.parse::<figs::device::DeviceChoice>()?.resolve()?;
    let e = figs::export::Exported::load(&a.arch)?;
    let images = Images {
        dir: &a.images,
        annotations: &a.annotations,
        workers: figs::config::decode_workers(a.workers, 0),
        batch: a.batch_size,
    };
    let pb = crate::format::bar(0, "images");
    let found = detect_images(&e.graph, &e.weights, &images, device, &mut |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    })?;
    pb.finish_and_clear();
    // Again: the run may have taken long enough for something else to write there.
    if a.out.exists() {
        anyhow::bail!("{} appeared while figs ran; figs does not overwrite it: give another --out", a.out.display());
    }
    figs::detect::coco::write_json(&a.out, &found)?;
    println!(
        "wrote {} detections to {} (score them: figs detect-eval {} {})",
        found.len(),
        a.out.display(),
        a.annotations.display(),
        a.out.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct MakeSetArgs {
    /// The folder to make (must not exist, or be empty): OUT/train, OUT/val,
    /// OUT/annotations/instances_{train,val}.json.
    out: PathBuf,
    /// Training canvases (from Fashion-MNIST's training items).
    #[arg(long, default_value_t = CanvasOptions::default().train)]
    train: usize,
    /// Validation canvases (from Fashion-MNIST's test items).
    #[arg(long, default_value_t = CanvasOptions::default().val)]
    val: usize,
    /// Canvas side in pixels.
    #[arg(long, default_value_t = CanvasOptions::default().size)]
    size: usize,
    /// Smallest side of a pasted item's 28×28 frame, in pixels.
    #[arg(long, default_value_t = CanvasOptions::default().min_item)]
    min_item: usize,
    /// Largest side of a pasted item's frame, in pixels.
    #[arg(long, default_value_t = CanvasOptions::default().max_item)]
    max_item: usize,
    /// At most this many objects on a canvas.
    #[arg(long, default_value_t = CanvasOptions::default().max_objects)]
    max_objects: usize,
    /// Seed of the canvases (each canvas draws from its own seed derived from it).
    #[arg(long, default_value_t = CanvasOptions::default().seed)]
    seed: u64,
    /// The Fashion-MNIST IDX files (Debian's dataset-fashion-mnist by default).
    #[arg(long, default_value = figs::data::FASHION_MNIST_DIR)]
    fashion_mnist: PathBuf,
}

pub fn make_set(a: MakeSetArgs) -> Result<()> {
    let o = CanvasOptions {
        train: a.train,
        val: a.val,
        size: a.size,
        min_item: a.min_item,
        max_item: a.max_item,
        max_objects: a.max_objects,
        seed: a.seed,
    };
    let pb = crate::format::bar((o.train + o.val) as u64, "canvases");
    let made = make_detection_set(&a.fashion_mnist, &a.out, &o, &mut |done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    for (split, images, objects) in made.splits {
        println!("{split}: {images} canvases, {objects} objects");
    }
    println!("wrote {} (COCO format: images in train/ and val/, boxes in annotations/)", a.out.display());
    Ok(())
}
