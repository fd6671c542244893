#!/usr/bin/env python3
"""Rows for the dedup benchmark: short texts (10 to 18 random words, about
90 characters), of which 15% repeat an earlier row (case and spacing
changed) and 15% are near duplicates of an earlier row (one character
changed: a typo, character 5-gram Jaccard about 0.85 to 0.9).

    make_rows.py N OUT.jsonl   -> {"id": i, "text": ..., "dup_of": j or -1, "kind": copy|near|original}

Deterministic (seed 0)."""
import json
import random
import sys

n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(0)
letters = "abcdefghijklmnopqrstuvwxyz"
vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(30000)]
bases = []
with open(out, "w") as f:
    for i in range(n):
        kind = rng.random()
        if bases and kind < 0.15:
            j, text = rng.choice(bases)
            text = text.upper() if rng.random() < 0.5 else text.replace(" ", "  ")
            dup_of, what = j, "copy"
        elif bases and kind < 0.30:
            j, text = rng.choice(bases)
            pos = rng.randrange(len(text))
            while text[pos] == " ":
                pos = rng.randrange(len(text))
            text = text[:pos] + rng.choice(letters.replace(text[pos], "")) + text[pos + 1:]
            dup_of, what = j, "near"
        else:
            text = " ".join(rng.choice(vocab) for _ in range(rng.randint(10, 18)))
            bases.append((i, text))
            dup_of, what = -1, "original"
        f.write(json.dumps({"id": i, "text": text, "dup_of": dup_of, "kind": what}) + "\n")
