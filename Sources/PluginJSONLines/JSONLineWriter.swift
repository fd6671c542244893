// PluginJSONLines: what the data plugin (write_jsonl, the loaders) and the
// Hub plugin (push_to_hub) share, linked statically into each: a C-heap
// byte buffer, JSON text, and the JSON Lines encoding of a batch's rows.

import PluginKit

/// Writes rows of one batch as JSON Lines: one compact object per row, the
/// columns in batch order, without the host's `_error` (and `_row_id`
/// unless asked). Shared by write_jsonl and push_to_hub, so a pushed file
/// holds exactly the bytes a local one would.
///
/// Lists (variable or fixed size, nested to any depth) are JSON arrays and
/// structs JSON objects, members in field order. A struct member whose
/// field says `pipeline.null_is_absent` is left out where it is null (the
/// loader read it from objects that lacked it); any other null is written
/// as `null`. A text field of the `arrow.json` extension type holds JSON
/// text, written as that JSON (compacted and checked), not as a string.
public struct JSONLineWriter {
    private var writers: [ValueWriter] = []
    private let step: String

    public init(_ batch: RecordBatch, includeRowId: Bool, step: String) {
        self.step = step
        for (index, field) in batch.fields.enumerated() {
            if field.name == errorColumn || (field.name == rowIdColumn && !includeRowId) { continue }
            writers.append(ValueWriter(field: field, column: batch.columns[index], first: writers.isEmpty))
        }
    }

    /// Appends row `row` and its newline.
    public func append(_ row: Int, to out: ByteArena) throws(StepError) {
        out.append(UInt8(ascii: "{"))
        for writer in writers {
            out.append(writer.key.base, count: writer.key.count)
            if let problem = writer.write(row, to: out) {
                throw .invalidData("\(step): column \"\(writer.name)\", row \(row + 1) of the batch: \(problem)")
            }
        }
        out.append(UInt8(ascii: "}"))
        out.append(UInt8(ascii: "\n"))
    }
}

/// How the values of one field are written, worked out once per column.
private indirect enum JSONPlan {
    case bool, int64, uint64, float32, float64, text
    /// Text holding JSON (`arrow.json`): written as that JSON.
    case jsonText
    case list(JSONPlan)
    /// Fields: `"name":` ready to copy, whether a null leaves the member out, and the plan.
    case structure([(key: [UInt8], omitNull: Bool, plan: JSONPlan)])

    init(_ field: ArrowField) {
        if field.isJSONText {
            self = .jsonText
            return
        }
        switch field.type {
        case .bool: self = .bool
        case .int64: self = .int64
        case .uint64: self = .uint64
        case .float32: self = .float32
        case .float64: self = .float64
        case .utf8, .largeUtf8: self = .text
        case .list(let item), .fixedSizeList(let item, _): self = .list(JSONPlan(item))
        case .structure(let fields):
            self = .structure(fields.map { field in
                let key = ByteArena(capacity: field.name.utf8.count + 8)
                var name = field.name
                name.withUTF8 { JSONText.appendValidString($0, to: key) }
                key.append(UInt8(ascii: ":"))
                return (Array(UnsafeBufferPointer(start: key.base, count: key.count)), field.nullIsAbsent, JSONPlan(field))
            })
        }
    }
}

/// Writes one column's values as JSON.
private final class ValueWriter {
    let name: String
    /// `"name":`, with a leading comma unless first.
    let key: ByteArena
    private let column: ArrowColumn
    private let plan: JSONPlan

    init(field: ArrowField, column: ArrowColumn, first: Bool) {
        name = field.name
        self.column = column
        let key = ByteArena(capacity: field.name.utf8.count + 8)
        if !first { key.append(UInt8(ascii: ",")) }
        var keyText = field.name
        keyText.withUTF8 { JSONText.appendValidString($0, to: key) }
        key.append(UInt8(ascii: ":"))
        self.key = key
        plan = JSONPlan(field)
    }

    /// Writes row `row`; returns a problem (invalid UTF-8, text that is not JSON) or nil.
    @inline(__always)
    func write(_ row: Int, to out: ByteArena) -> String? {
        Self.write(column, plan, row, to: out)
    }

    private static func write(_ column: ArrowColumn, _ plan: JSONPlan, _ row: Int, to out: ByteArena) -> String? {
        guard column.isValid(row) else {
            out.append("null" as StaticString)
            return nil
        }
        switch plan {
        case .bool:
            out.append(column.bool(row) ? "true" as StaticString : "false")
        case .int64:
            JSONText.appendInt(column.int64(row), to: out)
        case .uint64:
            JSONText.appendUInt(column.uint64(row), to: out)
        case .float32:
            JSONText.appendFloat(column.float32(row), to: out)
        case .float64:
            JSONText.appendDouble(column.float64(row), to: out)
        case .text:
            if let bad = JSONText.appendString(column.utf8Bytes(row), validating: true, to: out) {
                return "invalid UTF-8 at byte offset \(bad) of the value"
            }
        case .jsonText:
            if let problem = JSONText.appendCompactJSON(column.utf8Bytes(row), to: out) {
                return "the value is arrow.json but not one JSON value: \(problem)"
            }
        case .list(let itemPlan):
            let items = column.items
            out.append(UInt8(ascii: "["))
            var first = true
            for index in column.valueRange(row) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                if let problem = write(items, itemPlan, index, to: out) { return problem }
            }
            out.append(UInt8(ascii: "]"))
        case .structure(let fields):
            out.append(UInt8(ascii: "{"))
            var first = true
            // A struct's row i is row offset + i of each child.
            let childRow = column.offset + row
            for (index, field) in fields.enumerated() {
                let child = column.children[index]
                if field.omitNull && !child.isValid(childRow) { continue }
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                field.key.withUnsafeBufferPointer { key in
                    if let base = key.baseAddress { out.append(base, count: key.count) }
                }
                if let problem = write(child, field.plan, childRow, to: out) { return problem }
            }
            out.append(UInt8(ascii: "}"))
        }
        return nil
    }
}
