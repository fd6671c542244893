#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Tests/fuzz/<target>/seeds/).

Each seed is a valid (or nearly valid) input in the harness's format: the
option bytes the harness reads first, then the payload. Run it again after
changing a harness's input format; the seeds are committed.
"""
import json, os, struct, sys

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ROOT))


def put(target, name, data):
    d = os.path.join(ROOT, target, "seeds")
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# yaml: byte 0 = flags (bit 0: last line is a --param argument), then the file.
for name in ["demo.yaml", "textgen.yaml", "deita.yaml", "textgen-hub.yaml"]:
    with open(os.path.join(REPO, "pipelines", name), "rb") as f:
        put("yaml", name, b"\x00" + f.read())
with open(os.path.join(REPO, "Tests/Fixtures/pipelines/twenty-steps.yaml"), "rb") as f:
    put("yaml", "twenty-steps.yaml", b"\x00" + f.read())
put("yaml", "schema.yaml", b"\x00" + b"""name: fuzz
description: ${N} steps
llms:
  teacher: {model: m, base_url: "http://x/v1", max_concurrency: ${N}, cache: never, api_key_env: API_KEY}
  bad: {model: "", retries: -1, timeout_seconds: 0, extra: 1}
steps:
  - name: load
    uses: load_jsonl
    batch_size: 10
    with:
      path: rows.jsonl
      schema: {type: object, required: [path, n], properties: {n: {type: integer, minimum: 2}, path: {const: x}},
               additionalProperties: false}
      batch_size: 0
      ratio: 1.5
      old: 0
      mode: maybe
      fixed: {a: [1, b]}
      name: Bad-Name-Too-Long
      token: abc
      tags: []
      pair: [a, 1, extra]
      tuple: [true, null, 3]
      nested: {x: 1.5, z: 2}
      nothing: 1
  - name: gen
    uses: text_generation
    llm: teacher
    input: load
    with: {template: "Q: {{ instruction }}", columns: [instruction], n: ${N}, list: ${LIST}, empty: "${EMPTY}", missing: ${NOPE}}
  - {name: save, uses: write_jsonl, input: [gen, load], with: {path: out.jsonl}}
