#!/usr/bin/env python3
"""Parquet files for the reader's tests (Tests/PipelineCoreTests/ParquetReadTests.swift),
written by pyarrow, and the check of what load_parquet wrote against what pyarrow reads.

  parquet_make.py write KIND OUT.parquet [--rows N] [--options JSON]
      KIND: all (every supported type, nulls at every level, empty lists, non-ASCII, NaN),
            messages (id + chat messages, deterministic; for the large file),
            delta_byte_array, int96, timestamp, binary (unsupported features),
            two_level (legacy two-level lists, made by hand: pyarrow cannot write them),
            mid_row_pages (made by hand: v1 pages that start in the middle of a row),
            bad_dictionary_index (made by hand: a dictionary index past the dictionary).
      --options: keyword arguments of pyarrow.parquet.ParquetWriter, as JSON;
                 "row_group_size" goes to write_table.
  parquet_make.py compare IN.parquet OUT.jsonl [--columns a,b] [--limit N]
      Exit 0 when every row of OUT.jsonl is exactly the row pyarrow reads (floats bit for bit:
      float32 compared as float32; NaN and infinities are null in JSON Lines), else print
      the first difference and exit 1.
  parquet_make.py describe IN.parquet
      Encodings, page versions and codecs pyarrow's metadata reports (for test messages).
"""
import argparse
import json
import math
import random
import struct
import sys

import pyarrow as pa
import pyarrow.parquet as pq

WORDS = ["hello", "world", "héllo", "日本語", "emoji 🎉", "", "tab\there", "quote \"q\"", "new\nline",
         "a" * 40, "zürich", "Ελληνικά"]


def all_types_table(rows, seed=7):
    rng = random.Random(seed)

    def maybe(value, p=0.15):
        return None if rng.random() < p else value

    def word():
        return rng.choice(WORDS) + str(rng.randrange(1000)) if rng.random() < 0.5 else rng.choice(WORDS)

    def f32():
        r = rng.random()
        if r < 0.03:
            return float("nan")
        if r < 0.05:
            return -0.0
        return struct.unpack("<f", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0]

    def f64():
        r = rng.random()
        if r < 0.03:
            return float("nan")
        if r < 0.04:
            return float("inf")
        return rng.uniform(-1e300, 1e300) if r < 0.1 else rng.random()

    def message():
        if rng.random() < 0.1:
            return None  # null struct element
        return {"role": maybe(rng.choice(["user", "assistant", "system"]), 0.1), "content": maybe(word(), 0.1)}

    def a_list(item, p_null=0.1, p_empty=0.1, longest=6):
        r = rng.random()
        if r < p_null:
            return None
        if r < p_null + p_empty:
            return []
        return [item() for _ in range(rng.randrange(1, longest))]

    data = {
        "id": [maybe(rng.randrange(-2**62, 2**62)) for _ in range(rows)],
        "i32": [maybe(rng.randrange(-2**31, 2**31)) for _ in range(rows)],
        "flag": [maybe(rng.random() < 0.5) for _ in range(rows)],
        "f32": [maybe(f32()) for _ in range(rows)],
        "f64": [maybe(f64()) for _ in range(rows)],
        "text": [maybe(word()) for _ in range(rows)],
        "big": [maybe(word() * rng.randrange(1, 4)) for _ in range(rows)],
        "tags": [a_list(lambda: maybe(word(), 0.1)) for _ in range(rows)],
        "emb": [a_list(lambda: maybe(f32(), 0.05), longest=9) for _ in range(rows)],
        "messages": [a_list(message) for _ in range(rows)],
        "meta": [maybe({"a": maybe(rng.randrange(100)), "b": a_list(lambda: maybe(rng.randrange(10**12)))})
                 for _ in range(rows)],
        "nested": [a_list(lambda: a_list(lambda: maybe(rng.randrange(100)), longest=4), longest=4)
                   for _ in range(rows)],
        "u64": [maybe(rng.choice([0, 2**64 - 1, 2**63, rng.randrange(2**64)])) for _ in range(rows)],
        "u32": [maybe(rng.choice([0, 2**32 - 1, 2**31, rng.randrange(2**32)])) for _ in range(rows)],
        "i8": [maybe(rng.randrange(-128, 128)) for _ in range(rows)],
        "req": [rng.randrange(-10**9, 10**9) for _ in range(rows)],
        "vec": [[f32() for _ in range(4)] for _ in range(rows)],
        "j": [maybe(json.dumps({"k": word(), "n": [rng.randrange(9), None, True]}, ensure_ascii=False)) for _ in range(rows)],
    }
    schema = pa.schema([
        ("id", pa.int64()), ("i32", pa.int32()), ("flag", pa.bool_()), ("f32", pa.float32()),
        ("f64", pa.float64()), ("text", pa.string()), ("big", pa.large_string()),
        ("tags", pa.list_(pa.string())), ("emb", pa.list_(pa.float32())),
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("meta", pa.struct([("a", pa.int64()), ("b", pa.list_(pa.int64()))])),
        ("nested", pa.list_(pa.list_(pa.int64()))),
        ("u64", pa.uint64()), ("u32", pa.uint32()), ("i8", pa.int8()),
        pa.field("req", pa.int64(), nullable=False),
        pa.field("vec", pa.list_(pa.field("element", pa.float32(), nullable=False)), nullable=False),
        ("j", pa.json_()),
    ])
    return pa.table(data, schema=schema)


