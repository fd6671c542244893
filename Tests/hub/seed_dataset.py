#!/usr/bin/env python3
"""Seeds dataset repositories into the Hub test double, with the official
client (huggingface_hub + datasets, the test venv), and reads splits back
the way `datasets` does, for load_from_hub's tests.

    seed_dataset.py --endpoint URL --repo ns/name --token T LAYOUT [--rows N] [--private]
    seed_dataset.py --endpoint URL --repo ns/name --token T read --split S [--config C] [--revision R] --out FILE

Layouts:
  parquet       Dataset.from_dict(...).push_to_hub: data/train-00000-of-00001.parquet (+ test), a README
                card whose configs: list the splits (what `datasets` itself writes). --convert adds the
                branch refs/convert/parquet with default/{split}/0000.parquet (a copy, as the Hub's
                converter makes of Parquet sources); --convert-partial makes it default/partial-train/.
  jsonl         JSON Lines by the naming conventions, no card: data/train.jsonl, data/test.jsonl.
  jsonl-sharded data/train-00000-of-00002.jsonl, data/train-00001-of-00002.jsonl (no card).
  configs       A card with two configs (en, default: true; fr) whose data_files are
                {split, path} lists over en/*.jsonl and (data_dir fr) train.jsonl, plus a decoy file no
                config names (`datasets` takes one builder from the first config: all JSON Lines).
  csv           CSV by the naming conventions, no card: train.csv (quoted fields, line breaks, numbers).
  mismatch      data/train-0.jsonl and data/train-1.jsonl whose columns differ (no card).
  convert-jsonl The jsonl layout plus refs/convert/parquet/default/train/0000.parquet written by
                datasets (what the converter does for a JSON Lines source) with the same rows.

`read` writes the split's rows, as `datasets.load_dataset` gives them, one JSON object a line.
Rows are deterministic for a given --rows and --seed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile


def setup_env(endpoint: str) -> str:
    home = tempfile.mkdtemp(prefix="seed-hf-home-")
    os.environ["HF_ENDPOINT"] = endpoint.rstrip("/")
    os.environ["HF_HUB_DISABLE_XET"] = "1"
    os.environ["HF_HOME"] = home
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        os.environ.pop(k, None)
    return home


WORDS = ["alpha", "beta", "gamma", "délta", "épsilon", "ζeta", "eta", "θeta", "iota", "kappa", "日本", "emoji 😀"]


def make_rows(n: int, seed: int, split: str):
    rnd = random.Random(f"{seed}/{split}")
    rows = []
    for i in range(n):
        turns = rnd.randint(1, 3)
        messages = []
        for t in range(turns):
            messages.append({"role": "user", "content": f"{split} q{i}.{t} " + " ".join(rnd.choices(WORDS, k=rnd.randint(1, 12)))})
            messages.append({"role": "assistant", "content": f"a{i}.{t} " + " ".join(rnd.choices(WORDS, k=rnd.randint(2, 30)))})
        rows.append({
            "prompt_id": f"{split}-{i:07d}",
            "prompt": messages[0]["content"],
            "messages": messages,
            "score": None if i % 7 == 3 else round(rnd.uniform(-5, 5), 6),
            "n": i * 1000003 - 5,
            "tags": rnd.sample(WORDS, rnd.randint(0, 3)),
            "ok": i % 3 == 0,
        })
    return rows


def jsonl_bytes(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--token", default="seed-token")
    ap.add_argument("layout", choices=["parquet", "jsonl", "jsonl-sharded", "configs", "csv", "mismatch", "convert-jsonl", "read"])
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--test-rows", type=int, default=None, help="rows of the test split (default: rows/4)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--private", action="store_true")
    ap.add_argument("--convert", action="store_true")
    ap.add_argument("--convert-partial", action="store_true")
    ap.add_argument("--split", default="train")
    ap.add_argument("--config", default=None)
    ap.add_argument("--revision", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    setup_env(a.endpoint)

    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=a.endpoint.rstrip("/"), token=a.token)
    test_rows = a.test_rows if a.test_rows is not None else max(1, a.rows // 4)

    if a.layout == "read":
        import datasets
        ds = datasets.load_dataset(a.repo, a.config, split=a.split, revision=a.revision, token=a.token)
        with open(a.out, "w", encoding="utf-8") as f:
            for row in ds:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"read {len(ds)} rows of {a.repo} split {a.split}")
        return 0

    api.create_repo(a.repo, repo_type="dataset", private=a.private, exist_ok=True)

    def commit(files: dict, message: str, revision: str | None = None):
        ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=io.BytesIO(b)) for p, b in files.items()]
        api.create_commit(a.repo, ops, commit_message=message, repo_type="dataset", revision=revision)

    def parquet_of(rows) -> bytes:
        import datasets
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.parquet")
            datasets.Dataset.from_list(rows).to_parquet(path)
            with open(path, "rb") as f:
                return f.read()

    def convert_branch(files: dict):
        api.create_branch(a.repo, branch="refs/convert/parquet", repo_type="dataset", exist_ok=True)
        commit(files, "Update parquet files", revision="refs/convert/parquet")

    if a.layout == "parquet":
        import datasets
        dd = datasets.DatasetDict({
            "train": datasets.Dataset.from_list(make_rows(a.rows, a.seed, "train")),
            "test": datasets.Dataset.from_list(make_rows(test_rows, a.seed, "test")),
        })
        dd.push_to_hub(a.repo, token=a.token, private=a.private)
        if a.convert or a.convert_partial:
            files = {}
            for split in ("train", "test"):
                for entry in api.list_repo_tree(a.repo, path_in_repo="data", repo_type="dataset"):
                    name = entry.path.rsplit("/", 1)[-1]
                    if name.startswith(split + "-") and name.endswith(".parquet"):
                        from huggingface_hub import hf_hub_download
                        local = hf_hub_download(a.repo, entry.path, repo_type="dataset", token=a.token)
                        with open(local, "rb") as f:
                            folder = f"partial-{split}" if (a.convert_partial and split == "train") else split
                            files[f"default/{folder}/0000.parquet"] = f.read()
            convert_branch(files)
    elif a.layout == "jsonl":
        commit({"data/train.jsonl": jsonl_bytes(make_rows(a.rows, a.seed, "train")),
                "data/test.jsonl": jsonl_bytes(make_rows(test_rows, a.seed, "test")),
                "notes/about.txt.md": b"not data\n"}, "jsonl by conventions")
    elif a.layout == "convert-jsonl":
        rows = make_rows(a.rows, a.seed, "train")
        commit({"data/train.jsonl": jsonl_bytes(rows),
                "data/test.jsonl": jsonl_bytes(make_rows(test_rows, a.seed, "test"))}, "jsonl by conventions")
        convert_branch({"default/train/0000.parquet": parquet_of(rows),
                        "default/test/0000.parquet": parquet_of(make_rows(test_rows, a.seed, "test"))})
    elif a.layout == "jsonl-sharded":
        rows = make_rows(a.rows, a.seed, "train")
        half = len(rows) // 2
        commit({"data/train-00000-of-00002.jsonl": jsonl_bytes(rows[:half]),
                "data/train-00001-of-00002.jsonl": jsonl_bytes(rows[half:]),
                "data/validation-00000-of-00001.jsonl": jsonl_bytes(make_rows(test_rows, a.seed, "validation"))},
               "sharded jsonl")
    elif a.layout == "configs":
        card = """---
