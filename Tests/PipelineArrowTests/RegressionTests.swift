import PipelineArrow
import Testing

// Regression tests for defects found in Sources/PipelineArrow by review:
// each failed before its fix. Crashes are checked with exit tests, so a
// trap fails one test instead of the whole run.

@Suite("PipelineArrow regressions")
struct RegressionTests {
    /// RecordBatch.borrowing (ArrowImport.swift, `borrowing(schema:array:)`)
    /// skips the `root.nullCount == 0` check that `importing` makes, so the
    /// struct's null rows are silently read as valid rows of the children.
    /// Fix: the same guard after `wrap` in `borrowing`.
    @Test("borrowing rejects a top-level struct with null rows, as importing does")
    func borrowingTopLevelNulls() {
        let schema = HandSchema.batch([HandSchema("l", name: "n")])
        let array = HandArray(length: 3, nullCount: 1, buffers: [.bitmap([true, false, true])],
                              children: [HandArray.int64([1, 2, 3])])
        #expect(throws: ArrowError.self) {
            try RecordBatch.borrowing(schema: schema.pointer, array: array.pointer)
        }
        #expect(array.untouched)
        array.pointer.pointee.release?(array.pointer)
        schema.pointer.pointee.release?(schema.pointer)
    }

    /// ArrowColumn.wrap (ArrowImport.swift, the `.structure` case:
    /// `child.length < offset + length`) adds two producer-supplied Int64s;
    /// near Int.max the addition traps. The same holds for `needed = (offset
    /// + length) * width` in the `.fixedSizeList` case. Fix: compute with
    /// addingReportingOverflow / multipliedReportingOverflow and throw
    /// `.malformed` on overflow (ideally once, right after reading
    /// length/offset: `offset + length` must not overflow).
    @Test("a struct offset near Int64.max gives ArrowError, not a trap")
    func structOffsetOverflow() async {
        await #expect(processExitsWith: .success) {
            let schema = HandSchema.batch([HandSchema("l", name: "n")])
            let root = HandArray.batch(length: 1, offset: .max, [HandArray.int64([1])])
            let result = Result { try RecordBatch.importing(schema: schema.pointer, array: root.pointer) }
            precondition((try? result.get()) == nil, "imported a batch with offset Int64.max")
            precondition(root.releasedExactlyOnce)
        }
    }

    @Test("a fixed-size list width whose item count overflows gives ArrowError, not a trap")
    func fixedSizeListWidthOverflow() async {
        await #expect(processExitsWith: .success) {
            let schema = HandSchema.batch([
                HandSchema("+w:4611686018427387904", name: "v", children: [HandSchema("f", name: "item")]),
            ])
            let column = HandArray(length: 4, buffers: [nil], children: [HandArray(length: 0, buffers: [nil, nil])])
            let root = HandArray.batch(length: 4, [column])
            let result = Result { try RecordBatch.importing(schema: schema.pointer, array: root.pointer) }
            precondition((try? result.get()) == nil, "imported a 2^64-item fixed-size list")
            precondition(root.releasedExactlyOnce)
        }
    }

    /// ColumnBuilder.append(vector:) (ColumnBuilder.swift) checks only the
    /// width; on a fixed_size_list whose items are not float32 it copies the
    /// Float bytes into the item buffer (bulk path of appendFloats), so a
    /// fixed_size_list<float64> gets half as many bytes as items and reads
    /// garbage. Fix: `case .fixedSizeList(let item, let width) = type,
    /// item.type == .float32, vector.count == width` in its guard.
    @Test("append(vector:) on a fixed_size_list<float64> traps like every other type mismatch")
    func appendVectorChecksItemType() async {
        await #expect(processExitsWith: .failure) {
            let builder = ColumnBuilder(.fixedSizeList(ArrowField("item", .float64), width: 2))
            [Float(1), Float(2)].withUnsafeBufferPointer { builder.append(vector: $0) }
            _ = builder.finish()
        }
    }

    /// ColumnBuilder.append(from:row:) (ColumnBuilder.swift, the
    /// precondition at its top) requires `source.type == type`, and
    /// ArrowType equality includes the names and nullability of nested
    /// fields. Valid input from other producers differs there: pyarrow
    /// reads Parquet lists as list<element: string>, and its
    /// fixed_size_list items are nullable while `.embedding(width:)`'s are
    /// not. Copying such rows into a `.utf8List` / `.embedding` builder
    /// traps inside a plugin. Fix: compare physical layout only (same
    /// format and item layout, recursively, ignoring child field names and
    /// nullability), e.g. an internal `ArrowType.hasSameLayout(as:)`.
    @Test("append(from:row:) copies lists whose item field is named or flagged differently")
    func appendFromIgnoresItemFieldNames() async {
        await #expect(processExitsWith: .success) {
            let source = ColumnBuilder(.list(ArrowField("element", .utf8)))
            source.items.append("a")
            source.endListRow()
            let column = source.finish()
            let builder = ColumnBuilder(.utf8List)
            builder.append(from: column, row: 0)
            precondition(builder.finish().stringList(0) == ["a"])
        }
        await #expect(processExitsWith: .success) {
            let source = ColumnBuilder(.fixedSizeList(ArrowField("item", .float32, nullable: true), width: 2))
            [Float(1), Float(2)].withUnsafeBufferPointer { source.append(vector: $0) }
            let column = source.finish()
            let builder = ColumnBuilder(.embedding(width: 2))
            builder.append(from: column, row: 0)
            let copy = builder.finish()
            withExtendedLifetime(copy) { precondition(Array(copy.float32Vector(0)) == [1, 2]) }
        }
    }
}
