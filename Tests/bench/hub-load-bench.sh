#!/bin/sh
# load_from_hub against the in-project Hub double: a dataset of ROWS (default
# 200000) rows written by Hugging Face `datasets` (Parquet, with a card),
# read by load_from_hub -> write_jsonl twice with the same download cache:
# the first run downloads, the second must download nothing. Prints seconds,
# peak RSS and the bytes the double served for each run.
#
#   Tests/bench/hub-load-bench.sh [BIN_DIR]     (default .build/release)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/.build/release}
py=${PYTHON:-$root/.build/test-venv/bin/python}
rows=${ROWS:-200000}
[ -x "$py" ] || { echo "no Python with datasets at $py (make venv)"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-hub-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/load.yaml" <<YAML
name: hub-load-bench
steps:
  - {name: load, uses: load_from_hub, with: {repo_id: bench/rows, split: train}}
  - {name: save, uses: write_jsonl, input: load, with: {path: out.jsonl}}
YAML
cat > "$work/bench.sh" <<'SH'
set -eu
"$PY" "$ROOT/Tests/hub/seed_dataset.py" --endpoint "$HF_ENDPOINT" --repo bench/rows --rows "$ROWS" parquet > /dev/null
served() { "$PY" -c 'import json, sys, urllib.request; s = json.load(urllib.request.urlopen(sys.argv[1] + "/_stats")); print(sum(r["bytes"] or 0 for r in s.get("reads", []) if r["status"] in (200, 206)))' "$HF_ENDPOINT"; }
for run in first warm; do
  before=$(served)
  /usr/bin/time -f "%e %M" -o "$WORK/$run.time" "$BIN/pipeline" run "$WORK/load.yaml" --run-dir "$WORK/run-$run" --no-checkpoint > "$WORK/$run.log" 2>&1 \
    || { cat "$WORK/$run.log"; exit 1; }
  after=$(served)
  set -- $(cat "$WORK/$run.time")
  out=$(wc -l < "$WORK/run-$run/out.jsonl")
  printf '%-6s %7.2f s  peak RSS %5d MB  rows %s  downloaded %s bytes\n' "$run" "$1" $(($2 / 1024)) "$out" $((after - before))
  [ "$out" = "$ROWS" ] || { echo "expected $ROWS rows"; exit 1; }
done
SH
PIPELINE_CACHE_DIR="$work/cache" PY=$py ROOT=$root ROWS=$rows WORK=$work BIN=$bin \
  "$root/Tests/tools/with-hub-server.sh" -- sh "$work/bench.sh"
