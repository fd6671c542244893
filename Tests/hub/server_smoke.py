#!/usr/bin/env python3
"""Stdlib-only smoke test of hub_test_server.py at the HTTP level: the raw
write protocol (create, preupload, LFS batch/PUT/verify, NDJSON commit and its
412/404/422 answers, auth), seeded faults (deterministic, server survives),
lost commit responses, clients killed mid-request, and --state restarts.

    python3 Tests/hub/server_smoke.py [--conformance-python .build/hub-venv/bin/python]

With --conformance-python, also runs conformance.py --expect-jsonl against a
repo written here with raw HTTP (a match, and a mismatch that must fail).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "hub_test_server.py")
AUTH = {"Authorization": "Bearer t"}
failures = []


def ok(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def start(*flags):
    p = subprocess.Popen([sys.executable, SERVER, "--port", "0", *flags], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert "listening on http://" in line, line
    hostport = line.rsplit("/", 1)[1].strip()
    host, port = hostport.split(":")
    return p, host, int(port)


def stop(p):
    p.terminate()
    p.wait(timeout=10)


class Client:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=10)

    def req(self, method, path, body=None, headers=None, auth=True):
        h = dict(AUTH if auth else {})
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            self.conn.request(method, path, body=body, headers=h)
            r = self.conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            return None, {}, repr(e)
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def json(self, *a, **k):
        s, h, d = self.req(*a, **k)
        try:
            return s, h, json.loads(d) if isinstance(d, bytes) and d else d
        except json.JSONDecodeError:
            return s, h, d


def ndjson(header, *ops):
    lines = [{"key": "header", "value": header}, *ops]
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def file_op(path, data):
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}}


def protocol(conformance_python):
    p, host, port = start("--lfs-threshold", "100", "--token", "t", "--token", "t2", "--read-only-token", "ro")
    c = Client(host, port)
    try:
        base = "/api/datasets/org/ds"
        s, _, d = c.json("POST", "/api/repos/create", {"name": "ds", "organization": "org", "type": "dataset"})
        ok(s == 200 and d["url"].endswith("/datasets/org/ds"), f"create -> {s} {d}")
        s, _, d = c.json("POST", "/api/repos/create", {"name": "ds", "organization": "org", "type": "dataset"})
        ok(s == 409 and "url" in d, f"create again -> 409 with url ({s})")
        s, _, _ = c.json("POST", "/api/repos/create", {"name": "x", "type": "dataset"}, auth=False)
        ok(s == 401, f"create without a token -> {s}")
        s, h, _ = c.json("POST", "/api/repos/create", {"name": "x", "type": "dataset"},
                         headers={"Authorization": "Bearer nope"})
        ok(s == 401 and h.get("x-error-message") == "Invalid credentials in Authorization header",
           f"create with an unknown token -> {s}")
        s, _, _ = c.json("POST", "/api/repos/create", {"name": "x", "type": "dataset"},
                         headers={"Authorization": "Bearer ro"})
        ok(s == 403, f"create with a read-only token -> {s}")
        s, _, info = c.json("GET", base, auth=False)
        head0 = info["sha"]
        ok(s == 200 and len(head0) == 40 and info["siblings"] == [{"rfilename": ".gitattributes"}],
           "repo info: sha + siblings [.gitattributes]")

        rows = [{"id": i, "text": "row %d" % i} for i in range(20)]
        big = "".join(json.dumps(r) + "\n" for r in rows).encode()  # > 100 bytes -> lfs
        small = b'{"id": 99, "text": "tiny"}\n'
        oid = hashlib.sha256(big).hexdigest()
        s, _, d = c.json("POST", f"{base}/preupload/main", {"files": [
            {"path": "data/train-00000-of-00001.jsonl", "sample": base64.b64encode(big[:512]).decode(), "size": len(big)},
            {"path": "data/test-00000-of-00001.jsonl", "sample": base64.b64encode(small).decode(), "size": len(small)},
            {"path": ".gitattributes", "sample": "", "size": 10}]})
        modes = {f["path"]: (f["uploadMode"], f["oid"], f["shouldIgnore"]) for f in d["files"]}
        ok(modes["data/train-00000-of-00001.jsonl"] == ("lfs", None, False)
           and modes["data/test-00000-of-00001.jsonl"] == ("regular", None, False)
           and modes[".gitattributes"][1] is not None, f"preupload modes {modes}")
        s, _, d = c.json("POST", f"{base}/commit/main", ndjson({"summary": "inline lfs"}, file_op("data/x.jsonl", big)),
                         headers={"Content-Type": "application/x-ndjson"})
        ok(s == 422, f"inline file that preupload called lfs -> {s}")
        s, _, d = c.json("POST", f"{base}/commit/main", ndjson({"summary": "lfs missing"}, {
            "key": "lfsFile", "value": {"path": "data/train-00000-of-00001.jsonl", "algo": "sha256", "oid": oid,
                                        "size": len(big)}}), headers={"Content-Type": "application/x-ndjson"})
        ok(s == 422, f"commit of an lfsFile never uploaded -> {s}")

        lfs_h = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
        s, _, d = c.json("POST", "/datasets/org/ds.git/info/lfs/objects/batch", {
            "operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
            "objects": [{"oid": oid, "size": len(big)}], "ref": {"name": "main"}}, headers=lfs_h)
        obj = d["objects"][0]
        ok(s == 200 and d["transfer"] == "basic" and "upload" in obj["actions"], "LFS batch -> basic upload action")
        href = obj["actions"]["upload"]["href"].split(f"{port}", 1)[1]
        vhref = obj["actions"]["verify"]["href"].split(f"{port}", 1)[1]
        s, _, _ = c.req("PUT", href, big[:-1] + b"X", auth=False)
        ok(s == 400, f"LFS PUT with wrong content -> {s}")
        s, _, _ = c.req("PUT", href, big, auth=False)
        ok(s == 200, f"LFS PUT without auth -> {s}")
        s, _, _ = c.json("POST", vhref, {"oid": oid, "size": len(big)})
        ok(s == 200, f"verify -> {s}")
        s, _, d = c.json("POST", "/datasets/org/ds.git/info/lfs/objects/batch", {
            "operation": "upload", "objects": [{"oid": oid, "size": len(big)}]}, headers=lfs_h)
        ok("actions" not in d["objects"][0], "LFS batch for a stored object -> no actions")

        commit_body = ndjson({"summary": "add data", "parentCommit": head0}, {
            "key": "lfsFile", "value": {"path": "data/train-00000-of-00001.jsonl", "algo": "sha256", "oid": oid,
                                        "size": len(big)}}, file_op("data/test-00000-of-00001.jsonl", small))
        s, _, d = c.json("POST", f"{base}/commit/main", commit_body, headers={"Content-Type": "application/x-ndjson"})
        ok(s == 200 and len(d["commitOid"]) == 40 and d["commitOid"] == d["commitOid"].lower(), f"commit -> {s} {d}")
        head1 = d["commitOid"]
        s, h, d = c.json("POST", f"{base}/commit/main", commit_body, headers={"Content-Type": "application/x-ndjson"})
        ok(s == 412 and "The branch was updated since you opened this page" in d["error"], f"stale parent -> {s}")
        s, h, d = c.json("POST", f"{base}/commit/nope", ndjson({"summary": "x"}))
        ok(s == 404 and h.get("x-error-code") == "RevisionNotFound", f"unknown revision -> {s} {h.get('x-error-code')}")
        s, _, _ = c.json("POST", f"{base}/commit/main", ndjson({"summary": "ro"}), headers={"Authorization": "Bearer ro"})
        ok(s == 403, f"commit with a read-only token -> {s}")

        s, h, body = c.req("HEAD", "/datasets/org/ds/resolve/main/data/train-00000-of-00001.jsonl", auth=False)
        ok(s == 200 and h.get("x-repo-commit") == head1 and h.get("x-linked-etag") == f'"{oid}"'
           and h.get("x-linked-size") == str(len(big)) and h.get("content-length") == str(len(big)) and body == b"",
           "resolve HEAD of an LFS file: X-Repo-Commit, X-Linked-Etag/Size, Content-Length")
        s, h, body = c.req("GET", f"/datasets/org/ds/resolve/{head1}/data/train-00000-of-00001.jsonl",
                           headers={"Range": "bytes=5-14"})
        ok(s == 206 and body == big[5:15] and h.get("content-range") == f"bytes 5-14/{len(big)}", "resolve Range -> 206")
        s, h, _ = c.req("GET", "/datasets/org/ds/resolve/main/ds.py")
        ok(s == 404 and h.get("x-error-code") == "EntryNotFound", "resolve of a missing file -> 404 EntryNotFound")
        s, _, d = c.json("POST", f"{base}/paths-info/main", b"paths=data&paths=README.md&expand=False",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        ok(s == 200 and [e["path"] for e in d] == ["data"], f"paths-info -> {d}")
        s, h, _ = c.json("GET", f"{base}/tree/main/nope")
        ok(s == 404 and h.get("x-error-code") == "EntryNotFound", "tree of a missing folder -> 404 EntryNotFound")
        s, _, d = c.json("GET", f"{base}/tree/main?recursive=true")
        ok([e["path"] for e in d] == ["data", ".gitattributes", "data/test-00000-of-00001.jsonl",
                                      "data/train-00000-of-00001.jsonl"] and "lfs" in d[3], "tree recursive")
        s, _, d = c.json("POST", "/api/repos/create", {"name": "priv", "organization": "org", "type": "dataset",
                                                      "visibility": "private"})
        s, h, _ = c.json("GET", "/api/datasets/org/priv", auth=False)
        ok(s == 401 and h.get("x-error-code") == "RepoNotFound", f"private repo without a token -> {s}")
        s, _, _ = c.json("GET", "/api/datasets/org/priv", headers={"Authorization": "Bearer t2"})
        ok(s == 200, f"private repo with a token -> {s}")

        if conformance_python:
            exp = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
            exp.write("".join(json.dumps(r) + "\n" for r in reversed(rows)))  # order does not matter
            exp.close()
            env = dict(os.environ, MY_TOKEN="t")
            cmd = [conformance_python, os.path.join(HERE, "conformance.py"), "--endpoint", f"http://{host}:{port}",
                   "--repo", "org/ds", "--token-env", "MY_TOKEN", "--expect-jsonl", exp.name]
            rc = subprocess.call(cmd, env=env)
            ok(rc == 0, "conformance.py --expect-jsonl on a repo written with raw HTTP (match)")
            with open(exp.name, "a") as f:
                f.write('{"id": 1000, "text": "not pushed"}\n')
            rc = subprocess.call(cmd, env=env, stderr=subprocess.DEVNULL)
            ok(rc == 1, "conformance.py --expect-jsonl with an extra expected row fails")
            rc = subprocess.call(cmd[:-1] + [exp.name, "--split", "test"], env=env, stderr=subprocess.DEVNULL)
            ok(rc == 1, "conformance.py --expect-jsonl against the wrong split fails")
            os.unlink(exp.name)
    finally:
        stop(p)


def fault_run(seed):
    """Many write-path requests under faults; returns the fault sequence."""
    p, host, port = start("--fault-rate", "0.3", "--retry-after", "0", "--hang-seconds", "0.3",
                          "--seed", str(seed), "--fault-reads")
    c = Client(host, port)
    seq = []
    try:
        c.conn.timeout = 5
        while True:
            s, _, _ = c.json("POST", "/api/repos/create", {"name": "f", "organization": "o", "type": "dataset"})
            if s == 200:
                break
        for i in range(120):
            kind = i % 4
            if kind == 0:
                s, _, _ = c.json("POST", "/api/datasets/o/f/preupload/main", {"files": [{"path": "a", "size": 1,
                                                                                          "sample": "YQ=="}]})
            elif kind == 1:
                s, _, _ = c.json("POST", "/datasets/o/f.git/info/lfs/objects/batch", {
                    "operation": "upload", "objects": [{"oid": "0" * 64, "size": 1}]})
            elif kind == 2:
                s, _, _ = c.json("POST", "/api/datasets/o/f/commit/main",
                                 ndjson({"summary": f"c{i}"}, file_op(f"f{i}.txt", b"%d" % i)))
            else:
                s, _, _ = c.json("GET", "/api/datasets/o/f/tree/main")
            seq.append(s)
        st = json.loads(c.req("GET", "/_stats")[2])
        commits = st["repos"]["dataset/o/f"]["commits"]
        ok(sum(1 for x in seq[2::4] if x == 200) == len(commits) - 1,
           f"every commit answered 200 was applied once ({len(commits) - 1} commits)")
        return seq, st["faults_injected"]
    finally:
        stop(p)


def faults():
    a, fa = fault_run(7)
    b, fb = fault_run(7)
    ok(a == b and fa == fb, f"same seed -> same fault sequence {fa}")
    ok(all(fa[k] > 0 for k in ("5xx", "429", "hang", "reset")), "every fault kind was injected")
    ok(any(x == 429 for x in a) and any(x is None for x in a) and any(x in (500, 502, 503) for x in a),
       "clients saw 429s, 5xx and dropped connections")


def lost_response():
    p, host, port = start("--commit-lost-response-rate", "1")
    c = Client(host, port)
    try:
        c.json("POST", "/api/repos/create", {"name": "l", "organization": "o", "type": "dataset"})
        s, _, info = c.json("GET", "/api/datasets/o/l")
        s, _, err = c.json("POST", "/api/datasets/o/l/commit/main",
                           ndjson({"summary": "lost", "parentCommit": info["sha"]}, file_op("x.txt", b"x")))
        ok(s is None and ("Reset" in err or "RemoteDisconnected" in err or "BadStatus" in err),
           f"commit response lost -> {err}")
        st = json.loads(c.req("GET", "/_stats")[2])
        commits = st["repos"]["dataset/o/l"]["commits"]
        ok(len(commits) == 2 and commits[1]["summary"] == "lost" and st["faults_injected"]["lost"] == 1
           and st["counters"]["commit_ok"] == 1, "the lost commit was applied (visible in /_stats)")
        s, _, info2 = c.json("GET", "/api/datasets/o/l/revision/main")
        ok(info2["sha"] == commits[1]["oid"], "revision/main shows the commit whose answer was lost")
    finally:
        stop(p)


def stale_fault():
    p, host, port = start("--fault-rate", "1", "--faults", "stale")
    c = Client(host, port)
    try:
        c.json("POST", "/api/repos/create", {"name": "s", "organization": "o", "type": "dataset"})
        _, _, info = c.json("GET", "/api/datasets/o/s")
        s, _, d = c.json("POST", "/api/datasets/o/s/commit/main",
                         ndjson({"summary": "x", "parentCommit": info["sha"]}, file_op("x.txt", b"x")))
        ok(s == 412 and "branch was updated" in d["error"], f"injected stale parent -> {s} although the parent matches")
        s, _, d = c.json("POST", "/api/datasets/o/s/preupload/main", {"files": []})
        ok(s == 200, f"'stale' is never drawn for non-commit requests ({s})")
        st = json.loads(c.req("GET", "/_stats")[2])
        ok(len(st["repos"]["dataset/o/s"]["commits"]) == 1 and st["counters"]["commit_rejected"] == 1,
           "the stale-faulted commit was not applied")
    finally:
        stop(p)


def killed_clients():
    p, host, port = start()
    try:
        code = f"""
