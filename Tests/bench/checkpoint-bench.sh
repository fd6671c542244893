#!/bin/sh
# Checkpoint overhead: the same pipelines with the state store (default)
# and with --no-checkpoint, default batch size (1000), median of 3 runs each.
#   io    200k rows: load_jsonl -> text_filter (C) -> write_jsonl. Pure I/O:
#         the worst case, every byte also goes to state.db.
#   work  the same with a step costing 20 ms per batch (20 µs a row, far
#         less than any LLM call) before the filter.
#
#   Tests/bench/checkpoint-bench.sh [BIN_DIR]     (default .build/release)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/.build/release}
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-checkpoint-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plugins"
cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -I"$root/Sources/CPipelineABI/include" \
  -o "$work/plugins/libslow.so" "$root/Tests/Fixtures/plugins/slow.c"
python3 - "$work" <<'PY'
import json, random, sys
rng = random.Random(7)
words = "explain compare write summarise translate describe list why how the a of river sky code law poem".split()
with open(f"{sys.argv[1]}/rows.jsonl", "w") as f:
    for i in range(200_000):
        text = " ".join(rng.choice(words) for _ in range(8 + i % 9))
        f.write(json.dumps({"id": i, "instruction": f"{text} ({i})"}, separators=(",", ":")) + "\n")
PY
for kind in io work; do
  {
    echo "name: checkpoint-$kind"
    echo "steps:"
    echo "  - {name: load, uses: load_jsonl, with: {path: rows.jsonl}}"
    if [ "$kind" = work ]; then
      echo "  - {name: work, uses: slow, input: load, with: {delay_ms: 20}}"
      echo "  - {name: pass, uses: text_filter, input: work, with: {column: instruction}}"
    else
      echo "  - {name: pass, uses: text_filter, input: load, with: {column: instruction}}"
    fi
    echo "  - {name: save, uses: write_jsonl, input: pass, with: {path: out.jsonl}}"
  } > "$work/$kind.yaml"
done

median() { sort -n | sed -n 2p; }
printf '%-6s %14s %14s %10s\n' pipeline "checkpoint s" "in-memory s" overhead
for kind in io work; do
  for mode in checkpoint memory; do
    flag=; [ $mode = memory ] && flag=--no-checkpoint
    for i in 1 2 3; do
      rm -rf "$work/run"
      "$bin/pipeline" run "$work/$kind.yaml" --run-dir "$work/run" $flag --plugin-path "$work/plugins" \
        --log-format json 2>/dev/null || { echo "run failed"; exit 1; }
      python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['seconds'])" "$work/run/summary.json"
    done | median > "$work/$kind-$mode"
  done
  python3 - "$kind" "$(cat "$work/$kind-checkpoint")" "$(cat "$work/$kind-memory")" <<'PY'
import sys
kind, ck, mem = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
print(f"{kind:<6} {ck:14.2f} {mem:14.2f} {100 * (ck - mem) / mem:9.1f}%")
PY
done
