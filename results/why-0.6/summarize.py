"""Per-seed FiGS − width differences (and the seed network) of results/why-0.6/*/results.jsonl,
as the Markdown lines docs/RESULTS.md quotes. Plain Python; run from the repository root."""
import json
import statistics as st
import sys

def load(path):
    try:
        return [json.loads(line) for line in open(path)]
    except FileNotFoundError:
        return []

def ms(xs):
    return f"{st.mean(xs):.2f} ± {st.stdev(xs):.2f}" if len(xs) > 1 else f"{xs[0]:.2f}" if xs else "–"

# Directories with FiGS points only take the width and seed networks of another: they
# differ from it in the search alone, and those two have no search.
BASELINE = {"epochs8-steps1600": "epochs8"}

for name in sys.argv[1:] or ["epochs3", "epochs8", "epochs8-steps1600"]:
    rows = load(f"results/why-0.6/{name}/results.jsonl")
    if name in BASELINE:
        rows += [r for r in load(f"results/why-0.6/{BASELINE[name]}/results.jsonl") if r["method"] != "figs"]
    acc = {(r["method"], r["seed"]): 100 * r["test_accuracy"] for r in rows}
    seeds = sorted({s for (_, s) in acc})
    pairs = [s for s in seeds if ("figs", s) in acc and ("width", s) in acc]
    diffs = [acc["figs", s] - acc["width", s] for s in pairs]
    col = lambda m: [acc[m, s] for s in seeds if (m, s) in acc]
    print(f"| {name} | {len(pairs)} ({', '.join(map(str, pairs))}) | {ms(col('figs'))} | {ms(col('width'))} | "
          f"{' / '.join(f'{d:+.2f}' for d in diffs)} | {ms(diffs)} | {ms(col('seed'))} |")
