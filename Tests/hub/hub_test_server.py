#!/usr/bin/env python3
"""An in-memory Hugging Face Hub test double (Python 3.11+, stdlib only).

Serves the HTTP surface a dataset pusher/reader uses: repo creation, card
validation, preupload, the Git LFS batch API (basic and optional multipart),
NDJSON commits with parentCommit checks, repo info/revision, tree, paths-info,
resolve (HEAD/GET with Range), refs, commit listing, branches and whoami.
Protocol reference: ../shared/research/hub.md section 4.

Seeded, deterministic fault injection on the write path (and optionally
reads) and GET /_stats for tests. See Tests/hub/README.md.

    python3 Tests/hub/hub_test_server.py --port 0 [--force-lfs] [--fault-rate 0.3 --seed 7]
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import functools
import hashlib
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
STALE_MESSAGE = "The branch was updated since you opened this page. Please refresh and try again."
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
FAULT_KINDS = ("5xx", "429", "hang", "reset", "stale")
FAULTABLE = ("preupload", "lfs_batch", "lfs_put", "lfs_complete", "verify", "commit",
             "tree", "paths_info", "resolve_head", "resolve_get")
COUNTER_KEYS = (
    "create", "delete", "validate_yaml", "preupload", "lfs_batch", "lfs_put", "lfs_complete", "verify",
    "commit_ok", "commit_rejected", "info", "tree", "paths_info", "resolve_head", "resolve_get",
    "refs", "commits_list", "branch", "whoami", "cdn_get",
)
DEFAULT_GITATTRIBUTES = b"""*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
"""


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % int((ts % 1) * 1000)


def truthy(v: str | None) -> bool:
    return v is not None and v.lower() in ("1", "true", "yes")


@functools.lru_cache(maxsize=1)
def _localhost_resolves() -> bool:
    """Looked up once: every LFS redirect asks."""
    try:
        return socket.gethostbyname("localhost") == "127.0.0.1"
    except OSError:
        return False


# --------------------------------------------------------------------------- state


@dataclass
class Entry:
    kind: str  # "regular" | "lfs"
    oid: str  # git blob sha1 for regular, sha256 for lfs
    size: int

    def to_json(self):
        return [self.kind, self.oid, self.size]


@dataclass
class Commit:
    oid: str
    parent: str | None
    summary: str
    description: str
    date: float
    files: dict  # path -> Entry (the full tree)
    added: list
    deleted: list


@dataclass
class Repo:
    type: str
    ns: str
    name: str
    private: bool
    created: float
    branches: dict = field(default_factory=dict)  # name -> commit oid
    commits: dict = field(default_factory=dict)  # oid -> Commit
    order: list = field(default_factory=list)  # commit oids in creation order
    blobs: dict = field(default_factory=dict)  # git sha1 -> bytes
    lfs: dict = field(default_factory=dict)  # sha256 -> bytes (uploaded objects)
    verified: set = field(default_factory=set)
    parts: dict = field(default_factory=dict)  # (oid, n) -> bytes (multipart in flight)
    prs: int = 0

    @property
    def id(self):
        return f"{self.ns}/{self.name}"

    @property
    def key(self):
        return f"{self.type}/{self.ns}/{self.name}"

    def resolve_rev(self, rev: str) -> str | None:
        if rev in self.branches:
            return self.branches[rev]
        r = rev.lower()
        if r in self.commits:
            return r
        if len(r) >= 7 and all(c in "0123456789abcdef" for c in r):
            hits = [o for o in self.commits if o.startswith(r)]
            if len(hits) == 1:
                return hits[0]
        return None

    def content(self, e: Entry) -> bytes:
        return self.blobs[e.oid] if e.kind == "regular" else self.lfs[e.oid]


class HubError(Exception):
    def __init__(self, status, message, code=None, headers=None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class ClientGone(Exception):
    pass


class State:
    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.RLock()
        self.rng = random.Random(cfg.seed)
        self.fault_rate = cfg.fault_rate
        self.lost_rate = cfg.commit_lost_response_rate
        self.fault_kinds = list(cfg.faults)
        self.reset()
        if cfg.state and os.path.exists(cfg.state):
            self.load(cfg.state)

    def reset(self):
        with self.lock:
            self.repos: dict[str, Repo] = {}
            self.seq = 0
            self.counters = {k: 0 for k in COUNTER_KEYS}
            self.faults = {k: 0 for k in FAULT_KINDS + ("lost",)}
            self.reads = []  # resolve/cdn GETs: {"kind","path","range","status","bytes"}, the last 10000
            self.rng = random.Random(self.cfg.seed)

    # ---- faults
    def draw_fault(self, kind: str, allow_stale: bool):
        """One deterministic draw per eligible request (in arrival order)."""
        with self.lock:
            if self.fault_rate <= 0 or (self.cfg.fault_on and kind not in self.cfg.fault_on):
                return None
            x = self.rng.random()
            kinds = [k for k in self.fault_kinds if k != "stale" or (kind == "commit" and allow_stale)]
            pick = self.rng.choice(kinds) if kinds else None
            status = self.rng.choice((500, 502, 503))
            if x >= self.fault_rate or pick is None:
                return None
            self.faults[pick] += 1
            if kind == "commit":
                self.counters["commit_rejected"] += 1
            return pick, status

    def draw_lost(self) -> bool:
        with self.lock:
            return self.lost_rate > 0 and self.rng.random() < self.lost_rate

    # ---- commits
    def make_commit(self, repo: Repo, parent: str | None, files: dict, summary: str, description: str,
                    added: list, deleted: list) -> Commit:
        self.seq += 1
        h = hashlib.sha1()
        h.update(f"{repo.key}\0{parent}\0{summary}\0{self.seq}\0".encode())
        for p in sorted(files):
            h.update(f"{p}\0{files[p].oid}\0".encode())
        c = Commit(h.hexdigest(), parent, summary, description, time.time(), files, added, deleted)
        repo.commits[c.oid] = c
        repo.order.append(c.oid)
        return c

    # ---- persistence
    def save(self):
        if not self.cfg.state:
            return
        repos = {}
        for k, r in self.repos.items():
            repos[k] = {
                "type": r.type, "ns": r.ns, "name": r.name, "private": r.private, "created": r.created,
                "branches": r.branches, "prs": r.prs, "verified": sorted(r.verified),
                "commits": [{
                    "oid": c.oid, "parent": c.parent, "summary": c.summary, "description": c.description,
                    "date": c.date, "added": c.added, "deleted": c.deleted,
                    "files": {p: e.to_json() for p, e in c.files.items()},
                } for c in (r.commits[o] for o in r.order)],
                "blobs": {k2: base64.b64encode(v).decode() for k2, v in r.blobs.items()},
                "lfs": {k2: base64.b64encode(v).decode() for k2, v in r.lfs.items()},
            }
        tmp = self.cfg.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"seq": self.seq, "repos": repos}, f)
        os.replace(tmp, self.cfg.state)

    def load(self, path):
        with open(path) as f:
            d = json.load(f)
        self.seq = d.get("seq", 0)
        for k, rd in d["repos"].items():
            r = Repo(rd["type"], rd["ns"], rd["name"], rd["private"], rd["created"])
            r.branches, r.prs, r.verified = rd["branches"], rd.get("prs", 0), set(rd.get("verified", []))
            r.blobs = {k2: base64.b64decode(v) for k2, v in rd["blobs"].items()}
            r.lfs = {k2: base64.b64decode(v) for k2, v in rd["lfs"].items()}
            for cd in rd["commits"]:
                files = {p: Entry(*e) for p, e in cd["files"].items()}
                c = Commit(cd["oid"], cd["parent"], cd["summary"], cd["description"], cd["date"], files,
                           cd["added"], cd["deleted"])
                r.commits[c.oid] = c
                r.order.append(c.oid)
            self.repos[k] = r

    def stats(self):
        with self.lock:
            repos = {}
            for k, r in self.repos.items():
                repos[k] = {
                    "id": r.id, "type": r.type, "private": r.private, "branches": dict(r.branches),
                    "lfs_objects": len(r.lfs),
                    "commits": [{
                        "oid": c.oid, "parent": c.parent, "summary": c.summary,
                        "added": list(c.added), "deleted": list(c.deleted),
                    } for c in (r.commits[o] for o in r.order)],
                }
            return {"counters": dict(self.counters), "faults_injected": dict(self.faults), "repos": repos,
                    "reads": list(self.reads)}

    def record_read(self, kind, path, rng, status, nbytes):
        with self.lock:
            self.reads.append({"kind": kind, "path": path, "range": rng, "status": status, "bytes": nbytes})
            del self.reads[:-10000]


# --------------------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hub-test-server/1"
    timeout = 600

    # set on the class by main()
    state: State = None  # type: ignore
    cfg = None

    def log_message(self, fmt, *args):
        if self.cfg.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    # ---- plumbing
    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ClientGone()
                try:
                    n = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise HubError(400, "Bad chunked encoding")
                if n == 0:
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    return b"".join(out)
                data = self.rfile.read(n)
                if len(data) < n:
                    raise ClientGone()
                out.append(data)
                self.rfile.readline()
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise HubError(400, "Bad Content-Length")
        data = self.rfile.read(n) if n > 0 else b""
        if len(data) < n:
            raise ClientGone()
        return data

    def send_json(self, obj, status=200, headers=None):
        self.send(status, json.dumps(obj).encode(), headers=headers)

    def send_hub_error(self, e: HubError, head=False):
        h = {"X-Error-Message": e.message.encode("ascii", "replace").decode()}
        if e.code:
            h["X-Error-Code"] = e.code
        h.update(e.headers)
        self.send(e.status, json.dumps({"error": e.message}).encode(), headers=h, head=head)

    def reset_connection(self):
        """Close the socket with no response; SO_LINGER 0 makes it an RST."""
        try:
            self.wfile.flush()
        except Exception:
            pass
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.rfile.close()
        except Exception:
            pass
        try:
            self.connection.close()
        except Exception:
            pass

    def base_url(self):
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return f"http://{host}"

    def dispatch(self, method):
        self.method = method
        self.body_read = False
        try:
            self.route(method)
        except HubError as e:
            self.drain()
            self.send_hub_error(e, head=(method == "HEAD"))
        except (ClientGone, ConnectionError, socket.timeout, OSError):
            self.close_connection = True
        except Exception as e:  # a bug in the double: say so, keep serving
            traceback.print_exc()
            try:
                self.drain()
                self.send_hub_error(HubError(500, f"hub-test-server internal error: {e!r}"))
            except Exception:
                self.close_connection = True

    def drain(self):
        if not self.body_read:
            self.body_read = True
            self.read_body()

    def body(self) -> bytes:
        self.body_read = True
        return self.read_body()

    def json_body(self):
        raw = self.body()
        try:
            return json.loads(raw or b"{}")
        except json.JSONDecodeError:
            raise HubError(400, "Invalid JSON body")

    # ---- auth
    def token(self):
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            t = auth[7:].strip()
            return t or None
        return None

    def check_token(self, required: bool, write: bool = False):
        """Returns True if a valid token was presented. Raises 401/403."""
        t = self.token()
        cfg = self.cfg
        if t is None:
            if required:
                raise HubError(401, "You must be authenticated to access this resource (missing token)")
            return False
        accepted = (t in cfg.token or t in cfg.read_only_token) if cfg.token else True
        if not accepted:
            raise HubError(401, INVALID_CREDENTIALS)
        if write and t in cfg.read_only_token:
            raise HubError(403, "You don't have the rights to write with this token (read-only token)")
        return True

    def repo_or_404(self, rtype, ns, name, read=True) -> Repo:
        authed = self.check_token(required=not read, write=not read)
        repo = self.state.repos.get(f"{rtype}/{ns}/{name}")
        if repo is None:
            raise HubError(404, "Repository not found", "RepoNotFound")
        if repo.private and not authed:
            raise HubError(401, "Repository not found", "RepoNotFound")
        return repo

    def rev_or_404(self, repo: Repo, rev: str) -> str:
        oid = repo.resolve_rev(rev)
        if oid is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return oid

    # ---- faults
    def maybe_fault(self, kind: str, allow_stale=False) -> bool:
        """Inject a fault for a write-path request (or a read with --fault-reads).
        Returns True if the request was consumed by a fault."""
        if self.cfg.write_latency_ms and kind in ("preupload", "commit"):
            time.sleep(self.cfg.write_latency_ms / 1000.0)
        drawn = self.state.draw_fault(kind, allow_stale)
        if drawn is None:
            return False
        f, status = drawn
        self.drain()
        if f == "5xx":
            self.send_hub_error(HubError(status, f"injected fault: {status}"), head=self.method == "HEAD")
        elif f == "429":
            self.send_hub_error(HubError(429, "injected fault: rate limited",
                                         headers={"Retry-After": str(self.cfg.retry_after)}),
                                head=self.method == "HEAD")
        elif f == "hang":
            time.sleep(self.cfg.hang_seconds)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif f == "reset":
            self.reset_connection()
        elif f == "stale":
            self.send_hub_error(HubError(412, STALE_MESSAGE))
        return True

    # ---- routing
    def route(self, method):
        u = urlsplit(self.path)
        self.query = parse_qs(u.query, keep_blank_values=True)
        raw = [s for s in u.path.split("/")][1:]
        seg = [unquote(s) for s in raw]
        st = self.state

        if u.path == "/_stats" and method == "GET":
            return self.send_json(st.stats())
        if u.path == "/_reset" and method == "POST":
            self.drain()
            st.reset()
            with st.lock:
                st.save()
            return self.send_json({"ok": True})
        if u.path == "/_faults" and method == "POST":
            return self.set_faults()
        if u.path == "/api/whoami-v2" and method == "GET":
            return self.whoami()
        if u.path == "/api/repos/create" and method == "POST":
            return self.create_repo()
        if u.path == "/api/repos/delete" and method == "DELETE":
            return self.delete_repo()
        if u.path == "/api/validate-yaml" and method == "POST":
            self.drain()
            with st.lock:
                st.counters["validate_yaml"] += 1
            return self.send_json({"errors": [], "warnings": []})
        if len(seg) >= 2 and seg[0] == "_lfs":
            return self.lfs_object(method, seg[1:])
        if len(seg) == 5 and seg[0] == "_cdn" and method in ("GET", "HEAD"):
            return self.cdn(method, seg[1:])
        if len(seg) >= 4 and seg[0] == "api" and seg[1] in REPO_TYPES:
            rtype, ns, name, rest = REPO_TYPES[seg[1]], seg[2], seg[3], seg[4:]
            return self.repo_api(method, rtype, ns, name, rest)
        # LFS batch: /{prefix}{ns}/{name}.git/info/lfs/objects/batch
        if u.path.endswith(".git/info/lfs/objects/batch") and method == "POST":
            head = seg[: -len(["info", "lfs", "objects", "batch"])]
            rtype, rest = ("dataset", head[1:]) if head[0] == "datasets" else \
                ("space", head[1:]) if head[0] == "spaces" else ("model", head)
            if len(rest) != 2 or not rest[1].endswith(".git"):
                raise HubError(404, "Not Found")
            return self.lfs_batch(rtype, rest[0], rest[1][:-4])
        # resolve: /{prefix}{ns}/{name}/resolve/{rev}/{path...}
        if method in ("GET", "HEAD"):
            if len(seg) >= 6 and seg[0] in ("datasets", "spaces") and seg[3] == "resolve":
                return self.resolve(method, REPO_TYPES[seg[0]], seg[1], seg[2], seg[4:])
            if len(seg) >= 5 and seg[2] == "resolve":
                return self.resolve(method, "model", seg[0], seg[1], seg[3:])
        raise HubError(404, f"Not Found: {method} {u.path}")

    def split_rev(self, repo: Repo, rest: list) -> tuple[str, list]:
        """rest = [rev, *path]; tolerate an unquoted refs/pr/N or refs/convert/x."""
        if rest and rest[0] == "refs" and len(rest) >= 3 and repo.resolve_rev(rest[0]) is None:
            return "/".join(rest[:3]), rest[3:]
        return (rest[0] if rest else "main"), rest[1:]

    def repo_api(self, method, rtype, ns, name, rest):
        st = self.state
        op = rest[0] if rest else ""
        if method == "GET" and op in ("", "revision"):
            with st.lock:
                st.counters["info"] += 1
                repo = self.repo_or_404(rtype, ns, name)
                rev, _ = self.split_rev(repo, rest[1:]) if op else ("main", [])
                oid = self.rev_or_404(repo, rev)
                return self.send_json(self.info_json(repo, oid))
        if method == "POST" and op == "preupload":
            return self.preupload(rtype, ns, name, rest[1:])
        if method == "POST" and op == "commit":
            return self.commit(rtype, ns, name, rest[1:])
        if method == "GET" and op == "tree":
            return self.tree(rtype, ns, name, rest[1:])
        if method == "POST" and op == "paths-info":
            return self.paths_info(rtype, ns, name, rest[1:])
        if method == "GET" and op == "refs":
            with st.lock:
                st.counters["refs"] += 1
                repo = self.repo_or_404(rtype, ns, name)
                branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": o}
                            for b, o in sorted(repo.branches.items()) if not b.startswith("refs/")]
                prs = [{"name": b, "ref": b, "targetCommit": o}
                       for b, o in sorted(repo.branches.items()) if b.startswith("refs/pr/")]
                converts = [{"name": b[len("refs/convert/"):], "ref": b, "targetCommit": o}
                            for b, o in sorted(repo.branches.items()) if b.startswith("refs/convert/")]
                out = {"branches": branches, "converts": converts, "tags": []}
                if truthy(self.query.get("include_prs", [None])[0]):
                    out["pullRequests"] = prs
                return self.send_json(out)
        if method == "GET" and op == "commits":
            with st.lock:
                st.counters["commits_list"] += 1
                repo = self.repo_or_404(rtype, ns, name)
                rev, _ = self.split_rev(repo, rest[1:])
                oid = self.rev_or_404(repo, rev)
                out = []
                while oid is not None:
                    c = repo.commits[oid]
                    out.append({"id": c.oid, "title": c.summary, "message": c.description,
                                "authors": [{"user": self.cfg.user}], "date": iso(c.date)})
                    oid = c.parent
                return self.send_json(out)
        if op == "branch" and method in ("POST", "DELETE") and len(rest) >= 2:
            body = self.json_body()
            with st.lock:
                st.counters["branch"] += 1
                repo = self.repo_or_404(rtype, ns, name, read=False)
                branch = "/".join(rest[1:])
                if method == "DELETE":
                    if branch not in repo.branches:
                        raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
                    del repo.branches[branch]
                else:
                    if branch in repo.branches:
                        if truthy(str(body.get("exist_ok", ""))):
                            return self.send_json({})
                        raise HubError(409, f"Reference already exists: refs/heads/{branch}")
                    start = body.get("startingPoint") or "main"
                    repo.branches[branch] = self.rev_or_404(repo, start)
                st.save()
                return self.send_json({})
        raise HubError(404, f"Not Found: {method} {self.path}")

    # ---- endpoints
    def set_faults(self):
        b = self.json_body()
        st = self.state
        with st.lock:
            if "rate" in b:
                st.fault_rate = float(b["rate"])
            if "commit_lost_response_rate" in b:
                st.lost_rate = float(b["commit_lost_response_rate"])
            if "kinds" in b:
                st.fault_kinds = [k for k in b["kinds"] if k in FAULT_KINDS]
            if "seed" in b:
                st.rng = random.Random(int(b["seed"]))
            return self.send_json({"rate": st.fault_rate, "commit_lost_response_rate": st.lost_rate,
                                   "kinds": st.fault_kinds})

    def whoami(self):
        self.check_token(required=True)
        with self.state.lock:
            self.state.counters["whoami"] += 1
        role = "read" if self.token() in self.cfg.read_only_token else "write"
        return self.send_json({
            "type": "user", "id": hashlib.sha1(self.cfg.user.encode()).hexdigest()[:24],
            "name": self.cfg.user, "fullname": self.cfg.user, "email": None, "emailVerified": False,
            "isPro": False, "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "hub-test-server", "role": role}},
        })

    def create_repo(self):
        b = self.json_body()
        st = self.state
        self.check_token(required=True, write=True)
        with st.lock:
            st.counters["create"] += 1
            rtype = b.get("type") or "model"
            if rtype not in URL_PREFIX:
                raise HubError(400, f"Invalid repo type: {rtype}")
            name = b.get("name") or ""
            ns = b.get("organization") or self.cfg.user
            if not name or "/" in name:
                raise HubError(400, f"Invalid repo name: {name!r}")
            url = f"{self.base_url()}/{URL_PREFIX[rtype]}{ns}/{name}"
            key = f"{rtype}/{ns}/{name}"
            if key in st.repos:
                return self.send_json({"error": f"You already created this {rtype} repo", "url": url}, 409,
                                      headers={"X-Error-Message": f"You already created this {rtype} repo"})
            private = b.get("visibility") == "private" if "visibility" in b else bool(b.get("private"))
            repo = Repo(rtype, ns, name, private, time.time())
            data = DEFAULT_GITATTRIBUTES
            sha1 = git_blob_sha1(data)
            repo.blobs[sha1] = data
            c = st.make_commit(repo, None, {".gitattributes": Entry("regular", sha1, len(data))},
                               "initial commit", "", [".gitattributes"], [])
            repo.branches["main"] = c.oid
            st.repos[key] = repo
            st.save()
            return self.send_json({"url": url, "name": repo.id, "id": repo.id})

    def delete_repo(self):
        b = self.json_body()
        st = self.state
        with st.lock:
            self.check_token(required=True, write=True)
            st.counters["delete"] += 1
            rtype = b.get("type") or "model"
            key = f"{rtype}/{b.get('organization') or self.cfg.user}/{b.get('name')}"
            if key not in st.repos:
                raise HubError(404, "Repository not found", "RepoNotFound")
            del st.repos[key]
            st.save()
            return self.send_json({})

    def classify(self, repo: Repo, files: dict, path: str, size: int) -> str:
        cfg = self.cfg
        if size == 0:
            return "regular"
        if cfg.force_lfs:
            return "lfs"
        if cfg.lfs_threshold is not None and size > cfg.lfs_threshold:
            return "lfs"
        if cfg.lfs_gitattributes and ".gitattributes" in files:
            text = repo.content(files[".gitattributes"]).decode("utf-8", "replace")
            base = path.rsplit("/", 1)[-1]
            for line in text.splitlines():
                parts = line.split()
                if len(parts) >= 2 and "filter=lfs" in parts[1:]:
                    pat = parts[0]
                    target = path if "/" in pat.strip("/") else base
                    if fnmatch.fnmatchcase(target, pat.lstrip("/")):
                        return "lfs"
        return "regular"

    def preupload(self, rtype, ns, name, rest):
        b = self.json_body()
        st = self.state
        with st.lock:
            repo = self.repo_or_404(rtype, ns, name, read=False)
        if self.maybe_fault("preupload"):
            return
        with st.lock:
            st.counters["preupload"] += 1
            rev, _ = self.split_rev(repo, rest)
            oid = self.rev_or_404(repo, rev)
            files = repo.commits[oid].files
            out = []
            for f in b.get("files") or []:
                path, size = f.get("path"), int(f.get("size") or 0)
                mode = self.classify(repo, files, path, size)
                e = files.get(path)
                out.append({"path": path, "uploadMode": mode, "shouldIgnore": False,
                            "oid": e.oid if e is not None else None})
            return self.send_json({"files": out, "commitOid": oid})

    def lfs_batch(self, rtype, ns, name):
        b = self.json_body()
        st = self.state
        with st.lock:
            repo = self.repo_or_404(rtype, ns, name, read=False)
        if self.maybe_fault("lfs_batch"):
            return
        with st.lock:
            st.counters["lfs_batch"] += 1
            if b.get("operation") != "upload":
                raise HubError(422, "hub-test-server only supports the upload operation")
            base = f"{self.base_url()}/_lfs/{rtype}/{ns}/{name}"
            chunk = self.cfg.lfs_chunk_size
            objs, transfer = [], "basic"
            for o in b.get("objects") or []:
                oid, size = str(o.get("oid", "")), o.get("size")
                if len(oid) != 64 or any(c not in "0123456789abcdef" for c in oid) or not isinstance(size, int):
                    objs.append({"oid": oid, "size": size if isinstance(size, int) else 0,
                                 "error": {"code": 422, "message": "Invalid oid or size"}})
                    continue
                if oid in repo.lfs and len(repo.lfs[oid]) == size:
                    objs.append({"oid": oid, "size": size})
                    continue
                verify = {"href": f"{base}/{oid}/verify"}
                if chunk and size > chunk and "multipart" in (b.get("transfers") or []):
                    n = (size + chunk - 1) // chunk
                    header = {"chunk_size": str(chunk)}
                    for i in range(1, n + 1):
                        header[str(i)] = f"{base}/{oid}/part/{i}?size={size}"
                    upload = {"href": f"{base}/{oid}/complete?size={size}", "header": header}
                    transfer = "multipart"
                else:
                    upload = {"href": f"{base}/{oid}?size={size}"}
                objs.append({"oid": oid, "size": size, "authenticated": True,
                             "actions": {"upload": upload, "verify": verify}})
            data = json.dumps({"transfer": transfer, "objects": objs, "hash_algo": "sha256"}).encode()
            return self.send(200, data, ctype="application/vnd.git-lfs+json")

    def lfs_object(self, method, seg):
        # seg = [type, ns, name, oid, ("verify" | "complete" | "part", n)]
        if len(seg) < 4 or seg[0] not in URL_PREFIX:
            raise HubError(404, "Not Found")
        rtype, ns, name, oid, tail = seg[0], seg[1], seg[2], seg[3], seg[4:]
        st = self.state
        if method == "PUT":
            # Like a presigned URL: no auth, no action headers.
            data = self.body()
            kind = "lfs_put"
        elif method == "POST" and tail == ["verify"]:
            b = self.json_body()
            kind = "verify"
        elif method == "POST" and tail == ["complete"]:
            b = self.json_body()
            kind = "lfs_complete"
        else:
            raise HubError(404, "Not Found")
        with st.lock:
            repo = st.repos.get(f"{rtype}/{ns}/{name}")
            if repo is None:
                raise HubError(404, "Repository not found", "RepoNotFound")
            if kind == "verify":
                self.check_token(required=True, write=True)
        if self.maybe_fault(kind):
            return
        with st.lock:
            st.counters[kind] += 1
            want = self.query.get("size", [None])[0]
            if kind == "lfs_put" and not tail:
                if hashlib.sha256(data).hexdigest() != oid:
                    raise HubError(400, "sha256 of the uploaded content does not match the oid")
                if want is not None and int(want) != len(data):
                    raise HubError(400, "size of the uploaded content does not match")
                repo.lfs[oid] = data
                st.save()
                return self.send(200, b"", ctype=None, headers={"ETag": f'"{oid}"'})
            if kind == "lfs_put" and len(tail) == 2 and tail[0] == "part":
                repo.parts[(oid, int(tail[1]))] = data
                etag = '"%s"' % hashlib.md5(data).hexdigest()
                return self.send(200, b"", ctype=None, headers={"ETag": etag})
            if kind == "lfs_complete":
                parts = sorted(b.get("parts") or [], key=lambda p: p.get("partNumber", 0))
                chunks = []
                for p in parts:
                    d = repo.parts.get((oid, p.get("partNumber")))
                    if d is None or '"%s"' % hashlib.md5(d).hexdigest() != p.get("etag"):
                        raise HubError(400, f"Missing or mismatched part {p.get('partNumber')}")
                    chunks.append(d)
                data = b"".join(chunks)
                if hashlib.sha256(data).hexdigest() != oid or (want is not None and int(want) != len(data)):
                    raise HubError(400, "sha256/size of the assembled parts does not match the oid")
                repo.lfs[oid] = data
                for k in [k for k in repo.parts if k[0] == oid]:
                    del repo.parts[k]
                st.save()
                return self.send_json({"oid": oid, "size": len(data)})
            if kind == "verify":
                if b.get("oid") != oid or oid not in repo.lfs:
                    raise HubError(404, "Object not found", headers={})
                if b.get("size") is not None and int(b["size"]) != len(repo.lfs[oid]):
                    raise HubError(422, "Object size does not match")
                repo.verified.add(oid)
                return self.send_json({"oid": oid, "size": len(repo.lfs[oid])})
        raise HubError(404, "Not Found")

    def commit(self, rtype, ns, name, rest):
        raw = self.body()
        st = self.state
        with st.lock:
            repo = self.repo_or_404(rtype, ns, name, read=False)
        try:
            lines = [json.loads(l) for l in raw.decode("utf-8").splitlines() if l.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError):
            with st.lock:
                st.counters["commit_rejected"] += 1
            raise HubError(400, "Invalid NDJSON commit payload")
        header = lines[0].get("value", {}) if lines and lines[0].get("key") == "header" else None
        parent_req = (header or {}).get("parentCommit")
        if self.maybe_fault("commit", allow_stale=bool(parent_req)):
            return
        with st.lock:
            lost = st.draw_lost()
            try:
                c, pr = self.apply_commit(repo, rest, header, parent_req, lines[1:])
            except HubError:
                st.counters["commit_rejected"] += 1
                raise
            st.counters["commit_ok"] += 1
            st.save()
            if lost:
                st.faults["lost"] += 1
                return self.reset_connection()
            prefix = URL_PREFIX[rtype]
            out = {"commitOid": c.oid, "commitUrl": f"{self.base_url()}/{prefix}{repo.id}/commit/{c.oid}",
                   "success": True}
            if pr is not None:
                out["pullRequestUrl"] = f"{self.base_url()}/{prefix}{repo.id}/discussions/{pr}"
            return self.send_json(out)

    def apply_commit(self, repo: Repo, rest, header, parent_req, ops):
        if header is None:
            raise HubError(400, "The first line of the commit payload must be the header")
        rev, _ = self.split_rev(repo, rest)
        if rev not in repo.branches:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        create_pr = truthy(self.query.get("create_pr", [None])[0])
        head = repo.branches[rev]
        if parent_req is not None:
            p = str(parent_req).lower()
            if not (5 <= len(p) <= 40) or any(ch not in "0123456789abcdef" for ch in p):
                raise HubError(400, f"Invalid parentCommit: {parent_req}")
            if create_pr:
                base = repo.resolve_rev(p)
                if base is None:
                    raise HubError(404, f"Invalid rev id: {parent_req}", "RevisionNotFound")
                head = base
            elif not head.startswith(p):
                raise HubError(412, STALE_MESSAGE)
        files = dict(repo.commits[head].files)
        added, deleted = [], []
        new_blobs = {}
        for line in ops:
            key, v = line.get("key"), line.get("value") or {}
            path = v.get("path") or ""
            if key in ("file", "lfsFile") and (not path or path.startswith("/") or ".." in path.split("/")):
                raise HubError(400, f"Invalid path: {path!r}")
            if key == "file":
                if v.get("encoding", "base64") != "base64":
                    raise HubError(400, f"Unsupported encoding {v.get('encoding')!r}")
                data = base64.b64decode(v.get("content") or "")
                if not self.cfg.lax_lfs and self.classify(repo, files, path, len(data)) == "lfs":
                    raise HubError(422, f"Your push was rejected because {path} should be stored with Git LFS "
                                        "(preupload answered uploadMode lfs)")
                sha1 = git_blob_sha1(data)
                new_blobs[sha1] = data
                files[path] = Entry("regular", sha1, len(data))
                added.append(path)
            elif key == "lfsFile":
                oid = str(v.get("oid") or "").lower()
                if v.get("algo", "sha256") != "sha256":
                    raise HubError(400, f"Unsupported algo {v.get('algo')!r}")
                if oid not in repo.lfs:
                    raise HubError(422, f"LFS object {oid} for {path} was never uploaded")
                size = len(repo.lfs[oid])
                if v.get("size") is not None and int(v["size"]) != size:
                    raise HubError(422, f"LFS object {oid} size mismatch for {path}")
                files[path] = Entry("lfs", oid, size)
                added.append(path)
            elif key == "deletedFile":
                if path not in files:
                    raise HubError(404, f"File not found: {path}", "EntryNotFound")
                del files[path]
                deleted.append(path)
            elif key == "deletedFolder":
                pre = path.rstrip("/") + "/"
                gone = [p for p in files if p.startswith(pre)]
                if not gone:
                    raise HubError(404, f"Folder not found: {path}", "EntryNotFound")
                for p in gone:
                    del files[p]
                deleted.extend(sorted(gone))
            else:
                raise HubError(400, f"Unknown commit operation key {key!r}")
        repo.blobs.update(new_blobs)
        c = self.state.make_commit(repo, head, files, header.get("summary") or "",
                                   header.get("description") or "", added, deleted)
        pr = None
        if create_pr:
            repo.prs += 1
            pr = repo.prs
            repo.branches[f"refs/pr/{pr}"] = c.oid
        else:
            repo.branches[rev] = c.oid
        return c, pr

    # ---- reads
    def read_fault(self, kind) -> bool:
        return self.cfg.fault_reads and self.maybe_fault(kind)

    def info_json(self, repo: Repo, oid: str):
        c = repo.commits[oid]
        blobs = truthy(self.query.get("blobs", [None])[0])
        sibs = []
        for p in sorted(c.files):
            s = {"rfilename": p}
            if blobs:
                e = c.files[p]
                s["size"] = e.size
                if e.kind == "lfs":
                    ptr = lfs_pointer(e.oid, e.size)
                    s["blobId"] = git_blob_sha1(ptr)
                    s["lfs"] = {"sha256": e.oid, "size": e.size, "pointerSize": len(ptr)}
                else:
                    s["blobId"] = e.oid
            sibs.append(s)
        return {
            "_id": hashlib.sha1(repo.key.encode()).hexdigest()[:24], "id": repo.id, "author": repo.ns,
            "sha": oid, "lastModified": iso(c.date), "createdAt": iso(repo.created),
            "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
            "tags": [], "siblings": sibs,
        }

    def entry_json(self, path, e: Entry):
        if e.kind == "lfs":
            ptr = lfs_pointer(e.oid, e.size)
            return {"type": "file", "oid": git_blob_sha1(ptr), "size": e.size, "path": path,
                    "lfs": {"oid": e.oid, "size": e.size, "pointerSize": len(ptr)}}
        return {"type": "file", "oid": e.oid, "size": e.size, "path": path}

    @staticmethod
    def dir_json(path, files):
        h = hashlib.sha1(("tree " + path).encode())
        for p in sorted(files):
            if p.startswith(path + "/"):
                h.update(f"{p}\0{files[p].oid}\0".encode())
        return {"type": "directory", "oid": h.hexdigest(), "size": 0, "path": path}

    @staticmethod
    def dirs_of(files):
        out = set()
        for p in files:
            parts = p.split("/")
            for i in range(1, len(parts)):
                out.add("/".join(parts[:i]))
        return out

    def tree(self, rtype, ns, name, rest):
        st = self.state
        with st.lock:
            repo = self.repo_or_404(rtype, ns, name)
        if self.read_fault("tree"):
            return
        with st.lock:
            st.counters["tree"] += 1
            rev, path_parts = self.split_rev(repo, rest)
            oid = self.rev_or_404(repo, rev)
            files = repo.commits[oid].files
            folder = "/".join(p for p in path_parts if p).strip("/")
            dirs = self.dirs_of(files)
            if folder and folder not in dirs:
                raise HubError(404, f"Entry not found: {folder}", "EntryNotFound")
            recursive = truthy(self.query.get("recursive", [None])[0])
            pre = folder + "/" if folder else ""
            out = []
            for d in sorted(dirs):
                if d.startswith(pre) and (recursive or "/" not in d[len(pre):]):
                    out.append(self.dir_json(d, files))
            for p in sorted(files):
                if p.startswith(pre) and (recursive or "/" not in p[len(pre):]):
                    out.append(self.entry_json(p, files[p]))
            page = self.cfg.tree_page_size
            if not page:
                return self.send_json(out)
            try:
                start = int(self.query.get("cursor", ["0"])[0])
            except ValueError:
                raise HubError(400, "Invalid cursor")
            headers = {}
            if start + page < len(out):
                u = urlsplit(self.path)
                q = [(k, v) for k, vs in self.query.items() if k != "cursor" for v in vs] + [("cursor", str(start + page))]
                query = "&".join(f"{quote(k)}={quote(v)}" for k, v in q)
                headers["Link"] = f'<{self.base_url()}{u.path}?{query}>; rel="next"'
            return self.send_json(out[start:start + page], headers=headers)

    def paths_info(self, rtype, ns, name, rest):
        raw = self.body()
        st = self.state
        with st.lock:
            repo = self.repo_or_404(rtype, ns, name)
        if self.read_fault("paths_info"):
            return
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            paths = json.loads(raw or b"{}").get("paths") or []
        else:
            paths = parse_qs(raw.decode("utf-8"), keep_blank_values=True).get("paths", [])
        with st.lock:
            st.counters["paths_info"] += 1
            rev, _ = self.split_rev(repo, rest)
            oid = self.rev_or_404(repo, rev)
            files = repo.commits[oid].files
            dirs = self.dirs_of(files)
            out = []
            for p in paths:
                p = p.strip("/")
                if p in files:
                    out.append(self.entry_json(p, files[p]))
                elif p in dirs:
                    out.append(self.dir_json(p, files))
            return self.send_json(out)

    def resolve(self, method, rtype, ns, name, rest):
        st = self.state
        with st.lock:
            repo = self.repo_or_404(rtype, ns, name)
        if self.read_fault("resolve_head" if method == "HEAD" else "resolve_get"):
            return
        with st.lock:
            st.counters["resolve_head" if method == "HEAD" else "resolve_get"] += 1
            rev, path_parts = self.split_rev(repo, rest)
            oid = self.rev_or_404(repo, rev)
            path = "/".join(path_parts)
            e = repo.commits[oid].files.get(path)
            if e is None:
                raise HubError(404, "Entry not found", "EntryNotFound", headers={"X-Repo-Commit": oid})
            data = repo.content(e)
        headers = {"X-Repo-Commit": oid, "Accept-Ranges": "bytes", "ETag": f'"{e.oid}"'}
        if e.kind == "lfs":
            headers["X-Linked-Etag"] = f'"{e.oid}"'
            headers["X-Linked-Size"] = str(e.size)
            if self.cfg.lfs_redirect:
                # Like the Hub: an LFS file's bytes come from storage on another URL (no auth needed there).
                headers["Location"] = f"{self.cdn_base_url()}/_cdn/{rtype}/{ns}/{name}/{e.oid}"
                self.state.record_read("resolve", path, self.headers.get("Range"), 302, 0)
                return self.send(302, b"", ctype=None, headers=headers, head=method == "HEAD")
        if method == "GET" and self.cfg.read_latency_ms:
            time.sleep(self.cfg.read_latency_ms / 1000.0)
        return self.send_bytes(method, data, headers, "resolve", path)

    def cdn_base_url(self):
        """This server under another host name (localhost <-> 127.0.0.1): storage is another host, so a
        client must not send it the token, and huggingface_hub keeps the Hub's headers of the redirect."""
        host, port = self.server.server_address[:2]
        seen = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        other = "localhost" if seen != "localhost" else "127.0.0.1"
        if other == "localhost" and not _localhost_resolves():
            # A minimal root without /etc/hosts: 127.1 is 127.0.0.1 to every
            # resolver (inet_aton's short form), and still another host name.
            other = "127.1"
        return f"http://{other}:{port}"

    def cdn(self, method, seg):
        rtype, ns, name, oid = seg
        with self.state.lock:
            repo = self.state.repos.get(f"{rtype}/{ns}/{name}")
            data = repo.lfs.get(oid) if repo is not None else None
            if data is None:
                raise HubError(404, "Not Found")
            if method == "GET":
                self.state.counters["cdn_get"] += 1
        if method == "GET" and self.cfg.read_latency_ms:
            time.sleep(self.cfg.read_latency_ms / 1000.0)
        return self.send_bytes(method, data, {"Accept-Ranges": "bytes", "ETag": f'"cdn-{oid[:16]}"'}, "cdn", oid)

    def send_bytes(self, method, data, headers, kind, path):
        size = len(data)
        rng = self.headers.get("Range")
        if rng:
            span = parse_range(rng, size)
            if span is None:
                headers["Content-Range"] = f"bytes */{size}"
                return self.send(416, b"", ctype=None, headers=headers, head=method == "HEAD")
            a, b = span
            headers["Content-Range"] = f"bytes {a}-{b}/{size}"
            if method == "GET":
                self.state.record_read(kind, path, rng, 206, b + 1 - a)
            return self.send(206, data[a:b + 1], ctype="application/octet-stream", headers=headers,
                             head=method == "HEAD")
        if method == "GET":
            self.state.record_read(kind, path, None, 200, size)
        return self.send(200, data, ctype="application/octet-stream", headers=headers, head=method == "HEAD")

    def send(self, status, body=b"", ctype="application/json; charset=utf-8", headers=None, head=False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)


