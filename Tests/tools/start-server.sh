# Sourced by with-llm-server.sh and with-hub-server.sh: start_server NAME CMD...
# starts CMD (a server that prints "... listening on http://HOST:PORT") in the
# background, stops it when the calling script exits, and sets $url.
start_server() {
  name=$1; shift
  out=$(mktemp "${TMPDIR:-/tmp}/$name.XXXXXX")
  "$@" > "$out" 2>&1 &
  server=$!
  # (set -e must not turn the stopped server's status into ours.)
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true; rm -f "$out"' EXIT INT TERM
  for _ in $(seq 1 200); do
    grep -q "listening on" "$out" 2>/dev/null && break
    sleep 0.05
  done
  url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$out" | head -1)
  [ -n "$url" ] || { echo "$name did not start:"; cat "$out"; exit 1; }
}
