#!/usr/bin/env python3
"""Arrow C Data Interface conformance between pyarrow and PipelineArrow.

Usage: arrow_roundtrip.py PATH/TO/libArrowConformance.{so,dylib}

pyarrow exports record batches through the C Data Interface into the Swift
library built from Tests/ArrowConformance, which
  - roundtrip: imports (moves) a batch, deep-copies it row by row with
    ColumnBuilder.append(from:row:) and exports the copy;
  - reexport:  imports a batch and exports the same columns zero-copy;
  - sample:    exports a batch built in Swift (values also listed below);
  - describe:  borrows a batch and writes every value as Swift reads it.
pyarrow imports the results back and compares them with what it sent.

The C structures are allocated with ctypes (pyarrow.cffi would need the
separate cffi package), so pyarrow is the only dependency. Prints one line
per case and "arrow conformance: N passed, M failed"; exits 1 on failure.
"""

import ctypes
import gc
import json
import random
import sys
import traceback

import pyarrow as pa


# --------------------------------------------------------------------------
# The C Data Interface structures (Sources/CPipelineABI/include/pipeline_arrow_c.h)
# --------------------------------------------------------------------------

class ArrowSchema(ctypes.Structure):
    pass


ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowSchema))),
    ("dictionary", ctypes.POINTER(ArrowSchema)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]


class ArrowArray(ctypes.Structure):
    pass


ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowArray))),
    ("dictionary", ctypes.POINTER(ArrowArray)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]

assert ctypes.sizeof(ArrowSchema) == 72 and ctypes.sizeof(ArrowArray) == 80


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Library:
    def __init__(self, path):
        lib = ctypes.CDLL(path)
        four = [ctypes.c_void_p] * 4
        self.roundtrip_fn = lib.arrow_conformance_roundtrip
        self.reexport_fn = lib.arrow_conformance_reexport
        for fn in (self.roundtrip_fn, self.reexport_fn):
            fn.argtypes = four
            fn.restype = ctypes.c_int32
        self.sample_fn = lib.arrow_conformance_sample
        self.sample_fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.sample_fn.restype = ctypes.c_int32
        self.describe_fn = lib.arrow_conformance_describe
        self.describe_fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        self.describe_fn.restype = ctypes.c_int64
        self.last_error_fn = lib.arrow_conformance_last_error
        self.last_error_fn.argtypes = []
        self.last_error_fn.restype = ctypes.c_char_p

    def last_error(self):
        message = self.last_error_fn()
        return message.decode("utf-8", "replace") if message is not None else "<NULL>"

    def _through(self, fn, batch):
        """Moves `batch` into `fn`; returns (status, output batch or None)."""
        in_schema, in_array = ArrowSchema(), ArrowArray()
        out_schema, out_array = ArrowSchema(), ArrowArray()
        batch._export_to_c(ctypes.addressof(in_array), ctypes.addressof(in_schema))
        status = fn(ctypes.addressof(in_schema), ctypes.addressof(in_array),
                    ctypes.addressof(out_schema), ctypes.addressof(out_array))
        # The import moved the input: on every path both structs must be left
        # released, or pyarrow's memory would leak (checked again at the end).
        check(in_schema.release is None, "input schema not released by the import")
        check(in_array.release is None, "input array not released/moved by the import")
        if status != 0:
            check(out_schema.release is None and out_array.release is None,
                  "failed call left an output behind")
            return status, None
        check(out_schema.release is not None and out_array.release is not None, "no output exported")
        check(out_array.n_children == batch.num_columns,
              f"exported {out_array.n_children} children for {batch.num_columns} columns")
        out = pa.RecordBatch._import_from_c(ctypes.addressof(out_array), ctypes.addressof(out_schema))
        check(out_schema.release is None and out_array.release is None, "pyarrow did not move the output")
        return status, out

    def roundtrip(self, batch):
        status, out = self._through(self.roundtrip_fn, batch)
        check(status == 0, f"roundtrip failed: {self.last_error()}")
        return out

    def reexport(self, batch):
        status, out = self._through(self.reexport_fn, batch)
        check(status == 0, f"reexport failed: {self.last_error()}")
        return out

    def expect_error(self, fn, batch, fragment):
        status, _ = self._through(fn, batch)
        check(status != 0, "expected an error, the call succeeded")
        message = self.last_error()
        check(fragment in message, f"error {message!r} does not mention {fragment!r}")

    def sample(self):
        schema, array = ArrowSchema(), ArrowArray()
        status = self.sample_fn(ctypes.addressof(schema), ctypes.addressof(array))
        check(status == 0, f"sample failed: {self.last_error()}")
        return pa.RecordBatch._import_from_c(ctypes.addressof(array), ctypes.addressof(schema))

    def describe(self, batch):
        """What Swift reads from `batch`, borrowed (pyarrow keeps ownership)."""
        schema, array = ArrowSchema(), ArrowArray()
        batch._export_to_c(ctypes.addressof(array), ctypes.addressof(schema))
        try:
            needed = self.describe_fn(ctypes.addressof(schema), ctypes.addressof(array), None, 0)
            check(needed >= 0, f"describe failed: {self.last_error()}")
            buffer = ctypes.create_string_buffer(needed + 1)
            again = self.describe_fn(ctypes.addressof(schema), ctypes.addressof(array), buffer, needed + 1)
            check(again == needed, f"describe returned {again}, then {needed}")
            check(schema.release is not None and array.release is not None, "describe released a borrowed batch")
            return json.loads(buffer.raw[:needed].decode("utf-8"))
        finally:
            # Give the structs back to pyarrow, which releases them.
            if array.release is not None:
                pa.RecordBatch._import_from_c(ctypes.addressof(array), ctypes.addressof(schema))


