#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU and PyTorch 2.11 (python3 -c 'import torch'),
# run a short FiGS search on CUDA and print the device, steps/s and the result.
#
# Uses target/debug/figs if it was built elsewhere and copied here (its rpath points at the
# build machine's venv, so libtorch is found through LD_LIBRARY_PATH below); otherwise
# builds it with cargo against this machine's torch. Takes a few minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Every check that fails is counted; the script exits 1 at the end if any did.
failures=0
fail() { echo "gpu-check: $* FAILED"; failures=$((failures + 1)); }
py=${PYTHON:-python3}
torch_dir=$("$py" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
"$py" -c 'import torch; print("python torch", torch.__version__, "cuda available:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
site=$(dirname "$torch_dir")
libs="$torch_dir/lib"
for d in "$site"/nvidia/*/lib; do [ -d "$d" ] && libs="$libs:$d"; done
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

bin=target/debug/figs
if [ ! -x "$bin" ]; then
  command -v cargo >/dev/null || { echo "no $bin and no cargo: build figs first (scripts/setup.sh && cargo build -p figs-repl -p figs-mobilenet-v2 -p figs-flops -p figs-latency)"; exit 1; }
  LIBTORCH="$torch_dir" LIBTORCH_CXX11_ABI=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))') \
    cargo build -p figs-repl -p figs-mobilenet-v2 -p figs-flops -p figs-latency
fi

data_args=(--synthetic)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && data_args=(--train-limit 20000 --test-limit 2000)
steps=${STEPS:-300}
out=$(mktemp -d)
start=$(date +%s)
"$bin" search --device cuda "${data_args[@]}" --steps "$steps" --eval-every "$steps" --epochs 1 --out "$out/run" | tee "$out/log.txt"
echo "gpu-check: wall time $(( $(date +%s) - start )) s for $steps search steps + retraining; run directory $out"
"$bin" search --device cuda --precision bf16 "${data_args[@]}" --steps 100 --eval-every 100 --epochs 0.2 \
  --out "$out/bf16" >"$out/bf16.txt" 2>&1 && echo "gpu-check: bf16 search ok: $(grep -i 'accuracy' "$out/bf16.txt" | tail -2 | tr '\n' ' ')" ||
  { fail "bf16 search"; tail -5 "$out/bf16.txt"; }
"$py" - "$out/run" "$steps" <<'PY'
import json, sys
out, steps = sys.argv[1], int(sys.argv[2])
lines = [json.loads(l) for l in open(f"{out}/metrics.jsonl")]
print("gpu-check: steps recorded", sum(1 for l in lines if l["kind"] == "step"))
print("gpu-check: summary", json.dumps(json.load(open(f"{out}/summary.json"))))
PY

# NCCL (issue 12): the collectives on CUDA tensors, one rank per GPU (NCCL refuses two
# ranks on one device, so a one-GPU machine checks it with one rank), then a short
# data-parallel search where there are two GPUs.
torchrun=$(dirname "$py")/torchrun
command -v "$torchrun" >/dev/null || torchrun=$(command -v torchrun || true)
ngpu=$("$py" -c 'import torch; print(torch.cuda.device_count())')
if [ -x target/debug/figs-dist-check ] && [ -n "$torchrun" ] && [ "$ngpu" -ge 1 ]; then
  nproc=$(( ngpu >= 2 ? 2 : 1 ))
  "$torchrun" --standalone --nproc-per-node "$nproc" --no-python target/debug/figs-dist-check cuda &&
    echo "gpu-check: NCCL collectives ok on $nproc rank(s)" || fail "NCCL collectives"
  if [ "$nproc" = 2 ]; then
    "$torchrun" --standalone --nproc-per-node 2 --no-python "$bin" search --device cuda "${data_args[@]}" \
      --steps 100 --eval-every 100 --no-retrain --out "$out/dp" && echo "gpu-check: NCCL data-parallel search ok" ||
      fail "NCCL data-parallel search"
  fi
else
  echo "gpu-check: NCCL check skipped (no target/debug/figs-dist-check, no torchrun or no GPU)"
fi

# The step-speed benchmark against PyTorch on CUDA (needs torchvision and figs-bench; the
# first is in the torch venv, the second builds with cargo or is copied with figs).
if [ -x target/debug/figs-bench ] && "$py" -c 'import torchvision' 2>/dev/null; then
  PYTHON="$py" bash bench/step_speed.sh --device cuda --pairs "${PAIRS:-3}" --steps "${BENCH_STEPS:-50}" --batch "${BATCH:-256}" ||
    fail "step benchmark"
  # bf16 (figs' bf16 training passes against PyTorch's autocast), the issue's AMP option.
  PYTHON="$py" bash bench/step_speed.sh --device cuda --precision bf16 --pairs "${PAIRS:-3}" --steps "${BENCH_STEPS:-50}" --batch "${BATCH:-256}" ||
    fail "bf16 step benchmark"
  # Host data on CUDA (a training split over 2 GiB stays on the host): batches gathered ahead
  # into pinned memory against gathered when drawn, plain steps, alternating windows.
  target/debug/figs-bench --mode prefetch --device cuda --batch "${BATCH:-256}" --rounds 5 &&
    echo "gpu-check: prefetch ok" || fail "prefetch"
else
  echo "gpu-check: step benchmark skipped (no target/debug/figs-bench or no torchvision)"
fi
# Detection (issue 27): the step time of ssdlite320_mobilenet_v3_large on CUDA, for the
# extrapolation in docs/DETECTION.md (the made set needs Fashion-MNIST to paste from).
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  FIGS="$bin" bash bench/coco_step.sh --device cuda --batch 24 --steps 20 --workers "$(nproc)" || fail "COCO detector step"
else
  echo "gpu-check: COCO detector step skipped (Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist)"
fi
if [ "$failures" -gt 0 ]; then
  echo "gpu-check: $failures check(s) FAILED"
  exit 1
fi
echo "gpu-check: every check passed"
