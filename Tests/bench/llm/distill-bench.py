#!/usr/bin/env python3
"""Distillation benchmark: our pipelines/distill.yaml beside distilabel 1.5.3 on the same job.

The same job for both tools, against the same server (our llm-test-server,
--latency-ms L, a fresh one per measured run): N prompts (peer-bench's
make_data.py --seed 0), two teachers answering each prompt twice, a judge
rating the four answers, at most C requests in flight per model.

  ours        pipeline run pipelines/distill.yaml --run-dir DIR --no-llm-cache --log-format json
              --param load.path=PROMPTS.jsonl (the rows with an `id` added, which the
              join of the two teachers keys on), with LLM_BASE_URL and LLM_MAX_CONCURRENCY=C;
              then best-of-n, quality filter, dedup, SFT and DPO files
  distilabel  Tests/bench/llm/distilabel_distill.py in the bench venv (.build/bench-venvs/distilabel):
              TextGeneration x 2 (num_generations=2) + GroupColumns + UltraFeedback
              (overall-rating), --input-batch-size C

Requests per prompt differ, and each tool is held to its own floor:
  ours        4 teacher requests (2 per teacher, one per seed) + 4 judge requests
              (one per answer): 8N
  distilabel  2 teacher requests (OpenAILLM asks for both generations with n=2) +
              1 UltraFeedback request rating all four answers: 3N

The latency floor of a run: each prompt needs two sequential rounds (a
teacher, then the judge), so no run beats 2 x L; and with C requests in
flight at most, R requests take at least R / C x L. The floor is the larger
of the two. C is per model in both tools (our max_concurrency is per LLM,
LLM_MAX_CONCURRENCY sets all three; each distilabel task has its own batch
in flight), so the two teachers and the judge may overlap and the floor is
max(2 x L, R_busiest model / C x L). The table also shows the stricter
max(2 x L, R_all / C x L), the floor had C held all requests together, which
a run with three models of C each can beat.

llm-test-server rates both judges' prompts: ours by their section markers,
UltraFeedback's by its "<text 1>" ... "<text N>" texts after its output
format, answered with the "#### Output for Text i / Rating: r / Rationale: ..."
block per text (a seeded 1-5) that distilabel's parser reads. So both tools
do the same work: every answer rated. A null distilabel rating fails the
run's checks; the table counts them.

Measurement is llm-bench.py's (imported): wall fork-to-reap, CPU and peak RSS
from wait4 rusage, process tree PSS sampled from /proc, held under the shared
/tmp/bench.lock.

Usage (system python3):
  python3 Tests/bench/llm/distill-bench.py --bin-dir .build/release        # N=2000, both tools
  python3 Tests/bench/llm/distill-bench.py --tools ours --n 200            # ours only
Writes .build/bench-results/distill.json; prints a markdown table.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("llm_bench", os.path.join(HERE, "llm-bench.py"))
lb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lb)
ROOT = lb.ROOT
LABELS = {"ours": "pipeline (ours)", "distilabel": "distilabel 1.5.3"}
log = lb.log

# Requests per prompt to each model, by tool (see the header).
PER_PROMPT = {"ours": {"teacher-a": 2, "teacher-b": 2, "judge": 4},
              "distilabel": {"teacher-a": 1, "teacher-b": 1, "judge": 1}}
ROUNDS = 2  # a teacher, then the judge


def floors(tool: str, args) -> dict:
    """The latency floor (seconds) of one tool's run, C per model, and the one had C held all requests."""
    per_model = {m: k * args.n for m, k in PER_PROMPT[tool].items()}
    latency = args.latency_ms / 1000
    total = sum(per_model.values())
    return {"requests": total,
            "floor_per_model_s": max(ROUNDS * latency, max(per_model.values()) / args.concurrency * latency),
            "floor_s": max(ROUNDS * latency, total / args.concurrency * latency)}


def with_ids(src: str, dst: str) -> str:
    """The prompt rows with an `id` (1...N), which distill.yaml's join keys on."""
    if not os.path.exists(dst):
        tmp = dst + ".tmp"
        with open(src, encoding="utf-8") as f, open(tmp, "w", encoding="utf-8") as out:
            for i, line in enumerate(f):
                if line.strip():
                    out.write(json.dumps({"id": i + 1, "instruction": json.loads(line)["instruction"]}) + "\n")
        os.replace(tmp, dst)
    return dst


