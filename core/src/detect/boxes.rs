//! SSD's boxes, with torchvision's conventions (tested against torchvision 0.26 in
//! `tests/tests/ssd.rs`): default boxes as `DefaultBoxGenerator` places them, the offsets of
//! `BoxCoder((10, 10, 5, 5))`, pairwise IoU as `box_iou`, and `SSDMatcher`'s matching.
//! Boxes are `[x1, y1, x2, y2]` in pixels, float32, one row each.

use tch::{Kind, Tensor};

/// Where SSD puts its default boxes: per feature map k, at every cell centre, a square of
/// scale s_k, one of √(s_k·s_{k+1}), and for each aspect ratio r a box s_k·(√r, 1/√r) and
/// its transpose; scales run evenly from `min_ratio` to `max_ratio`, then 1.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultBoxes {
    pub aspect_ratios: Vec<Vec<f64>>,
    scales: Vec<f64>,
}

impl DefaultBoxes {
    /// torchvision's `DefaultBoxGenerator(aspect_ratios, min_ratio, max_ratio)`.
    pub fn new(aspect_ratios: Vec<Vec<f64>>, min_ratio: f64, max_ratio: f64) -> Self {
        let n = aspect_ratios.len();
        let scales = if n > 1 {
            let range = max_ratio - min_ratio;
            let mut s: Vec<f64> = (0..n).map(|k| min_ratio + range * k as f64 / (n as f64 - 1.0)).collect();
            s.push(1.0);
            s
        } else {
            vec![min_ratio, max_ratio]
        };
        DefaultBoxes { aspect_ratios, scales }
    }

    /// SSDLite's: aspect ratios 2 and 3 on every one of `maps` feature maps, scales 0.2–0.95
    /// (`ssdlite320_mobilenet_v3_large`, six maps).
    pub fn ssdlite(maps: usize) -> Self {
        Self::new(vec![vec![2.0, 3.0]; maps], 0.2, 0.95)
    }

    /// Default boxes per cell of each feature map.
    pub fn per_location(&self) -> Vec<usize> {
        self.aspect_ratios.iter().map(|r| 2 + 2 * r.len()).collect()
    }

    /// (width, height) of each box at a cell of map k, as fractions of the image.
    fn wh_pairs(&self, k: usize) -> Vec<[f32; 2]> {
        let s = self.scales[k];
        let s_prime = (self.scales[k] * self.scales[k + 1]).sqrt();
        let mut pairs = vec![[s, s], [s_prime, s_prime]];
        for &ar in &self.aspect_ratios[k] {
            let sq = ar.sqrt();
            let (w, h) = (s * sq, s / sq);
            pairs.extend([[w, h], [h, w]]);
        }
        // torchvision keeps them as float32 and clips them to the image.
        pairs.iter().map(|p| p.map(|v| (v as f32).clamp(0.0, 1.0))).collect()
    }

    /// The boxes for an image of `(height, width)` pixels whose feature maps have `grids`
    /// (rows, columns): `[Σ rows·columns·per_location, 4]`, map by map, cell by cell (row
    /// major), box by box, as torchvision orders them.
    pub fn boxes(&self, (height, width): (usize, usize), grids: &[(usize, usize)]) -> Tensor {
        let (iw, ih) = (width as f32, height as f32);
        let mut v: Vec<f32> = Vec::new();
        for (k, &(rows, cols)) in grids.iter().enumerate() {
            let pairs = self.wh_pairs(k);
            for y in 0..rows {
                let cy = (y as f32 + 0.5) / rows as f32;
                for x in 0..cols {
                    let cx = (x as f32 + 0.5) / cols as f32;
                    for [w, h] in &pairs {
                        let (hw, hh) = (0.5 * w, 0.5 * h);
                        v.extend([(cx - hw) * iw, (cy - hh) * ih, (cx + hw) * iw, (cy + hh) * ih]);
                    }
                }
            }
        }
        let n = v.len() as i64 / 4;
        Tensor::from_slice(&v).view([n, 4])
    }
}

/// `BoxCoder(weights=(10, 10, 5, 5))`: a box relative to a default box as
/// (10·dx/w, 10·dy/h, 5·log(w'/w), 5·log(h'/h)).
const WEIGHTS: [f64; 4] = [10.0, 10.0, 5.0, 5.0];
/// The largest log-scale a decoded box may take (torchvision's `log(1000 / 16)`).
fn scale_clip() -> f64 {
    (1000.0f64 / 16.0).ln()
}

