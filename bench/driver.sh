# Sourced by the benchmarks that a Python driver runs (data_speed.sh, found_speed.sh), from
# the repository root: `bench_driver NAME BINARY ARGS...` builds target/debug/BINARY if it
# is missing and runs bench/NAME.py ARGS with the set-up's venv (torch, torchvision).
bench_driver() {
  local name=$1 bin=$2
  shift 2
  local py=${PYTHON:-$HOME/.cache/figs/venv-torch-2.11.0/bin/python}
  [ -x "$py" ] || { echo "$name.sh: no venv python at $py: run scripts/setup.sh first" >&2; exit 2; }
  if [ ! -x "target/debug/$bin" ]; then
    echo "building $bin (cargo build -p figs-bench)" >&2
    cargo build -q -p figs-bench
  fi
  exec "$py" "bench/$name.py" "$@"
}
