#!/bin/sh
# The Rust SDK (sdk/rust) end to end, when cargo is on PATH:
#   1. cargo test: the crate's unit tests (batches through the C structures,
#      release exactly once, panics caught, a fake host's params service)
#      and its header check (a C program generated from pipeline_plugin.h,
#      compiled and compared with the crate's declarations field by field);
#   2. cargo build --offline --release of the example plugin word_count;
#   3. a real pipeline through it: load_jsonl -> word_count (Rust) ->
#      write_jsonl, run by the built `pipeline`, checked row by row, with
#      the row whose text is null in errors.jsonl;
#   4. errors from the plugin as the host reports them (plugins try);
#   5. the Rust example printed in docs/writing-plugins.md compiles.
# Without cargo it says so and succeeds.
#
# Usage: Tests/rust/test-rust.sh [BIN_DIR]   (default .build/debug)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-.build/debug}
case $bin in /*) ;; *) bin="$root/$bin" ;; esac
fail() { echo "rust test: FAILED: $*" >&2; exit 1; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "rust test: skipped (cargo is not on PATH; install a Rust toolchain to build and test sdk/rust)"
  exit 0
fi
[ -x "$bin/pipeline" ] || fail "no $bin/pipeline (make plugins first)"

# 1 and 2. Offline: the crates have no dependencies.
(cd "$root/sdk/rust" && cargo test --offline --workspace --quiet) || fail "cargo test (sdk/rust)"
make -C "$root" --no-print-directory rust-example || fail "make rust-example"
plugin=
for f in "$root/.build/rust/release/libword_count.so" "$root/.build/rust/release/libword_count.dylib"; do
  [ -f "$f" ] && plugin=$f
done
[ -n "$plugin" ] || fail "make rust-example built no libword_count in .build/rust/release"
if command -v nm >/dev/null 2>&1 && [ "$(uname)" = Linux ]; then
  exported=$(nm -D --defined-only "$plugin" | awk '$2 == "T" { print $3 }')
  [ "$exported" = pipeline_plugin_entry ] || fail "the plugin exports more than pipeline_plugin_entry: $exported"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-rust.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The step shown in docs/writing-plugins.md ("Writing a plugin in Rust")
# compiles as printed, against this tree's crate.
mkdir -p "$work/doc-example/src"
awk '/^## Writing a plugin in Rust/ { rust = 1 } rust && /^```rust$/ { code = 1; next }
     code && /^```$/ { exit } code { print }' "$root/docs/writing-plugins.md" > "$work/doc-example/src/lib.rs"
grep -q 'export_plugin!' "$work/doc-example/src/lib.rs" || fail "no Rust example found in docs/writing-plugins.md"
cat > "$work/doc-example/Cargo.toml" <<EOF
[package]
name = "doc_example"
version = "0.1.0"
edition = "2021"
[lib]
crate-type = ["cdylib"]
[dependencies]
pipeline-sdk = { path = "$root/sdk/rust/pipeline-sdk" }
[workspace]
EOF
(cd "$work/doc-example" && CARGO_TARGET_DIR="$work/doc-target" cargo build --offline --quiet) \
  || fail "the Rust example of docs/writing-plugins.md does not compile"

# 3. The pipeline. Exit code 3: finished, with one row error.
status=0
"$bin/pipeline" run "$root/Tests/rust/word-count.yaml" --run-dir "$work/run" --plugin-path "$plugin" \
  --log-format json > "$work/stdout" 2> "$work/stderr" || status=$?
[ "$status" = 3 ] || { cat "$work/stderr" >&2; fail "pipeline run exited with $status, expected 3 (one row error)"; }
cat > "$work/expected.jsonl" <<'EOF'
{"id":1,"body":"the quick brown fox","tags":["a","b"],"score":0.5,"n_words":4}
{"id":2,"body":"","tags":[],"score":1.25,"n_words":0}
{"id":4,"body":"  naïve   café\tcrème brûlée\n","tags":["d","e","f"],"score":-1.0,"n_words":4}
{"id":5,"body":"one","tags":["g"],"score":3.5,"n_words":1}
EOF
[ -f "$work/run/counted.jsonl" ] || fail "no counted.jsonl in the run directory"
line=0
while IFS= read -r expected; do
  line=$((line + 1))
  actual=$(sed -n "${line}p" "$work/run/counted.jsonl")
  [ "$actual" = "$expected" ] || fail "counted.jsonl row $line: expected $expected, got $actual"
done < "$work/expected.jsonl"
rows=$(wc -l < "$work/run/counted.jsonl")
[ "$rows" -eq 4 ] || fail "counted.jsonl has $rows rows, expected 4"
errors=$(cat "$work/run/errors.jsonl")
expected_error='{"step":"count","row_id":2,"error":"word_count: \"body\" is null","row":{"id":3,"body":null,"tags":["c"],"score":2,"n_words":null}}'
[ "$errors" = "$expected_error" ] || fail "errors.jsonl: expected $expected_error, got $errors"
grep -q '"uses":"org.example.rust.word_count"' "$work/run/summary.json" || fail "summary.json does not name the Rust step"

# 4. What the plugin's errors look like to a user.
try() { "$bin/pipeline" plugins try word_count --plugin-path "$plugin" "$@"; }
out=$(printf '{"text":7}\n' | try 2>&1) && fail "a non-utf8 column was accepted: $out"
case $out in
  *'step word_count: column "text" is int64, not utf8'*) ;;
  *) fail "wrong-type message: $out" ;;
esac
out=$(printf '{"x":"a b"}\n' | try --with output=_x 2>&1) && fail "output=_x was accepted: $out"
case $out in
  *'output "_x": names starting with "_" belong to the host'*) ;;
  *) fail "create error message: $out" ;;
esac
out=$(printf '{"x":"a b c"}\n' | try --with column=x) || fail "plugins try: $out"
[ "$out" = '{"x":"a b c","_row_id":0,"words":3}' ] || fail "plugins try output: $out"

echo "rust test: passed (cargo test of sdk/rust incl. the header layout check, word_count built offline, pipeline run through it row by row, the documented example compiles)"
