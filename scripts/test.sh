#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up (idempotent), then every crate's tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FIGS_SKIP_DATA=${FIGS_SKIP_DATA:-1} bash scripts/setup.sh
# Plugins are cdylibs, which `cargo test` does not build: build the workspace first.
cargo build --workspace
cargo test --workspace "$@"
