#!/usr/bin/env bash
# Compaction on against off (issue 28, "a search that gets cheaper as it prunes, by
# default"): FiGS with `--compact 2` at the Pareto table's budgets and seeds with its recipe
# (results/pareto-fmnist-e8: 800 search steps, 8 retraining epochs, a gate per channel), so
# each point pairs with that table's FiGS point (compaction off) at the same MACs. Only FiGS
# points run here; the comparison goes to docs/RESULTS.md once all nine points are in.
#
#   results/pareto-fmnist-e8-c2/run.sh [--reverse]
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
$figs pareto --out results/pareto-fmnist-e8-c2 --budgets 0.4,0.5,0.6 --seeds 3 --steps 800 --epochs 8 \
  --compact 2 --threads 1 "${args[@]}"
