import CPipelineABI
import PipelineArrow
import Testing

/// Batches the arrow fuzz target (Tests/fuzz/arrow) found, made by hand the
/// way a plugin would hand them back; the fuzzer's inputs are in
/// Tests/fuzz/arrow/regressions/.
@Suite("Arrow import: fuzzer regressions")
struct ArrowFuzzRegressionTests {
    /// `levels` nested list<…> schemas and arrays of one row each, ending in an int64.
    private func nestedColumn(_ levels: Int) -> (HandSchema, HandArray) {
        var schema = HandSchema("l", name: "leaf")
        var array = HandArray.int64([7])
        for _ in 0..<levels {
            schema = HandSchema("+l", name: "item", children: [schema])
            array = HandArray.list(offsets: [0, 1], array)
        }
        return (schema, array)
    }

    /// nested-deeper-than-the-store.bin: a batch nested deeper than
    /// BatchCodec stores was imported, then could not be stored (and deep
    /// enough, the recursive readers overflowed the stack).
    @Test func nestingDeeperThanTheStoreKeepsIsRefused() throws {
        let (deepSchema, deepArray) = nestedColumn(64)
        let schema = HandSchema.batch([deepSchema])
        let array = HandArray.batch(length: 1, [deepArray])
        let error = #expect(throws: ArrowError.self) {
            try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
        }
        #expect(error?.description.contains("deeper than 64 levels") == true)
        #expect(schema.releasedExactlyOnce && array.releasedExactlyOnce)

        let (fineSchema, fineArray) = nestedColumn(63)
        let fineBatchSchema = HandSchema.batch([fineSchema])
        let fineBatchArray = HandArray.batch(length: 1, [fineArray])
        let batch = try RecordBatch.importing(schema: fineBatchSchema.pointer, array: fineBatchArray.pointer)
        let stored = try BatchCodec.decode(BatchCodec.encode(batch))
        #expect(stored.fields == batch.fields && stored.length == 1)
        withExtendedLifetime((fineBatchSchema, fineBatchArray)) {}
    }

    /// fixed-size-list-width-over-int32.bin: `+w:4611686018427387904` was
    /// accepted; BatchCodec.encode then trapped writing the width as 32 bits.
    @Test func fixedSizeListWiderThanInt32IsRefused() {
        for width in ["4611686018427387904", "2147483648"] {
            let schema = HandSchema.batch([HandSchema("+w:\(width)", name: "v", children: [HandSchema("f", name: "x")])])
            let array = HandArray.batch(length: 0, [
                HandArray(length: 0, buffers: [nil], children: [HandArray(length: 0, buffers: [nil, .raw([])])]),
            ])
            #expect(throws: ArrowError.self) {
                try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
            }
        }
    }

    /// struct-without-fields-round-trip.bin: a struct column without fields
    /// stores no bytes per row, so a stored batch of more such rows than 8 ×
    /// its bytes was refused on reading ("an absurd count"): what a plugin
    /// handed back could not be read back from the run's store.
    @Test func structColumnsWithoutFieldsRoundTripThroughTheStore() throws {
        let onlySchema = HandSchema.batch([HandSchema("+s", name: "empty")])
        let onlyArray = HandArray.batch(length: 5000, [HandArray(length: 5000, buffers: [nil])])
        let only = try RecordBatch.importing(schema: onlySchema.pointer, array: onlyArray.pointer)
        let storedOnly = try BatchCodec.decode(BatchCodec.encode(only))
        #expect(storedOnly.length == 5000 && storedOnly.columns[0].length == 5000)
        withExtendedLifetime((onlySchema, onlyArray)) {}

        let schema = HandSchema.batch([
            HandSchema("+s", name: "empty"),
            HandSchema("+l", name: "items", children: [HandSchema("+s", name: "item")]),
            HandSchema("+w:3", name: "triples", children: [HandSchema("+s", name: "item")]),
        ])
        let rows: Int64 = 5000
        let array = HandArray.batch(length: rows, [
            HandArray(length: rows, buffers: [nil]),
            HandArray.list(offsets: [0] + [Int32](repeating: 40, count: Int(rows)), HandArray(length: 40, buffers: [nil])),
            HandArray(length: rows, buffers: [nil], children: [HandArray(length: rows * 3, buffers: [nil])]),
        ])
        let batch = try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
        let stored = try BatchCodec.decode(BatchCodec.encode(batch))
        #expect(stored.fields == batch.fields && stored.length == Int(rows))
        #expect(stored.columns.map(\.length) == [Int(rows), Int(rows), Int(rows)])
        #expect(stored.columns[1].valueRange(0) == 0..<40 && stored.columns[2].items.length == Int(rows) * 3)
        withExtendedLifetime((schema, array)) {}
    }

    /// struct-without-children-huge-length.bin: a struct column with no
    /// fields may declare any length with no memory behind it; encoding the
    /// batch reserved memory for all those rows (an out-of-memory abort).
    @Test func encodingAStructWithoutFieldsOfHugeLengthReservesLittle() throws {
        let schema = HandSchema.batch([HandSchema("+s", name: "empty")])
        let array = HandArray.batch(length: 1, [HandArray(length: 1 << 36, buffers: [nil])])
        let batch = try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
        let bytes = BatchCodec.encode(batch)
        withExtendedLifetime((schema, array)) {}
        #expect(bytes.count < 1 << 20)
        #expect(bytes.capacity <= 1 << 26)
    }
}
