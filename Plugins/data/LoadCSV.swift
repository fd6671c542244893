#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PluginKit

/// Reads a CSV file (RFC 4180): quoted fields with `""` escapes, delimiters
/// and line breaks inside quotes, LF or CRLF record ends, a UTF-8 byte
/// order mark. Blank lines are skipped. Streamed through a 1 MiB buffer
/// that grows only for a longer record (up to max_record_bytes).
///
/// Types (infer_types): over the whole file, in a first pass that keeps
/// only per-column state, a column whose every non-empty value is an
/// integer is int64, whose every non-empty value is a number is float64
/// (unless one of its integers is one a double does not hold exactly:
/// then utf8), else utf8; an empty field is null. Every batch has those
/// types. Numbers are written as in JSON, optionally with a leading `+` or
/// a bare `.5` / `5.`; a number with a leading zero (`007`) or surrounding
/// spaces stays text. A utf8 column holds each field's text as written, so
/// no value changes whatever the column's type. Without infer_types every
/// column is utf8, an empty field is "", and the file is read once.
struct LoadCSV: PipelineStep {
    struct Parameters: Decodable {
        var path: String
        var batch_size: Int?
        var delimiter: String?
        var header: Bool?
        var columns: [String]?
        var infer_types: Bool?
        var on_error: String?
        var max_record_bytes: Int?
    }

    static let name = "load_csv"
    static let defaultMaxRecordBytes = 64 << 20

