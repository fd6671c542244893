#!/usr/bin/env python3
"""Pairs for the similarity sweep of the dedup benchmark: 3000 random texts
of 25 words, each followed by a copy with 1 to 8 words replaced, so the
pairs' character 5-gram Jaccard similarity spreads from about 0.3 to 1.

    make_pairs.py OUT.jsonl   -> {"id": i, "text": ..., "pair": k, "jaccard": J}

J, computed here exactly on the sets of 5-character substrings, is on both
rows of pair k. Deterministic (seed 1)."""
import json
import random
import sys

rng = random.Random(1)
letters = "abcdefghijklmnopqrstuvwxyz"
vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(3000)]


def shingles(text):
    return {text[i:i + 5] for i in range(len(text) - 4)}


with open(sys.argv[1], "w") as f:
    for pair in range(3000):
        words = [rng.choice(vocab) for _ in range(25)]
        changed = list(words)
        for _ in range(rng.randint(1, 8)):
            changed[rng.randrange(25)] = rng.choice(vocab)
        a, b = " ".join(words), " ".join(changed)
        j = len(shingles(a) & shingles(b)) / len(shingles(a) | shingles(b))
        for k, text in enumerate((a, b)):
            f.write(json.dumps({"id": 2 * pair + k, "text": text, "pair": pair, "jaccard": round(j, 4)}) + "\n")