license: mit
pretty_name: "Configs: a test"
configs:
- config_name: en
  default: true
  data_files:
  - split: train
    path: "en/train-*.jsonl"   # two files
  - split: test
    path: [en/test.jsonl]
- config_name: fr
  data_dir: fr
  data_files:
    - split: train
      path: train.jsonl
dataset_info:
  features:
  - name: prompt
    dtype: string
---
# Configs

A card with two configs.
"""
        en = make_rows(a.rows, a.seed, "train")
        half = len(en) // 2
        fr = [{"id": i, "texte": f"bonjour, {i} «fois»", "note": i * 0.5} for i in range(a.rows)]
        commit({"README.md": card.encode(),
                "en/train-0.jsonl": jsonl_bytes(en[:half]),
                "en/train-1.jsonl": jsonl_bytes(en[half:]),
                "en/test.jsonl": jsonl_bytes(make_rows(test_rows, a.seed, "test")),
                "fr/train.jsonl": jsonl_bytes(fr),
                "data/train.jsonl": b'{"decoy": true}\n'}, "two configs")
    elif a.layout == "csv":
        lines = ["id,texte,note"] + [f'{i},"bonjour, {i} ""fois""\nligne 2",{i * 0.5 - 3}' for i in range(a.rows)]
        commit({"train.csv": ("\r\n".join(lines) + "\r\n").encode()}, "csv by conventions")
    elif a.layout == "mismatch":
        commit({"data/train-0.jsonl": b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n',
                "data/train-1.jsonl": b'{"a": 3, "b": 4}\n'}, "columns that differ")
    print(f"seeded {a.repo} ({a.layout})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
