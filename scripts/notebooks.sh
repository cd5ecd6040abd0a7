#!/usr/bin/env bash
# Executes every notebook in notebooks/ headless on the project's evcxr kernel (figs-rust)
# and fails on any cell error, panic, `?` error or missing inline display
# (scripts/run_notebooks.py). Needs the workspace built (the notebooks load the bundled
# plugins from target/debug). `--strip` clears outputs instead of running.
#
# The first run builds tch's C++ inside the kernel's shared EVCXR_TMPDIR (5–7 min on
# 2 cores); later runs reuse it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
eval "$(bash scripts/setup-kernel.sh --print-env)"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$FIGS_JUPYTER_VENV/bin/python" scripts/run_notebooks.py "$@"
