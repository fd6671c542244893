#!/bin/sh
# make install into a temporary prefix, then build an out-of-tree C plugin
# with only the installed header and pkg-config (cc -shared -fPIC
# $(pkg-config --cflags pipeline-plugin)), load it with the installed
# binary, and run a batch through it.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
prefix=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
fail() { echo "install test: FAILED: $*" >&2; exit 1; }

make -C "$root" --no-print-directory install PREFIX="$prefix" > "$prefix.log" 2>&1 || { cat "$prefix.log"; fail "make install"; }
rm -f "$prefix.log"
for f in bin/pipeline include/pipeline/pipeline_plugin.h include/pipeline/pipeline_arrow.h \
         include/pipeline/pipeline_arrow_c.h lib/pkgconfig/pipeline-plugin.pc \
         lib/pipeline/plugins/libtext_filter.so lib/pipeline/plugins/libPipelineColumns.so; do
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
expected='{"n":1,"text":"HELLO, WORLD"}
{"n":2,"text":null}'
[ "$out" = "$expected" ] || fail "unexpected output: $out"
echo "install test: passed (make install, pkg-config build of an out-of-tree plugin, batch through it)"