def count_lines(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def check_ours(run_dir: str, record: dict, problems: list[str], n: int) -> None:
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            s = json.load(f)
        record["inside"] = {key: s.get(key) for key in ("status", "seconds", "cpu_seconds", "row_errors", "peak_rss_bytes")}
    result = {}
    for name in ("sft", "dpo"):
        path = os.path.join(run_dir, name + ".jsonl")
        if os.path.exists(path):
            result[name + "_rows"] = count_lines(path)
        else:
            problems.append(f"no output file {name}.jsonl")
    sft = os.path.join(run_dir, "sft.jsonl")
    if os.path.exists(sft):
        bad = sum(1 for r in lb.read_jsonl(sft) if not isinstance(r.get("messages"), list) or len(r["messages"]) < 2)
        result["sft_rows_without_messages"] = bad
        if bad:
            problems.append(f"{bad} SFT rows without a messages list")
        if not 0 < result["sft_rows"] <= n:
            problems.append(f"{result['sft_rows']} SFT rows, expected 1..{n}")
    errors = os.path.join(run_dir, "errors.jsonl")
    result["error_rows"] = count_lines(errors) if os.path.exists(errors) else 0
    if result["error_rows"]:
        problems.append(f"{result['error_rows']} rows in errors.jsonl")
    record["bench_result"] = result


def run_once(tool: str, rep: int, args, ctx: dict) -> dict:
    work = ctx["work"]
    tag = f"{tool}-n{args.n}-r{rep}"
    log_path = os.path.join(work, tag + ".log")
    server = lb.Server(ctx["server_bin"], args.latency_ms, os.path.join(work, tag + ".server.log"))
    scratch = tempfile.mkdtemp(prefix=tag + "-", dir=work)
    env = dict(os.environ)
    record: dict = {"tool": tool, "rep": rep, "n": args.n, "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    record.update(floors(tool, args))
    n = args.n
    try:
        if tool == "ours":
            run_dir = os.path.join(scratch, "run")
            cmd = [ctx["pipeline_bin"], "run", ctx["pipeline_file"], "--run-dir", run_dir,
                   "--no-llm-cache", "--log-format", "json", "--param", f"load.path={ctx['data_ids']}", *args.ours_flag]
            env.update(LLM_BASE_URL=server.base_url, LLM_MAX_CONCURRENCY=str(args.concurrency))
            env["PIPELINE_PLUGIN_PATH"] = env.get("PIPELINE_PLUGIN_PATH") or os.path.join(ctx["bin_dir"], "pipeline-plugins")
        else:
            run_dir = None
            cmd = [ctx["venv_py"], os.path.join(HERE, "distilabel_distill.py"), "--data", ctx["data"],
                   "--n", str(n), "--base-url", server.base_url, "--input-batch-size", str(args.concurrency),
                   "--cache-dir", os.path.join(scratch, "cache")]
        record["cmd"] = cmd
        record["env"] = {key: env[key] for key in env if key.startswith(("LLM_", "PIPELINE_"))}
        busy0, srv0 = lb._machine_busy_s(), server.cpu_s()
        record.update(lb.measure(cmd, log_path, env, ROOT, args.timeout, args.sample_s))
        srv1, busy1 = server.cpu_s(), lb._machine_busy_s()
        try:
            stats = server.stats()
        except OSError as e:
            stats = {}
            record["stats_error"] = str(e)
        record["server"] = stats
        record["chat_requests"] = (stats.get("by_endpoint") or {}).get("chat")
        record["by_kind"] = stats.get("by_kind")
        record["max_inflight"] = stats.get("max_inflight")
        record["server_cpu_s"] = round(srv1 - srv0, 3)
        record["other_cpu_s"] = round(max(0.0, (busy1 - busy0) - record["cpu_s"] - (srv1 - srv0)), 3)
        record["prompts_per_s"] = round(n / record["wall_s"], 2) if record["wall_s"] else None

        problems: list[str] = []
        if record["timed_out"]:
            problems.append(f"killed after {args.timeout:g} s")
        if record["exit_code"] != 0:
            problems.append(f"exit code {record['exit_code']}")
        if record["chat_requests"] != record["requests"]:
            problems.append(f"server saw {record['chat_requests']} chat requests, expected {record['requests']}")
        # The server classifies UltraFeedback's prompt as a judge prompt.
        want_kinds = {"answer": 4 * n, "judge": 4 * n} if tool == "ours" else {"answer": 2 * n, "judge": n}
        if record["by_kind"] != want_kinds:
            problems.append(f"by_kind {record['by_kind']} != expected {want_kinds}")
        by_status = stats.get("by_status") or {}
        if set(by_status) - {"200"}:
            problems.append(f"non-200 answers: {by_status}")
        if tool == "ours":
            check_ours(run_dir, record, problems, n)
        else:
            record["bench_result"] = lb.result_line(log_path)
            r = record["bench_result"]
            if r is None:
                problems.append("no RESULT line")
            else:
                r.pop("judge_answer_sample", None)
                if r.get("rows_out") != n:
                    problems.append(f"{r.get('rows_out')} rows out, expected {n}")
                if r.get("generations") != 4 * n or r.get("null_generations"):
                    problems.append(f"{r.get('generations')} generations ({r.get('null_generations')} null), expected {4 * n}")
                if r.get("ratings") != 4 * n or r.get("null_ratings"):
                    problems.append(f"{r.get('ratings')} ratings ({r.get('null_ratings')} null), expected {4 * n}")
        record["ok"] = not problems
        record["problems"] = problems
        if problems:
            record["log_tail"] = open(log_path, errors="replace").read()[-3000:]
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return record


def fmt(values, digits=2):
    return lb.fmt_range(values, digits)


def table(records: list[dict], tools: list[str]) -> str:
    groups = {t: [r for r in records if r["tool"] == t] for t in tools}
    rows = ["| | " + " | ".join(LABELS[t] for t in tools) + " |", "|---|" + "---|" * len(tools)]

    def line(name, fn):
        rows.append(f"| {name} | " + " | ".join(fn(groups[t]) if groups[t] else "–" for t in tools) + " |")

    ok = lambda g: [r for r in g if r["ok"]] or g  # noqa: E731
    line("wall s, process", lambda g: "**" + fmt([r["wall_s"] for r in ok(g)]) + "**")
    line("requests (chat, seen by the server)", lambda g: ", ".join(str(r.get("chat_requests")) for r in g))
    line("latency floor s, C per model: max(2 L, busiest model's requests / C x L)",
         lambda g: f"{g[0]['floor_per_model_s']:.2f}")
    line("wall / floor", lambda g: "**" + fmt([r["wall_s"] / r["floor_per_model_s"] for r in ok(g)]) + "×**")
    line("floor s had C held all requests: max(2 L, requests / C x L)", lambda g: f"{g[0]['floor_s']:.2f}")
    line("wall / that floor", lambda g: fmt([r["wall_s"] / r["floor_s"] for r in ok(g)]) + "×")
    line("CPU s, user+sys (wait4)", lambda g: fmt([r["cpu_s"] for r in ok(g)]))
    line("peak RSS MB, largest process (wait4)", lambda g: fmt([r["max_rss_mb"] for r in ok(g)], 1))
    line("peak PSS MB, process tree (sampled)", lambda g: fmt([r["tree_peak_pss_mb"] for r in ok(g)], 1)
         + f" ({max(r['max_procs'] for r in g)} procs)")
    line("in-process run s (summary.json / RESULT run_s)",
         lambda g: fmt([((r.get("inside") or {}).get("seconds") if r["tool"] == "ours"
                         else (r.get("bench_result") or {}).get("run_s")) for r in ok(g)]))
    line("server peak in-flight", lambda g: ", ".join(str(r.get("max_inflight")) for r in g))

    def outputs(g):
        out = []
        for r in g:
            b = r.get("bench_result") or {}
            if r["tool"] == "ours":
                out.append(f"{b.get('sft_rows')} SFT, {b.get('dpo_rows')} DPO")
            else:
                out.append(f"{b.get('rows_out')} rated rows, {b.get('null_ratings')}/{b.get('ratings')} ratings null")
        return "; ".join(out)
    line("output", outputs)
    line("server CPU s", lambda g: fmt([r.get("server_cpu_s") for r in g]))
    line("other CPU s on the machine meanwhile", lambda g: fmt([r.get("other_cpu_s") for r in g]))
    line("checks passed", lambda g: f"{sum(r['ok'] for r in g)}/{len(g)}")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, ".build", "release"),
                    help="where pipeline, llm-test-server and pipeline-plugins/ are")
    ap.add_argument("--pipeline-file", default=os.path.join(ROOT, "pipelines", "distill.yaml"))
    ap.add_argument("--tools", default="ours,distilabel")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=50, help="requests in flight per model")
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--ours-flag", action="append", default=[],
                    help="extra argument for our `pipeline run` (repeatable)")
    ap.add_argument("--peer-bench", default=os.path.join(ROOT, "..", "shared", "peer-bench"))
    ap.add_argument("--venvs", default=os.path.join(ROOT, ".build", "bench-venvs"))
    ap.add_argument("--out", default=os.path.join(ROOT, ".build", "bench-results", "distill.json"))
    ap.add_argument("--work", default=os.path.join(ROOT, ".build", "bench-results", "distill-work"))
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--sample-s", type=float, default=0.25)
    ap.add_argument("--lock", default="/tmp/bench.lock")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if set(tools) - set(LABELS):
        ap.error(f"unknown tools {sorted(set(tools) - set(LABELS))}")
    bin_dir = os.path.abspath(args.bin_dir)
    peer_dir = os.path.abspath(args.peer_bench)
    ctx = {"bin_dir": bin_dir, "pipeline_bin": os.path.join(bin_dir, "pipeline"),
           "server_bin": os.path.join(bin_dir, "llm-test-server"),
           "pipeline_file": os.path.abspath(args.pipeline_file)}
    for key in ("pipeline_bin", "server_bin"):
        if not os.access(ctx[key], os.X_OK):
            log(f"missing {ctx[key]}: build it first")
            return 2
    skipped = {}
    if "distilabel" in tools:
        lock = os.path.join(peer_dir, "requirements.lock.txt")
        if not os.path.exists(lock):
            skipped["distilabel"] = f"{lock} not found"
        else:
            py = lb.ensure_venv(os.path.join(args.venvs, "distilabel"), lock)
            if py is None:
                skipped["distilabel"] = "its venv could not be installed"
            else:
                ctx["venv_py"] = py
        if "distilabel" in skipped:
            log(f"!! distilabel skipped: {skipped['distilabel']}")
            tools.remove("distilabel")

    os.makedirs(args.work, exist_ok=True)
    ctx["work"] = os.path.abspath(args.work)
    ctx["data"], data_source = lb.make_data(peer_dir, args.n, os.path.join(ctx["work"], f"instructions_{args.n}.jsonl"))
    ctx["data_ids"] = with_ids(ctx["data"], os.path.join(ctx["work"], f"prompts_{args.n}_ids.jsonl"))

    lock_file = None
    if args.lock:
        lock_file = open(args.lock, "a")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"== waiting for {args.lock} (another benchmark is measuring)")
            fcntl.flock(lock_file, fcntl.LOCK_EX)

    log(f"== distillation benchmark: N={args.n} prompts x 2 teachers x 2 answers + a judge, {args.concurrency} in flight "
        f"per model, {args.latency_ms:g} ms latency; tools {tools} x {args.reps}")
    records = []
    for rep in range(1, args.reps + 1):
        for tool in tools:
            r = run_once(tool, rep, args, ctx)
            records.append(r)
            log(f"   {tool:<10} r{rep}: wall {r['wall_s']:.2f} s (floor {r['floor_per_model_s']:.2f} s), CPU {r['cpu_s']:.2f} s, "
                f"RSS {r['max_rss_mb']:.1f} MB, {r.get('chat_requests')} requests, peak in-flight {r.get('max_inflight')}"
                + ("" if r["ok"] else f"  FAILED: {'; '.join(r['problems'])}"))
    if lock_file:
        lock_file.close()

    print(f"\n### Distillation: N={args.n} prompts, 2 teachers x 2 answers, a judge rating each answer; "
          f"at most {args.concurrency} in flight per model, {args.latency_ms:g} ms per request, "
          f"llm-test-server (a fresh one per run), {args.reps} rep{'s' if args.reps > 1 else ''} each\n")
    print(table(records, tools))
    ours = lb.med([r["wall_s"] for r in records if r["tool"] == "ours" and r["ok"]])
    peer = lb.med([r["wall_s"] for r in records if r["tool"] == "distilabel" and r["ok"]])
    if ours and peer:
        print(f"\ndistilabel wall / ours: {peer / ours:.1f}× (requests per prompt: ours "
              f"{sum(PER_PROMPT['ours'].values())}, distilabel {sum(PER_PROMPT['distilabel'].values())})")
    failed = [r for r in records if not r["ok"]]
    for r in failed:
        print(f"\n{r['tool']} r{r['rep']} FAILED: {'; '.join(r['problems'])}\n{r.get('log_tail', '')[-1500:]}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    doc = {"config": dict(vars(args)) | {"data": data_source, "nproc": os.cpu_count()},
           "skipped": skipped, "runs": records}
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, args.out)
    print(f"\nresults: {os.path.relpath(os.path.abspath(args.out), os.getcwd())}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
