#!/bin/sh
# Runs a command with the in-project Hugging Face Hub double listening on a
# free loopback port: HF_ENDPOINT points at it, HF_TOKEN is a local test
# token and HF_REPO a repository name unless already set. Stops the double
# when the command ends and says what it holds.
#
#   Tests/tools/with-hub-server.sh [SERVER_FLAGS...] -- COMMAND...
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/Tests/tools/start-server.sh"
flags=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do flags="$flags $1"; shift; done
[ "${1:-}" = "--" ] && shift
# shellcheck disable=SC2086
start_server hub-test-server python3 -u "$here/Tests/hub/hub_test_server.py" --port 0 $flags
echo "hub test double: $url (in memory, stopped when the command ends)"
HF_ENDPOINT=$url HF_TOKEN=${HF_TOKEN:-hf_local_test_double_token} HF_REPO=${HF_REPO:-demo/textgen-answers} "$@"
status=$?
python3 - "$url" <<'PY' || true
import json, sys, urllib.request
stats = json.load(urllib.request.urlopen(sys.argv[1] + "/_stats"))
for name, repo in stats.get("repos", {}).items():
    files = sorted({f for c in repo.get("commits", []) for f in c.get("added", [])})
    print(f"hub test double: {name}: {len(repo.get('commits', []))} commits, files: {', '.join(files)}")
PY
exit $status
