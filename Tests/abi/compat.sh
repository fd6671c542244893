#!/bin/sh
# The ABI compatibility suite (make test-abi; part of make test).
#
#   Tests/abi/compat.sh BIN_DIR [--future-host]
#
# 1. Builds Tests/abi/compat_plugin.c against the header of every release
#    (Tests/abi/headers/1.0 ... 1.4: frozen snapshots, never edited),
#    against today's header, and against a test-only "next" header that
#    appends a field to every growable structure (make-next-header.py), once
#    as a plugin that needs the next minor and once as one that declares
#    minor 0 (it uses nothing new: its structures are just larger).
# 2. Today's host runs a pipeline through each old plugin: load_inline ->
#    compat_upper -> compat_llm (the LLM service, against llm-test-server)
#    -> compat_http (1.1 and later: the HTTP service) -> write_jsonl, and
#    checks every row, and the teacher I/O log: from 1.5 on every request
#    names its row (complete_answers_for_rows), before 1.5 none does.
# 3. Today's host refuses the "next" plugin, naming both versions, and runs
#    the "next, needs 1.0" one (step 2), reading only the fields it knows.
# 4. With --future-host: builds the host itself against the "next" header
#    (a copy of the source tree) and runs step 2 with it, every old plugin
#    and today's built-in plugins: a host whose structures grew still loads
#    and serves plugins built before.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$1" && pwd); shift
future=no
[ "${1:-}" = "--future-host" ] && future=yes
CC=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/abi-compat.XXXXXX")
trap 'rm -rf "$work"' EXIT
. "$root/Tests/tools/start-server.sh"

fail() { echo "ABI compat: FAIL: $*" >&2; exit 1; }

python3 "$root/Tests/abi/make-next-header.py" "$root/Sources/CPipelineABI/include" "$work/headers/next"
current_minor=$(sed -n 's/^#define PIPELINE_ABI_MINOR \([0-9]*\).*/\1/p' "$root/Sources/CPipelineABI/include/pipeline_plugin.h")
versions="1.0 1.1 1.2 1.3 1.4 current"
for v in $versions next next-needs-1.0; do
  flags=""
  case $v in
    current) inc="$root/Sources/CPipelineABI/include" ;;
    next) inc="$work/headers/next" ;;
    next-needs-1.0) inc="$work/headers/next"; flags="-DCOMPAT_NEEDS_MINOR=0" ;;
    *) inc="$root/Tests/abi/headers/$v" ;;
  esac
  mkdir -p "$work/plugins/$v"
  $CC -std=c11 -O2 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -shared -I"$inc" $flags \
    -o "$work/plugins/$v/libcompat.so" "$root/Tests/abi/compat_plugin.c"
done
echo "ABI compat: built the plugin against headers $versions next (and next declaring minor 0)"

start_server llm-test-server "$bin/llm-test-server" --port 0

# run_with HOST_BIN VERSION: the pipeline through plugin VERSION, rows checked.
run_with() {
  host=$1 v=$2
  minor=$current_minor
  case $v in 1.*) minor=${v#1.} ;; next*) minor=$((current_minor + 1)) ;; esac
  http_step=""
  last=ask
  if [ "$minor" -ge 1 ]; then
    http_step="
  - name: fetch
    uses: compat_http
    input: ask
    with:
      url: \"$url/health\""
    last=fetch
  fi
  dir="$work/run-$(basename "$(dirname "$host")")-$v"
  mkdir -p "$dir"
  cat > "$dir/p.yaml" <<YAML
name: abi-compat
llms:
  stub:
    base_url: "$url/v1"
    model: stub-reasoner
    cache: never
steps:
  - name: load
    uses: load_inline
    with:
      rows:
        - {text: "alpha", n: 1}
        - {text: "beta", n: 2}
        - {text: "gamma", n: 3}
  - name: up
    uses: compat_upper
    input: load
    with:
      prefix: ">"
  - name: ask
    uses: compat_llm
    llm: stub
    input: up$http_step
  - name: save
    uses: write_jsonl
    input: $last
    with:
      path: out.jsonl
YAML
  status=0
  "$host" run "$dir/p.yaml" --run-dir "$dir/run" --plugin-path "$work/plugins/$v" $plugin_flags \
    > "$dir/log" 2>&1 || status=$?
  [ $status -eq 0 ] || { cat "$dir/log"; fail "$(basename "$host") host, plugin built for $v: exit $status"; }
  python3 - "$dir/run/out.jsonl" "$minor" "$dir/run/llm-io.jsonl" <<'PY' || fail "$v: wrong output"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
minor = int(sys.argv[2])
log = [json.loads(line) for line in open(sys.argv[3])]
assert len(log) == 3, log
# 1.5 requests name their input rows (three distinct _row_ids); older ones cannot.
if minor >= 5:
    assert len({l["row"] for l in log}) == 3 and all(isinstance(l["row"], int) for l in log), log
else:
    assert all("row" not in l for l in log), log
assert [r["text"] for r in rows] == ["alpha", "beta", "gamma"], rows
assert [r["n"] for r in rows] == [1, 2, 3], rows
assert [r["upper"] for r in rows] == [">ALPHA", ">BETA", ">GAMMA"], rows
assert all(r["abi"] == minor for r in rows), rows
assert all(isinstance(r["answer"], str) and r["answer"] for r in rows), rows
assert len({r["answer"] for r in rows}) == 3, rows
if minor >= 1:
    assert all(r["http_status"] == 200 for r in rows), rows
# 1.4 answers carry the reasoning trace the server sent beside the answer.
if minor >= 4:
    assert all("the user asks" in r["reasoning"] for r in rows), rows
else:
    assert "reasoning" not in rows[0], rows
PY
  echo "ABI compat: ok  $host_label + plugin built for $v: 3 rows through upper, llm$( [ "$minor" -ge 1 ] && echo ", http")"
}

plugin_flags="--plugin-path $bin/pipeline-plugins"
host_label="today's 1.$current_minor host"
for v in $versions; do run_with "$bin/pipeline" "$v"; done

# A plugin of a newer minor: refused, both versions named, exit 2.
"$bin/pipeline" plugins list --plugin-path "$work/plugins/next" > "$work/next.log" 2>&1 || true
next_minor=$((current_minor + 1))
grep -q "ABI 1.$next_minor" "$work/next.log" && grep -q "1.0–1.$current_minor" "$work/next.log" \
  || { cat "$work/next.log"; fail "the next plugin's refusal does not name ABI 1.$next_minor and the host's 1.0–1.$current_minor"; }
echo "ABI compat: ok  plugin built for 1.$next_minor refused by the 1.$current_minor host: $(grep -o 'is built for plugin ABI.*' "$work/next.log" | head -1)"
run_with "$bin/pipeline" next-needs-1.0

if [ $future = yes ]; then
  # The host built against the next header, from a copy of the tree.
  src="$work/future-src"
  mkdir -p "$src"
  (cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar cf - 2>/dev/null) | (cd "$src" && tar xf -)
  cp "$work/headers/next/pipeline_plugin.h" "$src/Sources/CPipelineABI/include/pipeline_plugin.h"
  echo "ABI compat: building a 1.$next_minor host (the next header) in $src"
  (cd "$src" && ${SWIFT:-swift} build --product pipeline 2>&1 | tail -3)
  future_bin="$src/.build/debug/pipeline"
  "$future_bin" plugins list --plugin-path "$bin/pipeline-plugins" > /dev/null
  host_label="the next-header 1.$next_minor host"
  for v in $versions; do run_with "$future_bin" "$v"; done
fi
echo "ABI compat: all passed"
