import CPipelineABI
import PipelineArrow
import Testing

@Suite("export → import")
struct ExportImportTests {
    @Test("a batch of every type survives export and import", arguments: NullPattern.all)
    func roundTrip(_ nulls: NullPattern) throws {
        let batch = try allTypesBatch(nulls)
        let imported = try exportAndImport(batch)
        expectSameBatch(imported, batch, "round trip")
        #expect(imported.fields[0].nullable == false)
        #expect(imported.fields.dropFirst().allSatisfy { $0.nullable })
        // And once more, exporting what was imported (zero-copy of foreign memory).
        expectSameBatch(try exportAndImport(imported), batch, "second round trip")
    }

    @Test("sliced columns (non-zero offsets) survive export and import")
    func slicedRoundTrip() throws {
        let batch = try allTypesBatch(NullPattern.all[8])
        for (start, count) in sliceBounds(batch.length) {
            let sliced = try RecordBatch(fields: batch.fields,
                                         columns: batch.columns.map { $0.slice(from: start, count: count) })
            let imported = try exportAndImport(sliced)
            expectSameBatch(imported, sliced, "slice(\(start), \(count))")
            #expect(imported.columns.allSatisfy { $0.offset == start }, "offsets are exported, not copied")
        }
    }

    @Test("an empty batch round-trips, with and without columns")
    func emptyBatch() throws {
        let full = try allTypesBatch(NullPattern.all[0])
        let emptyColumns = try full.fields.map { field throws -> ArrowColumn in ColumnBuilder(field.type).finish() }
        let empty = try RecordBatch(fields: full.fields, columns: emptyColumns)
        #expect(empty.length == 0)
        let imported = try exportAndImport(empty)
        expectSameBatch(imported, empty, "empty")
        #expect(imported.columns.allSatisfy { $0.length == 0 && $0.nullCount == 0 })

        let emptySlices = try RecordBatch(fields: full.fields, columns: full.columns.map { $0.slice(from: 70, count: 0) })
        expectSameBatch(try exportAndImport(emptySlices), emptySlices, "empty slices")

        let noColumns = try RecordBatch(fields: [], columns: [], length: 5)
        let importedNoColumns = try exportAndImport(noColumns)
        #expect(importedNoColumns.length == 5 && importedNoColumns.columns.isEmpty)
    }

    @Test("names, nested item fields and nullability are exported as given")
    func fieldsRoundTrip() throws {
        let fields = [
            ArrowField("naïve 列", .utf8, nullable: false),
            ArrowField("", .int64),
            ArrowField("items", .list(ArrowField("element", .float64, nullable: false))),
            ArrowField("vectors", .fixedSizeList(ArrowField("v", .float32, nullable: true), width: 2), nullable: false),
            ArrowField("nested", .list(ArrowField("inner", .list(ArrowField("x", .int64))))),
        ]
        let columns = fields.map { ColumnBuilder($0.type).finish() }
        let batch = try RecordBatch(fields: fields, columns: columns)
        let imported = try exportAndImport(batch)
        #expect(imported.fields == fields)
    }

