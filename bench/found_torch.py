"""PyTorch's half of bench/found_speed.sh: times a training step (forward, cross-entropy,
backward, Adam), inference at batch 64 and at batch 1 of a figs-exported module (model.py,
random weights) in NCHW or channels-last; with --onnx, inference only, in onnxruntime (the
module exported as figs' `export --onnx` does); prints one JSON line of milliseconds per
call.

Usage: python found_torch.py --module DIR --input C,H,W --classes K [--channels-last | --onnx]
       [--steps 20] [--warmup 3] [--threads 1] [--batch 64]
"""
import argparse
import importlib.util
import json
import time

import torch


def time_ms(warmup, steps, f):
    for _ in range(warmup):
        f()
    start = time.perf_counter()
    for _ in range(steps):
        f()
    return (time.perf_counter() - start) * 1e3 / steps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--module", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--onnx", action="store_true")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    spec = importlib.util.spec_from_file_location("found_model", f"{a.module}/model.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    net = m.FoundNet()
    c, h, w = (int(v) for v in a.input.split(","))
    if a.onnx:
        return onnx_runtime(net.eval(), (c, h, w), a)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    x = torch.randn(a.batch, c, h, w).to(memory_format=fmt)
    x1 = torch.randn(1, c, h, w).to(memory_format=fmt)
    y = torch.randint(a.classes, (a.batch,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train():
        opt.zero_grad(set_to_none=True)
        out = net(x)
        loss_fn(out[0] if isinstance(out, tuple) else out, y).backward()
        opt.step()

    net.train()
    t = time_ms(a.warmup, a.steps, train)
    net.eval()
    with torch.no_grad():
        i64 = time_ms(a.warmup, a.steps, lambda: net(x))
        i1 = time_ms(a.warmup, a.steps * 4, lambda: net(x1))
    impl = "torch-cl" if a.channels_last else "torch"
    print(json.dumps({"impl": impl, "train_ms": t, "infer_ms": i64, "infer1_ms": i1}))


def onnx_runtime(net, shape, a):
    import os
    import tempfile
    import warnings

    import onnxruntime as ort

    path = os.path.join(tempfile.mkdtemp(prefix="figs-found-onnx-"), "model.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(2, *shape),), path, input_names=["input"], opset_version=17,
                          dynamo=False, dynamic_axes={"input": {0: "batch"}})
    o = ort.SessionOptions()
    o.intra_op_num_threads = o.inter_op_num_threads = a.threads
    session = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    x = torch.randn(a.batch, *shape).numpy()
    x1 = torch.randn(1, *shape).numpy()
    i64 = time_ms(a.warmup, a.steps, lambda: session.run(None, {"input": x}))
    i1 = time_ms(a.warmup, a.steps * 4, lambda: session.run(None, {"input": x1}))
    print(json.dumps({"impl": "onnxruntime", "train_ms": None, "infer_ms": i64, "infer1_ms": i1}))


if __name__ == "__main__":
    main()