# --------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------

def same(actual, expected, what):
    check(actual.schema.equals(expected.schema),
          f"{what}: schema\n  got      {actual.schema}\n  expected {expected.schema}")
    check(actual.num_rows == expected.num_rows,
          f"{what}: {actual.num_rows} rows, expected {expected.num_rows}")
    for name, got, want in zip(expected.schema.names, actual.columns, expected.columns):
        check(got.equals(want), f"{what}: column {name!r} differs\n  got      {got}\n  expected {want}")
        check(got.null_count == want.null_count,
              f"{what}: column {name!r} has {got.null_count} nulls, expected {want.null_count}")
    check(actual.equals(expected), f"{what}: batches differ")
    check(actual.to_pylist() == expected.to_pylist(), f"{what}: to_pylist differs")


def display_name(t):
    """The name PipelineArrow's ArrowType.displayName gives a pyarrow type."""
    simple = {pa.bool_(): "bool", pa.int64(): "int64", pa.uint64(): "uint64", pa.float32(): "float32",
              pa.float64(): "float64", pa.string(): "utf8", pa.large_string(): "large_utf8"}
    for arrow_type, name in simple.items():
        if t == arrow_type:
            return name
    if pa.types.is_fixed_size_list(t):
        return f"fixed_size_list<{display_name(t.value_type)}>[{t.list_size}]"
    if pa.types.is_list(t):
        return f"list<{display_name(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ", ".join(f"{f.name}: {display_name(f.type)}" for f in t) + ">"
    raise Failure(f"no display name for {t}")


def check_describe(lib, batch, what):
    seen = lib.describe(batch)
    check(seen["length"] == batch.num_rows, f"{what}: describe length {seen['length']}, expected {batch.num_rows}")
    columns = seen["columns"]
    check(len(columns) == batch.num_columns, f"{what}: describe has {len(columns)} columns")
    for field, column, described in zip(batch.schema, batch.columns, columns):
        check(described["name"] == field.name, f"{what}: name {described['name']!r} != {field.name!r}")
        check(described["type"] == display_name(field.type),
              f"{what}: column {field.name!r} type {described['type']!r}, expected {display_name(field.type)!r}")
        check(described["nullable"] == field.nullable, f"{what}: column {field.name!r} nullability")
        check(described["null_count"] == column.null_count,
              f"{what}: column {field.name!r} null_count {described['null_count']}, expected {column.null_count}")
        expected = column.to_pylist()
        check(described["values"] == expected,
              f"{what}: column {field.name!r} read by Swift as\n  {described['values']}\n  expected\n  {expected}")


# --------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------

