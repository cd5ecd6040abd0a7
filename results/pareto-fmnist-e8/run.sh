#!/usr/bin/env bash
# docs/RESULTS.md's Pareto table: 3 budgets × seeds 1–3 × FiGS, width and γ, and the seed
# network, every network retrained for 8 epochs (the first table used 3, which left every
# network undertrained: the seed network gains ~2 points from 3 to 8 epochs and its spread
# over seeds falls from ±0.58 to ±0.19). Ends by writing summary.md and pareto.svg/png.
#
#   results/pareto-fmnist-e8/run.sh [--reverse]
#
# Resumable: re-run to continue, finished points are skipped. One libtorch thread per
# process; start it twice for two workers (each claims its point: docs/RESULTS.md). The
# points run seed by seed (the seed network, then per seed FiGS, width and γ at every
# budget), so each finished seed is a complete comparison; `--reverse` runs the list from
# its end, for a second worker. FIGS=path/to/figs picks the binary (default
# target/debug/figs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
figs=${FIGS:-target/debug/figs}
points=(seed:1:1 seed:1:2 seed:1:3)
for s in 1 2 3; do
  for m in figs width gamma; do
    for b in 0.4 0.5 0.6; do points+=("$m:$b:$s"); done
  done
done
args=()
for i in "${!points[@]}"; do
  if [ "${1:-}" = --reverse ]; then args=(--only "${points[$i]}" "${args[@]}"); else args+=(--only "${points[$i]}"); fi
done
$figs pareto --out results/pareto-fmnist-e8 --budgets 0.4,0.5,0.6 --seeds 3 --steps 800 --epochs 8 \
  --threads 1 "${args[@]}"
