#!/usr/bin/env python3
"""distilabel_deita.py PREFIX BUDGET THRESHOLD OUT.jsonl

Runs distilabel 1.5.3's DeitaFiltering (distilabel.steps.DeitaFiltering) directly,
as a step outside a Pipeline, on PREFIX.jsonl (complexity_score -> evol_instruction_score,
quality_score -> evol_response_score) and PREFIX.npy (embedding), and writes the
selected rows' id, deita_score and nearest_neighbor_distance as JSONL.
Run with the venv made by Tests/bench/llm/llm-bench.py (.build/bench-venvs/distilabel).
"""
import json, sys
import numpy as np
from distilabel.steps import DeitaFiltering

pre, budget, thr, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
emb = np.load(pre + ".npy")
rows = []
with open(pre + ".jsonl") as f:
    for i, line in enumerate(f):
        r = json.loads(line)
        rows.append({"id": r["id"], "evol_instruction_score": r["complexity_score"],
                     "evol_response_score": r["quality_score"], "embedding": emb[i].tolist()})
step = DeitaFiltering(data_budget=budget, diversity_threshold=thr)
step.load()
selected = next(step.process(rows))
with open(out, "w") as g:
    for r in selected:
        g.write(json.dumps({"id": r["id"], "deita_score": r["deita_score"],
                            "nearest_neighbor_distance": r["nearest_neighbor_distance"]}) + "\n")
