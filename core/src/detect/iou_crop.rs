//! The training transform of torchvision's SSDLite recipe (`references/detection`, policy
//! `ssdlite`): `RandomIoUCrop`, then a horizontal flip with probability ½; the model then
//! resizes the image to its input size without keeping the aspect ratio. Boxes follow the
//! pixels through every step. Drawn from a key and the example's index alone, like the
//! image folder's crops, so a resumed search sees the same batches.

use crate::data::images::{Crop, Draw};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `RandomIoUCrop`'s defaults: crop side scales, aspect-ratio range, the minimum IoU
/// options (1.0: no crop) and tries per option.
const SCALE: (f64, f64) = (0.3, 1.0);
const ASPECT: (f64, f64) = (0.5, 2.0);
const MIN_IOU: [f64; 7] = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0];
const TRIALS: usize = 40;
/// Options drawn before giving up and keeping the whole image (torchvision loops until the
/// "no crop" option comes up, which this many draws miss with probability (6/7)^1000).
const MAX_OPTIONS: usize = 1000;

/// A box `[x1, y1, x2, y2]` in pixels.
pub type BoxF = [f32; 4];

/// `RandomIoUCrop` on an image of `width` × `height` with `boxes`: the crop and the indices
/// of the boxes whose centres lie inside it, or None to keep the whole image (the "no crop"
/// option, or an image without boxes).
pub fn iou_crop(width: usize, height: usize, boxes: &[BoxF], rng: &mut ChaCha8Rng) -> Option<(Crop, Vec<usize>)> {
    if boxes.is_empty() {
        return None;
    }
    for _ in 0..MAX_OPTIONS {
        let min_iou = MIN_IOU[rng.gen_range(0..MIN_IOU.len())];
        if min_iou >= 1.0 {
            return None;
        }
        for _ in 0..TRIALS {
            let (r0, r1) = (rng.gen::<f64>(), rng.gen::<f64>());
            let new_w = (width as f64 * (SCALE.0 + (SCALE.1 - SCALE.0) * r0)) as usize;
            let new_h = (height as f64 * (SCALE.0 + (SCALE.1 - SCALE.0) * r1)) as usize;
            let (r2, r3) = (rng.gen::<f64>(), rng.gen::<f64>());
            if new_w == 0 || new_h == 0 || !(ASPECT.0..=ASPECT.1).contains(&(new_w as f64 / new_h as f64)) {
                continue;
            }
            let left = ((width - new_w) as f64 * r2) as usize;
            let top = ((height - new_h) as f64 * r3) as usize;
            let (right, bottom) = ((left + new_w) as f32, (top + new_h) as f32);
            let (l, t) = (left as f32, top as f32);
            let within: Vec<usize> = (0..boxes.len())
                .filter(|&i| {
                    let b = boxes[i];
                    let (cx, cy) = (0.5 * (b[0] + b[2]), 0.5 * (b[1] + b[3]));
                    l < cx && cx < right && t < cy && cy < bottom
                })
                .collect();
            if within.is_empty() {
                continue;
            }
            let best = within.iter().map(|&i| iou(&boxes[i], &[l, t, right, bottom])).fold(0.0f32, f32::max);
            if (best as f64) < min_iou {
                continue;
            }
            return Some((Crop { top, left, height: new_h, width: new_w }, within));
        }
    }
    None
}

/// IoU of two boxes as plain numbers: this runs per training image on the decode workers,
/// up to 40 tries per option, where `super::boxes::iou` would make a libtorch call of each.
fn iou(a: &BoxF, b: &BoxF) -> f32 {
    let area = |b: &BoxF| (b[2] - b[0]) * (b[3] - b[1]);
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    inter / (area(a) + area(b) - inter)
}

/// The training draw of example `index` under `key`: the crop (the whole image when
/// `RandomIoUCrop` keeps it), whether to flip, and which boxes survive.
pub fn draw_detection(width: usize, height: usize, boxes: &[BoxF], key: u64, index: u64) -> (Draw, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::mix(key, index));
    let (crop, kept) = iou_crop(width, height, boxes, &mut rng)
        .unwrap_or_else(|| (Crop { top: 0, left: 0, height, width }, (0..boxes.len()).collect()));
    (Draw { crop, flip: rng.gen_bool(0.5) }, kept)
}

/// Box `b` of the original image as it lands in the `size` × `size` input after `d`'s crop,
/// flip and resize; None when the crop leaves nothing of it.
pub fn map_box(b: &BoxF, d: &Draw, size: usize) -> Option<BoxF> {
    let c = d.crop;
    let (cw, ch) = (c.width as f32, c.height as f32);
    let x1 = (b[0] - c.left as f32).clamp(0.0, cw);
    let x2 = (b[2] - c.left as f32).clamp(0.0, cw);
    let y1 = (b[1] - c.top as f32).clamp(0.0, ch);
    let y2 = (b[3] - c.top as f32).clamp(0.0, ch);
    let (x1, x2) = if d.flip { (cw - x2, cw - x1) } else { (x1, x2) };
    let (sx, sy) = (size as f32 / cw, size as f32 / ch);
    let out = [x1 * sx, y1 * sy, x2 * sx, y2 * sy];
    (out[2] > out[0] && out[3] > out[1]).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_keeps_the_boxes_whose_centres_it_holds_and_meets_its_iou() {
        let boxes = [[10.0, 10.0, 60.0, 50.0], [200.0, 150.0, 300.0, 260.0], [5.0, 200.0, 40.0, 230.0]];
        let (mut cropped, mut whole) = (0, 0);
        for i in 0..2000 {
            let (d, kept) = draw_detection(320, 280, &boxes, 7, i);
            let c = d.crop;
            assert!(c.left + c.width <= 320 && c.top + c.height <= 280 && c.width > 0 && c.height > 0);
            if (c.width, c.height) == (320, 280) {
                whole += 1;
                assert_eq!(kept.len(), 3);
                continue;
            }
            cropped += 1;
            let r = c.width as f64 / c.height as f64;
            assert!((0.5..=2.0).contains(&r), "aspect {r}");
            assert!(c.width as f64 >= 0.3 * 320.0 - 1.0 && c.height as f64 >= 0.3 * 280.0 - 1.0);
            assert!(!kept.is_empty());
            for &k in &kept {
                let m = map_box(&boxes[k], &d, 64).expect("a kept box keeps some area");
                assert!(m.iter().all(|v| (0.0..=64.0).contains(v)), "{m:?}");
            }
        }
        // The "no crop" option is one in seven, plus the draws whose crops all failed.
        assert!(whole > 200 && cropped > 1000, "whole {whole}, cropped {cropped}");
    }

    #[test]
    fn boxes_follow_the_flip_and_the_resize() {
        let d = Draw { crop: Crop { top: 10, left: 20, height: 100, width: 200 }, flip: true };
        // x 30..70 in the crop, flipped: 130..170 of 200; scaled by 0.5 and 1.
        assert_eq!(map_box(&[50.0, 20.0, 90.0, 60.0], &d, 100), Some([65.0, 10.0, 85.0, 50.0]));
        assert_eq!(map_box(&[0.0, 0.0, 15.0, 5.0], &d, 100), None, "outside the crop");
    }
}
