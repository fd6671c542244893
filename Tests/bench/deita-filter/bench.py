#!/usr/bin/env python3
"""deita_filter benchmark: whole-process wall time and peak RSS of `pipeline run`.

    python3 Tests/bench/deita-filter/bench.py [--bin .build/release] [--plugin-path DIR]
        [--work .build/bench-deita] [--runs 5] [--skip-1m] [--only random,clustered,...]

Data (made once, by gen.c compiled with cc; no numpy needed) in --work:
  random-100k   100 000 x 384 random unit vectors (.npy float32) + row-aligned JSONL
                with random complexity_score / quality_score; also -inline.jsonl with
                the vectors as an `embedding` array per line
  clustered-100k  10 000 tight clusters of 10
  random-1m     1 000 000 x 384 (budget 100 000)
Pipeline: load_jsonl (embeddings: X.npy) -> deita_filter {budget, threshold 0.1}
-> keep_columns [id, deita_score, nearest_distance] -> write_jsonl: the selection
(which rows, their score and distance), not the selected vectors printed again
as JSON floats, which would measure write_jsonl's float printing instead. Each case: median of --runs (1 for 1M) runs, measured from outside
with os.wait4 (wall, ru_maxrss). Then distilabel 1.5.3's DeitaFiltering runs on the first
N rows (N = 5000, 10000, 20000, budget N/10) beside ours (method paper and method
distilabel, whose selection must equal distilabel's). Its venv is .build/bench-venvs/distilabel,
made from ../shared/peer-bench/requirements.lock.txt by the same code as
Tests/bench/llm/llm-bench.py (once, a few minutes); --no-distilabel skips it.
DEITA_FILTER_TIMING=1 in the environment makes deita_filter print its phase times.
"""
import argparse, importlib.util, json, os, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

CASES = [  # name, data, budget, inline, targets (s, MB), runs
    ("random 100k npy", "random-100k", 10000, False, (0.5, 250), None),
    ("clustered 100k npy", "clustered-100k", 10000, False, (2.5, None), None),
    ("random 100k inline JSONL", "random-100k", 10000, True, (2.0, None), None),
    ("random 1M npy", "random-1m", 100000, False, (30.0, 2048), 1),
]
PIPE = """name: deita-bench
steps:
  - name: load
    uses: load_jsonl
    with: {{path: {jsonl}{emb}, on_error: fail}}
  - name: select
    uses: deita_filter
    input: load
    with: {{budget: {budget}, threshold: 0.1}}
  - name: keep
    uses: keep_columns
    input: select
    with: {{columns: [id, deita_score, nearest_distance]}}
  - name: write
    uses: write_jsonl
    input: keep
    with: {{path: out.jsonl}}
"""