TEXTS = ["", "plain", "naïve café", "日本語", "emoji 🎉👍🏽", "👩‍👩‍👧 family", "שלום", "e\u0301 combining",
         "tab\tnew\nline", "quote\" back\\slash", "nul\x00inside", "Ω≈ç√∫"]


def all_types_batch(rows=150, seed=7):
    """Every supported type, nulls scattered (rows 0, 7, 8, 9, 63, 64 and the last always null)."""
    rng = random.Random(seed)
    forced = {0, 7, 8, 9, 63, 64, rows - 1}

    def maybe(value, i):
        return None if i in forced or rng.random() < 0.15 else value

    def text(i):
        return TEXTS[i % len(TEXTS)] + ("" if i % 5 else f" #{i}")

    ids = list(range(rows))
    flags = [maybe(i % 3 == 0, i) for i in range(rows)]
    ints = [maybe(rng.randint(-2**63, 2**63 - 1), i) for i in range(rows)]
    uints = [maybe(rng.randint(0, 2**64 - 1), i) for i in range(rows)]
    f32 = [maybe(rng.uniform(-1e6, 1e6), i) for i in range(rows)]
    f64 = [maybe(rng.uniform(-1e300, 1e300) if i % 7 else rng.random(), i) for i in range(rows)]
    strings = [maybe(text(i), i) for i in range(rows)]
    tags = [maybe([None if (i + k) % 11 == 0 else text(i + k) for k in range(i % 4)], i) for i in range(rows)]
    weights = [maybe([None if (i + k) % 13 == 0 else rng.uniform(-5, 5) for k in range(i % 5)], i)
               for i in range(rows)]
    vectors = [maybe([rng.uniform(-1, 1) for _ in range(4)], i) for i in range(rows)]
    schema = pa.schema([
        pa.field("id", pa.int64(), nullable=False),
        pa.field("flag", pa.bool_()),
        pa.field("number", pa.int64()),
        pa.field("unsigned", pa.uint64()),
        pa.field("score32", pa.float32()),
        pa.field("score64", pa.float64()),
        pa.field("text", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("weights", pa.list_(pa.float64())),
        pa.field("embedding", pa.list_(pa.float32(), 4)),
    ])
    columns = [ids, flags, ints, uints, f32, f64, strings, tags, weights, vectors]
    return pa.RecordBatch.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, schema)], schema=schema)


def sliced_arrays_batch():
    """Columns that are slices or whose children are slices (non-zero offsets everywhere)."""
    strings = pa.array([None if i % 5 == 0 else f"str-{i}-ü" for i in range(40)], pa.string()).slice(7, 20)
    lists = pa.array([None if i % 6 == 0 else [f"{i}.{k}" for k in range(i % 3)] for i in range(40)],
                     pa.list_(pa.string())).slice(13, 20)
    # A list whose values array itself starts at an offset.
    values = pa.array([float(v) if v % 7 else None for v in range(60)], pa.float64()).slice(5)
    offsets = pa.array([0, 2, 2, 5, 9, 9, 12, 20, 21, 30, 31, 33, 40, 41, 41, 45, 50, 51, 52, 54, 55], pa.int32())
    nested = pa.ListArray.from_arrays(offsets, values, mask=pa.array([i % 4 == 1 for i in range(20)]))
    vectors = pa.array([None if i % 4 == 3 else [i, -i, i / 2] for i in range(50)],
                       pa.list_(pa.float32(), 3)).slice(21, 20)
    flags = pa.array([None if i % 9 == 0 else i % 2 == 0 for i in range(90)], pa.bool_()).slice(61, 20)
    numbers = pa.array([None if i % 8 == 3 else i * 1000 for i in range(100)], pa.int64()).slice(67, 20)
    return pa.RecordBatch.from_arrays([strings, lists, nested, vectors, flags, numbers],
                                      names=["strings", "lists", "nested", "vectors", "flags", "numbers"])