""")
put("yaml", "param.yaml", b"\x01name: p\nsteps:\n  - {name: load, uses: load_jsonl, with: {path: a.jsonl}}\nload.path=[1, {a: b}]")
put("yaml", "anchors.yaml", b"\x00name: a\nx: &x {k: v}\nsteps:\n  - *x\n  - !!str 0x1F\n  - [.inf, -.INF, .nan, 0o17, 1e3, ~, True, 'q', \"\\u00e9\\x41\"]\n  - ? complex\n    : |\n      block\n  - >-\n    folded\n---\nsecond: doc\n")
put("yaml", "broken.yaml", b"\x00name: [unclosed\nsteps: {a: b\n  - \t\x01bad")

# jsonl: byte 0 = options (batch 1-8 in bits 0-2, 8: skip bad lines,
# 16: max_line_bytes 24, 32: an .npy beside it, 64: embedding column
# name), byte 1 = matrix rows; then the file.
rows = [
    {"instruction": "Hi", "n": 1, "x": 1.5, "ok": True, "tags": ["a", "b"], "v": [1, 2.5, None]},
    {"instruction": "caf\u00e9 \U0001F600", "n": -9223372036854775808, "x": 1e300, "ok": False, "tags": [], "v": []},
    {"instruction": None, "n": 2.0, "obj": {"a": [1, {"b": None}]}, "mixed": [1, "a"], "_row_id": 4, "_error": "x"},
    {"n": "text", "x": 9223372036854775808, "tags": [None, None], "dup": 1, "dup": 2},
]
lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
put("jsonl", "types.jsonl", b"\x03\x00" + lines.encode() + b"\n")
put("jsonl", "escapes.jsonl", b"\x00\x00" + br'{"s": "a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\ud83d\ude00", "k\u0065y": 1}' + b"\r\n\r\n   \n" + b'{"s": "\xef\xbb\xbf"}')
put("jsonl", "bom-crlf.jsonl", b"\x01\x00\xef\xbb\xbf" + b'{"a": 1}\r\n{"a": 2}\r\n{"a": 3}')
put("jsonl", "errors-skip.jsonl", b"\x0a\x00" + b'{"a": 1}\n[1]\n{"a": }\n{"a": "\xff"}\n{"a": 1e999}\n{"a": tru}\n{"a": 2}\n{"b": "x"')
put("jsonl", "long-lines.jsonl", b"\x18\x00" + b'{"a": 1}\n{"a": "' + b"x" * 40 + b'"}\n{"a": 2}\n')
put("jsonl", "embeddings.jsonl", b"\x21\x03" + b'{"a": 1}\n{"a": 2}\n{"a": 3}\n')
put("jsonl", "embeddings-mismatch.jsonl", b"\x61\x02" + b'{"a": 1}\n{"a": 2}\n{"a": 3}\n')
put("jsonl", "numbers.jsonl", b"\x07\x00" + b'{"n": [0, -0, 1e5, -1.5E-3, 12345678901234567890, 0.1, [1], null]}\n{"n": 00}\n{"n": -}\n{"n": 1.}\n{"n": 1e}\n')
put("jsonl", "deep.jsonl", b"\x00\x00" + b'{"d": ' + b"[" * 300 + b"]" * 300 + b"}\n")

# csv: byte 0 = options (batch 1-8, 8: skip, 16: no header, 32: no type
# inference, 64: max_record_bytes 16), byte 1 = delimiter (bit 7 set:
# one of , ; TAB | space quote "ab" "") and given columns (bits 3-5).
put("csv", "basic.csv", b"\x03\x00" + b"name,age,score\nann,31,1.5\nbob,,2\n\"c, d\",7,x\n")
put("csv", "quotes.csv", b"\x00\x00" + b"\xef\xbb\xbfa,b\r\n\"line\r\nbreak\",\"say \"\"hi\"\"\"\r\n\"x\"y,z\r\n")
put("csv", "skip.csv", b"\x08\x00" + b"a,b\n1,2\n1,2,3\n\xff,1\n4\n\"unterminated\n")
put("csv", "noheader.csv", b"\x10\x10" + b"1,2\n3,4\n-5,6e3\n")
put("csv", "semicolon.csv", b"\x21\x81" + b"a;b;c\n1;2;3\n;;\n")
put("csv", "tab.csv", b"\x02\x82" + b"a\tb\n1\t2\n")
put("csv", "rename.csv", b"\x00\x18" + b"x,y,z\n1,2,3\n")
put("csv", "long.csv", b"\x40\x00" + b"a,b\n1,2\n" + b"x" * 40 + b",1\n")
put("csv", "numbers.csv", b"\x07\x00" + b"i,f\n9223372036854775807,1e308\n-9223372036854775808,-0\n9223372036854775808,inf\n+1,.5\n0x1,1e\n")
put("csv", "dup-header.csv", b"\x00\x00" + b"a,a,\n1,2,3\n")

# npy: byte 0 = rows per read (1-8) and bit 3: read through mmap.
def npy(shape, descr="<f4", fortran="False", major=1, pad_to=64, data=None, extra=""):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, %s}" % (descr, fortran, shape, extra)
    prefix = 10 if major == 1 else 12
    while (prefix + len(header) + 1) % pad_to:
        header += " "
    header += "\n"
    h = header.encode()
    out = b"\x93NUMPY" + bytes([major, 0])
    out += struct.pack("<H", len(h)) if major == 1 else struct.pack("<I", len(h))
    out += h
    if data is None:
        import re
        dims = [int(x) for x in re.findall(r"\d+", shape)]
        n = 1
        for x in dims:
            n *= x
        data = b"".join(struct.pack("<f", float(i)) for i in range(n))
    return out + data
put("npy", "3x2.npy", b"\x01" + npy("(3, 2)"))
put("npy", "3x2-mapped.npy", b"\x0a" + npy("(3, 2)"))
put("npy", "v2.npy", b"\x02" + npy("(2, 4)", major=2))
put("npy", "v3.npy", b"\x0b" + npy("(1, 1)", major=3))
put("npy", "empty.npy", b"\x00" + npy("(0, 5)"))
put("npy", "truncated.npy", b"\x00" + npy("(4, 4)")[:-8])
put("npy", "f8.npy", b"\x00" + npy("(2, 2)", descr="<f8"))
put("npy", "fortran.npy", b"\x00" + npy("(2, 2)", fortran="True"))
put("npy", "1d.npy", b"\x00" + npy("(6,)"))
put("npy", "odd-header.npy", b"\x08" + npy("(2, 3)", pad_to=7))

# score: byte 0 = item count (mod 33), byte 1 = marker set; then the answer.
put("score", "lines.txt", b"\x03\x00[1] Score: 4\n[2] Score: 2.5\n**[3] Score:** 1\n")
put("score", "dupes.txt", b"\x02\x00[1] score = 3\n[1] SCORE: 5\n[ 2 ]  Score:  -1\n[9] Score: 1\n")
put("score", "json.txt", b"\x03\x00Here: ```json\n{\"Scores\": [1, \"2.5\", null]}\n```")
put("score", "json-nested.txt", b"\x02\x05{\"a\": {\"b\": \"}\\\"\"}} {\"scores\": [3, 4, 5]}")
put("score", "rewrite.txt", b"\x00\x00Thoughts...\n#Rewritten Instruction#:   Write a poem.  \n")
put("score", "rewrite2.txt", b"\x00\x01#REWRITTEN RESPONSE# : the given response \xc3\xa9t\xc3\xa9\n")
put("score", "answer.txt", b"\x01\x06Answer: [1] Score: \xd9\xa3\n  answer:  x ")

# llm: byte 0 = embeddings count (mod 8); then the body.
put("llm", "chat.json", b"\x00" + json.dumps({"id": "c1", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi \u00e9\n"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}).encode())
put("llm", "embeddings.json", b"\x02" + json.dumps({"object": "list", "data": [{"object": "embedding", "index": 1, "embedding": [0.5, -1e-3, 2]}, {"object": "embedding", "index": 0, "embedding": [1, 2, 3]}], "model": "e", "usage": {"prompt_tokens": 3}}).encode())
put("llm", "embeddings-noindex.json", b"\x01" + b'{"data": [{"embedding": [1e38, -0.0, 3.4e39, "x", null, true, {"a": []}]}], "\\u0064ata2": "\\ud83d\\ude00"}')
put("llm", "error.json", b"\x00" + b'{"error": {"message": "rate limited", "type": "requests"}}')
put("llm", "error-text.json", b"\x00" + b"upstream connect error or disconnect/reset before headers")
put("llm", "values.json", b"\x00" + b'[null, true, false, 0, -0.5e-3, 1E+2, 123456789012345678901234567890, "\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000", {"a": {}, "b": []}]')
put("llm", "bad-index.json", b"\x02" + b'{"data": [{"index": 1.5, "embedding": []}, {"index": -1, "embedding": [1]}]}')

# hub: byte 0 = options (attempts-1 in bits 0-1, 0x20 private, 0x40 a
# refs/pr/1 revision, 0x80 cancel at poll n (bits 0-3)); then one record per
# HTTP exchange: u8 kind (0 response, 1 I/O error, 2 timeout, 3 cancelled),
# u16 status, u8 header length, headers, u16 body length, body.
def rec(status, body=b"", headers=b"", kind=0):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    return bytes([kind]) + struct.pack("<H", status) + bytes([len(headers)]) + headers + struct.pack("<H", len(body)) + body
head = rec(200, {"sha": "0123abcd"})
pre_regular = rec(200, {"files": [{"path": "data/train-00000.jsonl", "uploadMode": "regular", "oid": None},
                                  {"path": "README.md", "uploadMode": "regular", "oid": "deadbeef"}]})
pre_lfs = rec(200, {"files": [{"path": "data/train-00000.jsonl", "uploadMode": "lfs"},
                              {"path": "README.md", "uploadMode": "regular"}]})
lfs_batch = rec(200, {"objects": [{"oid": "x", "size": 9, "actions": {
    "upload": {"href": "http://up.invalid/o", "header": {"X-Amz-Date": "1", "Content-Type": "application/octet-stream"}},
    "verify": {"href": "http://hub.invalid/verify"}}}]})
commit = rec(200, {"commitOid": "c0ffee", "commitUrl": "http://hub.invalid/c"})
put("hub", "regular.bin", b"\x02" + rec(200, {}) + head + pre_regular + commit)
put("hub", "lfs.bin", b"\x62" + rec(409, {"error": "exists"}) + head + pre_lfs + lfs_batch + rec(200) + rec(200) + commit)
put("hub", "lfs-stored.bin", b"\x01" + rec(201) + head + pre_lfs + rec(200, {"objects": [{"oid": "x"}]}) + commit)
put("hub", "lfs-error.bin", b"\x01" + rec(200) + head + pre_lfs + rec(200, {"objects": [{"error": {"code": 422, "message": "bad oid"}}]}))
put("hub", "lfs-multipart.bin", b"\x01" + rec(200) + head + pre_lfs + rec(200, {"objects": [{"actions": {"upload": {"href": "h", "header": {"chunk_size": "5"}}}}]}))
put("hub", "retries.bin", b"\x03" + rec(429, b"", b"Retry-After: 0\r\n") + rec(200) + rec(503, b"", b"RateLimit: \"api\";r=0;t=0\r\n")
    + rec(0, kind=1) + head + rec(500) + pre_regular + commit)
put("hub", "conflict.bin", b"\x01" + rec(200) + head + pre_regular + rec(412) + head + pre_regular + rec(409) + head
    + rec(200, {"files": [{"path": "data/train-00000.jsonl", "oid": "7d2a1c1b7c3f0e5b6a84d3c8a33e2e8c4c1a1f8f"}, {"path": "README.md"}]}) + commit)
put("hub", "unknown.bin", b"\x01" + rec(200) + head + pre_regular + rec(0, kind=2) + head + pre_regular + rec(502) + head + pre_regular)
put("hub", "unauthorized.bin", b"\x00" + rec(401, {"error": "Invalid token"}, b"X-Error-Code: Unauthorized\r\n"))
put("hub", "forbidden.bin", b"\x00" + rec(200) + rec(403, b"", b"X-Error-Message: no write access\r\n"))
put("hub", "not-found.bin", b"\x00" + rec(200) + rec(404, {"error": "x" * 400}, b"X-Error-Code: RepoNotFound\r\n")
    + rec(404, b"", b"x-error-code: RevisionNotFound\r\n"))
put("hub", "bad-answers.bin", b"\x00" + rec(200) + rec(200, {"sha": ""}) + rec(200, b"[1]") + rec(200, {"files": "x"}))
put("hub", "cancel.bin", b"\x83" + rec(200) + rec(0, kind=3) + head)
put("hub", "commit-error.bin", b"\x00" + rec(200) + head + pre_regular + rec(400, b"not json", b"Content-Type: text/plain\r\n"))



# template: byte 0 = mode (0 template, 1 expression, 2 regex NUL text,
# 3 JSON data NUL template), byte 1 = data set; every template of the
# differential corpus, its data as mode 3, and a few expressions and patterns.
with open(os.path.join(REPO, "Tests/conformance/templates.json"), encoding="utf-8") as f:
    templates = json.load(f)
for index, case in enumerate(templates["render"] + templates["reject"]):
    put("template", f"t{index:03d}", b"\x00\x01" + case["template"].encode())
    put("template", f"d{index:03d}", b"\x03\x00" + json.dumps(case["data"]).encode() + b"\x00" + case["template"].encode())
for index, text in enumerate(['rating >= 7 and finish_reason == "stop"', "x is none or s is matching('^h.l+o$')",
                              "m.tags | join(',') ~ xs[1:] | string", "not (n < 3) and 'ell' in s", "xs | sum // 2 ** 3"]):
    put("template", f"e{index}", b"\x01\x01" + text.encode())
for index, text in enumerate(["(a+)+$\0aaaaaaaaaaaaaaaaaaaaaaaa!", "^(?:ab|cd){2,3}e?$\0abcdab", "(?i)\\bHELLO\\b\0say hello",
                              "[^a-c\\d]z|x{3,}\0xxxx", "\\w+@\\w+\\.com\0bob@example.com"]):
    put("template", f"r{index}", b"\x02\x00" + text.encode())

# parquet: byte 0 = batch size (1 + low 4 bits) | 0x10 to read the first column only; then the
# file. Small files pyarrow writes (Tests/tools/parquet_make.py, with the test venv's pyarrow)
# under several writer options, and the hand-made ones (two-level lists, mid-row pages, a bad
# dictionary index). Skipped, with a note, without the test venv.
import subprocess, tempfile
VENV_PYTHON = os.path.join(REPO, ".build/test-venv/bin/python")
if os.path.exists(VENV_PYTHON):
    maker = os.path.join(REPO, "Tests/tools/parquet_make.py")
    parquet_seeds = [
        ("all-default", "all", 12, "{}"),
        ("all-v2-zstd", "all", 12, '{"data_page_version":"2.0","compression":"zstd","row_group_size":6}'),
        ("all-plain", "all", 12, '{"use_dictionary":false,"compression":"none"}'),
        ("all-format-1.0", "all", 12, '{"version":"1.0","compression":"none","data_page_size":64,"write_batch_size":4}'),
        ("all-hub", "all", 12, '{"write_page_index":true,"use_content_defined_chunking":true,"row_group_size":5}'),
        ("messages", "messages", 10, '{"compression":"none"}'),
        ("two-level", "two_level", 4, "{}"),
        ("mid-row-pages", "mid_row_pages", 5, "{}"),
        ("delta", "delta", 20, "{}"),
        ("bad-dictionary-index", "bad_dictionary_index", 3, "{}"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, kind, rows, options) in enumerate(parquet_seeds):
            out = os.path.join(tmp, name + ".parquet")
            subprocess.run([VENV_PYTHON, maker, "write", kind, out, "--rows", str(rows), "--options", options], check=True)
            with open(out, "rb") as f:
                put("parquet", name, bytes([(index % 16) | (0x10 if index % 3 == 2 else 0)]) + f.read())
else:
    print("parquet seeds skipped: no .build/test-venv (make venv)", file=sys.stderr)

print("seeds written under", ROOT)