def parse_range(h: str, size: int):
    """bytes=a-b | a- | -n ; one range only. None if unsatisfiable."""
    h = h.strip()
    if not h.startswith("bytes=") or "," in h:
        return None
    a, _, b = h[6:].partition("-")
    try:
        if a == "":
            n = int(b)
            if n <= 0:
                return None
            return max(0, size - n), size - 1
        a = int(a)
        b = int(b) if b else size - 1
    except ValueError:
        return None
    if a >= size or b < a:
        return None
    return a, min(b, size - 1)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="In-memory Hugging Face Hub test double")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--token", action="append", default=[],
                    help="accepted bearer token (repeatable); default: any non-empty token")
    ap.add_argument("--read-only-token", action="append", default=[],
                    help="token accepted for reads only (403 on writes); repeatable")
    ap.add_argument("--user", default="user", help="whoami name and default namespace (default: user)")
    ap.add_argument("--force-lfs", action="store_true", help="preupload answers lfs for every non-empty file")
    ap.add_argument("--lfs-threshold", type=int, default=None, metavar="BYTES",
                    help="preupload answers lfs for files larger than BYTES")
    ap.add_argument("--lfs-gitattributes", action=argparse.BooleanOptionalAction, default=True,
                    help="preupload answers lfs for files matching filter=lfs patterns of the repo's .gitattributes "
                         "(*.parquet, *.arrow, ... in the initial commit), as the Hub does (default: on)")
    ap.add_argument("--lax-lfs", action="store_true",
                    help="accept inline (file) commit ops for files preupload would classify as lfs")
    ap.add_argument("--lfs-chunk-size", type=int, default=None, metavar="BYTES",
                    help="offer the multipart LFS transfer with this part size for larger objects")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fault-rate", type=float, default=0.0,
                    help="probability of a fault on preupload, LFS batch/PUT/complete/verify and commit requests")
    ap.add_argument("--faults", default=",".join(FAULT_KINDS),
                    help="comma-separated fault kinds to draw from: " + ",".join(FAULT_KINDS))
    ap.add_argument("--fault-on", default="", metavar="KINDS",
                    help="restrict faults to these request kinds (comma-separated): " + ",".join(FAULTABLE)
                         + " (default: all write-path kinds, plus reads with --fault-reads)")
    ap.add_argument("--fault-reads", action="store_true", help="also inject faults on GET/HEAD tree/resolve/paths-info")
    ap.add_argument("--commit-lost-response-rate", type=float, default=0.0,
                    help="probability that an applied commit's response is lost (connection reset)")
    ap.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds on injected 429 (default 1)")
    ap.add_argument("--hang-seconds", type=float, default=30.0, help="sleep of the hang fault (default 30)")
    ap.add_argument("--write-latency-ms", type=float, default=0.0,
                    help="sleep this long before answering each preupload and commit (a slow Hub)")
    ap.add_argument("--state", default=None, metavar="FILE", help="persist repos to FILE (JSON) and load it at start")
    ap.add_argument("--tree-page-size", type=int, default=0, metavar="N",
                    help="paginate tree listings, N entries a page, with a Link: <...>; rel=\"next\" header (default: one page)")
    ap.add_argument("--lfs-redirect", action="store_true",
                    help="answer resolve of an LFS file with 302 to /_cdn/... on the other name of this host (localhost or "
                         "127.0.0.1; no auth there), as the Hub redirects to its storage")
    ap.add_argument("--read-latency-ms", type=float, default=0.0,
                    help="sleep this long before answering each resolve or /_cdn GET with content (a slow download)")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    a = ap.parse_args(argv)
    a.faults = [k.strip() for k in a.faults.split(",") if k.strip()]
    bad = [k for k in a.faults if k not in FAULT_KINDS]
    if bad:
        ap.error(f"unknown fault kinds {bad}; choose from {FAULT_KINDS}")
    a.fault_on = [k.strip() for k in a.fault_on.split(",") if k.strip()]
    if [k for k in a.fault_on if k not in FAULTABLE]:
        ap.error(f"unknown --fault-on kinds; choose from {FAULTABLE}")
    if not 0 <= a.fault_rate <= 1 or not 0 <= a.commit_lost_response_rate <= 1:
        ap.error("rates must be within 0..1")
    return a


def main(argv=None):
    cfg = parse_args(argv)
    Handler.cfg = cfg
    Handler.state = State(cfg)
    srv = Server((cfg.host, cfg.port), Handler)
    host, port = srv.server_address[:2]
    print(f"hub-test-server listening on http://{host}:{port}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