def measure(cmd, env=None, cwd=None):
    """(wall seconds, peak RSS MB, exit code) of one process, from outside."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return wall, ru.ru_maxrss / 1024.0, p.returncode


def ensure_data(work, name, n, kind, inline):
    npy = os.path.join(work, name + ".npy")
    if os.path.exists(npy) and (not inline or os.path.exists(os.path.join(work, name + "-inline.jsonl"))):
        return
    gen = os.path.join(work, "gen")
    subprocess.check_call(["cc", "-O2", "-o", gen, os.path.join(HERE, "gen.c"), "-lm"])
    args = [gen, kind, str(n), "384", str(n % 97 + (7 if kind == "clustered" else 1)), os.path.join(work, name)]
    subprocess.check_call(args + (["inline"] if inline else []))


def read_ids(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return [json.loads(line)["id"] for line in f if line.strip()]


def distilabel_venv(a):
    """The distilabel venv's python, made by llm-bench.py's ensure_venv if missing; None if it cannot be."""
    lock = os.path.join(os.path.abspath(a.peer_bench), "requirements.lock.txt")
    if not os.path.exists(lock):
        print(f"# no {lock}: distilabel skipped", file=sys.stderr)
        return None
    spec = importlib.util.spec_from_file_location("llm_bench", os.path.join(ROOT, "Tests", "bench", "llm", "llm-bench.py"))
    llm_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(llm_bench)
    py = llm_bench.ensure_venv(os.path.join(a.venvs, "distilabel"), lock)
    if py is None:
        print("# the distilabel venv could not be made: distilabel skipped", file=sys.stderr)
    return py


def fmt(v, unit=""):
    return "—" if v is None else f"{v:.2f}{unit}" if isinstance(v, float) else str(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--plugin-path", action="append", default=[])
    ap.add_argument("--work", default=os.path.join(ROOT, ".build", "bench-deita"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-1m", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--distilabel-n", default="5000,10000,20000")
    ap.add_argument("--no-distilabel", action="store_true")
    ap.add_argument("--peer-bench", default=os.path.join(ROOT, "..", "shared", "peer-bench"))
    ap.add_argument("--venvs", default=os.path.join(ROOT, ".build", "bench-venvs"))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    binary = os.path.join(a.bin, "pipeline")
    load0 = os.getloadavg()
    rows = []
    for title, data, budget, inline, (t_s, t_mb), runs in CASES:
        if a.skip_1m and data == "random-1m":
            continue
        if a.only and not any(o in title for o in a.only.split(",")):
            continue
        n = 1000000 if data.endswith("1m") else 100000
        ensure_data(a.work, data, n, "clustered" if data.startswith("clustered") else "random", inline)
        slug = title.replace(" ", "-")
        pfile = os.path.join(a.work, f"pipeline-{slug}.yaml")
        with open(pfile, "w") as f:
            f.write(PIPE.format(jsonl=f"{data}-inline.jsonl" if inline else f"{data}.jsonl",
                                emb="" if inline else f", embeddings: {data}.npy", budget=budget))
        cmd = [binary, "run", pfile, "--run-dir", os.path.join(a.work, "run-" + slug), "--no-checkpoint",
               "--log-format", "json"] + [x for p in a.plugin_path for x in ("--plugin-path", p)]
        res = [measure(cmd) for _ in range(runs or a.runs)]
        ok = all(r[2] == 0 for r in res)
        wall = statistics.median(r[0] for r in res)
        rss = statistics.median(r[1] for r in res)
        out = os.path.join(a.work, "run-" + slug, "out.jsonl")
        sel = sum(1 for _ in open(out)) if ok and os.path.exists(out) else None
        verdict = "FAIL (exit %d)" % res[0][2] if not ok else (
            "ok" if (t_s is None or wall <= t_s) and (t_mb is None or rss <= t_mb) else "MISS")
        rows.append((f"pipeline: {title}", n, budget, sel, wall, rss, t_s, t_mb, len(res), verdict))
        print(f"# {rows[-1]}", file=sys.stderr)

    venv_py = None
    if a.distilabel_n and not a.no_distilabel and not a.only:
        venv_py = distilabel_venv(a)
    if venv_py:
        ensure_data(a.work, "random-100k", 100000, "random", False)
        for n in [int(x) for x in a.distilabel_n.split(",")]:
            budget = n // 10
            # ours at the same N, same data (first n rows), method paper and distilabel
            ids = {}
            for method in ("paper", "distilabel"):
                sub = os.path.join(a.work, f"first-{n}")
                os.makedirs(sub, exist_ok=True)
                subprocess.check_call([sys.executable, os.path.join(HERE, "head_npy.py"),
                                       os.path.join(a.work, "random-100k"), str(n), os.path.join(sub, "d")])
                pfile = os.path.join(sub, f"pipeline-{method}.yaml")
                with open(pfile, "w") as f:
                    f.write(PIPE.format(jsonl="d.jsonl", emb=", embeddings: d.npy", budget=budget)
                            .replace("threshold: 0.1}", f"threshold: 0.1, method: {method}}}"))
                cmd = [binary, "run", pfile, "--run-dir", os.path.join(sub, "run-" + method), "--no-checkpoint",
                       "--log-format", "json"] + [x for p in a.plugin_path for x in ("--plugin-path", p)]
                res = [measure(cmd) for _ in range(3)]
                out = os.path.join(sub, "run-" + method, "out.jsonl")
                ids[method] = read_ids(out)
                sel = len(ids[method]) if ids[method] is not None else None
                rows.append((f"pipeline ({method})", n, budget, sel, statistics.median(r[0] for r in res),
                             statistics.median(r[1] for r in res), None, None, 3,
                             "ok" if all(r[2] == 0 for r in res) else "FAIL"))
            cmd = [venv_py, os.path.join(HERE, "distilabel_deita.py"), os.path.join(sub, "d"), str(budget), "0.1",
                   os.path.join(sub, "distilabel-out.jsonl")]
            res = [measure(cmd) for _ in range(1)]
            note = ""
            if res[0][2] == -11:
                # numpy's bundled OpenBLAS 0.3.28 has crashed (SIGSEGV in np.dot) at N = 20000 on
                # this 2-core Xeon; once more with its Haswell kernels, and say so in the table.
                res = [measure(cmd, env={**os.environ, "OPENBLAS_CORETYPE": "Haswell"})]
                note = "; crashed (SIGSEGV in OpenBLAS), rerun with OPENBLAS_CORETYPE=Haswell"
            out = os.path.join(sub, "distilabel-out.jsonl")
            theirs = read_ids(out) if res[0][2] == 0 else None
            sel = len(theirs) if theirs is not None else None
            same = theirs is not None and theirs == ids.get("distilabel")
            rows.append(("distilabel 1.5.3 DeitaFiltering", n, budget, sel, res[0][0], res[0][1], None, None, 1,
                         ("ok" if res[0][2] == 0 else "FAIL (exit %d)" % res[0][2]) + note +
                         ("; same rows as ours (distilabel)" if same else "; differs from ours (distilabel)")))

    print(f"load average {load0[0]:.2f} before, {os.getloadavg()[0]:.2f} after; {os.cpu_count()} CPUs")
    print("| case | N | budget | selected | wall s (median) | peak RSS MB | target s | target MB | runs | |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join([r[0], str(r[1]), str(r[2]), fmt(r[3]), fmt(r[4]), f"{r[5]:.0f}",
                                 fmt(r[6]), fmt(r[7]), str(r[8]), r[9]]) + " |")


if __name__ == "__main__":
    main()
