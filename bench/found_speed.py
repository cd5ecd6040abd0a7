"""Driver of bench/found_speed.sh (see there)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIGS = os.path.join(ROOT, "target", "debug", "figs-found-speed")
KINDS = ["train_ms", "infer_ms", "infer1_ms"]


def run(impl, arch, module, graph, a):
    common = ["--steps", str(a.steps), "--threads", str(a.threads), "--batch", str(a.batch)]
    if impl == "figs":
        cmd = [FIGS, "--arch", arch] + common
    else:
        i = graph["input"]
        cmd = [sys.executable, os.path.join(HERE, "found_torch.py"), "--module", module,
               "--input", f"{i['channels']},{i['height']},{i['width']}", "--classes", str(graph["classes"])] + common
        if impl == "torch-cl":
            cmd.append("--channels-last")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    return json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--run", help="a figs search run directory: its supernet.json (seed) and arch.json (found)")
    p.add_argument("--seed-arch")
    p.add_argument("--found-arch")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    seed = a.seed_arch or (a.run and os.path.join(a.run, "supernet.json"))
    found = a.found_arch or (a.run and os.path.join(a.run, "arch.json"))
    if not (seed and found):
        sys.exit("found_speed: give --run RUN_DIR, or --seed-arch and --found-arch")
    tmp = tempfile.mkdtemp(prefix="figs-found-speed-")
    nets = {}
    for name, arch in [("seed", seed), ("found", found)]:
        module = os.path.join(tmp, name)
        subprocess.run([FIGS, "--arch", arch, "--write-module", module], check=True)
        with open(arch) as f:
            nets[name] = (arch, module, json.load(f))
    impls = ["figs", "torch", "torch-cl"]
    got = {(n, i): [] for n in nets for i in impls}
    macs = {}
    for r in range(a.pairs):
        for name in (["seed", "found"] if r % 2 == 0 else ["found", "seed"]):
            for impl in (impls if r % 2 == 0 else impls[::-1]):
                res = run(impl, *nets[name], a)
                got[(name, impl)].append(res)
                if impl == "figs":
                    macs[name] = res["macs"]
                print(f"  {name:<5} {impl:<8} " + "  ".join(f"{k[:-3]} {res[k]:8.2f} ms" for k in KINDS), flush=True)
    print(f"\nfound / seed (medians of {a.pairs} alternating rounds, {a.threads} thread(s), batch {a.batch});"
          f" MACs ratio {macs['found'] / macs['seed']:.3f}")
    print("impl      train step  infer b64  infer b1")
    for impl in impls:
        med = {k: [statistics.median(x[k] for x in got[(n, impl)]) for n in ("found", "seed")] for k in KINDS}
        print(f"{impl:<8}  " + "  ".join(f"{med[k][0] / med[k][1]:>9.3f}" for k in KINDS))
    print("\nmedian ms (seed -> found)")
    for impl in impls:
        cells = []
        for k in KINDS:
            s, f = (statistics.median(x[k] for x in got[(n, impl)]) for n in ("seed", "found"))
            cells.append(f"{k[:-3]} {s:.2f} -> {f:.2f}")
        print(f"{impl:<8}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
