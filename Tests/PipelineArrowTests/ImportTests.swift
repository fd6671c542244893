import CPipelineABI
import PipelineArrow
import Testing

/// Three columns made by hand: int64 with a null, utf8, list<utf8>.
private func handBatch() -> (HandSchema, HandArray) {
    let schema = HandSchema.batch([
        HandSchema("l", name: "n"),
        HandSchema("u", name: "s"),
        HandSchema("+l", name: "tags", children: [HandSchema("u", name: "item")]),
    ])
    let array = HandArray.batch(length: 3, [
        HandArray.int64([7, 0, -9], valid: [true, false, true]),
        HandArray.utf8(offsets: [0, 6, 6, 12], bytes: "héllo日本"),
        HandArray.list(offsets: [0, 2, 2, 3], HandArray.utf8(offsets: [0, 1, 2, 4], bytes: "abcd")),
    ])
    return (schema, array)
}

@Suite("import ownership")
struct ImportOwnershipTests {
    @Test("import moves the array, releases the schema, and the batch releases the array once")
    func releasedOnceWhenDropped() throws {
        let (schema, array) = handBatch()
        var batch: RecordBatch? = try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
        #expect(array.pointer.pointee.release == nil, "the source struct is left released (moved)")
        #expect(schema.pointer.pointee.release == nil)
        #expect(schema.releasedExactlyOnce, "the schema is released by the import")
        #expect(array.untouched, "the array lives as long as the batch")

        let b = try #require(batch)
        #expect(b.fields.map(\.name) == ["n", "s", "tags"])
        #expect(b.fields.map(\.type) == [.int64, .utf8, .utf8List])
        #expect(b.columns[0].nullCount == 1 && b.columns[0].int64(0) == 7 && !b.columns[0].isValid(1))
        #expect((0..<3).map { b.columns[1].string($0) } == ["héllo", "", "日本"])
        #expect((0..<3).map { b.columns[2].stringList($0) } == [["a", "b"], [], ["cd"]])
        batch = nil
        _ = consume b
        #expect(array.releasedExactlyOnce, "release called once, children released by the parent's release")
    }

    @Test("a column kept after the batch is dropped keeps the import alive")
    func columnOutlivesBatch() throws {
        let (schema, array) = handBatch()
        var column: ArrowColumn?
        do {
            let batch = try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
            column = batch.columns[1].slice(from: 2, count: 1)
        }
        #expect(array.untouched)
        #expect(column?.string(0) == "日本")
        column = nil
        #expect(array.releasedExactlyOnce)
    }

    @Test("a failed import still releases the array exactly once and leaves the source released")
    func releasedOnceOnFailure() throws {
        let (schema, array) = handBatch()
        array.children[0].pointer.pointee.n_buffers = 3
        #expect(throws: ArrowError.self) {
            try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
        }
        #expect(array.releasedExactlyOnce)
        #expect(array.pointer.pointee.release == nil)
        #expect(schema.releasedExactlyOnce)
    }

    @Test("an already released array is refused; the schema is still released")
    func releasedArray() throws {
        let (schema, array) = handBatch()
        array.pointer.pointee.release = nil
        let error = #expect(throws: ArrowError.self) {
            try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
        }
        #expect(error?.isMalformed == true)
        #expect(schema.releasedExactlyOnce)
        #expect(array.untouched)
    }

    @Test("an already released schema is refused; the array is still released once")
    func releasedSchema() throws {
        let (schema, array) = handBatch()
        schema.pointer.pointee.release = nil
        #expect(throws: ArrowError.self) {
            try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
        }
        #expect(array.releasedExactlyOnce)
        #expect(array.pointer.pointee.release == nil)
        #expect(schema.releaseCount == 0)
    }

    @Test("borrowing neither moves nor releases anything")
    func borrowing() throws {
        let (schema, array) = handBatch()
        do {
            let batch = try RecordBatch.borrowing(schema: schema.pointer, array: array.pointer)
            #expect(batch.columns[1].string(0) == "héllo")
        }
        #expect(array.untouched && schema.releaseCount == 0)
        #expect(array.pointer.pointee.release != nil && schema.pointer.pointee.release != nil)
        // Give it back to a real consumer, which releases it once.
        _ = try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
        #expect(array.releasedExactlyOnce && schema.releasedExactlyOnce)
    }
}

