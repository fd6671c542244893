#!/bin/sh
# Streams N rows through load_jsonl -> text_filter (C, keeps every row, so
# it copies every value) -> write_jsonl and reports rows/s, MB/s and peak
# RSS, for 100k and 1M rows: peak memory must not grow with the row count.
#
#   Tests/bench/stream-bench.sh [BIN_DIR]     (default .build/release)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/.build/release}
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-stream-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import json, sys, random
work = sys.argv[1]
words = "explain compare write summarise translate describe list why how the a of river sky code law poem".split()
rng = random.Random(7)
lines = []
for i in range(1_000_000):
    text = " ".join(rng.choice(words) for _ in range(8 + i % 9))
    lines.append(json.dumps({"id": i, "instruction": f"{text} ({i})", "score": round(rng.random(), 4)}, separators=(",", ":")))
with open(f"{work}/rows-1000000.jsonl", "w") as f:
    f.write("\n".join(lines) + "\n")
with open(f"{work}/rows-100000.jsonl", "w") as f:
    f.write("\n".join(lines[:100_000]) + "\n")
PY

printf '%-9s %9s %10s %9s %11s %9s\n' rows seconds "rows/s" "MB/s" "peak RSS" "CPU s"
for n in 100000 1000000; do
  cat > "$work/stream-$n.yaml" <<YAML
name: stream-bench-$n
steps:
  - name: load
    uses: load_jsonl
    with: {path: rows-$n.jsonl}
  - name: pass
    uses: text_filter
    input: load
    with: {column: instruction}
  - name: save
    uses: write_jsonl
    input: pass
    with: {path: out.jsonl}
YAML
  "$bin/pipeline" run "$work/stream-$n.yaml" --run-dir "$work/run-$n" > "$work/run-$n.log" 2>&1 \
    || { cat "$work/run-$n.log"; exit 1; }
  out=$(wc -l < "$work/run-$n/out.jsonl")
  [ "$out" -eq "$n" ] || { echo "expected $n rows out, got $out"; exit 1; }
  bytes=$(wc -c < "$work/rows-$n.jsonl")
  python3 - "$work/run-$n/summary.json" "$n" "$bytes" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2]); size = int(sys.argv[3])
sec = s["seconds"]
print(f"{n:<9} {sec:9.2f} {n/sec:10.0f} {size/sec/1e6:9.1f} {s['peak_rss_bytes']/2**20:8.1f} MB {s['cpu_seconds']:9.2f}")
PY
done