def messages_table(rows, seed=11):
    """id, prompt and a chat `messages` list: deterministic, cheap to make for many rows."""
    rng = random.Random(seed)
    ids, prompts, messages = [], [], []
    for i in range(rows):
        ids.append(i)
        prompts.append(f"question {i}: {rng.choice(WORDS)}")
        turns = []
        for t in range(rng.randrange(0, 5)):
            turns.append({"role": "user" if t % 2 == 0 else "assistant",
                          "content": f"turn {t} of {i} " + rng.choice(WORDS) * rng.randrange(1, 5)})
        messages.append(turns)
    schema = pa.schema([("id", pa.int64()), ("prompt", pa.string()),
                        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])))])
    return pa.table({"id": ids, "prompt": prompts, "messages": messages}, schema=schema)


def write_table(table, out, options):
    options = dict(options)
    row_group_size = options.pop("row_group_size", None)
    if "use_content_defined_chunking" in options:
        try:
            pq.ParquetWriter(pa.BufferOutputStream(), table.schema, use_content_defined_chunking=True).close()
        except TypeError:
            print("pyarrow does not take use_content_defined_chunking: left out", file=sys.stderr)
            options.pop("use_content_defined_chunking")
    with pq.ParquetWriter(out, table.schema, **options) as writer:
        writer.write_table(table, row_group_size=row_group_size)


# ---- a hand-made file with legacy two-level lists (Thrift compact, written here) ----

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(n):
    return varint((n << 1) ^ (n >> 63))


class Struct:
    """Fields as (id, kind, value): kind i32, i64, bin, struct, list_struct, list_i32, list_bin, bool."""
    def __init__(self, *fields):
        self.fields = fields

    def encode(self):
        out = bytearray()
        last = 0
        types = {"bool": None, "i32": 5, "i64": 6, "bin": 8, "struct": 12, "list_struct": 9, "list_i32": 9, "list_bin": 9}
        for fid, kind, value in self.fields:
            t = types[kind] if kind != "bool" else (1 if value else 2)
            delta = fid - last
            out.append((delta << 4) | t if 0 < delta <= 15 else t)
            if not 0 < delta <= 15:
                out += zigzag(fid)
            last = fid
            if kind in ("i32", "i64"):
                out += zigzag(value)
            elif kind == "bin":
                data = value.encode() if isinstance(value, str) else value
                out += varint(len(data)) + data
            elif kind == "struct":
                out += value.encode()
            elif kind.startswith("list_"):
                et = {"list_struct": 12, "list_i32": 5, "list_bin": 8}[kind]
                out.append((len(value) << 4) | et if len(value) < 15 else 0xF0 | et)
                if len(value) >= 15:
                    out += varint(len(value))
                for v in value:
                    if et == 12:
                        out += v.encode()
                    elif et == 5:
                        out += zigzag(v)
                    else:
                        d = v.encode()
                        out += varint(len(d)) + d
        out.append(0)
        return bytes(out)


