#!/usr/bin/env bash
# On the GPU machine (no LLVM there): build libdeltart and deltart-run, run
# every case of gpu-cases/ (outputs poisoned with NaN before each run),
# compare with the fp64 reference, run compute-sanitizer on a small case, and
# time the kernels at the benchmark shapes. Prints a table last.
set -uo pipefail
cd "$(dirname "$0")/../.."
CASES=${1:-gpu-cases}
[ -d "$CASES" ] || [ ! -f "$CASES.tgz" ] || tar xzf "$CASES.tgz" || exit 1
RT=/tmp/deltart-build
cmake -S runtime -B $RT -DCMAKE_BUILD_TYPE=Release > /dev/null && cmake --build $RT -j 8 > /dev/null || exit 1
RUN=$RT/deltart-run
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
status=0
for dir in "$CASES"/*-fixed "$CASES"/*-varlen; do
  case=$(basename "$dir"); spec=${case%-fixed}; spec=${spec%-varlen}
  for sched in wide narrow split_small split_large; do # every schedule of the bundle, whatever the shape
    # and both forms: the cubin (sm_90a: wgmma where the bundle has it), the
    # sm_80 PTX (mma.sync) compiled here by the driver
    for form in cubin ptx80; do
      out=gpu-$sched; [ $form = ptx80 ] && out=gpu-$sched-ptx80
      rm -rf "$dir/$out"
      env DELTART_SCHEDULE=$sched $([ $form = ptx80 ] && echo DELTART_PTX=80) $RUN "$CASES/$spec.bundle" \
        --inputs "$dir/in" --outputs "$dir/$out" > "$dir/run-$out.json" || { echo "FAILED $case ($sched, $form)"; status=1; }
    done
  done
done
echo "== the split schedule in segments (DELTART_SEGMENTS=3: three ranges of chunks, or as many as the longest"
echo "   sequence has, each range's first kernel launched as the scan of the one before starts) against one"
echo "   range (split_large, the same scan): o and ht bit for bit (in the table below: gpu-segments); and"
echo "   with the scan left to the runtime (split: the last range scanned by the scan the two kernels take)"
echo "   bit for bit too, the two scans giving the same bits (gpu-segments-auto)"
for dir in "$CASES"/*-d128-bf16-fixed "$CASES"/*-d128-bf16-varlen "$CASES"/*-d64-bf16-varlen "$CASES"/*-d256-bf16-fixed \
    "$CASES"/*-d256-bf16-varlen; do
  case=$(basename "$dir"); spec=${case%-fixed}; spec=${spec%-varlen}
  [[ $case == *wgmma* ]] && continue
  rm -rf "$dir/gpu-segments"
  DELTART_SCHEDULE=split_large DELTART_SEGMENTS=3 $RUN "$CASES/$spec.bundle" --inputs "$dir/in" \
    --outputs "$dir/gpu-segments" > /dev/null || { echo "FAILED $case (segments)"; status=1; }
  rm -rf "$dir/gpu-segments-auto"
  DELTART_SCHEDULE=split DELTART_SEGMENTS=3 $RUN "$CASES/$spec.bundle" --inputs "$dir/in" \
    --outputs "$dir/gpu-segments-auto" > /dev/null || { echo "FAILED $case (segments, unforced)"; status=1; }
  for f in o ht; do
    cmp -s "$dir/gpu-split_large/$f.npy" "$dir/gpu-segments/$f.npy" || { echo "FAILED $case (segments change $f)"; status=1; }
    cmp -s "$dir/gpu-split_large/$f.npy" "$dir/gpu-segments-auto/$f.npy" ||
      { echo "FAILED $case (segments, unforced, change $f)"; status=1; }
  done
done
echo "== the runtime's plan (deltart_last_plan, the \"plan\" of deltart-run's line): the schedule and why, the"
echo "   segments' ranges, the kernels launched with their grids"
plan=$($RUN "$CASES/efla-d128-bf16.bundle" --bench 1,32768,16 --repeat 1)
for want in '"plan": "schedule split (few pairs' 'in 4 segments, chunks 0-89, 89-200, 200-339, 339-512 of 512' \
    '; efla_split_prep grid 16 x 89;' '; efla_split_prep_beside grid 16 x 173' '; efla_split grid 128 x 1 in clusters of 2"'; do
  grep -qF "$want" <<< "$plan" || { echo "FAILED plan: no '$want' in $plan"; status=1; }
done
plan=$($RUN "$CASES/efla-d128-bf16.bundle" --bench 8,4096,16 --repeat 1)
grep -qF '"plan": "schedule wide (not few pairs: 256 blocks of at most 64 columns for ' <<< "$plan" &&
  grep -qF "the narrow kernel's 2 waves against the wide kernel's 1); efla grid 128 x 1\"" <<< "$plan" ||
  { echo "FAILED plan (wide): $plan"; status=1; }
echo "== no workspace to be had (DELTART_WORKSPACE=none: its allocation fails as out of memory): unforced, the"
echo "   forward falls back to the wide or narrow kernel (its outputs in the table below: gpu-noworkspace); forced"
echo "   split, it must fail and say why"
for dir in "$CASES"/efla-d128-bf16-varlen "$CASES"/gated_deltanet-d256-bf16-fixed; do
  case=$(basename "$dir"); spec=${case%-fixed}; spec=${spec%-varlen}
  rm -rf "$dir/gpu-noworkspace"
  DELTART_WORKSPACE=none $RUN "$CASES/$spec.bundle" --inputs "$dir/in" --outputs "$dir/gpu-noworkspace" > /dev/null ||
    { echo "FAILED $case (no workspace, unforced)"; status=1; }
  if err=$(DELTART_WORKSPACE=none DELTART_SCHEDULE=split $RUN "$CASES/$spec.bundle" --inputs "$dir/in" 2>&1); then
    echo "FAILED $case (no workspace, split forced: ran)"; status=1
  else
    echo "$case forced split without a workspace: $(echo "$err" | grep -o "the split schedule's workspace[^)]*)" | head -1)"
    echo "$err" | grep -q "split schedule's workspace" || { echo "FAILED $case (no workspace: no message)"; status=1; }
  fi
done
python3 scripts/gpu/compare.py "$CASES" || status=1
echo "== example app (examples/app/efla_gpu_app.c, the kernel embedded in a header)"
cc -std=c11 -O2 -I"$CASES" -Iruntime/include examples/app/efla_gpu_app.c $RT/libdeltart.a -lstdc++ -ldl -lm \
  -o /tmp/efla_gpu_app && /tmp/efla_gpu_app || status=1
echo "== compute-sanitizer (efla-d64-bf16-varlen)"
if command -v compute-sanitizer > /dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 3 $RUN "$CASES/efla-d64-bf16.bundle" --inputs "$CASES/efla-d64-bf16-varlen/in" | tail -2
  echo "memcheck exit ${PIPESTATUS[0]}"
  compute-sanitizer --tool racecheck --error-exitcode 3 $RUN "$CASES/efla-d64-bf16.bundle" --inputs "$CASES/efla-d64-bf16-varlen/in" | tail -2
  echo "racecheck exit ${PIPESTATUS[0]}"
  # sanitize LABEL "TOOLS" CASE[:KIND] [VAR=VALUE ...]: each tool on $CASES/CASE.bundle with the inputs
  # of CASE-KIND (varlen unless said) under the given environment; prints "LABEL TOOL exit RC".
  sanitize() {
    local label=$1 tools=$2 case=${3%:*} kind=varlen tool rc
    [[ $3 == *:* ]] && kind=${3#*:}
    shift 3
    for tool in $tools; do
      env "$@" compute-sanitizer --tool $tool --error-exitcode 3 $RUN "$CASES/$case.bundle" \
        --inputs "$CASES/$case-$kind/in" | tail -1
      rc=${PIPESTATUS[0]}
      echo "$label $tool exit $rc"
      [ "$rc" = 0 ] || status=1
    done
  }
  echo "== compute-sanitizer, the wide kernel at value tile 128 (efla-d128-bf16-varlen)"
  sanitize wide "memcheck racecheck synccheck" efla-d128-bf16 DELTART_SCHEDULE=wide
  echo "== compute-sanitizer, split schedule, both scans (efla-d256-bf16-varlen: value tiles 32 and 64, in the"
  echo "   cubin both the scan on warpgroups at K = 256, S^T's products from its f16 copy;"
  echo "   gated_deltanet-d128-bf16-varlen and efla-d128-bf16-varlen: 16 and 32, in the cubin blocks in"
  echo "   clusters of two; efla-d64-bf16-varlen: 16 and 32; the ungated scans at K <= 128 pass over Delta"
  echo "   once for O and the state, the gated ones do not). racecheck does"
  echo "   not finish on a kernel launched in clusters (measured: over 140 s on B1 T100, where the same scan's"
  echo "   sm_80 PTX form takes 3 s): at K = 128 it checks that form (the same scan without the cluster's"
  echo "   multicast copies), named ptx80 below; memcheck and synccheck check the cubin's"
  echo "== compute-sanitizer, the larger-tile split scan on warpgroups (--wgmma: efla-d128-bf16-wgmma-varlen)"
  sanitize "warpgroup scan" "memcheck racecheck synccheck" efla-d128-bf16-wgmma DELTART_SCHEDULE=split_large \
    DELTART_SEGMENTS=0
  echo "== compute-sanitizer, the split schedule in segments (efla-d128-bf16-varlen, DELTART_SEGMENTS=3)"
  sanitize segments "memcheck synccheck" efla-d128-bf16 DELTART_SCHEDULE=split_large DELTART_SEGMENTS=3
  for c in efla-d256-bf16:varlen gated_deltanet-d128-bf16:varlen efla-d128-bf16:varlen efla-d64-bf16:varlen; do
    bundle=${c%:*}
    for sched in split_small split_large; do
      if [[ $bundle == *d128* ]]; then
        sanitize "$bundle $sched (cubin)" "memcheck synccheck" "$c" DELTART_SCHEDULE=$sched
        sanitize "$bundle $sched (ptx80)" racecheck "$c" DELTART_SCHEDULE=$sched DELTART_PTX=80
      else
        sanitize "$bundle $sched (cubin)" "memcheck racecheck synccheck" "$c" DELTART_SCHEDULE=$sched
      fi
    done
  done
fi
echo "== one bundle's forwards on four streams at once, against one after the other (bit for bit; the four"
echo "   input sets' outputs must differ from each other, sets_alike 0, or the check proves nothing)"
concurrent() {
  DELTART_SCHEDULE=$1 $RUN "$CASES/efla-d128-bf16.bundle" --bench 1,32768,2 --rotate 4 --concurrent --repeat 2 |
    sed "s/^{/{\"schedule\": \"$1\", /"
}
for sched in split_small split_large wide; do
  out=$(concurrent $sched); rc=$?
  echo "$out"
  { [ $rc = 0 ] && echo "$out" | grep -q '"sets_alike": 0'; } || { echo "FAILED concurrent forwards ($sched)"; status=1; }
done
echo "   control: one workspace per bundle (DELTART_WORKSPACE=shared, the path of drivers without memory"
echo "   pools, whose forwards must not overlap): the overlapping forwards are expected to differ"
out=$(DELTART_WORKSPACE=shared concurrent split_small)
echo "$out"
echo "$out" | grep -q '"outputs_differing": 0' && echo "   (they did not: the check did not see a shared workspace)"
echo "== benchmark (deltac kernels; median of 30 after 3 warm-up runs, CUDA events)"
for shape in 8,4096,16 1,32768,16 4,8192,32 2,16384,16; do
  D=128; [ "$shape" = "4,8192,32" ] && D=64; [ "$shape" = "2,16384,16" ] && D=256
  for spec in efla deltanet rk4; do
    $RUN "$CASES/$spec-d$D-bf16.bundle" --bench $shape --repeat 30
  done
  for sched in wide narrow split_small split_large; do
    DELTART_SCHEDULE=$sched $RUN "$CASES/efla-d$D-bf16.bundle" --bench $shape --repeat 30 | sed "s/^{/{\"schedule\": \"$sched\", /"
  done
  DELTART_PTX=80 $RUN "$CASES/efla-d$D-bf16.bundle" --bench $shape --repeat 30 | sed 's/^{/{"form": "sm_80 PTX", /'
  [ -f "$CASES/efla-d$D-bf16-wgmma.bundle" ] &&
    $RUN "$CASES/efla-d$D-bf16-wgmma.bundle" --bench $shape --repeat 30 | sed 's/^{/{"form": "sm_90a wgmma", /'
  if [ $D != 256 ]; then
    $RUN "$CASES/efla-d$D-bf16-phased.bundle" --bench $shape --repeat 30 | sed 's/^{/{"schedule": "phased", /'
    $RUN "$CASES/efla-d$D-bf16-seq.bundle" --bench $shape --repeat 5
  fi
done
exit $status
