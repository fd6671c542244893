import PipelineArrow
import Testing

/// One value of a column as the readers see it, compared exactly (floats
/// by bit pattern, so NaN and -0.0 count).
indirect enum Cell: Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case float(UInt32)
    case double(UInt64)
    case text(String)
    case list([Cell])
    case record([Cell])

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .int(let value): "\(value)"
        case .uint(let value): "\(value)u"
        case .float(let bits): "\(Float(bitPattern: bits))f"
        case .double(let bits): "\(Double(bitPattern: bits))"
        case .text(let value): "\"\(value)\""
        case .list(let items): "[\(items.map(\.description).joined(separator: ", "))]"
        case .record(let items): "{\(items.map(\.description).joined(separator: ", "))}"
        }
    }
}

/// Row `row` of `column`, read with the generic readers.
func cell(_ column: ArrowColumn, _ row: Int) -> Cell {
    guard column.isValid(row) else { return .null }
    switch column.type {
    case .bool: return .bool(column.bool(row))
    case .int64: return .int(column.int64(row))
    case .uint64: return .uint(column.uint64(row))
    case .float32: return .float(column.float32(row).bitPattern)
    case .float64: return .double(column.float64(row).bitPattern)
    case .utf8, .largeUtf8: return column.string(row).map(Cell.text) ?? .null
    case .list, .fixedSizeList:
        let items = column.items
        return .list(column.valueRange(row).map { cell(items, $0) })
    case .structure:
        return .record(column.children.map { cell($0, column.offset + row) })
    }
}

func cells(_ column: ArrowColumn) -> [Cell] { (0..<column.length).map { cell(column, $0) } }

/// Row ranges worth slicing a column of `length` rows at: byte and 64-bit
/// word boundaries of the validity bitmap, empty and full slices.
func sliceBounds(_ length: Int) -> [(start: Int, count: Int)] {
    let candidates = [(0, length), (1, length - 1), (7, 3), (8, 57), (9, 64), (63, 2), (64, 66), (3, 120),
                      (60, 8), (length - 1, 1), (length, 0), (0, 0), (5, 70), (13, 100), (0, 1)]
    return candidates.filter { $0.0 >= 0 && $0.1 >= 0 && $0.0 + $0.1 <= length }
}

/// Checks length, null count, validity and every value of `column`, then
/// the same for slices of it and slices of those slices.
func expectColumn<T: Equatable>(_ column: ArrowColumn, equals expected: [T?],
                                read: (ArrowColumn, Int) -> T?, _ what: String,
                                sourceLocation: SourceLocation = #_sourceLocation) {
    func check(_ column: ArrowColumn, _ expected: ArraySlice<T?>, _ label: String) {
        #expect(column.length == expected.count, "\(label): length", sourceLocation: sourceLocation)
        guard column.length == expected.count else { return }
        let nulls = expected.filter { $0 == nil }.count
        #expect(column.nullCount == nulls, "\(label): nullCount \(column.nullCount), expected \(nulls)",
                sourceLocation: sourceLocation)
        let validity = (0..<column.length).map { column.isValid($0) }
        #expect(validity == expected.map { $0 != nil }, "\(label): validity", sourceLocation: sourceLocation)
        let values = (0..<column.length).map { read(column, $0) }
        #expect(values == Array(expected), "\(label): values", sourceLocation: sourceLocation)
    }
    check(column, expected[...], what)
    for (start, count) in sliceBounds(expected.count) {
        let slice = column.slice(from: start, count: count)
        check(slice, expected[start..<(start + count)], "\(what) slice(\(start), \(count))")
        if count > 2 {
            let inner = slice.slice(from: 1, count: count - 2)
            check(inner, expected[(start + 1)..<(start + count - 1)], "\(what) slice(\(start), \(count)).slice(1, \(count - 2))")
        }
    }
}

/// Texts that exercise UTF-8: empty, multi-byte, emoji with modifiers and
/// joiners, combining marks, right-to-left, an embedded NUL.
let sampleTexts = ["", "plain", "naïve café", "日本語", "emoji 🎉👍🏽", "👩‍👩‍👧 family", "a\u{0}b", "שלום", "e\u{301}",
                   "tab\t\"quoted\"\n", "Ω≈ç√∫"]

/// Rows that are null in the standard test columns.
struct NullPattern: Sendable, CustomTestStringConvertible {
    let name: String
    let rows: Set<Int>
    var testDescription: String { name }

    static let length = 130

    static let all: [NullPattern] = [
        NullPattern(name: "no nulls", rows: []),
        NullPattern(name: "first row", rows: [0]),
        NullPattern(name: "row 7", rows: [7]),
        NullPattern(name: "row 8", rows: [8]),
        NullPattern(name: "row 9", rows: [9]),
        NullPattern(name: "row 63", rows: [63]),
        NullPattern(name: "row 64", rows: [64]),
        NullPattern(name: "last row", rows: [length - 1]),
        NullPattern(name: "0, 7, 8, 9, 63, 64 and last", rows: [0, 7, 8, 9, 63, 64, length - 1]),
        NullPattern(name: "every third", rows: Set(stride(from: 2, to: length, by: 3))),
        NullPattern(name: "all", rows: Set(0..<length)),
    ]

    func apply<T>(_ value: (Int) -> T) -> [T?] {
        (0..<Self.length).map { rows.contains($0) ? nil : value($0) }
    }
}

