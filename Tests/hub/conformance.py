#!/usr/bin/env python3
"""Read a dataset repo back with the official Hugging Face client and compare it.

Run with the hub venv's python (Tests/hub/requirements.txt):

  # check what a pusher wrote: rows read back == rows of FILE (as a multiset)
  conformance.py --endpoint http://127.0.0.1:PORT --repo owner/name --expect-jsonl FILE \
                 [--token-env HF_TOKEN] [--split train] [--revision main]

  # prove the in-project Hub double is faithful: push with the official client
  # itself (create_repo, README with configs, jsonl data, stale parent -> 412,
  # LFS and multipart LFS, deletes, private repos, push_to_hub) and read back
  conformance.py --self-test                  # spawns hub_test_server.py in several modes
  conformance.py --self-test --endpoint URL [--expect-lfs] [--expect-multipart]

HF_ENDPOINT, HF_HUB_DISABLE_XET=1 and a temporary HF_HOME are set before
huggingface_hub/datasets are imported (datasets reads HF_ENDPOINT at import).
Exit status 0 on success; 1 with a message on a mismatch or failure.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def setup_env(endpoint: str) -> str:
    home = tempfile.mkdtemp(prefix="hub-conformance-")
    os.environ["HF_ENDPOINT"] = endpoint.rstrip("/")
    os.environ["HF_HUB_DISABLE_XET"] = "1"
    os.environ["HF_HOME"] = home
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN_PATH"):
        os.environ.pop(k, None)
    return home


# --------------------------------------------------------------------------- row comparison


def norm(v):
    """Canonical form for comparing rows read through Arrow with rows from JSON:
    integral floats become ints, null-valued keys are dropped (Arrow fills absent
    keys of a unified schema with null), tuples become lists."""
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items() if x is not None}
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def canon(row) -> str:
    return json.dumps(norm(row), sort_keys=True, ensure_ascii=False)


def compare_rows(expected: list, got: list, label: str) -> list[str]:
    e = collections.Counter(canon(r) for r in expected)
    g = collections.Counter(canon(r) for r in got)
    if e == g:
        print(f"ok: {label}: {len(got)} rows match")
        return []
    errs = [f"{label}: expected {len(expected)} rows, read back {len(got)}"]
    missing = list((e - g).elements())
    extra = list((g - e).elements())
    for r in missing[:5]:
        errs.append(f"  missing on hub:  {r}")
    if len(missing) > 5:
        errs.append(f"  ... {len(missing) - 5} more missing")
    for r in extra[:5]:
        errs.append(f"  unexpected row:  {r}")
    if len(extra) > 5:
        errs.append(f"  ... {len(extra) - 5} more unexpected")
    return errs


def read_jsonl(path) -> list:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{n}: invalid JSON: {e}")
    return rows


def load_rows(repo, split, token, revision=None, streaming=False) -> list:
    import datasets

    ds = datasets.load_dataset(repo, split=split, token=token, revision=revision, streaming=streaming)
    return [dict(r) for r in ds]


# --------------------------------------------------------------------------- check mode


def check(args) -> int:
    setup_env(args.endpoint)
    token = os.environ.get(args.token_env) if args.token_env else None
    from huggingface_hub import HfApi, snapshot_download

    errs = []
    api = HfApi(endpoint=args.endpoint, token=token)
    files = sorted(api.list_repo_files(args.repo, repo_type="dataset", revision=args.revision))
    print(f"files in {args.repo}: {files}")
    snap = snapshot_download(args.repo, repo_type="dataset", revision=args.revision, token=token)
    for f in files:
        if not os.path.isfile(os.path.join(snap, f)):
            errs.append(f"snapshot_download is missing {f}")
    expected = read_jsonl(args.expect_jsonl)
    got = load_rows(args.repo, args.split, token, revision=args.revision)
    errs += compare_rows(expected, got, f"load_dataset({args.repo!r}, split={args.split!r})")
    if errs:
        print("FAIL:\n" + "\n".join(errs), file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- self-test


class SelfTest:
    def __init__(self, endpoint, token, expect_lfs, expect_multipart, server_checks):
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.expect_lfs = expect_lfs
        self.expect_multipart = expect_multipart
        self.server_checks = server_checks
        self.failures = []

    def stats(self):
        try:
            with urllib.request.urlopen(self.endpoint + "/_stats", timeout=10) as r:
                return json.load(r)
        except Exception:
            return None

    def ok(self, cond, what):
        print(("ok: " if cond else "FAIL: ") + what, flush=True)
        if not cond:
            self.failures.append(what)

    def expect_http_error(self, fn, status, what, contains=None):
        from huggingface_hub.errors import HfHubHTTPError

        try:
            fn()
        except HfHubHTTPError as e:
            code = e.response.status_code if e.response is not None else None
            good = code == status and (contains is None or contains in str(e))
            self.ok(good, f"{what} -> HTTP {code} {type(e).__name__}" + ("" if good else f": {e}"))
            return e
        self.ok(False, f"{what}: expected HTTP {status}, got success")
        return None

    def run(self) -> int:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import RepositoryNotFoundError

        api = HfApi(endpoint=self.endpoint, token=self.token)
        tag = str(int(time.time() * 1000) % 10**9)
        repo = f"selftest/ds-{tag}"
        who = api.whoami()
        self.ok(isinstance(who.get("name"), str), f"whoami -> {who.get('name')}")

        url = api.create_repo(repo, repo_type="dataset")
        self.ok(url.repo_id == repo and url.repo_type == "dataset", f"create_repo -> {url}")
        api.create_repo(repo, repo_type="dataset", exist_ok=True)
        self.ok(True, "create_repo exist_ok=True on an existing repo")
        self.expect_http_error(lambda: api.create_repo(repo, repo_type="dataset"), 409, "create_repo again")
        info0 = api.dataset_info(repo)
        self.ok(len(info0.sha or "") == 40, f"dataset_info sha {info0.sha}")

        readme = (
            "---\nconfigs:\n- config_name: default\n  data_files:\n"
            "  - split: train\n    path: data/train-*.jsonl\n"
            "  - split: test\n    path: data/test-*.jsonl\n---\n# self-test dataset\n"
        ).encode()
        train = [{"text": "alpha", "label": 1, "meta": {"n": 1.5}}, {"text": "beta", "label": 0, "meta": {"n": 2.0}},
                 {"text": "gamma \u00e9\u4e2d", "label": 1, "meta": {"n": -3.25}}]
        test = [{"text": "delta", "label": 0, "meta": {"n": 0.5}}]
        jl = lambda rows: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()  # noqa: E731
        # make the data files a few hundred bytes so multipart (chunk 64) has several parts
        train_b = jl(train) + b""
        test_b = jl(test)
        ci = api.upload_file(path_or_fileobj=readme, path_in_repo="README.md", repo_id=repo, repo_type="dataset",
                             commit_message="add card")
        self.ok(len(ci.oid) == 40 and ci.oid == ci.oid.lower(), f"upload_file README -> commit {ci.oid}")
        ci = api.create_commit(repo, repo_type="dataset", commit_message="add data", operations=[
            CommitOperationAdd("data/train-00000-of-00001.jsonl", train_b),
            CommitOperationAdd("data/test-00000-of-00001.jsonl", test_b),
            CommitOperationAdd("data/empty.txt.bak", b""),
        ])
        self.ok(len(ci.oid) == 40, f"create_commit data -> {ci.oid}")
        head = api.dataset_info(repo).sha
        self.ok(head == ci.oid, "dataset_info sha == last commit oid")

        # stale parent -> 412 with the Hub's message; nothing committed
        before = self.stats()
        self.expect_http_error(
            lambda: api.create_commit(repo, repo_type="dataset", commit_message="stale", parent_commit=info0.sha,
                                      operations=[CommitOperationAdd("stale.txt", b"x")]),
            412, "create_commit with a stale parent_commit", contains="The branch was updated")
        ci2 = api.create_commit(repo, repo_type="dataset", commit_message="fresh parent", parent_commit=head,
                                operations=[CommitOperationAdd("notes/a.txt", b"note"),
                                            CommitOperationDelete("data/empty.txt.bak")])
        self.ok(api.dataset_info(repo).sha == ci2.oid, "create_commit with the current parent_commit")
        ci3 = api.create_commit(repo, repo_type="dataset", commit_message="delete folder",
                                operations=[CommitOperationDelete("notes/")])
        self.ok(len(ci3.oid) == 40, "create_commit deleting a folder")
        # no-op re-upload: the client compares preupload oids and sends no commit
        n_before = self.commit_count(repo)
        api.upload_file(path_or_fileobj=train_b, path_in_repo="data/train-00000-of-00001.jsonl", repo_id=repo,
                        repo_type="dataset", commit_message="same bytes")
        if n_before is not None:
            self.ok(self.commit_count(repo) == n_before, "re-uploading identical bytes sends no commit")
        self.expect_http_error(
            lambda: api.create_commit(repo, repo_type="dataset", commit_message="x", revision="nope",
                                      operations=[CommitOperationAdd("y.txt", b"y")]),
            404, "create_commit on an unknown revision")

        want = {".gitattributes", "README.md", "data/train-00000-of-00001.jsonl", "data/test-00000-of-00001.jsonl"}
        files = set(api.list_repo_files(repo, repo_type="dataset"))
        self.ok(files == want, f"list_repo_files -> {sorted(files)}")
        tree = {e.path: e for e in api.list_repo_tree(repo, repo_type="dataset", recursive=True)}
        self.ok("data" in tree and type(tree["data"]).__name__ == "RepoFolder", "list_repo_tree shows the data folder")
        lfs_paths = sorted(p for p, e in tree.items() if getattr(e, "lfs", None))
        if self.expect_lfs:
            self.ok(set(lfs_paths) >= {"README.md", "data/train-00000-of-00001.jsonl"},
                    f"files stored via LFS: {lfs_paths}")
        else:
            self.ok(lfs_paths == [], f"no LFS files ({lfs_paths})")
        infos = api.get_paths_info(repo, ["README.md", "data", "missing.txt"], repo_type="dataset")
        self.ok(sorted(i.path for i in infos) == ["README.md", "data"], "get_paths_info (paths-info endpoint)")
        try:
            api.list_repo_tree(repo, repo_type="dataset", path_in_repo="nope").__iter__().__next__()
            self.ok(False, "list_repo_tree of a missing folder should raise")
        except Exception as e:
            self.ok(type(e).__name__ == "RemoteEntryNotFoundError", f"list_repo_tree missing folder -> {type(e).__name__}")

        contents = {"README.md": readme, "data/train-00000-of-00001.jsonl": train_b,
                    "data/test-00000-of-00001.jsonl": test_b}
        for p, b in contents.items():
            local = hf_hub_download(repo, p, repo_type="dataset")
            with open(local, "rb") as f:
                self.ok(f.read() == b, f"hf_hub_download {p} byte-identical")
        snap = snapshot_download(repo, repo_type="dataset", revision=ci3.oid)
        for p, b in contents.items():
            with open(os.path.join(snap, p), "rb") as f:
                self.ok(f.read() == b, f"snapshot_download {p} byte-identical")
        self.expect_http_error(lambda: hf_hub_download(repo, "missing.py", repo_type="dataset"), 404,
                               "hf_hub_download of a missing file")

        for split, rows in (("train", train), ("test", test)):
            errs = compare_rows(rows, load_rows(repo, split, self.token), f"load_dataset {repo} split={split}")
            for e in errs:
                self.ok(False, e)
        errs = compare_rows(train, load_rows(repo, "train", self.token, streaming=True),
                            f"load_dataset streaming {repo} split=train (HfFileSystem range reads)")
        for e in errs:
            self.ok(False, e)

        # README-less repo, split from file names
        repo2 = f"selftest/plain-{tag}"
        api.create_repo(repo2, repo_type="dataset")
        api.upload_folder(repo_id=repo2, repo_type="dataset", folder_path=self.folder({
            "data/train-00000-of-00001.jsonl": train_b, "data/test-00000-of-00001.jsonl": test_b}))
        for e in compare_rows(test, load_rows(repo2, "test", self.token), f"README-less {repo2} split=test"):
            self.ok(False, e)

        # datasets' own push_to_hub (parquet, revision -> parent_commit, tree probes)
        import datasets

        repo3 = f"selftest/pushed-{tag}"
        dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(train), "test": datasets.Dataset.from_list(test)})
        dd.push_to_hub(repo3, token=self.token)
        for split, rows in (("train", train), ("test", test)):
            for e in compare_rows(rows, load_rows(repo3, split, self.token), f"push_to_hub+load_dataset split={split}"):
                self.ok(False, e)
        pq = [e for e in api.list_repo_tree(repo3, repo_type="dataset", recursive=True) if e.path.endswith(".parquet")]
        self.ok(len(pq) == 2 and all(getattr(e, "lfs", None) for e in pq),
                f"push_to_hub parquet shards stored via LFS: {[e.path for e in pq]}")
        dd.push_to_hub(repo3, token=self.token)  # a second push: reads the card at the head, commits with parent
        self.ok(len(api.list_repo_commits(repo3, repo_type="dataset")) >= 2, "list_repo_commits after two pushes")

        # private repos need a token for reads
        repo4 = f"selftest/private-{tag}"
        api.create_repo(repo4, repo_type="dataset", private=True)
        api.upload_file(path_or_fileobj=test_b, path_in_repo="data/test-00000-of-00001.jsonl", repo_id=repo4,
                        repo_type="dataset")
        self.ok(api.dataset_info(repo4).private is True, "private repo info with a token")
        anon = HfApi(endpoint=self.endpoint, token=False)
        try:
            anon.dataset_info(repo4)
            self.ok(False, "anonymous read of a private repo should fail")
        except RepositoryNotFoundError:
            self.ok(True, "anonymous read of a private repo -> RepositoryNotFoundError")

        if self.server_checks:
            self.server_side(api, repo)
        return 0 if not self.failures else 1

    def commit_count(self, repo):
        s = self.stats()
        if s is None:
            return None
        return len(s["repos"][f"dataset/{repo}"]["commits"])

    def folder(self, files):
        d = tempfile.mkdtemp(prefix="hub-selftest-")
        for p, b in files.items():
            os.makedirs(os.path.dirname(os.path.join(d, p)), exist_ok=True)
            with open(os.path.join(d, p), "wb") as f:
                f.write(b)
        return d

    def server_side(self, api, repo):
        s = self.stats()
        self.ok(s is not None, "GET /_stats")
        if s is None:
            return
        c = s["counters"]
        commits = s["repos"][f"dataset/{repo}"]["commits"]
        self.ok([x["summary"] for x in commits] ==
                ["initial commit", "add card", "add data", "fresh parent", "delete folder"],
                f"/_stats commits of {repo}: {[x['summary'] for x in commits]}")
        self.ok(len({x["oid"] for x in commits}) == len(commits), "commit oids are unique")
        self.ok(c["commit_rejected"] >= 1, f"/_stats commit_rejected={c['commit_rejected']} (the 412)")
        if self.expect_lfs:
            self.ok(c["lfs_batch"] > 0 and c["lfs_put"] > 0 and c["verify"] > 0,
                    f"LFS path used: batch={c['lfs_batch']} put={c['lfs_put']} verify={c['verify']}")
        else:
            self.ok(c["lfs_put"] == 0 or c["lfs_batch"] > 0, f"LFS batch={c['lfs_batch']} put={c['lfs_put']}")
        if self.expect_multipart:
            self.ok(c["lfs_complete"] > 0, f"multipart LFS completions: {c['lfs_complete']}")


def self_test_child(args) -> int:
    setup_env(args.endpoint)
    token = os.environ.get(args.token_env or "HF_TOKEN") or "hub-selftest-token"
    t = SelfTest(args.endpoint, token, args.expect_lfs, args.expect_multipart, server_checks=True)
    rc = t.run()
    if t.failures:
        print(f"FAIL: {len(t.failures)} check(s) failed:\n  " + "\n  ".join(t.failures), file=sys.stderr)
    return rc


def start_server(flags):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "hub_test_server.py"), "--port", "0", *flags],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if "listening on" not in line:
        p.kill()
        raise SystemExit(f"hub_test_server.py did not start: {line!r}")
    return p, line.split("listening on ", 1)[1].strip()


def self_test_all(args) -> int:
    modes = [
        ("defaults: jsonl/README regular, parquet via LFS (.gitattributes)", [], []),
        ("--force-lfs", ["--force-lfs"], ["--expect-lfs"]),
        ("--force-lfs, multipart LFS (64-byte parts)", ["--force-lfs", "--lfs-chunk-size", "64"],
         ["--expect-lfs", "--expect-multipart"]),
    ]
    failed = []
    for name, sflags, cflags in modes:
        print(f"== self-test: {name}", flush=True)
        p, url = start_server(sflags)
        try:
            rc = subprocess.call([sys.executable, os.path.abspath(__file__), "--self-test", "--endpoint", url, *cflags])
        finally:
            p.terminate()
            p.wait(timeout=10)
        if rc != 0:
            failed.append(name)
    # auth: unknown token -> 401, read-only token -> 403 on writes
    print("== self-test: tokens", flush=True)
    p, url = start_server(["--token", "good", "--read-only-token", "ro"])
    try:
        rc = subprocess.call([sys.executable, os.path.abspath(__file__), "--auth-test", "--endpoint", url])
    finally:
        p.terminate()
        p.wait(timeout=10)
    if rc != 0:
        failed.append("tokens")
    if failed:
        print(f"SELF-TEST FAILED: {failed}", file=sys.stderr)
        return 1
    print("SELF-TEST PASSED")
    return 0


def auth_test(args) -> int:
    setup_env(args.endpoint)
    from huggingface_hub import HfApi

    t = SelfTest(args.endpoint, "good", False, False, False)
    good, ro, bad = (HfApi(endpoint=args.endpoint, token=x) for x in ("good", "ro", "bad"))
    good.create_repo("selftest/auth", repo_type="dataset")
    t.ok(True, "create_repo with an accepted token")
    t.expect_http_error(lambda: bad.create_repo("selftest/auth2", repo_type="dataset"), 401, "create_repo, unknown token")
    t.expect_http_error(lambda: ro.create_repo("selftest/auth3", repo_type="dataset"), 403, "create_repo, read-only token")
    t.expect_http_error(lambda: ro.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="selftest/auth",
                                               repo_type="dataset"), 403, "upload_file, read-only token")
    t.ok(ro.dataset_info("selftest/auth").sha is not None, "read with a read-only token")
    t.ok(ro.whoami()["auth"]["accessToken"]["role"] == "read", "whoami role of the read-only token")
    return 0 if not t.failures else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", help="Hub base URL, e.g. http://127.0.0.1:PORT")
    ap.add_argument("--repo", help="dataset repo id owner/name")
    ap.add_argument("--expect-jsonl", help="JSONL file with the rows the repo's split must contain")
    ap.add_argument("--token-env", default=None, help="name of the env var holding the token (default: none)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--revision", default=None)
    ap.add_argument("--self-test", action="store_true", help="push with the official client and read back")
    ap.add_argument("--expect-lfs", action="store_true", help="(self-test) the server forces LFS")
    ap.add_argument("--expect-multipart", action="store_true", help="(self-test) the server offers multipart LFS")
    ap.add_argument("--auth-test", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.auth_test:
        return auth_test(args)
    if args.self_test:
        return self_test_child(args) if args.endpoint else self_test_all(args)
    if not (args.endpoint and args.repo and args.expect_jsonl):
        ap.error("--endpoint, --repo and --expect-jsonl are required (or --self-test)")
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
