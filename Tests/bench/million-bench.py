#!/usr/bin/env python3
"""A million prompts: textgen on N rows (default 1,000,000) against llm-test-server,
checkpoints on, as a nightly job would run it.

  run 1   pipeline run pipelines/textgen.yaml, C in flight (default 200), L ms server latency
          (default 10), --no-llm-cache, checkpoints on. Measured from outside: wall, CPU
          (user+sys from wait4), peak RSS (VmHWM), RSS sampled every 0.5 s; from the progress
          records (--progress-interval 1): answers done over time, so the rate over the first
          and the last tenth of the rows; state.db (+ -wal) size beside the output's.
  run 2   the same job in another run directory, killed with SIGKILL once K answers are in
          (default 900,000), then the same command again: it must end with exactly run 1's
          output file (the test server answers deterministically).
  curator (--curator) Curator 0.1.31 on the same rows, C in flight, for at most
          --curator-seconds (default 300): its rate from the server's request count.

Usage:
  python3 Tests/bench/million-bench.py --bin-dir .build/release [--n 1000000] [--curator]
Writes .build/bench-results/million.json; prints a table. Exit 1 when a run fails or the
resumed output differs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Server:
    def __init__(self, binary: str, latency_ms: float, log_path: str) -> None:
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([binary, "--port", "0", "--latency-ms", str(latency_ms)],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            raise SystemExit(f"llm-test-server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{match.group(1)}"

    def requests(self) -> int:
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as response:
            stats = json.load(response)
        return int(stats.get("requests", stats.get("chat_requests", 0)))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def make_rows(path: str, n: int) -> None:
    if os.path.exists(path) and sum(1 for _ in open(path)) == n:
        return
    topics = "rivers tides compilers bread violins glaciers sonnets tariffs enzymes lanterns".split()
    with open(path, "w") as f:
        for i in range(n):
            topic = topics[i % len(topics)]
            f.write(json.dumps({"instruction": f"Write two sentences about {topic}, item {i}."}) + "\n")


def run_pipeline(args, run_dir: str, env: dict, kill_at: int | None = None) -> dict:
    """Runs the job; returns wall, cpu, peak RSS, RSS samples and (answers, t) points."""
    cmd = [os.path.join(args.bin_dir, "pipeline"), "run", os.path.join(ROOT, "pipelines", "textgen.yaml"),
           "--param", f"load.path={args.data}", "--param", 'generate.template="{instruction}"',
           "--param", "load.batch_size=500",
           "--run-dir", run_dir, "--no-llm-cache", "--log-format", "json", "--progress-interval", "1"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    points: list[tuple[float, int]] = []
    samples: list[tuple[float, int]] = []
    killed = False
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.monotonic() - start, status_kb(proc.pid, "VmRSS")))
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    peak = 0
    for line in proc.stderr:  # type: ignore[union-attr]
        peak = max(peak, status_kb(proc.pid, "VmHWM"))
        if '"message":"progress"' not in line:
            continue
        try:
            record = json.loads(line)["progress"]
        except (ValueError, KeyError):
            continue
        for step in record["steps"]:
            if step["name"] == "generate":
                llm = (step.get("progress") or {}).get("llm") or {}
                answered = llm.get("requests_done", step["rows_out"])
                points.append((record["elapsed_seconds"], answered))
                if kill_at is not None and answered >= kill_at and not killed:
                    peak = max(peak, status_kb(proc.pid, "VmHWM"))
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = True
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) == 0 and points:
        # The last answers come after the last progress record: the run's end.
        points.append((wall, max(points[-1][1], args.n)))
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_rss_mb": max(peak, usage.ru_maxrss) / 1024,
            "exit": os.waitstatus_to_exitcode(status), "points": points, "rss": samples, "killed": killed}


def tenth_rates(points: list[tuple[float, int]], n: int) -> tuple[float, float]:
    """Answers per second over the first and the last tenth of the rows."""
    def time_at(count: int) -> float | None:
        for (t0, c0), (t1, c1) in zip(points, points[1:]):
            if c0 <= count <= c1 and c1 > c0:
                return t0 + (t1 - t0) * (count - c0) / (c1 - c0)
        return None
    tenth = n // 10
    first = (time_at(tenth) or 0) - (time_at(1) or 0)
    t_last_start, t_end = time_at(n - tenth), time_at(n)
    last = (t_end - t_last_start) if t_end is not None and t_last_start is not None else 0
    return (tenth / first if first > 0 else 0, tenth / last if last > 0 else 0)


def size(path: str) -> int:
    return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal") if os.path.exists(path + suffix))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--latency-ms", type=float, default=10)
    ap.add_argument("--kill-at", type=int, default=None, help="answers before the kill (default 90%% of n)")
    ap.add_argument("--curator", action="store_true", help="also run Curator on the same rows")
    ap.add_argument("--curator-seconds", type=float, default=300)
    ap.add_argument("--work", default=os.path.join(ROOT, ".build", "bench-results", "million-work"))
    ap.add_argument("--out", default=os.path.join(ROOT, ".build", "bench-results", "million.json"))
    args = ap.parse_args()
    kill_at = args.kill_at if args.kill_at is not None else args.n * 9 // 10
    os.makedirs(args.work, exist_ok=True)
    args.data = os.path.join(args.work, f"prompts-{args.n}.jsonl")
    make_rows(args.data, args.n)
    server = Server(os.path.join(args.bin_dir, "llm-test-server"), args.latency_ms, os.path.join(args.work, "server.log"))
    env = dict(os.environ, LLM_BASE_URL=server.url + "/v1", LLM_MAX_CONCURRENCY=str(args.concurrency))
    results: dict = {"n": args.n, "concurrency": args.concurrency, "latency_ms": args.latency_ms,
                     "floor_seconds": args.n / args.concurrency * args.latency_ms / 1000}
    failed = False
    try:
        whole = os.path.join(args.work, "whole")
        subprocess.run(["rm", "-rf", whole], check=True)
        log(f"run 1: {args.n} prompts, {args.concurrency} in flight, {args.latency_ms} ms")
        first = run_pipeline(args, whole, env)
        output = os.path.join(whole, "textgen.jsonl")
        rows = sum(1 for _ in open(output)) if os.path.exists(output) else 0
        rate_first, rate_last = tenth_rates(first["points"], args.n)
        rss = [kb for _, kb in first["rss"] if kb > 0]
        half = len(rss) // 2
        results["run"] = {
            "exit": first["exit"], "rows": rows, "wall_seconds": round(first["wall"], 1),
            "cpu_seconds": round(first["cpu"], 1), "cpu_us_per_request": round(first["cpu"] / max(rows, 1) * 1e6, 1),
            "peak_rss_mb": round(first["peak_rss_mb"], 1),
            "rss_mb_first_half_max": round(max(rss[:half] or [0]) / 1024, 1),
            "rss_mb_second_half_max": round(max(rss[half:] or [0]) / 1024, 1),
            "state_db_mb": round(size(os.path.join(whole, "state.db")) / 1e6, 1),
            "output_mb": round(os.path.getsize(output) / 1e6, 1) if rows else 0,
            "llm_io_mb": round(os.path.getsize(os.path.join(whole, "llm-io.jsonl")) / 1e6, 1)
            if os.path.exists(os.path.join(whole, "llm-io.jsonl")) else 0,
            "rate_first_tenth": round(rate_first), "rate_last_tenth": round(rate_last),
        }
        failed |= first["exit"] != 0 or rows != args.n

        killed_dir = os.path.join(args.work, "killed")
        subprocess.run(["rm", "-rf", killed_dir], check=True)
        log(f"run 2: killed at {kill_at} answers, then resumed")
        second = run_pipeline(args, killed_dir, env, kill_at=kill_at)
        resumed = run_pipeline(args, killed_dir, env)
        out2 = os.path.join(killed_dir, "textgen.jsonl")
        same = os.path.exists(out2) and subprocess.run(["cmp", "-s", output, out2]).returncode == 0
        results["kill"] = {"killed": second["killed"], "answers_before_kill": second["points"][-1][1] if second["points"] else 0,
                           "resume_exit": resumed["exit"], "resume_wall_seconds": round(resumed["wall"], 1),
                           "resume_peak_rss_mb": round(resumed["peak_rss_mb"], 1), "same_output": same}
        failed |= not second["killed"] or resumed["exit"] != 0 or not same

        if args.curator:
            results["curator"] = run_curator(args, server)
    finally:
        server.stop()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


def run_curator(args, server: Server) -> dict:
    venv_py = os.path.join(ROOT, ".build", "bench-venvs", "curator", "bin", "python")
    script = os.path.join(ROOT, "..", "shared", "peer-bench-curator", "bench_textgen_curator.py")
    if not os.path.exists(venv_py):
        return {"skipped": f"{venv_py} missing: run `make bench-llm` once to make the peer venvs"}
    before = server.requests()
    start = time.monotonic()
    proc = subprocess.Popen([venv_py, script, "--data", args.data, "--n", str(args.n), "--base-url", server.url + "/v1",
                             "--max-concurrent", str(args.concurrency)],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(args.work, "curator.log"), "w"),
                            start_new_session=True)
    peak = 0
    finished = False
    while time.monotonic() - start < args.curator_seconds:
        if proc.poll() is not None:
            finished = True
            break
        peak = max(peak, sum(status_kb(int(pid), "VmRSS") for pid in
                             subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()))
        time.sleep(1)
    elapsed = time.monotonic() - start
    answered = server.requests() - before
    if not finished:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return {"finished": finished, "seconds": round(elapsed, 1), "requests": answered,
            "requests_per_second": round(answered / elapsed, 1), "peak_rss_mb": round(peak / 1024, 1)}


if __name__ == "__main__":
    sys.exit(main())
