#!/usr/bin/env python3
"""distilabel 1.5.3's MinHashDedup on the benchmark rows, as its docs show it:
LoadDataFromDicts >> MinHashDedup, then the rows whose
keep_row_after_minhash_filtering is true are the output.

    distilabel_minhash.py ROWS.jsonl KEPT_IDS.txt --tokenizer ngrams --n 5 --threshold 0.8

Prints one line "RESULT {json}" (rows, kept, wall seconds)."""
import argparse
import json
import os
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("rows")
ap.add_argument("kept")
ap.add_argument("--tokenizer", default="ngrams")
ap.add_argument("--n", type=int, default=5)
ap.add_argument("--threshold", type=float, default=0.8)
ap.add_argument("--num-perm", type=int, default=128)
ap.add_argument("--batch-size", type=int, default=1000)
args = ap.parse_args()
os.environ["DISTILABEL_CACHE_DIR"] = tempfile.mkdtemp(prefix="distilabel-cache-")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts, MinHashDedup

start = time.perf_counter()
with open(args.rows) as f:
    rows = [{"id": r["id"], "text": r["text"]} for r in map(json.loads, f)]
with Pipeline(name="dedup-bench") as pipeline:
    load = LoadDataFromDicts(data=rows, batch_size=args.batch_size)
    dedup = MinHashDedup(tokenizer=args.tokenizer, n=args.n, threshold=args.threshold, num_perm=args.num_perm,
                         input_batch_size=args.batch_size)
    load >> dedup

if __name__ == "__main__":
    distiset = pipeline.run(use_cache=False)
    data = distiset["default"]["train"]
    flags = [row["keep_row_after_minhash_filtering"] for row in data]
    if len(data) != len(rows) or any(flag is None for flag in flags):
        raise SystemExit(f"MinHashDedup failed on some batches: {len(data)} rows out of {len(rows)}, "
                         f"{sum(flag is None for flag in flags)} without a verdict")
    kept = [row["id"] for row, flag in zip(data, flags) if flag]
    with open(args.kept, "w") as f:
        f.write("\n".join(map(str, kept)) + "\n")
    print("RESULT " + json.dumps({"rows": len(data), "kept": len(kept), "wall_s": round(time.perf_counter() - start, 2)}),
          flush=True)
