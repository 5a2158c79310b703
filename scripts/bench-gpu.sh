#!/usr/bin/env bash
# bench:embed on a GPU machine: the GPU runtimes (onnx-cuda, tfjs-node-gpu) model-only at GPU batch
# sizes, onnx-cpu beside them for reference, and the real worker end to end with MODEL_RUNTIME set
# to each GPU runtime. A runtime that cannot start is recorded as "failed to load: <reason>" in the
# results; it does not stop the run. See docs/gpu.md for what each runtime needs installed.
#
#   bash scripts/bench-gpu.sh                      # all of the above
#   bash scripts/bench-gpu.sh --quick              # smoke test
#   EMBED_BATCH=128 WORKER_CONCURRENCY=256 bash scripts/bench-gpu.sh --e2e-images 1000
#
# Extra arguments go to bench:embed (later ones win). Writes bench/results/embed-gpu.json, the
# `bench:embed-gpu` section of docs/gpu.md, and bench/results/embed-gpu-smi.csv (nvidia-smi samples:
# GPU utilisation and memory while the benchmark ran).
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_BIN=node_modules/onnxruntime-node/bin/napi-v6/linux/x64

echo "== GPU"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  nvidia-smi | sed -n '3p' || true   # the line with "CUDA Version" (the newest CUDA the driver supports)
else
  echo "nvidia-smi not found: no NVIDIA driver here. The GPU runtimes will be recorded as failed to load." >&2
fi

echo "== onnx-cuda prerequisites"
if [ -s "$ORT_BIN/libonnxruntime_providers_cuda.so" ] && [ -s "$ORT_BIN/libonnxruntime_providers_shared.so" ]; then
  echo "ONNX Runtime CUDA provider libraries present in $ORT_BIN"
else
  echo "ONNX Runtime's CUDA provider libraries are missing from $ORT_BIN. Fetch them (network needed) with:" >&2
  echo "  ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js" >&2
fi
if command -v ldconfig >/dev/null 2>&1; then
  for lib in libcudart.so.12 libcublas.so.12 libcudnn.so.9 libcudart.so.11.0 libcudnn.so.8; do
    if ldconfig -p | grep -q "$lib"; then echo "found $lib"; else echo "missing $lib"; fi
  done
fi

echo "== tfjs-node-gpu prerequisites"
if [ -d node_modules/@tensorflow/tfjs-node-gpu ]; then
  echo "@tensorflow/tfjs-node-gpu is installed"
else
  echo "@tensorflow/tfjs-node-gpu is not installed (it needs CUDA 11.2 + cuDNN 8.1). To try it:" >&2
  echo "  npm install --no-save @tensorflow/tfjs-node-gpu@4.22.0" >&2
fi

mkdir -p bench/results
SMI_PID=""
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=timestamp,name,utilization.gpu,memory.used,memory.total --format=csv -lms 500 \
    > bench/results/embed-gpu-smi.csv 2>/dev/null &
  SMI_PID=$!
fi
stop_smi() { if [ -n "$SMI_PID" ]; then kill "$SMI_PID" 2>/dev/null || true; fi; }
trap stop_smi EXIT

# GPU batches: the GPU is fed by one model call at a time, so batches far above the CPU's help.
# WORKER_CONCURRENCY must hold at least two batches' worth of jobs so the next batch fills while one runs.
export MODEL_RUNTIME="${MODEL_RUNTIME:-onnx-cuda}"
export EMBED_BATCH="${EMBED_BATCH:-64}"
export WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-$((2 * EMBED_BATCH))}"
export MODEL_THREADS=1
export TF_FORCE_GPU_ALLOW_GROWTH="${TF_FORCE_GPU_ALLOW_GROWTH:-true}"

BATCHES=1,8,32,64,128
E2E_IMAGES=1000
for arg in "$@"; do
  if [ "$arg" = "--quick" ]; then BATCHES=1,32; E2E_IMAGES=128; fi
done

echo "== bench:embed (MODEL_RUNTIME=$MODEL_RUNTIME EMBED_BATCH=$EMBED_BATCH WORKER_CONCURRENCY=$WORKER_CONCURRENCY)"
npm run bench:embed -- \
  --runtimes onnx-cuda,tfjs-node-gpu,onnx-cpu \
  --batches "$BATCHES" \
  --threads "1,$(nproc)" \
  --e2e-runtimes onnx-cuda,tfjs-node-gpu \
  --e2e-threads 1 \
  --e2e-images "$E2E_IMAGES" \
  --no-compare \
  --max-load-wait 60 \
  --out bench/results/embed-gpu.json \
  --docs docs/gpu.md \
  --section embed-gpu \
  "$@"
