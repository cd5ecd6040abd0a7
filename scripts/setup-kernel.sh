#!/usr/bin/env bash
# Idempotent set-up of the Jupyter side for figs' notebooks (called by scripts/test.sh and
# scripts/demo.sh after scripts/setup.sh; safe to run alone):
#
# - evcxr_jupyter, pinned, built once with `cargo install --locked` into the user's cache
#   dir (about 30 min on 2 cores the first time; reused by every clone after that);
# - a small venv with nbclient (which brings `jupyter-execute`) and nbformat, to run the
#   notebooks headless;
# - a kernel spec named `figs-rust` (not evcxr's own `rust`, which evcxr_jupyter rewrites
#   at start when its version differs) whose env puts libtorch and the nvidia-* wheel lib
#   directories on LD_LIBRARY_PATH (without them every tch cell fails with "dlopen
#   failed") and shares one EVCXR_TMPDIR, so tch's C++ is built once for all notebooks.
#
# Prints `export` lines for JUPYTER_PATH when called with --print-env.
set -euo pipefail

EVCXR_VERSION=0.22.0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${FIGS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/figs}
torch_venv=${FIGS_VENV:-$cache/venv-torch-2.11.0}
evcxr_root=$cache/evcxr-$EVCXR_VERSION
jvenv=$cache/venv-jupyter
kernels=$cache/jupyter
py=${PYTHON:-python3}

log() { printf '[setup-kernel] %s\n' "$*" >&2; }

if [ ! -x "$torch_venv/bin/python" ]; then
  log "no torch venv at $torch_venv: run scripts/setup.sh first"
  exit 1
fi

if [ -x "$evcxr_root/bin/evcxr_jupyter" ] && grep -q "evcxr_jupyter $EVCXR_VERSION" "$evcxr_root/.crates.toml" 2>/dev/null; then
  log "evcxr_jupyter $EVCXR_VERSION already in $evcxr_root"
else
  log "building evcxr_jupyter $EVCXR_VERSION into $evcxr_root (about 30 min on 2 cores, once)"
  mkdir -p "$evcxr_root"
  # A root of its own, keyed by the version: a clone never rebuilds what another built.
  cargo install --locked --quiet --root "$evcxr_root" "evcxr_jupyter@$EVCXR_VERSION"
fi

if [ -x "$jvenv/bin/jupyter-execute" ] && "$jvenv/bin/python" -c 'import nbclient, nbformat' 2>/dev/null; then
  log "nbclient already in $jvenv"
else
  log "creating $jvenv with nbclient + nbformat"
  rm -rf "$jvenv"
  "$py" -m venv "$jvenv"
  "$jvenv/bin/python" -m pip install --quiet --upgrade pip
  "$jvenv/bin/python" -m pip install --quiet "nbclient==0.10.2" "nbformat==5.10.4"
fi

torch_dir=$("$torch_venv/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
site=$(dirname "$torch_dir")
libs="$torch_dir/lib"
if [ -d "$site/nvidia" ]; then
  while IFS= read -r d; do libs="$libs:$d"; done < <(find "$site/nvidia" -mindepth 2 -maxdepth 2 -type d -name lib | sort)
fi
cxx11=$("$torch_venv/bin/python" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
# evcxr builds cells as dylibs against a dynamic libstd: the toolchain's lib dir too.
libs="$(rustc --print target-libdir):$libs"

spec=$kernels/kernels/figs-rust
mkdir -p "$spec" "$cache/evcxr-tmp"
tmp=$(mktemp)
"$py" - "$evcxr_root/bin/evcxr_jupyter" "$libs" "$torch_dir" "$cxx11" "$cache/evcxr-tmp" >"$tmp" <<'EOF'
import json, sys
exe, libs, torch_dir, cxx11, tmpdir = sys.argv[1:]
print(json.dumps({
    "argv": [exe, "--control_file", "{connection_file}"],
    "display_name": "Rust (figs)",
    "language": "rust",
    "interrupt_mode": "message",
    "env": {
        # Replaces the launcher's: jupyter_client leaves an unset ${VAR} unexpanded.
        "LD_LIBRARY_PATH": libs,
        "LIBTORCH": torch_dir,
        "LIBTORCH_CXX11_ABI": cxx11,
        "EVCXR_TMPDIR": tmpdir,
    },
}, indent=2))
EOF
if cmp -s "$tmp" "$spec/kernel.json"; then rm -f "$tmp"; else mv "$tmp" "$spec/kernel.json"; log "wrote $spec/kernel.json"; fi

if [ "${1:-}" = --print-env ]; then
  echo "export JUPYTER_PATH=$kernels"
  echo "export FIGS_JUPYTER_VENV=$jvenv"
fi
log "kernel figs-rust ready (JUPYTER_PATH=$kernels)"
