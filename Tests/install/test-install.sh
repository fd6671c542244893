#!/bin/sh
# make install into a temporary prefix, then build an out-of-tree C plugin
# with only the installed header and pkg-config (cc -shared -fPIC
# $(pkg-config --cflags pipeline-plugin)), load it with the installed
# binary, and run a batch through it. Then the installed documentation
# (share/doc/pipeline): every relative link and anchor resolves there, the
# ABI version and the `run` flags it gives are the installed binary's; and,
# when cargo is on PATH, the installed Rust SDK (share/pipeline/rust): its
# tests against the installed header, and the example plugin copied out of
# the prefix, built offline and run by the installed binary.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
prefix=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
fail() { echo "install test: FAILED: $*" >&2; exit 1; }

make -C "$root" --no-print-directory install PREFIX="$prefix" > "$prefix.log" 2>&1 || { cat "$prefix.log"; fail "make install"; }
rm -f "$prefix.log"
for f in bin/pipeline include/pipeline/pipeline_plugin.h include/pipeline/pipeline_arrow.h \
         include/pipeline/pipeline_arrow_c.h lib/pkgconfig/pipeline-plugin.pc \
         lib/pipeline/plugins/libtext_filter.so lib/pipeline/plugins/libPipelineColumns.so \
         share/doc/pipeline/writing-plugins.md share/doc/pipeline/pipelines.md \
         share/doc/pipeline/ARCHITECTURE.md share/doc/pipeline/pushing-to-the-hub.md share/man/man1/pipeline.1 \
         share/pipeline/rust/pipeline-sdk/Cargo.toml share/pipeline/rust/pipeline-sdk/src/lib.rs \
         share/pipeline/rust/pipeline-sdk/src/ffi.rs share/pipeline/rust/pipeline-sdk/tests/header_layout.rs \
         share/pipeline/rust/examples/word_count/Cargo.toml share/pipeline/rust/examples/word_count/src/lib.rs; do
  [ -e "$prefix/$f" ] || fail "missing $f after make install"
done

work="$prefix/outside"
mkdir -p "$work"
cp "$root/Tests/install/shout.c" "$work/"
cd "$work"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cflags=$(pkg-config --cflags pipeline-plugin) || fail "pkg-config does not know pipeline-plugin"
cc -shared -fPIC $cflags -o libshout.so shout.c || fail "building the out-of-tree plugin"

# The installed binary finds its built-in plugins with no flags...
"$prefix/bin/pipeline" plugins list > list.txt 2> list.err || fail "plugins list"
grep -q "org.pipeline.text_filter" list.txt || fail "built-in C plugin not listed: $(cat list.txt list.err)"
grep -q "org.pipeline.keep_columns" list.txt || fail "built-in Swift plugin not listed"
# ...and the out-of-tree one through PIPELINE_PLUGIN_PATH.
PIPELINE_PLUGIN_PATH="$work" "$prefix/bin/pipeline" plugins list | grep -q "org.example.shout" \
  || fail "out-of-tree plugin not listed"
out=$(printf '{"text":"hello, world","n":1}\n{"text":null,"n":2}\n' \
  | PIPELINE_PLUGIN_PATH="$work" "$prefix/bin/pipeline" plugins try shout)
expected='{"n":1,"text":"HELLO, WORLD","_row_id":0}
{"n":2,"text":null,"_row_id":1}'
[ "$out" = "$expected" ] || fail "unexpected output: $out"
# A line that is not a JSON object is a usage error (2), named by its line.
status=0
err=$(printf '{"text":"a"}\n[1]\n' | PIPELINE_PLUGIN_PATH="$work" "$prefix/bin/pipeline" plugins try shout 2>&1) || status=$?
[ "$status" = 2 ] || fail "plugins try with a bad line exited with $status, expected 2: $err"
case $err in *"<stdin>:2: "*) ;; *) fail "plugins try with a bad line: $err" ;; esac