    @Test("the exported C structures follow the C Data Interface")
    func exportedStructures() throws {
        let batch = try allTypesBatch(NullPattern.all[8]).sliced(from: 2, count: 100)
        let slot = ExportSlot()
        batch.export(schema: slot.schema, array: slot.array)
        let schema = slot.schema.pointee
        let array = slot.array.pointee
        #expect(schema.format.map { String(cString: $0) } == "+s")
        #expect(schema.flags & Int64(ARROW_FLAG_NULLABLE) == 0)
        #expect(schema.n_children == Int64(batch.fields.count))
        #expect(schema.dictionary == nil && schema.release != nil)
        #expect(array.length == 100 && array.offset == 0 && array.null_count == 0)
        #expect(array.n_buffers == 1 && array.buffers?[0] == nil)
        #expect(array.n_children == Int64(batch.columns.count) && array.release != nil)

        let formats = ["l", "b", "l", "L", "f", "g", "u", "U", "+l", "+l", "+w:3"]
        let buffers: [Int64] = [2, 2, 2, 2, 2, 2, 3, 3, 2, 2, 1]
        for index in 0..<batch.columns.count {
            guard let childSchema = schema.children?[index]?.pointee,
                  let childArray = array.children?[index]?.pointee else {
                Issue.record("child \(index) missing")
                continue
            }
            let column = batch.columns[index]
            #expect(childSchema.format.map { String(cString: $0) } == formats[index])
            #expect(childSchema.name.map { String(cString: $0) } == batch.fields[index].name)
            #expect((childSchema.flags & Int64(ARROW_FLAG_NULLABLE) != 0) == batch.fields[index].nullable)
            #expect(childArray.n_buffers == buffers[index], "\(batch.fields[index].name) buffers")
            #expect(childArray.length == 100 && childArray.offset == 2)
            #expect(childArray.null_count == Int64(column.nullCount))
            #expect(childArray.release != nil && childArray.dictionary == nil)
            if column.nullCount > 0 { #expect(childArray.buffers?[0] != nil, "validity exported") }
        }
        // The list's item schema carries the item field.
        let tags = schema.children?[8]?.pointee
        #expect(tags?.n_children == 1)
        #expect(tags?.children?[0]?.pointee.name.map { String(cString: $0) } == "item")
        #expect(tags?.children?[0]?.pointee.format.map { String(cString: $0) } == "u")
    }

    @Test("a single column and a single field export on their own")
    func columnAndFieldExport() throws {
        let column = buildColumn(.utf8, ["a", nil, "ü"] as [String?]) { $0.append($1) }
        let array = UnsafeMutablePointer<ArrowArray>.allocate(capacity: 1)
        let schema = UnsafeMutablePointer<ArrowSchema>.allocate(capacity: 1)
        defer { array.deallocate(); schema.deallocate() }
        column.export(to: array)
        ArrowField("t", .utf8).export(to: schema)
        #expect(array.pointee.length == 3 && array.pointee.null_count == 1 && array.pointee.n_buffers == 3)
        #expect(String(cString: schema.pointee.format) == "u" && String(cString: schema.pointee.name) == "t")
        let offsets = array.pointee.buffers?[1]?.assumingMemoryBound(to: Int32.self)
        #expect(offsets.map { [$0[0], $0[1], $0[2], $0[3]] } == [0, 1, 1, 3])
        array.pointee.release?(array)
        schema.pointee.release?(schema)
        #expect(array.pointee.release == nil && schema.pointee.release == nil)
    }
}

extension RecordBatch {
    func sliced(from start: Int, count: Int) throws -> RecordBatch {
        try RecordBatch(fields: fields, columns: columns.map { $0.slice(from: start, count: count) })
    }
}

@Suite("ownership of exported memory")
struct ExportOwnershipTests {
    @Test("exported memory outlives every Swift reference and is freed by release, once")
    func outlivesSwift() throws {
        let slot = ExportSlot()
        weak var weakText: ArrowColumn?
        weak var weakNumbers: ArrowColumn?
        do {
            let text = buildColumn(.utf8, (0..<100).map { $0 % 9 == 0 ? nil : "row \($0) ü" }) { $0.append($1) }
            let numbers = buildColumn(.int64, (0..<100).map { Int64($0) * 3 }) { $0.append($1) }
            weakText = text
            weakNumbers = numbers
            try RecordBatch([("text", text), ("numbers", numbers)]).export(schema: slot.schema, array: slot.array)
        }
        #expect(weakText != nil && weakNumbers != nil, "the export must keep the columns alive")

        // Read the exported buffers straight from C.
        let numbers = try #require(slot.array.pointee.children?[1]?.pointee)
        let values = try #require(numbers.buffers?[1]?.assumingMemoryBound(to: Int64.self))
        #expect((0..<100).allSatisfy { values[$0] == Int64($0) * 3 })

        // An import moves the structs; the batch it makes keeps them alive.
        var imported: RecordBatch? = try RecordBatch.importing(schema: slot.schema, array: slot.array)
        #expect(imported?.column("text")?.string(1) == "row 1 ü")
        #expect(weakText != nil)
        imported = nil
        #expect(weakText == nil && weakNumbers == nil, "release must free the exported columns")
    }

