// PluginJSONLines: what the data plugin (write_jsonl, the loaders) and the
// Hub plugin (push_to_hub) share, linked statically into each: a C-heap
// byte buffer, JSON text, and the JSON Lines encoding of a batch's rows.

import PluginKit

/// Writes rows of one batch as JSON Lines: one compact object per row, the
/// columns in batch order, without the host's `_error` (and `_row_id`
/// unless asked). Shared by write_jsonl and push_to_hub, so a pushed file
/// holds exactly the bytes a local one would.
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

/// Writes one column's values as JSON.
private final class ValueWriter {
    let name: String
    /// `"name":`, with a leading comma unless first.
    let key: ByteArena
    private let column: ArrowColumn
    private let kind: Kind

    private enum Kind {
        case bool, int64, uint64, float32, float64, text, list, structure([ArrowField])
    }

    init(field: ArrowField, column: ArrowColumn, first: Bool) {
        name = field.name
        self.column = column
        let key = ByteArena(capacity: field.name.utf8.count + 8)
        if !first { key.append(UInt8(ascii: ",")) }
        var keyText = field.name
        keyText.withUTF8 { JSONText.appendValidString($0, to: key) }
        key.append(UInt8(ascii: ":"))
        self.key = key
        kind = Self.kindOf(column.type)
    }

    private static func kindOf(_ type: ArrowType) -> Kind {
        switch type {
        case .bool: .bool
        case .int64: .int64
        case .uint64: .uint64
        case .float32: .float32
        case .float64: .float64
        case .utf8, .largeUtf8: .text
        case .list, .fixedSizeList: .list
        case .structure(let fields): .structure(fields)
        }
    }

    /// Writes row `row`; returns a problem (invalid UTF-8) or nil.
    @inline(__always)
    func write(_ row: Int, to out: ByteArena) -> String? {
        Self.write(column, kind, row, to: out)
    }

    private static func write(_ column: ArrowColumn, _ kind: Kind, _ row: Int, to out: ByteArena) -> String? {
        guard column.isValid(row) else {
            out.append("null" as StaticString)
            return nil
        }
        switch kind {
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
        case .list:
            let items = column.items
            let itemKind = kindOf(items.type)
            out.append(UInt8(ascii: "["))
            var first = true
            for index in column.valueRange(row) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                if let problem = write(items, itemKind, index, to: out) { return problem }
            }
            out.append(UInt8(ascii: "]"))
        case .structure(let fields):
            out.append(UInt8(ascii: "{"))
            for (index, field) in fields.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                var name = field.name
                name.withUTF8 { JSONText.appendValidString($0, to: out) }
                out.append(UInt8(ascii: ":"))
                let child = column.children[index]
                if let problem = write(child, kindOf(child.type), column.offset + row, to: out) { return problem }
            }
            out.append(UInt8(ascii: "}"))
        }
        return nil
    }
}
