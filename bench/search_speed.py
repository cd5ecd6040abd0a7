"""Driver of bench/search_speed.sh (see there)."""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIGS = os.path.join(os.path.dirname(HERE), "target", "debug", "figs")
MALLOC = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"
IMPLS = ["figs", "pytorch", "pytorch-channels-last", "pytorch-channels-last-compile"]
# The two searches search_torch.py writes in PyTorch: figs' default since 2026-12-07 (the
# `latency` roofline on its `cpu` entry at λ 0.7) and its default before (FLOPs at λ 0.5),
# as (figs' flags, search_torch.py's flags).
COSTS = {
    "latency": ([], ["--cost", "latency", "--lambda", "0.7"]),
    "flops": (["--regularizer", "flops", "--lambda", "0.5"], ["--cost", "flops", "--lambda", "0.5"]),
}


def run(impl, tmp, k, a):
    """Wall seconds of the whole command, the search loop's seconds, and its last accuracy."""
    out = os.path.join(tmp, f"{impl}-{k}")
    if impl == "figs":
        cmd = [FIGS, "search", "--no-retrain", "--steps", str(a.steps), "--out", out] + COSTS[a.cost][0]
    else:
        cmd = [sys.executable, os.path.join(HERE, "search_torch.py"), "--supernet",
               os.path.join(tmp, "supernet", "supernet.json"), "--steps", str(a.steps)] + COSTS[a.cost][1]
        if "channels-last" in impl:
            cmd += ["--memory-format", "channels-last"]
        if impl.endswith("compile"):
            cmd.append("--compile")
    # PyTorch gets the glibc malloc settings figs sets for itself (core/src/malloc.rs): the
    # best set-up a CPU user can choose (without them its steps spend seconds in the kernel).
    env = dict(os.environ) if impl == "figs" else dict(os.environ, GLIBC_TUNABLES=MALLOC)
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if impl == "figs":
        m = re.search(r"search: \d+ steps in ([0-9.]+) s", done.stdout)
        acc = re.findall(r"val acc ([0-9.]+)", done.stdout)
        return wall, float(m.group(1)) if m else None, float(acc[-1]) if acc else None
    r = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, r["loop_s"], r["val_acc"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--start", type=int, default=0, help="which set-up goes first in the first round (0: figs)")
    p.add_argument("--cost", default="latency", choices=sorted(COSTS),
                   help="the search's cost: latency (figs' default) or flops (its default until 2026-12-07)")
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="figs-search-speed-")
    # The supernet PyTorch builds: what figs' main job writes (a short untimed run).
    subprocess.run([FIGS, "search", "--no-retrain", "--steps", "25", "--out", os.path.join(tmp, "supernet")],
                   check=True, capture_output=True)
    got = {i: [] for i in IMPLS}
    for r in range(a.rounds):
        # The order rotates so that the host's drift falls on every set-up alike.
        k = (r + a.start) % len(IMPLS)
        order = IMPLS[k:] + IMPLS[:k]
        for impl in order:
            res = run(impl, tmp, r, a)
            got[impl].append(res)
            print(f"  round {r + 1} {impl:<30} wall {res[0]:7.1f} s  search loop {res[1]:7.1f} s  val acc {res[2]}",
                  flush=True)
    med = lambda xs: statistics.median(xs)
    f_wall, f_loop = med([x[0] for x in got["figs"]]), med([x[1] for x in got["figs"]])
    print(f"\n{a.cost} search; medians over {a.rounds} round(s); ratio = PyTorch / figs (above 1: figs is faster)")
    for impl in IMPLS:
        w, l = med([x[0] for x in got[impl]]), med([x[1] for x in got[impl]])
        print(f"{impl:<30} wall {w:7.1f} s  ratio {w / f_wall:.2f}   search loop {l:7.1f} s  ratio {l / f_loop:.2f}")


if __name__ == "__main__":
    main()
