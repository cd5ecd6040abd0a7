"""Runs a figs PyTorch export (model.py + arch.safetensors) on a batch and compares it with
the outputs figs computed for the same batch; counts its parameters and MACs with PyTorch.

Usage: python check_export.py DIR, where DIR holds model.py, arch.safetensors and
batch.safetensors (tensors `x` and `output0`, `output1`, … — the network's outputs in
order, written by tests/tests/export.rs). A network with one output returns a tensor, one
with several a tuple. The module compiled by torch.jit.script must give them too. Prints
one JSON object: outputs (how many the module returned), max_abs_diff, max_rel_diff (each
output relative to its largest |value|, the worst of them, eager and scripted),
script_max_rel_diff (the scripted module's alone), params, macs; and when DIR holds
model.onnx (written by `figs export --onnx`), onnx_max_rel_diff: onnxruntime's outputs on the
same batch against figs'. For a detector (batch.safetensors holds figs' `anchors` and
`detections`): anchors_max_diff, detect_same_labels, detect_max_score_diff and
detect_max_box_diff of model.py's default_boxes() and postprocess() on figs' outputs.
MACs come from torch.utils.flop_counter.FlopCounterMode on one example (FLOPs / 2 of the
conv and matmul kernels PyTorch actually runs), independent of figs' own counter.
"""
import importlib.util
import json
import os
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode


def check_detections(model, batch):
    """model.py's default boxes and postprocess on figs' own outputs against figs'
    anchors and detections (rows of image, label, score, x1, y1, x2, y2)."""
    anchors = model.default_boxes()
    report = {"anchors_max_diff": (anchors - batch["anchors"]).abs().max().item()}
    want = batch["detections"]
    same, score_diff, box_diff = True, 0.0, 0.0
    for i in range(batch["output0"].shape[0]):
        boxes, scores, labels = model.postprocess(batch["output0"][i], batch["output1"][i])
        w = want[want[:, 0] == i]
        if len(w) != len(labels) or not torch.equal(w[:, 1].long(), labels):
            same = False
            continue
        if len(w):
            score_diff = max(score_diff, (w[:, 2] - scores).abs().max().item())
            box_diff = max(box_diff, (w[:, 3:] - boxes).abs().max().item())
    return report | {"detect_same_labels": same, "detect_max_score_diff": score_diff, "detect_max_box_diff": box_diff}


def main(d):
    spec = importlib.util.spec_from_file_location("figs_export_model", f"{d}/model.py")
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    net = model.load().eval()
    batch = model.read_safetensors(f"{d}/batch.safetensors")
    scripted = torch.jit.script(net)
    with torch.no_grad():
        out = net(batch["x"])
        outs = list(out) if isinstance(out, tuple) else [out]
        wants = [batch[f"output{i}"] for i in range(len(outs))]
        by_script = scripted(batch["x"])
        by_script = list(by_script) if isinstance(by_script, tuple) else [by_script]
        assert len(by_script) == len(outs), f"{len(by_script)} outputs scripted, {len(outs)} eager"

        def rel(got):
            return [(o - w).abs().max().item() / max(w.abs().max().item(), 1e-12) for o, w in zip(got, wants)]

        diffs = [(o - w).abs().max().item() for o, w in zip(outs + by_script, wants + wants)]
        with FlopCounterMode(display=False) as fc:
            net(batch["x"][:1])
    report = {}
    if "detections" in batch:
        report |= check_detections(model, batch)
    if os.path.exists(f"{d}/model.onnx"):
        import onnxruntime

        session = onnxruntime.InferenceSession(f"{d}/model.onnx", providers=["CPUExecutionProvider"])
        by_ort = [torch.from_numpy(o) for o in session.run(None, {"input": batch["x"].numpy()})]
        assert len(by_ort) == len(outs), f"{len(by_ort)} outputs in onnxruntime, {len(outs)} eager"
        report["onnx_max_rel_diff"] = max(rel(by_ort))
    print(json.dumps(report | {
        "outputs": len(outs),
        "max_abs_diff": max(diffs),
        "max_rel_diff": max(rel(outs) + rel(by_script)),
        "script_max_rel_diff": max(rel(by_script)),
        "params": sum(p.numel() for p in net.parameters()),
        "macs": fc.get_total_flops() // 2,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
