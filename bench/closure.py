#!/usr/bin/env python3
"""Which gates close for good? Reads the checkpoints of `figs search` runs (made with
`--checkpoint-every 50 --keep-checkpoints 1000`) and, for each logit threshold T, prints
when channels first fall below -T and whether any of them later came back above -T/2 or
above 0 (open, so the export would keep it). This is the evidence behind the compaction
rule in docs/PERFORMANCE.md ("A search that gets cheaper as it prunes").

    python3 bench/closure.py RUN_DIR [RUN_DIR ...]

Needs only numpy (the torch venv has it); reads safetensors by hand.
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np

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
        out[name] = np.frombuffer(data[a:b], dtype=np.float32)
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
        rows.append(np.concatenate([g[k] for k in sorted(g)]))
    return np.array(steps), np.stack(rows)


def report(run):
    steps, a = trajectory(run)
    n = a.shape[1]
    print(f"\n{run}: {n} gated channels, checkpoints at steps {steps[0]}..{steps[-1]} (every {steps[1] - steps[0]})")
    print(f"open at the end (a > 0): {(a[-1] > 0).sum()}; lowest logit at the end: {a[-1].min():.1f}")
    header = "  T | " + " | ".join(f"below -T @ {s}" for s in steps[1::2]) + " | back above -T/2 | back above 0"
    print(header)
    for t in THRESHOLDS:
        below = a < -t
        first = np.where(below.any(0), below.argmax(0), -1)
        cols = [f"{(first[(first >= 0)] <= i).sum() / n:13.1%}" for i in range(1, len(steps), 2)]
        back_half = back_open = 0
        for c in np.nonzero(first >= 0)[0]:
            later = a[first[c] + 1 :, c]
            back_half += bool((later > -t / 2).any())
            back_open += bool((later > 0).any())
        print(f"{t:4.1f} | " + " | ".join(cols) + f" | {back_half:15d} | {back_open:12d}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for r in sys.argv[1:]:
        report(Path(r))
