"""The benchmark of the GPU issue, on the GPU machine: our forward kernels
(deltart-run, bf16 storage) and FLA's chunk_delta_rule (bf16) on the same
shapes in one run; CUDA events, median of 30 timed runs after warm-up, three
input sets used in turn; the HBM floor from the measured copy bandwidth.
Writes a markdown entry for bench/RESULTS.md (--out) and prints it.

  python3 scripts/gpu/bench.py --runner DELTART_RUN --cases gpu-cases \\
      --prediction "what you expect" --out entry.md
"""
import argparse, datetime, json, os, subprocess
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--runner", required=True)
ap.add_argument("--cases", default="gpu-cases")
ap.add_argument("--prediction", default="(none given)")
ap.add_argument("--title", default="benchmark")
ap.add_argument("--out", required=True)
ap.add_argument("--forms", default="",
                help="comma-separated bundle suffixes to time beside the default bundles (e.g. -wgmma); "
                     "a shape whose bundle is missing is skipped")
ap.add_argument("--shapes", default="",
                help="semicolon-separated B,T,H,D shapes to time instead of the four of the GPU issue "
                     "(e.g. '8,4096,16,128')")
args = ap.parse_args()
dev = torch.device("cuda")
REPEAT, WARM, SETS = 30, 5, 3


def events(fn_for_set):
    for i in range(WARM):
        fn_for_set(i % SETS)
    torch.cuda.synchronize()
    ts = []
    for i in range(REPEAT):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn_for_set(i % SETS)
        e.record()
        torch.cuda.synchronize()
        ts.append(s.elapsed_time(e))
    return sorted(ts)[len(ts) // 2]


# Copy bandwidth: read + write of a 1 GiB buffer.
x = torch.empty(1 << 29, dtype=torch.bfloat16, device=dev)
y = torch.empty_like(x)
copy_ms = events(lambda i: y.copy_(x))
bandwidth = 2 * x.numel() * 2 / (copy_ms * 1e-3)  # bytes / s
del x, y

from fla.ops.delta_rule import chunk_delta_rule
import fla

rows = []
SHAPES = [(8, 4096, 16, 128), (1, 32768, 16, 128), (4, 8192, 32, 64), (2, 16384, 16, 256)]
if args.shapes:
    SHAPES = [tuple(int(x) for x in s.split(",")) for s in args.shapes.split(";")]
for (B, T, H, D) in SHAPES:
    torch.manual_seed(0)
    sets = []
    for _ in range(SETS):
        q = torch.randn(B, T, H, D, device=dev, dtype=torch.bfloat16)
        k = (torch.randn(B, T, H, D, device=dev) / D ** 0.5).to(torch.bfloat16)
        v = torch.randn(B, T, H, D, device=dev, dtype=torch.bfloat16)
        beta = torch.rand(B, T, H, device=dev, dtype=torch.bfloat16)
        sets.append((q, k, v, beta))
    fla_ms = events(lambda i: chunk_delta_rule(*sets[i], scale=D ** -0.5))
    del sets
    torch.cuda.empty_cache()
    floor_ms = B * T * H * (4 * D + 1) * 2 / bandwidth * 1e3
    for form in [""] + [f for f in args.forms.split(",") if f]:
      for spec in ("deltanet", "efla", "rk4"):
        bundle = f"{args.cases}/{spec}-d{D}-bf16{form}.bundle"
        if form and not os.path.exists(bundle):
            continue
        out = subprocess.run([args.runner, bundle, "--bench", f"{B},{T},{H}",
                              "--repeat", str(REPEAT), "--rotate", str(SETS)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"deltart-run failed for {spec}{form}: {out.stderr}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        assert r["nan_outputs"] == 0, r
        rows.append((spec + form, B, T, H, D, r["ms_median"], fla_ms, floor_ms))
        print(f"B{B} T{T} H{H} D{D} {spec}{form}: deltac {r['ms_median']:.3f} ms, FLA {fla_ms:.3f} ms", flush=True)

gpu = torch.cuda.get_device_name()
lines = [f"\n## {datetime.date.today().isoformat()} — {args.title} (scripts/gpu/bench.py)\n",
         f"{gpu}; FLA {fla.__version__}, PyTorch {torch.__version__}; bf16 inputs for both; median of "
         f"{REPEAT} after {WARM} warm-up runs, {SETS} input sets in turn; copy bandwidth "
         f"{bandwidth / 1e12:.2f} TB/s, HBM floor = bytes of q, k, v, beta read and o written / that.\n",
         f"Prediction before the change: {args.prediction}\n",
         "| spec | B | T | H | D | deltac ms | FLA ms | FLA / deltac | HBM floor ms | deltac / floor |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for spec, B, T, H, D, ours, theirs, floor in rows:
    lines.append(f"| {spec} | {B} | {T} | {H} | {D} | {ours:.3f} | {theirs:.3f} | {theirs / ours:.2f}x | "
                 f"{floor:.3f} | {ours / floor:.1f}x |")
byshape = {}
for spec, B, T, H, D, ours, *_ in rows:
    byshape.setdefault((B, T, H, D), {})[spec] = ours
for form in [""] + [f for f in args.forms.split(",") if f]:
    lines.append(f"\nEFLA vs DeltaNet{form and ' (' + form.lstrip('-') + ')'}: " + ", ".join(
        f"B{B} T{T} H{H} D{D} {100 * (s['efla' + form] / s['deltanet' + form] - 1):+.1f}%"
        for (B, T, H, D), s in byshape.items() if 'efla' + form in s and 'deltanet' + form in s))
text = "\n".join(lines) + "\n"
open(args.out, "w").write(text)
print(text)
