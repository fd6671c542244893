import PluginKit

/// Reads a JSON Lines file: one JSON object per line, one row per object.
///
/// The columns are the same in every batch, for the whole file: declared
/// in `columns:`, or read in a first pass over the file that keeps only
/// per-key type state (JSONTypeInference); the rows are read in a second
/// pass. A generator is replayed from the start on resume, and both
/// passes read the same file the same way, so the rows, their order and
/// their ids do not change.
///
/// The file is streamed through a 1 MiB buffer (growing only for a longer
/// line, up to max_line_bytes); the JSON is scanned directly over the bytes.
/// Accepted: CRLF line ends, a UTF-8 byte order mark, blank lines (skipped),
/// a last line without a newline. Errors name the file and 1-based line
/// (and column for syntax errors).
struct LoadJSONL: PipelineStep {
    struct Parameters: Decodable {
        var path: String
        var batch_size: Int?
        var on_error: String?
        var max_line_bytes: Int?
        var embeddings: String?
        var embedding_column: String?
        var inexact_numbers: String?
        var columns: DeclaredColumns?
    }

    static let name = "load_jsonl"
    static let defaultMaxLineBytes = 64 << 20

    static let info = StepInfo(
        kind: .generator, id: "org.pipeline.load_jsonl", name: name, version: "3.0.0",
        description: """
            Reads a JSON Lines file, one JSON object per line, one row per object. Every batch has the \
            same columns, those of the whole file, in the order their keys first appear; a key missing \
            from a line, or null, is null in its row. Column types come from `columns:`, or from a \
            first pass over the whole file: strings → utf8, integers → int64, numbers → float64, \
            booleans → bool, arrays → lists and objects → structs, typed over all their values at \
            every depth (arrays of strings → list<utf8>, of integers → list<int64>, of numbers → \
            list<float64>, of objects → list<struct<…>>, struct fields in the order they first appear), \
            so that write_jsonl writes every nested value back as it was read. A struct member some \
            objects lack and none holds as null is left out again where it is null; where a member is \
            missing in some objects and null in others, the column is kept as exact JSON text \
            (utf8, arrow.json extension type, written back as JSON). A key whose values are of two \
            kinds (a number on one line, a string on another; also inside arrays and objects, named \
            like messages[].content) fails the step naming it and both lines, as does a float64 column \
            or list with an integer a float64 cannot hold exactly (beyond 2^53); declare such a column \
            json to keep every value as its JSON text. A duplicate key: the last value wins. Blank \
            lines, CRLF and a UTF-8 byte order mark are fine. A number no int64 or float64 holds \
            unchanged (a 30-digit id, 1e400, more than 17 significant digits) is never rounded: it fails \
            the line, or with inexact_numbers: text it is read as its text. With `embeddings`, row n \
            also gets row n of a float32 .npy matrix as a fixed_size_list<float32> column: large pools \
            of vectors without JSON floats. For progress, it tells the host how many rows to expect: \
            exactly, counted in the first pass; with columns: (no first pass) an estimate from the \
            file's size, revised with every batch and exact at the end of the file.
            """,
        inputs: [],
        outputs: [.init("*", "any", description: "One column per key of the objects.")],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["path"],
             "properties":{
              "path":{"type":"string","format":"input-path","description":"The JSON Lines file to read."},
              "batch_size":{"type":"integer","minimum":1,"default":1000,"description":"Rows per emitted batch."},
              "on_error":{"type":"string","enum":["fail","skip"],"default":"fail",
                "description":"What a bad line does: fail the step naming the file and line, or skip it (each skipped line is counted and logged as a warning, up to 10, then a total)."},
              "max_line_bytes":{"type":"integer","minimum":1,"maximum":1073741824,"default":\(defaultMaxLineBytes),
                "description":"The longest line accepted, in bytes; a longer line is a bad line (it is never read into memory whole)."},
              "embeddings":{"type":"string","format":"input-path","description":"A NumPy .npy float32 matrix (rows × dimensions), row-aligned with the file's rows: row n of the matrix goes with the n-th JSON object. Needs on_error: fail."},
              "embedding_column":{"type":"string","minLength":1,"default":"embedding","description":"The column the matrix rows go to."},
              "inexact_numbers":{"type":"string","enum":["error","text"],"default":"error",
                "description":"A number that an int64 or a float64 cannot hold unchanged (an integer beyond 64 bits, more than 17 significant digits, beyond ±1.8e308 or below 2.2e-308): error, a bad line naming file:line:column; or text, read as its digits (its column becomes utf8, every number of it as its text; inside an array or object, its column is kept as exact JSON text, utf8 of the arrow.json extension type, which write_jsonl writes as JSON)."},
              "columns":{"type":["object","array"],"format":"columns","additionalProperties":\(typeNames),"items":{"type":"object","additionalProperties":\(typeNames)},
                "description":"The file's columns and their types, instead of a first pass over the file to infer them: a list of one-entry mappings (- id: int64), in the order the columns take, or a mapping (columns in name order). Types: int64, float64 (integers too, if a float64 holds them exactly), bool, utf8 (strings), list<utf8>, list<float64>, list<int64>, json (any value as its compact JSON text, a string with its quotes; also any). A key not declared, or a value of another type, makes the line bad: the step fails naming file:line:column, or with on_error: skip the line is skipped and counted."}}}
            """)

    private static let typeNames = "{\"enum\":[\(JSONColumnType.declarable.map { "\"\($0.name)\"" }.joined(separator: ","))]}"

    private let reader: LineReader
    private let displayPath: String
    private let batchSize: Int
    private let skipBadLines: Bool
    private let inexactNumbersAsText: Bool
    /// The columns were declared; else they are read in a first pass.
    private let declared: Bool
    private var typed: Bool
    private var rows: JSONRowAccumulator
    private var skipped = SkipLog(step: name)
    private var exhausted = false
    private var reportedReserved: Set<String> = []
    private let matrix: NPYMatrixReader?
    private let embeddingColumn: String
    private var forecast = RowForecast()

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        let name = Self.name
        displayPath = try Check.path(parameters.path, step: name)
        batchSize = try Check.batchSize(parameters.batch_size ?? 1000, step: name)
        skipBadLines = try Check.onError(parameters.on_error ?? "fail", step: name)
        let maxLine = parameters.max_line_bytes ?? Self.defaultMaxLineBytes
        guard maxLine >= 1 && maxLine <= 1 << 30 else {
            throw .invalidArgument("\(name): max_line_bytes must be between 1 and 1073741824 (got \(maxLine))")
        }
        reader = try LineReader(path: displayPath, step: name, maxLineBytes: maxLine)
        embeddingColumn = parameters.embedding_column ?? "embedding"
        switch parameters.inexact_numbers ?? "error" {
        case "error": inexactNumbersAsText = false
        case "text": inexactNumbersAsText = true
        case let other: throw .invalidArgument("\(name): inexact_numbers must be \"error\" or \"text\" (got \"\(other)\")")
        }
        if let columns = parameters.columns {
            rows = JSONRowAccumulator(columns: try columns.checked(step: name), declared: true,
                                      inexactNumbersAsText: inexactNumbersAsText)
            declared = true
        } else {
            rows = JSONRowAccumulator(columns: [], declared: false, inexactNumbersAsText: inexactNumbersAsText)
            declared = false
        }
        typed = declared
        if let path = parameters.embeddings {
            guard !skipBadLines else {
                throw .invalidArgument("\(name): embeddings needs on_error: fail (a skipped line would shift every row against the matrix)")
            }
            matrix = try NPYMatrixReader(path: try Check.path(path, step: name), step: name)
        } else {
            matrix = nil
        }
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard !exhausted else { return nil }
        if context.isCancelled { throw .cancelled(Self.name) }
        if !typed {
            let (columns, count) = try inferColumns(context: context)
            rows = JSONRowAccumulator(columns: columns, declared: false, inexactNumbersAsText: inexactNumbersAsText)
            typed = true
            forecast.exactly(count, context: context)
        }
        while rows.rowCount < batchSize && rows.textBytes < maxBatchTextBytes {
            guard let next = try reader.next(step: Self.name) else {
                exhausted = true
                reader.close()
                skipped.reportTotal(context: context, path: displayPath)
                forecast.emitted(rows.rowCount, consumed: 0, of: 0, context: context)
                forecast.ended(context: context)
                break
            }
            switch next {
            case .tooLong(let number):
                try bad(tooLong(number), context: context)
            case .line(let line):
                if line.count == 0 || line.isBlank { continue }
                do throws(JSONSyntaxError) {
                    try rows.add(line.bytes, count: line.count, line: line.number)
                } catch {
                    if error.notInSchema && !declared {
                        // The first pass saw no such value: the file is not what it read.
                        throw .invalidData("\(Self.name): \(message(for: error, line: line)); the file changed while it was read (its column types come from a first pass over it)")
                    }
                    try bad(message(for: error, line: line), context: context)
                }
            }
        }
        if rows.ignoredReservedKeys.count > reportedReserved.count {
            for key in rows.ignoredReservedKeys.subtracting(reportedReserved).sorted() {
                context.log(.warning, "\(Self.name): \(displayPath): ignoring the key \"\(key)\": it names a column the host owns")
            }
            reportedReserved = rows.ignoredReservedKeys
        }
        guard rows.rowCount > 0 else {
            if let matrix, matrix.rowsRead < matrix.rows {
                throw .invalidData("\(Self.name): \(matrix.path) has \(matrix.rows) rows but \(displayPath) has \(matrix.rowsRead)")
            }
            return nil
        }
        if !exhausted {
            forecast.emitted(rows.rowCount, consumed: reader.input.consumed, of: reader.input.fileSize, context: context)
        }
        let path = displayPath
        let batch = try rows.makeBatch { "\(Self.name): \(path):\($0)" }
        guard let matrix else { return batch }
        let column: ArrowColumn
        if let mapped = try matrix.mappedRows(batch.length, step: Self.name) {
            column = mapped
        } else {
            let vectors = ColumnBuilder(.embedding(width: matrix.columns))
            try vectors.appendVectors(rows: batch.length) { (memory) throws(StepError) in
                try matrix.readRows(into: memory, step: Self.name)
            }
            column = vectors.finish()
        }
        if exhausted, matrix.rowsRead < matrix.rows {
            throw .invalidData("\(Self.name): \(matrix.path) has \(matrix.rows) rows but \(displayPath) has \(matrix.rowsRead)")
        }
        do {
            return try batch.setting(ArrowField(embeddingColumn, .embedding(width: matrix.columns), nullable: false),
                                     column)
        } catch {
            throw .internal(error.message)
        }
    }

    /// The first pass: the columns of the whole file, from every line the
    /// second pass will read as a row (bad lines fail here already, or are
    /// left out as they will be skipped), and how many rows those lines
    /// are. Then back to the start.
    private mutating func inferColumns(context: StepContext) throws(StepError) -> (columns: [JSONColumn], rows: Int) {
        var inference = JSONTypeInference(inexactNumbersAsText: inexactNumbersAsText)
        var count = 0
        var rowCount = 0
        while let next = try reader.next(step: Self.name) {
            count += 1
            if count & 0xFFF == 0 && context.isCancelled { throw .cancelled(Self.name) }
            switch next {
            case .tooLong(let number):
                guard skipBadLines else { throw .invalidData("\(Self.name): \(tooLong(number))") }
            case .line(let line):
                if line.count == 0 || line.isBlank { continue }
                do throws(JSONSyntaxError) {
                    try inference.add(line.bytes, count: line.count, line: line.number)
                    rowCount += 1
                } catch {
                    // Skipped lines are reported by the second pass, which meets them too.
                    guard skipBadLines else { throw .invalidData("\(Self.name): \(message(for: error, line: line))") }
                }
                if let conflict = inference.conflict { throw conflictError(conflict) }
            }
        }
        let columns: [JSONColumn]
        do throws(JSONTypeConflict) {
            columns = try inference.columns()
        } catch {
            throw conflictError(error)
        }
        try reader.rewind(step: Self.name)
        return (columns, rowCount)
    }

    private func conflictError(_ conflict: JSONTypeConflict) -> StepError {
        let fix: String
        switch conflict.reason {
        case .kinds:
            fix = "fix the data, or declare the column's type in columns: (json keeps any value as its JSON text)"
        case .inexactInteger:
            fix = "declare the column json in columns: to keep every number as its text, or write such integers as strings"
        }
        return .invalidData("\(Self.name): \(displayPath): \(conflict.message { "line \($0)" }); \(fix)")
    }

    private func tooLong(_ number: Int) -> String {
        "\(displayPath):\(number): line longer than max_line_bytes (\(reader.maxLineBytes) bytes)"
    }

    private func message(for error: JSONSyntaxError, line: Line) -> String {
        if error.atEnd && !line.terminated {
            return "\(displayPath):\(line.number): truncated: the file ends inside a JSON value"
        }
        if error.badUTF8 {
            return "\(displayPath):\(line.number):\(error.offset + 1): \(error.message), file offset \(line.fileOffset + error.offset)"
        }
        if error.message.hasPrefix("not a JSON object") {
            return "\(displayPath):\(line.number): \(error.message)"
        }
        return "\(displayPath):\(line.number):\(error.offset + 1): \(error.message)"
    }

    private mutating func bad(_ message: String, context: StepContext) throws(StepError) {
        guard skipBadLines else { throw .invalidData("\(Self.name): \(message)") }
        skipped.record(message, context: context)
    }
}

/// The `columns` parameter: a list of one-entry mappings (`- id: int64`),
/// columns in list order; or a mapping, columns in name order (the host
/// hands parameters over with sorted keys, so a mapping's order is lost).
struct DeclaredColumns: Decodable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Name and type name, as written; `checked` validates them.
    private var entries: [(name: String, type: String)] = []
    /// A list item that is not a one-entry mapping: its index and key count.
    private var badItem: (index: Int, keys: Int)?

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            for key in object.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                entries.append((key.stringValue, try object.decode(String.self, forKey: key)))
            }
            return
        }
        var list = try decoder.unkeyedContainer()
        var index = 0
        while !list.isAtEnd {
            let item = try list.nestedContainer(keyedBy: Key.self)
            if item.allKeys.count == 1, let key = item.allKeys.first {
                entries.append((key.stringValue, try item.decode(String.self, forKey: key)))
            } else if badItem == nil {
                badItem = (index, item.allKeys.count)
            }
            index += 1
        }
    }

    /// The columns; throws for an unknown type, an empty, reserved or repeated name.
    func checked(step: String) throws(StepError) -> [JSONColumn] {
        if let badItem {
            throw .invalidArgument("\(step): columns[\(badItem.index)] must be one name: type entry (it has \(badItem.keys))")
        }
        guard !entries.isEmpty else { throw .invalidArgument("\(step): columns is empty") }
        var columns: [JSONColumn] = []
        var seen = Set<String>()
        for (name, typeName) in entries {
            guard let type = JSONColumnType.declarable.first(where: { $0.name == typeName })?.type else {
                let known = JSONColumnType.declarable.map(\.name).joined(separator: ", ")
                throw .invalidArgument("\(step): columns: \"\(name)\" has the type \"\(typeName)\", which is not one of \(known)")
            }
            guard !name.isEmpty else { throw .invalidArgument("\(step): columns: a column has an empty name") }
            guard name != rowIdColumn && name != errorColumn else {
                throw .invalidArgument("\(step): columns: \"\(name)\" names a column the host owns")
            }
            guard seen.insert(name).inserted else {
                throw .invalidArgument("\(step): columns: \"\(name)\" is declared twice")
            }
            columns.append(JSONColumn(name: name, type: type))
        }
        return columns
    }
}

/// Counts skipped lines or records: one warning each for the first ten,
/// then a total at the end.
struct SkipLog {
    let step: String
    private(set) var count = 0
    private var reported = false
    static let detailed = 10

    init(step: String) { self.step = step }

    mutating func record(_ message: String, context: StepContext) {
        count += 1
        if count <= Self.detailed {
            context.log(.warning, "\(step): skipped \(message)")
        } else if count == Self.detailed + 1 {
            context.log(.warning, "\(step): more bad lines; only the total is reported from now on")
        }
    }

    mutating func reportTotal(context: StepContext, path: String, what: String = "lines") {
        guard count > 0, !reported else { return }
        reported = true
        context.log(.warning, "\(step): skipped \(count) bad \(what) of \(path)")
    }
}
