#!/bin/sh
# The non-LLM steps on ROWS rows (default 1 000 000), each beside the
# pass-through pipeline measured in the same run of this script:
#   pass-through   load_jsonl -> write_jsonl (the baseline)
#   X              load_jsonl -> X -> write_jsonl, X in filter, map,
#                  text_filter (C), keep_columns, dedup_exact,
#                  dedup_minhash, limit
#   loaders        load_csv -> write_jsonl, load_parquet -> write_jsonl
#   writer         load_jsonl -> write_parquet
# Every pipeline runs 3 times with --no-checkpoint, pass-through and
# filter also 3 times with checkpoints on (the default), in 3 rounds of
# one run each. Rows: id, instruction (60-100 characters of words from
# about 150; 5% exact and 5% near duplicates of earlier rows, some with
# commas and quotes), score (0-100, two decimals), category (8 values);
# the same rows as JSON Lines, CSV, and Parquet (our write_parquet's).
#
# Per pipeline: wall (/usr/bin/time, median of 3), its ratio to the
# pass-through wall ("x pass"), end-to-end rows/s and MB/s; the measured
# step's busy seconds (summary.json: time inside its calls, from the
# median run), its rows/s and MB/s (rows it takes in, or for a loader
# the rows it makes, over its busy seconds; MB are the JSON Lines bytes
# of those rows, whatever the format read); peak RSS (the largest of the
# 3). Then the slowest step (lowest own rows/s) is run once under
# `perf record -g`, and its top symbols are printed.
#
#   Tests/bench/steps-bench.sh [BIN_DIR] [ROWS]    (default .build/release, 1000000)
#   STEPS_BENCH_PERF=no   skip the profile;  STEPS_BENCH_KEEP=yes   keep the work directory (data, perf.data)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/.build/release}
n=${2:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-steps-bench.XXXXXX")
if [ "${STEPS_BENCH_KEEP:-no}" = yes ]; then echo "work directory (kept): $work"; else trap 'rm -rf "$work"' EXIT; fi
[ -x /usr/bin/time ] || { echo "steps-bench: needs GNU time at /usr/bin/time (make bench-tools)"; exit 1; }
[ -x "$bin/pipeline" ] || { echo "steps-bench: no pipeline binary in $bin"; exit 1; }

echo "== $n rows; nproc $(nproc); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work" "$n" <<'PY'
import csv, json, random, sys
work, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(24)
verbs = ("explain describe compare summarise translate list outline justify rewrite classify "
         "critique estimate derive define contrast review draft sketch plan debug").split()
words = ("river mountain ledger protocol harvest lantern quantum syntax orchard village engine "
         "treaty molecule archive compass glacier sonnet market circuit theorem canyon recipe "
         "harbour violin fossil satellite vaccine parliament algorithm cathedral tariff pigment "
         "estuary keyboard monsoon lighthouse enzyme ballad voltage meadow citadel dialect comet "
         "ferment prairie cipher tundra sculpture reactor ceramic lagoon gospel furnace nebula "
         "quarry saddle thicket turbine vineyard walrus yarn zenith bronze copper delta ember "
         "falcon granite hazel iris jasmine kernel lemon maple nickel oyster pepper quill raven "
         "silver timber umbra velvet willow basalt cobalt dune fjord grove heron inlet jade "
         "knoll lichen marsh nectar opal pebble reed shale thistle upland vale wharf").split()
glue = "the a of for in on with about between and to from why how when".split()
categories = ["math", "code", "writing", "science", "history", "travel", "cooking", "law"]

def instruction():
    target = rng.randint(60, 100)
    parts = [rng.choice(verbs)]
    while True:
        w = rng.choice(words) if rng.random() < 0.7 else rng.choice(glue)
        if rng.random() < 0.02:
            w += ","
        elif rng.random() < 0.01:
            w = f'"{w}"'
        if len(" ".join(parts)) + 1 + len(w) > target:
            break
        parts.append(w)
    return " ".join(parts)

texts = []
with open(f"{work}/rows.jsonl", "w") as jf, open(f"{work}/rows.csv", "w", newline="") as cf:
    out = csv.writer(cf, lineterminator="\n")
    out.writerow(["id", "instruction", "score", "category"])
    for i in range(n):
        r = rng.random()
        if texts and r < 0.05:                       # exact duplicate (case aside)
            text = rng.choice(texts).upper() if rng.random() < 0.3 else rng.choice(texts)
        elif texts and r < 0.10:                     # near duplicate: one word changed
            ws = rng.choice(texts).split(" ")
            ws[rng.randrange(1, len(ws))] = rng.choice(words)
            text = " ".join(ws)
        else:
            text = instruction()
        if len(texts) < 200_000:
            texts.append(text)
        else:
            texts[rng.randrange(len(texts))] = text
        score = round(rng.uniform(0, 100), 2)
        cat = categories[rng.randrange(8)]
        jf.write(json.dumps({"id": i, "instruction": text, "score": score, "category": cat},
                            separators=(",", ":")) + "\n")
        out.writerow([i, text, repr(score), cat])
PY

cat > "$work/make-parquet.yaml" <<YAML
name: steps-make-parquet
steps:
  - {name: load, uses: load_jsonl, with: {path: rows.jsonl}}
  - {name: save, uses: write_parquet, input: load, with: {path: $work/rows.parquet}}
YAML
"$bin/pipeline" run "$work/make-parquet.yaml" --run-dir "$work/run-make-parquet" --no-checkpoint \
  > "$work/make-parquet.log" 2>&1 || { echo "steps-bench: writing rows.parquet failed:"; tail -20 "$work/make-parquet.log"; exit 1; }
rm -rf "$work/run-make-parquet"
jsonl_bytes=$(wc -c < "$work/rows.jsonl")
echo "input: rows.jsonl $(( $(wc -c < "$work/rows.jsonl") / 1000000 )) MB, rows.csv $(( $(wc -c < "$work/rows.csv") / 1000000 )) MB," \
  "rows.parquet $(( $(wc -c < "$work/rows.parquet") / 1000000 )) MB (snappy); MB/s below are of the JSON Lines bytes (1 MB = 10^6 bytes)"

# pipeline NAME LOADER MIDDLE SAVER: writes $work/NAME.yaml with steps load,
# [step,] save.
pipeline() {
  name=$1 loader=$2 middle=$3 saver=$4
  {
    echo "name: steps-$name"
    echo "steps:"
    echo "  - {name: load, $loader}"
    if [ -n "$middle" ]; then
      echo "  - {name: step, input: load, $middle}"
      echo "  - {name: save, input: step, $saver}"
    else
      echo "  - {name: save, input: load, $saver}"
    fi
  } > "$work/$name.yaml"
}
jsonl="uses: load_jsonl, with: {path: rows.jsonl}"
to_jsonl="uses: write_jsonl, with: {path: out.jsonl}"

# measure NAME MODE(memory|checkpoint) MEASURED-STEP(load|step|save) REP: one run.
failed=
measure() {
  name=$1 mode=$2 measured=$3 rep=$4
  case " $failed " in *" $name-$mode "*) return 0 ;; esac
  flag=--no-checkpoint; [ "$mode" = checkpoint ] && flag=
  rm -rf "$work/run"
  if ! /usr/bin/time -v "$bin/pipeline" run "$work/$name.yaml" --run-dir "$work/run" --fresh $flag \
      > "$work/$name-$mode.log" 2> "$work/$name-$mode.time"; then
    echo "FAILED: $bin/pipeline run $name.yaml --run-dir run --fresh $flag"
    sed -n 1,12p "$work/$name.yaml" | sed 's/^/  | /'
    # The pipeline's log (stderr) is in the .time file, before GNU time's report.
    cat "$work/$name-$mode.log" "$work/$name-$mode.time" | grep -v '"level":"\(info\|debug\|trace\)"' \
      | grep -v "^	" | tail -8 | sed 's/^/  > /'
    failed="$failed $name-$mode"
    return 0
  fi
  python3 - "$work/run/summary.json" "$work/$name-$mode.time" "$name" "$mode" "$measured" "$rep" >> "$work/results.jsonl" <<'PY'
import json, sys
summary, timefile, name, mode, measured, rep = sys.argv[1:]
s = json.load(open(summary))
wall = rss = None
for line in open(timefile):
    line = line.strip()
    if line.startswith("Elapsed (wall clock) time"):
        parts = [float(p) for p in line.rsplit(" ", 1)[1].split(":")]
        wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    elif line.startswith("Maximum resident set size (kbytes):"):
        rss = int(line.rsplit(" ", 1)[1])
steps = {st["name"]: {k: st[k] for k in ("busy_seconds", "rows_in", "rows_out", "uses")} for st in s["steps"]}
print(json.dumps({"name": name, "mode": mode, "measured": measured, "rep": int(rep), "wall": wall,
                  "rss_kb": rss, "seconds": s["seconds"], "cpu": s["cpu_seconds"], "row_errors": s["row_errors"], "steps": steps}))
PY
  rm -rf "$work/run"
}

