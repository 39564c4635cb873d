"""FLA's chunk_delta_rule forward at the benchmark shapes (bf16, CUDA events,
median of 30 after warm-up), printed as JSON lines next to deltart-run's."""
import json
import torch
from fla.ops.delta_rule import chunk_delta_rule

dev = torch.device("cuda")


def bench(fn, warm=5, rep=30):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(rep):
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        ts.append(s.elapsed_time(e))
    ts.sort()
    return ts[len(ts) // 2]


for (B, T, H, D) in [(8, 4096, 16, 128), (1, 32768, 16, 128), (4, 8192, 32, 64), (2, 16384, 16, 256)]:
    torch.manual_seed(0)
    q = torch.randn(B, T, H, D, device=dev, dtype=torch.bfloat16)
    k = (torch.randn(B, T, H, D, device=dev) / D ** 0.5).to(torch.bfloat16)
    v = torch.randn(B, T, H, D, device=dev, dtype=torch.bfloat16)
    beta = torch.rand(B, T, H, device=dev, dtype=torch.bfloat16)
    ms = bench(lambda: chunk_delta_rule(q, k, v, beta, scale=D ** -0.5))
    print(json.dumps({"fla": "chunk_delta_rule", "B": B, "T": T, "H": H, "D": D, "ms_median": ms}), flush=True)
