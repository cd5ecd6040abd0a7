//! A detection data set made here (`figs make-detection-set`): Fashion-MNIST items pasted at
//! random scales and positions onto noisy or textured canvases, written as a COCO-format
//! folder, since no detection data can be downloaded on figs' machines.
//!
//! Layout, as COCO 2017's: `OUT/train/000001.jpg …`, `OUT/val/…`,
//! `OUT/annotations/instances_train.json`, `instances_val.json`. Training canvases take
//! Fashion-MNIST's training items and validation canvases its test items, so no item is in
//! both. JPEG (quality 92, like COCO's photographs) keeps the set small: noise does not
//! compress in PNG. Each canvas is drawn from its own seed (run seed, split, index), so a
//! set is the same whatever its size: the first 100 canvases of a 4000-canvas set are the
//! 100 of a 100-canvas set.

use super::coco::{write_json, Annotation, Category, Image, Instances};
use crate::data::idx::{read_idx_dir, RawSplit};
use crate::error::{Error, Result};
use crate::seed::mix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// Fashion-MNIST's classes; category ids are 1 + the label.
pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// A pixel of an item counts as the object above this opacity (its box and area).
const OBJECT_ALPHA: f32 = 0.1;
/// Placements tried per object before it is left out.
const TRIES: usize = 30;
/// The most of one box another may cover.
const MAX_COVER: f64 = 0.3;
const JPEG_QUALITY: i32 = 92;

/// What to make.
#[derive(Debug, Clone, PartialEq)]
pub struct CanvasOptions {
    /// Training canvases.
    pub train: usize,
    /// Validation canvases.
    pub val: usize,
    /// Canvas side in pixels (square).
    pub size: usize,
    /// Smallest and largest side of a pasted item (its 28×28 frame), in pixels.
    pub min_item: usize,
    pub max_item: usize,
    /// At most this many objects on a canvas (at least one).
    pub max_objects: usize,
    pub seed: u64,
}

impl Default for CanvasOptions {
    fn default() -> Self {
        // 160 px with items of 16–160 px: COCO's three size ranges (small < 32², large >
        // 96² in area) all occur, at a resolution a 2-core machine can train on.
        CanvasOptions { train: 4000, val: 500, size: 160, min_item: 16, max_item: 160, max_objects: 6, seed: 0 }
    }
}

impl CanvasOptions {
    fn check(&self) -> Result<()> {
        let bad = |name: &str, m: String| Err(Error::config(name, m));
        if self.size < 32 || self.size > 4096 {
            return bad("size", format!("{} px; give 32–4096", self.size));
        }
        if self.min_item < 8 || self.min_item > self.max_item {
            return bad("min-item", format!("{}; give 8 ≤ min-item ≤ max-item ({})", self.min_item, self.max_item));
        }
        if self.max_item > self.size {
            return bad("max-item", format!("{} px does not fit a {} px canvas", self.max_item, self.size));
        }
        if self.max_objects == 0 || self.max_objects > 100 {
            return bad("max-objects", format!("{}; give 1–100", self.max_objects));
        }
        if self.train + self.val == 0 {
            return bad("train", "no canvases to make: give --train or --val above 0".into());
        }
        Ok(())
    }
}

/// What was made.
#[derive(Debug, Clone, PartialEq)]
pub struct MadeSet {
    /// (split, canvases, objects) per split.
    pub splits: Vec<(String, usize, usize)>,
}

