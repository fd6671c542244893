#!/usr/bin/env python3
"""LLM benchmark: our text generation beside distilabel 1.5.3 and Curator 0.1.31.

The same job for the three tools, in the same session, against the same
server (our llm-test-server, a fresh one per measured run): N instruction
rows, one chat completion per row (max_tokens 256, temperature 0.7), at most
C requests in flight, L ms server latency per request.

  ours        pipeline run pipelines/textgen.yaml (load_jsonl -> text_generation -> write_jsonl)
              with --param overrides, LLM_BASE_URL / LLM_MODEL / LLM_MAX_CONCURRENCY,
              --no-llm-cache --no-checkpoint
  distilabel  ../shared/peer-bench/bench_textgen.py in its own venv, --input-batch-size C
  curator     ../shared/peer-bench-curator/bench_textgen_curator.py in its own venv,
              --backend openai --max-concurrent C (max_concurrent_requests, a semaphore)

The peers' scripts are run where they are (never copied); each checks its own
output and exits non-zero when a row is missing or empty. Ours is checked
here: exit 0, N rows out, every generation non-empty, the input instructions.

Every run is measured from the outside: wall from fork to reap, CPU (user +
sys) and peak RSS from wait4()'s rusage (what /usr/bin/time -v reports; it
covers every descendant that was waited for), plus the process tree sampled
from /proc (peak RSS and PSS summed over the tree, process count). The
server's /stats gives requests and peak in-flight; its CPU and the CPU the
rest of the machine used meanwhile are recorded too (2 cores are shared).
Repetitions are interleaved (ours, distilabel, curator, then again).

Usage (the system python3 is enough; the peers' venvs are made on demand):
  python3 Tests/bench/llm/llm-bench.py --bin-dir .build/release
  python3 Tests/bench/llm/llm-bench.py --tools ours --reps 1      # quick look at ours
Writes .build/bench-results/llm.json; prints a markdown table.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TOOLS = ("ours", "distilabel", "curator")
LABELS = {"ours": "pipeline (ours)", "distilabel": "distilabel 1.5.3", "curator": "Curator 0.1.31 (openai backend)"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc sampling

def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def _tree(root: int) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += _children(pid)
    return out


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _pss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu_s(pid: int) -> float:
    """user + sys of one process (not its children), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / CLK_TCK


class TreeSampler(threading.Thread):
    """Peak RSS and PSS summed over a process tree, and its largest size."""

    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.stop = threading.Event()
        self.peak_rss_kb = self.peak_pss_kb = self.max_procs = 0

    def run(self) -> None:
        while not self.stop.is_set():
            pids = _tree(self.root)
            rss = pss = 0
            for pid in pids:
                r = _rss_kb(pid)
                rss += r
                p = _pss_kb(pid)
                pss += p if p is not None else r
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.max_procs = max(self.max_procs, len(pids))
            self.stop.wait(self.interval)


def kill_tree(pid: int) -> None:
    """SIGKILL a process we started and all its descendants, by PID."""
    for p in reversed(_tree(pid)):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def measure(cmd: list[str], log_path: str, env: dict, cwd: str, timeout_s: float,
            sample_s: float) -> dict:
    """Runs cmd once; outside wall, wait4 rusage, sampled tree memory."""
    with open(log_path, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        sampler = TreeSampler(proc.pid, sample_s)
        sampler.start()
        timer = threading.Timer(timeout_s, kill_tree, [proc.pid])
        timer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        t1 = time.perf_counter()
        timed_out = not timer.is_alive()
        timer.cancel()
        sampler.stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": round(t1 - t0, 3),
        "user_s": round(ru.ru_utime, 3),
        "sys_s": round(ru.ru_stime, 3),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
        "max_rss_mb": round(ru.ru_maxrss / 1024, 1),  # KiB on Linux: the largest process
        "tree_peak_rss_mb": round(sampler.peak_rss_kb / 1024, 1),
        "tree_peak_pss_mb": round(sampler.peak_pss_kb / 1024, 1),
        "max_procs": sampler.max_procs,
        "exit_code": proc.returncode,
        "timed_out": timed_out,
    }


# ---------------------------------------------------------------- the server

