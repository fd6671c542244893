import PluginKit

// What the row steps of this plugin share: reading a text column of a
// batch, and returning the kept rows with the failed ones as error rows
// (`_error`, which the host moves to errors.jsonl), in input order.

enum RowOutcome {
    /// The column, or a run error naming the step and parameter when the batch lacks it.
    static func column(_ batch: RecordBatch, _ name: String, step: String, parameter: String) throws(StepError) -> ArrowColumn {
        guard let column = batch.column(name) else {
            throw .invalidData("\(step): \(parameter): the input has no column \"\(name)\"")
        }
        switch column.type {
        case .utf8, .largeUtf8: return column
        default: throw .invalidData("\(step): \(parameter): column \"\(name)\" is not text")
        }
    }

    /// The kept rows and the error rows, in input order, with `added`
    /// columns (one value per input row) set on them.
    static func assemble(_ batch: RecordBatch, kept: [Int], failed: [Int: String],
                         added: [(ArrowField, (ColumnBuilder, Int) -> Void)] = [], step: String) throws(StepError) -> RecordBatch {
        let rows = (kept + failed.keys).sorted()
        do {
            var out = rows.count == batch.length ? batch : try batch.take(rows)
            for (field, fill) in added {
                let builder = ColumnBuilder(field.type)
                for row in rows { fill(builder, row) }
                out = try out.removing(field.name).setting(field, builder.finish())
            }
            if !failed.isEmpty {
                let errors = ColumnBuilder(.utf8)
                for row in rows { errors.append(failed[row]) }
                out = try out.removing("_error").setting(ArrowField("_error", .utf8), errors.finish())
            }
            return out
        } catch {
            throw .internal("\(step): \(error.message)")
        }
    }
}
