// C entry points that let Python's pyarrow exchange record batches with
// PipelineArrow through the Arrow C Data Interface (see
// Tests/conformance/arrow_roundtrip.py). Every function returns an error
// code instead of trapping; the message of the last failure is kept for
// arrow_conformance_last_error().
//
// This target depends on PipelineArrow only, which does not re-export
// CPipelineABI, so the C structures are taken as raw pointers and rebound
// to the types PipelineArrow's API expects (inferred, never named here).

import PipelineArrow

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Last error

/// The message of the most recent failure, as a C string owned here.
private final class ErrorSlot: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var message: UnsafeMutablePointer<CChar>?

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        message = strdup("")
    }

    /// Replaces the message. The previous pointer stays valid until the
    /// next failure, which is what the C API promises.
    func set(_ text: String) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let fresh = strdup(text)
        if let old = message { free(old) }
        message = fresh
    }

    var pointer: UnsafePointer<CChar>? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return message.map { UnsafePointer($0) }
    }
}

private let lastError = ErrorSlot()

/// Why a conformance call failed.
private struct ConformanceFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
    init(_ error: ArrowError) { message = error.message }
}

/// Runs `body`, turning a failure into a non-zero status and a message.
private func status(_ body: () throws(ConformanceFailure) -> Void) -> Int32 {
    do {
        try body()
        return 0
    } catch {
        lastError.set(error.message)
        return 1
    }
}

/// Rebinds a raw C pointer to the structure type the callee expects.
private func bound<T>(_ raw: UnsafeMutableRawPointer) -> UnsafeMutablePointer<T> {
    raw.assumingMemoryBound(to: T.self)
}

private func require(_ raw: UnsafeMutableRawPointer?, _ what: String) throws(ConformanceFailure) -> UnsafeMutableRawPointer {
    guard let raw else { throw ConformanceFailure("\(what) is NULL") }
    return raw
}

// MARK: - Round trips

/// Moves a batch in from C, calling `transform` on it, and exports the
/// result. The input is released on every path (RecordBatch.importing moves it).
private func pass(_ inSchema: UnsafeMutableRawPointer?, _ inArray: UnsafeMutableRawPointer?,
                  _ outSchema: UnsafeMutableRawPointer?, _ outArray: UnsafeMutableRawPointer?,
                  transform: (RecordBatch) throws(ConformanceFailure) -> RecordBatch) -> Int32 {
    status { () throws(ConformanceFailure) in
        let inSchema = try require(inSchema, "in_schema")
        let inArray = try require(inArray, "in_array")
        let outSchema = try require(outSchema, "out_schema")
        let outArray = try require(outArray, "out_array")
        let batch: RecordBatch
        do throws(ArrowError) {
            batch = try RecordBatch.importing(schema: bound(inSchema), array: bound(inArray))
        } catch {
            throw ConformanceFailure(error)
        }
        let result = try transform(batch)
        result.export(schema: bound(outSchema), array: bound(outArray))
    }
}

/// True if ColumnBuilder can build a column of `type` (it builds no structs).
private func buildable(_ type: ArrowType) -> Bool {
    switch type {
    case .structure: false
    case .list(let item), .fixedSizeList(let item, _): buildable(item.type)
    default: true
    }
}

/// A copy of `batch` made row by row with ColumnBuilder.append(from:row:).
/// Top-level large_utf8 columns become utf8.
private func deepCopy(_ batch: RecordBatch) throws(ConformanceFailure) -> RecordBatch {
    var fields: [ArrowField] = []
    var columns: [ArrowColumn] = []
    for (field, column) in zip(batch.fields, batch.columns) {
        guard buildable(column.type) else {
            throw ConformanceFailure("column \"\(field.name)\": cannot deep-copy \(column.type.displayName)")
        }
        var type = column.type
        if type == .largeUtf8 {
            var total = 0
            for row in 0..<column.length where column.isValid(row) { total += column.valueRange(row).count }
            guard total <= Int(Int32.max) else {
                throw ConformanceFailure("column \"\(field.name)\": \(total) bytes do not fit utf8")
            }
            type = .utf8
        }
        let builder = ColumnBuilder(type)
        for row in 0..<column.length { builder.append(from: column, row: row) }
        fields.append(ArrowField(field.name, type, nullable: field.nullable))
        columns.append(builder.finish())
    }
    do throws(ArrowError) {
        return try RecordBatch(fields: fields, columns: columns, length: batch.length)
    } catch {
        throw ConformanceFailure(error)
    }
}