    @Test("release sets release to NULL and frees the children with the parent")
    func releaseByConsumer() throws {
        let slot = ExportSlot()
        weak var weakColumn: ArrowColumn?
        do {
            let column = buildColumn(.utf8List, [["a"], nil, []] as [[String?]?], appendStrings)
            weakColumn = column
            try RecordBatch([("tags", column)]).export(schema: slot.schema, array: slot.array)
        }
        slot.array.pointee.release?(slot.array)
        slot.schema.pointee.release?(slot.schema)
        #expect(slot.array.pointee.release == nil && slot.array.pointee.private_data == nil)
        #expect(slot.schema.pointee.release == nil)
        #expect(weakColumn == nil)
    }

    @Test("a consumer may move a child out before releasing the parent")
    func moveChildOut() throws {
        let slot = ExportSlot()
        weak var weakKept: ArrowColumn?
        weak var weakDropped: ArrowColumn?
        do {
            let kept = buildColumn(.utf8List, [["x", "y"], nil, ["z"]] as [[String?]?], appendStrings)
            let dropped = buildColumn(.int64, [1, 2, 3] as [Int64?]) { $0.append($1) }
            weakKept = kept
            weakDropped = dropped
            try RecordBatch([("kept", kept), ("dropped", dropped)]).export(schema: slot.schema, array: slot.array)
        }
        // Move child 0 of the array and of the schema out (bitwise copy, mark the source released).
        let movedArray = UnsafeMutablePointer<ArrowArray>.allocate(capacity: 1)
        let movedSchema = UnsafeMutablePointer<ArrowSchema>.allocate(capacity: 1)
        defer { movedArray.deallocate(); movedSchema.deallocate() }
        let childArray = try #require(slot.array.pointee.children?[0])
        let childSchema = try #require(slot.schema.pointee.children?[0])
        movedArray.initialize(to: childArray.pointee)
        childArray.pointee.release = nil
        movedSchema.initialize(to: childSchema.pointee)
        childSchema.pointee.release = nil

        slot.array.pointee.release?(slot.array)
        slot.schema.pointee.release?(slot.schema)
        #expect(weakDropped == nil, "the parent's release frees the children it still owns")
        #expect(weakKept != nil, "the moved child keeps its column alive")

        // The moved child is intact: its schema, offsets and its own child (the items).
        #expect(String(cString: movedSchema.pointee.format) == "+l")
        #expect(movedSchema.pointee.children?[0]?.pointee.format.map { String(cString: $0) } == "u")
        let offsets = try #require(movedArray.pointee.buffers?[1]?.assumingMemoryBound(to: Int32.self))
        #expect([offsets[0], offsets[1], offsets[2], offsets[3]] == [0, 2, 2, 3])
        #expect(movedArray.pointee.children?[0]?.pointee.length == 3)

        // Also move the grandchild (the items) out, then release in reverse order.
        let movedItems = UnsafeMutablePointer<ArrowArray>.allocate(capacity: 1)
        defer { movedItems.deallocate() }
        let items = try #require(movedArray.pointee.children?[0])
        movedItems.initialize(to: items.pointee)
        items.pointee.release = nil
        movedArray.pointee.release?(movedArray)
        movedSchema.pointee.release?(movedSchema)
        #expect(movedArray.pointee.release == nil && movedSchema.pointee.release == nil)
        let bytes = try #require(movedItems.pointee.buffers?[2]?.assumingMemoryBound(to: UInt8.self))
        #expect([bytes[0], bytes[1], bytes[2]] == Array("xyz".utf8))
        movedItems.pointee.release?(movedItems)
        #expect(weakKept == nil, "the last moved piece frees the column")
    }

    @Test("a re-exported import keeps the producer's memory until the consumer releases it")
    func reexportKeepsProducerAlive() throws {
        let producer = HandArray.batch(length: 3, [HandArray.int64([10, 20, 30])])
        let schema = HandSchema.batch([HandSchema("l", name: "n")])
        let slot = ExportSlot()
        do {
            let batch = try RecordBatch.importing(schema: schema.pointer, array: producer.pointer)
            batch.export(schema: slot.schema, array: slot.array)
        }
        #expect(producer.untouched, "released while the re-export still points at it")
        let values = try #require(slot.array.pointee.children?[0]?.pointee.buffers?[1]?
            .assumingMemoryBound(to: Int64.self))
        #expect([values[0], values[1], values[2]] == [10, 20, 30])
        slot.array.pointee.release?(slot.array)
        #expect(producer.releasedExactlyOnce)
        #expect(schema.releasedExactlyOnce)
    }
}
