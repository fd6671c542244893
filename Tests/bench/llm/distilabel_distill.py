#!/usr/bin/env python3
"""The distillation job of pipelines/distill.yaml in distilabel 1.5.3 (the peer
side of distill-bench.py): two teachers answer every prompt twice, then
UltraFeedback (overall-rating) rates the four answers of each prompt.

  LoadDataFromDicts ─┬─ TextGeneration(teacher-a, num_generations=2) ─┐
                     └─ TextGeneration(teacher-b, num_generations=2) ─┴─ GroupColumns ─ flatten ─ UltraFeedback(judge)

Each task has its own OpenAILLM at `--input-batch-size` requests in flight
(the batch is sent with asyncio.gather), as each of our LLMs has its own
max_concurrency. OpenAILLM asks for both generations in one request (n=2),
and UltraFeedback rates all four answers of a prompt in one request.

Run with the bench venv's python:
  python distilabel_distill.py --data rows.jsonl --base-url http://127.0.0.1:8000/v1 --input-batch-size 50

Prints one line "RESULT {json}": rows, wall time of pipeline.run(), how many
generations and ratings came back as null (a rating is null when the judge's
answer has no "Rating: n / Rationale: ..." section for it).
"""

import argparse
import json
import os
import sys
import tempfile
import time

T_START = time.perf_counter()
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from distilabel.models import OpenAILLM  # noqa: E402
from distilabel.pipeline import Pipeline  # noqa: E402
from distilabel.steps import GroupColumns, LoadDataFromDicts, StepInput, StepOutput, step  # noqa: E402
from distilabel.steps.tasks import TextGeneration, UltraFeedback  # noqa: E402

T_IMPORT = time.perf_counter()


# GroupColumns gives [[a1, a2], [b1, b2]]; UltraFeedback wants one list of answers.
@step(inputs=["generations", "model_names"], outputs=["generations", "models"])
def FlattenAnswers(inputs: StepInput) -> StepOutput:
    for row in inputs:
        answers, models = [], []
        for generations, model in zip(row["generations"], row["model_names"]):
            answers.extend(generations)
            models.extend([model] * len(generations))
        row["generations"] = answers
        row["models"] = models
    yield inputs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="JSONL rows with an `instruction` column")
    ap.add_argument("--n", type=int, default=None, help="the first N rows only")
    ap.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    ap.add_argument("--teacher-a", default="teacher-a")
    ap.add_argument("--teacher-b", default="teacher-b")
    ap.add_argument("--judge", default="judge")
    ap.add_argument("--input-batch-size", type=int, default=50)
    ap.add_argument("--out", default=None, help="optional JSONL of the rated rows")
    ap.add_argument("--cache-dir", default=None, help="DISTILABEL_CACHE_DIR (default: a fresh temporary one)")
    args = ap.parse_args()

    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="distilabel-cache-")
    os.environ["DISTILABEL_CACHE_DIR"] = cache_dir


    rows = []
    with open(args.data, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append({"instruction": json.loads(line)["instruction"]})
            if args.n is not None and len(rows) >= args.n:
                break
    n = len(rows)

    def llm(model: str) -> OpenAILLM:
        return OpenAILLM(model=model, base_url=args.base_url, api_key="x")

    teacher_kwargs = {"generation_kwargs": {"temperature": 0.8, "max_new_tokens": 512}}
    with Pipeline(name="bench-distill", cache_dir=cache_dir) as pipeline:
        load = LoadDataFromDicts(name="load", data=rows, batch_size=args.input_batch_size)
        teachers = [
            TextGeneration(name=name, llm=llm(model), num_generations=2, group_generations=True,
                           input_batch_size=args.input_batch_size)
            for name, model in (("teacher_a", args.teacher_a), ("teacher_b", args.teacher_b))
        ]
        both = GroupColumns(name="both", columns=["generation", "model_name"],
                            output_columns=["generations", "model_names"])
        answers = FlattenAnswers(name="answers")
        rate = UltraFeedback(name="rate", llm=llm(args.judge), aspect="overall-rating",
                             input_batch_size=args.input_batch_size)
        load >> teachers >> both >> answers >> rate

    t0 = time.perf_counter()
    distiset = pipeline.run(
        parameters={
            "teacher_a": {"llm": teacher_kwargs},
            "teacher_b": {"llm": teacher_kwargs},
            "rate": {"llm": {"generation_kwargs": {"temperature": 0.0}}},
        },
        use_cache=False,
    )
    t1 = time.perf_counter()

    ds = distiset["default"]["train"]
    out_rows = ds.to_list()
    generations = [g for r in out_rows for g in (r.get("generations") or [])]
    ratings = [x for r in out_rows for x in (r.get("ratings") or [])]
    if args.out:
        ds.to_json(args.out)
    result = {
        "bench": "distill",
        "rows_in": n,
        "rows_out": len(out_rows),
        "generations": len(generations),
        "null_generations": sum(1 for g in generations if g is None),
        "ratings": len(ratings),
        "null_ratings": sum(1 for x in ratings if x is None),
        "rows_with_all_ratings": sum(
            1 for r in out_rows
            if r.get("ratings") and len(r["ratings"]) == len(r.get("generations") or [])
            and all(x is not None for x in r["ratings"])),
        "judge_answer_sample": (out_rows[0].get("distilabel_metadata") or {}).get("raw_output_rate") if out_rows else None,
        "import_s": round(T_IMPORT - T_START, 3),
        "run_s": round(t1 - t0, 3),
        "total_s": round(time.perf_counter() - T_START, 3),
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0 if len(out_rows) == n and result["null_generations"] == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