/// Imports (moves) a batch, deep-copies it into Swift-owned memory and
/// exports the copy. Returns 0, or non-zero with arrow_conformance_last_error().
@_cdecl("arrow_conformance_roundtrip")
public func arrowConformanceRoundtrip(_ inSchema: UnsafeMutableRawPointer?, _ inArray: UnsafeMutableRawPointer?,
                                      _ outSchema: UnsafeMutableRawPointer?, _ outArray: UnsafeMutableRawPointer?) -> Int32 {
    pass(inSchema, inArray, outSchema, outArray, transform: deepCopy)
}

/// Imports (moves) a batch and exports its columns again without copying:
/// the output keeps the input's memory alive until it is released.
@_cdecl("arrow_conformance_reexport")
public func arrowConformanceReexport(_ inSchema: UnsafeMutableRawPointer?, _ inArray: UnsafeMutableRawPointer?,
                                     _ outSchema: UnsafeMutableRawPointer?, _ outArray: UnsafeMutableRawPointer?) -> Int32 {
    pass(inSchema, inArray, outSchema, outArray) { $0 }
}

/// The message of the last failed call ("" before any failure). Valid until
/// the next failure.
@_cdecl("arrow_conformance_last_error")
public func arrowConformanceLastError() -> UnsafePointer<CChar>? {
    lastError.pointer
}

// MARK: - Sample

/// Exports a batch built in Swift with every supported type. Python's
/// `expected_sample()` in arrow_roundtrip.py holds the same values: change
/// both together.
@_cdecl("arrow_conformance_sample")
public func arrowConformanceSample(_ outSchema: UnsafeMutableRawPointer?, _ outArray: UnsafeMutableRawPointer?) -> Int32 {
    status { () throws(ConformanceFailure) in
        let outSchema = try require(outSchema, "out_schema")
        let outArray = try require(outArray, "out_array")
        let batch: RecordBatch
        do throws(ArrowError) {
            batch = try makeSample()
        } catch {
            throw ConformanceFailure(error)
        }
        batch.export(schema: bound(outSchema), array: bound(outArray))
    }
}

