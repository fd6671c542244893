import PipelineArrow
import PipelineJSON

/// Conversion between JSON rows and record batches, for `plugins try` and
/// tests. Column types are inferred from the values: strings → utf8,
/// integers → int64, other numbers → float64, booleans → bool, arrays of
/// strings → list<utf8>, arrays of numbers → list<float64>; anything else
/// (objects, mixed arrays) → utf8 holding the JSON text. Missing keys and
/// `null` are nulls.
public enum BatchJSON {
    public static func batch(rows: [[String: JSONValue]]) throws(ArrowError) -> RecordBatch {
        var names: [String] = []
        var seen = Set<String>()
        for row in rows {
            for key in row.keys.sorted() where seen.insert(key).inserted { names.append(key) }
        }
        var fields: [ArrowField] = []
        var columns: [ArrowColumn] = []
        for name in names {
            let values = rows.map { $0[name] ?? .null }
            // The host's row ids are uint64, whatever the JSON numbers look like.
            let type = name == "_row_id" ? .uint64 : inferType(values)
            let builder = ColumnBuilder(type)
            for value in values { append(value, to: builder) }
            fields.append(ArrowField(name, type))
            columns.append(builder.finish())
        }
        return try RecordBatch(fields: fields, columns: columns, length: rows.count)
    }

    static func inferType(_ values: [JSONValue]) -> ArrowType {
        var kinds = Set<String>()
        for value in values {
            switch value {
            case .null: continue
            case .bool: kinds.insert("bool")
            case .number: kinds.insert(value.int64Value != nil ? "int" : "float")
            case .string: kinds.insert("string")
            case .array(let items):
                let itemKinds = Set(items.map { item -> String in
                    switch item {
                    case .string: "string"
                    case .number: "number"
                    case .null: "null"
                    default: "other"
                    }
                }).subtracting(["null"])
                if itemKinds.isEmpty { kinds.insert("list") }
                else if itemKinds == ["string"] { kinds.insert("list<string>") }
                else if itemKinds == ["number"] { kinds.insert("list<number>") }
                else { kinds.insert("json") }
            case .object: kinds.insert("json")
            }
        }
        if kinds.isSubset(of: ["int"]) { return kinds.isEmpty ? .utf8 : .int64 }
        if kinds.isSubset(of: ["int", "float"]) { return .float64 }
        if kinds == ["bool"] { return .bool }
        if kinds == ["string"] { return .utf8 }
        if kinds.isSubset(of: ["list", "list<string>"]) { return .utf8List }
        if kinds.isSubset(of: ["list", "list<number>"]) { return .float64List }
        return .utf8
    }

    static func append(_ value: JSONValue, to builder: ColumnBuilder) {
        if value == .null { builder.appendNull(); return }
        switch builder.type {
        case .int64: builder.append(value.int64Value ?? 0)
        case .uint64: builder.append(UInt64(clamping: value.int64Value ?? 0))
        case .float64: builder.append(value.doubleValue ?? 0)
        case .bool: builder.append(value.boolValue ?? false)
        case .list(let item) where item.type == .utf8:
            for element in value.arrayValue ?? [] {
                if let string = element.stringValue { builder.items.append(string) } else { builder.items.appendNull() }
            }
            builder.endListRow()
        case .list:
            for element in value.arrayValue ?? [] {
                if let number = element.doubleValue { builder.items.append(number) } else { builder.items.appendNull() }
            }
            builder.endListRow()
        default:
            builder.append(value.stringValue ?? value.serialized)
        }
    }

    /// The rows of `batch` as JSON objects, columns in batch order.
    public static func rows(_ batch: RecordBatch) -> [String] {
        (0..<batch.length).map { row in
            var out = ""
            writeObject(batch, row: row, to: &out)
            return out
        }
    }

    /// The failed rows of `batch` (a step's error rows: the row's columns,
    /// `_row_id` and `_error`) as the lines of `errors.jsonl`, one object
    /// each: `{"step":…,"row_id":…,"error":…,"row":{…}}`. The row is
    /// nested, so a data column may have any name (`step` and `error`
    /// included) without clashing; `row_id` is null for a row without one.
    public static func errorRecords(_ batch: RecordBatch, step: String) -> [String] {
        let ids = batch.column("_row_id").flatMap { $0.type == .uint64 ? $0 : nil }
        let messages = batch.column("_error")
        var prefix = "{\"step\":"
        JSONValue.writeString(step, to: &prefix)
        return (0..<batch.length).map { row in
            var out = prefix + ",\"row_id\":"
            if let ids, ids.isValid(row) { out += String(ids.uint64(row)) } else { out += "null" }
            out += ",\"error\":"
            if let messages, messages.isValid(row) { out += value(messages, row).serialized } else { out += "null" }
            out += ",\"row\":"
            writeObject(batch, row: row, skipping: ["_row_id", "_error"], to: &out)
            return out + "}"
        }
    }

    /// One row as a JSON object, columns in batch order, leaving out `skipping`.
    static func writeObject(_ batch: RecordBatch, row: Int, skipping: Set<String> = [], to out: inout String) {
        out += "{"
        var first = true
        for (index, field) in batch.fields.enumerated() where !skipping.contains(field.name) {
            if !first { out += "," }
            first = false
            JSONValue.writeString(field.name, to: &out)
            out += ":"
            let column = batch.columns[index]
            // Integers as written, never through a Double (row ids
            // above 2^53, which expand_columns makes, must not round).
            switch column.type {
            case .int64 where column.isValid(row): out += String(column.int64(row))
            case .uint64 where column.isValid(row): out += String(column.uint64(row))
            default: out += value(column, row).serialized
            }
        }
        out += "}"
    }

    static func value(_ column: ArrowColumn, _ row: Int) -> JSONValue {
        guard column.isValid(row) else { return .null }
        switch column.type {
        case .bool: return .bool(column.bool(row))
        case .int64: return .number(Double(column.int64(row)))
        case .uint64: return .number(Double(column.uint64(row)))
        case .float32: return .number(Double(column.float32(row)))
        case .float64: return .number(column.float64(row))
        case .utf8, .largeUtf8: return .string(column.string(row) ?? "")
        case .list, .fixedSizeList: return .array(column.valueRange(row).map { value(column.items, $0) })
        case .structure(let fields):
            var object: [String: JSONValue] = [:]
            for (index, field) in fields.enumerated() {
                object[field.name] = value(column.children[index], column.offset + row)
            }
            return .object(object)
        }
    }
}
