#!/usr/bin/env bash
# The main job: build deltac, compile examples/efla.delta showing the IR after
# every stage, then run it on random inputs, checked against the fp64
# reference: on the GPU (--backend=cuda, bf16 storage) when a CUDA driver and
# device are there, else on the CPU backend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD=${BUILD_DIR:-build}
SPEC=${1:-examples/efla.delta}
"$BUILD/bin/deltac" check "$SPEC"
"$BUILD/bin/deltac" analyze "$SPEC"
"$BUILD/bin/deltac" compile "$SPEC" --print-ir-after-all -o "$BUILD/$(basename "$SPEC" .delta).mlir" 2>&1
echo "final IR written to $BUILD/$(basename "$SPEC" .delta).mlir"
if "$BUILD/bin/deltac" run "$SPEC" --backend=cuda --dtype bf16 --random 2,1024,4 --check 2> "$BUILD/cuda-run.log"; then
  exit 0
fi
if grep -q "no GPU to run on" "$BUILD/cuda-run.log"; then
  echo "$(tail -1 "$BUILD/cuda-run.log" | sed 's/^deltac run: error: //'); running on the CPU backend"
  "$BUILD/bin/deltac" run "$SPEC" --backend=cpu --random 2,1024,4 --check
else
  cat "$BUILD/cuda-run.log" >&2
  exit 1
fi