private func makeSample() throws(ArrowError) -> RecordBatch {
    var fields: [ArrowField] = []
    var columns: [ArrowColumn] = []
    func add(_ field: ArrowField, _ column: ArrowColumn) {
        fields.append(field)
        columns.append(column)
    }

    let ids: [Int64] = [.min, -1, 0, 1, 42, .max, 6, 7, 8, 9, 10, 11]
    let id = ColumnBuilder(.int64)
    for value in ids { id.append(value) }
    add(ArrowField("id", .int64, nullable: false), id.finish())

    let flags: [Bool?] = [true, nil, false, true, true, false, false, nil, true, nil, false, true]
    let flag = ColumnBuilder(.bool)
    for value in flags { if let value { flag.append(value) } else { flag.appendNull() } }
    add(ArrowField("flag", .bool), flag.finish())

    let counts: [UInt64?] = [0, .max, nil, 1, 2, 3, 4, 5, nil, 6, 7, 8]
    let count = ColumnBuilder(.uint64)
    for value in counts { if let value { count.append(value) } else { count.appendNull() } }
    add(ArrowField("count", .uint64), count.finish())

    let scores32: [Float?] = [nil, 0.5, -1.25, 3, 1024, 0.1, nil, 2.75, -8.5, 100, .infinity, 1.5]
    let score32 = ColumnBuilder(.float32)
    for value in scores32 { if let value { score32.append(value) } else { score32.appendNull() } }
    add(ArrowField("score32", .float32), score32.finish())

    let scores64: [Double?] = [3.141592653589793, nil, -0.0, 1e300, -2.5e-300, nil, 0.1, .infinity, -.infinity, 0, 1, 2]
    let score64 = ColumnBuilder(.float64)
    for value in scores64 { if let value { score64.append(value) } else { score64.appendNull() } }
    add(ArrowField("score64", .float64), score64.finish())

    let texts: [String?] = ["hello", "", nil, "naïve café", "日本語", "emoji 🎉👍🏽", "tab\tquote\"back\\slash",
                            "line\nbreak", nil, "x", "ünïcödé", "Ω"]
    let text = ColumnBuilder(.utf8)
    for value in texts { text.append(value) }
    add(ArrowField("text", .utf8), text.finish())

    let large = ColumnBuilder(.largeUtf8)
    for value in texts.reversed() { large.append(value) }
    add(ArrowField("large", .largeUtf8), large.finish())

    let tagRows: [[String?]?] = [["a", "b"], [], nil, [""], ["naïve", "日本"], ["x", nil], nil, ["🎉"],
                                 [], ["one"], ["a", "b", "c"], [nil]]
    let tags = ColumnBuilder(.utf8List)
    for row in tagRows {
        guard let row else { tags.appendNull(); continue }
        for item in row { tags.items.append(item) }
        tags.endListRow()
    }
    add(ArrowField("tags", .utf8List), tags.finish())

    let weightRows: [[Double?]?] = [[1, 2.5], [], nil, [nil], [-1], [0.25, nil, 4], nil, [1e-10],
                                    [], [7], [1, 2, 3, 4], []]
    let weights = ColumnBuilder(.float64List)
    for row in weightRows {
        guard let row else { weights.appendNull(); continue }
        for item in row { if let item { weights.items.append(item) } else { weights.items.appendNull() } }
        weights.endListRow()
    }
    add(ArrowField("weights", .float64List), weights.finish())

    let vectors: [[Float]?] = [[1, 2, 3], nil, [0.5, -0.5, 0.25], [0, 0, 0], [1e-3, 1e3, -1], nil,
                               [7, 8, 9], [0.1, 0.2, 0.3], nil, [-1, -2, -3], [4, 5, 6], [1, 1, 1]]
    let embedding = ColumnBuilder(.embedding(width: 3))
    for row in vectors {
        guard let row else { embedding.appendNull(); continue }
        row.withUnsafeBufferPointer { embedding.append(vector: $0) }
    }
    add(ArrowField("embedding", .embedding(width: 3)), embedding.finish())

    // Columns exported with a non-zero offset: rows 5..<17 of 20.
    let longText = ColumnBuilder(.utf8)
    let longTags = ColumnBuilder(.utf8List)
    for i in 0..<20 {
        longText.append(i % 4 == 0 ? nil : "s\(i)")
        if i % 3 == 0 {
            longTags.appendNull()
        } else {
            for k in 0..<(i % 4) { longTags.items.append("t\(i)-\(k)") }
            longTags.endListRow()
        }
    }
    add(ArrowField("sliced_text", .utf8), longText.finish().slice(from: 5, count: 12))
    add(ArrowField("sliced_tags", .utf8List), longTags.finish().slice(from: 5, count: 12))

    return try RecordBatch(fields: fields, columns: columns, length: 12)
}

// MARK: - Describe

