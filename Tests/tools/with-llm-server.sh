#!/bin/sh
# Runs a command with the in-project OpenAI-compatible server listening on a
# free loopback port, LLM_BASE_URL pointing at it, then stops the server.
#
#   Tests/tools/with-llm-server.sh BIN_DIR [SERVER_FLAGS...] -- COMMAND...
set -eu
. "$(dirname "$0")/start-server.sh"
bin=$1; shift
flags=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do flags="$flags $1"; shift; done
[ "${1:-}" = "--" ] && shift
# shellcheck disable=SC2086
start_server llm-test-server "$bin/llm-test-server" --port 0 $flags
echo "llm-test-server: $url (stopped when the command ends)"
LLM_BASE_URL="$url/v1" "$@"
