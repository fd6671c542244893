import PipelineArrow
import Testing

/// Every type built with ColumnBuilder under each null pattern, read back
/// through ArrowColumn's readers, whole and sliced.
@Suite("ColumnBuilder → ArrowColumn")
struct BuilderReaderTests {
    @Test(arguments: NullPattern.all)
    func bool(_ nulls: NullPattern) {
        let expected = nulls.apply(Values.bool)
        let column = buildColumn(.bool, expected) { $0.append($1) }
        #expect(column.type == .bool)
        expectColumn(column, equals: expected, read: { $0.isValid($1) ? $0.bool($1) : nil }, "bool")
    }

    @Test(arguments: NullPattern.all)
    func int64(_ nulls: NullPattern) {
        let expected = nulls.apply(Values.int64)
        let column = buildColumn(.int64, expected) { $0.append($1) }
        expectColumn(column, equals: expected, read: { $0.isValid($1) ? $0.int64($1) : nil }, "int64")
        // The values buffer starts at the column's (or slice's) first row.
        let slice = column.slice(from: 9, count: 60)
        withExtendedLifetime(slice) {
            let raw = slice.values(as: Int64.self)
            #expect(raw.count == 60)
            for i in 0..<60 where slice.isValid(i) { #expect(raw[i] == expected[9 + i]) }
        }
    }

    @Test(arguments: NullPattern.all)
    func uint64(_ nulls: NullPattern) {
        let expected = nulls.apply(Values.uint64)
        let column = buildColumn(.uint64, expected) { $0.append($1) }
        expectColumn(column, equals: expected, read: { $0.isValid($1) ? $0.uint64($1) : nil }, "uint64")
    }

    @Test(arguments: NullPattern.all)
    func float32(_ nulls: NullPattern) {
        let expected = nulls.apply(Values.float32)
        let column = buildColumn(.float32, expected) { $0.append($1) }
        expectColumn(column, equals: expected, read: { $0.isValid($1) ? $0.float32($1) : nil }, "float32")
        withExtendedLifetime(column) {
            let raw = column.slice(from: 64, count: 66).values(as: Float.self)
            #expect(raw.count == 66)
            #expect(raw.last == (nulls.rows.contains(129) ? Float(0) : Values.float32(129)))
        }
    }

    @Test(arguments: NullPattern.all)
    func float64(_ nulls: NullPattern) {
        let expected = nulls.apply(Values.float64)
        let column = buildColumn(.float64, expected) { $0.append($1) }
        expectColumn(column, equals: expected, read: { $0.isValid($1) ? $0.float64($1) : nil }, "float64")
    }

    @Test(arguments: NullPattern.all)
    func utf8(_ nulls: NullPattern) {
        let expected = nulls.apply(Values.text)
        let column = buildColumn(.utf8, expected) { $0.append($1) }
        expectColumn(column, equals: expected, read: { $0.string($1) }, "utf8")
        // The raw bytes, for every row of a slice.
        let slice = column.slice(from: 7, count: 60)
        for i in 0..<slice.length {
            let bytes = Array(slice.utf8Bytes(i))
            #expect(bytes == Array((expected[7 + i] ?? "").utf8), "utf8Bytes row \(i)")
        }
    }

    @Test(arguments: NullPattern.all)
    func largeUtf8(_ nulls: NullPattern) {
        let expected = nulls.apply(Values.text)
        let column = buildColumn(.largeUtf8, expected) { $0.append($1) }
        #expect(column.type == .largeUtf8)
        expectColumn(column, equals: expected, read: { $0.string($1) }, "large_utf8")
    }

    @Test(arguments: NullPattern.all)
    func utf8List(_ nulls: NullPattern) {
        let expected = nulls.apply(Values.strings)
        let column = buildColumn(.utf8List, expected, appendStrings)
        expectColumn(column, equals: expected, read: { $0.stringList($1) }, "list<utf8>")
        // valueRange and the item column agree with stringList.
        for i in 0..<column.length where column.isValid(i) {
            #expect(column.valueRange(i).count == expected[i]?.count)
        }
        #expect(column.items.length == expected.compactMap { $0?.count }.reduce(0, +))
    }

    @Test(arguments: NullPattern.all)
    func float64List(_ nulls: NullPattern) {
        let expected = nulls.apply(Values.doubles)
        let column = buildColumn(.float64List, expected, appendDoubles)
        expectColumn(column, equals: expected, read: { $0.float64List($1) }, "list<float64>")
    }

    @Test(arguments: NullPattern.all)
    func embedding(_ nulls: NullPattern) {
        let expected = nulls.apply(Values.vector)
        let column = buildColumn(.embedding(width: Values.width), expected, appendVector)
        expectColumn(column, equals: expected,
                     read: { $0.isValid($1) ? Array($0.float32Vector($1)) : nil }, "fixed_size_list<float32>[3]")
        #expect(column.items.length == NullPattern.length * Values.width)
        for i in 0..<column.length {
            #expect(column.valueRange(i) == (i * Values.width)..<((i + 1) * Values.width))
        }
    }

    @Test("empty strings and empty lists are values, not nulls")
    func emptyValues() {
        let texts = buildColumn(.utf8, ["", nil, "", "x", ""] as [String?]) { $0.append($1) }
        #expect(texts.nullCount == 1)
        #expect((0..<5).map { texts.string($0) } == ["", nil, "", "x", ""])
        #expect(texts.utf8Bytes(0).count == 0)

        let lists = buildColumn(.utf8List, [[], nil, [""], [], [nil]] as [[String?]?], appendStrings)
        #expect(lists.nullCount == 1)
        #expect((0..<5).map { lists.stringList($0) } == [[], nil, [""], [], [nil]])
        #expect(lists.items.length == 2)

        let doubles = buildColumn(.float64List, [[], [], nil] as [[Double?]?], appendDoubles)
        #expect((0..<3).map { doubles.float64List($0) } == [[], [], nil])
        #expect(doubles.items.length == 0)

        let onlyEmpty = buildColumn(.utf8, Array(repeating: "", count: 70) as [String?]) { $0.append($1) }
        #expect((0..<70).allSatisfy { onlyEmpty.string($0) == "" })
    }

    @Test("non-ASCII text keeps its exact bytes")
    func nonASCII() {
        let texts: [String?] = ["naïve café", "日本語", "🎉👍🏽", "👩‍👩‍👧", "e\u{301}", "a\u{0}b", "\u{10FFFF}"]
        let column = buildColumn(.utf8, texts) { $0.append($1) }
        for (i, text) in texts.enumerated() {
            #expect(column.string(i) == text)
            #expect(Array(column.utf8Bytes(i)) == Array((text ?? "").utf8))
        }
        // Combined characters are not normalised: é as one or two scalars stays distinct.
        let forms = buildColumn(.utf8, ["\u{E9}", "e\u{301}"] as [String?]) { $0.append($1) }
        #expect(forms.utf8Bytes(0).count == 2 && forms.utf8Bytes(1).count == 3)
    }

    @Test("invalid UTF-8 is repaired by string(_:) but kept by utf8Bytes(_:)")
    func invalidUTF8() {
        let builder = ColumnBuilder(.utf8)
        let bytes: [UInt8] = [0x61, 0xFF, 0x62]
        bytes.withUnsafeBytes { builder.appendUTF8($0) }
        let column = builder.finish()
        #expect(Array(column.utf8Bytes(0)) == bytes)
        #expect(column.string(0) == "a\u{FFFD}b")
    }

    @Test("a builder is empty and reusable after finish; earlier columns are unaffected")
    func reuse() {
        let builder = ColumnBuilder(.utf8List)
        appendStrings(builder, ["a", "b"])
        builder.appendNull()
        let first = builder.finish()
        #expect(builder.length == 0)
        appendStrings(builder, ["c"])
        appendStrings(builder, [])
        appendStrings(builder, ["d", nil, "e"])
        let second = builder.finish()
        #expect(first.length == 2 && first.nullCount == 1)
        #expect(first.stringList(0) == ["a", "b"] && first.stringList(1) == nil)
        #expect(second.length == 3 && second.nullCount == 0)
        #expect((0..<3).map { second.stringList($0) } == [["c"], [], ["d", nil, "e"]])

        let numbers = ColumnBuilder(.int64)
        numbers.appendNull()
        let withNull = numbers.finish()
        numbers.append(Int64(5))
        let withoutNull = numbers.finish()
        #expect(withNull.nullCount == 1 && !withNull.isValid(0))
        #expect(withoutNull.nullCount == 0 && withoutNull.isValid(0) && withoutNull.int64(0) == 5)

        let empty = ColumnBuilder(.embedding(width: 4)).finish()
        #expect(empty.length == 0 && empty.nullCount == 0 && empty.items.length == 0)
    }
}

@Suite("ColumnBuilder.append(from:row:)")
struct CopyRowTests {
    @Test("copying every row (whole and from slices) reproduces each type", arguments: NullPattern.all)
    func copyAll(_ nulls: NullPattern) throws {
        let batch = try allTypesBatch(nulls)
        for (field, column) in zip(batch.fields, batch.columns) {
            for (start, count) in [(0, column.length), (7, 60), (63, 3), (64, 66)] {
                let source = column.slice(from: start, count: count)
                let builder = ColumnBuilder(field.type)
                for row in 0..<source.length { builder.append(from: source, row: row) }
                let copy = builder.finish()
                #expect(copy.type == field.type)
                #expect(copy.offset == 0)
                #expect(copy.nullCount == source.nullCount, "\(field.name) slice(\(start), \(count)) nullCount")
                #expect(cells(copy) == cells(source), "\(field.name) slice(\(start), \(count)) values")
            }
        }
    }

    @Test("large_utf8 rows copy into a utf8 column")
    func largeToUTF8() {
        let expected = NullPattern.all[8].apply(Values.text)
        let large = buildColumn(.largeUtf8, expected) { $0.append($1) }
        let builder = ColumnBuilder(.utf8)
        for row in 0..<large.length { builder.append(from: large, row: row) }
        let copy = builder.finish()
        #expect(copy.type == .utf8)
        expectColumn(copy, equals: expected, read: { $0.string($1) }, "copied utf8")
    }

    @Test("rows from several sources interleave in one builder")
    func mixedSources() {
        let a = buildColumn(.utf8List, [["a"], nil, ["b", "c"]] as [[String?]?], appendStrings)
        let b = buildColumn(.utf8List, [[], ["d"]] as [[String?]?], appendStrings)
        let builder = ColumnBuilder(.utf8List)
        builder.append(from: a, row: 2)
        builder.append(from: b, row: 1)
        builder.append(from: a, row: 1)
        appendStrings(builder, ["e"])
        builder.append(from: b, row: 0)
        let column = builder.finish()
        #expect((0..<5).map { column.stringList($0) } == [["b", "c"], ["d"], nil, ["e"], []])
    }
}