/// Makes the set in `out`, which must not exist or be empty: figs never writes into a
/// folder it did not make. The set is written beside it first and renamed into place, so
/// an interrupted run leaves no half-made set. `progress(done, total)` after each canvas.
pub fn make_detection_set(
    fashion_mnist: &Path,
    out: &Path,
    o: &CanvasOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<MadeSet> {
    o.check()?;
    if out.exists() {
        let empty = out.is_dir() && std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            return Err(Error::config(
                "out",
                format!(
                    "{} exists and is not an empty folder; name a new one (figs writes nothing into it)",
                    out.display()
                ),
            ));
        }
    }
    let raw = read_idx_dir(fashion_mnist)?;
    if (raw.height, raw.width) != (28, 28) || raw.classes > FASHION_CLASSES.len() {
        return Err(Error::Data {
            path: fashion_mnist.into(),
            message: format!(
                "{}×{} items in {} classes; expected Fashion-MNIST's 28×28 in 10",
                raw.height, raw.width, raw.classes
            ),
        });
    }
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "set".into());
    let tmp = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = write_splits(&raw.train, &raw.test, &tmp, o, progress).and_then(|made| {
        if out.exists() {
            std::fs::remove_dir(out).map_err(|e| Error::io("cannot replace the empty folder", out, e))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| Error::io("cannot move the made set to", out, e))?;
        Ok(made)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn write_splits(
    train: &RawSplit,
    test: &RawSplit,
    dir: &Path,
    o: &CanvasOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<MadeSet> {
    let total = o.train + o.val;
    let mut done = 0;
    let mut splits = Vec::new();
    let ann_dir = dir.join("annotations");
    std::fs::create_dir_all(&ann_dir).map_err(|e| Error::io("cannot create", &ann_dir, e))?;
    for (k, (split, items, n)) in [("train", train, o.train), ("val", test, o.val)].into_iter().enumerate() {
        let img_dir = dir.join(split);
        std::fs::create_dir_all(&img_dir).map_err(|e| Error::io("cannot create", &img_dir, e))?;
        let mut set = Instances {
            categories: FASHION_CLASSES
                .iter()
                .enumerate()
                .map(|(i, c)| Category { id: i as i64 + 1, name: c.to_string() })
                .collect(),
            ..Default::default()
        };
        for i in 0..n {
            let id = i as i64 + 1;
            let mut rng = ChaCha8Rng::seed_from_u64(mix(mix(o.seed, k as u64), i as u64));
            let (pixels, objects) = canvas(&mut rng, items, o);
            let file_name = format!("{id:06}.jpg");
            let path = img_dir.join(&file_name);
            write_jpeg(&path, &pixels, o.size)?;
            set.images.push(Image { id, file_name, width: o.size as u32, height: o.size as u32 });
            for (label, bbox, area) in objects {
                let ann_id = set.annotations.len() as i64 + 1;
                set.annotations.push(Annotation {
                    id: ann_id,
                    image_id: id,
                    category_id: label as i64 + 1,
                    bbox,
                    area: Some(area),
                    iscrowd: false,
                });
            }
            done += 1;
            progress(done, total);
        }
        splits.push((split.to_string(), n, set.annotations.len()));
        write_json(&ann_dir.join(format!("instances_{split}.json")), &set)?;
    }
    Ok(MadeSet { splits })
}

fn write_jpeg(path: &Path, rgb: &[u8], size: usize) -> Result<()> {
    let image = turbojpeg::Image {
        pixels: rgb,
        width: size,
        pitch: size * 3,
        height: size,
        format: turbojpeg::PixelFormat::RGB,
    };
    let jpeg = turbojpeg::compress(image, JPEG_QUALITY, turbojpeg::Subsamp::Sub2x2)
        .map_err(|e| Error::Data { path: path.into(), message: format!("JPEG encoding failed: {e}") })?;
    std::fs::write(path, &*jpeg).map_err(|e| Error::io("cannot write", path, e))
}

/// One object: (label, COCO box, area in pixels).
type Object = (u8, [f64; 4], f64);

/// One canvas (RGB, row-major) and its objects.
fn canvas(rng: &mut ChaCha8Rng, items: &RawSplit, o: &CanvasOptions) -> (Vec<u8>, Vec<Object>) {
    let s = o.size;
    let (mut px, bg_light) = background(rng, s);
    let wanted = rng.gen_range(1..=o.max_objects);
    let mut objects: Vec<Object> = Vec::new();
    for _ in 0..wanted {
        let idx = rng.gen_range(0..items.labels.len());
        let frame = &items.pixels[idx * 784..(idx + 1) * 784];
        // Log-uniform sides: as many small objects as large ones.
        let (lo, hi) = ((o.min_item as f64).ln(), (o.max_item as f64).ln());
        let side = rng.gen_range(lo..=hi).exp().round() as usize;
        let alpha = resize_bilinear(frame, 28, side);
        let Some((bx, by, bw, bh, area)) = extent(&alpha, side) else { continue };
        let Some((x0, y0)) = place(rng, s, side, [bx, by, bw, bh], &objects) else { continue };
        let color = item_color(rng, bg_light);
        paste(&mut px, s, &alpha, side, x0, y0, color);
        let bbox = [(x0 + bx) as f64, (y0 + by) as f64, bw as f64, bh as f64];
        objects.push((items.labels[idx], bbox, area));
    }
    (px, objects)
}

/// The item's tight box in its frame (x, y, w, h) and its area: pixels above
/// [`OBJECT_ALPHA`]. `None` for an item with no such pixel.
fn extent(alpha: &[f32], side: usize) -> Option<(usize, usize, usize, usize, f64)> {
    let (mut x0, mut y0, mut x1, mut y1, mut area) = (side, side, 0, 0, 0usize);
    for y in 0..side {
        for x in 0..side {
            if alpha[y * side + x] > OBJECT_ALPHA {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
                area += 1;
            }
        }
    }
    (area > 0).then(|| (x0, y0, x1 - x0, y1 - y0, area as f64))
}

/// A frame position on the canvas where the item's box covers at most [`MAX_COVER`] of any
/// earlier box and is covered by them no more than that; `None` after [`TRIES`].
fn place(rng: &mut ChaCha8Rng, s: usize, side: usize, b: [usize; 4], objects: &[Object]) -> Option<(usize, usize)> {
    for _ in 0..TRIES {
        let (x0, y0) = (rng.gen_range(0..=s - side), rng.gen_range(0..=s - side));
        let new = [(x0 + b[0]) as f64, (y0 + b[1]) as f64, b[2] as f64, b[3] as f64];
        let clear = objects.iter().all(|(_, old, _)| {
            let inter = intersection(&new, old);
            inter <= MAX_COVER * old[2] * old[3] && inter <= MAX_COVER * new[2] * new[3]
        });
        if clear {
            return Some((x0, y0));
        }
    }
    None
}

fn intersection(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let w = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let h = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    if w <= 0.0 || h <= 0.0 {
        0.0
    } else {
        w * h
    }
}

/// Grey noise around a random level, or a few coloured waves with mild noise; returns the
/// pixels and the background's mean lightness (0–255).
fn background(rng: &mut ChaCha8Rng, s: usize) -> (Vec<u8>, f64) {
    let mut px = vec![0u8; s * s * 3];
    let base: [f64; 3] = {
        let level = rng.gen_range(30.0..225.0);
        [0, 1, 2].map(|_| level + rng.gen_range(-20.0..20.0))
    };
    let textured = rng.gen_bool(0.5);
    let noise = rng.gen_range(5.0..25.0);
    // Waves: (amplitude per channel, frequency x, frequency y, phase).
    let waves: Vec<([f64; 3], f64, f64, f64)> = (0..if textured { 3 } else { 0 })
        .map(|_| {
            let amp = [0, 1, 2].map(|_| rng.gen_range(-35.0..35.0));
            let f = rng.gen_range(1.0..8.0) * std::f64::consts::TAU / s as f64;
            let angle: f64 = rng.gen_range(0.0..std::f64::consts::PI);
            (amp, f * angle.cos(), f * angle.sin(), rng.gen_range(0.0..std::f64::consts::TAU))
        })
        .collect();
    for y in 0..s {
        for x in 0..s {
            for (c, &b) in base.iter().enumerate() {
                let wave: f64 =
                    waves.iter().map(|(a, fx, fy, ph)| a[c] * (fx * x as f64 + fy * y as f64 + ph).sin()).sum();
                // A sum of uniforms: close enough to Gaussian noise, and cheap.
                let n: f64 = (0..3).map(|_| rng.gen_range(-1.0..1.0)).sum::<f64>() * noise;
                px[(y * s + x) * 3 + c] = (b + wave + n).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    let mean = base.iter().sum::<f64>() / 3.0;
    (px, mean)
}

/// A colour whose lightness stands off the background's by 90–150 levels.
fn item_color(rng: &mut ChaCha8Rng, bg: f64) -> [f64; 3] {
    let off = rng.gen_range(90.0..150.0);
    let light = if bg + off <= 255.0 && (bg - off < 0.0 || rng.gen_bool(0.5)) { bg + off } else { bg - off };
    let light = light.clamp(0.0, 255.0);
    [0, 1, 2].map(|_| (light + rng.gen_range(-40.0..40.0)).clamp(0.0, 255.0))
}

/// Pastes an item (opacity per pixel) in `color` at (x0, y0).
fn paste(px: &mut [u8], s: usize, alpha: &[f32], side: usize, x0: usize, y0: usize, color: [f64; 3]) {
    for y in 0..side {
        for x in 0..side {
            let a = alpha[y * side + x] as f64;
            if a <= 0.0 {
                continue;
            }
            let at = ((y0 + y) * s + x0 + x) * 3;
            for c in 0..3 {
                let v = px[at + c] as f64 * (1.0 - a) + color[c] * a;
                px[at + c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// A square grey frame `n`×`n` resized to `m`×`m` (bilinear, pixel centres aligned as in
/// PyTorch's `align_corners=False`), as opacities in [0, 1].
fn resize_bilinear(frame: &[u8], n: usize, m: usize) -> Vec<f32> {
    let scale = n as f32 / m as f32;
    let coord = |i: usize| {
        let src = ((i as f32 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(n - 1);
        let i1 = (i0 + 1).min(n - 1);
        (i0, i1, src - i0 as f32)
    };
    let mut out = vec![0f32; m * m];
    for y in 0..m {
        let (y0, y1, fy) = coord(y);
        for x in 0..m {
            let (x0, x1, fx) = coord(x);
            let p = |yy: usize, xx: usize| frame[yy * n + xx] as f32 / 255.0;
            let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
            let bottom = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
            out[y * m + x] = top * (1.0 - fy) + bottom * fy;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> RawSplit {
        // Two 28×28 items: a filled 10×6 rectangle, and nothing at all.
        let mut pixels = vec![0u8; 2 * 784];
        for y in 4..10 {
            for x in 8..18 {
                pixels[y * 28 + x] = 255;
            }
        }
        RawSplit { pixels, labels: vec![3, 7] }
    }

    #[test]
    fn boxes_hold_the_pasted_item_and_stay_on_the_canvas() {
        let o = CanvasOptions { min_item: 28, max_item: 28, max_objects: 4, size: 96, ..Default::default() };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..20 {
            let (px, objects) = canvas(&mut rng, &items(), &o);
            assert_eq!(px.len(), 96 * 96 * 3);
            for (label, b, area) in objects {
                assert_eq!(label, 3, "the empty item is never an object");
                assert_eq!((b[2], b[3]), (10.0, 6.0), "at scale 1 the box is the rectangle");
                assert_eq!(area, 60.0);
                assert!(b[0] + b[2] <= 96.0 && b[1] + b[3] <= 96.0);
            }
        }
    }

    #[test]
    fn objects_cover_each_other_little() {
        let o = CanvasOptions { min_item: 40, max_item: 80, max_objects: 8, size: 128, ..Default::default() };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let (_, objects) = canvas(&mut rng, &items(), &o);
        for (i, (_, a, _)) in objects.iter().enumerate() {
            for (_, b, _) in &objects[..i] {
                assert!(intersection(a, b) <= MAX_COVER * (a[2] * a[3]).min(b[2] * b[3]) + 1e-9);
            }
        }
    }

    #[test]
    fn a_folder_that_is_not_empty_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.txt"), "keep").unwrap();
        let err = make_detection_set(Path::new("/nonexistent"), dir.path(), &CanvasOptions::default(), &mut |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an empty folder"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.path().join("mine.txt")).unwrap(), "keep");
    }

    #[test]
    fn bad_sizes_are_named() {
        let o = CanvasOptions { max_item: 200, ..Default::default() };
        let err = o.check().unwrap_err().to_string();
        assert!(err.contains("max-item") && err.contains("160"), "{err}");
    }
}
