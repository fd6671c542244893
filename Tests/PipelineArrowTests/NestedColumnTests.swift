import CPipelineABI
import PipelineArrow
import Testing

/// Issue 18, nested JSON: list<struct<…>>, struct and list<list<…>>
/// columns built with ColumnBuilder, with nulls at every level, survive
/// the store's codec, export and import, copies and takes; field metadata
/// (an extension type, the null-is-absent mark on a struct member) travels
/// with the schema through all of them.
@Suite("Nested columns and field metadata")
struct NestedColumnTests {
    static let absent = [ArrowField.nullIsAbsentKey: "true"]

    /// struct<role: utf8, content: utf8, name: utf8 (absent when null)>
    static let message: ArrowType = .structure([
        ArrowField("role", .utf8), ArrowField("content", .utf8), ArrowField("name", .utf8, metadata: absent),
    ])

    /// A batch of `rows` rows: messages (list<struct>), meta (struct with a
    /// list and a nested struct), grid (list<list<int64>>), raw (arrow.json
    /// text); a null somewhere in each, varying with the row.
    static func batch(rows: Int) throws -> RecordBatch {
        let messages = ColumnBuilder(.list(ArrowField("item", message)))
        let metaType: ArrowType = .structure([
            ArrowField("tags", .utf8List), ArrowField("score", .float64),
            ArrowField("origin", .structure([ArrowField("line", .int64), ArrowField("ok", .bool)]), metadata: absent),
        ])
        let meta = ColumnBuilder(metaType)
        let grid = ColumnBuilder(.list(ArrowField("item", .list(ArrowField("item", .int64)))))
        let raw = ColumnBuilder(.utf8)
        for row in 0..<rows {
            // messages: null every 7th row, else row % 3 messages, a null message every 5th.
            if row % 7 == 6 {
                messages.appendNull()
            } else {
                let items = messages.items
                for k in 0..<(row % 3) {
                    if (row + k) % 5 == 4 {
                        items.appendNull()
                        continue
                    }
                    items.field(0).append(k == 0 ? "system" : "user")
                    items.field(1).append("text \(row)/\(k) é \"q\"\n")
                    if (row + k) % 2 == 0 { items.field(2).append("n\(row)") } else { items.field(2).appendNull() }
                    items.endStructRow()
                }
                messages.endListRow()
            }
            // meta: null every 9th row.
            if row % 9 == 8 {
                meta.appendNull()
            } else {
                meta.field(0).append(strings: (0..<(row % 3)).map { "t\($0)" })
                if row % 4 == 0 { meta.field(1).appendNull() } else { meta.field(1).append(Double(row) / 4) }
                let origin = meta.field(2)
                if row % 2 == 0 {
                    origin.appendNull()
                } else {
                    origin.field(0).append(Int64(row) * 1_000_000_007)
                    origin.field(1).append(row % 3 == 0)
                    origin.endStructRow()
                }
                meta.endStructRow()
            }
            // grid: [[row, row+1], [], null] shapes.
            let lists = grid.items
            for k in 0..<(row % 4) {
                if k == 2 {
                    lists.appendNull()
                } else {
                    for v in 0..<k { lists.items.append(Int64(row * 10 + v)) }
                    lists.endListRow()
                }
            }
            grid.endListRow()
            raw.append(row % 6 == 5 ? nil : #"{"k":[\#(row),null]}"#)
        }
        return try RecordBatch(fields: [
            ArrowField("messages", messages.type), ArrowField("meta", metaType),
            ArrowField("grid", grid.type), ArrowField("raw", .utf8, metadata: ArrowField.jsonExtensionMetadata),
        ], columns: [messages.finish(), meta.finish(), grid.finish(), raw.finish()])
    }

    @Test func theBuilderMakesWhatWasAppended() throws {
        let batch = try Self.batch(rows: 12)
        let messages = batch.columns[0]
        #expect(cell(messages, 2) == .list([.record([.text("system"), .text("text 2/0 é \"q\"\n"), .text("n2")]),
                                            .record([.text("user"), .text("text 2/1 é \"q\"\n"), .null])]))
        #expect(cell(messages, 4) == .list([.null]))
        #expect(cell(messages, 6) == .null)
        #expect(cell(messages, 0) == .list([]))
        #expect(cell(batch.columns[1], 3) == .record([.list([]), .double((0.75).bitPattern),
                                                       .record([.int(3_000_000_021), .bool(true)])]))
        #expect(cell(batch.columns[1], 8) == .null)
        #expect(cell(batch.columns[2], 3) == .list([.list([]), .list([.int(30)]), .null]))
        #expect(batch.fields[3].isJSONText)
        #expect(Self.message.children[2].nullIsAbsent && !Self.message.children[0].nullIsAbsent)
    }

    @Test func nestedBatchesRoundTripThroughTheStoreCodec() throws {
        let batch = try Self.batch(rows: 130)
        let decoded = try BatchCodec.decode(BatchCodec.encode(batch))
        expectSameBatch(decoded, batch, "codec")
        #expect(decoded.fields == batch.fields, "metadata, nested and top-level, is stored")
        for (start, count) in sliceBounds(batch.length) {
            let slice = batch.slice(from: start, count: count)
            expectSameBatch(try BatchCodec.decode(BatchCodec.encode(slice)), slice, "slice \(start)+\(count)")
        }
        // Damage is an error or a batch, never a trap.
        let bytes = BatchCodec.encode(batch)
        for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 200)) {
            #expect(throws: ArrowError.self) { try BatchCodec.decode(Array(bytes.prefix(length))) }
        }
    }

    @Test func nestedBatchesRoundTripThroughExportAndImport() throws {
        let batch = try Self.batch(rows: 130)
        let imported = try exportAndImport(batch)
        expectSameBatch(imported, batch, "export/import")
        #expect(imported.fields == batch.fields, "metadata crosses the C Data Interface")
        // Sliced (offsets at every level) too, and the imported batch into the store.
        for (start, count) in sliceBounds(batch.length) {
            let slice = batch.slice(from: start, count: count)
            let again = try exportAndImport(slice)
            expectSameBatch(again, slice, "slice \(start)+\(count)")
            expectSameBatch(try BatchCodec.decode(BatchCodec.encode(again)), slice, "stored import \(start)+\(count)")
        }
    }

    @Test func copiesAndTakesKeepNestedValuesAndMetadata() throws {
        let batch = try Self.batch(rows: 40)
        for column in batch.columns {
            #expect(cells(column.copied()) == cells(column))
            let slice = column.slice(from: 3, count: 30)
            #expect(cells(slice.copied()) == cells(slice))
        }
        let rows = [39, 0, 5, 5, 17, 6]
        let taken = try batch.take(rows)
        #expect(taken.fields == batch.fields)
        for (index, column) in taken.columns.enumerated() {
            #expect(cells(column) == rows.map { cell(batch.columns[index], $0) })
        }
        // A borrowed batch copied for keeping keeps its field metadata.
        let slot = ExportSlot()
        batch.export(schema: slot.schema, array: slot.array)
        let borrowed = try RecordBatch.borrowing(schema: slot.schema, array: slot.array)
        let owned = try borrowed.owningCopies()
        #expect(owned.fields == batch.fields)
        expectSameBatch(owned, batch, "owning copies")
    }

    /// The C Data Interface's metadata encoding, made by hand as a C
    /// producer would: int32 count, then int32 length + bytes for each key
    /// and value; a repeated key keeps its last value.
    @Test func metadataIsReadAsTheSpecificationEncodesIt() throws {
        func encoded(_ pairs: [(String, String)], count: Int32? = nil) -> [UInt8] {
            var bytes: [UInt8] = []
            func int32(_ value: Int32) { withUnsafeBytes(of: value) { bytes += $0 } }
            int32(count ?? Int32(pairs.count))
            for (key, value) in pairs {
                int32(Int32(key.utf8.count)); bytes += key.utf8
                int32(Int32(value.utf8.count)); bytes += value.utf8
            }
            return bytes
        }
        /// The fields of a one-column batch whose schema carries `metadata`.
        func imported(_ metadata: [UInt8]) throws -> [ArrowField] {
            let child = HandSchema("u", name: "j")
            let schema = HandSchema.batch([child])
            let array = HandArray.batch(length: 1, [HandArray.utf8(offsets: [0, 2], bytes: "{}")])
            let fields = try metadata.withUnsafeBufferPointer { buffer in
                child.pointer.pointee.metadata = buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
                return try RecordBatch.importing(schema: schema.pointer, array: array.pointer).fields
            }
            #expect(array.releasedExactlyOnce && schema.releasedExactlyOnce)
            return fields
        }
        let fields = try imported(encoded([("ARROW:extension:name", "arrow.json"), ("ARROW:extension:metadata", ""),
                                          ("k", "first"), ("k", "é")]))
        #expect(fields[0].metadata == ["ARROW:extension:name": "arrow.json", "ARROW:extension:metadata": "", "k": "é"])
        #expect(fields[0].isJSONText)
        #expect(try imported(encoded([]))[0].metadata.isEmpty)
        // A negative count or length is refused, naming the field.
        for bad in [encoded([], count: -1), [1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]] {
            do {
                _ = try imported(bad)
                Issue.record("negative metadata was accepted")
            } catch let error as ArrowError {
                #expect(error.message.contains("metadata has a negative count or length"), "\(error.message)")
                #expect(error.message.contains("j"), "\(error.message)")
            }
        }
        #expect(throws: ArrowError.self) { try imported(encoded([], count: 100_000)) }
    }

    /// A run stored before field metadata (PLB2) still resumes.
    @Test func theCodecStillReadsBatchesStoredWithoutMetadata() throws {
        var bytes = Array("PLB2".utf8)
        func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        u32(1); u64(2)                                   // one field, two rows
        u32(1); bytes += Array("n".utf8); bytes += [1]   // "n", nullable
        bytes += [1]                                     // int64
        u64(2); u64(0); bytes += [0]                     // 2 rows, no nulls, no bitmap
        u64(UInt64(bitPattern: -5)); u64(7)
        let batch = try BatchCodec.decode(bytes)
        #expect(batch.fields == [ArrowField("n", .int64)])
        #expect(cells(batch.columns[0]) == [.int(-5), .int(7)])
        // What this build writes is the new format, metadata included.
        #expect(BatchCodec.encode(batch).prefix(4).elementsEqual("PLB3".utf8))
    }
}
