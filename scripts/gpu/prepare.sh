#!/usr/bin/env bash
# Here (with LLVM): compile every example spec into bundles (bf16 and f16
# storage, K = V = 64 and 128) and make the GPU test cases (random inputs
# rounded to the storage type + the fp64 reference's outputs on exactly those
# inputs) in gpu-cases/ and gpu-cases.tgz, which travels to the GPU machine
# where scripts/gpu/check.sh unpacks and runs them.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD_DIR:-build}
OUT=${1:-gpu-cases}
rm -rf "$OUT" && mkdir -p "$OUT"
for spec in efla deltanet rk4 longhorn gated_deltanet gated_efla; do
  for D in 128 64; do
    sed "s/K = 128, V = 128/K = $D, V = $D/" examples/$spec.delta > "$OUT/$spec-d$D.delta"
    for dt in bf16 f16; do
      name=$spec-d$D-$dt
      echo "== $name" >&2
      "$BUILD/bin/deltac" compile "$OUT/$spec-d$D.delta" --dtype $dt --emit=bundle -o "$OUT/$name.bundle" 2> "$OUT/$name.ptxas.log"
      # T not a multiple of any chunk, two sequences (B = 2, H = 1), with h0.
      "$BUILD/bin/deltac" run "$OUT/$spec-d$D.delta" --dtype $dt --random 2,131,1 --h0 \
        --save-inputs "$OUT/$name-fixed/in" --reference-outputs "$OUT/$name-fixed/ref" > /dev/null
      # Variable lengths: three packed sequences, with h0.
      "$BUILD/bin/deltac" run "$OUT/$spec-d$D.delta" --dtype $dt --random 1,200,1 --varlen 17,120,63 --h0 \
        --save-inputs "$OUT/$name-varlen/in" --reference-outputs "$OUT/$name-varlen/ref" > /dev/null
    done
  done
done
# f32 storage (q, k, v, the inputs and o read and written as f32; the
# tensor-core operands f16 as in every form): efla and gated DeltaNet at D 64.
for spec in efla gated_deltanet; do
  name=$spec-d64-f32
  echo "== $name" >&2
  "$BUILD/bin/deltac" compile "$OUT/$spec-d64.delta" --dtype f32 --emit=bundle -o "$OUT/$name.bundle" 2> "$OUT/$name.ptxas.log"
  "$BUILD/bin/deltac" run "$OUT/$spec-d64.delta" --dtype f32 --random 2,131,1 --h0 \
    --save-inputs "$OUT/$name-fixed/in" --reference-outputs "$OUT/$name-fixed/ref" > /dev/null
  "$BUILD/bin/deltac" run "$OUT/$spec-d64.delta" --dtype f32 --random 1,200,1 --varlen 17,120,63 --h0 \
    --save-inputs "$OUT/$name-varlen/in" --reference-outputs "$OUT/$name-varlen/ref" > /dev/null
done
# The sm_90a form (--wgmma: K S and Q S by wgmma) on the same inputs as the
# default bundles' cases (efla, gated_deltanet), and for the benchmark.
for spec in efla gated_deltanet deltanet rk4; do
  for D in 128 64; do
    name=$spec-d$D-bf16
    # (at value tile 64: the 128-column kernel has no wgmma form)
    "$BUILD/bin/deltac" compile "$OUT/$spec-d$D.delta" --dtype bf16 --wgmma --value-tile 64 --emit=bundle -o "$OUT/$name-wgmma.bundle" 2> "$OUT/$name-wgmma.ptxas.log"
    case $spec in deltanet|rk4) continue ;; esac
    for kind in fixed varlen; do
      mkdir -p "$OUT/$name-wgmma-$kind" && cp -r "$OUT/$name-$kind/in" "$OUT/$name-$kind/ref" "$OUT/$name-wgmma-$kind/"
    done
  done
done
# K = V = 256 (the state split into value tiles of 32 and 64; the ungated
# specs' scans on warpgroups in the cubin, mma.sync in the sm_80 PTX), bf16,
# gated and ungated specs: the fixed case only (its h0 and fp64 ht are 1.5 MB
# a sequence, and what travels to the GPU machine is limited), and EFLA's
# varlen case below.
for spec in efla deltanet rk4 gated_deltanet; do
  name=$spec-d256-bf16
  echo "== $name" >&2
  sed "s/K = 128, V = 128/K = 256, V = 256/" examples/$spec.delta > "$OUT/$spec-d256.delta"
  "$BUILD/bin/deltac" compile "$OUT/$spec-d256.delta" --dtype bf16 --emit=bundle -o "$OUT/$name.bundle" 2> "$OUT/$name.ptxas.log"
  "$BUILD/bin/deltac" run "$OUT/$spec-d256.delta" --dtype bf16 --random 2,131,1 --h0 \
    --save-inputs "$OUT/$name-fixed/in" --reference-outputs "$OUT/$name-fixed/ref" > /dev/null
done
# EFLA's varlen case at K = 256 (partial chunks first, second and first:
# the scan on warpgroups zeroing the rows past a partial chunk's).
"$BUILD/bin/deltac" run "$OUT/efla-d256.delta" --dtype bf16 --random 1,200,1 --varlen 17,120,63 --h0 \
  --save-inputs "$OUT/efla-d256-bf16-varlen/in" --reference-outputs "$OUT/efla-d256-bf16-varlen/ref" > /dev/null
# The sequential kernel and the phased schedule of the chunked one, for the
# benchmark only.
for D in 128 64; do
  "$BUILD/bin/deltac" compile "$OUT/efla-d$D.delta" --dtype bf16 --sequential --emit=bundle -o "$OUT/efla-d$D-bf16-seq.bundle" 2> /dev/null
  "$BUILD/bin/deltac" compile "$OUT/efla-d$D.delta" --dtype bf16 --schedule=phased --emit=bundle -o "$OUT/efla-d$D-bf16-phased.bundle" 2> /dev/null
done
# The example app's header: the EFLA kernel embedded (f32 storage).
"$BUILD/bin/deltac" compile examples/efla.delta --dtype f32 --emit=gpu-header -o "$OUT/efla_gpu.h" 2> /dev/null
# What travels to the GPU machine is limited (64 MiB): a gzip archive of the
# folder (about two thirds of its size), unpacked there by check.sh.
tar cf - "$OUT" | gzip -1 > "$OUT.tgz"
du -sh "$OUT" "$OUT.tgz"