@Suite("import of valid but unusual input")
struct ImportShapesTests {
    @Test("a top-level struct with an offset yields sliced columns")
    func structOffset() throws {
        let schema = HandSchema.batch([HandSchema("l", name: "n"), HandSchema("u", name: "s")])
        let array = HandArray.batch(length: 2, offset: 1, [
            HandArray.int64([1, 2, 3, 4]),
            HandArray.utf8(offsets: [0, 1, 3, 6, 10], bytes: "abbcccdddd"),
        ])
        do {
            let batch = try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
            #expect(batch.length == 2)
            #expect(batch.columns[0].int64(0) == 2 && batch.columns[0].int64(1) == 3)
            #expect(batch.columns[1].string(0) == "bb" && batch.columns[1].string(1) == "ccc")
        }
        #expect(array.releasedExactlyOnce)
    }

    @Test("null_count -1 is computed from the bitmap, also under a child offset")
    func unknownNullCount() throws {
        var valid = [Bool](repeating: true, count: 80)
        for row in [0, 8, 9, 63, 64, 79] { valid[row] = false }
        let column = HandArray(length: 75, nullCount: -1, offset: 5,
                               buffers: [.bitmap(valid), .values((0..<80).map { Int64($0) })])
        let schema = HandSchema.batch([HandSchema("l", name: "n")])
        let root = HandArray.batch(length: 75, [column])
        do {
            let batch = try RecordBatch.importing(schema: schema.pointer, array: root.pointer)
            let n = batch.columns[0]
            #expect(n.nullCount == 5)
            #expect(!n.isValid(3) && !n.isValid(4) && n.isValid(5) && !n.isValid(58) && !n.isValid(59) && !n.isValid(74))
            #expect(n.int64(5) == 10)
            #expect(n.slice(from: 4, count: 55).nullCount == 2)
            #expect(n.slice(from: 3, count: 57).nullCount == 4)
        }
        #expect(root.releasedExactlyOnce)
    }

    @Test("a utf8 column whose rows are all empty may have no bytes buffer")
    func textWithoutBytes() throws {
        let schema = HandSchema.batch([HandSchema("u", name: "s")])
        let array = HandArray.batch(length: 2, [
            HandArray(length: 2, buffers: [nil, .values([3, 3, 3] as [Int32]), nil]),
        ])
        do {
            let batch = try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
            #expect(batch.columns[0].string(0) == "" && batch.columns[0].string(1) == "")
        }
        #expect(array.releasedExactlyOnce)
    }

    @Test("zero-length columns may have NULL buffers")
    func emptyWithNullBuffers() throws {
        let schema = HandSchema.batch([HandSchema("l", name: "n"), HandSchema("u", name: "s"),
                                       HandSchema("+l", name: "l", children: [HandSchema("g", name: "item")])])
        let array = HandArray.batch(length: 0, [
            HandArray(length: 0, buffers: [nil, nil]),
            HandArray(length: 0, buffers: [nil, nil, nil]),
            HandArray(length: 0, buffers: [nil, nil], children: [HandArray(length: 0, buffers: [nil, nil])]),
        ])
        do {
            let batch = try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
            #expect(batch.length == 0 && batch.columns.allSatisfy { $0.length == 0 })
            #expect(batch.columns[0].values(as: Int64.self).isEmpty)
        }
        #expect(array.releasedExactlyOnce)
    }

    @Test("list offsets that do not start at 0, over an item column with an offset")
    func listOffsets() throws {
        let schema = HandSchema.batch([HandSchema("+l", name: "l", children: [HandSchema("g", name: "item")])])
        let items = HandArray(length: 5, offset: 2, buffers: [nil, .values([0, 0, 1.5, 2.5, 3.5, 4.5, 5.5] as [Double])])
        let array = HandArray.batch(length: 2, [HandArray.list(offsets: [1, 3, 5], items)])
        do {
            let batch = try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
            #expect(batch.columns[0].float64List(0) == [2.5, 3.5])
            #expect(batch.columns[0].float64List(1) == [4.5, 5.5])
        }
        #expect(array.releasedExactlyOnce)
    }