def rle_levels(levels, width):
    """RLE runs only (one per stretch of equal values), with the v1 4-byte length."""
    body = bytearray()
    i = 0
    while i < len(levels):
        j = i
        while j < len(levels) and levels[j] == levels[i]:
            j += 1
        body += varint((j - i) << 1) + levels[i].to_bytes((width + 7) // 8, "little")
        i = j
    return struct.pack("<I", len(body)) + bytes(body)


def two_level_file(out):
    """optional group tags (LIST) { repeated binary str (UTF8) }  rows: ["a","b"], [], null, ["ü"]
       repeated int32 nums                                         rows: [1,2], [], [3], []"""
    chunks = []
    data = bytearray(b"PAR1")

    def chunk(path, ptype, rep, dfn, max_rep, max_def, values_plain, num):
        body = rle_levels(rep, max_rep.bit_length()) + rle_levels(dfn, max_def.bit_length()) + values_plain
        header = Struct((1, "i32", 0), (2, "i32", len(body)), (3, "i32", len(body)),
                        (5, "struct", Struct((1, "i32", num), (2, "i32", 0), (3, "i32", 3), (4, "i32", 3)))).encode()
        offset = len(data)
        data.extend(header + body)
        meta = Struct((1, "i32", ptype), (2, "list_i32", [0, 3]), (3, "list_bin", path), (4, "i32", 0),
                      (5, "i64", num), (6, "i64", len(header) + len(body)), (7, "i64", len(header) + len(body)),
                      (9, "i64", offset))
        chunks.append(Struct((2, "i64", 0), (3, "struct", meta)))

    def plain_strings(values):
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)

    chunk(["tags", "str"], 6, [0, 1, 0, 0, 0], [2, 2, 1, 0, 2], 1, 2, plain_strings(["a", "b", "ü"]), 5)
    chunk(["nums"], 1, [0, 1, 0, 0, 0], [1, 1, 0, 1, 0], 1, 1, struct.pack("<3i", 1, 2, 3), 5)
    schema = [
        Struct((3, "i32", 0), (4, "bin", "schema"), (5, "i32", 2)),
        Struct((3, "i32", 1), (4, "bin", "tags"), (5, "i32", 1), (6, "i32", 3)),
        Struct((1, "i32", 6), (3, "i32", 2), (4, "bin", "str"), (6, "i32", 0)),
        Struct((1, "i32", 1), (3, "i32", 2), (4, "bin", "nums")),
    ]
    rg = Struct((1, "list_struct", chunks), (2, "i64", 0), (3, "i64", 4))
    footer = Struct((1, "i32", 1), (2, "list_struct", schema), (3, "i64", 4), (4, "list_struct", [rg]),
                    (6, "bin", "parquet_make.py two_level")).encode()
    data += footer + struct.pack("<I", len(footer)) + b"PAR1"
    with open(out, "wb") as f:
        f.write(data)
    # pyarrow must agree with the rows the docstring gives (else the test's premise is wrong).
    got = pq.read_table(out).to_pylist()
    want = [{"tags": ["a", "b"], "nums": [1, 2]}, {"tags": [], "nums": []}, {"tags": None, "nums": [3]},
            {"tags": ["ü"], "nums": []}]
    assert got == want, got


def mid_row_pages_file(out):
    """optional group tags (LIST) { repeated group list { optional int32 element } } in three v1
       pages, the second and third starting in the middle of a row (pyarrow 26 itself ends its
       pages at row boundaries). Rows: [1,2,3], [4,null,5], null, [], [6]."""
    entries = [(0, 3, 1), (1, 3, 2), (1, 3, 3), (0, 3, 4), (1, 2, None), (1, 3, 5), (0, 0, None), (0, 1, None), (0, 3, 6)]
    pages = [entries[0:2], entries[2:5], entries[5:]]
    data = bytearray(b"PAR1")
    start = len(data)
    for page in pages:
        values = [v for _, _, v in page if v is not None]
        body = rle_levels([r for r, _, _ in page], 1) + rle_levels([d for _, d, _ in page], 2) \
            + struct.pack(f"<{len(values)}i", *values)
        header = Struct((1, "i32", 0), (2, "i32", len(body)), (3, "i32", len(body)),
                        (5, "struct", Struct((1, "i32", len(page)), (2, "i32", 0), (3, "i32", 3), (4, "i32", 3)))).encode()
        data += header + body
    total = len(data) - start
    meta = Struct((1, "i32", 1), (2, "list_i32", [0, 3]), (3, "list_bin", ["tags", "list", "element"]), (4, "i32", 0),
                  (5, "i64", len(entries)), (6, "i64", total), (7, "i64", total), (9, "i64", start))
    schema = [Struct((3, "i32", 0), (4, "bin", "schema"), (5, "i32", 1)),
              Struct((3, "i32", 1), (4, "bin", "tags"), (5, "i32", 1), (6, "i32", 3)),
              Struct((3, "i32", 2), (4, "bin", "list"), (5, "i32", 1)),
              Struct((1, "i32", 1), (3, "i32", 1), (4, "bin", "element"))]
    rg = Struct((1, "list_struct", [Struct((2, "i64", 0), (3, "struct", meta))]), (2, "i64", total), (3, "i64", 5))
    footer = Struct((1, "i32", 1), (2, "list_struct", schema), (3, "i64", 5), (4, "list_struct", [rg]),
                    (6, "bin", "parquet_make.py mid_row_pages")).encode()
    data += footer + struct.pack("<I", len(footer)) + b"PAR1"
    with open(out, "wb") as f:
        f.write(data)
    got = pq.read_table(out).to_pylist()
    want = [{"tags": [1, 2, 3]}, {"tags": [4, None, 5]}, {"tags": None}, {"tags": []}, {"tags": [6]}]
    assert got == want, got