class Server:
    """A fresh server on a free loopback port: our llm-test-server, or (to
    check that the server does not favour anyone) peer-bench's aiohttp stub."""

    def __init__(self, binary: str, latency_ms: float, log_path: str, stub_cmd: list[str] | None = None) -> None:
        self.log_path = log_path
        self.log = open(log_path, "w")
        if stub_cmd:
            with socket.socket() as probe:  # a free port for the stub, which has no --port 0
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            cmd = stub_cmd + ["--port", str(port), "--latency-ms", str(latency_ms)]
            banner = "stub listening on "
        else:
            cmd = [binary, "--port", "0", "--latency-ms", str(latency_ms)]
            banner = "llm-test-server listening on "
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        self.base = None
        while time.monotonic() < deadline and self.base is None:
            with open(log_path) as f:
                first = f.readline()
            if first.startswith(banner) and first.endswith("\n"):
                self.base = first[len(banner):].split()[0].strip()
                if stub_cmd and not self._healthy():
                    self.base = None
                    time.sleep(0.05)
                    continue
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {self.proc.returncode}: {open(log_path).read()[-2000:]}")
            time.sleep(0.02)
        if self.base is None:
            self.stop()
            raise RuntimeError(f"the server did not say where it listens within 30 s (see {log_path})")
        self.base_url = self.base + "/v1"

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stats(self) -> dict:
        with urllib.request.urlopen(self.base + "/stats", timeout=10) as r:
            return json.loads(r.read())

    def cpu_s(self) -> float:
        return _cpu_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------- venvs and data

