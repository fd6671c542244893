#!/bin/sh
# The everyday verbs on 1 M rows: load_jsonl -> VERB -> write_jsonl beside
# load_jsonl -> write_jsonl (pass-through), in one run of this script.
# Prints, per pipeline, the wall time and rows/s end to end, and the verb's
# own rows/s (rows in / its busy seconds in summary.json); then each verb's
# end-to-end throughput as a fraction of the pass-through figure (issue 18
# asks filter and map for at least a third of it).
#
#   Tests/bench/verbs-bench.sh [BIN_DIR] [ROWS]    (default .build/release, 1000000)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/.build/release}
n=${2:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-verbs-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$n" <<'PY'
import json, sys, random
work, n = sys.argv[1], int(sys.argv[2])
words = "explain compare write summarise translate describe list why how the a of river sky code law poem".split()
products = ["Lamp", "Kettle", "Router", "Bike"]
rng = random.Random(7)
with open(f"{work}/rows.jsonl", "w") as f:
    for i in range(n):
        text = " ".join(rng.choice(words) for _ in range(8 + i % 9))
        f.write(json.dumps({"id": i, "product": products[i % 4], "question": f"{text} ({i})",
                            "answer": f"Answer {i}: {text}", "rating": rng.randint(1, 10),
                            "finish_reason": "stop" if i % 10 else "length"}, separators=(",", ":")) + "\n")
PY

has_map=no
"$bin/pipeline" plugins inspect map > /dev/null 2>&1 && has_map=yes

run() {  # NAME STEP-YAML
  name=$1 step=$2
  if [ -n "$step" ]; then
    middle="  - {name: verb, input: load, $step}
  - {name: save, uses: write_jsonl, input: verb, with: {path: out.jsonl}}"
  else
    middle="  - {name: save, uses: write_jsonl, input: load, with: {path: out.jsonl}}"
  fi
  cat > "$work/$name.yaml" <<YAML
name: verbs-$name
steps:
  - {name: load, uses: load_jsonl, with: {path: rows.jsonl}}
$middle
YAML
  "$bin/pipeline" run "$work/$name.yaml" --run-dir "$work/run-$name" --fresh > "$work/$name.log" 2>&1 \
    || { cat "$work/$name.log"; exit 1; }
  python3 - "$work/run-$name/summary.json" "$name" "$n" "$work/results" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); name, n, results = sys.argv[2], int(sys.argv[3]), sys.argv[4]
verb = next((st for st in s["steps"] if st["name"] == "verb"), None)
own = f"{verb['rows_in'] / verb['busy_seconds']:12.0f}" if verb and verb["busy_seconds"] > 0 else f"{'-':>12}"
out = verb["rows_out"] if verb else n
print(f"{name:<14} {s['seconds']:8.2f} {n / s['seconds']:12.0f} {own} {out:>9} {s['peak_rss_bytes'] / 2**20:8.1f} MB")
with open(results, "a") as f:
    f.write(f"{name} {n / s['seconds']}\n")
PY
}

printf '%-14s %8s %12s %12s %9s %11s\n' pipeline seconds "rows/s" "verb rows/s" "rows out" "peak RSS"
run pass-through ""
run filter "uses: filter, with: {where: 'rating >= 7 and finish_reason == \"stop\"'}"
run filter-regex "uses: filter, with: {where: 'question is matching(\"^(explain|how) \") and answer | length > 40'}"
if [ $has_map = yes ]; then
  run map "uses: map, with: {columns: {prompt: 'Answer for the {product}: {question}', messages: [{role: user, content: '{question}'}, {role: assistant, content: '{answer}'}]}}"
else
  echo "map: not built (no map step in $bin/pipeline-plugins)"
fi
# join: 100 000 rows fanned out to two branches, one 100 times slower per
# batch than the other (the slow.c fixture: 0.2 ms vs 20 ms per 1000-row
# batch), joined back by _row_id. Target: peak RSS <= 150 MB.
cc -std=c11 -O2 -fPIC -shared -I"$root/Sources/CPipelineABI/include" -o "$work/libslow.so" "$root/Tests/Fixtures/plugins/slow.c"
head -n 100000 "$work/rows.jsonl" > "$work/rows-100k.jsonl"
cat > "$work/join.yaml" <<YAML
name: verbs-join
steps:
  - {name: load, uses: load_jsonl, with: {path: rows-100k.jsonl}, batch_size: 1000}
  - {name: fast, uses: slow, input: load, with: {delay_ms: 0}}
  - {name: lazy, uses: slow, input: load, with: {delay_ms: 20}}
  - {name: both, uses: join, input: [fast, lazy], with: {shared_columns: [id], prefixes: {lazy: lazy_}}}
  - {name: save, uses: write_jsonl, input: both, with: {path: out.jsonl}}
YAML
"$bin/pipeline" run "$work/join.yaml" --run-dir "$work/run-join" --fresh --plugin-path "$bin/pipeline-plugins" \
  --plugin-path "$work/libslow.so" > "$work/join.log" 2>&1 || { cat "$work/join.log"; exit 1; }
python3 - "$work/run-join/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
both = next(st for st in s["steps"] if st["name"] == "both")
peak = s["peak_rss_bytes"] / 2**20
print(f"join, 100k rows, one branch 100x slower: {both['rows_out']} rows in {s['seconds']:.2f} s, peak RSS {peak:.1f} MB (target <= 150 MB)")
PY

python3 - "$work/results" <<'PY'
import sys
rates = dict(line.split() for line in open(sys.argv[1]))
base = float(rates.pop("pass-through"))
for name, rate in rates.items():
    print(f"{name}: {float(rate) / base:.2f} of the pass-through rows/s (target >= 0.33)")
PY
