//! COCO's box evaluation: the twelve numbers of pycocotools' `COCOeval` (iouType `bbox`),
//! computed the way it computes them, so that figs' mAP and anyone else's agree to rounding
//! (tested against pycocotools 2.0.11 on generated cases: `tests/tests/coco_eval.rs`).
//!
//! Its conventions, kept on purpose because they are what "COCO mAP" means:
//! - per image and category, detections by score (stable), at most 100; each is matched
//!   greedily to the unmatched ground-truth box of highest IoU ≥ the threshold, preferring
//!   boxes that count over ignored ones (crowd regions, boxes outside the size range);
//! - a crowd region may match any number of detections, and its IoU is the intersection
//!   over the detection's area; such detections count neither way;
//! - an unmatched detection outside the size range is ignored; ground truth of size
//!   `area` (the annotation's, not the box's) in [0, 32²] is small, [32², 96²] medium,
//!   [96², 1e10] large (bounds belong to both);
//! - precision made monotone from the right, read at 101 recall points; a category without
//!   ground truth in a range is left out of that range's mean (-1 where nothing counts);
//! - a matched detection whose ground-truth id is 0 counts as unmatched (pycocotools
//!   stores the matched id and tests it for non-zero): give annotations ids from 1.

use super::coco::{Annotation, Detection, Instances};
use std::collections::{HashMap, HashSet};

/// The twelve numbers, in `COCOeval.stats` order.
pub const STAT_NAMES: [&str; 12] =
    ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"];

const MAX_DETS: [usize; 3] = [1, 10, 100];
/// (label, lowest area, highest area), both bounds included.
const AREAS: [(&str, f64, f64); 4] =
    [("all", 0.0, 1e10), ("small", 0.0, 1024.0), ("medium", 1024.0, 9216.0), ("large", 9216.0, 1e10)];

/// What an evaluation found.
#[derive(Debug, Clone, PartialEq)]
pub struct CocoStats {
    /// mAP@[.5:.95], mAP@.5, mAP@.75, mAP small / medium / large, AR@1, AR@10, AR@100,
    /// AR@100 small / medium / large; -1 where nothing was there to measure.
    pub stats: [f64; 12],
    /// Detections of a category the ground truth does not list (left out, as COCOeval does).
    pub unknown_category: usize,
}

/// numpy's `linspace(start, stop, num)`: `i * step + start`, the last point exactly `stop`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    v[num - 1] = stop;
    v
}

/// pycocotools' `bbIou` (maskApi.c), operation for operation.
fn iou(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let (ga, da) = (g[2] * g[3], d[2] * d[3]);
    let w = (d[2] + d[0]).min(g[2] + g[0]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[3] + d[1]).min(g[3] + g[1]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    i / if crowd { da } else { da + ga - i }
}

/// A detection as COCOeval sees it after `loadRes`: its area is its box's.
struct Dt {
    bbox: [f64; 4],
    score: f64,
    area: f64,
}

/// The ground truth and detections of one image and category, detections by score.
struct Cell<'a> {
    gts: Vec<&'a Annotation>,
    dts: Vec<Dt>,
    /// IoU of detection d with ground truth g at `[d][g]`; empty when either side is.
    ious: Vec<Vec<f64>>,
}

impl<'a> Cell<'a> {
    fn new(gts: Vec<&'a Annotation>, mut dts: Vec<Dt>) -> Self {
        // Stable, like numpy's mergesort: equal scores keep the file's order.
        dts.sort_by(|a, b| b.score.total_cmp(&a.score));
        dts.truncate(MAX_DETS[2]);
        let ious = if gts.is_empty() || dts.is_empty() {
            Vec::new()
        } else {
            dts.iter().map(|d| gts.iter().map(|g| iou(&d.bbox, &g.bbox, g.iscrowd)).collect()).collect()
        };
        Cell { gts, dts, ious }
    }

