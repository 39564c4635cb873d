"""The kernel timeline of deltac forwards, on the GPU machine: each kernel's
start and end (relative to the forward's first kernel) as CUPTI records them
through torch.profiler, for the last three of six forwards after warm-up, so
that kernels running beside each other (the split schedule in segments) show
as they overlap. Random inputs in the bundle's storage type (q, k, v normal,
the extra inputs uniform in [0, 1)), no h0. The runtime is loaded as a shared library:

  g++ -O2 -shared -fPIC -std=c++17 runtime/src/deltart.cpp runtime/src/cuda_driver.cpp \\
      -Iruntime/include -ldl -lpthread -o /tmp/libdeltart.so
  python3 scripts/gpu/timeline.py --lib /tmp/libdeltart.so --shape 1,32768,16 BUNDLE...

The runtime's environment (DELTART_SCHEDULE, DELTART_SEGMENTS, ...) applies.
"""
import argparse, ctypes, json, os, tempfile, time
import torch
from torch.profiler import profile, ProfilerActivity

ap = argparse.ArgumentParser()
ap.add_argument("--lib", required=True, help="libdeltart built as a shared library")
ap.add_argument("--shape", default="1,32768,16", help="B,T,H")
ap.add_argument("bundles", nargs="+")
args = ap.parse_args()

lib = ctypes.CDLL(args.lib)
u64, i64 = ctypes.c_uint64, ctypes.c_int64


class ForwardArgs(ctypes.Structure):  # deltart_forward_args (deltart.h)
    _fields_ = [("q", u64), ("k", u64), ("v", u64), ("inputs", ctypes.POINTER(u64)), ("num_inputs", ctypes.c_size_t),
                ("h0", u64), ("o", u64), ("ht", u64), ("B", i64), ("T", i64), ("H", i64), ("K", i64), ("V", i64),
                ("cu_seqlens", u64), ("N", i64)]


lib.deltart_bundle_manifest.restype = ctypes.c_char_p
lib.deltart_last_error.restype = ctypes.c_char_p
B, T, H = (int(x) for x in args.shape.split(","))
trace = os.path.join(tempfile.mkdtemp(), "trace.json")
for path in args.bundles:
    bundle = ctypes.c_void_p()
    if lib.deltart_bundle_open_file(path.encode(), ctypes.byref(bundle)) != 0:
        raise SystemExit(f"{path}: {lib.deltart_last_error().decode()}")
    K = int(lib.deltart_bundle_manifest(bundle, b"key_dim"))
    V = int(lib.deltart_bundle_manifest(bundle, b"value_dim"))
    names = lib.deltart_bundle_manifest(bundle, b"inputs").decode()
    dtype = lib.deltart_bundle_manifest(bundle, b"dtype")  # (none: f32)
    io = {b"bf16": torch.bfloat16, b"f16": torch.float16}.get(dtype, torch.float32)
    n_in = 0 if names == "-" else len(names.split(","))
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k = (torch.randn(B, T, H, K, device="cuda", generator=g).to(io) for _ in range(2))
    v = torch.randn(B, T, H, V, device="cuda", generator=g).to(io)
    extra = [torch.rand(B, T, H, device="cuda", generator=g).to(io) for _ in range(n_in)]
    o = torch.empty(B, T, H, V, device="cuda", dtype=io)
    ht = torch.empty(B, H, K, V, device="cuda")
    ptrs = (u64 * max(1, n_in))(*[t.data_ptr() for t in extra])
    fa = ForwardArgs(q.data_ptr(), k.data_ptr(), v.data_ptr(), ptrs, n_in, 0, o.data_ptr(), ht.data_ptr(), B, T, H, K,
                     V, 0, B)
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def forward():
        if lib.deltart_forward(bundle, None, ctypes.byref(fa), stream) != 0:
            raise SystemExit(f"{path}: {lib.deltart_last_error().decode()}")

    for _ in range(10):
        forward()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(6):
            forward()
            torch.cuda.synchronize()
            time.sleep(0.002)  # a gap between forwards in the trace
    prof.export_chrome_trace(trace)
    kernels = sorted((e for e in json.load(open(trace))["traceEvents"] if e.get("cat") == "kernel"),
                     key=lambda e: e["ts"])
    # One forward per group of kernels: the pauses between forwards leave gaps of milliseconds.
    groups, end = [], None
    for e in kernels:
        if end is None or e["ts"] - end > 500:
            groups.append([])
            end = e["ts"]
        groups[-1].append(e)
        end = max(end, e["ts"] + e["dur"])
    env = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("DELTART_"))
    print(f"== {os.path.basename(path)} B{B} T{T} H{H} {env}")
    for i, grp in enumerate(groups[-3:]):
        t0 = grp[0]["ts"]
        print(f"  forward {i}: {max(x['ts'] + x['dur'] for x in grp) - t0:.1f} us")
        for e in grp:
            print(f"    {e['name'][:32]:32s} start {e['ts'] - t0:8.1f}  end {e['ts'] + e['dur'] - t0:8.1f}  "
                  f"({e['dur']:.1f} us)")
    lib.deltart_bundle_close(bundle)
