#!/bin/sh
# dedup_minhash on N short rows (default 1 000 000, about 90 characters each,
# 15% exact and 15% near duplicates planted: Tests/bench/dedup/make_rows.py),
# load_jsonl -> dedup_minhash -> write_jsonl, wall time and peak RSS from
# /usr/bin/time; then dedup_exact on the same rows; then, when its venv can
# be made, distilabel 1.5.3's MinHashDedup on the same rows (character
# 5-grams: its "words" tokenizer needs nltk's punkt_tab, a download).
# Each result is scored against the planted duplicates (dedup/score.py).
# Then a similarity sweep: 3000 pairs whose character 5-gram Jaccard
# similarity spreads from 0.3 to 1 (dedup/make_pairs.py), through
# dedup_minhash and distilabel at threshold 0.8: which pairs each drops,
# by Jaccard bucket (dedup/score_pairs.py).
#
#   Tests/bench/dedup-bench.sh [BIN_DIR] [N]     (default .build/release, 1000000)
#   DEDUP_PEERS=none   skip distilabel;  DEDUP_PEER_ROWS=N  distilabel's row count (default N; 0: the sweep only)
#   DEDUP_PEER_TIMEOUT=seconds (default 1800)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/.build/release}
n=${2:-1000000}
peer_rows=${DEDUP_PEER_ROWS:-$n}
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-dedup-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
here="$root/Tests/bench/dedup"

echo "== $n rows (nproc $(nproc))"
python3 "$here/make_rows.py" "$n" "$work/rows.jsonl"
python3 "$here/make_pairs.py" "$work/pairs.jsonl"

tree_rss() {  # kB resident in process $1 and all its descendants
  ps -eo pid=,ppid=,rss= | awk -v root="$1" '{ parent[$1] = $2; rss[$1] = $3 }
    END { for (p in parent) { q = p; while (q != root && (q in parent) && q > 1) q = parent[q]; if (q == root) total += rss[p] }
          print total + 0 }'
}

measure() {  # label, then the command; prints wall, peak RSS (largest process, and the process tree sampled twice a second)
  label=$1; shift
  /usr/bin/time -v "$@" > "$work/$label.out" 2> "$work/$label.time" &
  timer=$!
  tree=0
  while kill -0 "$timer" 2>/dev/null; do
    now=$(tree_rss "$timer"); [ "$now" -gt "$tree" ] && tree=$now
    sleep 0.5
  done
  wait "$timer" || { echo "$label: FAILED"; tail -20 "$work/$label.out" "$work/$label.time"; return 1; }
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/$label.time")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/$label.time")
  cpu=$(sed -n 's/.*Percent of CPU this job got: //p' "$work/$label.time")
  echo "$label: wall $wall, peak RSS $((rss / 1024)) MB (largest process), $((tree / 1024)) MB (all its processes), CPU $cpu"
}

for step in dedup_minhash dedup_exact; do
  cat > "$work/$step.yaml" <<YAML
name: bench-$step
steps:
  - {name: load, uses: load_jsonl, with: {path: $work/rows.jsonl}}
  - {name: dedup, uses: $step, input: load}
  - {name: save, uses: write_jsonl, input: dedup, with: {path: out.jsonl}}
YAML
  measure "$step" "$bin/pipeline" run "$work/$step.yaml" --run-dir "$work/run-$step" --no-checkpoint
  grep -o "dedup_[a-z]*: [0-9]* of [^\"]*" "$work/$step.out" "$work/$step.time" | head -1 | sed 's/^[^:]*://'
  python3 "$here/score.py" "$work/rows.jsonl" "$work/run-$step/out.jsonl"
done

cat > "$work/pairs.yaml" <<YAML
name: bench-pairs
steps:
  - {name: load, uses: load_jsonl, with: {path: $work/pairs.jsonl}}
  - {name: dedup, uses: dedup_minhash, input: load, with: {threshold: 0.8}}
  - {name: save, uses: write_jsonl, input: dedup, with: {path: out.jsonl}}
YAML
echo "== similarity sweep, dedup_minhash (threshold 0.8): second rows dropped / pairs, by Jaccard"
"$bin/pipeline" run "$work/pairs.yaml" --run-dir "$work/run-pairs" --no-checkpoint > "$work/pairs.out" 2>&1
python3 "$here/score_pairs.py" "$work/pairs.jsonl" "$work/run-pairs/out.jsonl" 0.8

[ "${DEDUP_PEERS:-distilabel}" = none ] && exit 0
venv="$root/.build/bench-venvs/distilabel-dedup"
# datasketch 1.6.5: distilabel 1.5.3 subclasses its MinHashLSH, which 2.0 changed (insert fails).
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import distilabel, datasketch.version as v; assert v.__version__ == '1.6.5'" 2>/dev/null; then
  echo "== making $venv (once; a few minutes)"
  { python3 -m venv "$venv" && "$venv/bin/python" -m pip install --quiet pip==25.0 &&
    "$venv/bin/python" -m pip install -r "$root/../shared/peer-bench/requirements.lock.txt" datasketch==1.6.5; } \
    > "$venv.install.log" 2>&1 || { echo "distilabel: its venv could not be made (see $venv.install.log)"; exit 0; }
fi
echo "== similarity sweep, distilabel 1.5.3 MinHashDedup (tokenizer ngrams, n 5, threshold 0.8)"
"$venv/bin/python" "$here/distilabel_minhash.py" "$work/pairs.jsonl" "$work/distilabel-pairs.txt" > "$work/distilabel-pairs.out" 2>&1 &&
  python3 "$here/score_pairs.py" "$work/pairs.jsonl" "$work/distilabel-pairs.txt" 0.8 ||
  { echo "distilabel: FAILED"; tail -5 "$work/distilabel-pairs.out"; }
[ "$peer_rows" -gt 0 ] || exit 0
head -n "$peer_rows" "$work/rows.jsonl" > "$work/peer-rows.jsonl"
echo "== distilabel 1.5.3 MinHashDedup (tokenizer ngrams, n 5, threshold 0.8, 128 permutations) on $peer_rows rows"
measure distilabel timeout "${DEDUP_PEER_TIMEOUT:-1800}" "$venv/bin/python" "$here/distilabel_minhash.py" \
  "$work/peer-rows.jsonl" "$work/distilabel-kept.txt" || exit 0
grep RESULT "$work/distilabel.out" || true
python3 "$here/score.py" "$work/peer-rows.jsonl" "$work/distilabel-kept.txt"