def bad_dictionary_index_file(out):
    """optional binary s (UTF8), 3 rows, a dictionary of 2 values, and data-page indices of 5:
       pyarrow refuses it too."""
    data = bytearray(b"PAR1")
    dictionary = b"".join(struct.pack("<I", 1) + v for v in (b"x", b"y"))
    dict_header = Struct((1, "i32", 2), (2, "i32", len(dictionary)), (3, "i32", len(dictionary)),
                         (7, "struct", Struct((1, "i32", 2), (2, "i32", 0)))).encode()
    body = rle_levels([1, 1, 1], 1) + bytes([3]) + varint(3 << 1) + bytes([5])
    data_header = Struct((1, "i32", 0), (2, "i32", len(body)), (3, "i32", len(body)),
                         (5, "struct", Struct((1, "i32", 3), (2, "i32", 8), (3, "i32", 3), (4, "i32", 3)))).encode()
    start = len(data)
    data += dict_header + dictionary
    data_offset = len(data)
    data += data_header + body
    total = len(data) - start
    meta = Struct((1, "i32", 6), (2, "list_i32", [0, 3, 8]), (3, "list_bin", ["s"]), (4, "i32", 0), (5, "i64", 3),
                  (6, "i64", total), (7, "i64", total), (9, "i64", data_offset), (11, "i64", start))
    schema = [Struct((3, "i32", 0), (4, "bin", "schema"), (5, "i32", 1)),
              Struct((1, "i32", 6), (3, "i32", 1), (4, "bin", "s"), (6, "i32", 0))]
    rg = Struct((1, "list_struct", [Struct((2, "i64", 0), (3, "struct", meta))]), (2, "i64", total), (3, "i64", 3))
    footer = Struct((1, "i32", 1), (2, "list_struct", schema), (3, "i64", 3), (4, "list_struct", [rg]),
                    (6, "bin", "parquet_make.py bad_dictionary_index")).encode()
    data += footer + struct.pack("<I", len(footer)) + b"PAR1"
    with open(out, "wb") as f:
        f.write(data)
    try:
        pq.read_table(out).to_pylist()
    except Exception:
        return
    raise AssertionError("pyarrow read a dictionary index past the dictionary")


def write(kind, out, rows, options):
    if kind == "all":
        write_table(all_types_table(rows), out, options)
    elif kind == "messages":
        write_table(messages_table(rows), out, options)
    elif kind == "two_level":
        two_level_file(out)
    elif kind == "mid_row_pages":
        mid_row_pages_file(out)
    elif kind == "bad_dictionary_index":
        bad_dictionary_index_file(out)
    elif kind == "delta_byte_array":
        t = pa.table({"id": pa.array(range(rows), pa.int64()), "s": pa.array([f"v{i}" for i in range(rows)])})
        pq.write_table(t, out, use_dictionary=False, column_encoding={"s": "DELTA_BYTE_ARRAY"})
    elif kind == "delta":
        t = pa.table({"n": pa.array([i * 7 - 50 if i % 5 else None for i in range(rows)], pa.int64()),
                      "m": pa.array([i * -3 for i in range(rows)], pa.int32()),
                      "s": pa.array([None if i % 7 == 0 else f"välue {i}" for i in range(rows)])})
        pq.write_table(t, out, use_dictionary=False,
                       column_encoding={"n": "DELTA_BINARY_PACKED", "m": "DELTA_BINARY_PACKED", "s": "DELTA_LENGTH_BYTE_ARRAY"})
    elif kind == "int96":
        t = pa.table({"id": pa.array(range(rows), pa.int64()),
                      "ts": pa.array([1_700_000_000_000_000 + i for i in range(rows)], pa.timestamp("us"))})
        pq.write_table(t, out, use_deprecated_int96_timestamps=True)
    elif kind == "timestamp":
        t = pa.table({"id": pa.array(range(rows), pa.int64()),
                      "ts": pa.array([1_700_000_000_000_000 + i for i in range(rows)], pa.timestamp("us"))})
        pq.write_table(t, out)
    elif kind == "binary":
        t = pa.table({"id": pa.array(range(rows), pa.int64()), "blob": pa.array([b"\x00\xff" for _ in range(rows)])})
        pq.write_table(t, out)
    else:
        sys.exit(f"unknown kind {kind}")


