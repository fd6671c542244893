#!/usr/bin/env python3
"""Scores a dedup run against the planted duplicates of make_rows.py.

    score.py ROWS.jsonl KEPT_IDS.txt   (or an out.jsonl with an "id" per line)

copies_removed, near_removed: the share of planted copies (case or spacing
changed) and near copies (one character changed) left out;
originals removed: rows with no planted source that were left out (false
drops: the random originals share no 5-gram run long enough to be near)."""
import json
import sys

rows, kept_path = sys.argv[1], sys.argv[2]
kept = set()
with open(kept_path) as f:
    for line in f:
        line = line.strip()
        if line:
            kept.add(json.loads(line)["id"] if line.startswith("{") else int(line))
counts = {"copy": [0, 0], "near": [0, 0], "original": [0, 0]}
with open(rows) as f:
    for row in map(json.loads, f):
        counts[row["kind"]][0] += 1
        counts[row["kind"]][1] += row["id"] not in kept
print(json.dumps({"rows": sum(c[0] for c in counts.values()), "kept": len(kept),
                  "copies_removed": round(counts["copy"][1] / max(counts["copy"][0], 1), 4),
                  "near_removed": round(counts["near"][1] / max(counts["near"][0], 1), 4),
                  "originals_removed": counts["original"][1]}))
