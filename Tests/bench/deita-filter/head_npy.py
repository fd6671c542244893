#!/usr/bin/env python3
"""head_npy.py PREFIX N OUT: the first N rows of PREFIX.npy/.jsonl as OUT.npy/.jsonl (no numpy)."""
import ast, os, sys
pre, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if not (os.path.exists(out + ".npy") and os.path.exists(out + ".jsonl")):
    with open(pre + ".npy", "rb") as f:
        head = f.read(10)
        hl = head[8] | head[9] << 8
        hdr = ast.literal_eval(f.read(hl).decode("latin1"))
        assert hdr["descr"] == "<f4" and not hdr["fortran_order"]
        d = hdr["shape"][1]
        data = f.read(4 * d * n)
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (n, d)
    pad = (64 - (10 + len(h) + 1) % 64) % 64
    h = (h + " " * pad + "\n").encode("latin1")
    with open(out + ".npy", "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + bytes([len(h) & 255, len(h) >> 8]) + h + data)
    with open(pre + ".jsonl") as f, open(out + ".jsonl", "w") as g:
        for i, line in enumerate(f):
            if i >= n:
                break
            g.write(line)