    /// `evaluateImg` for one size range, at most 100 detections.
    fn evaluate(&self, thresholds: &[f64], (lo, hi): (f64, f64)) -> Option<Matches> {
        if self.gts.is_empty() && self.dts.is_empty() {
            return None;
        }
        let ignored = |g: &Annotation| g.iscrowd || g.area() < lo || g.area() > hi;
        // Ground truth that counts first, stable.
        let mut order: Vec<usize> = (0..self.gts.len()).collect();
        order.sort_by_key(|&g| ignored(self.gts[g]));
        let gt_ignore: Vec<bool> = order.iter().map(|&g| ignored(self.gts[g])).collect();
        let (nt, nd) = (thresholds.len(), self.dts.len());
        let mut matched_id = vec![vec![0i64; nd]; nt];
        let mut dt_ignore = vec![vec![false; nd]; nt];
        if !self.ious.is_empty() {
            for (t, &thr) in thresholds.iter().enumerate() {
                let mut gt_taken = vec![false; order.len()];
                for d in 0..nd {
                    let mut best = thr.min(1.0 - 1e-10);
                    let mut m: Option<usize> = None;
                    for (k, &g) in order.iter().enumerate() {
                        if gt_taken[k] && !self.gts[g].iscrowd {
                            continue;
                        }
                        if m.is_some_and(|m| !gt_ignore[m]) && gt_ignore[k] {
                            break;
                        }
                        if self.ious[d][g] < best {
                            continue;
                        }
                        best = self.ious[d][g];
                        m = Some(k);
                    }
                    if let Some(m) = m {
                        dt_ignore[t][d] = gt_ignore[m];
                        matched_id[t][d] = self.gts[order[m]].id;
                        gt_taken[m] = true;
                    }
                }
            }
        }
        for t in 0..nt {
            for (d, dt) in self.dts.iter().enumerate() {
                let outside = dt.area < lo || dt.area > hi;
                dt_ignore[t][d] |= matched_id[t][d] == 0 && outside;
            }
        }
        let matched = matched_id.into_iter().map(|row| row.into_iter().map(|id| id != 0).collect()).collect();
        Some(Matches {
            scores: self.dts.iter().map(|d| d.score).collect(),
            matched,
            dt_ignore,
            counted_gts: gt_ignore.iter().filter(|&&i| !i).count(),
        })
    }
}

/// One image, category and size range: per threshold, which detections hit and which
/// are ignored.
struct Matches {
    scores: Vec<f64>,
    matched: Vec<Vec<bool>>,
    dt_ignore: Vec<Vec<bool>>,
    counted_gts: usize,
}

/// Scores `dets` against `gt` as `COCOeval(gt, gt.loadRes(dets), 'bbox')` followed by
/// `evaluate()`, `accumulate()` and `summarize()` does. Check both with
/// [`Instances::check`] and [`super::coco::check_detections`] first.
pub fn evaluate(gt: &Instances, dets: &[Detection]) -> CocoStats {
    let thresholds = linspace(0.5, 0.95, 10);
    let recalls = linspace(0.0, 1.0, 101);
    let mut images: Vec<i64> = gt.images.iter().map(|i| i.id).collect::<HashSet<_>>().into_iter().collect();
    images.sort_unstable();
    let mut cats: Vec<i64> = gt.categories.iter().map(|c| c.id).collect::<HashSet<_>>().into_iter().collect();
    cats.sort_unstable();
    let (image_set, cat_set): (HashSet<i64>, HashSet<i64>) =
        (images.iter().copied().collect(), cats.iter().copied().collect());

    let mut gts: HashMap<(i64, i64), Vec<&Annotation>> = HashMap::new();
    for a in gt.annotations.iter().filter(|a| image_set.contains(&a.image_id) && cat_set.contains(&a.category_id)) {
        gts.entry((a.image_id, a.category_id)).or_default().push(a);
    }
    let mut dts: HashMap<(i64, i64), Vec<Dt>> = HashMap::new();
    let mut unknown_category = 0;
    for d in dets {
        if !cat_set.contains(&d.category_id) {
            unknown_category += 1;
            continue;
        }
        let dt = Dt { bbox: d.bbox, score: d.score, area: d.bbox[2] * d.bbox[3] };
        dts.entry((d.image_id, d.category_id)).or_default().push(dt);
    }

    // matches[k][a][i]: category k, size range a, image i.
    let mut matches: Vec<Vec<Vec<Option<Matches>>>> = Vec::with_capacity(cats.len());
    for &c in &cats {
        let cells: Vec<Cell> = images
            .iter()
            .map(|&i| Cell::new(gts.remove(&(i, c)).unwrap_or_default(), dts.remove(&(i, c)).unwrap_or_default()))
            .collect();
        let per_area =
            AREAS.iter().map(|&(_, lo, hi)| cells.iter().map(|cell| cell.evaluate(&thresholds, (lo, hi))).collect());
        matches.push(per_area.collect());
    }

    let acc = accumulate(&matches, &thresholds, &recalls);
    CocoStats { stats: summarize(&acc, &thresholds), unknown_category }
}

/// `COCOeval.eval`'s precision `[T][R][K][A][M]` and recall `[T][K][A][M]`, flattened.
struct Accumulated {
    precision: Vec<f64>,
    recall: Vec<f64>,
    dims: [usize; 5],
}

impl Accumulated {
    fn p(&self, t: usize, r: usize, k: usize, a: usize, m: usize) -> usize {
        let [_, nr, nk, na, nm] = self.dims;
        (((t * nr + r) * nk + k) * na + a) * nm + m
    }