def expected_sample():
    """The batch Conformance.swift's makeSample() builds, as pyarrow sees it."""
    texts = ["hello", "", None, "naïve café", "日本語", "emoji 🎉👍🏽", "tab\tquote\"back\\slash",
             "line\nbreak", None, "x", "ünïcödé", "Ω"]
    schema = pa.schema([
        pa.field("id", pa.int64(), nullable=False),
        pa.field("flag", pa.bool_()),
        pa.field("count", pa.uint64()),
        pa.field("score32", pa.float32()),
        pa.field("score64", pa.float64()),
        pa.field("text", pa.string()),
        pa.field("large", pa.large_string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("weights", pa.list_(pa.float64())),
        pa.field("embedding", pa.list_(pa.field("item", pa.float32(), nullable=False), 3)),
        pa.field("sliced_text", pa.string()),
        pa.field("sliced_tags", pa.list_(pa.string())),
    ])
    inf = float("inf")
    columns = [
        [-2**63, -1, 0, 1, 42, 2**63 - 1, 6, 7, 8, 9, 10, 11],
        [True, None, False, True, True, False, False, None, True, None, False, True],
        [0, 2**64 - 1, None, 1, 2, 3, 4, 5, None, 6, 7, 8],
        [None, 0.5, -1.25, 3, 1024, 0.1, None, 2.75, -8.5, 100, inf, 1.5],
        [3.141592653589793, None, -0.0, 1e300, -2.5e-300, None, 0.1, inf, -inf, 0, 1, 2],
        texts,
        list(reversed(texts)),
        [["a", "b"], [], None, [""], ["naïve", "日本"], ["x", None], None, ["🎉"], [], ["one"], ["a", "b", "c"],
         [None]],
        [[1, 2.5], [], None, [None], [-1], [0.25, None, 4], None, [1e-10], [], [7], [1, 2, 3, 4], []],
        [[1, 2, 3], None, [0.5, -0.5, 0.25], [0, 0, 0], [1e-3, 1e3, -1], None, [7, 8, 9], [0.1, 0.2, 0.3],
         None, [-1, -2, -3], [4, 5, 6], [1, 1, 1]],
        [None if i % 4 == 0 else f"s{i}" for i in range(5, 17)],
        [None if i % 3 == 0 else [f"t{i}-{k}" for k in range(i % 4)] for i in range(5, 17)],
    ]
    return pa.RecordBatch.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, schema)], schema=schema)


def with_large_strings_as_utf8(batch):
    fields, arrays = [], []
    for field, column in zip(batch.schema, batch.columns):
        if field.type == pa.large_string():
            field, column = field.with_type(pa.string()), column.cast(pa.string())
        fields.append(field)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

def both_ways(lib, batch, what):
    same(lib.roundtrip(batch), batch, f"{what} roundtrip")
    same(lib.reexport(batch), batch, f"{what} reexport")
    check_describe(lib, batch, what)


def case_all_types(lib):
    both_ways(lib, all_types_batch(), "all types")


def case_twice_through(lib):
    # Swift's exports fed back into Swift: roundtrip(reexport(roundtrip(x))).
    batch = all_types_batch(rows=90, seed=11)
    out = lib.roundtrip(lib.reexport(lib.roundtrip(batch)))
    same(out, batch, "chained")
    check_describe(lib, lib.reexport(batch), "described reexport")


def case_empty(lib):
    batch = all_types_batch()
    built_empty = pa.RecordBatch.from_pylist([], schema=batch.schema)
    both_ways(lib, built_empty, "empty (built)")
    both_ways(lib, batch.slice(0, 0), "empty (slice at 0)")
    both_ways(lib, batch.slice(70, 0), "empty (slice at 70)")


def case_no_columns(lib):
    batch = pa.RecordBatch.from_struct_array(pa.array([{}] * 3, pa.struct([])))
    check(batch.num_rows == 3 and batch.num_columns == 0, "pyarrow made an unexpected batch")
    for name, out in (("roundtrip", lib.roundtrip(batch)), ("reexport", lib.reexport(batch))):
        check(out.num_rows == 3, f"{name}: {out.num_rows} rows, expected 3")
        check(out.num_columns == 0, f"{name}: {out.num_columns} columns, expected 0")


def case_sliced_batch(lib):
    batch = all_types_batch()
    for start, length in ((3, 5), (1, 1), (61, 70), (8, 64), (100, 50)):
        both_ways(lib, batch.slice(start, length), f"slice({start}, {length})")