    @Test("fixed-size lists with item nulls and an offset; rows copy with append(from:row:)")
    func fixedSizeListItems() throws {
        let itemSchema = HandSchema("f", name: "item")
        let schema = HandSchema.batch([HandSchema("+w:2", name: "v", children: [itemSchema])])
        let items = HandArray(length: 8, nullCount: 1, buffers: [.bitmap([true, true, true, false, true, true, true, true]),
                                                                 .values((0..<8).map { Float($0) })])
        let column = HandArray(length: 3, nullCount: 1, offset: 1, buffers: [.bitmap([true, true, false, true])],
                               children: [items])
        let root = HandArray.batch(length: 3, [column])
        let batch = try RecordBatch.importing(schema: schema.pointer, array: root.pointer)
        let v = batch.columns[0]
        #expect(v.type == .fixedSizeList(ArrowField("item", .float32), width: 2))
        #expect(Array(v.float32Vector(0)) == [2, 3])
        #expect(!v.isValid(1))
        #expect(Array(v.float32Vector(2)) == [6, 7])
        #expect(cell(v, 0) == .list([.float(Float(2).bitPattern), .null]))

        let builder = ColumnBuilder(v.type)
        for row in 0..<v.length { builder.append(from: v, row: row) }
        let copy = builder.finish()
        #expect(cells(copy) == cells(v))
        #expect(copy.items.nullCount == 1, "the null item is copied as a null")
        withExtendedLifetime(batch) { #expect(root.untouched) }
    }

    @Test("nested lists and a nested struct column import; structs are read through children")
    func nested() throws {
        let schema = HandSchema.batch([
            HandSchema("+l", name: "ll", children: [HandSchema("+l", name: "item", children: [HandSchema("l", name: "item")])]),
            HandSchema("+s", name: "st", children: [HandSchema("l", name: "a"), HandSchema("u", name: "b")]),
        ])
        let inner = HandArray.list(offsets: [0, 1, 3, 3], HandArray.int64([5, 6, 7]))
        let lists = HandArray.list(offsets: [0, 2, 3], inner)
        let structs = HandArray(length: 2, offset: 1, buffers: [nil], children: [
            HandArray.int64([0, 1, 2]), HandArray.utf8(offsets: [0, 1, 2, 3], bytes: "xyz"),
        ])
        let root = HandArray.batch(length: 2, [lists, structs])
        do {
            let batch = try RecordBatch.importing(schema: schema.pointer, array: root.pointer)
            #expect(cells(batch.columns[0]) == [.list([.list([.int(5)]), .list([.int(6), .int(7)])]), .list([.list([])])])
            #expect(cells(batch.columns[1]) == [.record([.int(1), .text("y")]), .record([.int(2), .text("z")])])
            // Copies (what PluginKit does with kept input columns) keep nested values.
            #expect(cells(batch.columns[0].copied()) == cells(batch.columns[0]))
            #expect(cells(batch.columns[1].copied()) == cells(batch.columns[1]))
            #expect(cells(try batch.take([1]).columns[1]) == [.record([.int(2), .text("z")])])
        }
        #expect(root.releasedExactlyOnce)
    }
}

// MARK: - Malformed input

/// A malformed batch, the error kind expected, and a fragment of its message.
struct Malformed: Sendable, CustomTestStringConvertible {
    let name: String
    let unsupported: Bool
    let fragment: String
    let make: @Sendable () -> (HandSchema, HandArray)
    var testDescription: String { name }
}

private func one(_ schema: HandSchema, _ column: HandArray, length: Int64 = 3) -> (HandSchema, HandArray) {
    (HandSchema.batch([schema]), HandArray.batch(length: length, [column]))
}

let malformedCases: [Malformed] = [
    Malformed(name: "wrong n_buffers", unsupported: false, fragment: "needs 2 buffers, found 3") {
        one(HandSchema("l", name: "n"), HandArray(length: 3, buffers: [nil, .values([1, 2, 3] as [Int64]), nil]))
    },
    Malformed(name: "too few buffers for utf8", unsupported: false, fragment: "needs 3 buffers") {
        one(HandSchema("u", name: "s"), HandArray(length: 3, buffers: [nil, .values([0, 1, 2, 3] as [Int32])]))
    },
    Malformed(name: "decreasing offsets", unsupported: false, fragment: "offsets decrease") {
        one(HandSchema("u", name: "s"), HandArray.utf8(offsets: [0, 3, 2, 4], bytes: "abcd"))
    },
    Malformed(name: "negative first offset", unsupported: false, fragment: "negative") {
        one(HandSchema("u", name: "s"), HandArray.utf8(offsets: [-1, 0, 1, 2], bytes: "ab"))
    },
    Malformed(name: "last list offset past the items", unsupported: false, fragment: "past the 4 items") {
        one(HandSchema("+l", name: "l", children: [HandSchema("l", name: "item")]),
            HandArray.list(offsets: [0, 2, 3, 5], HandArray.int64([1, 2, 3, 4])))
    },
    Malformed(name: "decreasing list offsets", unsupported: false, fragment: "offsets decrease") {
        one(HandSchema("+l", name: "l", children: [HandSchema("u", name: "item")]),
            HandArray.list(offsets: [0, 2, 1, 2], HandArray.utf8(offsets: [0, 1, 2], bytes: "ab")))
    },
    Malformed(name: "NULL data buffer with rows", unsupported: false, fragment: "buffer 1 is NULL") {
        one(HandSchema("l", name: "n"), HandArray(length: 3, buffers: [nil, nil]))
    },
    Malformed(name: "NULL offsets buffer with rows", unsupported: false, fragment: "buffer 1 is NULL") {
        one(HandSchema("u", name: "s"), HandArray(length: 3, buffers: [nil, nil, .text("abc")]))
    },
    Malformed(name: "NULL text bytes with non-empty rows", unsupported: false, fragment: "bytes buffer is NULL") {
        one(HandSchema("u", name: "s"), HandArray(length: 3, buffers: [nil, .values([0, 1, 2, 3] as [Int32]), nil]))
    },
    Malformed(name: "null_count without a bitmap", unsupported: false, fragment: "no validity bitmap") {
        one(HandSchema("l", name: "n"), HandArray(length: 3, nullCount: 1, buffers: [nil, .values([1, 2, 3] as [Int64])]))
    },
    Malformed(name: "negative length", unsupported: false, fragment: "negative length") {
        one(HandSchema("l", name: "n"), HandArray(length: -1, buffers: [nil, .values([1] as [Int64])]))
    },
    Malformed(name: "negative offset", unsupported: false, fragment: "negative length") {
        one(HandSchema("l", name: "n"), HandArray(length: 3, offset: -2, buffers: [nil, .values([1, 2, 3] as [Int64])]))
    },
    Malformed(name: "unsupported format i (int32)", unsupported: true, fragment: "unsupported Arrow format \"i\"") {
        one(HandSchema("i", name: "n"), HandArray(length: 3, buffers: [nil, .values([1, 2, 3] as [Int32])]))
    },
    Malformed(name: "unsupported format +L (large list)", unsupported: true, fragment: "\"+L\"") {
        one(HandSchema("+L", name: "l", children: [HandSchema("l", name: "item")]),
            HandArray(length: 1, buffers: [nil, .values([0, 1] as [Int64])], children: [HandArray.int64([1])]), length: 1)
    },
    Malformed(name: "fixed-size list of width 0", unsupported: true, fragment: "\"+w:0\"") {
        one(HandSchema("+w:0", name: "v", children: [HandSchema("f", name: "item")]),
            HandArray(length: 3, buffers: [nil], children: [HandArray(length: 0, buffers: [nil, nil])]))
    },
    Malformed(name: "dictionary-encoded column", unsupported: true, fragment: "dictionary") {
        one(HandSchema("l", name: "d", dictionary: HandSchema("u")),
            HandArray(length: 3, buffers: [nil, .values([0, 0, 0] as [Int64])]))
    },
    Malformed(name: "top level is not a struct", unsupported: false, fragment: "must be a struct array") {
        (HandSchema("l"), HandArray.int64([1, 2, 3]))
    },
    Malformed(name: "top-level struct with null rows", unsupported: false, fragment: "null rows") {
        (HandSchema.batch([HandSchema("l", name: "n")]),
         HandArray(length: 3, nullCount: 1, buffers: [.bitmap([true, false, true])], children: [HandArray.int64([1, 2, 3])]))
    },
    Malformed(name: "array has fewer children than the schema", unsupported: false, fragment: "needs 2 children, found 1") {
        (HandSchema.batch([HandSchema("l", name: "a"), HandSchema("l", name: "b")]),
         HandArray.batch(length: 3, [HandArray.int64([1, 2, 3])]))
    },
    Malformed(name: "struct child shorter than the batch", unsupported: false, fragment: "has 2 rows, needs 3") {
        one(HandSchema("l", name: "n"), HandArray.int64([1, 2]))
    },
    Malformed(name: "fixed-size list child too short", unsupported: false, fragment: "needs 6 items, child has 5") {
        one(HandSchema("+w:2", name: "v", children: [HandSchema("f", name: "item")]),
            HandArray(length: 3, buffers: [nil], children: [HandArray(length: 5, buffers: [nil, .values([Float](repeating: 1, count: 5))])]))
    },
    Malformed(name: "list schema without its child", unsupported: false, fragment: "needs 1 child, found 0") {
        one(HandSchema("+l", name: "l"), HandArray.list(offsets: [0, 0, 0, 0], HandArray.int64([])))
    },
    Malformed(name: "primitive schema with a child", unsupported: false, fragment: "takes no children") {
        one(HandSchema("l", name: "n", children: [HandSchema("l")]), HandArray.int64([1, 2, 3]))
    },
]

@Suite("malformed input gives ArrowError")
struct MalformedInputTests {
    @Test(arguments: malformedCases)
    func rejected(_ input: Malformed) {
        let (schema, array) = input.make()
        let error = #expect(throws: ArrowError.self) {
            try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
        }
        #expect(error?.isUnsupportedFormat == input.unsupported, "\(error?.message ?? "no error")")
        #expect(error?.isMalformed == !input.unsupported, "\(error?.message ?? "no error")")
        #expect(error?.message.contains(input.fragment) == true,
                "message \"\(error?.message ?? "")\" lacks \"\(input.fragment)\"")
        #expect(array.releasedExactlyOnce, "the array is released exactly once on failure")
        #expect(array.pointer.pointee.release == nil)
        #expect(schema.releasedExactlyOnce, "the schema is released exactly once on failure")

