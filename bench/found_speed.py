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
        if impl == "onnxruntime":
            cmd.append("--onnx")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    return json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)


def paired(seed, found, a):
    """figs' two networks in one process, round by round (figs-found-speed --paired-with):
    ratios a host whose speed drifts by the minute cannot bias as it biases the separate
    processes above."""
    cmd = [FIGS, "--arch", found, "--paired-with", seed, "--steps", str(a.steps), "--threads", str(a.threads),
           "--batch", str(a.batch)]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


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
    impls = ["figs", "torch", "torch-cl", "onnxruntime"]
    got = {(n, i): [] for n in nets for i in impls}
    macs, acts = {}, {}
    for r in range(a.pairs):
        for name in (["seed", "found"] if r % 2 == 0 else ["found", "seed"]):
            for impl in (impls if r % 2 == 0 else impls[::-1]):
                res = run(impl, *nets[name], a)
                got[(name, impl)].append(res)
                if impl == "figs":
                    macs[name] = res["macs"]
                    acts[name] = res["activations"]
                print(f"  {name:<5} {impl:<11} " + "  ".join(f"{k[:-3]} {show(res[k]):>8} ms" for k in KINDS), flush=True)
    print(f"\nfound / seed (medians of {a.pairs} alternating rounds, {a.threads} thread(s), batch {a.batch});"
          f" MACs ratio {macs['found'] / macs['seed']:.3f}, activations ratio {acts['found'] / acts['seed']:.3f}"
          " (values out of batch norms per image; bench/found_where.py --figs splits the time by kind)")
    pair = paired(seed, found, a)
    print("impl         train step  infer b64  infer b1")
    for impl in impls:
        med = {k: [median(got[(n, impl)], k) for n in ("found", "seed")] for k in KINDS}
        print(f"{impl:<11}  " + "  ".join(f"{ratio(*med[k]):>9}" for k in KINDS))
    print(f"{'figs paired':<11}  " + "  ".join(f"{pair[k[:-3] + '_ratio']:>9.3f}" for k in KINDS)
          + f"   <- figs' ratios to go by: {pair['rounds']} rounds in one process, medians of the rounds' ratios")
    print("\nmedian ms (seed -> found)")
    for impl in impls:
        cells = []
        for k in KINDS:
            s, f = (median(got[(n, impl)], k) for n in ("seed", "found"))
            cells.append(f"{k[:-3]} {show(s)} -> {show(f)}")
        print(f"{impl:<11}  " + "  ".join(cells))
    print(f"{'figs paired':<11}  " + "  ".join(
        f"{k[:-3]} {pair[k[:-3] + '_seed_ms']:.2f} -> {pair[k[:-3] + '_found_ms']:.2f}" for k in KINDS))


def median(results, k):
    """None where the implementation does not do that kind (onnxruntime does not train)."""
    values = [x[k] for x in results if x[k] is not None]
    return statistics.median(values) if values else None


def show(v):
    return "-" if v is None else f"{v:.2f}"


def ratio(found, seed):
    return "-" if found is None or seed is None else f"{found / seed:.3f}"


if __name__ == "__main__":
    main()