import socket, time
s = socket.create_connection(("{host}", {port}))
s.sendall(b"PUT /_lfs/dataset/o/k/{'0' * 64} HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 1000000\\r\\n\\r\\n" + b"a" * 5000)
s2 = socket.create_connection(("{host}", {port}))
s2.sendall(b"POST /api/datasets/o/k/commit/main HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n10\\r\\n")
s3 = socket.create_connection(("{host}", {port}))
s3.sendall(b"GET /api/whoami-v2 HTT")
print("sent", flush=True)
time.sleep(60)
"""
        k = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        k.stdout.readline()
        time.sleep(0.2)
        os.kill(k.pid, signal.SIGKILL)
        k.wait()
        # a client that vanishes while reading a large response
        c = Client(host, port)
        c.json("POST", "/api/repos/create", {"name": "k", "organization": "o", "type": "dataset"})
        s = socket.create_connection((host, port))
        s.sendall(b"GET /_stats HTTP/1.1\r\nHost: x\r\n\r\n")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        time.sleep(0.2)
        s, _, d = Client(host, port).json("GET", "/api/datasets/o/k")
        ok(s == 200 and p.poll() is None, "server still serves after clients were killed mid-request")
    finally:
        stop(p)


def state_restart():
    d = tempfile.mkdtemp(prefix="hub-state-")
    path = os.path.join(d, "state.json")
    p, host, port = start("--state", path, "--force-lfs")
    c = Client(host, port)
    data = b"persist me\n"
    oid = hashlib.sha256(data).hexdigest()
    try:
        c.json("POST", "/api/repos/create", {"name": "s", "organization": "o", "type": "dataset"})
        _, _, b = c.json("POST", "/datasets/o/s.git/info/lfs/objects/batch",
                         {"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]})
        c.req("PUT", b["objects"][0]["actions"]["upload"]["href"].split(str(port), 1)[1], data, auth=False)
        s, _, r = c.json("POST", "/api/datasets/o/s/commit/main", ndjson({"summary": "p"}, {
            "key": "lfsFile", "value": {"path": "d.bin", "algo": "sha256", "oid": oid, "size": len(data)}}))
        head = r["commitOid"]
    finally:
        stop(p)
    p, host, port = start("--state", path)
    c = Client(host, port)
    try:
        s, _, info = c.json("GET", "/api/datasets/o/s")
        s2, _, body = c.req("GET", "/datasets/o/s/resolve/main/d.bin")
        ok(info["sha"] == head and body == data, "--state: repo, head and LFS content survive a restart")
        s, _, r = c.json("POST", "/api/datasets/o/s/commit/main", ndjson({"summary": "after", "parentCommit": head},
                                                                         file_op("n.txt", b"n")))
        ok(s == 200, "--state: commit on top after the restart")
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conformance-python", help="the hub venv's python; also runs conformance.py --expect-jsonl")
    a = ap.parse_args()
    protocol(a.conformance_python)
    faults()
    lost_response()
    stale_fault()
    killed_clients()
    state_restart()
    if failures:
        print(f"SERVER SMOKE FAILED ({len(failures)}):\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("SERVER SMOKE PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
