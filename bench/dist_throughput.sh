#!/usr/bin/env bash
# Throughput of a data-parallel figs search on this machine: one process with one libtorch
# thread, one process with two, and two ranks under torchrun with one thread each (same
# per-rank batch), alternated REPEAT times in one run. Examples per second of whole commands
# (start-up included), and the ratio of two ranks to each single process. Quiet machine only.
#
# Usage: bench/dist_throughput.sh [STEPS] [REPEAT]   (after scripts/setup.sh and a build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps=${1:-100}
repeat=${2:-3}
bin=target/debug/figs
venv=$(sed -n 's/^FIGS_TORCH_VENV = "\(.*\)"/\1/p' .cargo/config.toml)
batch=64
args=(search --synthetic --train-limit 4096 --test-limit 64 --device cpu --steps "$steps"
  --batch-size "$batch" --eval-every 0 --checkpoint-every 0 --no-retrain)
out=$(mktemp -d)
export OMP_NUM_THREADS=1
printf '%-5s %12s %12s %12s %10s %10s\n' pair "1p1t ex/s" "1p2t ex/s" "2r1t ex/s" "2r/1p1t" "2r/1p2t"
for i in $(seq "$repeat"); do
  t0=$(date +%s.%N); "$bin" "${args[@]}" --threads 1 --out "$out/a$i" >/dev/null 2>&1
  t1=$(date +%s.%N); "$bin" "${args[@]}" --threads 2 --out "$out/b$i" >/dev/null 2>&1
  t2=$(date +%s.%N)
  "$venv/bin/torchrun" --standalone --nproc-per-node 2 --no-python "$bin" "${args[@]}" --threads 1 --out "$out/d$i" >/dev/null 2>&1
  t3=$(date +%s.%N)
  python3 - "$steps" "$batch" "$t0" "$t1" "$t2" "$t3" "$i" <<'PY'
import sys
steps, batch = int(sys.argv[1]), int(sys.argv[2])
t0, t1, t2, t3 = map(float, sys.argv[3:7])
a, b, d = steps * batch / (t1 - t0), steps * batch / (t2 - t1), 2 * steps * batch / (t3 - t2)
print(f"{sys.argv[7]:<5} {a:12.0f} {b:12.0f} {d:12.0f} {d / a:10.2f} {d / b:10.2f}")
PY
done
rm -rf "$out"
