"""torchvision's SSD conventions on generated inputs, for tests/tests/ssd.rs.

    ssd_reference.py OUT.json

Writes the inputs and torchvision 0.26's answers: the default boxes of
`DefaultBoxGenerator([[2, 3]] * 6, min_ratio=0.2, max_ratio=0.95)` (SSDLite's) at 320 px
(torchvision's ssdlite320 grids) and at 160 px; for a batch at 160 px, the matches of
`SSDMatcher(0.5)`, the loss of `SSD.compute_loss` (smooth-L1 on BoxCoder(10, 10, 5, 5)
offsets, cross-entropy with 3:1 hard negative mining) and the detections of
`SSD.postprocess_detections` with ssdlite320's settings (score > 0.001, 300 candidates per
class, class-wise NMS at 0.55, 300 per image).
"""

import json
import sys

import torch
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.ssd import SSD
from torchvision.ops import boxes as box_ops


def generator():
    return DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)


def default_boxes(size, grids):
    images = ImageList(torch.zeros(1, 3, size, size), [(size, size)])
    maps = [torch.zeros(1, 1, g, g) for g in grids]
    return generator()(images, maps)[0]


def random_boxes(g, n, size):
    xy = torch.rand(n, 2, generator=g) * size * 0.8
    wh = torch.rand(n, 2, generator=g) * size * 0.5 + 4
    return torch.cat([xy, (xy + wh).clamp(max=size)], 1)


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(20261206)
    size, grids, classes = 160, [10, 5, 3, 2, 1, 1], 11
    anchors = default_boxes(size, grids)
    model = SSD(nn.Identity(), generator(), (size, size), classes, head=nn.Identity(), score_thresh=0.001,
                nms_thresh=0.55, detections_per_img=300, topk_candidates=300,
                image_mean=[0.5] * 3, image_std=[0.5] * 3)
    targets = []
    for n in [5, 0, 12]:
        boxes = random_boxes(g, n, size)
        labels = torch.randint(1, classes, (n,), generator=g)
        targets.append({"boxes": boxes, "labels": labels})
    matched = []
    for t in targets:
        if t["boxes"].numel() == 0:
            matched.append(torch.full((anchors.size(0),), -1, dtype=torch.int64))
            continue
        matched.append(model.proposal_matcher(box_ops.box_iou(t["boxes"], anchors)))
    a = anchors.size(0)
    head = {
        "cls_logits": torch.randn(3, a, classes, generator=g) * 2,
        "bbox_regression": torch.randn(3, a, 4, generator=g),
    }
    loss = model.compute_loss(targets, head, [anchors] * 3, matched)
    dets = model.postprocess_detections(head, [anchors] * 3, [(size, size)] * 3)
    out = {
        "default_boxes_320": default_boxes(320, [20, 10, 5, 3, 2, 1]).tolist(),
        "size": size,
        "grids": grids,
        "classes": classes,
        "default_boxes": anchors.tolist(),
        "targets": [{"boxes": t["boxes"].tolist(), "labels": t["labels"].tolist()} for t in targets],
        "matched": [m.tolist() for m in matched],
        "cls_logits": head["cls_logits"].tolist(),
        "bbox_regression": head["bbox_regression"].tolist(),
        "loss_box": float(loss["bbox_regression"]),
        "loss_cls": float(loss["classification"]),
        "encoded": det_utils.BoxCoder((10.0, 10.0, 5.0, 5.0))
        .encode_single(targets[0]["boxes"][matched[0][matched[0] >= 0]], anchors[matched[0] >= 0])
        .tolist(),
        "detections": [{k: v.tolist() for k, v in d.items()} for d in dets],
    }
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
