"""Driver of bench/data_speed.sh (see there): makes the folders, alternates figs and
torchvision runs, prints every measurement and the paired ratios."""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "figs", "bench-images")


def folder(images):
    """A cached folder of `images` 500x375 colour JPEGs in 10 classes."""
    d = os.path.join(CACHE, f"{images}-500x375")
    done = os.path.join(d, ".complete")
    if not os.path.exists(done):
        print(f"making {images} JPEGs in {d} (once)", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "pytorch", "make_image_folder.py"), d,
                        "--classes", "10", "--per-class", str(images // 10), "--size", "500x375",
                        "--png-every", "0", "--grey-every", "0"], check=True)
        open(done, "w").close()
    return d


def decode_speed(impl, d, a):
    """Images per second of decoding alone, on one thread (both through libjpeg-turbo)."""
    cmd = ([os.path.join(ROOT, "target", "debug", "figs-data-speed")] if impl == "figs"
           else [sys.executable, os.path.join(HERE, "data_torch.py")])
    cmd += ["--dir", d, "--batches", str(a.batches), "--batch", str(a.batch), "--decode-only"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["images_per_s"]


def run(impl, d, a, workers, memory=False):
    """One run's JSON line; with `memory`, a run under peak_rss.py for the peak resident
    memory instead (its /proc sampling takes CPU, so it is not a timed run)."""
    common = ["--dir", d, "--size", str(a.size), "--workers", str(workers), "--batch", str(a.batch),
              "--batches", str(a.batches)]
    if impl == "figs":
        cmd = [os.path.join(ROOT, "target", "debug", "figs-data-speed")] + common
    else:
        cmd = [sys.executable, os.path.join(HERE, "data_torch.py")] + common
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if memory:
        cmd = [sys.executable, os.path.join(HERE, "peak_rss.py")] + cmd
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout.splitlines()
    r = json.loads(out[0])
    if memory:
        r["peak_rss_mb"] = float(out[-1].split(":")[1])
        print(f"  {impl:<11} workers {workers}: peak RSS {r['peak_rss_mb']:7.1f} MB (untimed run)", flush=True)
    else:
        print(f"  {impl:<11} workers {workers}: {r['images_per_s']:7.1f} images/s", flush=True)
    return r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--large", type=int, default=20000)
    p.add_argument("--workers", default="1 2")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=224)
    a = p.parse_args()
    d = folder(a.images)
    print(f"folder: {a.images} JPEGs of 500x375 px; batches of {a.batch} at {a.size} px, {a.batches} timed per run")
    summary = []
    for w in [int(x) for x in a.workers.split()]:
        ratios, figs, tv = [], [], []
        for i in range(a.pairs):
            order = ["figs", "torchvision"] if i % 2 == 0 else ["torchvision", "figs"]
            r = {impl: run(impl, d, a, w) for impl in order}
            figs.append(r["figs"])
            tv.append(r["torchvision"])
            ratios.append(r["figs"]["images_per_s"] / r["torchvision"]["images_per_s"])
        med = lambda rs, k: statistics.median(x[k] for x in rs)
        mem = {impl: run(impl, d, a, w, memory=True)["peak_rss_mb"] for impl in ["figs", "torchvision"]}
        summary.append((w, med(figs, "images_per_s"), med(tv, "images_per_s"), statistics.median(ratios),
                        min(ratios), max(ratios), mem["figs"], mem["torchvision"]))
    print("\nworkers  figs img/s  torchvision img/s  ratio (median, min-max)  figs MB  torchvision MB")
    for w, f, t, r, lo, hi, fm, tm in summary:
        print(f"{w:>7}  {f:>10.1f}  {t:>17.1f}  {r:>6.2f} ({lo:.2f}-{hi:.2f})       {fm:>7.0f}  {tm:>14.0f}")
    dec = {impl: statistics.median(decode_speed(impl, d, a) for _ in range(3)) for impl in ["figs", "torchvision"]}
    print(f"\ndecoding alone, one thread (median of 3; libjpeg-turbo on both sides): figs {dec['figs']:.0f} images/s, "
          f"torchvision's loader (PIL) {dec['torchvision']:.0f} images/s ({dec['figs'] / dec['torchvision']:.2f}x)")
    if a.large > 0:
        big = folder(a.large)
        w = int(a.workers.split()[0])
        small_r, big_r = run("figs", d, a, w, memory=True), run("figs", big, a, w, memory=True)
        print(f"\nfigs peak RSS at workers {w}: {small_r['peak_rss_mb']:.0f} MB with {a.images} images, "
              f"{big_r['peak_rss_mb']:.0f} MB with {a.large} ({big_r['peak_rss_mb'] / small_r['peak_rss_mb']:.2f}x)")


if __name__ == "__main__":
    main()
