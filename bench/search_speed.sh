#!/usr/bin/env bash
# Search wall-time benchmark (issue 28): the main job's FiGS search (`figs search` at its
# defaults, without retraining; `--cost flops`: with the FLOPs cost at λ 0.5, the default
# until 2026-12-07) against the same search written in PyTorch
# (bench/search_torch.py: same supernet, data, recipe, checkpoints and evaluations) in three
# set-ups a PyTorch user can choose on a CPU: NCHW eager, channels-last eager and
# torch.compile (channels-last), all three with figs' glibc malloc settings, alternating in
# one run, each command timed whole.
#
#   bench/search_speed.sh [--rounds 1] [--steps 800] [--start 0] [--cost latency|flops]   (--start: which set-up goes first)
#
# Prints every command's wall time, then per set-up the median and the ratio
# PyTorch / figs (above 1: figs is faster). Never run it beside another heavy process.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in -h|--help) sed -n 2,12p "$0"; exit 0 ;; esac
py=${PYTHON:-$HOME/.cache/figs/venv-torch-2.11.0/bin/python}
[ -x "$py" ] || { echo "search_speed.sh: no venv python at $py: run scripts/setup.sh first" >&2; exit 2; }
if [ ! -x target/debug/figs ] || [ ! -e target/debug/libfigs_mobilenet_v2.so ]; then
  echo "building figs (cargo build -p figs-repl -p figs-mobilenet-v2 -p figs-flops -p figs-latency)" >&2
  cargo build -q -p figs-repl -p figs-mobilenet-v2 -p figs-flops -p figs-latency
fi
exec "$py" bench/search_speed.py "$@"
