#!/usr/bin/env python3
"""The similarity sweep: of each pair of make_pairs.py, was the second row
dropped? By Jaccard bucket, with recall and precision at THRESHOLD.

    score_pairs.py PAIRS.jsonl KEPT [THRESHOLD]   (KEPT: ids, one a line, or out.jsonl rows with "id")"""
import collections
import json
import sys

threshold = float(sys.argv[3]) if len(sys.argv) > 3 else 0.8
kept = set()
with open(sys.argv[2]) as f:
    for line in f:
        line = line.strip()
        if line:
            kept.add(json.loads(line)["id"] if line.startswith("{") else int(line))
buckets = collections.defaultdict(lambda: [0, 0])
hits = misses = false = 0
with open(sys.argv[1]) as f:
    for row in map(json.loads, f):
        if row["id"] % 2 == 0:
            continue
        dropped = row["id"] not in kept
        key = min(int(row["jaccard"] * 20) / 20, 0.95)
        buckets[key][0] += 1
        buckets[key][1] += dropped
        if row["jaccard"] >= threshold:
            hits += dropped
            misses += not dropped
        else:
            false += dropped
print("  " + ", ".join(f"[{k:.2f},{k + 0.05:.2f}) {d}/{n}" for k, (n, d) in sorted(buckets.items())))
print(f"  at Jaccard >= {threshold}: recall {hits / max(hits + misses, 1):.3f}, precision {hits / max(hits + false, 1):.3f} "
      f"({false} pairs below it dropped, {misses} above it kept)")