# ---- comparison ----

def same(want, got, ptype, where):
    """None when equal, else a message."""
    if getattr(ptype, "extension_name", None) == "arrow.json":
        # write_jsonl writes JSON text as the JSON it holds.
        ok = (want is None and got is None) or (want is not None and json.loads(want) == got)
        return None if ok else f"{where}: want {want!r}, got {got!r}"
    if pa.types.is_list(ptype) or pa.types.is_large_list(ptype):
        if want is None or got is None:
            return None if want is None and got is None else f"{where}: want {want!r}, got {got!r}"
        if not isinstance(got, list) or len(want) != len(got):
            return f"{where}: want {len(want)} items, got {got!r}"
        for i, (w, g) in enumerate(zip(want, got)):
            m = same(w, g, ptype.value_type, f"{where}[{i}]")
            if m:
                return m
        return None
    if pa.types.is_struct(ptype):
        if want is None or got is None:
            return None if want is None and got is None else f"{where}: want {want!r}, got {got!r}"
        if list(got.keys()) != [f.name for f in ptype]:
            return f"{where}: want keys {[f.name for f in ptype]}, got {list(got.keys())}"
        for f in ptype:
            m = same(want[f.name], got[f.name], f.type, f"{where}.{f.name}")
            if m:
                return m
        return None
    if pa.types.is_floating(ptype):
        if want is not None and not math.isfinite(want):
            want = None  # JSON Lines holds NaN and infinities as null
        if want is None or got is None:
            return None if want is None and got is None else f"{where}: want {want!r}, got {got!r}"
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return f"{where}: want {want!r}, got {got!r}"
        if pa.types.is_float32(ptype):
            ok = struct.pack("<f", want) == struct.pack("<f", float(got))
        else:
            ok = struct.pack("<d", want) == struct.pack("<d", float(got))
        return None if ok else f"{where}: want {want!r}, got {got!r}"
    if pa.types.is_integer(ptype):
        ok = (want is None and got is None) or (type(got) is int and got == want)
        return None if ok else f"{where}: want {want!r}, got {got!r}"
    if pa.types.is_boolean(ptype) or pa.types.is_string(ptype) or pa.types.is_large_string(ptype):
        ok = type(want) is type(got) and want == got
        return None if ok else f"{where}: want {want!r}, got {got!r}"
    return f"{where}: the comparison does not know {ptype}"


def compare(parquet, jsonl, columns, limit):
    table = pq.read_table(parquet, columns=columns)
    if limit is not None:
        table = table.slice(0, limit)
    names = table.column_names
    with open(jsonl, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if len(lines) != table.num_rows:
        print(f"{jsonl} has {len(lines)} rows, pyarrow reads {table.num_rows}")
        return 1
    row = 0
    for batch in table.to_batches(max_chunksize=10000):
        for want in batch.to_pylist():
            got = json.loads(lines[row])
            if list(got.keys()) != names:
                print(f"row {row}: keys {list(got.keys())}, want {names}")
                return 1
            for name in names:
                m = same(want[name], got[name], table.schema.field(name).type, f"row {row} {name}")
                if m:
                    print(m)
                    return 1
            row += 1
    print(f"{row} rows equal")
    return 0


def describe(parquet):
    md = pq.ParquetFile(parquet).metadata
    encodings, codecs = set(), set()
    for g in range(md.num_row_groups):
        for c in range(md.num_columns):
            col = md.row_group(g).column(c)
            encodings.update(col.encodings)
            codecs.add(col.compression)
    print(json.dumps({"row_groups": md.num_row_groups, "rows": md.num_rows,
                      "encodings": sorted(encodings), "codecs": sorted(codecs)}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("kind")
    w.add_argument("out")
    w.add_argument("--rows", type=int, default=1000)
    w.add_argument("--options", default="{}")
    c = sub.add_parser("compare")
    c.add_argument("parquet")
    c.add_argument("jsonl")
    c.add_argument("--columns")
    c.add_argument("--limit", type=int)
    d = sub.add_parser("describe")
    d.add_argument("parquet")
    args = parser.parse_args()
    if args.command == "write":
        write(args.kind, args.out, args.rows, json.loads(args.options))
        return 0
    if args.command == "compare":
        return compare(args.parquet, args.jsonl, args.columns.split(",") if args.columns else None, args.limit)
    describe(args.parquet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