/// Deterministic values for row `i` of each type.
enum Values {
    static func bool(_ i: Int) -> Bool { i % 3 == 0 || i % 7 == 1 }
    static func int64(_ i: Int) -> Int64 {
        let edges: [Int64] = [.min, -1, 0, .max]
        return i < edges.count ? edges[i] : Int64(i) * 1_000_003 * (i.isMultiple(of: 2) ? -1 : 1)
    }
    static func uint64(_ i: Int) -> UInt64 { i == 1 ? .max : UInt64(i) * 0x1_0000_0001 }
    static func float32(_ i: Int) -> Float { i == 2 ? -.infinity : Float(i) * 0.5 - 10.25 }
    static func float64(_ i: Int) -> Double { i == 3 ? 1e300 : Double(i) / 3 - 7 }
    static func text(_ i: Int) -> String { sampleTexts[i % sampleTexts.count] + (i % 5 == 0 ? "" : "#\(i)") }
    /// 0 to 3 items; every 11th item null.
    static func strings(_ i: Int) -> [String?] {
        (0..<(i % 4)).map { k in (i + k) % 11 == 0 ? nil : text(i + k) }
    }
    static func doubles(_ i: Int) -> [Double?] {
        (0..<(i % 5)).map { k in (i + k) % 13 == 0 ? nil : Double(i * 10 + k) / 8 }
    }
    static let width = 3
    static func vector(_ i: Int) -> [Float] { [Float(i), -Float(i) / 4, 0.5] }
}

// MARK: Building

func buildColumn<T>(_ type: ArrowType, _ values: [T?], _ append: (ColumnBuilder, T) -> Void) -> ArrowColumn {
    let builder = ColumnBuilder(type)
    for value in values {
        if let value { append(builder, value) } else { builder.appendNull() }
    }
    #expect(builder.length == values.count)
    return builder.finish()
}

func appendStrings(_ builder: ColumnBuilder, _ row: [String?]) {
    for item in row { builder.items.append(item) }
    builder.endListRow()
}

func appendDoubles(_ builder: ColumnBuilder, _ row: [Double?]) {
    for item in row {
        if let item { builder.items.append(item) } else { builder.items.appendNull() }
    }
    builder.endListRow()
}

func appendVector(_ builder: ColumnBuilder, _ row: [Float]) {
    row.withUnsafeBufferPointer { builder.append(vector: $0) }
}

/// A batch with one column of every supported type, nulls at `nulls.rows`
/// (the first column, "id", is non-nullable and has none).
func allTypesBatch(_ nulls: NullPattern) throws -> RecordBatch {
    let n = NullPattern.length
    let id = buildColumn(.int64, (0..<n).map { Int64($0) }) { $0.append($1) }
    let columns: [(ArrowField, ArrowColumn)] = [
        (ArrowField("id", .int64, nullable: false), id),
        (ArrowField("flag", .bool), buildColumn(.bool, nulls.apply(Values.bool)) { $0.append($1) }),
        (ArrowField("number", .int64), buildColumn(.int64, nulls.apply(Values.int64)) { $0.append($1) }),
        (ArrowField("unsigned", .uint64), buildColumn(.uint64, nulls.apply(Values.uint64)) { $0.append($1) }),
        (ArrowField("score32", .float32), buildColumn(.float32, nulls.apply(Values.float32)) { $0.append($1) }),
        (ArrowField("score64", .float64), buildColumn(.float64, nulls.apply(Values.float64)) { $0.append($1) }),
        (ArrowField("text", .utf8), buildColumn(.utf8, nulls.apply(Values.text)) { $0.append($1) }),
        (ArrowField("large", .largeUtf8), buildColumn(.largeUtf8, nulls.apply(Values.text)) { $0.append($1) }),
        (ArrowField("tags", .utf8List), buildColumn(.utf8List, nulls.apply(Values.strings), appendStrings)),
        (ArrowField("weights", .float64List), buildColumn(.float64List, nulls.apply(Values.doubles), appendDoubles)),
        (ArrowField("embedding", .embedding(width: Values.width)),
         buildColumn(.embedding(width: Values.width), nulls.apply(Values.vector), appendVector)),
    ]
    return try RecordBatch(fields: columns.map(\.0), columns: columns.map(\.1))
}

/// Exports `batch` and imports it back (the import moves the exported structs).
func exportAndImport(_ batch: RecordBatch) throws -> RecordBatch {
    let slot = ExportSlot()
    batch.export(schema: slot.schema, array: slot.array)
    let imported = try RecordBatch.importing(schema: slot.schema, array: slot.array)
    #expect(slot.schema.pointee.release == nil, "import left the schema unreleased")
    #expect(slot.array.pointee.release == nil, "import did not move the array")
    return imported
}

/// Asserts two batches have the same fields, length and values.
func expectSameBatch(_ actual: RecordBatch, _ expected: RecordBatch, _ what: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.fields == expected.fields, "\(what): fields", sourceLocation: sourceLocation)
    #expect(actual.length == expected.length, "\(what): length", sourceLocation: sourceLocation)
    #expect(actual.columns.count == expected.columns.count, "\(what): column count", sourceLocation: sourceLocation)
    for (index, (got, want)) in zip(actual.columns, expected.columns).enumerated() {
        let name = expected.fields[index].name
        #expect(got.type == want.type, "\(what): \(name) type", sourceLocation: sourceLocation)
        #expect(got.nullCount == want.nullCount, "\(what): \(name) nullCount", sourceLocation: sourceLocation)
        #expect(cells(got) == cells(want), "\(what): \(name) values", sourceLocation: sourceLocation)
    }
}
