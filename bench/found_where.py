"""Where the time of a found network goes, against its seed: PyTorch's profiler over a
training step (batch 64, Adam) of each network's model.py (random weights, one thread, the
layout given), self CPU time summed by kind of work — pointwise (1×1) convolutions, depthwise
convolutions, other convolutions, batch norm, elementwise (activations, adds, gate-free
copies), the optimizer, and the rest — each kind's found/seed ratio next to the MACs ratio.
Pointwise convolutions cost in proportion to MACs; depthwise convolutions, batch norm and
elementwise work cost in proportion to activations (width, not width²), and per-op fixed
overheads do not shrink at all: that mix sets how close the step's ratio can get to the
MACs ratio.

With --figs it splits figs' own step instead (`figs-found-speed --by-op`: libtorch's
operators timed in figs' process, convolutions named by kind, figs' batch-norm kernel as
`figs::batch_norm_cl` and its autograd node), and inference at batch 64 beside it.

Usage: python bench/found_where.py --run RUN_DIR [--steps 10] [--channels-last | --figs]
(bench/found_speed.sh's set-up: target/debug/figs-found-speed writes the modules and times
figs' operators). Never run it beside another heavy process.
"""
import argparse
import collections
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIGS = os.path.join(os.path.dirname(HERE), "target", "debug", "figs-found-speed")
KINDS = ["pointwise conv", "depthwise conv", "other conv", "batch norm", "elementwise", "optimizer", "rest"]


def kind(name, shapes):
    n = name.lower()
    if "conv" in n:
        # The weight among the op's inputs (forward: second, backward: third): the 4-d
        # shape with a square kernel of 1, 3 or 5 (activations here are 7×7 and larger).
        w = next((s for s in shapes if len(s) == 4 and s[2] == s[3] and s[2] in (1, 3, 5)), None)
        if w is None:
            return "other conv"
        if w[2] == 1:
            return "pointwise conv"
        return "depthwise conv" if w[1] == 1 else "other conv"
    if "batch_norm" in n or "native_batch_norm" in n:
        return "batch norm"
    if any(k in n for k in ("adam", "_foreach", "lerp", "addcdiv", "sqrt")):
        return "optimizer"
    if any(k in n for k in ("relu", "hardtanh", "clamp", "add", "mul", "threshold", "sigmoid", "hardswish")):
        return "elementwise"
    return "rest"


def figs_kind(name):
    """figs' operator names (core/src/op_times.rs): convolutions carry their kind."""
    if "(1x1)" in name:
        return "pointwise conv"
    if "(depthwise)" in name:
        return "depthwise conv"
    if "(kxk)" in name or "conv" in name.lower():
        return "other conv"
    if "BatchNormCl" in name or "batch_norm" in name:
        return "batch norm"
    return kind(name, [])


def figs_profile(arch, a):
    out = subprocess.run([FIGS, "--arch", arch, "--by-op", "--steps", str(a.steps)], check=True,
                         capture_output=True, text=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    per = {}
    for part in ("ops_train", "ops_infer"):
        totals = collections.Counter()
        for name, (ms, _calls) in got[part].items():
            totals[figs_kind(name)] += ms
        per[part] = {k: totals[k] for k in KINDS}
    return per, got["macs"]


def table(title, got, macs):
    total = {n: sum(got[n].values()) for n in got}
    print(f"{title}; MACs found/seed {macs['found'] / macs['seed']:.3f}")
    print(f"{'kind':<16} {'seed ms':>8} {'found ms':>9} {'found/seed':>10} {'share of seed':>13}")
    for k in KINDS + ["total"]:
        s, f = (total[n] if k == "total" else got[n][k] for n in ("seed", "found"))
        r = f"{f / s:.3f}" if s > 0 else "-"
        print(f"{k:<16} {s:8.2f} {f:9.2f} {r:>10} {s / total['seed']:13.1%}")


def profile(module_dir, shape, classes, a):
    spec = importlib.util.spec_from_file_location(f"m_{os.path.basename(module_dir)}", f"{module_dir}/model.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    torch.manual_seed(0)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    net = m.FoundNet().to(memory_format=fmt).train()
    x = torch.randn(64, *shape).to(memory_format=fmt)
    y = torch.randint(classes, (64,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        out = net(x)
        torch.nn.functional.cross_entropy(out[0] if isinstance(out, tuple) else out, y).backward()
        opt.step()

    for _ in range(3):
        step()
    totals = collections.Counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(a.steps):
            step()
    for e in prof.key_averages(group_by_input_shape=True):
        totals[kind(e.key, e.input_shapes or [])] += e.self_cpu_time_total
    return {k: totals[k] / 1e3 / a.steps for k in KINDS}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--figs", action="store_true", help="figs' own operators, not PyTorch's module")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.figs:
        got, macs = {}, {}
        for name, file in [("seed", "supernet.json"), ("found", "arch.json")]:
            got[name], macs[name] = figs_profile(os.path.join(a.run, file), a)
        for part, what in (("ops_train", "training step"), ("ops_infer", "inference")):
            table(f"figs, {what}, batch 64, 1 thread, {a.steps} timed calls",
                  {n: got[n][part] for n in got}, macs)
            print()
        return 0
    tmp = tempfile.mkdtemp(prefix="figs-found-where-")
    got, macs = {}, {}
    for name, file in [("seed", "supernet.json"), ("found", "arch.json")]:
        arch = os.path.join(a.run, file)
        with open(arch) as f:
            g = json.load(f)
        d = os.path.join(tmp, name)
        subprocess.run([FIGS, "--arch", arch, "--write-module", d], check=True)
        macs[name] = json.loads(subprocess.run([FIGS, "--arch", arch, "--steps", "1", "--warmup", "0"], check=True,
                                               capture_output=True, text=True).stdout)["macs"]
        i = g["input"]
        got[name] = profile(d, (i["channels"], i["height"], i["width"]), g["classes"], a)
    table(f"training step, batch 64, 1 thread, {'channels-last' if a.channels_last else 'NCHW'}, "
          f"{a.steps} profiled steps", got, macs)


if __name__ == "__main__":
    sys.exit(main())
