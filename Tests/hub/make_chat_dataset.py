#!/usr/bin/env python3
"""Writes pipelines/hub-datasets/ultrachat-mini: a small chat dataset laid out
as HuggingFaceH4/ultrachat_200k is on the Hub (a README card whose `configs`
name the splits, Parquet shards written by `datasets`, columns `prompt`,
`prompt_id`, `messages` = list of {content, role}), which `make run` serves
from the in-project Hub double for pipelines/ultrachat-sft.yaml.

The conversations are ours, written for this file. Run with the test venv:
  .build/test-venv/bin/python Tests/hub/make_chat_dataset.py
"""
import hashlib
import os
import sys

import datasets

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "pipelines", "hub-datasets", "ultrachat-mini")

CHATS = [
    [("How do I keep basil alive indoors?", "Give it a sunny window, water when the top soil is dry, and pinch off flower buds."),
     ("Why pinch the flowers?", "Once basil flowers, the plant puts its energy into seeds and the leaves turn bitter.")],
    [("Explain what a hash table is in two sentences.", "A hash table stores values in an array at positions computed from their keys. Lookups are fast because the position is computed, not searched for.")],
    [("Suggest a name for a bakery that sells only sourdough.", "Slow Rise Bakery.")],
    [("What is the difference between weather and climate?", "Weather is the state of the atmosphere over hours or days; climate is its average over decades."),
     ("Is one cold winter evidence against warming?", "No: one season is weather. Climate trends show in long averages over many places.")],
    [("Write a haiku about a train station at night.", "Empty platform hum\nthe last train's lights fade away\nmoths circle the clock")],
    [("How many minutes are in a week?", "10,080: 7 days x 24 hours x 60 minutes.")],
    [("Translate 'good morning' into French and Spanish.", "French: bonjour. Spanish: buenos días.")],
    [("Give me three tips for a first 10 km run.", "Start slower than you think, drink before you are thirsty, and keep the last kilometre for speeding up.")],
    [("What does HTTP status 404 mean?", "The server found no resource at that URL."),
     ("And 410?", "Gone: the resource existed but was removed on purpose and will not come back.")],
    [("Summarise the water cycle for a child.", "The sun warms water so it rises as vapour, it cools into clouds, and it falls back as rain.")],
    [("Is a tomato a fruit?", "Botanically yes, it grows from the flower and holds seeds; in cooking it is treated as a vegetable.")],
    [("Recommend a board game for two players.", "Patchwork: short, easy to learn, and still full of choices.")],
]


def rows():
    for chat in CHATS:
        prompt = chat[0][0]
        messages = []
        for user, assistant in chat:
            messages.append({"content": user, "role": "user"})
            messages.append({"content": assistant, "role": "assistant"})
        yield {"prompt": prompt, "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(), "messages": messages}


CARD = """---
configs:
- config_name: default
  data_files:
  - split: train_sft
    path: data/train_sft-*
  - split: test_sft
    path: data/test_sft-*
---
# ultrachat-mini

A few chat conversations laid out as HuggingFaceH4/ultrachat_200k is on the
Hub (splits `train_sft` and `test_sft`; columns `prompt`, `prompt_id`,
`messages`), for pipeline's demo and tests. Written by
Tests/hub/make_chat_dataset.py.
"""


def main() -> int:
    all_rows = list(rows())
    os.makedirs(os.path.join(OUT, "data"), exist_ok=True)
    splits = {"train_sft": all_rows[:9], "test_sft": all_rows[9:]}
    for split, part in splits.items():
        ds = datasets.Dataset.from_list(part)
        path = os.path.join(OUT, "data", f"{split}-00000-of-00001.parquet")
        ds.to_parquet(path)
        print(f"{path}: {len(part)} rows")
    with open(os.path.join(OUT, "README.md"), "w", encoding="utf-8") as f:
        f.write(CARD)
    return 0


if __name__ == "__main__":
    sys.exit(main())