    fn r(&self, t: usize, k: usize, a: usize, m: usize) -> usize {
        let [_, _, nk, na, nm] = self.dims;
        ((t * nk + k) * na + a) * nm + m
    }
}

fn accumulate(matches: &[Vec<Vec<Option<Matches>>>], thresholds: &[f64], recalls: &[f64]) -> Accumulated {
    let dims = [thresholds.len(), recalls.len(), matches.len(), AREAS.len(), MAX_DETS.len()];
    let mut acc = Accumulated {
        precision: vec![-1.0; dims.iter().product()],
        recall: vec![-1.0; dims[0] * dims[2] * dims[3] * dims[4]],
        dims,
    };
    for (k, per_area) in matches.iter().enumerate() {
        for (a, per_image) in per_area.iter().enumerate() {
            let evals: Vec<&Matches> = per_image.iter().flatten().collect();
            if evals.is_empty() {
                continue;
            }
            let counted: usize = evals.iter().map(|e| e.counted_gts).sum();
            for (m, &max_det) in MAX_DETS.iter().enumerate() {
                if counted == 0 {
                    continue;
                }
                // (image, detection) in concatenation order, then by score, stable.
                let mut order: Vec<(usize, usize)> = evals
                    .iter()
                    .enumerate()
                    .flat_map(|(e, ev)| (0..ev.scores.len().min(max_det)).map(move |d| (e, d)))
                    .collect();
                order.sort_by(|&(e1, d1), &(e2, d2)| evals[e2].scores[d2].total_cmp(&evals[e1].scores[d1]));
                for t in 0..thresholds.len() {
                    let (mut tp, mut fp) = (0.0f64, 0.0f64);
                    let mut rc = Vec::with_capacity(order.len());
                    let mut pr = Vec::with_capacity(order.len());
                    for &(e, d) in &order {
                        let (hit, ignore) = (evals[e].matched[t][d], evals[e].dt_ignore[t][d]);
                        if !ignore {
                            if hit {
                                tp += 1.0;
                            } else {
                                fp += 1.0;
                            }
                        }
                        rc.push(tp / counted as f64);
                        pr.push(tp / (fp + tp + f64::EPSILON));
                    }
                    let ri = acc.r(t, k, a, m);
                    acc.recall[ri] = rc.last().copied().unwrap_or(0.0);
                    for i in (1..pr.len()).rev() {
                        if pr[i] > pr[i - 1] {
                            pr[i - 1] = pr[i];
                        }
                    }
                    for (r, &level) in recalls.iter().enumerate() {
                        // numpy's searchsorted(side='left'); past the end, the rest stay 0.
                        let i = rc.partition_point(|&x| x < level);
                        let pi = acc.p(t, r, k, a, m);
                        acc.precision[pi] = if i < pr.len() { pr[i] } else { 0.0 };
                    }
                }
            }
        }
    }
    acc
}

/// Mean of the entries above -1, or -1 when there are none (`_summarize`).
fn mean_present(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.filter(|&v| v > -1.0).fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        -1.0
    } else {
        sum / n as f64
    }
}

fn summarize(acc: &Accumulated, thresholds: &[f64]) -> [f64; 12] {
    let [nt, nr, nk, _, _] = acc.dims;
    // `iouThr == p.iouThrs`: exact comparison, as pycocotools does.
    let ts = |iou: Option<f64>| (0..nt).filter(move |&t| iou.is_none_or(|v| thresholds[t] == v));
    let ap = |iou: Option<f64>, a: usize| {
        mean_present(
            ts(iou).flat_map(|t| (0..nr).flat_map(move |r| (0..nk).map(move |k| acc.precision[acc.p(t, r, k, a, 2)]))),
        )
    };
    let ar =
        |a: usize, m: usize| mean_present((0..nt).flat_map(|t| (0..nk).map(move |k| acc.recall[acc.r(t, k, a, m)])));
    [
        ap(None, 0),
        ap(Some(0.5), 0),
        ap(Some(0.75), 0),
        ap(None, 1),
        ap(None, 2),
        ap(None, 3),
        ar(0, 0),
        ar(0, 1),
        ar(0, 2),
        ar(1, 2),
        ar(2, 2),
        ar(3, 2),
    ]
}