        // borrowing rejects the same input, without releasing anything.
        // (Top-level nulls: see KnownBugTests.)
        guard input.name != "top-level struct with null rows" else { return }
        let (schema2, array2) = input.make()
        #expect(throws: ArrowError.self) {
            try RecordBatch.borrowing(schema: schema2.pointer, array: array2.pointer)
        }
        #expect(array2.untouched && schema2.releaseCount == 0)
        array2.pointer.pointee.release?(array2.pointer)
        schema2.pointer.pointee.release?(schema2.pointer)
    }

    @Test("broken pointers in the schema and the array")
    func nullPointers() {
        func expectMalformed(_ fragment: String, _ damage: (HandSchema, HandArray) -> Void,
                             sourceLocation: SourceLocation = #_sourceLocation) {
            let (schema, array) = handBatch()
            damage(schema, array)
            let error = #expect(throws: ArrowError.self, sourceLocation: sourceLocation) {
                try RecordBatch.importing(schema: schema.pointer, array: array.pointer)
            }
            #expect(error?.isMalformed == true, sourceLocation: sourceLocation)
            #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "")", sourceLocation: sourceLocation)
            #expect(array.releasedExactlyOnce && schema.releasedExactlyOnce, sourceLocation: sourceLocation)
        }
        expectMalformed("no format") { schema, _ in schema.children[0].pointer.pointee.format = nil }
        expectMalformed("schema children are missing") { schema, _ in schema.pointer.pointee.children = nil }
        expectMalformed("schema child 1 is NULL") { schema, _ in schema.pointer.pointee.children?[1] = nil }
        expectMalformed("buffers pointer is NULL") { _, array in array.children[1].pointer.pointee.buffers = nil }
        expectMalformed("children pointer is NULL") { _, array in array.pointer.pointee.children = nil }
        expectMalformed("child 2 is NULL") { _, array in array.pointer.pointee.children?[2] = nil }
        expectMalformed("schema children are missing") { schema, _ in schema.pointer.pointee.n_children = -1 }
        // The header's alignment rule: values and offsets on their natural boundary.
        expectMalformed("buffer 1 of int64 is not aligned to 8 bytes") { _, array in
            array.children[0].pointer.pointee.buffers?[1] = array.children[0].pointer.pointee.buffers?[1].map { $0 + 4 }
        }
        expectMalformed("buffer 1 of utf8 is not aligned to 4 bytes") { _, array in
            array.children[1].pointer.pointee.buffers?[1] = array.children[1].pointer.pointee.buffers?[1].map { $0 + 2 }
        }
    }
}
