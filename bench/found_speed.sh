#!/usr/bin/env bash
# Found-network speed: the time of a training step (batch 64, Adam), of inference at
# batch 64 and at batch 1, of a run's found network (arch.json) and its seed
# (supernet.json), in figs, in PyTorch through the exported model.py (NCHW and
# channels-last) and in onnxruntime (inference), alternating side by side, with random weights; prints each measurement,
# the found/seed ratio per implementation and kind next to the MACs and activations ratios,
# and the medians; then figs' ratios paired in one process (figs-found-speed --paired-with),
# the ones to go by on a host whose speed drifts.
#
#   bench/found_speed.sh --run RUN_DIR | --seed-arch A.json --found-arch B.json
#                        [--pairs 3] [--steps 20] [--threads 1] [--batch 64]
#
# Never run it beside another heavy process.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in -h|--help|"") sed -n 2,12p "$0"; exit 0 ;; esac
. bench/driver.sh
bench_driver found_speed figs-found-speed "$@"
