#!/usr/bin/env bash
# Issue 5 on a machine with an NVIDIA GPU, in under 8 minutes:
#   1. the input-pipeline and training-loop benchmark (as in `make bench`, fewer rounds);
#   2. training steps fed by kagglekit's pipeline, float32 vs mixed_float16 + XLA, printing
#      images/s and the share of each step spent waiting for input.
# Writes benchmarks/RESULTS-gpu.md (with the GPU's name) and prints the same table.
# Usage: bash benchmarks/gpu_check.sh [DATA_DIR]     (default: ../shared/data/dogs-vs-cats)
# Needs kagglekit installed (`make venv`) with a GPU build of TensorFlow
# (`.venv/bin/pip install 'tensorflow[and-cuda]'` where pip's tensorflow sees no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/dogs-vs-cats}
KK=${KK:-.venv/bin/kagglekit}
PY=${PY:-.venv/bin/python}
[ -x "$KK" ] || { KK=kagglekit; PY=python3; }
export TF_CPP_MIN_LOG_LEVEL=2

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c 'import sys, tensorflow as tf; g = tf.config.list_physical_devices("GPU"); print("TensorFlow", tf.__version__, "GPUs:", g); sys.exit(0 if g else 1)' \
  || { echo "TensorFlow sees no GPU: install tensorflow[and-cuda] into the venv" >&2; exit 1; }

# 1 + 2 in one process; `timeout` keeps the whole check inside its 8 minutes.
timeout 450 "$KK" bench -c dogs-vs-cats --data-dir "$DATA" \
  --parts pipeline,training,steps --rounds 2 --train-images 2048 \
  --precision auto --out benchmarks/RESULTS-gpu.md
