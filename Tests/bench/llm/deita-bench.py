#!/usr/bin/env python3
"""DEITA benchmark: our pipelines/deita.yaml beside distilabel 1.5.3's DEITA pipeline.

The same job for both tools, against the same server (our llm-test-server,
--latency-ms L --embed-dim 384, a fresh one per measured run; it classifies
the DEITA prompts of both tools): N seed instructions (peer-bench's
make_data.py --seed 0), k evolution rounds, at most C chat requests in flight,
then embeddings of the (k+1)^2 candidates per seed and DEITA filtering with
distilabel's bench settings (data_budget 500, diversity_threshold 0.04).

  ours        pipeline run pipelines/deita.yaml --run-dir DIR --no-llm-cache --log-format json
              --param load.path=SEEDS.jsonl, with LLM_BASE_URL, DEITA_K, DEITA_BUDGET,
              DEITA_THRESHOLD, DEITA_DIMENSIONS=384, LLM_MAX_CONCURRENCY=C
  distilabel  ../shared/peer-bench/bench_deita.py in its venv (.build/bench-venvs/distilabel),
              --evolutions k --input-batch-size C --data-budget B --diversity-threshold T
              (its default env in peer-bench's recorded runs: OPENBLAS_CORETYPE=Zen)

Work per seed: (k+1)(k+3) chat requests ((2k+1) evol_instruction + answer,
1 complexity_score, k(k+1) evol_response, (k+1) quality_score) and (k+1)^2
embedding inputs. Both tools are checked against the server's /stats
(by_kind counts, every answer a 200) and their outputs (rows = min(B, N(k+1)^2)).

Measurement is llm-bench.py's (imported): wall fork-to-reap, CPU and peak RSS
from wait4 rusage, process tree PSS sampled from /proc, held under the shared
/tmp/bench.lock.

Usage (system python3):
  python3 Tests/bench/llm/deita-bench.py --bin-dir .build/release                 # N=1000: k=3 both, k=5 ours
  python3 Tests/bench/llm/deita-bench.py --tools ours --k 3,5 --reps 1            # ours only
Writes .build/bench-results/deita.json; prints a markdown table.
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


def expected_kinds(n: int, k: int) -> dict:
    return {"evol_instruction": n * k, "answer": n * (k + 1), "complexity_score": n,
            "evol_response": n * k * (k + 1), "quality_score": n * (k + 1)}


def run_once(tool: str, k: int, rep: int, args, ctx: dict) -> dict:
    work = ctx["work"]
    tag = f"{tool}-n{args.n}-k{k}-r{rep}"
    log_path = os.path.join(work, tag + ".log")
    server = lb.Server(ctx["server_bin"], args.latency_ms, os.path.join(work, tag + ".server.log"))
    scratch = tempfile.mkdtemp(prefix=tag + "-", dir=work)
    env = dict(os.environ)
    record: dict = {"tool": tool, "k": k, "rep": rep, "n": args.n,
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    n, c = args.n, args.concurrency
    want_rows = min(args.budget, n * (k + 1) ** 2)
    try:
        if tool == "ours":
            run_dir = os.path.join(scratch, "run")
            cmd = [ctx["pipeline_bin"], "run", ctx["pipeline_file"], "--run-dir", run_dir,
                   "--no-llm-cache", "--log-format", "json", "--param", f"load.path={ctx['data']}", *args.ours_flag]
            env.update(LLM_BASE_URL=server.base_url, DEITA_K=str(k), DEITA_BUDGET=str(args.budget),
                       DEITA_THRESHOLD=str(args.threshold), DEITA_DIMENSIONS=str(args.embed_dim),
                       LLM_MAX_CONCURRENCY=str(c))
            env["PIPELINE_PLUGIN_PATH"] = env.get("PIPELINE_PLUGIN_PATH") or os.path.join(ctx["bin_dir"], "pipeline-plugins")
        else:
            run_dir = None
            cmd = [ctx["venv_py"], os.path.join(ctx["peer_dir"], "bench_deita.py"), "--data", ctx["data"],
                   "--n", str(n), "--base-url", server.base_url, "--evolutions", str(k),
                   "--input-batch-size", str(c), "--data-budget", str(args.budget),
                   "--diversity-threshold", str(args.threshold),
                   "--out", os.path.join(scratch, "out"), "--cache-dir", os.path.join(scratch, "cache")]
            for kv in args.peer_env:
                key, _, value = kv.partition("=")
                env[key] = value
        record["cmd"] = cmd
        record["env"] = {key: env[key] for key in env if key.startswith(("LLM_", "DEITA_", "OPENBLAS", "PIPELINE_"))}
        busy0, srv0 = lb._machine_busy_s(), server.cpu_s()
        record.update(lb.measure(cmd, log_path, env, ctx["peer_dir"] if tool != "ours" else ROOT,
                                 args.timeout, args.sample_s))
        srv1, busy1 = server.cpu_s(), lb._machine_busy_s()
        try:
            stats = server.stats()
        except OSError as e:
            stats = {}
            record["stats_error"] = str(e)
        record["server"] = stats
        record["requests"] = stats.get("requests")
        record["chat_requests"] = (stats.get("by_endpoint") or {}).get("chat")
        record["embedding_requests"] = (stats.get("by_endpoint") or {}).get("embeddings")
        record["embedding_inputs"] = stats.get("embedding_inputs")
        record["max_inflight"] = stats.get("max_inflight")
        record["server_cpu_s"] = round(srv1 - srv0, 3)
        record["other_cpu_s"] = round(max(0.0, (busy1 - busy0) - record["cpu_s"] - (srv1 - srv0)), 3)
        record["seeds_per_s"] = round(n / record["wall_s"], 2) if record["wall_s"] else None

        problems: list[str] = []
        if record["timed_out"]:
            problems.append(f"killed after {args.timeout:g} s")
        if record["exit_code"] != 0:
            problems.append(f"exit code {record['exit_code']}")
        want_chat = n * (k + 1) * (k + 3)
        if record["chat_requests"] != want_chat:
            problems.append(f"server saw {record['chat_requests']} chat requests, expected N(k+1)(k+3) = {want_chat}")
        kinds = stats.get("by_kind") or {}
        if kinds != expected_kinds(n, k):
            problems.append(f"by_kind {kinds} != expected {expected_kinds(n, k)}")
        if record["embedding_inputs"] != n * (k + 1) ** 2:
            problems.append(f"{record['embedding_inputs']} embedding inputs, expected N(k+1)^2 = {n * (k + 1) ** 2}")
        by_status = stats.get("by_status") or {}
        if set(by_status) - {"200"}:
            problems.append(f"non-200 answers: {by_status}")
        if tool == "ours":
            summary_path = os.path.join(run_dir, "summary.json")
            if os.path.exists(summary_path):
                with open(summary_path) as f:
                    s = json.load(f)
                record["inside"] = {key: s.get(key) for key in ("status", "seconds", "row_errors") if key in s}
            out_path = os.path.join(run_dir, "deita.jsonl")
            if os.path.exists(out_path):
                rows = lb.read_jsonl(out_path)
                bad = sum(1 for r in rows if not r.get("evolved_instruction") or not r.get("evolved_response"))
                record["bench_result"] = {"rows_out": len(rows), "rows_missing_columns": bad}
                if len(rows) != want_rows:
                    problems.append(f"{len(rows)} rows out, expected min(budget, N(k+1)^2) = {want_rows}")
                if bad:
                    problems.append(f"{bad} output rows without evolved_instruction/evolved_response")
            else:
                problems.append("no output file deita.jsonl")
            errors = os.path.join(run_dir, "errors.jsonl")
            if os.path.exists(errors) and os.path.getsize(errors) > 0:
                problems.append(f"{sum(1 for _ in open(errors))} rows in errors.jsonl")
        else:
            record["bench_result"] = lb.result_line(log_path)
            if record["bench_result"] is None:
                problems.append("no RESULT line")
            elif record["bench_result"].get("rows_out") != want_rows:
                problems.append(f"{record['bench_result'].get('rows_out')} rows out, expected {want_rows}")
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


def table(records: list[dict], args) -> str:
    cols = []
    for r in records:
        key = (r["tool"], r["k"])
        if key not in cols:
            cols.append(key)
    groups = {key: [r for r in records if (r["tool"], r["k"]) == key] for key in cols}
    head = "| | " + " | ".join(f"{LABELS[t]}, k={k}" for t, k in cols) + " |"
    rows = [head, "|---|" + "---|" * len(cols)]

    def line(name, fn):
        rows.append(f"| {name} | " + " | ".join(fn(groups[key]) for key in cols) + " |")

    ok = lambda g: [r for r in g if r["ok"]] or g  # noqa: E731
    line("wall s, process", lambda g: "**" + fmt([r["wall_s"] for r in ok(g)]) + "**")
    line("CPU s, user+sys (wait4)", lambda g: fmt([r["cpu_s"] for r in ok(g)]))
    line("peak RSS MB, largest process (wait4)", lambda g: fmt([r["max_rss_mb"] for r in ok(g)], 1))
    line("peak PSS MB, process tree (sampled)", lambda g: fmt([r["tree_peak_pss_mb"] for r in ok(g)], 1)
         + f" ({max(r['max_procs'] for r in g)} procs)")
    line("in-process run s (summary.json / RESULT run_s)",
         lambda g: fmt([((r.get("inside") or {}).get("seconds") if r["tool"] == "ours"
                         else (r.get("bench_result") or {}).get("run_s")) for r in ok(g)]))
    line("chat requests (expected N(k+1)(k+3))",
         lambda g: ", ".join(str(r.get("chat_requests")) for r in g) + f" ({args.n * (g[0]['k'] + 1) * (g[0]['k'] + 3)})")
    line("embedding requests / inputs",
         lambda g: ", ".join(f"{r.get('embedding_requests')} / {r.get('embedding_inputs')}" for r in g))
    line("rows out", lambda g: ", ".join(str((r.get("bench_result") or {}).get("rows_out")) for r in g))
    line("server peak in-flight", lambda g: ", ".join(str(r.get("max_inflight")) for r in g))
    line("server CPU s", lambda g: fmt([r.get("server_cpu_s") for r in g]))
    line("other CPU s on the machine meanwhile", lambda g: fmt([r.get("other_cpu_s") for r in g]))
    line("checks passed", lambda g: f"{sum(r['ok'] for r in g)}/{len(g)}")
    return "\n".join(rows)


def targets(records: list[dict], args) -> list[tuple[str, bool, str]]:
    def med(tool, k, key):
        return lb.med([r.get(key) for r in records if r["tool"] == tool and r["k"] == k and r["ok"]])
    out = []
    for k in sorted({r["k"] for r in records if r["tool"] == "ours"}):
        wall, cpu, rss = med("ours", k, "wall_s"), med("ours", k, "cpu_s"), med("ours", k, "max_rss_mb")
        completed = any(r["ok"] for r in records if r["tool"] == "ours" and r["k"] == k)
        floor = args.n * (k + 1) * (k + 3) / args.concurrency * args.latency_ms / 1000
        out.append((f"k={k}: completes, checks pass", completed, "yes" if completed else "no"))
        if not completed:
            continue
        out.append((f"k={k}: wall vs the latency floor {floor:.1f} s", True, f"{wall:.2f} s ({wall / floor:.2f}×)"))
        if k == 3:
            out.append(("k=3: CPU ≤ 20 s", cpu <= 20, f"{cpu:.2f} s"))
            out.append(("k=3: peak RSS ≤ 200 MB", rss <= 200, f"{rss:.1f} MB"))
            peer = med("distilabel", 3, "wall_s")
            if peer:
                out.append(("k=3: ≥ 10× faster than distilabel (wall)", peer / wall >= 10, f"{peer / wall:.1f}×"))
        else:
            out.append((f"k={k}: peak RSS ≤ 300 MB", rss <= 300, f"{rss:.1f} MB"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, ".build", "release"),
                    help="where pipeline, llm-test-server and pipeline-plugins/ are")
    ap.add_argument("--pipeline-file", default=os.path.join(ROOT, "pipelines", "deita.yaml"))
    ap.add_argument("--tools", default="ours,distilabel")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", default="3,5", help="comma-separated evolution rounds; distilabel runs only k ≤ --peer-max-k")
    ap.add_argument("--peer-max-k", type=int, default=3,
                    help="largest k distilabel is run at (N=1000, k=5 needs ~21 GB of N×N matrices)")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--embed-dim", type=int, default=384)
    ap.add_argument("--budget", type=int, default=500, help="bench_deita.py's --data-budget default")
    ap.add_argument("--threshold", type=float, default=0.04, help="bench_deita.py's --diversity-threshold default")
    ap.add_argument("--peer-env", action="append", default=["OPENBLAS_CORETYPE=Zen"],
                    help="KEY=VALUE for distilabel's process (peer-bench's recorded runs used OPENBLAS_CORETYPE=Zen)")
    ap.add_argument("--ours-flag", action="append", default=[],
                    help="extra argument for our `pipeline run` (repeatable; diagnostics, e.g. --no-checkpoint)")
    ap.add_argument("--peer-bench", default=os.path.join(ROOT, "..", "shared", "peer-bench"))
    ap.add_argument("--venvs", default=os.path.join(ROOT, ".build", "bench-venvs"))
    ap.add_argument("--out", default=os.path.join(ROOT, ".build", "bench-results", "deita.json"))
    ap.add_argument("--work", default=os.path.join(ROOT, ".build", "bench-results", "deita-work"))
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--sample-s", type=float, default=0.25)
    ap.add_argument("--lock", default="/tmp/bench.lock")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if set(tools) - set(LABELS):
        ap.error(f"unknown tools {sorted(set(tools) - set(LABELS))}")
    ks = [int(x) for x in args.k.split(",") if x.strip()]
    bin_dir = os.path.abspath(args.bin_dir)
    peer_dir = os.path.abspath(args.peer_bench)
    ctx = {"bin_dir": bin_dir, "pipeline_bin": os.path.join(bin_dir, "pipeline"),
           "server_bin": os.path.join(bin_dir, "llm-test-server"),
           "pipeline_file": os.path.abspath(args.pipeline_file), "peer_dir": peer_dir}
    for key in ("pipeline_bin", "server_bin"):
        if not os.access(ctx[key], os.X_OK):
            log(f"missing {ctx[key]}: build it first")
            return 2
    skipped = {}
    if "distilabel" in tools:
        lock = os.path.join(peer_dir, "requirements.lock.txt")
        if not os.path.exists(os.path.join(peer_dir, "bench_deita.py")) or not os.path.exists(lock):
            skipped["distilabel"] = f"{peer_dir}/bench_deita.py or its lock not found"
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

    lock_file = None
    if args.lock:
        lock_file = open(args.lock, "a")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"== waiting for {args.lock} (another benchmark is measuring)")
            fcntl.flock(lock_file, fcntl.LOCK_EX)

    plan = [(t, k) for k in ks for t in tools if t == "ours" or k <= args.peer_max_k]
    log(f"== DEITA benchmark: N={args.n}, k in {ks}, {args.concurrency} in flight, {args.latency_ms:g} ms latency, "
        f"budget {args.budget}, threshold {args.threshold}; runs: {plan} x {args.reps}")
    records = []
    for rep in range(1, args.reps + 1):
        for tool, k in plan:
            r = run_once(tool, k, rep, args, ctx)
            records.append(r)
            log(f"   {tool:<10} k={k} r{rep}: wall {r['wall_s']:.2f} s, CPU {r['cpu_s']:.2f} s, "
                f"RSS {r['max_rss_mb']:.1f} MB, {r.get('chat_requests')} chat / {r.get('embedding_inputs')} embedded, "
                f"peak in-flight {r.get('max_inflight')}" + ("" if r["ok"] else f"  FAILED: {'; '.join(r['problems'])}"))
    if lock_file:
        lock_file.close()

    print(f"\n### DEITA: N={args.n} seeds, at most {args.concurrency} in flight, {args.latency_ms:g} ms per request, "
          f"embed dim {args.embed_dim}, budget {args.budget}, threshold {args.threshold}, "
          f"llm-test-server (a fresh one per run), {args.reps} rep{'s' if args.reps > 1 else ''} each\n")
    print(table(records, args))
    checks = targets(records, args)
    if checks:
        print("\ntargets for ours:")
        for name, ok, value in checks:
            print(f"  [{'PASS' if ok else 'MISS'}] {name}: {value}")
    failed = [r for r in records if not r["ok"]]
    for r in failed:
        print(f"\n{r['tool']} k={r['k']} r{r['rep']} FAILED: {'; '.join(r['problems'])}\n{r.get('log_tail', '')[-1500:]}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    doc = {"config": {k: v for k, v in vars(args).items()} | {"data": data_source, "nproc": os.cpu_count()},
           "targets": [{"target": n, "met": ok, "value": v} for n, ok, v in checks],
           "skipped": skipped, "runs": records}
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, args.out)
    print(f"\nresults: {os.path.relpath(os.path.abspath(args.out), os.getcwd())}")
    if failed:
        return 1
    if args.strict and not all(ok for _, ok, _ in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
