import PluginKit

/// Reads a JSON Lines file: one JSON object per line, one row per object.
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
    }

    static let name = "load_jsonl"
    static let defaultMaxLineBytes = 64 << 20

    static let info = StepInfo(
        kind: .generator, id: "org.pipeline.load_jsonl", name: name, version: "1.0.0",
        description: """
            Reads a JSON Lines file, one JSON object per line, one row per object. Column types are \
            inferred per batch: strings → utf8, integers → int64, numbers → float64, booleans → bool, \
            arrays of strings → list<utf8>, arrays of numbers → list<float64>, anything else (objects, \
            mixed arrays, mixed kinds in a column) → utf8 holding the compact JSON text (strings stay \
            text). Missing keys and null are null; a duplicate key: the last value wins. Columns keep \
            the order their keys are first seen. Blank lines, CRLF and a UTF-8 byte order mark are fine. \
            A number no int64 or float64 holds unchanged (a 30-digit id, 1e400, more than 17 \
            significant digits) is never rounded: it fails the line, or with inexact_numbers: text \
            it is read as its text. With `embeddings`, row n also gets row n of a float32 .npy \
            matrix as a fixed_size_list<float32> column: large pools of vectors without JSON floats.
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
                "description":"A number that an int64 or a float64 cannot hold unchanged (an integer beyond 64 bits, more than 17 significant digits, beyond ±1.8e308 or below 2.2e-308): error, a bad line naming file:line:column; or text, read as its digits (the column becomes utf8 in that batch; inside an array, the array is kept as JSON text)."}}}
            """)

    private let reader: LineReader
    private let displayPath: String
    private let batchSize: Int
    private let skipBadLines: Bool
    private var rows = JSONRowAccumulator()
    private var skipped = SkipLog(step: name)
    private var exhausted = false
    private var reportedReserved: Set<String> = []
    private let matrix: NPYMatrixReader?
    private let embeddingColumn: String

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
        case "error": rows.inexactNumbersAsText = false
        case "text": rows.inexactNumbersAsText = true
        case let other: throw .invalidArgument("\(name): inexact_numbers must be \"error\" or \"text\" (got \"\(other)\")")
        }
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
        while rows.rowCount < batchSize && rows.textBytes < maxBatchTextBytes {
            guard let next = try reader.next(step: Self.name) else {
                exhausted = true
                reader.close()
                skipped.reportTotal(context: context, path: displayPath)
                break
            }
            switch next {
            case .tooLong(let number):
                try bad("\(displayPath):\(number): line longer than max_line_bytes (\(reader.maxLineBytes) bytes)",
                        context: context)
            case .line(let line):
                if line.count == 0 || line.isBlank { continue }
                do throws(JSONSyntaxError) {
                    try rows.add(line.bytes, count: line.count)
                } catch {
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
        let batch = try rows.makeBatch()
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