fn centre_size(b: &Tensor) -> [Tensor; 4] {
    let (x1, y1, x2, y2) = (b.select(1, 0), b.select(1, 1), b.select(1, 2), b.select(1, 3));
    let w = &x2 - &x1;
    let h = &y2 - &y1;
    let cx = &x1 + &w * 0.5;
    let cy = &y1 + &h * 0.5;
    [cx, cy, w, h]
}

/// The offsets of `boxes` from their default boxes `anchors` (both `[N, 4]`).
pub fn encode(boxes: &Tensor, anchors: &Tensor) -> Tensor {
    let [ax, ay, aw, ah] = centre_size(anchors);
    let [gx, gy, gw, gh] = centre_size(boxes);
    let dx = (gx - ax) * WEIGHTS[0] / &aw;
    let dy = (gy - ay) * WEIGHTS[1] / &ah;
    let dw = (gw / aw).log() * WEIGHTS[2];
    let dh = (gh / ah).log() * WEIGHTS[3];
    Tensor::stack(&[dx, dy, dw, dh], 1)
}

/// The boxes that offsets `codes` `[N, 4]` describe relative to `anchors` `[N, 4]`.
pub fn decode(codes: &Tensor, anchors: &Tensor) -> Tensor {
    let [ax, ay, aw, ah] = centre_size(&anchors.to_kind(codes.kind()));
    let dx = codes.select(1, 0) / WEIGHTS[0];
    let dy = codes.select(1, 1) / WEIGHTS[1];
    let dw = (codes.select(1, 2) / WEIGHTS[2]).clamp_max(scale_clip());
    let dh = (codes.select(1, 3) / WEIGHTS[3]).clamp_max(scale_clip());
    let cx = dx * &aw + ax;
    let cy = dy * &ah + ay;
    let half_w = dw.exp() * aw * 0.5;
    let half_h = dh.exp() * ah * 0.5;
    Tensor::stack(&[&cx - &half_w, &cy - &half_h, &cx + &half_w, &cy + &half_h], 1)
}

/// IoU of every box of `a` `[N, 4]` with every box of `b` `[M, 4]`: `[N, M]`.
pub fn iou(a: &Tensor, b: &Tensor) -> Tensor {
    let area = |t: &Tensor| (t.select(1, 2) - t.select(1, 0)) * (t.select(1, 3) - t.select(1, 1));
    let (area_a, area_b) = (area(a), area(b));
    let lt = a.narrow(1, 0, 2).unsqueeze(1).maximum(&b.narrow(1, 0, 2).unsqueeze(0));
    let rb = a.narrow(1, 2, 2).unsqueeze(1).minimum(&b.narrow(1, 2, 2).unsqueeze(0));
    let wh = (rb - lt).clamp_min(0.0);
    let inter = wh.select(2, 0) * wh.select(2, 1);
    let union = area_a.unsqueeze(1) + area_b.unsqueeze(0) - &inter;
    inter / union
}

/// `SSDMatcher(threshold)`: for every default box the index of the ground-truth box it
/// overlaps most if that IoU is ≥ `threshold`, else -1; and every ground-truth box takes
/// the default box it overlaps most whatever the IoU (a later one wins a shared box).
/// `gt` `[G, 4]`, `anchors` `[A, 4]` → `[A]` int64; all -1 without ground truth.
pub fn match_boxes(gt: &Tensor, anchors: &Tensor, threshold: f64) -> Tensor {
    let a = anchors.size()[0];
    if gt.size()[0] == 0 {
        return Tensor::full([a], -1, (Kind::Int64, anchors.device()));
    }
    let q = iou(gt, anchors);
    let (best_iou, best_gt) = q.max_dim(0, false);
    let matches = best_gt.where_self(&best_iou.ge(threshold), &Tensor::full([a], -1, (Kind::Int64, anchors.device())));
    let (_, best_anchor) = q.max_dim(1, false);
    let g = Tensor::arange(gt.size()[0], (Kind::Int64, anchors.device()));
    matches.index_put(&[Some(best_anchor)], &g, false)
}
