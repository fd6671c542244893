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
/// Types (infer_types): per batch, a column whose every non-empty value is
/// an integer is int64, whose every non-empty value is a number is
/// float64, else utf8; an empty field is null. Numbers are written as in
/// JSON, optionally with a leading `+` or a bare `.5` / `5.`; a number
/// with a leading zero (`007`) or surrounding spaces stays text. Without
/// infer_types every column is utf8 and an empty field is "".
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
        kind: .generator, id: "org.pipeline.load_csv", name: name, version: "1.0.0",
        description: """
            Reads a CSV file (RFC 4180: quoted fields, "" escapes, line breaks in quotes, LF or CRLF, \
            a UTF-8 byte order mark). With infer_types, a column whose non-empty values in a batch \
            are all integers is int64, all numbers float64, else utf8; empty fields are null.
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
              "columns":{"type":"array","items":{"type":"string"},"description":"Column names: required when header is false; with a header, renames its columns (same count)."},
              "infer_types":{"type":"boolean","default":true,"description":"Make int64 and float64 columns of numeric columns (per batch), and empty fields null; otherwise every column is utf8. A column (of a batch) with a number that int64 or float64 cannot hold unchanged (a 30-digit id, 1e400, more than 17 significant digits) stays utf8: digits are never rounded."},
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
    private var started = false
    private var exhausted = false
    private var line = 1                 // where the next record starts
    private let arena = ByteArena(capacity: 1 << 16)
    private var fields: [Field] = []     // row-major, names.count per row
    private var rowCount = 0
    private var skipped = SkipLog(step: name)

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
            try start(context: context)
            if exhausted { return nil }
        }
        while rowCount < batchSize && arena.count < maxBatchTextBytes {
            let before = fields.count, arenaBefore = arena.count
            guard let record = try nextRecord(context: context) else {
                exhausted = true
                input.closeFile()
                skipped.reportTotal(context: context, path: path, what: "records")
                break
            }
            if record.count != names.count {
                fields.removeLast(fields.count - before)
                arena.count = arenaBefore
                let message = "\(path):\(record.line): expected \(names.count) fields\(hasHeader ? " (as the header)" : ""), found \(record.count)"
                guard skipBadRecords else { throw .invalidData("\(Self.name): \(message)") }
                skipped.record(message, context: context)
                continue
            }
            rowCount += 1
        }
        guard rowCount > 0 else { return nil }
        return try makeBatch()
    }

    /// Reads the header (or takes the given names).
    private mutating func start(context: StepContext) throws(StepError) {
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
        for name in names where name == rowIdColumn || name == errorColumn {
            context.log(.warning, "\(Self.name): \(path): ignoring the column \"\(name)\": it names a column the host owns")
        }
    }

    /// Reads the next non-blank record, appending its fields. Bad records
    /// are skipped here (skip mode) or fail. Nil at the end of the file.
    private mutating func nextRecord(context: StepContext, isHeader: Bool = false) throws(StepError) -> (line: Int, count: Int)? {
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
                skipped.record(message, context: context)
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
                skipped.record(message, context: context)
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

    private mutating func makeBatch() throws(StepError) -> RecordBatch {
        let width = names.count
        var outFields: [ArrowField] = []
        var columns: [ArrowColumn] = []
        for c in 0..<width where keep[c] {
            var type = ArrowType.utf8
            if inferTypes {
                var sawInt = false, sawFloat = false, sawText = false
                for row in 0..<rowCount {
                    let field = fields[row * width + c]
                    guard field.length > 0 else { continue }
                    switch parseNumber(arena.base + field.start, field.length, lenient: true) {
                    case .int: sawInt = true
                    case .float: sawFloat = true
                    // Never rounded: a column holding one stays text, every digit kept.
                    case .inexact, nil: sawText = true
                    }
                    if sawText { break }
                }
                type = sawText ? .utf8 : sawFloat ? .float64 : sawInt ? .int64 : .utf8
            }
            let builder = ColumnBuilder(type)
            for row in 0..<rowCount {
                let field = fields[row * width + c]
                if inferTypes && field.length == 0 {
                    builder.appendNull()
                    continue
                }
                switch type {
                case .int64:
                    if case .int(let value) = parseNumber(arena.base + field.start, field.length, lenient: true) {
                        builder.append(value)
                    } else {
                        builder.appendNull()
                    }
                case .float64:
                    builder.append(parseNumber(arena.base + field.start, field.length, lenient: true)?.double ?? .nan)
                default:
                    builder.appendUTF8(arena.bytes(field.start, field.length))
                }
            }
            outFields.append(ArrowField(names[c], type))
            columns.append(builder.finish())
        }
        let rows = rowCount
        rowCount = 0
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
