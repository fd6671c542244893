import PluginKit

/// Which row of a group of duplicates is kept: the first, or the one with
/// the highest value in a score column (ties: the first of them). A null or
/// NaN score ranks below every number.
enum KeepRule: Equatable {
    case first
    case highest(String)

    init(_ text: String, step: String) throws(StepError) {
        if text == "first" {
            self = .first
        } else if text.hasPrefix("max:"), text.count > 4 {
            self = .highest(String(text.dropFirst(4)))
        } else {
            throw .invalidArgument("\(step): keep must be first or max:<column>, got \"\(text)\"")
        }
    }

    /// The score column's values for a batch (int64 or float64), -infinity
    /// for a null or NaN.
    static func scores(_ batch: RecordBatch, column: String, step: String) throws(StepError) -> [Double] {
        guard let values = batch.column(column) else {
            throw .invalidData("\(step): keep: max:\(column) names a column the input does not have (it has \(batch.fields.map(\.name).joined(separator: ", ")))")
        }
        var scores = [Double](repeating: -.infinity, count: batch.length)
        for row in 0..<batch.length where values.isValid(row) {
            let value: Double
            switch values.type {
            case .float64: value = values.float64(row)
            case .int64: value = Double(values.int64(row))
            default:
                throw .invalidData("\(step): keep: max:\(column): the column is \(values.type.displayName), not int64 or float64")
            }
            if !value.isNaN { scores[row] = value }
        }
        return scores
    }

    static let parameterDescription = """
        Which row of a group of duplicates is kept: first (the earliest in input order), or max:<column> \
        (the highest value of that int64 or float64 column; ties go to the earliest; null and NaN rank lowest).
        """
}

/// What happens to a duplicate row.
enum DuplicateMode: String {
    /// Left out (and counted in the log).
    case drop
    /// Kept, with `duplicate_of` set to the `_row_id` of the row kept for its group.
    case mark

    static let parameterDescription = """
        drop: duplicates are left out (their count is logged); mark: every row is kept and the column \
        duplicate_of (int64) holds the _row_id of the row kept for its group, null on kept rows.
        """
}

/// The rows of one input batch taken in order, each with its `duplicate_of`
/// (or nil when kept), plus error rows with their reason.
struct BatchVerdicts {
    var keep: [Int] = []
    var duplicateOf: [Int: UInt64] = [:]
    var errors: [Int: String] = [:]

    /// The output batch: kept rows (and, in mark mode, duplicates with
    /// `duplicate_of`) and error rows, in input order; nil when none.
    func output(_ batch: RecordBatch, mode: DuplicateMode, step: String) throws(StepError) -> RecordBatch? {
        let rows: [Int]
        if mode == .mark {
            rows = Array(0..<batch.length)
        } else {
            rows = (keep + errors.keys).sorted()
        }
        guard !rows.isEmpty else { return nil }
        do {
            var out = rows.count == batch.length ? batch : try batch.take(rows)
            if mode == .mark {
                let column = ColumnBuilder(.int64)
                column.reserve(rows.count)
                for row in rows {
                    if let kept = duplicateOf[row] { column.append(Int64(bitPattern: kept)) } else { column.appendNull() }
                }
                out = try out.setting(ArrowField("duplicate_of", .int64), column.finish())
            }
            if !errors.isEmpty {
                let column = ColumnBuilder(.utf8)
                for row in rows { column.append(errors[row]) }
                out = try out.removing("_error").setting(ArrowField("_error", .utf8), column.finish())
            }
            return out
        } catch {
            throw .internal("\(step): \(error.message)")
        }
    }
}

/// The `_row_id`s of a batch (the host puts them in every batch).
func rowIDs(_ batch: RecordBatch, step: String) throws(StepError) -> ArrowColumn {
    guard let ids = batch.column("_row_id"), ids.type == .uint64 else {
        throw .invalidData("\(step): the input has no uint64 _row_id column (the host adds it to every batch)")
    }
    return ids
}

/// The text column of a batch, checked to be utf8.
func textColumn(_ batch: RecordBatch, _ name: String, step: String) throws(StepError) -> ArrowColumn {
    guard let column = batch.column(name) else {
        throw .invalidData("\(step): no column \"\(name)\" (column); the input has \(batch.fields.map(\.name).joined(separator: ", "))")
    }
    guard column.type == .utf8 || column.type == .largeUtf8 else {
        throw .invalidData("\(step): column \"\(name)\" is \(column.type.displayName), not utf8")
    }
    return column
}