pipeline pass-through "$jsonl" "" "$to_jsonl"
pipeline filter "$jsonl" "uses: filter, with: {where: 'score >= 50'}" "$to_jsonl"
pipeline map "$jsonl" "uses: map, with: {columns: {tagged: '= category ~ \": \" ~ instruction'}}" "$to_jsonl"
pipeline text_filter "$jsonl" "uses: text_filter, with: {column: instruction, min_chars: 80}" "$to_jsonl"
pipeline keep_columns "$jsonl" "uses: keep_columns, with: {columns: [id, instruction]}" "$to_jsonl"
pipeline dedup_exact "$jsonl" "uses: dedup_exact, with: {column: instruction}" "$to_jsonl"
pipeline dedup_minhash "$jsonl" "uses: dedup_minhash, with: {column: instruction}" "$to_jsonl"
pipeline limit "$jsonl" "uses: limit, with: {rows: $((n / 2))}" "$to_jsonl"
pipeline load_csv "uses: load_csv, with: {path: rows.csv}" "" "$to_jsonl"
pipeline load_parquet "uses: load_parquet, with: {path: rows.parquet}" "" "$to_jsonl"
pipeline write_parquet "$jsonl" "" "uses: write_parquet, with: {path: out.parquet}"

# Round by round (each pipeline once, then again, three times), so that a
# change in the machine's load falls on every pipeline alike.
for rep in 1 2 3; do
  measure pass-through memory load $rep
  measure pass-through checkpoint load $rep
  for x in filter map text_filter keep_columns dedup_exact dedup_minhash limit; do
    measure $x memory step $rep
  done
  measure filter checkpoint step $rep
  measure load_csv memory load $rep
  measure load_parquet memory load $rep
  measure write_parquet memory save $rep
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work/results.jsonl" "$n" "$jsonl_bytes" "$work/slowest" <<'PY'
import json, statistics, sys
path, n, jbytes, slowest_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
runs = {}
for line in open(path):
    r = json.loads(line)
    runs.setdefault((r["name"], r["mode"]), []).append(r)