def case_sliced_arrays(lib):
    both_ways(lib, sliced_arrays_batch(), "sliced arrays")


def case_non_ascii(lib):
    texts = TEXTS + [None, "ℌ𝔢𝔩𝔩𝔬", "\u200b zero width", "Ünïcødé " * 50]
    batch = pa.RecordBatch.from_arrays(
        [pa.array(texts, pa.string()), pa.array([[t, None, t[::-1]] if t else [] for t in texts], pa.list_(pa.string()))],
        names=["text ü", "列表"])
    both_ways(lib, batch, "non-ASCII")


def case_all_null(lib):
    types = [pa.bool_(), pa.int64(), pa.uint64(), pa.float32(), pa.float64(), pa.string(),
             pa.list_(pa.string()), pa.list_(pa.float64()), pa.list_(pa.float32(), 2)]
    batch = pa.RecordBatch.from_arrays([pa.nulls(70, t) for t in types], names=[str(t) for t in types])
    both_ways(lib, batch, "all null")


def case_large_string(lib):
    values = [None if i % 6 == 0 else TEXTS[i % len(TEXTS)] + str(i) for i in range(30)]
    batch = pa.RecordBatch.from_arrays(
        [pa.array(values, pa.large_string()), pa.array(values, pa.string()),
         pa.array([[v] if v else None for v in values], pa.list_(pa.large_string()))],
        names=["large", "small", "large_items"])
    for what, source in (("large_string", batch), ("large_string slice", batch.slice(5, 17))):
        # Deep copy turns a top-level large_utf8 column into utf8 (nested
        # large_utf8 items keep their type); zero-copy keeps everything.
        same(lib.roundtrip(source), with_large_strings_as_utf8(source), f"{what} roundtrip")
        same(lib.reexport(source), source, f"{what} reexport")
        check_describe(lib, source, what)


def case_sample(lib):
    expected = expected_sample()
    sample = lib.sample()
    same(sample, expected, "sample")
    check(sample.column(0).offset == 0 and sample.column("sliced_text").offset == 5,
          "sample: sliced columns should arrive with offset 5")
    same(lib.roundtrip(sample), with_large_strings_as_utf8(expected), "sample roundtrip")
    same(lib.reexport(sample), expected, "sample reexport")
    check_describe(lib, sample, "sample")


def case_special_floats(lib):
    values = [float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 1.7976931348623157e308]
    batch = pa.RecordBatch.from_arrays([pa.array(values, pa.float64()), pa.array(values, pa.float32())],
                                       names=["f64", "f32"])
    for what, out in (("roundtrip", lib.roundtrip(batch)), ("reexport", lib.reexport(batch))):
        check(out.schema.equals(batch.schema), f"special floats {what}: schema")
        for name in ("f64", "f32"):
            got, want = out.column(name).to_pylist(), batch.column(name).to_pylist()
            check(got[0] != got[0], f"special floats {what}: {name} NaN lost: {got[0]}")
            check(got[1:] == want[1:], f"special floats {what}: {name} {got} != {want}")
            check(str(got[3]) == "-0.0", f"special floats {what}: {name} sign of zero lost")
    seen = lib.describe(batch)
    for described, column in zip(seen["columns"], batch.columns):
        got, want = described["values"], column.to_pylist()
        check(got[0] != got[0] and got[1:] == want[1:], f"special floats describe: {got} != {want}")


def case_nested_struct(lib):
    # Structs import and re-export, but ColumnBuilder builds none: deep copy
    # must fail cleanly (and still release the input).
    inner = pa.array([{"a": i, "b": None if i % 2 else f"v{i}"} if i % 5 else None for i in range(12)],
                     pa.struct([("a", pa.int64()), ("b", pa.string())]))
    batch = pa.RecordBatch.from_arrays([inner, pa.array(range(12), pa.int64())], names=["s", "n"])
    for what, source in (("struct", batch), ("struct slice", batch.slice(3, 7))):
        same(lib.reexport(source), source, f"{what} reexport")
        check_describe(lib, source, what)
        lib.expect_error(lib.roundtrip_fn, source, "cannot deep-copy")


