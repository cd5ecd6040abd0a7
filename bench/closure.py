#!/usr/bin/env python3
"""Which gates close for good? Reads the checkpoints of `figs search` runs (made with
`--checkpoint-every 50 --keep-checkpoints 1000`) and, for each logit threshold T, prints
when channels first fall below -T and whether any of them later came back above -T/2 or
above 0 (open, so the export would keep it). This is the evidence behind the compaction
rule in docs/PERFORMANCE.md ("A search that gets cheaper as it prunes").

    python3 bench/closure.py RUN_DIR [RUN_DIR ...]

Plain Python 3 (no packages); reads safetensors by hand.
"""
import json
import struct
import sys
from pathlib import Path

THRESHOLDS = [0.5, 1.0, 2.0, 3.0, 4.0, 6.0]


def read_gates(path):
    """The `gates.<group>` tensors of a safetensors file, as float arrays."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or not name.startswith("gates."):
            continue
        if meta["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {meta['dtype']}, expected F32")
        a, b = meta["data_offsets"]
        out[name] = list(struct.unpack(f"<{(b - a) // 4}f", data[a:b]))
    return out


def trajectory(run):
    """(steps, logits[checkpoint, channel]) of one run, groups in name order."""
    ckpts = sorted((run / "checkpoints").glob("step-*"))
    if len(ckpts) < 2:
        sys.exit(f"{run}: fewer than two checkpoints; run figs search with --checkpoint-every 50 --keep-checkpoints 1000")
    steps, rows = [], []
    for c in ckpts:
        g = read_gates(c / "weights.safetensors")
        steps.append(int(c.name.split("-")[1]))
        rows.append([v for k in sorted(g) for v in g[k]])
    return steps, rows


def report(run):
    steps, a = trajectory(run)
    n = len(a[0])
    last = a[-1]
    print(f"\n{run}: {n} gated channels, checkpoints at steps {steps[0]}..{steps[-1]} (every {steps[1] - steps[0]})")
    print(f"open at the end (a > 0): {sum(v > 0 for v in last)}; lowest logit at the end: {min(last):.1f}")
    shown = range(1, len(steps), 2)
    print("  T | " + " | ".join(f"below -T @ {steps[i]}" for i in shown) + " | back above -T/2 | back above 0")
    for t in THRESHOLDS:
        # First checkpoint at which each channel is below -t (None: never).
        first = [next((i for i in range(len(steps)) if a[i][c] < -t), None) for c in range(n)]
        cols = [f"{sum(f is not None and f <= i for f in first) / n:13.1%}" for i in shown]
        back_half = back_open = 0
        for c, f in enumerate(first):
            if f is None:
                continue
            later = [a[i][c] for i in range(f + 1, len(steps))]
            back_half += any(v > -t / 2 for v in later)
            back_open += any(v > 0 for v in later)
        print(f"{t:4.1f} | " + " | ".join(cols) + f" | {back_half:15d} | {back_open:12d}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for r in sys.argv[1:]:
        report(Path(r))
