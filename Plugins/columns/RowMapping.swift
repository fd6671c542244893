import PipelineJSON
import PluginKit

// Shared by the row-by-row steps of this library (best_of_n,
// preference_pairs and the format_* steps): reading typed cells, and
// building the output batch with error rows and dropped rows.

/// What a step makes of one input row.
enum RowOutcome {
    /// One value per output column, in order.
    case values([JSONValue])
    /// An error row: the host moves it to errors.jsonl with the reason.
    case error(String)
    /// Left out of the output (the step counts it in its log).
    case drop
}

enum RowMapping {
    /// `batch` with `outputs` (replacing same-named columns, after the
    /// others), `removed` columns left out, one row per input row that is
    /// not dropped, and an `_error` column when a row failed.
    static func map(_ batch: RecordBatch, step: String, outputs: [ArrowField], removing removed: Set<String> = [],
                    _ body: (Int) throws(StepError) -> RowOutcome) throws(StepError) -> RecordBatch {
        let builders = outputs.map { ColumnBuilder($0.type) }
        var kept: [Int] = []
        var errors: [String?] = []
        for row in 0..<batch.length {
            switch try body(row) {
            case .drop:
                continue
            case .error(let reason):
                kept.append(row)
                errors.append("\(step): \(reason)")
                for builder in builders { builder.appendNull() }
            case .values(let values):
                guard values.count == outputs.count else {
                    throw .internal("\(step): \(values.count) values for \(outputs.count) columns")
                }
                kept.append(row)
                errors.append(nil)
                for (index, value) in values.enumerated() {
                    do throws(JSONColumnError) { try builders[index].append(json: value) } catch {
                        throw .internal("\(step): column \"\(outputs[index].name)\": \(error.message)")
                    }
                }
            }
        }
        let replaced = Set(outputs.map(\.name)).union(removed).union(["_error"])
        do {
            let taken = kept.count == batch.length ? batch : try batch.take(kept)
            var fields = taken.fields.filter { !replaced.contains($0.name) }
            var columns = fields.compactMap { taken.column($0.name) }
            for (field, builder) in zip(outputs, builders) {
                fields.append(field)
                columns.append(builder.finish())
            }
            if errors.contains(where: { $0 != nil }) {
                let builder = ColumnBuilder(.utf8)
                for error in errors { builder.append(error) }
                fields.append(ArrowField("_error", .utf8))
                columns.append(builder.finish())
            }
            return try RecordBatch(fields: fields, columns: columns, length: kept.count)
        } catch {
            throw .internal("\(step): \(error.message)")
        }
    }

    /// The column `name`, or a data error naming the parameter and what the input has.
    static func column(_ batch: RecordBatch, _ name: String, parameter: String, step: String) throws(StepError) -> ArrowColumn {
        guard let column = batch.column(name) else {
            throw .invalidData("\(step): no column \"\(name)\" (\(parameter)); the input has \(batch.fields.map(\.name).joined(separator: ", "))")
        }
        return column
    }

    /// A text cell: nil for null; a data error when the column is not text.
    static func text(_ column: ArrowColumn, _ row: Int, name: String, step: String) throws(StepError) -> String? {
        guard column.type == .utf8 || column.type == .largeUtf8 else {
            throw .invalidData("\(step): column \"\(name)\" is \(column.type.displayName), not utf8")
        }
        return column.string(row)
    }

    /// A list<utf8> cell: nil for null.
    static func texts(_ column: ArrowColumn, _ row: Int, name: String, step: String) throws(StepError) -> [String?]? {
        guard case .list(let item) = column.type, item.type == .utf8 || item.type == .largeUtf8 else {
            throw .invalidData("\(step): column \"\(name)\" is \(column.type.displayName), not list<utf8>")
        }
        return column.stringList(row)
    }

    /// A list of numbers (list<float64>, list<int64> or list<float32>) cell: nil for null.
    static func numbers(_ column: ArrowColumn, _ row: Int, name: String, step: String) throws(StepError) -> [Double?]? {
        guard case .list(let item) = column.type else {
            throw .invalidData("\(step): column \"\(name)\" is \(column.type.displayName), not a list of numbers")
        }
        guard column.isValid(row) else { return nil }
        let items = column.items
        switch item.type {
        case .float64: return column.float64List(row)
        case .int64: return column.valueRange(row).map { items.isValid($0) ? Double(items.int64($0)) : nil }
        case .float32: return column.valueRange(row).map { items.isValid($0) ? Double(items.float32($0)) : nil }
        default:
            throw .invalidData("\(step): column \"\(name)\" is \(column.type.displayName), not a list of numbers")
        }
    }

    /// The type of a list of {role, content} messages.
    static let messagesType = ArrowType.list(ArrowField("item", .structure([ArrowField("role", .utf8), ArrowField("content", .utf8)])))

    static func message(_ role: String, _ content: String) -> JSONValue {
        .object(["role": .string(role), "content": .string(content)])
    }
}
