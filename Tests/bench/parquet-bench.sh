#!/bin/sh
# JSONL (+ a .npy of embeddings) -> Parquet, ours beside pyarrow, on about
# SIZE_MB (default 1000) MB of JSON Lines: id, text, messages (list of
# {role, content}) and a float32 embedding per row (DIMS, default 256, from a
# .npy as load_jsonl reads it). Prints seconds, rows/s, MB/s of input
# (JSONL + .npy), peak RSS (/usr/bin/time -v) and the output size of:
#   ours     load_jsonl -> write_parquet (snappy, the defaults)
#   ours     load_jsonl -> write_jsonl   (the same load, a writer we know: what the load costs)
#   pyarrow  pyarrow.json.read_json + numpy.load -> pyarrow.parquet.write_table (snappy)
# Each Parquet file is read back with pyarrow and its row count checked.
#
# Then pyarrow's file is read back (see "Reading" below).
#
#   Tests/bench/parquet-bench.sh [BIN_DIR]     (default .build/release)
#   SIZE_MB=200 DIMS=384 PYTHON=... Tests/bench/parquet-bench.sh
#   BASELINE=DIR Tests/bench/parquet-bench.sh  (also reads with DIR/pipeline: before and after)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/.build/release}
py=${PYTHON:-$root/.build/test-venv/bin/python}
size_mb=${SIZE_MB:-1000}
dims=${DIMS:-256}
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-parquet-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
[ -x "$py" ] || { echo "no Python with pyarrow at $py (make venv)"; exit 1; }

"$py" - "$work" "$size_mb" "$dims" <<'PY'
import json, random, sys
import numpy as np
work, size_mb, dims = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(11)
words = ("explain compare write summarise translate describe list why how the a of river sky code law poem "
         "energy market history protein galaxy theorem garden engine music language ocean city").split()
def sentence(n): return " ".join(rng.choice(words) for _ in range(n))
target = size_mb * 1_000_000
rows = 0
size = 0
with open(f"{work}/rows.jsonl", "w") as f:
    while size < target:
        row = {"id": rows, "text": f"{sentence(150 + rows % 100)} ({rows})",
               "messages": [{"role": "user", "content": sentence(40 + rows % 30)},
                            {"role": "assistant", "content": sentence(200 + rows % 150)}]}
        line = json.dumps(row, separators=(",", ":")) + "\n"
        f.write(line)
        size += len(line.encode())
        rows += 1
vectors = np.random.default_rng(5).standard_normal((rows, dims), dtype=np.float32)
np.save(f"{work}/emb.npy", vectors)
with open(f"{work}/rows.txt", "w") as f:
    f.write(str(rows))
PY
rows=$(cat "$work/rows.txt")
in_bytes=$(( $(wc -c < "$work/rows.jsonl") + $(wc -c < "$work/emb.npy") ))
echo "input: $rows rows, $(wc -c < "$work/rows.jsonl") bytes JSONL + $(wc -c < "$work/emb.npy") bytes .npy ($dims float32 per row)"

cat > "$work/pyarrow_write.py" <<'PY'
import sys, time
import numpy as np
import pyarrow as pa, pyarrow.json as pj, pyarrow.parquet as pq
work = sys.argv[1]
start = time.perf_counter()
table = pj.read_json(f"{work}/rows.jsonl", read_options=pj.ReadOptions(block_size=64 << 20))
vectors = np.load(f"{work}/emb.npy")
flat = pa.array(vectors.reshape(-1), type=pa.float32())
table = table.append_column("embedding", pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]))
read = time.perf_counter()
pq.write_table(table, f"{work}/pyarrow.parquet", compression="snappy")
done = time.perf_counter()
print(f"pyarrow: read {read - start:.2f} s, write_table {done - read:.2f} s", file=sys.stderr)
PY

measure() {  # name, command...: prints seconds and peak RSS from /usr/bin/time -v
  name=$1; shift
  /usr/bin/time -v "$@" > "$work/$name.log" 2> "$work/$name.time" || { cat "$work/$name.log" "$work/$name.time"; exit 1; }
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/$name.time")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/$name.time")
  user=$(sed -n 's/.*User time (seconds): //p' "$work/$name.time")
  sys=$(sed -n 's/.*System time (seconds): //p' "$work/$name.time")
  echo "$wall $rss $user $sys"
}

for writer in parquet jsonl; do
  if [ $writer = parquet ]; then save="{name: save, uses: write_parquet, input: load, with: {path: out.parquet}}"
  else save="{name: save, uses: write_jsonl, input: load, with: {path: out.jsonl}}"; fi
  cat > "$work/$writer.yaml" <<YAML
name: parquet-bench-$writer
steps:
  - {name: load, uses: load_jsonl, with: {path: "$work/rows.jsonl", embeddings: "$work/emb.npy"}}
  - $save
YAML
done