def median_run(rs):
    return sorted(rs, key=lambda r: r["wall"])[len(rs) // 2]
base = runs.get(("pass-through", "memory"))
base_wall = statistics.median(r["wall"] for r in base) if base else None
hdr = (f"{'pipeline':<26} {'wall s':>7} {'x pass':>6} {'CPU s':>6} {'rows/s':>9} {'MB/s':>6}  {'step':<14} "
       f"{'busy s':>7} {'rows/s':>9} {'MB/s':>6} {'RSS MB':>7} {'rows out':>9}")
print(hdr)
print(f"{'':<26} {'(end to end, median of 3)':<39}  {'(the step alone: its busy seconds)'}")
own = []
for (name, mode), rs in runs.items():
    m = median_run(rs)
    wall = statistics.median(r["wall"] for r in rs)
    ratio = f"{wall / base_wall:6.2f}" if base_wall else f"{'-':>6}"
    label = name + (" [checkpoint]" if mode == "checkpoint" else "")
    measured = [m["measured"]] + (["save"] if name == "pass-through" else [])
    for k, step_name in enumerate(measured):
        st = m["steps"][step_name]
        rows = st["rows_out"] if step_name == "load" else st["rows_in"]
        busy = st["busy_seconds"]
        rate = rows / busy if busy > 0 else float("inf")
        mbs = jbytes * rows / n / 1e6 / busy if busy > 0 else float("inf")
        uses = st["uses"].removeprefix("org.pipeline.")
        rows_out = m["steps"]["save"]["rows_in"]
        if k == 0:
            print(f"{label:<26} {wall:7.2f} {ratio} {m['cpu']:6.2f} {n / wall:9.0f} {jbytes / 1e6 / wall:6.1f}  {uses:<14} "
                  f"{busy:7.2f} {rate:9.0f} {mbs:6.1f} {max(r['rss_kb'] for r in rs) / 1024:7.0f} {rows_out:>9}")
        else:
            print(f"{'':<26} {'':>7} {'':>6} {'':>6} {'':>9} {'':>6}  {uses:<14} {busy:7.2f} {rate:9.0f} {mbs:6.1f}")
        if mode == "memory":
            own.append((rate, uses, name))
        if m["row_errors"]:
            print(f"  ({m['row_errors']} row errors)")
if own:
    rate, uses, name = min(own)
    print(f"slowest step: {uses} ({rate:.0f} rows/s of its own; pipeline '{name}')")
    open(slowest_file, "w").write(name + "\n")
PY

[ -n "$failed" ] && echo "FAILED pipelines:$failed"
if [ "${STEPS_BENCH_PERF:-yes}" != no ] && [ -s "$work/slowest" ] && command -v perf > /dev/null; then
  slow=$(cat "$work/slowest")
  echo "== perf record -g: $slow, --no-checkpoint (top symbols by own samples, then by samples under them)"
  rm -rf "$work/run"
  if perf record -g -o "$work/perf.data" -- "$bin/pipeline" run "$work/$slow.yaml" --run-dir "$work/run" \
      --fresh --no-checkpoint > "$work/perf.log" 2>&1; then
    demangle=cat
    command -v swift > /dev/null && swift demangle --simplified < /dev/null > /dev/null 2>&1 \
      && demangle="swift demangle --simplified"
    perf report -i "$work/perf.data" --stdio --no-children --sort dso,symbol -g none --percent-limit 1.5 2> /dev/null \
      | grep -v '^#' | grep -v '^$' | head -25 | $demangle | cut -c1-160 | sed 's/ *$//'
    echo "-- inclusive (samples in the function and under it), the host's frames left out"
    perf report -i "$work/perf.data" --stdio --children --sort symbol -g none --percent-limit 2 2> /dev/null \
      | grep -v '^#' | grep -v '^$' | $demangle \
      | grep -v 'start_thread\|NSThread\|Thread.main\|WorkerPool\|partial apply\|thunk for\|Run.dispatch\|StepRuntime\|StepHost\|StepInstance\|trampoline\|makeDescriptor\|protocol witness\|dispatch_apply\|concurrentPerform\|_dispatch_worker\|_start\|main$' \
      | head -20 | cut -c1-160 | sed 's/ *$//'
    echo "-- what the step logged"
    grep '"step":"\(load\|step\|save\)"' "$work/perf.log" | grep -v '"level":"debug"' \
      | sed 's/.*"message":"\(.*\)","metadata".*/\1/' | cut -c1-400
  else
    echo "perf record failed:"; tail -5 "$work/perf.log"
  fi
fi
[ -z "$failed" ]