def ensure_venv(path: str, lock: str) -> str | None:
    """path/bin/python, with the lock file installed; None (and why) when it cannot be."""
    py = os.path.join(path, "bin", "python")
    stamp = os.path.join(path, ".ready")
    with open(lock, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if os.path.exists(stamp) and open(stamp).read().strip() == digest and os.path.exists(py):
        return py
    log(f"== creating {path} from {lock} (once; takes a few minutes)")
    shutil.rmtree(path, ignore_errors=True)
    install_log = path + ".install.log"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(install_log, "w") as out:
        steps = [[sys.executable, "-m", "venv", path],
                 [py, "-m", "pip", "install", "--quiet", "pip==25.0"],
                 [py, "-m", "pip", "install", "-r", lock]]
        for step in steps:
            rc = subprocess.call(step, stdout=out, stderr=subprocess.STDOUT)
            if rc != 0:
                log(f"   FAILED ({' '.join(step)} exited {rc}); see {install_log}")
                return None
    with open(stamp, "w") as f:
        f.write(digest + "\n")
    return py


def make_data(peer_dir: str, n: int, path: str) -> tuple[str, str]:
    """The instruction rows every tool reads: peer-bench's make_data.py --seed 0
    (what the peers' published numbers used), or rows of the same shape when
    the peer-bench folder is not there."""
    script = os.path.join(peer_dir, "make_data.py")
    if os.path.exists(script):
        if not os.path.exists(path):
            subprocess.run([sys.executable, script, "--n", str(n), "--seed", "0", "--out", path],
                           check=True, stdout=subprocess.DEVNULL)
        return path, "peer-bench make_data.py --seed 0"
    path = path.replace(".jsonl", "-local.jsonl")
    import random
    r = random.Random(0)
    topics = ["photosynthesis", "hash tables", "the Silk Road", "tides", "inflation", "compilers",
              "coral reefs", "game theory", "sleep", "black holes", "jazz music", "vaccines"]
    forms = ["Explain {t} to a ten-year-old in three short paragraphs.", "Compare {t} and {u}, with pros and cons.",
             "Give three practical tips related to {t}.", "Summarize the history of {t} in under 100 words."]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for i in range(n):
            t, u = r.sample(topics, 2)
            f.write(json.dumps({"instruction": f"{r.choice(forms).format(t=t, u=u)} (Case {i + 1}.)"}) + "\n")
    os.replace(tmp, path)
    return path, "generated here (peer-bench not found)"


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------- one run per tool

def result_line(log_path: str) -> dict | None:
    with open(log_path, errors="replace") as f:
        for line in f:
            if line.startswith("RESULT "):
                r = json.loads(line[len("RESULT "):])
                r.pop("cache_dir", None)
                return r
    return None


def run_once(tool: str, rep: int, args, ctx: dict) -> dict:
    work = ctx["work"]
    tag = f"{tool}-r{rep}"
    log_path = os.path.join(work, tag + ".log")
    server = Server(ctx["server_bin"], args.latency_ms, os.path.join(work, tag + ".server.log"), ctx.get("stub_cmd"))
    scratch = tempfile.mkdtemp(prefix=tag + "-", dir=work)
    env = dict(os.environ)
    record: dict = {"tool": tool, "rep": rep, "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        n, c = str(args.n), str(args.concurrency)
        if tool == "ours":
            out_rel = "textgen.jsonl"
            cmd = [ctx["pipeline_bin"], "run", ctx["pipeline_file"], "--run-dir", scratch,
                   "--no-llm-cache", *([] if args.checkpoint else ["--no-checkpoint"]), "--log-format", "json",
                   "--param", f"load.path={ctx['data']}",
                   *(["--param", f"load.batch_size={args.batch_size}"] if args.batch_size else []),
                   "--param", 'generate.template="{instruction}"',
                   "--param", f"save.path={out_rel}"]
            env.update(LLM_BASE_URL=server.base_url, LLM_MODEL=args.model, LLM_MAX_CONCURRENCY=c,
                       NO_COLOR="1")
            cwd = work
        elif tool == "distilabel":
            cmd = [ctx["venv_py"]["distilabel"], os.path.join(ctx["peer_dir"], "bench_textgen.py"),
                   "--data", ctx["data"], "--n", n, "--base-url", server.base_url,
                   "--model", args.model, "--input-batch-size", c, "--cache-dir", scratch]
            cwd = scratch
        else:
            cmd = [ctx["venv_py"]["curator"], os.path.join(ctx["curator_dir"], "bench_textgen_curator.py"),
                   "--data", ctx["data"], "--n", n, "--base-url", server.base_url,
                   "--model", args.model, "--backend", "openai", "--max-concurrent", c,
                   "--cache-dir", scratch]
            cwd = scratch
        record["cmd"] = [x.replace(ROOT + "/", "") for x in cmd]
        busy0, srv0 = _machine_busy_s(), server.cpu_s()
        record.update(measure(cmd, log_path, env, cwd, args.timeout, args.sample_s))
        busy1 = _machine_busy_s()
        problems = []
        record["server_cpu_s"] = round(server.cpu_s() - srv0, 3)
        if server.proc.poll() is not None:
            # exit code < 0: killed by that signal
            problems.append(f"llm-test-server (pid {server.proc.pid}) exited during the run with "
                            f"{server.proc.returncode}; its output: {open(server.log_path).read()[-1500:]!r}")
            stats = {}
        else:
            stats = server.stats()
        record["other_cpu_s"] = round(max(0.0, busy1 - busy0 - record["cpu_s"] - record["server_cpu_s"]), 2)
        record["server"] = {k: stats.get(k) for k in (
            "requests", "by_endpoint", "by_status", "max_inflight", "prompt_tokens", "completion_tokens",
            "connections", "distinct_requests")}
        record["requests"] = stats.get("requests")
        record["max_inflight"] = stats.get("max_inflight")
        record["rows_per_s"] = round(args.n / record["wall_s"], 1)

        if record["timed_out"]:
            problems.append(f"killed after {args.timeout} s")
        if record["exit_code"] != 0:
            problems.append(f"exit code {record['exit_code']}")
        if tool == "ours":
            summary_path = os.path.join(scratch, "summary.json")
            if os.path.exists(summary_path):
                s = json.load(open(summary_path))
                record["inside"] = {k: s.get(k) for k in ("status", "seconds", "cpu_seconds", "peak_rss_bytes")}
                record["inside"]["steps"] = s.get("steps")
                record["inside"]["llms"] = s.get("llms")
            else:
                problems.append("no summary.json")
            out_path = os.path.join(scratch, out_rel)
            if os.path.exists(out_path):
                rows = read_jsonl(out_path)
                empty = sum(1 for r in rows if not isinstance(r.get("generation"), str) or not r["generation"])
                want = sorted(r["instruction"] for r in ctx["rows"])
                got = sorted(str(r.get("instruction")) for r in rows)
                record["bench_result"] = {"rows_out": len(rows), "empty_generations": empty,
                                          "instructions_match": got == want}
                if len(rows) != args.n:
                    problems.append(f"{len(rows)} rows out, expected {args.n}")
                if empty:
                    problems.append(f"{empty} rows without a generation")
                if got != want:
                    problems.append("the output's instructions differ from the input's")
            else:
                problems.append(f"no output file {out_rel}")
            errors = os.path.join(scratch, "errors.jsonl")
            if os.path.exists(errors) and os.path.getsize(errors) > 0:
                problems.append(f"{sum(1 for _ in open(errors))} rows in errors.jsonl")
        else:
            record["bench_result"] = result_line(log_path)
            if record["bench_result"] is None:
                problems.append("no RESULT line")
        # Curator's openai backend first POSTs {"messages": []} to read rate-limit
        # headers; the server rightly answers it 400 (OpenAI does too) and
        # Curator goes on. Every other request must be a 200.
        by_status = dict(stats.get("by_status") or {"200": args.n})  # the aiohttp stub does not count them
        probe = 1 if tool == "curator" else 0
        if by_status.get("200") != args.n:
            problems.append(f"server answered {by_status.get('200')} requests with 200, expected {args.n}")
        if probe and by_status.get("400", 0) > probe:
            problems.append(f"more 400 answers than Curator's probe: {by_status}")
        if set(by_status) - {"200", "400" if probe else "200"}:
            problems.append(f"unexpected answers: {by_status}")
        if stats and record["requests"] != args.n + probe:
            problems.append(f"server saw {record['requests']} requests, expected {args.n + probe}")
        record["ok"] = not problems
        record["problems"] = problems
        if problems:
            record["log_tail"] = open(log_path, errors="replace").read()[-3000:]
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return record


# ---------------------------------------------------------------- report

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_range(values, digits=2):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def summarize(records: list[dict], tools: list[str], args) -> dict:
    out = {}
    for tool in tools:
        every = [r for r in records if r["tool"] == tool]
        if not every:
            continue
        rs = [r for r in every if r["ok"]] or every  # failed runs stay out of the numbers
        get = lambda k: [r.get(k) for r in rs]  # noqa: E731
        inner = []
        for r in rs:
            b = r.get("bench_result") or {}
            if tool == "ours":
                inner.append((r.get("inside") or {}).get("seconds"))
            else:
                inner.append(b.get("run_s"))
        out[tool] = {
            "label": LABELS[tool],
            "reps": len(every),
            "ok_reps": sum(1 for r in every if r["ok"]),
            "wall_s": {"median": med(get("wall_s")), "min": min(get("wall_s")), "max": max(get("wall_s"))},
            "cpu_s": med(get("cpu_s")),
            "max_rss_mb": med(get("max_rss_mb")),
            "tree_peak_pss_mb": med(get("tree_peak_pss_mb")),
            "max_procs": max(get("max_procs")),
            "rows_per_s": med(get("rows_per_s")),
            "inner_run_s": med(inner),
            "requests": med(get("requests")),
            "max_inflight": [r.get("max_inflight") for r in rs],
            "server_cpu_s": med(get("server_cpu_s")),
            "other_cpu_s": med(get("other_cpu_s")),
            "_rows": rs,
        }
    return out


def table(summary: dict, args) -> str:
    tools = [t for t in TOOLS if t in summary]
    head = "| | " + " | ".join(summary[t]["label"] for t in tools) + " |"
    sep = "|---|" + "---|" * len(tools)
    rows = [head, sep]

    def line(name, fn):
        rows.append(f"| {name} | " + " | ".join(fn(summary[t]) for t in tools) + " |")

    line("wall s, process (median (min–max))", lambda s: "**" + fmt_range([r["wall_s"] for r in s["_rows"]]) + "**")
    line("CPU s, user+sys (wait4)", lambda s: fmt_range([r["cpu_s"] for r in s["_rows"]]))
    line("peak RSS MB, largest process (wait4)", lambda s: fmt_range([r["max_rss_mb"] for r in s["_rows"]], 1))
    line("peak PSS MB, process tree (sampled)", lambda s: fmt_range([r["tree_peak_pss_mb"] for r in s["_rows"]], 1)
         + f" ({s['max_procs']} proc{'s' if s['max_procs'] > 1 else ''})")
    line("rows/s (wall)", lambda s: fmt_range([r["rows_per_s"] for r in s["_rows"]], 1))
    line("in-process run s (summary.json / RESULT run_s)",
         lambda s: fmt_range([((r.get("inside") or {}).get("seconds") if r["tool"] == "ours"
                               else (r.get("bench_result") or {}).get("run_s")) for r in s["_rows"]]))
    line("server requests", lambda s: ", ".join(str(r.get("requests")) for r in s["_rows"]))
    line("server tokens, prompt / completion (same work)",
         lambda s: ", ".join(sorted({f"{(r.get('server') or {}).get('prompt_tokens')} / "
                                     f"{(r.get('server') or {}).get('completion_tokens')}" for r in s["_rows"]})))
    line("server peak in-flight", lambda s: ", ".join(str(r.get("max_inflight")) for r in s["_rows"]))
    line("server CPU s", lambda s: fmt_range([r.get("server_cpu_s") for r in s["_rows"]]))
    line("other CPU s on the machine meanwhile", lambda s: fmt_range([r.get("other_cpu_s") for r in s["_rows"]]))
    line("checks passed", lambda s: f"{s['ok_reps']}/{s['reps']}")
    return "\n".join(rows)


def targets(summary: dict, args) -> list[tuple[str, bool, str]]:
    ours = summary.get("ours")
    if not ours:
        return []
    floor = args.n / args.concurrency * args.latency_ms / 1000
    wall, cpu, rss = ours["wall_s"]["median"], ours["cpu_s"], ours["max_rss_mb"]
    out = [
        (f"wall within 10% of {floor:.2f} s", wall <= floor * 1.10, f"{wall:.2f} s ({wall / floor:.2f}× the floor)"),
        ("CPU ≤ 1 s", cpu <= 1.0, f"{cpu:.2f} s"),
        ("peak RSS ≤ 60 MB", rss <= 60, f"{rss:.1f} MB"),
    ]
    if "distilabel" in summary:
        ratio = summary["distilabel"]["wall_s"]["median"] / wall
        out.append(("≥ 10× faster than distilabel (wall)", ratio >= 10, f"{ratio:.1f}×"))
    peaks = [p or 0 for p in ours["max_inflight"]]
    out.append((f"{args.concurrency} requests in flight (server's peak)", min(peaks) >= args.concurrency,
                ", ".join(map(str, peaks))))
    return out


# ---------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, ".build", "release"),
                    help="where pipeline, llm-test-server and pipeline-plugins/ are (default .build/release)")
    ap.add_argument("--pipeline-file", default=os.path.join(ROOT, "pipelines", "textgen.yaml"))
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of ours,distilabel,curator")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--checkpoint", action="store_true", help="ours with checkpoints on (the state store), as a plain `pipeline run`")
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--batch-size", type=int, default=None,
                    help="override our load_jsonl batch size (default: the pipeline file's, 500)")
    ap.add_argument("--model", default="stub-chat")
    ap.add_argument("--peer-bench", default=os.path.join(ROOT, "..", "shared", "peer-bench"))
    ap.add_argument("--peer-bench-curator", default=os.path.join(ROOT, "..", "shared", "peer-bench-curator"))
    ap.add_argument("--venvs", default=os.path.join(ROOT, ".build", "bench-venvs"))
    ap.add_argument("--out", default=os.path.join(ROOT, ".build", "bench-results", "llm.json"))
    ap.add_argument("--work", default=os.path.join(ROOT, ".build", "bench-results", "llm-work"))
    ap.add_argument("--timeout", type=float, default=900.0, help="kill a run after this many seconds")
    ap.add_argument("--sample-s", type=float, default=0.25, help="process-tree sampling interval")
    ap.add_argument("--lock", default="/tmp/bench.lock",
                    help="flock held while measuring, shared with other benchmark sessions ('' = none)")
    ap.add_argument("--server", choices=["llm-test-server", "peer-stub"], default="llm-test-server",
                    help="peer-stub: ../shared/peer-bench/stub_server.py in the distilabel venv instead "
                         "(to check the server does not favour a tool)")
    ap.add_argument("--keep", action="store_true", help="keep every run's directory (outputs, caches)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed, not only on failed runs")
    args = ap.parse_args()

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        ap.error(f"unknown tools {sorted(unknown)}; choose from {', '.join(TOOLS)}")
    peer_dir = os.path.abspath(args.peer_bench)
    curator_dir = os.path.abspath(args.peer_bench_curator)
    bin_dir = os.path.abspath(args.bin_dir)
    ctx = {
        "pipeline_bin": os.path.join(bin_dir, "pipeline"),
        "server_bin": os.path.join(bin_dir, "llm-test-server"),
        "pipeline_file": os.path.abspath(args.pipeline_file),
        "peer_dir": peer_dir, "curator_dir": curator_dir, "venv_py": {},
    }
    for key in ("pipeline_bin", "server_bin"):
        if not os.access(ctx[key], os.X_OK):
            log(f"missing {ctx[key]}: build it first (make bench does)")
            return 2
    skipped = {}
    for tool, lock, script in (("distilabel", os.path.join(peer_dir, "requirements.lock.txt"),
                                os.path.join(peer_dir, "bench_textgen.py")),
                               ("curator", os.path.join(curator_dir, "requirements.lock.txt"),
                                os.path.join(curator_dir, "bench_textgen_curator.py"))):
        if tool not in tools:
            continue
        if not (os.path.exists(lock) and os.path.exists(script)):
            skipped[tool] = f"{script} or {lock} not found"
        else:
            py = ensure_venv(os.path.join(args.venvs, tool), lock)
            if py is None:
                skipped[tool] = f"its venv could not be installed (see {os.path.join(args.venvs, tool)}.install.log)"
            else:
                ctx["venv_py"][tool] = py
    for tool, why in skipped.items():
        log(f"!! {tool} skipped: {why}")
        tools.remove(tool)
    if args.server == "peer-stub":
        py = ensure_venv(os.path.join(args.venvs, "distilabel"), os.path.join(peer_dir, "requirements.lock.txt"))
        if py is None:
            log("the peer stub needs the distilabel venv, which could not be installed")
            return 2
        ctx["stub_cmd"] = [py, os.path.join(peer_dir, "stub_server.py")]

    os.makedirs(args.work, exist_ok=True)
    ctx["work"] = os.path.abspath(args.work)
    ctx["data"] = os.path.join(ctx["work"], f"instructions_{args.n}.jsonl")
    ctx["data"], data_source = make_data(peer_dir, args.n, ctx["data"])
    ctx["rows"] = read_jsonl(ctx["data"])

    lock_file = None
    if args.lock:
        lock_file = open(args.lock, "a")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"== waiting for {args.lock} (another benchmark is measuring)")
            fcntl.flock(lock_file, fcntl.LOCK_EX)

    log(f"== LLM benchmark: N={args.n}, {args.concurrency} in flight, {args.latency_ms:g} ms latency, "
        f"{args.reps} interleaved rounds of {', '.join(tools)}")
    records = []
    for rep in range(1, args.reps + 1):
        for tool in tools:
            r = run_once(tool, rep, args, ctx)
            records.append(r)
            log(f"   {tool:<10} r{rep}: wall {r['wall_s']:.2f} s, CPU {r['cpu_s']:.2f} s, "
                f"RSS {r['max_rss_mb']:.1f} MB, {r['requests']} requests, peak in-flight {r['max_inflight']}, "
                f"other CPU {r['other_cpu_s']:.2f} s" + ("" if r["ok"] else f"  FAILED: {'; '.join(r['problems'])}"))
    if lock_file:
        lock_file.close()

    summary = summarize(records, tools, args)
    print(f"\n### LLM text generation: N={args.n}, at most {args.concurrency} in flight, "
          f"{args.latency_ms:g} ms per request (floor {args.n / args.concurrency * args.latency_ms / 1000:.2f} s), "
          f"same {args.server} (a fresh one per run), {args.reps} rep{'s' if args.reps > 1 else ''} each\n")
    print(table(summary, args))
    ours = summary.get("ours")
    ratios = {}
    if ours:
        for peer in ("distilabel", "curator"):
            if peer in summary:
                ratios[peer] = round(summary[peer]["wall_s"]["median"] / ours["wall_s"]["median"], 2)
        if ratios:
            print("\nwall ratios: " + ", ".join(f"{p} / ours = {v:.1f}×" for p, v in ratios.items()))
    checks = targets(summary, args)
    if checks:
        print("\ntargets for ours:")
        for name, ok, value in checks:
            print(f"  [{'PASS' if ok else 'MISS'}] {name}: {value}")
    for tool, why in skipped.items():
        print(f"\n{tool}: skipped, {why}")
    failed = [r for r in records if not r["ok"]]
    for r in failed:
        print(f"\n{r['tool']} r{r['rep']} FAILED: {'; '.join(r['problems'])}\n{r.get('log_tail', '')[-1500:]}")

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    doc = {
        "config": {"server": args.server, "n": args.n, "concurrency": args.concurrency, "latency_ms": args.latency_ms,
                   "reps": args.reps, "batch_size": args.batch_size, "model": args.model,
                   "floor_s": args.n / args.concurrency * args.latency_ms / 1000, "data": data_source,
                   "pipeline_file": os.path.relpath(ctx["pipeline_file"], ROOT), "nproc": os.cpu_count()},
        "summary": {t: {k: v for k, v in s.items() if k != "_rows"} for t, s in summary.items()},
        "ratios_wall_vs_ours": ratios,
        "targets": [{"target": n, "met": ok, "value": v} for n, ok, v in checks],
        "skipped": skipped,
        "runs": records,
    }
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