    static let info = StepInfo(
        kind: .generator, id: "org.pipeline.load_csv", name: name, version: "2.0.0",
        description: """
            Reads a CSV file (RFC 4180: quoted fields, "" escapes, line breaks in quotes, LF or CRLF, \
            a UTF-8 byte order mark). With infer_types, a first pass over the whole file types each \
            column for every batch: int64 if its non-empty values are all integers, float64 if all \
            numbers (and every integer among them one a float64 holds exactly), else utf8, each field \
            as written; empty fields are null. For progress, it tells the host how many rows to expect: \
            exactly, counted in that first pass; without infer_types an estimate from the file's size, \
            revised with every batch and exact at the end of the file.
            """,
        inputs: [],
        outputs: [.init("*", "any", description: "One column per CSV column.")],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["path"],
             "properties":{
              "path":{"type":"string","format":"input-path","description":"The CSV file to read."},
              "batch_size":{"type":"integer","minimum":1,"default":1000,"description":"Rows per emitted batch."},
              "delimiter":{"type":"string","minLength":1,"maxLength":1,"default":",","description":"The field separator, one ASCII character (e.g. \\",\\", \\";\\", \\"\\\\t\\")."},
              "header":{"type":"boolean","default":true,"description":"The first record names the columns."},
              "columns":{"type":"array","items":{"type":"string"},"format":"columns","description":"Column names: required when header is false; with a header, renames its columns (same count)."},
              "infer_types":{"type":"boolean","default":true,"description":"Make int64 and float64 columns of numeric columns (typed over the whole file, in a first pass over it, so every batch has the same types), and empty fields null; otherwise every column is utf8 and the file is read once. A column with a number that int64 or float64 cannot hold unchanged (a 30-digit id, 1e400, more than 17 significant digits, an integer beyond 2^53 beside numbers with a fraction) stays utf8: digits are never rounded."},
              "on_error":{"type":"string","enum":["fail","skip"],"default":"fail",
                "description":"What a bad record (wrong number of fields, invalid UTF-8, text after a closing quote) does: fail the step naming the file and line, or skip it (logged, up to 10, then a total). An unterminated quote always fails."},
              "max_record_bytes":{"type":"integer","minimum":1,"maximum":1073741824,"default":\(defaultMaxRecordBytes),
                "description":"The longest record accepted, in bytes; a longer one fails the step."}}}
            """)

    private struct Field {
        var start: Int
        var length: Int
    }

    /// Why a record is bad; `lines` counts the line breaks from the start
    /// of the record to the problem; `position` is where it was found.
    private struct Failure: Error {
        var message: String
        var lines: Int
        var position: Int
        var fatal: Bool
    }

    private let input: FileInput
    private let path: String
    private let delimiter: UInt8
    private let hasHeader: Bool
    private let givenNames: [String]?
    private let inferTypes: Bool
    private let skipBadRecords: Bool
    private let batchSize: Int
    private let maxRecordBytes: Int
    private var names: [String] = []
    private var keep: [Bool] = []
    /// Per column, from the first pass (infer_types).
    private var types: [ArrowType] = []
    /// The line of each row of the batch being built.
    private var rowLines: [Int] = []
    private var started = false
    private var exhausted = false
    private var line = 1                 // where the next record starts
    private let arena = ByteArena(capacity: 1 << 16)
    private var fields: [Field] = []     // row-major, names.count per row
    private var rowCount = 0
    private var skipped = SkipLog(step: name)
    private var forecast = RowForecast()

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        let name = Self.name
        path = try Check.path(parameters.path, step: name)
        batchSize = try Check.batchSize(parameters.batch_size ?? 1000, step: name)
        skipBadRecords = try Check.onError(parameters.on_error ?? "fail", step: name)
        let delimiter = Array((parameters.delimiter ?? ",").utf8)
        guard delimiter.count == 1, let byte = delimiter.first, byte < 0x80,
              byte != UInt8(ascii: "\""), byte != 0x0A, byte != 0x0D else {
            throw .invalidArgument("\(name): delimiter must be one ASCII character other than a quote or a line break (got \"\(parameters.delimiter ?? "")\")")
        }
        self.delimiter = byte
        hasHeader = parameters.header ?? true
        inferTypes = parameters.infer_types ?? true
        givenNames = parameters.columns
        if !hasHeader {
            guard let columns = parameters.columns, !columns.isEmpty else {
                throw .invalidArgument("\(name): columns is required when header is false")
            }
        }
        maxRecordBytes = parameters.max_record_bytes ?? Self.defaultMaxRecordBytes
        guard maxRecordBytes >= 1 && maxRecordBytes <= 1 << 30 else {
            throw .invalidArgument("\(name): max_record_bytes must be between 1 and 1073741824 (got \(maxRecordBytes))")
        }
        if let columns = parameters.columns {
            do throws(StepError) { try Self.checkNames(columns, what: "columns") } catch {
                throw .invalidArgument(error.message)
            }
        }
        input = try FileInput(path: path, step: name, limit: maxRecordBytes + 2)
    }

    /// No empty and no duplicate names; `what` starts the message.
    private static func checkNames(_ names: [String], what: String) throws(StepError) {
        var seen = Set<String>()
        for (index, name) in names.enumerated() {
            guard !name.isEmpty else { throw .invalidData("\(Self.name): \(what): column \(index + 1) has an empty name") }
            guard seen.insert(name).inserted else { throw .invalidData("\(Self.name): \(what): two columns are called \"\(name)\"") }
        }
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard !exhausted else { return nil }
        if context.isCancelled { throw .cancelled(Self.name) }
        if !started {
            started = true
            if inferTypes { try inferColumnTypes(context: context) }
            if !exhausted { try start(context: context) }
            if exhausted {
                input.closeFile()
                forecast.ended(context: context)
                return nil
            }
        }
        while rowCount < batchSize && arena.count < maxBatchTextBytes {
            let before = fields.count, arenaBefore = arena.count
            guard let record = try nextRecord(context: context) else {
                exhausted = true
                input.closeFile()
                skipped.reportTotal(context: context, path: path, what: "records")
                forecast.emitted(rowCount, consumed: 0, of: 0, context: context)
                forecast.ended(context: context)
                break
            }
            if record.count != names.count {
                fields.removeLast(fields.count - before)
                arena.count = arenaBefore
                let message = wrongCount(record)
                guard skipBadRecords else { throw .invalidData("\(Self.name): \(message)") }
                skipped.record(message, context: context)
                continue
            }
            rowLines.append(record.line)
            rowCount += 1
        }
        guard rowCount > 0 else { return nil }
        if !exhausted { forecast.emitted(rowCount, consumed: input.consumed, of: input.fileSize, context: context) }
        return try makeBatch()
    }

    private func wrongCount(_ record: (line: Int, count: Int)) -> String {
        "\(path):\(record.line): expected \(names.count) fields\(hasHeader ? " (as the header)" : ""), found \(record.count)"
    }

    /// What the first pass learns of a column.
    private struct ColumnTyping {
        var sawInt = false
        var sawFloat = false
        var sawText = false
        /// An integer a double does not hold exactly.
        var sawInexactInteger = false

        mutating func add(_ p: UnsafePointer<UInt8>, _ length: Int) {
            guard !sawText, length > 0 else { return }
            switch parseNumber(p, length, lenient: true) {
            case .int(let value):
                sawInt = true
                if !isExactDouble(value) { sawInexactInteger = true }
            case .float:
                sawFloat = true
            // Never rounded: a column holding one stays text, every digit kept.
            case .inexact, nil:
                sawText = true
            }
        }

        /// utf8 keeps each field's text: where a number type would change a
        /// value (text, or a float64 that cannot hold one of the integers).
        var type: ArrowType {
            if sawText || (sawFloat && sawInexactInteger) { return .utf8 }
            return sawFloat ? .float64 : sawInt ? .int64 : .utf8
        }
    }

    /// The first pass: the type of each column over the whole file, from
    /// the records the second pass will make rows of (bad records fail here
    /// already, or are left out as they will be skipped). Then back to the
    /// start, having told the host how many rows those records are. Sets
    /// `exhausted` if there is no header.
    private mutating func inferColumnTypes(context: StepContext) throws(StepError) {
        try start(context: context, quiet: true)
        guard !exhausted else { return }
        var typing = [ColumnTyping](repeating: ColumnTyping(), count: names.count)
        var records = 0
        var rows = 0
        while true {
            fields.removeAll(keepingCapacity: true)
            arena.count = 0
            records += 1
            if records & 0xFFF == 0 && context.isCancelled { throw .cancelled(Self.name) }
            // Skipped records are reported by the second pass, which meets them too.
            guard let record = try nextRecord(context: context, quiet: true) else { break }
            guard record.count == names.count else {
                guard skipBadRecords else { throw .invalidData("\(Self.name): \(wrongCount(record))") }
                continue
            }
            for (c, field) in fields.enumerated() where keep[c] {
                typing[c].add(arena.base + field.start, field.length)
            }
            rows += 1
        }
        types = typing.map(\.type)
        forecast.exactly(rows, context: context)
        fields.removeAll(keepingCapacity: true)
        arena.count = 0
        arena.shrink(to: 1 << 24)
        try input.rewind(step: Self.name)
        line = 1
    }

    /// Reads the header (or takes the given names). `quiet`: in the first
    /// pass, which the second repeats.
    private mutating func start(context: StepContext, quiet: Bool = false) throws(StepError) {
        var columnNames: [String]
        if hasHeader {
            guard let header = try nextRecord(context: context, isHeader: true) else {
                exhausted = true
                return
            }
            columnNames = fields.map { String(decoding: arena.bytes($0.start, $0.length), as: UTF8.self) }
            fields.removeAll()
            arena.count = 0
            if let givenNames {
                guard givenNames.count == columnNames.count else {
                    throw .invalidData("\(Self.name): \(path):\(header.line): columns lists \(givenNames.count) names but the header has \(columnNames.count) fields")
                }
                columnNames = givenNames
            } else {
                try Self.checkNames(columnNames, what: "\(path):\(header.line): the header")
            }
        } else {
            columnNames = givenNames ?? []
        }
        names = columnNames
        keep = names.map { $0 != rowIdColumn && $0 != errorColumn }
        for name in names where !quiet && (name == rowIdColumn || name == errorColumn) {
            context.log(.warning, "\(Self.name): \(path): ignoring the column \"\(name)\": it names a column the host owns")
        }
    }

    /// Reads the next non-blank record, appending its fields. Bad records
    /// are skipped here (skip mode) or fail. Nil at the end of the file.
    private mutating func nextRecord(context: StepContext, isHeader: Bool = false,
                                     quiet: Bool = false) throws(StepError) -> (line: Int, count: Int)? {
        while true {
            if input.start >= input.end {
                if input.atEOF { return nil }
                _ = try input.fill(step: Self.name)
                continue
            }
            let savedArena = arena.count, savedFields = fields.count
            let parsed: (next: Int, lineBreaks: Int)?
            do throws(Failure) {
                parsed = try parseRecord(from: input.start)
            } catch {
                arena.count = savedArena
                fields.removeLast(fields.count - savedFields)
                let message = "\(path):\(line + error.lines): \(error.message)"
                guard skipBadRecords && !error.fatal && !isHeader else { throw .invalidData("\(Self.name): \(message)") }
                if !quiet { skipped.record(message, context: context) }
                // Go on after the line the problem is on.
                input.start = error.position
                line += error.lines + 1
                try input.skipPastNewline(step: Self.name)
                continue
            }
            guard let (next, lineBreaks) = parsed else {
                arena.count = savedArena
                fields.removeLast(fields.count - savedFields)
                guard try input.fill(step: Self.name) else {
                    throw .invalidData("\(Self.name): \(path):\(line): record longer than max_record_bytes (\(maxRecordBytes) bytes); is a quote left open?")
                }
                continue
            }
            let recordLine = line
            let blank = fields.count - savedFields == 1 && fields[savedFields].length == 0
                && (input.base[input.start] == 0x0A || input.base[input.start] == 0x0D)
            input.start = next
            line += lineBreaks
            if blank {
                arena.count = savedArena
                fields.removeLast(1)
                continue
            }
            var badField: (number: Int, offset: Int)?
            for (number, field) in fields[savedFields...].enumerated() {
                if let offset = firstInvalidUTF8(arena.base + field.start, field.length) {
                    badField = (number + 1, offset)
                    break
                }
            }
            if let badField {
                arena.count = savedArena
                fields.removeLast(fields.count - savedFields)
                let message = "\(path):\(recordLine): invalid UTF-8 in field \(badField.number) (byte offset \(badField.offset) of the field)"
                guard skipBadRecords && !isHeader else { throw .invalidData("\(Self.name): \(message)") }
                if !quiet { skipped.record(message, context: context) }
                continue
            }
            return (recordLine, fields.count - savedFields)
        }
    }

    /// Parses one record at `input.base[from...]`, appending its fields.
    /// Returns where the next record starts and how many line breaks were
    /// consumed, or nil if the buffer ends first and more can be read.
    private mutating func parseRecord(from: Int) throws(Failure) -> (next: Int, lineBreaks: Int)? {
        let p = input.base, end = input.end, eof = input.atEOF, d = delimiter
        let quote = UInt8(ascii: "\"")
        var i = from
        var lineBreaks = 0
        while true {
            let fieldStart = arena.count
            if i < end && p[i] == quote {
                let openedAt = lineBreaks
                i += 1
                while true {
                    guard let found = memchr(p + i, Int32(quote), end - i) else {
                        if eof {
                            throw Failure(message: "unterminated quoted field: the file ends inside quotes",
                                          lines: openedAt, position: i, fatal: true)
                        }
                        return nil
                    }
                    let q = UnsafeMutableRawPointer(found).assumingMemoryBound(to: UInt8.self) - p
                    for k in i..<q where p[k] == 0x0A { lineBreaks += 1 }
                    arena.append(p + i, count: q - i)
                    i = q + 1
                    if i == end && !eof { return nil }   // "" or the end of the field? read on
                    if i < end && p[i] == quote {
                        arena.append(quote)
                        i += 1
                        continue
                    }
                    break
                }
                if i < end {
                    let c = p[i]
                    if c != d && c != 0x0A && c != 0x0D {
                        throw Failure(message: "unexpected \(describeByte(c)) after a closing quote (write a quote inside a quoted field as \"\")",
                                      lines: lineBreaks, position: i, fatal: false)
                    }
                }
            } else {
                var j = i
                while j < end {
                    let c = p[j]
                    if c == d || c == 0x0A || c == 0x0D { break }
                    j += 1
                }
                if j == end && !eof { return nil }
                arena.append(p + i, count: j - i)
                i = j
            }
            fields.append(Field(start: fieldStart, length: arena.count - fieldStart))
            guard i < end else { return (i, lineBreaks) }   // the end of the file
            let c = p[i]
            if c == d {
                i += 1
                continue
            }
            if c == 0x0D {
                if i + 1 == end && !eof { return nil }
                i += 1
                if i < end && p[i] == 0x0A { i += 1 }
                return (i, lineBreaks + 1)
            }
            return (i + 1, lineBreaks + 1)   // LF
        }
    }

    /// A field the first pass found a number of its column's type, and now is not.
    private func changed(row: Int, column: Int, type: ArrowType) -> StepError {
        let field = fields[row * names.count + column]
        let text = String(decoding: arena.bytes(field.start, min(field.length, 40)), as: UTF8.self)
        return .invalidData("\(Self.name): \(path):\(rowLines[row]): field \(column + 1) (\"\(names[column])\") is \"\(text)\", "
                            + "which is not \(type.displayName) as the first pass over the file found; the file changed while it was read")
    }

    private mutating func makeBatch() throws(StepError) -> RecordBatch {
        let width = names.count
        var outFields: [ArrowField] = []
        var columns: [ArrowColumn] = []
        for c in 0..<width where keep[c] {
            let type = inferTypes ? types[c] : ArrowType.utf8
            let builder = ColumnBuilder(type)
            for row in 0..<rowCount {
                let field = fields[row * width + c]
                if inferTypes && field.length == 0 {
                    builder.appendNull()
                    continue
                }
                switch type {
                case .int64:
                    guard case .int(let value) = parseNumber(arena.base + field.start, field.length, lenient: true) else {
                        throw changed(row: row, column: c, type: type)
                    }
                    builder.append(value)
                case .float64:
                    switch parseNumber(arena.base + field.start, field.length, lenient: true) {
                    case .int(let value) where isExactDouble(value): builder.append(Double(value))
                    case .float(let value): builder.append(value)
                    default: throw changed(row: row, column: c, type: type)
                    }
                default:
                    builder.appendUTF8(arena.bytes(field.start, field.length))
                }
            }
            outFields.append(ArrowField(names[c], type))
            columns.append(builder.finish())
        }
        let rows = rowCount
        rowCount = 0
        rowLines.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        arena.count = 0
        arena.shrink(to: 1 << 24)
        do throws(ArrowError) {
            return try RecordBatch(fields: outFields, columns: columns, length: rows)
        } catch {
            throw .internal("\(Self.name): \(error.message)")
        }
    }
}
