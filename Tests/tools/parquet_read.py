#!/usr/bin/env python3
"""Reads a Parquet file with pyarrow and checks it against what the test expected.

    parquet_read.py check FILE EXPECTED.json   exit 0 when everything matches, else 1 with the differences
    parquet_read.py dump FILE                  print what `check` compares, as JSON
    parquet_read.py datasets FILE              Hugging Face datasets' view: rows and features, as JSON

Values are compared exactly: floats by their bits ("f32:7fc00001", "f64:..."),
so NaN payloads and -0.0 count; integers as Python ints (uint64 included);
lists as lists, structs as objects, nulls as null. EXPECTED.json holds
"schema" ([name, pyarrow type] pairs), "rows" (one list of values per row),
and optionally "row_groups" (rows per row group), "codec", "created_by",
"dictionary" (true: every non-boolean chunk has a dictionary page; false:
none has), "stats_like_pyarrow" (true: null_count and min/max of every chunk
equal those of the same table written by pyarrow with the same row groups),
"stats" ({path: {"null_count", "min", "max"}} of row group 0), "encodings"
({path: [encoding names]} of row group 0), "dictionary_page_at_most" ({path:
bytes}: every dictionary page of that column, header included, is no larger).
"""
import json
import struct
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def column_values(arr):
    """A list with one JSON-able value per slot of `arr`, exact."""
    t = arr.type
    n = len(arr)
    valid = arr.is_valid().to_pylist() if arr.null_count else [True] * n
    if pa.types.is_float32(t) or pa.types.is_float64(t):
        width, fmt, tag = (4, "<I", "f32") if pa.types.is_float32(t) else (8, "<Q", "f64")
        buf = arr.buffers()[1]
        data = buf.to_pybytes() if buf is not None else b""
        out = []
        for i in range(n):
            if not valid[i]:
                out.append(None)
            else:
                bits = struct.unpack_from(fmt, data, (arr.offset + i) * width)[0]
                out.append("%s:%0*x" % (tag, width * 2, bits))
        return out
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        offsets = arr.offsets.to_pylist()
        child = column_values(arr.values)
        return [child[offsets[i]:offsets[i + 1]] if valid[i] else None for i in range(n)]
    if pa.types.is_fixed_size_list(t):
        w = t.list_size
        child = column_values(arr.values)
        return [child[(arr.offset + i) * w:(arr.offset + i + 1) * w] if valid[i] else None for i in range(n)]
    if pa.types.is_struct(t):
        names = [t.field(k).name for k in range(t.num_fields)]
        children = [column_values(arr.field(k)) for k in range(t.num_fields)]
        return [{name: children[k][i] for k, name in enumerate(names)} if valid[i] else None for i in range(n)]
    return arr.to_pylist()


def stat_value(v):
    if isinstance(v, float):
        return "f64:%016x" % struct.unpack("<Q", struct.pack("<d", v))[0]
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    return v


def chunk_stats(meta):
    out = []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        cols = {}
        for c in range(group.num_columns):
            col = group.column(c)
            s = col.statistics
            entry = None
            if s is not None:
                entry = {"null_count": s.null_count if s.has_null_count else None}
                if s.has_min_max:
                    entry["min"] = stat_value(s.min)
                    entry["max"] = stat_value(s.max)
            cols[col.path_in_schema] = entry
        out.append(cols)
    return out


def dump(path):
    pf = pq.ParquetFile(path)
    table = pf.read()
    meta = pf.metadata
    columns = [column_values(table.column(k).combine_chunks()) if table.num_rows else [] for k in range(table.num_columns)]
    rows = [[columns[k][r] for k in range(table.num_columns)] for r in range(table.num_rows)]
    groups = []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        groups.append({
            "rows": group.num_rows,
            "columns": [{"path": group.column(c).path_in_schema,
                         "codec": group.column(c).compression,
                         "encodings": list(group.column(c).encodings),
                         "has_dictionary_page": group.column(c).has_dictionary_page,
                         "physical_type": group.column(c).physical_type}
                        for c in range(group.num_columns)],
        })
    return {
        "schema": [[f.name, str(f.type)] for f in table.schema],
        "rows": rows,
        "num_rows": meta.num_rows,
        "row_groups": groups,
        "created_by": meta.created_by,
        "stats": chunk_stats(meta),
        "table": table,
        "meta": meta,
    }