printf '%-34s %8s %9s %7s %10s %8s %9s\n' run seconds "rows/s" "MB/s" "peak RSS" "CPU s" "output"
report() {  # label, output file, wall (m:ss.xx), rss kB, user s, sys s
  "$py" - "$1" "$3" "$4" "$2" "$rows" "$in_bytes" "$5" "$6" <<'PY'
import os, sys
label, wall, rss, out, rows, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
cpu = float(sys.argv[7]) + float(sys.argv[8])
parts = [float(p) for p in wall.split(":")]
sec = parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) > 2 else 0)
print(f"{label:<34} {sec:8.2f} {rows/sec:9.0f} {size/sec/1e6:7.1f} {rss/1024:7.0f} MB {cpu:8.2f} {os.path.getsize(out)/1e6:6.0f} MB")
PY
}
set -- $(measure ours-parquet "$bin/pipeline" run "$work/parquet.yaml" --run-dir "$work/run-parquet" --no-checkpoint)
report "ours: load_jsonl -> write_parquet" "$work/run-parquet/out.parquet" "$@"
set -- $(measure ours-jsonl "$bin/pipeline" run "$work/jsonl.yaml" --run-dir "$work/run-jsonl" --no-checkpoint)
report "ours: load_jsonl -> write_jsonl" "$work/run-jsonl/out.jsonl" "$@"
rm -f "$work/run-jsonl/out.jsonl"
"$py" - "$work/run-parquet/summary.json" "$work/run-jsonl/summary.json" "$in_bytes" <<'PY'
import json, sys
size = int(sys.argv[3])
for path in sys.argv[1:3]:
    s = json.load(open(path))
    steps = {step["name"]: step for step in s["steps"]}
    load, save = steps["load"]["busy_seconds"], steps["save"]["busy_seconds"]
    print(f"  {steps['save']['uses'].split('.')[-1]}: the step busy {save:.2f} s ({size / max(save, 1e-9) / 1e6:.0f} MB/s of input), "
          f"load_jsonl busy {load:.2f} s, CPU {s['cpu_seconds']:.2f} s in {s['seconds']:.2f} s")
PY
set -- $(measure pyarrow "$py" "$work/pyarrow_write.py" "$work")
report "pyarrow: read_json -> write_table" "$work/pyarrow.parquet" "$@"
grep "pyarrow:" "$work/pyarrow.time" || true

"$py" - "$work/run-parquet/out.parquet" "$work/pyarrow.parquet" "$rows" <<'PY'
import sys
import pyarrow.parquet as pq
ours, theirs, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
for path in (ours, theirs):
    meta = pq.read_metadata(path)
    assert meta.num_rows == rows, f"{path}: {meta.num_rows} rows, expected {rows}"
    print(f"{path.split('/')[-1]}: {meta.num_rows} rows in {meta.num_row_groups} row groups, created_by {meta.created_by}")
a = pq.ParquetFile(ours).read_row_group(0).slice(0, 1000)
b = pq.read_table(theirs).slice(0, 1000).select(a.column_names)
assert a.column("text").equals(b.column("text")) and a.column("id").equals(b.column("id")), "the first rows differ"
print("the first 1000 rows' text and id agree with pyarrow's file")
PY

# Reading: pyarrow's file (snappy, its defaults) back to rows.
#   ours     load_parquet -> write_jsonl (every row through the plugin ABI, written as JSON Lines)
#   pyarrow  iter_batches (columnar only: what reading costs pyarrow before any row exists)
#   pyarrow  iter_batches -> to_pylist -> json.dumps per row (rows, as a Python pipeline sees them)
cat > "$work/read.yaml" <<YAML
name: parquet-bench-read
steps:
  - {name: load, uses: load_parquet, with: {path: "$work/pyarrow.parquet"}}
  - {name: save, uses: write_jsonl, input: load, with: {path: out.jsonl}}
YAML
cat > "$work/pyarrow_read.py" <<'PY'
import json, sys
import pyarrow.parquet as pq
path, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
rows = 0
with open(out, "w") as f:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1000):
        if mode == "rows":
            for row in batch.to_pylist():
                f.write(json.dumps(row, separators=(",", ":")) + "\n")
        rows += batch.num_rows
print(rows, file=sys.stderr)
PY
in_bytes=$(wc -c < "$work/pyarrow.parquet")
echo "reading $work/pyarrow.parquet ($in_bytes bytes; MB/s below are of the Parquet file)"
read_with() {  # label, bin dir, run name: load_parquet -> write_jsonl, then the steps' busy seconds
  set -- "$1" "$2" "$3" $(measure "$3" "$2/pipeline" run "$work/read.yaml" --run-dir "$work/$3" --no-checkpoint)
  label=$1 run=$3; shift 3
  report "$label" "$work/$run/out.jsonl" "$@"
  [ "$(wc -l < "$work/$run/out.jsonl")" = "$rows" ] || { echo "load_parquet: $(wc -l < "$work/$run/out.jsonl") rows, expected $rows"; exit 1; }
  rm -f "$work/$run/out.jsonl"
  "$py" - "$work/$run/summary.json" "$in_bytes" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
size = int(sys.argv[2])
steps = {step["name"]: step for step in s["steps"]}
load, save = steps["load"]["busy_seconds"], steps["save"]["busy_seconds"]
print(f"  load_parquet: the step busy {load:.2f} s ({size / max(load, 1e-9) / 1e6:.0f} MB/s of Parquet), "
      f"write_jsonl busy {save:.2f} s, CPU {s['cpu_seconds']:.2f} s in {s['seconds']:.2f} s")
PY
}
read_with "ours: load_parquet -> write_jsonl" "$bin" run-read
# BASELINE=DIR: the same read with another build (e.g. main's), for a before/after in one run.
if [ -n "${BASELINE:-}" ]; then read_with "base: load_parquet -> write_jsonl" "$BASELINE" run-read-baseline; fi
set -- $(measure pyarrow-batches "$py" "$work/pyarrow_read.py" "$work/pyarrow.parquet" batches "$work/none.jsonl")
report "pyarrow: iter_batches" "$work/none.jsonl" "$@"
set -- $(measure pyarrow-rows "$py" "$work/pyarrow_read.py" "$work/pyarrow.parquet" rows "$work/pyarrow-rows.jsonl")
report "pyarrow: iter_batches -> JSON rows" "$work/pyarrow-rows.jsonl" "$@"
