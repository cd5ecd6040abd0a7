#!/usr/bin/env bash
# The four bundled regularizers side by side on the same search: Fashion-MNIST slice,
# MobileNetV2 `small`, same seed, λ and steps; each found network retrained for one epoch
# with the same recipe. Prints, per regularizer, the validation accuracy of the search, the
# found network's MACs and params as % of the seed's, its latency on the generic CPU of the
# bundled hardware table, and its test accuracy after retraining. Results: docs/MATH.md.
#
# Usage: [FIGS_BIN=path] [EXTRA="..."] bench/regularizers.sh [STEPS] [LAMBDA]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps=${1:-400}
lambda=${2:-0.5}
bin=${FIGS_BIN:-target/debug/figs}
[ -n "${FIGS_BIN:-}" ] || cargo build -q --workspace
out=$(mktemp -d)
printf '%-26s %8s %7s %9s %12s %9s\n' regularizer val_acc MACs_% params_% cpu_latency test_acc
for reg in flops model_size "latency -R hardware=cpu" gamma_flops; do
  # shellcheck disable=SC2086
  "$bin" search --train-limit 20000 --steps "$steps" --eval-every "$steps" --epochs 1 \
    --threads 2 --lambda "$lambda" ${EXTRA:-} --force --out "$out/run" --regularizer $reg >/dev/null
  lat=$("$bin" cost "$out/run/arch.json" --regularizer latency -R hardware=cpu --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["regularizer"]["cost"])')
  python3 - "$out/run" "$reg" "$lat" <<'PY'
import json, sys
d, name, lat = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
ev = [r["metrics"] for r in rows if r["kind"] == "eval"][-1]
seed, found = json.load(open(f"{d}/summary.json"))
print(f"{name:<26} {ev['accuracy']:8.4f} {100*found['macs']/seed['macs']:7.1f} "
      f"{100*found['params']/seed['params']:9.1f} {lat*1e6:9.2f} µs {found['test_accuracy']:9.4f}")
PY
  rm -rf "$out/run"
done