def check(path, expected_path):
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    got = dump(path)
    problems = []
    if got["schema"] != expected["schema"]:
        problems.append("schema: got %s, expected %s" % (got["schema"], expected["schema"]))
    if got["num_rows"] != len(expected["rows"]):
        problems.append("num_rows: got %d, expected %d" % (got["num_rows"], len(expected["rows"])))
    for r, (a, b) in enumerate(zip(got["rows"], expected["rows"])):
        if a != b:
            problems.append("row %d: got %s, expected %s" % (r, json.dumps(a), json.dumps(b)))
            if len(problems) > 20:
                break
    if "row_groups" in expected:
        sizes = [g["rows"] for g in got["row_groups"]]
        if sizes != expected["row_groups"]:
            problems.append("row group sizes: got %s, expected %s" % (sizes, expected["row_groups"]))
    if "codec" in expected:
        for g in got["row_groups"]:
            for c in g["columns"]:
                if c["codec"] != expected["codec"]:
                    problems.append("column %s: codec %s, expected %s" % (c["path"], c["codec"], expected["codec"]))
    if "dictionary" in expected:
        for g in got["row_groups"]:
            for c in g["columns"]:
                if c["physical_type"] == "BOOLEAN":
                    continue
                if c["has_dictionary_page"] != expected["dictionary"]:
                    problems.append("column %s: has_dictionary_page %s, expected %s (encodings %s)"
                                    % (c["path"], c["has_dictionary_page"], expected["dictionary"], c["encodings"]))
    if "encodings" in expected:
        first = {c["path"]: c["encodings"] for c in got["row_groups"][0]["columns"]} if got["row_groups"] else {}
        for path, want in expected["encodings"].items():
            if sorted(first.get(path, [])) != sorted(want):
                problems.append("encodings of %s: got %s, expected %s" % (path, first.get(path), want))
    if "dictionary_page_at_most" in expected:
        meta = got["meta"]
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                col = meta.row_group(g).column(c)
                limit = expected["dictionary_page_at_most"].get(col.path_in_schema)
                if limit is None or not col.has_dictionary_page:
                    continue
                size = col.data_page_offset - col.dictionary_page_offset
                if size > limit:
                    problems.append("row group %d, %s: a dictionary page of %d bytes, over %d"
                                    % (g, col.path_in_schema, size, limit))
    if "created_by" in expected and got["created_by"] != expected["created_by"]:
        problems.append("created_by: got %r, expected %r" % (got["created_by"], expected["created_by"]))
    if "stats" in expected:
        first = got["stats"][0] if got["stats"] else {}
        for path, want in expected["stats"].items():
            have = first.get(path)
            if have != want:
                problems.append("statistics of %s: got %s, expected %s" % (path, have, want))
    if expected.get("stats_like_pyarrow") and got["row_groups"]:
        import io
        sink = io.BytesIO()
        size = got["row_groups"][0]["rows"]
        pq.write_table(got["table"], sink, row_group_size=size)
        theirs = chunk_stats(pq.ParquetFile(pa.BufferReader(sink.getvalue())).metadata)
        if len(theirs) != len(got["stats"]):
            problems.append("pyarrow made %d row groups, we %d" % (len(theirs), len(got["stats"])))
        for g, (ours, ref) in enumerate(zip(got["stats"], theirs)):
            for path in ref:
                if ours.get(path) != ref[path]:
                    problems.append("row group %d, %s: statistics %s, pyarrow writes %s" % (g, path, ours.get(path), ref[path]))
    if problems:
        print("\n".join(problems))
        return 1
    print("ok: %d rows, %d row groups" % (got["num_rows"], len(got["row_groups"])))
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "dump":
        got = dump(sys.argv[2])
        del got["table"]
        del got["meta"]
        print(json.dumps(got, indent=1))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "datasets":
        import datasets
        ds = datasets.Dataset.from_parquet(sys.argv[2])
        print(json.dumps({"num_rows": ds.num_rows, "features": {k: str(v) for k, v in ds.features.items()},
                          "first": ds[0] if ds.num_rows else None}))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        return check(sys.argv[2], sys.argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
