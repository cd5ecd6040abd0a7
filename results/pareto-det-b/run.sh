#!/usr/bin/env bash
# Detection (issue 27): FiGS's SSDLite detector against the width-scaled detector at 50 %
# of the seed detector's MACs, seeds 1-3, on the made-here detection set with larger items
# (docs/DETECTION.md: the default set learns too slowly for a 2-core budget). SSDLite on
# MobileNetV3-small at 128 px, 1200 search steps, 10 retraining epochs (1250 steps), batch
# 32, Adam at lr 0.005 (chosen on seed 0, not reported).
#
#   results/pareto-det-b/run.sh
#
# Resumable: run it again to continue. FIGS=path/to/figs picks the binary; DATA the set's
# folder (made here if missing; the set is the same wherever it is made: every canvas comes
# from its seed). The committed points were made with DATA=/work/data/fmnist-det-b, which a
# resume must give again (the recipe records the path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
figs=${FIGS:-target/debug/figs}
data=${DATA:-data/fmnist-det-b}
[ -d "$data" ] || $figs make-detection-set "$data" --min-item 32 --max-objects 4
$figs pareto --space mobilenet_v3 -p preset=small -p resolution=128 --data "coco:$data" \
  --steps 1200 --batch-size 32 --lr 0.005 --epochs 10 --budgets 0.5 --seeds 3 --methods figs,width \
  --out results/pareto-det-b "$@"
