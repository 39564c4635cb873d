"""Compares the GPU outputs of every case with the fp64 reference; prints a table.

Each case folder holds ref/ (the reference's o and ht) and one gpu-<schedule>/
folder per schedule it ran under (gpu-wide, gpu-narrow)."""
import json, os, sys
import numpy as np

root = sys.argv[1]
rows, bad = [], 0
for case in sorted(os.listdir(root)):
    d = os.path.join(root, case)
    if not os.path.isdir(d):
        continue
    for out in sorted(x for x in os.listdir(d) if x.startswith("gpu")):
        row = {"case": case + "/" + out[4:]}
        for name in ("o", "ht"):
            x = np.load(os.path.join(d, out, name + ".npy")).astype(np.float64)
            r = np.load(os.path.join(d, "ref", name + ".npy"))
            row[name + "_rel_err"] = float(np.linalg.norm(x - r) / max(np.linalg.norm(r), 1e-300))
            row[name + "_nan"] = bool(np.isnan(x).any())
        # The bound by storage type: 1e-2 for bf16, 5e-3 for f16 (the
        # tensor-core operands are f16 in both, with f32 accumulation).
        bound = 1e-2 if "-bf16-" in case else 5e-3
        row["pass"] = (not row["o_nan"] and not row["ht_nan"] and row["o_rel_err"] <= bound
                       and row["ht_rel_err"] <= bound)
        bad += not row["pass"]
        rows.append(row)
print(f"{'case':36s} {'o rel err':>10s} {'ht rel err':>10s}  NaN  pass")
for r in rows:
    print(f"{r['case']:36s} {r['o_rel_err']:10.2e} {r['ht_rel_err']:10.2e}  {str(r['o_nan'] or r['ht_nan']):5s} {r['pass']}")
print(json.dumps({"cases": len(rows), "failed": bad}))
sys.exit(1 if bad or not rows else 0)