/// Borrows a batch and writes a JSON description of it into `buf` (at most
/// `cap` bytes, NUL included):
///   {"length": N, "columns": [{"name": …, "type": …, "nullable": …,
///    "null_count": …, "values": [...]}]}
/// where each value is read through ArrowColumn's readers (null for null
/// rows; floats as decimal numbers, or NaN/Infinity/-Infinity as Python's
/// json module writes them). Returns the length of the JSON in bytes
/// (without the NUL), whether or not it fitted, or -1 on error. The caller
/// keeps ownership of the batch.
@_cdecl("arrow_conformance_describe")
public func arrowConformanceDescribe(_ schema: UnsafeMutableRawPointer?, _ array: UnsafeMutableRawPointer?,
                                     _ buf: UnsafeMutablePointer<CChar>?, _ cap: Int64) -> Int64 {
    var json = ""
    let code = status { () throws(ConformanceFailure) in
        let schema = try require(schema, "schema")
        let array = try require(array, "array")
        let batch: RecordBatch
        do throws(ArrowError) {
            batch = try RecordBatch.borrowing(schema: UnsafePointer(bound(schema)), array: UnsafePointer(bound(array)))
        } catch {
            throw ConformanceFailure(error)
        }
        json = describe(batch)
    }
    guard code == 0 else { return -1 }
    let utf8 = Array(json.utf8)
    if let buf, cap > Int64(utf8.count) {
        utf8.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(start: buf, count: source.count).copyMemory(from: source)
        }
        buf[utf8.count] = 0
    }
    return Int64(utf8.count)
}

private func describe(_ batch: RecordBatch) -> String {
    var out = "{\"length\": \(batch.length), \"columns\": ["
    for (index, (field, column)) in zip(batch.fields, batch.columns).enumerated() {
        if index > 0 { out += ", " }
        out += "{\"name\": \(jsonString(field.name)), \"type\": \(jsonString(field.type.displayName)), "
        out += "\"nullable\": \(field.nullable), \"null_count\": \(column.nullCount), \"values\": ["
        for row in 0..<column.length {
            if row > 0 { out += ", " }
            out += jsonValue(column, row)
        }
        out += "]}"
    }
    return out + "]}"
}

/// Row `row` of `column` as JSON, read with the most specific reader.
private func jsonValue(_ column: ArrowColumn, _ row: Int) -> String {
    guard column.isValid(row) else { return "null" }
    switch column.type {
    case .bool: return column.bool(row) ? "true" : "false"
    case .int64: return String(column.int64(row))
    case .uint64: return String(column.uint64(row))
    case .float32: return jsonNumber(Double(column.float32(row)))
    case .float64: return jsonNumber(column.float64(row))
    case .utf8, .largeUtf8: return column.string(row).map(jsonString) ?? "null"
    case .list(let item) where item.type == .utf8:
        let items = column.stringList(row) ?? []
        return "[" + items.map { $0.map(jsonString) ?? "null" }.joined(separator: ", ") + "]"
    case .list(let item) where item.type == .float64:
        let items = column.float64List(row) ?? []
        return "[" + items.map { $0.map(jsonNumber) ?? "null" }.joined(separator: ", ") + "]"
    case .fixedSizeList(let item, _) where item.type == .float32:
        // float32Vector ignores item validity; nulls inside a vector are rare
        // but legal, so honour them.
        let vector = column.float32Vector(row)
        let range = column.valueRange(row)
        let items = column.items
        return "[" + zip(range, vector).map { index, value in
            items.isValid(index) ? jsonNumber(Double(value)) : "null"
        }.joined(separator: ", ") + "]"
    case .list, .fixedSizeList:
        let items = column.items
        return "[" + column.valueRange(row).map { jsonValue(items, $0) }.joined(separator: ", ") + "]"
    case .structure(let fields):
        // A struct's children are indexed by the struct's own offset.
        let parts = zip(fields, column.children).map { field, child in
            "\(jsonString(field.name)): \(jsonValue(child, column.offset + row))"
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }
}

private func jsonNumber(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
    return "\(value)"
}

private func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
