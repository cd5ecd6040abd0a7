#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up (idempotent), then every crate's tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FIGS_SKIP_DATA=${FIGS_SKIP_DATA:-1} bash scripts/setup.sh
cargo test --workspace "$@"
