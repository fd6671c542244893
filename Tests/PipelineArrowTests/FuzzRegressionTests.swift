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