/// The twelve lines `COCOeval.summarize()` prints.
pub fn summary_lines(stats: &[f64; 12]) -> Vec<String> {
    let rows: [(bool, Option<&str>, usize, usize); 12] = [
        (true, None, 0, 2),
        (true, Some("0.50"), 0, 2),
        (true, Some("0.75"), 0, 2),
        (true, None, 1, 2),
        (true, None, 2, 2),
        (true, None, 3, 2),
        (false, None, 0, 0),
        (false, None, 0, 1),
        (false, None, 0, 2),
        (false, None, 1, 2),
        (false, None, 2, 2),
        (false, None, 3, 2),
    ];
    rows.iter()
        .zip(stats)
        .map(|(&(is_ap, iou, a, m), v)| {
            let (title, kind) = if is_ap { ("Average Precision", "(AP)") } else { ("Average Recall", "(AR)") };
            format!(
                " {title:<18} {kind} @[ IoU={:<9} | area={:>6} | maxDets={:>3} ] = {v:.3}",
                iou.unwrap_or("0.50:0.95"),
                AREAS[a].0,
                MAX_DETS[m]
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::coco::{Category, Image};

    fn ann(id: i64, image_id: i64, bbox: [f64; 4]) -> Annotation {
        Annotation { id, image_id, category_id: 1, bbox, area: None, iscrowd: false }
    }

    fn gt(anns: Vec<Annotation>) -> Instances {
        Instances {
            images: vec![Image { id: 1, file_name: String::new(), width: 640, height: 480 }],
            annotations: anns,
            categories: vec![Category { id: 1, name: "a".into() }],
        }
    }

    fn det(bbox: [f64; 4], score: f64) -> Detection {
        Detection { image_id: 1, category_id: 1, bbox, score }
    }

    #[test]
    fn iou_is_intersection_over_union_and_over_the_detection_on_crowds() {
        let (a, b) = ([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 10.0, 10.0]);
        assert_eq!(iou(&a, &b, false), 50.0 / 150.0);
        assert_eq!(iou(&a, &b, true), 0.5);
        assert_eq!(iou(&a, &[10.0, 0.0, 5.0, 5.0], false), 0.0, "touching boxes do not overlap");
    }

    #[test]
    fn thresholds_are_numpys() {
        let t = linspace(0.5, 0.95, 10);
        assert_eq!(t[5], 0.75);
        assert_eq!(t[8], 0.8999999999999999, "numpy's linspace gives this, not 0.9");
        assert_eq!(linspace(0.0, 1.0, 101)[37], 0.37);
    }

    #[test]
    fn a_perfect_detector_scores_one_and_a_miss_halves_recall() {
        // Two large objects: areas above 96² so the small and medium ranges have none.
        let g = gt(vec![ann(1, 1, [0.0, 0.0, 100.0, 100.0]), ann(2, 1, [200.0, 200.0, 120.0, 100.0])]);
        let s = evaluate(&g, &[det([0.0, 0.0, 100.0, 100.0], 0.9), det([200.0, 200.0, 120.0, 100.0], 0.8)]);
        assert_eq!(s.stats[0], 1.0);
        assert_eq!(s.stats[5], 1.0);
        assert_eq!(s.stats[3], -1.0, "no small objects: nothing to measure");
        assert_eq!(s.stats[6], 0.5, "one detection allowed finds one of two");
        let s = evaluate(&g, &[det([0.0, 0.0, 100.0, 100.0], 0.9)]);
        assert_eq!(s.stats[8], 0.5);
        let s = evaluate(&g, &[]);
        assert_eq!(s.stats[0], 0.0);
    }

    #[test]
    fn detections_on_a_crowd_region_are_neither_hits_nor_false_positives() {
        let mut crowd = ann(2, 1, [200.0, 200.0, 300.0, 200.0]);
        crowd.iscrowd = true;
        let g = gt(vec![ann(1, 1, [0.0, 0.0, 100.0, 100.0]), crowd]);
        let on_crowd: Vec<Detection> = (0..5).map(|i| det([210.0 + i as f64, 210.0, 50.0, 50.0], 0.95)).collect();
        let mut dets = on_crowd.clone();
        dets.push(det([0.0, 0.0, 100.0, 100.0], 0.5));
        // 1 / (1 + ε): pycocotools adds ε to every precision's denominator.
        assert!((evaluate(&g, &dets).stats[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn categories_the_ground_truth_does_not_list_are_counted_and_left_out() {
        let g = gt(vec![ann(1, 1, [0.0, 0.0, 100.0, 100.0])]);
        let mut other = det([0.0, 0.0, 100.0, 100.0], 0.99);
        other.category_id = 7;
        let s = evaluate(&g, &[other, det([0.0, 0.0, 100.0, 100.0], 0.5)]);
        assert_eq!(s.unknown_category, 1);
        assert!((s.stats[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_summary_reads_like_pycocotools() {
        let lines = summary_lines(&[0.5; 12]);
        assert_eq!(lines[0], " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500");
        assert_eq!(lines[9], " Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.500");
    }
}
