#!/usr/bin/env bash
# The main job: build deltac, compile examples/efla.delta showing the IR after
# every stage, then run it (on the GPU when the CUDA backend exists and a GPU is
# present; today on the CPU backend) on random inputs, checked against the
# fp64 reference.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD=${BUILD_DIR:-build}
SPEC=${1:-examples/efla.delta}
"$BUILD/bin/deltac" check "$SPEC"
"$BUILD/bin/deltac" analyze "$SPEC"
"$BUILD/bin/deltac" compile "$SPEC" --print-ir-after-all -o "$BUILD/$(basename "$SPEC" .delta).mlir" 2>&1
echo "final IR written to $BUILD/$(basename "$SPEC" .delta).mlir"
"$BUILD/bin/deltac" run "$SPEC" --backend=cpu --random 2,1024,4 --check
