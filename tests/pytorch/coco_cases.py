"""COCO box-evaluation cases and pycocotools' answers for them (tests/tests/coco_eval.rs).

    coco_cases.py OUT_DIR

writes OUT_DIR/<case>/gt.json (instances), dt.json (results) and stats.json (the twelve
numbers of pycocotools' COCOeval, iouType 'bbox', written with repr precision). The cases
are generated with a fixed seed and cover what COCOeval treats specially: many images,
images with no ground truth or no detections, crowd regions, duplicate detections, more
than 100 detections on an image, every size range (with annotation areas unlike the box
areas), integer boxes whose IoU lands exactly on 0.5 and 0.75, tied scores, a category
with no ground truth, detections of a category the ground truth does not list, and an
annotation with id 0 (which COCOeval counts as unmatched once matched).
"""

import contextlib
import io
import json
import os
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

SIDES = {"small": (3, 31), "medium": (33, 95), "large": (97, 300)}


def box(rng, size, integer):
    lo, hi = SIDES[size]
    w, h = rng.uniform(lo, hi, 2)
    x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
    b = [x, y, w, h]
    return [float(round(v)) for v in b] if integer else [float(v) for v in b]


def jitter(rng, b, scale):
    x, y, w, h = b
    dx, dy = rng.normal(0, scale * w), rng.normal(0, scale * h)
    dw, dh = np.exp(rng.normal(0, scale, 2))
    return [float(x + dx), float(y + dy), float(max(w * dw, 0.5)), float(max(h * dh, 0.5))]


def case(rng, images, cats, per_image, crowd_p, dup_p, fp_per_image, integer=False, ties=False, id0=False):
    gt = {
        "images": [{"id": int(i), "file_name": f"{i:06d}.jpg", "width": 640, "height": 480} for i in images],
        "annotations": [],
        "categories": [{"id": int(c), "name": f"c{c}"} for c in cats],
    }
    dets = []
    used = [c for c in cats[:-1]]  # the last category never has ground truth
    aid = 0 if id0 else 1
    for i in images:
        n = rng.integers(per_image[0], per_image[1] + 1)
        for _ in range(n):
            size = rng.choice(list(SIDES))
            c = int(rng.choice(used))
            b = box(rng, size, integer)
            crowd = int(rng.random() < crowd_p)
            # A segmentation area, not the box's: size ranges follow it.
            area = float(b[2] * b[3] * rng.uniform(0.55, 1.0))
            gt["annotations"].append(
                {"id": aid, "image_id": int(i), "category_id": c, "bbox": b, "area": area, "iscrowd": crowd}
            )
            aid += 1
            if rng.random() < 0.8:
                copies = 2 if rng.random() < dup_p else 1
                for k in range(copies):
                    d = b if (integer and rng.random() < 0.3) else jitter(rng, b, 0.08 * (k + 1))
                    if integer:
                        d = [float(round(v)) for v in d]
                        d[2], d[3] = max(d[2], 1.0), max(d[3], 1.0)
                    dets.append({"image_id": int(i), "category_id": c, "bbox": d, "score": score(rng, ties)})
        for _ in range(rng.integers(0, fp_per_image + 1)):
            c = int(rng.choice(cats))
            size = rng.choice(list(SIDES))
            dets.append({"image_id": int(i), "category_id": c, "bbox": box(rng, size, integer), "score": score(rng, ties)})
    return gt, dets


def score(rng, ties):
    s = rng.uniform(0.05, 1.0)
    return float(round(s, 1)) if ties else float(s)


def exact_thresholds():
    """Integer boxes with IoU exactly 0.5 and 0.75 against their ground truth."""
    gt = {
        "images": [{"id": 1}, {"id": 2}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 10000.0, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [200, 0, 40, 40], "area": 1600.0, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 20, 20], "area": 400.0, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "a"}],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 50], "score": 0.9},  # IoU 0.5
        {"image_id": 1, "category_id": 1, "bbox": [200, 0, 40, 30], "score": 0.9},  # IoU 0.75
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 20, 15], "score": 0.6},  # IoU 0.75
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 20, 10], "score": 0.6},  # IoU 0.5
    ]
    return gt, dets


def pycocotools_stats(gt_path, dt_path):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(dt_path)
        e = COCOeval(gt, dt, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return [float(v) for v in e.stats]


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(20261206)
    cases = {
        "many": case(rng, range(1, 81), [1, 2, 3, 5, 9], (0, 8), 0.05, 0.3, 3),
        "sparse_ids_and_empty_images": case(rng, [3, 17, 18, 40, 1000, 77777], [4, 2, 11], (0, 2), 0.0, 0.5, 2),
        "crowds": case(rng, range(1, 21), [1, 2, 3], (2, 6), 0.35, 0.5, 4),
        "over_100_per_image": case(rng, [1, 2, 3], [1, 2], (30, 40), 0.1, 0.9, 90),
        "integer_ties_and_id0": case(rng, range(1, 31), [1, 2, 3, 4], (1, 5), 0.1, 0.4, 3, integer=True, ties=True, id0=True),
        "exact_thresholds": exact_thresholds(),
    }
    # Detections of a category the ground truth does not list: COCOeval leaves them out.
    cases["many"][1].append({"image_id": 1, "category_id": 42, "bbox": [1.0, 2.0, 30.0, 40.0], "score": 0.99})
    for name, (gt, dets) in cases.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        gt_path, dt_path = os.path.join(d, "gt.json"), os.path.join(d, "dt.json")
        with open(gt_path, "w") as f:
            json.dump(gt, f)
        with open(dt_path, "w") as f:
            json.dump(dets, f)
        with open(os.path.join(d, "stats.json"), "w") as f:
            json.dump(pycocotools_stats(gt_path, dt_path), f)
        print(name)


if __name__ == "__main__":
    main()
