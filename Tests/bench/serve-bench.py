#!/usr/bin/env python3
"""serve: against the tiny random GGUF model (make-tiny-gguf.py --tokenizer bpe).

    serve-bench.py --bin-dir .build/release --python .build/llama-venv/bin/python

Measures, with llama-cpp-python serving the model through `llms: NAME: serve:`:
  - start to ready of the server (summary.json servers[].ready_seconds);
  - textgen, 40 rows x 3 generations: wall;
  - DEITA, N=20 seeds, k=2: wall and CPU (the host and its servers: the
    host reaps them, so their CPU is in its children's rusage).
Baseline in the same run: the textgen pipeline against a llama-cpp-python
server this script starts itself (base_url), so the ratio is what serve:
adds (its start-up included).
"""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def llms(python, model, base_url=None):
    if base_url:
        chat = f'base_url: "{base_url}"'
    else:
        chat = f'serve: {{preset: llama-cpp-python, executable: "{python}", model: "{model}"}}'
    return f"""llms:
  tiny:
    model: tiny
    max_concurrency: 1
    timeout_seconds: 300
    params: {{max_tokens: 24, temperature: 0.8}}
    {chat}
  tiny_embed:
    model: tiny
    max_concurrency: 1
    timeout_seconds: 300
    serve: {{preset: llama-cpp-python, executable: "{python}", model: "{model}", args: ["--embedding", "true"]}}
"""


def rows(n):
    return ", ".join('{instruction: "Write about topic number %d."}' % i for i in range(n))


def textgen(python, model, base_url=None):
    return f"""name: bench-textgen
{llms(python, model, base_url)}
steps:
  - {{name: load, uses: load_inline, with: {{batch_size: 10, rows: [{rows(40)}]}}}}
  - {{name: generate, uses: text_generation, llm: tiny, input: load, with: {{num_generations: 3, seed: 5}}}}
  - {{name: save, uses: write_jsonl, input: generate, with: {{path: out.jsonl}}}}
"""


def deita(python, model, seeds):
    text = open(os.path.join(ROOT, "pipelines/deita.yaml"), encoding="utf-8").read()
    steps = text[text.index("\nsteps:"):]
    steps = steps.replace("llm: teacher", "llm: tiny").replace("llm: embedder", "llm: tiny_embed")
    steps = steps.replace("deita-seed.jsonl", seeds)
    return "name: bench-deita\n" + llms(python, model) + steps


def run(binary, work, name, text):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    run_dir = os.path.join(work, name)
    env = dict(os.environ, DEITA_K="2", DEITA_DIMENSIONS="64", DEITA_BUDGET="10")
    start = time.monotonic()
    process = subprocess.Popen([binary, "run", path, "--run-dir", run_dir, "--fresh", "--no-llm-cache", "--log-format", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as handle:
        summary = json.load(handle)
    return code, wall, usage.ru_utime + usage.ru_stime, summary, output.decode(errors="replace")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, ".build/release"))
    parser.add_argument("--python", default=os.path.join(ROOT, ".build/llama-venv/bin/python"))
    args = parser.parse_args()
    binary = os.path.abspath(os.path.join(args.bin_dir, "pipeline"))
    python = os.path.abspath(args.python)
    with tempfile.TemporaryDirectory(prefix="pipeline-serve-bench.") as work:
        model = os.path.join(work, "tiny-bpe.gguf")
        subprocess.run([python, os.path.join(ROOT, "Tests/tools/make-tiny-gguf.py"), model, "--tokenizer", "bpe"], check=True)

        # Baseline: a server started by hand, textgen pointed at it.
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}
        server = subprocess.Popen([python, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", str(port),
                                   "--interrupt_requests", "false"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            for _ in range(1200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.1)
            base_code, base_wall, _, _, base_out = run(binary, work, "textgen-base", textgen(python, model, f"http://127.0.0.1:{port}/v1"))
        finally:
            server.terminate()
            server.wait()

        code, wall, _, summary, out = run(binary, work, "textgen", textgen(python, model))
        chat = next(s for s in summary["servers"] if "tiny" in s["llms"])
        seeds = os.path.join(work, "seeds.jsonl")
        with open(seeds, "w", encoding="utf-8") as handle:
            for i in range(20):
                handle.write(json.dumps({"instruction": "Write about topic number %d." % i}) + "\n")
        d_code, d_wall, d_cpu, d_summary, d_out = run(binary, work, "deita", deita(python, model, seeds))
        for name, c, o in (("textgen-base", base_code, base_out), ("textgen", code, out)):
            if c not in (0, 3):
                sys.stderr.write(o)
                sys.exit(f"{name}: exit {c}")
        if d_code not in (0, 3):
            sys.stderr.write(d_out)
            sys.exit(f"deita: exit {d_code}")
        print(f"serve start to ready (tiny model, llama-cpp-python): {chat['ready_seconds']:.2f} s")
        print(f"textgen 40 rows x 3 generations, serve:  {wall:.2f} s wall (exit {code})")
        print(f"textgen 40 rows x 3 generations, base_url to a server started by hand: {base_wall:.2f} s wall "
              f"(ratio serve/base {wall / base_wall:.2f}, start-up included)")
        print(f"DEITA N=20 k=2, serve: {d_wall:.2f} s wall, {d_cpu:.2f} s CPU (host and servers), exit {d_code}, "
              f"{d_summary.get('row_errors', 0)} row errors")


if __name__ == "__main__":
    main()
