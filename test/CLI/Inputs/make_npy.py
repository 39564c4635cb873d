#!/usr/bin/env python3
"""Writes a small .npy file without numpy: make_npy.py OUT DTYPE SHAPE VALUES

DTYPE: f4, f2, i4, i8; SHAPE: comma-separated (e.g. 1,5,2,16);
VALUES: 'random[:SEED]' (normal floats), or a comma-separated list.
"""
import random
import struct
import sys

out, dtype, shape_s, values = sys.argv[1:5]
shape = [int(x) for x in shape_s.split(",") if x]
count = 1
for d in shape:
    count *= d
if values.startswith("random"):
    seed = int(values.split(":")[1]) if ":" in values else 0
    rng = random.Random(seed)
    data = [rng.gauss(0, 1) if dtype[0] == "f" else rng.randrange(100) for _ in range(count)]
    if values.startswith("random_pos"):
        data = [0.05 + abs(x) % 0.9 for x in data]
else:
    data = [float(x) if dtype[0] == "f" else int(x) for x in values.split(",")]
fmt = {"f4": "<f", "f2": "<e", "i4": "<i", "i8": "<q"}[dtype]
dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
header = "{'descr': '<%s', 'fortran_order': False, 'shape': (%s), }" % (dtype, dims)
header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
with open(out, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    for x in data:
        f.write(struct.pack(fmt, x))
