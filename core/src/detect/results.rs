//! A detector's boxes on every image of a COCO instances file, in COCO's results format and
//! in the images' own pixels: what `figs detect` writes, so `figs detect-eval` or
//! pycocotools score it on the original annotations. figs' own evaluation scores resized
//! images against their resized boxes with crowd regions left out (see [`super::task`]);
//! these files are how a detector found by figs gets the number COCO's tools give.

use super::coco::Detection;
use super::folder::CocoFolder;
use super::task::{coco_detection, Detection as DetectionTask};
use crate::data::images::ImageOptions;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::graph::Graph;
use std::path::Path;
use std::sync::Arc;
use tch::{Device, Tensor};

/// Where the images are and how they are read.
#[derive(Debug, Clone)]
pub struct Images<'a> {
    pub dir: &'a Path,
    pub annotations: &'a Path,
    /// Threads decoding the images (at least 1).
    pub workers: usize,
    pub batch: usize,
}

/// Runs the detector `graph` with `weights` on every image `images` lists (resized whole to
/// the network's input, as figs evaluates) and returns its detections with boxes scaled back
/// to each image's size; `progress(done, total)` after each batch.
pub fn detect_images(
    graph: &Graph,
    weights: &[(String, Tensor)],
    images: &Images,
    device: Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Detection>> {
    let task = DetectionTask::for_graph(graph)?;
    let (h, w) = task.image;
    if h != w {
        return Err(Error::config(
            "data",
            format!("the detector reads {h}x{w} images; figs resizes images to squares only (give it resolution={h})"),
        ));
    }
    if images.batch == 0 {
        return Err(Error::config("batch-size", "must be at least 1"));
    }
    let folder = Arc::new(CocoFolder::load(
        images.dir,
        images.annotations,
        ImageOptions { size: w, workers: images.workers.max(1) },
    )?);
    let data = Dataset::of(folder.clone());
    crate::data::check_fits(&data, graph)?;
    let (_vs, net) = crate::export::build_with_weights(graph, weights, device)?;
    let _guard = tch::no_grad_guard();
    let (total, mut found, mut done) = (data.len(), Vec::new(), 0);
    for b in data.ordered_batches(images.batch, device) {
        let (x, _) = b?;
        let out = net.forward_outputs(&x, false, None)?;
        for i in 0..x.size()[0] {
            let (id, width, height) =
                folder.image(done).ok_or_else(|| Error::config("data", "more images than listed"))?;
            let scale = (width as f64 / w as f64, height as f64 / h as f64);
            let dets = task.detections(&out[0].get(i), &out[1].get(i));
            found.extend(dets.iter().map(|d| coco_detection(d, id, scale)));
            done += 1;
        }
        progress(done, total);
    }
    Ok(found)
}
