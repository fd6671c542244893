#!/bin/sh
# Runs a command with the in-project OpenAI-compatible server listening on a
# free loopback port, LLM_BASE_URL pointing at it, then stops the server.
#
#   Tests/tools/with-llm-server.sh BIN_DIR [SERVER_FLAGS...] -- COMMAND...
set -eu
bin=$1; shift
flags=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do flags="$flags $1"; shift; done
[ "${1:-}" = "--" ] && shift
out=$(mktemp "${TMPDIR:-/tmp}/llm-server.XXXXXX")
# shellcheck disable=SC2086
"$bin/llm-test-server" --port 0 $flags > "$out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$out"' EXIT INT TERM
for _ in $(seq 1 100); do
  grep -q "listening on" "$out" 2>/dev/null && break
  sleep 0.05
done
url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$out" | head -1)
[ -n "$url" ] || { echo "llm-test-server did not start:"; cat "$out"; exit 1; }
echo "llm-test-server: $url (stopped when the command ends)"
LLM_BASE_URL="$url/v1" "$@"
