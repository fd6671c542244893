import PipelineArrow
import PipelineJSON

/// Conversion between JSON rows and record batches, for `plugins try` and
/// tests.
///
/// Reading rows, column types are inferred from the values, at every depth:
/// strings → utf8, integers → int64, other numbers → float64, booleans →
/// bool, arrays → list of their items' type (list<utf8>, list<float64>,
/// list<struct<…>>…), objects → struct of their members (in name order: a
/// JSONValue object keeps no order). A member some objects lack and none
/// holds as null is marked `pipeline.null_is_absent`, as load_jsonl marks
/// it. Where values at one place are of two kinds, or a member is missing
/// in one object and null in another, the column is utf8 holding each
/// value's JSON text instead. Missing keys and `null` are nulls.
///
/// Writing rows, lists are arrays and structs objects (members in field
/// order, a null `pipeline.null_is_absent` member left out), integers are
/// written as they are (never through a double), and an `arrow.json` text
/// column is written as its JSON, as write_jsonl writes them.
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
            let field = name == "_row_id" ? ArrowField(name, .uint64) : ArrowField(name, inferType(values))
            let builder = ColumnBuilder(field.type)
            for value in values { append(value, to: builder) }
            fields.append(field)
            columns.append(builder.finish())
        }
        return try RecordBatch(fields: fields, columns: columns, length: rows.count)
    }

    /// The type of a column holding `values` (utf8 JSON text when no other fits).
    static func inferType(_ values: [JSONValue]) -> ArrowType {
        var shape = Shape.unknown
        for value in values { shape = shape.adding(value) }
        return shape.arrowType ?? .utf8
    }

    /// What the values at one place have been.
    private indirect enum Shape {
        case unknown
        case bool
        case number(float: Bool)
        case string
        case list(Shape)
        /// Members by name: their shape, whether some object lacks them, whether one holds null.
        case object(count: Int, [String: (shape: Shape, absent: Bool, null: Bool)])
        /// Two kinds met.
        case conflict

        func adding(_ value: JSONValue) -> Shape {
            switch (self, value) {
            case (_, .null), (.conflict, _): return self
            case (.unknown, .bool), (.bool, .bool): return .bool
            case (.unknown, .number(let n)), (.number, .number(let n)):
                var float = JSONValue.number(n).int64Value == nil
                if case .number(let before) = self { float = float || before }
                return .number(float: float)
            case (.unknown, .string), (.string, .string): return .string
            case (.unknown, .array(let items)):
                return .list(items.reduce(Shape.unknown) { $0.adding($1) })
            case (.list(let item), .array(let items)):
                return .list(items.reduce(item) { $0.adding($1) })
            case (.unknown, .object(let members)):
                return Shape.object(count: 0, [:]).adding(.object(members))
            case (.object(let count, var known), .object(let members)):
                for (name, member) in members {
                    var entry = known[name] ?? (Shape.unknown, count > 0, false)
                    if member == .null { entry.null = true } else { entry.shape = entry.shape.adding(member) }
                    known[name] = entry
                }
                for name in known.keys where members[name] == nil { known[name]?.absent = true }
                return .object(count: count + 1, known)
            default:
                return .conflict
            }
        }

        /// Nil where only JSON text keeps the values.
        var arrowType: ArrowType? {
            switch self {
            case .unknown, .string: return .utf8
            case .bool: return .bool
            case .number(let float): return float ? .float64 : .int64
            case .list(let item): return item.arrowType.map { .list(ArrowField("item", $0)) }
            case .object(_, let members):
                var fields: [ArrowField] = []
                for name in members.keys.sorted() {
                    guard let member = members[name], !(member.absent && member.null),
                          let type = member.shape.arrowType else { return nil }
                    fields.append(ArrowField(name, type,
                                             metadata: member.absent ? [ArrowField.nullIsAbsentKey: "true"] : [:]))
                }
                return .structure(fields)
            case .conflict: return nil
            }
        }
    }

    /// Appends `value` (of the type `inferType` gave) to `builder`.
    static func append(_ value: JSONValue, to builder: ColumnBuilder) {
        if value == .null { builder.appendNull(); return }
        switch builder.type {
        case .int64: builder.append(value.int64Value ?? 0)
        case .uint64: builder.append(UInt64(clamping: value.int64Value ?? 0))
        case .float64: builder.append(value.doubleValue ?? 0)
        case .bool: builder.append(value.boolValue ?? false)
        case .list:
            for element in value.arrayValue ?? [] { append(element, to: builder.items) }
            builder.endListRow()
        case .structure(let fields):
            let members = value.objectValue ?? [:]
            for (index, field) in fields.enumerated() { append(members[field.name] ?? .null, to: builder.field(index)) }
            builder.endStructRow()
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

    /// The column names of `batch` (but `skipping`) and its rows' values in that order.
    public static func table(_ batch: RecordBatch, skipping: Set<String> = ["_row_id"]) -> (columns: [String], rows: [[JSONValue]]) {
        let kept = batch.fields.indices.filter { !skipping.contains(batch.fields[$0].name) }
        let rows = (0..<batch.length).map { row in kept.map { value(batch.columns[$0], row) } }
        return (kept.map { batch.fields[$0].name }, rows)
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
            write(batch.columns[index], field, row, to: &out)
        }
        out += "}"
    }

    /// Row `row` of `column` (described by `field`) as JSON text.
    static func write(_ column: ArrowColumn, _ field: ArrowField, _ row: Int, to out: inout String) {
        guard column.isValid(row) else { out += "null"; return }
        if field.isJSONText, let text = column.string(row), let compact = compactJSON(text) {
            out += compact
            return
        }
        switch column.type {
        // Integers as written, never through a Double (row ids above
        // 2^53, which expand_columns makes, must not round).
        case .int64: out += String(column.int64(row))
        case .uint64: out += String(column.uint64(row))
        case .list(let item), .fixedSizeList(let item, _):
            out += "["
            var first = true
            for index in column.valueRange(row) {
                if !first { out += "," }
                first = false
                write(column.items, item, index, to: &out)
            }
            out += "]"
        case .structure(let fields):
            out += "{"
            var first = true
            for (index, member) in fields.enumerated() {
                let child = column.children[index]
                if member.nullIsAbsent && !child.isValid(column.offset + row) { continue }
                if !first { out += "," }
                first = false
                JSONValue.writeString(member.name, to: &out)
                out += ":"
                write(child, member, column.offset + row, to: &out)
            }
            out += "}"
        default:
            out += value(column, row).serialized
        }
    }

    /// The text without white space outside strings, if it is one JSON value; else nil.
    static func compactJSON(_ text: String) -> String? {
        guard (try? JSONValue(parsing: text)) != nil else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var inString = false, escaped = false
        for byte in text.utf8 {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true }
                else if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                continue
            }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
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
