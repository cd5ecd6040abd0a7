#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up (idempotent), every crate's tests, then
# the notebooks executed headless on the project's evcxr kernel (scripts/notebooks.sh).
# FIGS_SKIP_NOTEBOOKS=1 leaves the notebooks out (say so when you report a run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Setup installs Debian's Fashion-MNIST (30 MB): the notebooks and repl/tests/fmnist.rs run
# on the real data set.
bash scripts/setup.sh
# Plugins are cdylibs, which `cargo test` does not build: build the workspace first.
cargo build --workspace
# The harness runs two tests at once and several spawn `figs`; with libtorch's OpenMP pool
# at one thread per core on top, the threads spin against each other: the CLI tests took
# 84-300 s that way on 2 cores and 28 s with one thread each (measured side by side).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
cargo test --workspace "$@"
if [ "${FIGS_SKIP_NOTEBOOKS:-0}" = 1 ]; then
  echo "notebooks skipped (FIGS_SKIP_NOTEBOOKS=1)"
else
  # evcxr_jupyter is built once into the user's cache dir (about 30 min the first time).
  bash scripts/setup-kernel.sh
  bash scripts/notebooks.sh
fi
