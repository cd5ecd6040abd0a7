#!/usr/bin/env bash
# width-multiple 8 against 1 (issue 28): FiGS with gates in blocks of 8 channels, at the
# Pareto table's budgets and seeds with its recipe (results/pareto-fmnist-e8: 800 search
# steps, 8 retraining epochs), so each point compares with that table's FiGS (gates per
# channel) and width points at the same MACs. Only FiGS points run here; the comparison is
# docs/RESULTS.md's "Widths in blocks of 8".
#
#   results/pareto-fmnist-e8-k8/run.sh [--reverse]
#
# Resumable, one libtorch thread per process; start it twice (the second with --reverse)
# for two workers. FIGS=path/to/figs picks the binary (default target/debug/figs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
figs=${FIGS:-target/debug/figs}
points=()
for s in 1 2 3; do
  for b in 0.4 0.5 0.6; do points+=("figs:$b:$s"); done
done
args=()
for i in "${!points[@]}"; do
  if [ "${1:-}" = --reverse ]; then args=(--only "${points[$i]}" "${args[@]}"); else args+=(--only "${points[$i]}"); fi
done
$figs pareto --out results/pareto-fmnist-e8-k8 --budgets 0.4,0.5,0.6 --seeds 3 --steps 800 --epochs 8 \
  --width-multiple 8 --threads 1 "${args[@]}"