# The installed documentation.
doc="$prefix/share/doc/pipeline"
# Markdown outside fenced code blocks; links as "FILE TARGET" lines.
links() {
  awk '/^```/ { fence = !fence; next } !fence {
         line = $0
         while (match(line, /\]\([^)]*\)/)) {
           print FILENAME " " substr(line, RSTART + 2, RLENGTH - 3)
           line = substr(line, RSTART + RLENGTH)
         }
       }' "$@"
}
# GitHub's anchors of a file's headings: lower case, punctuation dropped,
# spaces to hyphens.
anchors() {
  awk '/^```/ { fence = !fence; next } !fence && /^#+ / {
         sub(/^#+ +/, ""); s = tolower($0); gsub(/[^a-z0-9 _-]/, "", s); gsub(/ /, "-", s); print s
       }' "$1"
}
checked=0
links "$doc"/*.md > "$prefix/links.txt"
while read -r file target; do
  case $target in http://*|https://*|mailto:*) continue ;; esac
  path=${target%%#*}
  anchor=
  case $target in *'#'*) anchor=${target#*#} ;; esac
  if [ -n "$path" ]; then dest="$doc/$path"; else dest=$file; fi
  [ -f "$dest" ] || fail "$(basename "$file"): the link ($target) leads nowhere in share/doc/pipeline"
  if [ -n "$anchor" ]; then
    anchors "$dest" | grep -qx -- "$anchor" || fail "$(basename "$file"): no heading for the link ($target)"
  fi
  checked=$((checked + 1))
done < "$prefix/links.txt"
[ "$checked" -ge 4 ] || fail "only $checked relative links found in the installed docs"
# The plugin author's pages name installed files, not the host's sources.
for f in writing-plugins.md pipelines.md; do
  ! grep -n 'Sources/' "$doc/$f" || fail "$f names a Sources/ path a plugin author does not have"
done
# The man page is the CLI's help: every subcommand, run's flags.
for word in '.Nm pipeline' '.It Em run' '.It Em validate' '.It Em plugins' 'Fl -plugin-path' 'Fl -no-checkpoint'; do
  grep -q -- "$word" "$prefix/share/man/man1/pipeline.1" || fail "pipeline.1 lacks $word"
done
# The ABI version: as the installed binary reports it.
version=$("$prefix/bin/pipeline" --version)
abi=$(echo "$version" | sed -n 's/.*plugin ABI \([0-9]*\.[0-9]*\);.*/\1/p')
range=$(echo "$version" | sed -n 's/.*built for ABI \([^)]*\)).*/\1/p')
[ -n "$abi" ] && [ -n "$range" ] || fail "cannot read the ABI from: $version"
tr '\n' ' ' < "$doc/writing-plugins.md" | grep -q "describes plugin ABI $abi " \
  || fail "writing-plugins.md does not say 'describes plugin ABI $abi' (pipeline --version: $version)"
grep -o 'supports ABI [0-9.]*–[0-9.]*' "$doc/ARCHITECTURE.md" | while read -r said; do
  [ "$said" = "supports ABI $range" ] || fail "ARCHITECTURE.md: '$said', but the host supports ABI $range"
done || exit 1
# The `run` flag table of pipelines.md: every flag of `run --help`, no other.
"$prefix/bin/pipeline" run --help | grep -o -- '--[a-z][a-z-]*' | grep -vx -- '--help\|--version' | sort -u > "$prefix/flags.txt"
[ -s "$prefix/flags.txt" ] || fail "no flags in pipeline run --help"
grep -o '^| `--[a-z-]*' "$doc/pipelines.md" | sed 's/^| `//' | sort -u > "$prefix/documented.txt"
missing=$(comm -23 "$prefix/flags.txt" "$prefix/documented.txt" | tr '\n' ' ')
extra=$(comm -13 "$prefix/flags.txt" "$prefix/documented.txt" | tr '\n' ' ')
[ -z "$missing" ] || fail "pipelines.md's run flag table misses: $missing"
[ -z "$extra" ] || fail "pipelines.md documents flags run does not have: $extra"
# `plugins try`: each of its flags is documented.
for flag in $("$prefix/bin/pipeline" plugins try --help | grep -o -- '--[a-z][a-z-]*' | grep -vx -- '--help\|--version' | sort -u); do
  grep -q -- "$flag" "$doc/writing-plugins.md" || fail "writing-plugins.md does not document plugins try $flag"
done

# The installed Rust SDK, as a third party uses it.
if command -v cargo >/dev/null 2>&1; then
  rust="$prefix/share/pipeline/rust"
  # Its tests find the installed header next to it (<prefix>/include/pipeline).
  (cd "$rust/pipeline-sdk" && CARGO_TARGET_DIR="$work/rust-target" cargo test --offline --quiet) \
    > "$work/cargo-test.log" 2>&1 || { cat "$work/cargo-test.log"; fail "cargo test of the installed pipeline-sdk"; }
  cp -R "$rust/examples/word_count" "$work/word_count"
  sed "s|path = \"../../pipeline-sdk\"|path = \"$rust/pipeline-sdk\"|" "$rust/examples/word_count/Cargo.toml" \
    > "$work/word_count/Cargo.toml"
  grep -q "path = \"$rust/pipeline-sdk\"" "$work/word_count/Cargo.toml" || fail "the example's Cargo.toml has no path to change"
  (cd "$work/word_count" && CARGO_TARGET_DIR="$work/rust-target" cargo build --offline --release --quiet) \
    || fail "building the installed Rust example against the installed crate"
  lib="$work/rust-target/release/libword_count.so"
  [ -f "$lib" ] || lib="$work/rust-target/release/libword_count.dylib"
  status=0
  out=$(printf '{"text":"a b c"}\n{"text":null}\n' | "$prefix/bin/pipeline" plugins try word_count --plugin-path "$lib" 2>"$work/try.err") \
    || status=$?
  [ "$status" = 3 ] || fail "plugins try with a failed row exited with $status, expected 3"
  [ "$out" = '{"text":"a b c","_row_id":0,"words":3}' ] || fail "the installed Rust example: $out"
  expected='{"step":"word_count","row_id":1,"error":"word_count: \"text\" is null","row":{"text":null,"words":null}}
1 rows out, 1 failed'
  [ "$(cat "$work/try.err")" = "$expected" ] || fail "the installed Rust example's failed row: $(cat "$work/try.err")"
  rust_note=", the Rust SDK built and tested from the prefix"
else
  rust_note=" (Rust SDK skipped: cargo is not on PATH)"
fi
echo "install test: passed (make install, pkg-config build of an out-of-tree plugin, batch through it, $checked doc links resolved, ABI $abi and run flags as documented$rust_note)"
