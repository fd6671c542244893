#!/usr/bin/env python3
"""Puts the files of a local directory into a dataset repository of the Hub
test double (hub_test_server.py), in one commit, with the standard library
only: what `make run` uses to serve pipelines/hub-datasets/* without the
test venv. The double must run with --lax-lfs (every file is sent inline).

    seed_from_dir.py ENDPOINT OWNER/NAME DIRECTORY

HF_TOKEN is sent as the bearer token (the double accepts any by default).
The repository is created public; an existing one gets a new commit.
"""
import base64
import json
import os
import sys
import urllib.error
import urllib.request


def call(method: str, url: str, body: bytes, content_type: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    endpoint, repo, directory = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    owner, _, name = repo.partition("/")
    token = os.environ.get("HF_TOKEN") or "hf_local_test_double_token"
    status, body = call("POST", f"{endpoint}/api/repos/create",
                        json.dumps({"name": name, "organization": owner, "type": "dataset", "private": False}).encode(),
                        "application/json", token)
    if status not in (200, 201, 409):
        print(f"seed_from_dir: creating {repo}: HTTP {status}: {body[:300]!r}", file=sys.stderr)
        return 1
    lines = [{"key": "header", "value": {"summary": f"files of {os.path.basename(os.path.abspath(directory))}"}}]
    count = 0
    for root, _, files in os.walk(directory):
        for file in sorted(files):
            path = os.path.join(root, file)
            relative = os.path.relpath(path, directory).replace(os.sep, "/")
            with open(path, "rb") as f:
                content = base64.b64encode(f.read()).decode()
            lines.append({"key": "file", "value": {"path": relative, "encoding": "base64", "content": content}})
            count += 1
    payload = "".join(json.dumps(line) + "\n" for line in lines).encode()
    status, body = call("POST", f"{endpoint}/api/datasets/{repo}/commit/main", payload, "application/x-ndjson", token)
    if status not in (200, 201):
        print(f"seed_from_dir: committing to {repo}: HTTP {status}: {body[:300]!r}", file=sys.stderr)
        return 1
    print(f"hub test double: {repo} holds {count} file(s) of {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