def case_unsupported(lib):
    cases = [
        (pa.array([1, 2, 3], pa.int32()), 'unsupported Arrow format "i"'),
        (pa.array(["a", "b", "a"]).dictionary_encode(), "dictionary"),
        (pa.nulls(3), 'unsupported Arrow format "n"'),
        (pa.array([[1], [2], []], pa.large_list(pa.int64())), 'unsupported Arrow format "+L"'),
        (pa.array([b"x", b"", None], pa.binary()), 'unsupported Arrow format "z"'),
    ]
    for array, fragment in cases:
        batch = pa.RecordBatch.from_arrays([pa.array([1, 2, 3], pa.int64()), array], names=["ok", "bad"])
        lib.expect_error(lib.roundtrip_fn, batch, fragment)
        lib.expect_error(lib.reexport_fn, batch, fragment)


def case_memory_ownership(lib):
    # A zero-copy output keeps all of pyarrow's input buffers alive until it
    # is released; a deep copy keeps none of them. (pyarrow's import also
    # takes a few hundred bytes of its pool per array node for bookkeeping,
    # hence the comparisons with the totals measured after each import.)
    def allocated():
        gc.collect()
        return pa.total_allocated_bytes()

    base = allocated()
    batch = all_types_batch(rows=2000, seed=3)
    check(allocated() > base, "pyarrow allocated nothing for the batch")
    reexported = lib.reexport(batch)
    with_output = allocated()
    del batch
    check(allocated() == with_output,
          f"dropping the input freed {with_output - allocated()} bytes that the zero-copy output uses")
    check(reexported.column("text").to_pylist()[1] is not None, "reexported data unreadable")
    del reexported
    check(allocated() == base, f"{allocated() - base} bytes still held after releasing the zero-copy output")

    batch = all_types_batch(rows=2000, seed=3)
    held = allocated() - base
    copied = lib.roundtrip(batch)
    with_copy = allocated()
    del batch
    check(allocated() == with_copy - held,
          f"the deep copy still holds {allocated() - (with_copy - held)} bytes of its input")
    check(copied.num_rows == 2000 and copied.column("text").to_pylist()[1] is not None, "deep copy unreadable")
    del copied
    check(allocated() == base, f"{allocated() - base} bytes still held after releasing the deep copy")


def case_repeated(lib):
    batch = all_types_batch(rows=200, seed=5)
    for i in range(100):
        same(lib.roundtrip(batch.slice(i, 100)), batch.slice(i, 100), f"repeat {i} roundtrip")
        same(lib.reexport(batch.slice(i, 100)), batch.slice(i, 100), f"repeat {i} reexport")


CASES = [
    ("all supported types with nulls", case_all_types),
    ("chained roundtrip/reexport", case_twice_through),
    ("empty batches", case_empty),
    ("batch without columns", case_no_columns),
    ("sliced batches", case_sliced_batch),
    ("sliced string/list/vector arrays", case_sliced_arrays),
    ("non-ASCII text", case_non_ascii),
    ("all-null columns", case_all_null),
    ("large_string input", case_large_string),
    ("Swift sample", case_sample),
    ("NaN, infinities, signed zero", case_special_floats),
    ("nested struct column", case_nested_struct),
    ("unsupported types give errors", case_unsupported),
    ("memory ownership of exports", case_memory_ownership),
    ("repeated calls", case_repeated),
]


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} PATH/TO/libArrowConformance.so", file=sys.stderr)
        return 2
    lib = Library(argv[1])
    gc.collect()
    start = pa.total_allocated_bytes()
    passed = failed = 0

    def run(name, body):
        nonlocal passed, failed
        try:
            body()
        except Exception as error:  # a case fails; the others still run
            failed += 1
            detail = str(error) if isinstance(error, Failure) else traceback.format_exc()
            print(f"FAIL {name}: {detail}")
        else:
            passed += 1
            print(f"ok   {name}")

    for name, case in CASES:
        run(name, lambda: case(lib))

    def memory_returns():
        gc.collect()
        now = pa.total_allocated_bytes()
        check(now == start, f"pyarrow holds {now - start} bytes more than at the start (a release was missed)")

    run("pyarrow memory returned to its starting value", memory_returns)
    print(f"arrow conformance: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
