#!/bin/sh
# The prompt-iteration loop on pipelines/deita.yaml (k=3) against
# llm-test-server at 50 ms per request, in one run of this script:
#  1. `--preview 10`: the wall time until the previewed rows are printed,
#     beside the latency floor (the sequential rounds of calls one seed row
#     needs: k evolutions + 1 answer round, 1 complexity score, k quality
#     evolutions, 1 quality score; embeddings add one more);
#  2. a full run of N seeds, then `--resume-changed` after a change to
#     score_quality's temperature: the calls the rerun makes against the
#     calls the full run made (the ones it saved).
#
#   Tests/bench/iterate-bench.sh [BIN_DIR] [SEEDS]   (default .build/release, 200)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/.build/release}
seeds=${2:-200}
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-iterate-bench.XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/llm-test-server" --port 0 --port-file "$work/port" --latency-ms 50 --embed-dim 32 > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
url="http://127.0.0.1:$(cat "$work/port")"
export LLM_BASE_URL="$url/v1" DEITA_K=3 DEITA_DIMENSIONS=32 DEITA_BUDGET=$seeds
requests() { python3 -c "import json,urllib.request,sys; print(json.load(urllib.request.urlopen(sys.argv[1]+'/stats'))['requests'])" "$url"; }

python3 - "$work" "$seeds" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
topics = ["rivers", "compilers", "bread", "volcanoes", "chess", "tides", "vaccines", "bridges"]
with open(f"{work}/seed.jsonl", "w") as f:
    for i in range(n):
        f.write('{"id": %d, "instruction": "Explain %s, case %d."}\n' % (i, topics[i % len(topics)], i))
PY

pipeline="$root/pipelines/deita.yaml"
seed="load.path=$work/seed.jsonl"

echo "preview: --preview 10, k=3, 50 ms per request (3 runs, no cache)"
for i in 1 2 3; do
  start=$(python3 -c 'import time; print(time.time())')
  "$bin/pipeline" run "$pipeline" --param "$seed" --preview 10 --no-llm-cache -q > "$work/preview.jsonl"
  python3 -c 'import sys,time; print("  run %s: %.2f s to the printed rows (%d rows)" % (sys.argv[1], time.time() - float(sys.argv[2]), sum(1 for _ in open(sys.argv[3]))))' \
    "$i" "$start" "$work/preview.jsonl"
done
echo "  latency floor: 10 rounds of 50 ms = 0.50 s (3 evolutions + answers, complexity, 3 quality evolutions, quality, embeddings)"

before=$(requests)
"$bin/pipeline" run "$pipeline" --param "$seed" --run-dir "$work/run" --no-llm-cache -q
full=$(( $(requests) - before ))
before=$(requests)
"$bin/pipeline" run "$pipeline" --param "$seed" --param score_quality.temperature=0.3 --run-dir "$work/run" \
  --no-llm-cache --resume-changed -q
rerun=$(( $(requests) - before ))
echo "rerun after score_quality.temperature 0 -> 0.3 ($seeds seeds): the full run made $full requests; the rerun made $rerun, saved $(( full - rerun ))"
