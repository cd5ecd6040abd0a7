#!/usr/bin/env bash
# Issue 9's open question: why is FiGS only level with the width multiplier at 60 % of the
# seed's MACs? Two diagnostics on seeds the report does not use (4+; seed 0 chose the
# defaults, 1–3 are docs/RESULTS.md's):
#   epochs3/ — the reported recipe (3 retraining epochs) on five new seeds, FiGS and width
#              at 0.6: is the tie a property of the method or of three seeds?
#   epochs8/ — the same comparison, and the seed network, retrained 8 epochs: does the
#              recipe's noise (±0.58 points on the seed network at 3 epochs) hide a gap?
#   epochs8-steps1600/ — FiGS at 0.6 with twice the search steps (1 600), retrained 8
#              epochs, compared with epochs8/'s width networks on the same seeds (the
#              width baseline has no search, so its points are the same): too few steps?
# Resumable like every `figs pareto` run: re-run this script to continue; finished points
# are skipped. One libtorch thread per process.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
figs=target/debug/figs
only() { local m; for m in "$@"; do printf -- '--only %s ' "$m"; done; }
# shellcheck disable=SC2046
$figs pareto --out results/why-0.6/epochs3 --threads 1 --epochs 3 \
  $(only figs:0.6:4 width:0.6:4 figs:0.6:5 width:0.6:5 figs:0.6:6 width:0.6:6 \
         figs:0.6:7 width:0.6:7 figs:0.6:8 width:0.6:8)
# shellcheck disable=SC2046
$figs pareto --out results/why-0.6/epochs8 --threads 1 --epochs 8 \
  $(only seed:1:4 figs:0.6:4 width:0.6:4 seed:1:5 figs:0.6:5 width:0.6:5 \
         seed:1:6 figs:0.6:6 width:0.6:6)
# shellcheck disable=SC2046
$figs pareto --out results/why-0.6/epochs8-steps1600 --threads 1 --epochs 8 --steps 1600 \
  $(only figs:0.6:4 figs:0.6:5 figs:0.6:6)
