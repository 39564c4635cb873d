#!/usr/bin/env bash
# Here (with LLVM): compile every example spec into bundles and make the GPU
# test cases (random inputs + the fp64 reference's outputs) in gpu-cases/,
# which travels to the GPU machine where scripts/gpu/check.sh runs them.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD_DIR:-build}
OUT=${1:-gpu-cases}
rm -rf "$OUT" && mkdir -p "$OUT"
for spec in efla deltanet rk4 longhorn gated_deltanet gated_efla; do
  for D in 128 64; do
    name=$spec-d$D
    sed "s/K = 128, V = 128/K = $D, V = $D/" examples/$spec.delta > "$OUT/$name.delta"
    "$BUILD/bin/deltac" compile "$OUT/$name.delta" --emit=bundle -o "$OUT/$name.bundle" 2> "$OUT/$name.ptxas.log"
    "$BUILD/bin/deltac" compile "$OUT/$name.delta" --emit=bundle --sequential -o "$OUT/$name-seq.bundle" 2> /dev/null
    # T not a multiple of any chunk, two sequences, with h0.
    "$BUILD/bin/deltac" run "$OUT/$name.delta" --random 2,131,2 --h0 \
      --save-inputs "$OUT/$name-fixed/in" --reference-outputs "$OUT/$name-fixed/ref" > /dev/null
    # Variable lengths: three packed sequences, with h0.
    "$BUILD/bin/deltac" run "$OUT/$name.delta" --random 1,200,2 --varlen 17,120,63 --h0 \
      --save-inputs "$OUT/$name-varlen/in" --reference-outputs "$OUT/$name-varlen/ref" > /dev/null
  done
done
du -sh "$OUT"
