#!/usr/bin/env bash
# The main job on a fresh machine: set up (idempotent), build, and run a FiGS search of
# MobileNetV2 on Fashion-MNIST with export, plot, retraining and the seed-vs-found table.
# Extra arguments go to `figs search` (see `figs search --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cargo build -p figs-repl -p figs-mobilenet-v2 -p figs-resnet -p figs-fbnet \
  -p figs-flops -p figs-model-size -p figs-latency -p figs-latency-table -p figs-gamma-flops
exec target/debug/figs search "$@"
