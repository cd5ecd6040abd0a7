//! The detection helper of a detector's `model.py`: SSDLite's default boxes for the
//! network's feature maps, box decoding and class-wise NMS in plain PyTorch, so that an
//! exported detector gives boxes without figs or torchvision. The same arithmetic as
//! `crate::detect::{boxes, ssd}` (tested against each other in tests/tests/export.rs).

use crate::detect::ssd::DetectOptions;
use crate::graph::{detection_maps, Analysis, Graph};

const HELPER: &str = r#"

# SSDLite's default boxes on the feature maps the heads read, (rows, columns) each.
MAPS = __MAPS__
INPUT_SIZE = __SIZE__  # (height, width) in pixels


def default_boxes(maps=MAPS, size=INPUT_SIZE, aspect_ratios=(2.0, 3.0), min_ratio=0.2, max_ratio=0.95):
    """torchvision's DefaultBoxGenerator([[2, 3]] * len(maps), 0.2, 0.95): [A, 4] boxes
    (x1, y1, x2, y2) in pixels, map by map, cell by cell (row major), box by box."""
    n = len(maps)
    if n > 1:
        scales = [min_ratio + (max_ratio - min_ratio) * k / (n - 1) for k in range(n)] + [1.0]
    else:
        scales = [min_ratio, max_ratio]
    height, width = size
    out = []
    for k, (rows, cols) in enumerate(maps):
        s, s_prime = scales[k], math.sqrt(scales[k] * scales[k + 1])
        pairs = [[s, s], [s_prime, s_prime]]
        for ar in aspect_ratios:
            pairs += [[s * math.sqrt(ar), s / math.sqrt(ar)], [s / math.sqrt(ar), s * math.sqrt(ar)]]
        wh = torch.tensor(pairs, dtype=torch.float64).to(torch.float32).clamp(0.0, 1.0)
        cy = (torch.arange(rows, dtype=torch.float32) + 0.5) / rows
        cx = (torch.arange(cols, dtype=torch.float32) + 0.5) / cols
        cy, cx = torch.meshgrid(cy, cx, indexing="ij")
        centres = torch.stack([cx.reshape(-1), cy.reshape(-1)], 1)[:, None, :]
        half = 0.5 * wh[None, :, :]
        scale = torch.tensor([width, height], dtype=torch.float32)
        boxes = torch.cat([(centres - half) * scale, (centres + half) * scale], 2)
        out.append(boxes.reshape(-1, 4))
    return torch.cat(out, 0)


def decode(offsets, anchors, weights=(10.0, 10.0, 5.0, 5.0)):
    """BoxCoder(weights).decode_single: offsets [A, 4] from anchors [A, 4] to boxes."""
    w = anchors[:, 2] - anchors[:, 0]
    h = anchors[:, 3] - anchors[:, 1]
    cx = anchors[:, 0] + 0.5 * w
    cy = anchors[:, 1] + 0.5 * h
    clip = math.log(1000.0 / 16)
    dx, dy = offsets[:, 0] / weights[0], offsets[:, 1] / weights[1]
    dw = (offsets[:, 2] / weights[2]).clamp(max=clip)
    dh = (offsets[:, 3] / weights[3]).clamp(max=clip)
    px, py = dx * w + cx, dy * h + cy
    hw, hh = torch.exp(dw) * w * 0.5, torch.exp(dh) * h * 0.5
    return torch.stack([px - hw, py - hh, px + hw, py + hh], 1)


def _iou(box, boxes):
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    lt = torch.maximum(box[:2], boxes[:, :2])
    rb = torch.minimum(box[2:], boxes[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    return inter / (area(box) + area(boxes) - inter)


def postprocess(logits, offsets, anchors=None, size=INPUT_SIZE, score_thresh=__SCORE__, candidates=__CANDIDATES__,
                nms_thresh=__NMS__, per_image=__PER_IMAGE__):
    """Detections of one image from its logits [A, C] and offsets [A, 4]: softmax scores,
    boxes decoded and clipped, per class the best `candidates` above `score_thresh`,
    class-wise greedy NMS, the best `per_image` (torchvision's SSD.postprocess_detections).
    Returns (boxes [D, 4] in input pixels, scores [D], labels [D]), best first."""
    if anchors is None:
        anchors = default_boxes(size=size)
    height, width = size
    boxes = decode(offsets, anchors)
    boxes = torch.stack([boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height),
                         boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)], 1)
    scores = torch.softmax(logits, -1)
    cand_boxes, cand_scores, cand_labels = [], [], []
    for label in range(1, scores.shape[1]):
        s = scores[:, label]
        keep = torch.nonzero(s > score_thresh).squeeze(1)
        top, idx = s[keep].topk(min(candidates, keep.numel()))
        cand_boxes.append(boxes[keep[idx]])
        cand_scores.append(top)
        cand_labels.append(torch.full_like(idx, label))
    b, s, l = torch.cat(cand_boxes), torch.cat(cand_scores), torch.cat(cand_labels)
    order = torch.sort(s, descending=True, stable=True).indices
    dropped = torch.zeros(len(order), dtype=torch.bool)
    kept = []
    for n, i in enumerate(order.tolist()):
        if dropped[i]:
            continue
        kept.append(i)
        rest = order[n + 1:]
        same = rest[(l[rest] == l[i]) & ~dropped[rest]]
        if len(same):
            dropped[same[_iou(b[i], b[same]) > nms_thresh]] = True
    kept = torch.tensor(kept[:per_image], dtype=torch.long)
    return b[kept], s[kept], l[kept]


def detect(net, x):
    """Detections of every image of the batch x: a list of (boxes, scores, labels)."""
    with torch.no_grad():
        logits, offsets = net(x)
    anchors = default_boxes(size=(x.shape[2], x.shape[3]))
    return [postprocess(lg, of, anchors, size=(x.shape[2], x.shape[3])) for lg, of in zip(logits, offsets)]
"#;

/// The helper for detection graph `g`, with its feature maps and figs' detection settings.
pub(super) fn helper(g: &Graph, a: &Analysis) -> String {
    let maps: Vec<String> = detection_maps(g, a).iter().map(|(h, w, _)| format!("({h}, {w})")).collect();
    let o = DetectOptions::default();
    HELPER
        .replace("__MAPS__", &format!("[{}]", maps.join(", ")))
        .replace("__SIZE__", &format!("({}, {})", g.input.height, g.input.width))
        .replace("__SCORE__", &o.score_threshold.to_string())
        .replace("__CANDIDATES__", &o.candidates.to_string())
        .replace("__NMS__", &o.nms_iou.to_string())
        .replace("__PER_IMAGE__", &o.per_image.to_string())
}
