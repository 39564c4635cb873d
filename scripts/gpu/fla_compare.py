"""FLA's chunk_delta_rule on the same inputs as the DeltaNet and EFLA cases
(bf16, as FLA takes them), against the same fp64 reference our kernels are
checked against. EFLA goes through FLA with alpha = (1 - exp(-beta |k|^2)) /
|k|^2 (the exact flow's step, computed in fp64) passed as beta. Prints one
JSON line per case next to our kernel's error from its run."""
import json, os, re, sys
import numpy as np
import torch
from fla.ops.delta_rule import chunk_delta_rule

root = sys.argv[1] if len(sys.argv) > 1 else "gpu-cases"
dev = torch.device("cuda")


def rel(x, r):
    return float(np.linalg.norm(x - r) / max(np.linalg.norm(r), 1e-300))


for case in sorted(os.listdir(root)):
    m = re.match(r"(efla|deltanet)-d(\d+)-bf16-(fixed|varlen)$", case)
    if not m:
        continue
    spec, d = m.group(1), os.path.join(root, case)
    manifest = open(os.path.join(root, f"{spec}-d{m.group(2)}-bf16.bundle"), "rb").read()
    scale = float(re.search(rb"\nscale ([^\n]+)\n", manifest).group(1))
    ld = lambda n: np.load(os.path.join(d, "in", n + ".npy"))
    q, k, v, beta, h0 = ld("q"), ld("k"), ld("v"), ld("beta"), ld("h0")
    if spec == "efla":
        lam = (k.astype(np.float64) ** 2).sum(-1)
        x = beta.astype(np.float64) * lam
        safe = np.where(lam > 0, lam, 1.0)
        beta = np.where(lam > 0, -np.expm1(-x) / safe, beta.astype(np.float64))
    cu = None
    if os.path.exists(os.path.join(d, "in", "cu_seqlens.npy")):
        cu = torch.tensor(ld("cu_seqlens"), dtype=torch.long, device=dev)
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float32), device=dev).to(torch.bfloat16)
    o, ht = chunk_delta_rule(t(q), t(k), t(v), t(beta), scale=scale,
                             initial_state=torch.tensor(h0, device=dev), output_final_state=True,
                             cu_seqlens=cu)
    ref_o, ref_ht = np.load(os.path.join(d, "ref", "o.npy")), np.load(os.path.join(d, "ref", "ht.npy"))
    ours = {}
    for sched in ("wide", "narrow"):
        p = os.path.join(d, "gpu-" + sched)
        if os.path.isdir(p):
            ours[sched] = {"o": rel(np.load(os.path.join(p, "o.npy")), ref_o),
                           "ht": rel(np.load(os.path.join(p, "ht.npy")), ref_ht)}
    print(json.dumps({"case": case, "fla_o_rel_err": rel(o.float().cpu().numpy(), ref_o),
                      "fla_ht_rel_err": rel(ht.float().cpu().numpy(), ref_ht), "deltac": ours}), flush=True)
