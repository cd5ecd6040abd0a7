#!/usr/bin/env bash
# Which gate temperature / regularization source prunes reliably within a short search?
# Runs `figs search` (no retraining) on a Fashion-MNIST slice for each setting, same seed,
# same steps, and prints the validation accuracy (deterministic gates, after BN
# recalibration), the exported network's MACs as % of the supernet's, and the fraction of
# channels alive in the last step's sample. Results are recorded in docs/MATH.md.
#
# Usage: [LAMBDAS="0.1 0.3"] [FIGS_BIN=path] [SWEEP_ARGS="..."] bench/tau_sweep.sh [STEPS] [LAMBDA]
# LAMBDAS adds runs at other λ; SWEEP_ARGS adds figs search flags to every run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps=${1:-300}
lambda=${2:-1}
bin=${FIGS_BIN:-target/debug/figs}
[ -n "${FIGS_BIN:-}" ] || cargo build -q -p figs-repl -p figs-mobilenet-v2 -p figs-flops
out=$(mktemp -d)
printf '%-44s %8s %8s %8s\n' setting val_acc cost_% alive_%
run() {
  local name=$1; shift
  "$bin" search --train-limit 20000 --test-limit 500 --steps "$steps" --eval-every "$steps" \
    --no-retrain --threads 2 --regularizer flops --lambda "$lambda" ${SWEEP_ARGS:-} --force --out "$out/run" "$@" >/dev/null
  python3 - "$out/run" "$name" <<'PY'
import json, sys
d, name = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
ev = [r["metrics"] for r in rows if r["kind"] == "eval"][-1]
st = [r["metrics"] for r in rows if r["kind"] == "step"]
sup = json.load(open(f"{d}/summary.json"))
print(f"{name:<44} {ev['accuracy']:8.4f} {100*sup[1]['macs']/sup[0]['macs']:8.1f} {100*st[-1]['alive_fraction']:8.1f}")
PY
  rm -rf "$out/run"
}
run "soft, tau 1->0.1, r=p (default)"
run "soft, tau 1e-3, r=z (reference)" --tau 0.001 --tau-final 0.001 --reg-source sample
run "soft, tau 1e-3, r=p" --tau 0.001 --tau-final 0.001
run "straight-through, tau 1, r=p" --straight-through --tau 1 --tau-final 1
run "straight-through, tau 1, r=z" --straight-through --tau 1 --tau-final 1 --reg-source sample
for l in ${LAMBDAS:-}; do
  run "default gates, lambda $l" --lambda "$l"
  run "straight-through, tau 1, r=p, lambda $l" --straight-through --tau 1 --tau-final 1 --lambda "$l"
done
