#!/usr/bin/env python3
"""max_concurrency: auto beside every fixed limit, on a server with K slots.

llm-test-server serves at most K requests at once (--capacity K), each in
L ms (--latency-ms); the rest wait in its queue (--over-capacity queue) or are
refused with 429 and Retry-After (--over-capacity 429). For K in {4, 1} and
both modes, pipelines/textgen.yaml generates N rows with max_concurrency
fixed at 1, 2, 4, 8, 16, 32, 64 and with auto (which is not told K), one run
after the other against the same server (--no-llm-cache, --no-checkpoint).

Throughput is answered rows per second of the run's wall time (summary.json
`seconds`); rows that failed (retries exhausted on 429s) are counted apart.
The result is auto's throughput over the best fixed one's (target >= 0.90),
and the limit auto settled at, with the range it moved in.

Usage:
  python3 Tests/bench/llm/adaptive-bench.py --bin-dir .build/release
  python3 Tests/bench/llm/adaptive-bench.py --capacities 4 --modes 429 --rows 400   # a quick look
Writes .build/bench-results/adaptive.json; prints a markdown table per case.
--strict exits 1 when auto is below the target in any case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
FIXED = (1, 2, 4, 8, 16, 32, 64)
TARGET = 0.90


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Server:
    def __init__(self, binary: str, capacity: int, mode: str, latency_ms: int, retry_after: int):
        self.process = subprocess.Popen(
            [binary, "--port", "0", "--latency-ms", str(latency_ms), "--capacity", str(capacity),
             "--over-capacity", mode, "--retry-after", str(retry_after)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.process.stdout.readline().strip() if self.process.stdout else ""
        prefix = "llm-test-server listening on "
        if not line.startswith(prefix):
            self.stop()
            raise SystemExit(f"llm-test-server did not start: {line!r}")
        self.url = line[len(prefix):]

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/stats") as response:
            return json.load(response)

    def reset(self) -> None:
        request = urllib.request.Request(self.url + "/stats/reset", data=b"", method="POST")
        urllib.request.urlopen(request).read()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def run_once(args, server: Server, data: str, setting: str, scratch: str) -> dict:
    server.reset()
    run_dir = os.path.join(scratch, f"run-{setting}")
    shutil.rmtree(run_dir, ignore_errors=True)
    env = dict(os.environ, LLM_BASE_URL=server.url + "/v1", LLM_MODEL="stub-chat", LLM_MAX_CONCURRENCY=setting)
    cmd = [os.path.join(args.bin_dir, "pipeline"), "run", os.path.join(ROOT, "pipelines", "textgen.yaml"),
           "--run-dir", run_dir, "--no-llm-cache", "--no-checkpoint", "--log-format", "json",
           "--param", f"load.path={data}", "--param", "save.path=out.jsonl"]
    started = time.monotonic()
    result = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - started
    if result.returncode not in (0, 3):
        raise SystemExit(f"pipeline run failed ({result.returncode}) at max_concurrency {setting}:\n{result.output[-2000:]}")
    with open(os.path.join(run_dir, "summary.json")) as handle:
        summary = json.load(handle)
    teacher = summary["llms"]["teacher"]
    answered = args.rows - summary["row_errors"]
    seconds = summary["seconds"]
    stats = server.stats()
    record = {
        "setting": setting, "seconds": seconds, "wall": round(wall, 3), "rows": args.rows,
        "row_errors": summary["row_errors"], "rows_per_second": answered / seconds if seconds else 0.0,
        "retries": teacher.get("retries", 0), "refused": stats.get("capacity", {}).get("rejected", 0),
        "max_in_service": stats.get("capacity", {}).get("max_in_service", 0),
        "concurrency": teacher.get("concurrency", {}),
    }
    shutil.rmtree(run_dir, ignore_errors=True)
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, ".build", "release"))
    parser.add_argument("--capacities", default="4,1")
    parser.add_argument("--modes", default="queue,429")
    parser.add_argument("--rows", type=int, default=0, help="rows per run (default: 250 per slot, at least 300)")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="adaptive-bench-")
    results = []
    below = False
    try:
        for capacity in [int(k) for k in args.capacities.split(",")]:
            for mode in args.modes.split(","):
                rows = args.rows or max(300, 250 * capacity)
                case = argparse.Namespace(**{**vars(args), "rows": rows})
                data = os.path.join(scratch, f"rows-{rows}.jsonl")
                with open(data, "w") as handle:
                    for n in range(rows):
                        handle.write(json.dumps({"text": f"Explain topic number {n} in a few sentences."}) + "\n")
                server = Server(os.path.join(args.bin_dir, "llm-test-server"), capacity, mode, args.latency_ms,
                                args.retry_after)
                try:
                    runs = []
                    for setting in [str(c) for c in FIXED] + ["auto"]:
                        record = run_once(case, server, data, setting, scratch)
                        log(f"K={capacity} {mode} max_concurrency {setting}: {record['rows_per_second']:.1f} rows/s, "
                            f"{record['row_errors']} row errors, {record['refused']} refused")
                        runs.append(record)
                finally:
                    server.stop()
                fixed = [r for r in runs if r["setting"] != "auto"]
                best = max(fixed, key=lambda r: r["rows_per_second"])
                auto = next(r for r in runs if r["setting"] == "auto")
                ratio = auto["rows_per_second"] / best["rows_per_second"] if best["rows_per_second"] else 0.0
                below = below or ratio < TARGET
                results.append({"capacity": capacity, "mode": mode, "rows": rows, "latency_ms": args.latency_ms,
                                "runs": runs, "best_fixed": best["setting"], "auto_ratio": round(ratio, 3)})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    for case in results:
        print(f"\n### K={case['capacity']}, over capacity: {case['mode']}, {case['rows']} rows, {case['latency_ms']} ms\n")
        print("| max_concurrency | seconds | rows/s | row errors | refused (429) | limit (range) |")
        print("|---|---:|---:|---:|---:|---|")
        for r in case["runs"]:
            c = r["concurrency"]
            limit = f"{c.get('limit')} ({c.get('lowest')}–{c.get('highest')})" if r["setting"] == "auto" else ""
            print(f"| {r['setting']} | {r['seconds']:.2f} | {r['rows_per_second']:.1f} | {r['row_errors']} | "
                  f"{r['refused']} | {limit} |")
        verdict = "ok" if case["auto_ratio"] >= TARGET else "BELOW TARGET"
        print(f"\nauto / best fixed ({case['best_fixed']}): {case['auto_ratio']:.3f} ({verdict}, target {TARGET})")
    out_dir = os.path.join(ROOT, ".build", "bench-results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "adaptive.json"), "w") as handle:
        json.dump({"target": TARGET, "cases": results}, handle, indent=1)
    return 1 if (args.strict and below) else 0


if __name__ == "__main__":
    sys.exit(main())
