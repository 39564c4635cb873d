#!/usr/bin/env bash
# The main job: build deltac, then compile examples/efla.delta and show the IR
# after every stage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD=${BUILD_DIR:-build}
SPEC=${1:-examples/efla.delta}
"$BUILD/bin/deltac" check "$SPEC"
"$BUILD/bin/deltac" compile "$SPEC" --print-ir-after-all -o "$BUILD/$(basename "$SPEC" .delta).mlir" 2>&1
echo "final IR written to $BUILD/$(basename "$SPEC" .delta).mlir"
