#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (lit, unit tests, the
# parser fuzzer for 60 s) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/build.sh
BUILD=${BUILD_DIR:-build}
ctest --test-dir "$BUILD" --output-on-failure -j2
echo "test wall time: $(( $(date +%s) - start )) s"
