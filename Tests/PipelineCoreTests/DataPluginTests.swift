import Foundation
import Logging
import PipelineArrow
import Testing

@testable import PipelineCore
@testable import PipelineJSON
@testable import PipelineHost

/// The data steps of libPipelineData.so (loaders, write_jsonl,
/// expand_columns, limit, sample), loaded with dlopen and driven through
/// the C ABI, on real files in a temporary directory.
@Suite("DataPlugin")
struct DataPluginTests {
    // MARK: Harness

    private static let registry: PluginRegistry? = {
        let library = Fixtures.buildDirectory.appendingPathComponent("libPipelineData.so").path
        guard FileManager.default.fileExists(atPath: library) else { return nil }
        return PluginRegistry.load(PluginSearchPath(entries: [library]))
    }()

    private func step(_ name: String) throws -> StepDescriptor {
        let registry = try #require(Self.registry,
                                    "libPipelineData.so is missing next to the tests: build the PipelineData product first")
        #expect(registry.problems.isEmpty, "\(registry.problems)")
        return try registry.step(name)
    }

    private func instance(_ name: String, _ parameters: [String: JSONValue], logs: LogCapture? = nil) throws -> StepInstance {
        if let logs {
            return try StepInstance(try step(name), parameters: parameters,
                                    logger: Logger(label: "test") { _ in CaptureHandler(capture: logs) })
        }
        return try StepInstance(try step(name), parameters: parameters)
    }

    /// Every batch a generator emits.
    private func drain(_ generator: StepInstance) throws -> [RecordBatch] {
        var batches: [RecordBatch] = []
        while let batch = try generator.process(nil) { batches.append(batch) }
        #expect(try generator.finish() == nil)
        return batches
    }

    /// All rows of a generator, rendered as JSON.
    private func rows(_ generator: StepInstance) throws -> [String] {
        try drain(generator).flatMap { BatchJSON.rows($0) }
    }

    /// The message of the error `body` throws, or nil.
    private func failure(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The status of the plugin call that failed in `body`.
    private func failedStatus(_ body: () throws -> Void) -> PluginStatus? {
        do {
            try body()
            return nil
        } catch {
            return (error as? PluginError)?.status
        }
    }

    private func directory(_ label: String) throws -> URL { try Fixtures.emptyDirectory("data-\(label)") }

    private func file(_ directory: URL, _ name: String, _ bytes: [UInt8]) -> String {
        let path = directory.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    private func file(_ directory: URL, _ name: String, _ text: String) -> String {
        file(directory, name, Array(text.utf8))
    }

    private func loadJSONL(_ path: String, _ extra: [String: JSONValue] = [:], logs: LogCapture? = nil) throws -> StepInstance {
        try instance("load_jsonl", ["path": .string(path)].merging(extra) { $1 }, logs: logs)
    }

    private func loadCSV(_ path: String, _ extra: [String: JSONValue] = [:], logs: LogCapture? = nil) throws -> StepInstance {
        try instance("load_csv", ["path": .string(path)].merging(extra) { $1 }, logs: logs)
    }

    /// `batch` plus a uint64 `_row_id` column holding `ids`.
    private func withRowIds(_ batch: RecordBatch, _ ids: [UInt64]) throws -> RecordBatch {
        let builder = ColumnBuilder(.uint64)
        for id in ids { builder.append(id) }
        return try RecordBatch(fields: batch.fields + [ArrowField("_row_id", .uint64)],
                               columns: batch.columns + [builder.finish()], length: batch.length)
    }

    private func uint64s(_ column: ArrowColumn?) -> [UInt64] {
        guard let column else { return [] }
        return (0..<column.length).map { column.uint64($0) }
    }

    private func strings(_ column: ArrowColumn?) -> [String?] {
        guard let column else { return [] }
        return (0..<column.length).map { column.string($0) }
    }

    /// Rows split into batches of the given sizes.
    private func split(_ batch: RecordBatch, _ sizes: [Int]) throws -> [RecordBatch] {
        var start = 0
        var parts: [RecordBatch] = []
        for size in sizes {
            parts.append(try batch.take(start..<start + size))
            start += size
        }
        return parts
    }

    // MARK: load_jsonl

    @Test func jsonlInfersTypesPerColumn() throws {
        let dir = try directory("types")
        let path = file(dir, "types.jsonl", """
            {"s":"a","i":1,"f":1,"b":true,"ls":["x","y"],"lf":[1,2.5],"o":{"k": [1, 2]},"li":[7],"n":null}
            {"s":"b","i":-9223372036854775808,"f":2.5,"b":false,"ls":[],"lf":[],"o":{"k":[], "j": "x"},"li":[],"extra":"late"}
            {"i":9223372036854775807,"f":-0.0,"ls":["z",null],"lf":[null,-1e3],"li":[null,9223372036854775807]}

            """)
        let batches = try drain(try loadJSONL(path))
        #expect(batches.count == 1)
        let batch = try #require(batches.first)
        #expect(batch.fields.map(\.name) == ["s", "i", "f", "b", "ls", "lf", "o", "li", "n", "extra"])
        // Objects are structs (a member some objects lack is marked so), all-integer arrays list<int64>.
        let o: ArrowType = .structure([ArrowField("k", .list(ArrowField("item", .int64))),
                                       ArrowField("j", .utf8, metadata: [ArrowField.nullIsAbsentKey: "true"])])
        #expect(batch.fields.map(\.type) == [.utf8, .int64, .float64, .bool, .utf8List, .float64List, o,
                                             .list(ArrowField("item", .int64)), .utf8, .utf8])
        #expect(batch.column("i")?.int64(1) == Int64.min)
        #expect(batch.column("i")?.int64(2) == Int64.max)
        #expect(batch.column("f")?.float64(0) == 1.0)
        #expect(batch.column("f")?.float64(2).sign == .minus)
        let objects = BatchJSON.rows(try RecordBatch([("o", try #require(batch.column("o")))]))
        #expect(objects == [#"{"o":{"k":[1,2]}}"#, #"{"o":{"k":[],"j":"x"}}"#, #"{"o":null}"#])
        let li = try #require(batch.column("li"))
        #expect((0..<3).map { row in li.valueRange(row).map { li.items.isValid($0) ? li.items.int64($0) : nil } }
                == [[7], [], [nil, Int64.max]])
        #expect(strings(batch.column("n")) == [nil, nil, nil])
        #expect(strings(batch.column("extra")) == [nil, "late", nil])
        #expect(batch.column("s")?.isValid(2) == false)
        #expect(batch.column("ls")?.stringList(0) == ["x", "y"])
        #expect(batch.column("ls")?.stringList(1) == [])
        #expect(batch.column("ls")?.stringList(2) == ["z", nil])
        #expect(batch.column("lf")?.float64List(0) == [1, 2.5])
        #expect(batch.column("lf")?.float64List(2) == [nil, -1000])
        #expect(batch.column("b")?.bool(0) == true)
        #expect(batch.column("b")?.bool(1) == false)
    }

    @Test func jsonlNumbersOutsideInt64AndDoubleAreNeverRounded() throws {
        let dir = try directory("bigint")
        // What int64 and float64 hold exactly is read as such.
        let fine = file(dir, "fine.jsonl", "{\"a\":9223372036854775807}\n{\"a\":-9223372036854775808}\n"
                        + "{\"b\":1E2}\n{\"b\":0.12345678901234567}\n{\"b\":1.7976931348623157e308}\n"
                        + "{\"b\":1.000000000000000000000000}\n{\"b\":100000000000000000000}\n")
        let batch = try #require(try drain(try loadJSONL(fine)).first)
        #expect(batch.column("a")?.type == .int64)
        #expect(batch.column("a")?.int64(0) == Int64.max)
        #expect(batch.column("a")?.int64(1) == Int64.min)
        #expect(batch.column("b")?.float64(3) == 0.12345678901234567)
        #expect(batch.column("b")?.float64(5) == 1)
        #expect(batch.column("b")?.float64(6) == 1e20)
        // Each of these used to become a rounded double, infinity (then null) or zero.
        let cases: [(text: String, why: String)] = [
            ("123456789012345678901234567890", "an integer outside the 64-bit range"),
            ("9223372036854775809", "an integer outside the 64-bit range"),
            ("-9223372036854775809", "an integer outside the 64-bit range"),
            ("1e400", "beyond the range of a double"),
            ("-1E309", "beyond the range of a double"),
            ("1e-400", "too close to zero for a double"),
            ("4.9e-324", "too close to zero for a double"),
            ("3.14159265358979323846", "more than the 17 significant digits"),
            ("100000000000000000000.5", "more than the 17 significant digits"),
        ]
        for (text, why) in cases {
            let path = file(dir, "bad.jsonl", "{\"ok\":1}\n{\"id\": \(text)}\n")
            let message = failure { _ = try drain(try loadJSONL(path)) }
            #expect(message?.contains("\(path):2:8: the number \(text) cannot be read as a number without changing it: ") == true,
                    "\(text): \(message ?? "no error")")
            #expect(message?.contains(why) == true, "\(text): \(message ?? "no error")")
            #expect(message?.contains("inexact_numbers: text") == true)
            // In an array too.
            let inArray = file(dir, "array.jsonl", "{\"v\": [1, \(text)]}\n")
            #expect(failure { _ = try drain(try loadJSONL(inArray)) }?.contains("\(inArray):1:11: the number \(text)") == true)
        }
        // inexact_numbers: text keeps every digit, as text; numbers inside
        // objects are copied byte for byte either way.
        let mixed = file(dir, "mixed.jsonl", "{\"id\": 123456789012345678901234567890, \"v\": [1, 1e400], \"o\": {\"n\": 1e400}}\n{\"id\": 7, \"o\": {\"n\": 2}}\n")
        let text = try #require(try drain(try loadJSONL(mixed, ["inexact_numbers": .string("text")])).first)
        #expect(text.column("id")?.type == .utf8)
        #expect(strings(text.column("id")) == ["123456789012345678901234567890", "7"])
        #expect(strings(text.column("v")) == ["[1,1e400]", nil])
        #expect(strings(text.column("o")) == ["{\"n\":1e400}", "{\"n\":2}"])
        // Such nested values are exact JSON text (arrow.json), written back as JSON.
        #expect(text.fields.filter(\.isJSONText).map(\.name) == ["v", "o"])
        let out = dir.appendingPathComponent("out.jsonl").path
        try write([text], to: out)
        #expect(contents(out) == "{\"id\":\"123456789012345678901234567890\",\"v\":[1,1e400],\"o\":{\"n\":1e400}}\n{\"id\":\"7\",\"v\":null,\"o\":{\"n\":2}}\n")
        // Without inexact_numbers: text, a number inside an object is refused as anywhere else.
        let objectsOnly = file(dir, "objects.jsonl", "{\"o\": {\"n\": 123456789012345678901234567890}}\n")
        #expect(failure { _ = try drain(try loadJSONL(objectsOnly)) }?.contains("\(objectsOnly):1:13: the number 123456789012345678901234567890 cannot be read") == true)
        #expect(failure { _ = try loadJSONL(mixed, ["inexact_numbers": .string("round")]) } != nil)
    }

    @Test func csvColumnsWithNumbersADoubleCannotHoldStayText() throws {
        let dir = try directory("csvbig")
        let path = file(dir, "n.csv", "id,x,y\n123456789012345678901234567890,1e400,2.5\n7,1,3\n")
        let batch = try #require(try drain(try loadCSV(path)).first)
        #expect(batch.column("id")?.type == .utf8)
        #expect(strings(batch.column("id")) == ["123456789012345678901234567890", "7"])
        #expect(strings(batch.column("x")) == ["1e400", "1"])
        #expect(batch.column("y")?.type == .float64)
    }

    /// Numbers in arrays go through a one-pass fast path; whatever the
    /// shape, the value must be the correctly rounded one.
    @Test func jsonlNumberArraysParseExactlyLikeTheStandardLibrary() throws {
        var generator = SystemRandomNumberGenerator()
        // Integers a double does not hold exactly cannot be in such an array (NestedJSONTests).
        var texts: [String] = ["0", "-0", "0.0", "-0.0", "1", "-1", "0.5", "9007199254740992", "0.1", "0.30000000000000004",
                               "123456789012345680", "0.000001",
                               "1e5", "-2.5E-3", "1.7976931348623157e308", "2.2250738585072014e-308", "0.12345678901234567",
                               "98765.4321098765", "100000000000000000000"]
        for _ in 0..<3000 {
            let value = Double.random(in: -1...1, using: &generator) * pow(10, Double(Int.random(in: -12...12, using: &generator)))
            switch Int.random(in: 0..<4, using: &generator) {
            case 0: texts.append("\(value)")
            case 1: texts.append(String(format: "%.10g", value))
            case 2: texts.append(String(format: "%.6f", value))
            default: texts.append("\(Float(value))")
            }
            // More than 17 significant digits (%.6f of a large value) is refused, not rounded: tested above.
            if texts[texts.count - 1].filter(\.isNumber).drop(while: { $0 == "0" }).count > 17 { texts.removeLast() }
        }
        let dir = try directory("numbers")
        let path = file(dir, "n.jsonl", "{\"v\":[\(texts.joined(separator: ","))]}\n")
        let batch = try #require(try drain(try loadJSONL(path)).first)
        let parsed = try #require(batch.column("v")?.float64List(0))
        #expect(parsed.count == texts.count)
        for (text, value) in zip(texts, parsed) {
            #expect(value == Double(text), "\(text) read as \(value.map { "\($0)" } ?? "nil")")
            // One number grammar: the host's reader (JSONNumber, used by the
            // parameters, the LLM client and the test server) reads the same double.
            let host: Double? = Array(text.utf8).withUnsafeBufferPointer { bytes in
                var index = 0
                let number = JSONNumber.read(bytes, at: &index)
                return index == bytes.count ? number : nil
            }
            #expect(host == value, "\(text): load_jsonl \(value.map { "\($0)" } ?? "nil"), JSONNumber \(host.map { "\($0)" } ?? "nil")")
            // A negative zero with a fraction stays negative ("-0" is the integer 0).
            if text.hasPrefix("-"), text.contains("."), Double(text) == 0 {
                #expect(value?.sign == .minus, "\(text) keeps its sign")
            }
        }
    }

    @Test func jsonlDecodesEscapesAndSurrogatePairs() throws {
        let dir = try directory("escapes")
        let path = file(dir, "e.jsonl", #"""
            {"t":"q\"b\\s\/n\nt\tr\r\b\f","u":"\u00e9\u4E2D\ud83d\ude00 raw é😀","k\u0041y":1}

            """#)
        let batch = try #require(try drain(try loadJSONL(path)).first)
        #expect(batch.column("t")?.string(0) == "q\"b\\s/n\nt\tr\r\u{8}\u{c}")
        #expect(batch.column("u")?.string(0) == "é中😀 raw é😀")
        #expect(batch.fields.map(\.name) == ["t", "u", "kAy"])
    }

    @Test func jsonlDuplicateKeysLastWins() throws {
        let dir = try directory("dup")
        let path = file(dir, "d.jsonl", "{\"a\":1,\"b\":\"x\",\"a\":2}\n{\"a\":3,\"a\":null}\n")
        let batch = try #require(try drain(try loadJSONL(path)).first)
        #expect(batch.fields.map(\.name) == ["a", "b"])
        #expect(BatchJSON.rows(batch) == [#"{"a":2,"b":"x"}"#, #"{"a":null,"b":null}"#])
    }

    @Test func jsonlBatchesOfBatchSize() throws {
        let dir = try directory("batches")
        let text = (0..<10).map { "{\"n\":\($0)}\n" }.joined()
        let batches = try drain(try loadJSONL(file(dir, "ten.jsonl", text), ["batch_size": .number(4)]))
        #expect(batches.map(\.length) == [4, 4, 2])
        let numbers = batches.flatMap { b in (0..<b.length).map { b.columns[0].int64($0) } }
        #expect(numbers == Array(0..<10))
    }

    @Test func jsonlTypesAreInferredOverTheWholeFile() throws {
        let dir = try directory("wholefile")
        let path = file(dir, "p.jsonl", "{\"a\":1,\"b\":\"x\"}\n{\"a\":2}\n{\"a\":2.5}\n")
        let batches = try drain(try loadJSONL(path, ["batch_size": .number(2)]))
        #expect(batches.map(\.length) == [2, 1])
        // Every batch has the file's columns and types (null where absent).
        #expect(batches[0].fields.map(\.name) == ["a", "b"])
        #expect(batches[0].fields.map(\.type) == [.float64, .utf8])
        #expect(batches[1].fields.map(\.name) == ["a", "b"])
        #expect(batches[1].fields.map(\.type) == [.float64, .utf8])
        #expect(batches[0].column("a")?.float64(1) == 2)
    }

    @Test func jsonlAcceptsCRLFByteOrderMarkBlankLinesAndNoFinalNewline() throws {
        let dir = try directory("lenient")
        let text = "\u{FEFF}{\"a\":1}\r\n\r\n   \n{\"a\":2}\r\n\n{\"a\":3}"
        let rows = try rows(try loadJSONL(file(dir, "l.jsonl", text)))
        #expect(rows == [#"{"a":1}"#, #"{"a":2}"#, #"{"a":3}"#])
    }

    @Test func jsonlEmptyFileHasNoRows() throws {
        let dir = try directory("empty")
        #expect(try drain(try loadJSONL(file(dir, "e.jsonl", ""))).isEmpty)
        #expect(try drain(try loadJSONL(file(dir, "bom.jsonl", "\u{FEFF}"))).isEmpty)
        #expect(try drain(try loadJSONL(file(dir, "blanks.jsonl", "\n \n\r\n"))).isEmpty)
    }

    @Test func jsonlTruncatedLastLineNamesTheLine() throws {
        let dir = try directory("truncated")
        let path = file(dir, "t.jsonl", "{\"a\":1}\n{\"a\":2}\n{\"a\":\"unfinished")
        let generator = try loadJSONL(path)
        let message = failure { _ = try drain(generator) }
        #expect(message?.contains("load_jsonl: \(path):3: truncated: the file ends inside a JSON value") == true, "\(message ?? "")")
        #expect(failedStatus { _ = try drain(try loadJSONL(path)) } == .invalidData)
        // Cut inside a number, a literal and an escape too.
        for tail in ["{\"a\":1", "{\"a\":tr", "{\"a\":\"\\u00", "{\"a\":[1,", "{\"a\""] {
            let cut = file(dir, "cut.jsonl", "{\"a\":0}\n" + tail)
            let text = failure { _ = try drain(try loadJSONL(cut)) }
            #expect(text?.contains("\(cut):2: truncated") == true, "\(tail): \(text ?? "")")
        }
    }

    @Test func jsonlNonObjectLineIsAnError() throws {
        let dir = try directory("nonobject")
        let path = file(dir, "n.jsonl", "{\"a\":1}\n[1,2]\n")
        let message = failure { _ = try drain(try loadJSONL(path)) }
        #expect(message?.contains("load_jsonl: \(path):2: not a JSON object (found an array)") == true, "\(message ?? "")")
        for (line, found) in [("\"s\"", "a string"), ("12", "a number"), ("null", "null"), ("true", "a boolean")] {
            let other = file(dir, "o.jsonl", line + "\n")
            let text = failure { _ = try drain(try loadJSONL(other)) }
            #expect(text?.contains(":1: not a JSON object (found \(found))") == true, "\(text ?? "")")
        }
    }

    @Test func jsonlSyntaxErrorsNameLineAndColumn() throws {
        let dir = try directory("syntax")
        let cases: [(String, String)] = [
            ("{\"a\":1,}", ":1:8: expected a string key, found '}'"),
            ("{\"a\" 1}", ":1:6: expected ':' after the key, found '1'"),
            ("{\"a\":01}", ":1:6: invalid number \"01\""),
            ("{\"a\":1.}", ":1:6: invalid number \"1.\""),
            ("{\"a\":NaN}", ":1:6: expected a value, found 'N'"),
            ("{\"a\":1} x", ":1:9: unexpected 'x' after the JSON object"),
            ("{\"a\":\"tab\there\"}", ":1:10: control character byte 0x09 in a string must be escaped"),
            ("{\"a\":\"\\x\"}", ":1:7: invalid escape \\x"),
            ("{\"a\":\"\\ud83d\"}", ":1:7: unpaired surrogate \\uD83D"),
            ("{\"a\":\"\\ude00\"}", ":1:7: unpaired low surrogate \\uDE00"),
            ("{\"a\":[1 2]}", ":1:9: expected ',' or ']' in an array, found '2'"),
        ]
        for (line, expected) in cases {
            let path = file(dir, "s.jsonl", line + "\n")
            let text = failure { _ = try drain(try loadJSONL(path)) }
            #expect(text?.contains(path + expected) == true, "\(line): \(text ?? "no error")")
        }
        let deep = file(dir, "deep.jsonl", "{\"a\":" + String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "}\n")
        #expect(failure { _ = try drain(try loadJSONL(deep)) }?.contains("nested deeper than 256 levels") == true)
    }

    @Test func jsonlInvalidUTF8NamesLineAndByteOffset() throws {
        let dir = try directory("utf8")
        var bytes = Array("{\"a\":\"ok\"}\n{\"a\":\"ab".utf8)
        bytes += [0xC3, 0x28]   // a lead byte followed by a non-continuation byte
        bytes += Array("\"}\n".utf8)
        let path = file(dir, "u.jsonl", bytes)
        let message = failure { _ = try drain(try loadJSONL(path)) }
        #expect(message?.contains("load_jsonl: \(path):2:9: invalid UTF-8 (byte 0xC3 at byte offset 8 of the line), file offset 19") == true,
                "\(message ?? "")")
        // Overlong forms, surrogates and stray continuation bytes too.
        for bad: [UInt8] in [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF]] {
            let other = file(dir, "b.jsonl", Array("{\"a\":\"".utf8) + bad + Array("\"}\n".utf8))
            #expect(failure { _ = try drain(try loadJSONL(other)) }?.contains(":1:7: invalid UTF-8") == true, "\(bad)")
        }
        // Outside strings a non-ASCII byte is simply not JSON.
        let outside = file(dir, "o.jsonl", Array("{\"a\":".utf8) + [0xC3, 0xA9] + Array("}\n".utf8))
        #expect(failure { _ = try drain(try loadJSONL(outside)) }?.contains(":1:6: expected a value, found byte 0xC3") == true)
    }

    @Test func jsonlLineLongerThanTheLimitFailsWithoutReadingItWhole() throws {
        let dir = try directory("long")
        let long = "{\"a\":\"" + String(repeating: "x", count: 5000) + "\"}"
        let path = file(dir, "long.jsonl", "{\"a\":\"short\"}\n" + long + "\n{\"a\":\"after\"}\n")
        let message = failure { _ = try drain(try loadJSONL(path, ["max_line_bytes": .number(100)])) }
        #expect(message?.contains("load_jsonl: \(path):2: line longer than max_line_bytes (100 bytes)") == true, "\(message ?? "")")
        // Exactly at the limit is fine; in skip mode the long line is skipped.
        let exact = file(dir, "exact.jsonl", "{\"a\":\"" + String(repeating: "y", count: 92) + "\"}\r\n")
        #expect(try rows(try loadJSONL(exact, ["max_line_bytes": .number(100)])).count == 1)
        let skipping = try loadJSONL(path, ["max_line_bytes": .number(100), "on_error": .string("skip")])
        #expect(try rows(skipping) == [#"{"a":"short"}"#, #"{"a":"after"}"#])
        // A long last line without a newline too.
        let tail = file(dir, "tail.jsonl", "{\"a\":1}\n" + long)
        #expect(failure { _ = try drain(try loadJSONL(tail, ["max_line_bytes": .number(100)])) }?.contains(":2: line longer") == true)
    }

    @Test func jsonlLinesAcrossBufferRefills() throws {
        // Lines longer than the 1 MiB read buffer, and many short ones, so
        // lines straddle buffer boundaries.
        let dir = try directory("refill")
        var text = ""
        var expected: [Int] = []
        for n in 0..<3000 {
            let size = n % 1000 == 999 ? 1_500_000 + n : n % 97
            text += "{\"n\":\(n),\"s\":\"\(String(repeating: "é", count: size / 2))\"}\n"
            expected.append(n)
        }
        let batches = try drain(try loadJSONL(file(dir, "big.jsonl", text), ["batch_size": .number(1000)]))
        let numbers = batches.flatMap { b in (0..<b.length).map { Int(b.columns[0].int64($0)) } }
        #expect(numbers == expected)
        let s = try #require(batches.last?.column("s"))
        #expect(s.string(999)?.count == (1_500_000 + 2999) / 2)
    }

    @Test func jsonlSkipModeCountsAndLogsBadLines() throws {
        let dir = try directory("skip")
        var text = ""
        for n in 0..<15 { text += "{\"n\":\(n)}\nnot json \(n)\n" }
        text += "{\"n\":\"unfinished"
        let logs = LogCapture()
        let rows = try rows(try loadJSONL(file(dir, "s.jsonl", text), ["on_error": .string("skip")], logs: logs))
        #expect(rows.count == 15)
        let warnings = logs.messages(.warning)
        let detailed = warnings.filter { $0.hasPrefix("load_jsonl: skipped \(dir.path)") }
        #expect(detailed.count == 10, "\(warnings)")
        #expect(detailed.first?.hasSuffix("s.jsonl:2: not a JSON object (found 'n', which starts no JSON value)") == true,
                "\(detailed.first ?? "")")
        #expect(warnings.contains { $0.contains("skipped 16 bad lines of") }, "\(warnings)")
    }

    @Test func jsonlIgnoresReservedKeysWithAWarning() throws {
        let dir = try directory("reserved")
        let logs = LogCapture()
        let path = file(dir, "r.jsonl", "{\"_row_id\":5,\"a\":1,\"_error\":null}\n")
        let batch = try #require(try drain(try loadJSONL(path, logs: logs)).first)
        #expect(batch.fields.map(\.name) == ["a"])
        #expect(logs.messages(.warning).filter { $0.contains("ignoring the key") }.count == 2)
    }

    @Test func jsonlMissingFileFailsAtCreate() throws {
        let message = failure { _ = try loadJSONL("/nonexistent/dir/x.jsonl") }
        // The step's name, then the plugin's words: no status code, no repeated plugin name.
        #expect(message?.hasPrefix("step load_jsonl: cannot open /nonexistent/dir/x.jsonl: ") == true, "\(message ?? "")")
        let dir = try directory("isdir")
        #expect(failure { _ = try loadJSONL(dir.path) }?.contains("it is a directory") == true)
        #expect(failedStatus { _ = try loadJSONL(dir.path, ["on_error": .string("ignore")]) } == .invalidArgument)
    }

    // MARK: load_csv

    @Test func csvParsesQuotesNewlinesAndInfersTypes() throws {
        let dir = try directory("csv")
        let text = "\u{FEFF}name,count,score,note\r\n"
            + "ann,1,0.5,\"said \"\"hi\"\", then left\"\r\n"
            + "bob,,2,\"two\nlines, with comma\"\r\n"
            + "\r\n"
            + "\"cé\",3,-1e2,\n"
            + "dan,007,+4.,plain"
        let batch = try #require(try drain(try loadCSV(file(dir, "a.csv", text))).first)
        #expect(batch.fields.map(\.name) == ["name", "count", "score", "note"])
        #expect(batch.fields.map(\.type) == [.utf8, .utf8, .float64, .utf8])
        #expect(strings(batch.column("note")) == ["said \"hi\", then left", "two\nlines, with comma", nil, "plain"])
        #expect(strings(batch.column("name")) == ["ann", "bob", "cé", "dan"])
        // "007" keeps its zeros: the column stays text.
        #expect(strings(batch.column("count")) == ["1", nil, "3", "007"])
        let score = try #require(batch.column("score"))
        #expect((0..<4).map { score.float64($0) } == [0.5, 2, -100, 4])

        let ints = file(dir, "i.csv", "a,b\n1,x\n-2,\n")
        let intBatch = try #require(try drain(try loadCSV(ints)).first)
        #expect(intBatch.fields.map(\.type) == [.int64, .utf8])
        #expect(BatchJSON.rows(intBatch) == [#"{"a":1,"b":"x"}"#, #"{"a":-2,"b":null}"#])
        // Integers are written as they are: a double would round these (errors.jsonl, plugins try).
        let big = file(dir, "big.csv", "a\n9007199254740993\n-9223372036854775808\n")
        let bigBatch = try #require(try drain(try loadCSV(big)).first)
        #expect(BatchJSON.rows(bigBatch) == [#"{"a":9007199254740993}"#, #"{"a":-9223372036854775808}"#])
    }

    @Test func csvWithoutTypeInference() throws {
        let dir = try directory("csvtext")
        let path = file(dir, "t.csv", "a,b\n1,\n")
        let batch = try #require(try drain(try loadCSV(path, ["infer_types": .bool(false)])).first)
        #expect(batch.fields.map(\.type) == [.utf8, .utf8])
        #expect(BatchJSON.rows(batch) == [#"{"a":"1","b":""}"#])
    }

    @Test func csvHeaderlessRenamedAndOtherDelimiters() throws {
        let dir = try directory("csvcols")
        let path = file(dir, "h.csv", "1;x\n2;y\n")
        let rows = try rows(try loadCSV(path, ["header": .bool(false), "delimiter": .string(";"),
                                               "columns": .array([.string("n"), .string("s")])]))
        #expect(rows == [#"{"n":1,"s":"x"}"#, #"{"n":2,"s":"y"}"#])
        let tabs = file(dir, "t.tsv", "a\tb\n1\t\"q\tq\"\n")
        #expect(try self.rows(try loadCSV(tabs, ["delimiter": .string("\t"), "columns": .array([.string("x"), .string("y")])]))
                == [#"{"x":1,"y":"q\tq"}"#])
        let message = failure { _ = try loadCSV(path, ["header": .bool(false)]) }
        #expect(message?.contains("columns is required when header is false") == true, "\(message ?? "")")
        #expect(failure { _ = try loadCSV(path, ["delimiter": .string("ab")]) }?.contains("delimiter must be one ASCII character") == true)
        let wrongCount = failure { _ = try drain(try loadCSV(tabs, ["delimiter": .string("\t"), "columns": .array([.string("x")])])) }
        #expect(wrongCount?.contains("\(tabs):1: columns lists 1 names but the header has 2 fields") == true, "\(wrongCount ?? "")")
        let duplicate = file(dir, "d.csv", "a,a\n1,2\n")
        #expect(failure { _ = try drain(try loadCSV(duplicate)) }?.contains("\(duplicate):1: the header: two columns are called \"a\"") == true)
    }

    @Test func csvWrongFieldCountNamesTheLine() throws {
        let dir = try directory("csvcount")
        let path = file(dir, "w.csv", "a,b\n1,\"x\ny\"\n2,3,4\n5,6\n")
        let message = failure { _ = try drain(try loadCSV(path)) }
        #expect(message?.contains("load_csv: \(path):4: expected 2 fields (as the header), found 3") == true, "\(message ?? "")")
        let logs = LogCapture()
        let rows = try rows(try loadCSV(path, ["on_error": .string("skip")], logs: logs))
        #expect(rows == [#"{"a":1,"b":"x\ny"}"#, #"{"a":5,"b":"6"}"#])
        #expect(logs.messages(.warning).contains { $0.contains("skipped 1 bad records of") })
    }

    @Test func csvUnterminatedQuoteAndTextAfterAQuote() throws {
        let dir = try directory("csvquote")
        let path = file(dir, "q.csv", "a,b\n1,2\n3,\"open\nstill open\n")
        let message = failure { _ = try drain(try loadCSV(path, ["on_error": .string("skip")])) }
        #expect(message?.contains("load_csv: \(path):3: unterminated quoted field: the file ends inside quotes") == true,
                "\(message ?? "")")
        let after = file(dir, "after.csv", "a,b\n1,\"x\"y\n2,3\n")
        let text = failure { _ = try drain(try loadCSV(after)) }
        #expect(text?.contains("\(after):2: unexpected 'y' after a closing quote") == true, "\(text ?? "")")
        #expect(try rows(try loadCSV(after, ["on_error": .string("skip")])) == [#"{"a":2,"b":3}"#])
        var bytes = Array("a\nok\n".utf8)
        bytes += [0x61, 0xFF, 0x0A]
        let bad = file(dir, "u.csv", bytes)
        #expect(failure { _ = try drain(try loadCSV(bad)) }?.contains("\(bad):3: invalid UTF-8 in field 1 (byte offset 1 of the field)") == true)
    }

    @Test func csvBatchesAndEmptyFile() throws {
        let dir = try directory("csvbatch")
        let text = "n\n" + (0..<10).map { "\($0)\n" }.joined()
        let batches = try drain(try loadCSV(file(dir, "b.csv", text), ["batch_size": .number(4)]))
        #expect(batches.map(\.length) == [4, 4, 2])
        #expect(try drain(try loadCSV(file(dir, "e.csv", ""))).isEmpty)
        #expect(try drain(try loadCSV(file(dir, "h.csv", "a,b\r\n"))).isEmpty)
        // A record larger than the read buffer.
        let big = String(repeating: "z", count: 3_000_000)
        let large = try drain(try loadCSV(file(dir, "l.csv", "a,b\n1,\"\(big)\"\n2,x\n")))
        #expect(large.first?.column("b")?.string(0)?.count == 3_000_000)
        #expect(large.first?.length == 2)
    }

    // MARK: load_inline

    @Test func inlineRowsUseTheSameInference() throws {
        let generator = try instance("load_inline", [
            "rows": .array([
                .object(["q": .string("a"), "n": .number(1), "tags": .array([.string("x")]), "o": .object(["k": .bool(true)])]),
                .object(["q": .string("b\n\"c\""), "n": .number(2.5), "tags": .array([])]),
                .object(["q": .null, "n": .number(3)]),
            ]),
            "batch_size": .number(2),
        ])
        let batches = try drain(generator)
        #expect(batches.map(\.length) == [2, 1])
        let o: ArrowType = .structure([ArrowField("k", .bool)])
        #expect(batches[0].fields.map(\.name) == ["n", "o", "q", "tags"])
        #expect(batches[0].fields.map(\.type) == [.float64, o, .utf8, .utf8List])
        #expect(BatchJSON.rows(batches[0]).first == #"{"n":1,"o":{"k":true},"q":"a","tags":["x"]}"#)
        #expect(batches[0].column("q")?.string(1) == "b\n\"c\"")
        // The types are those of all the rows, in every batch.
        #expect(batches[1].fields.map(\.name) == ["n", "o", "q", "tags"])
        #expect(batches[1].fields.map(\.type) == [.float64, o, .utf8, .utf8List])
        #expect(batches[1].column("n")?.float64(0) == 3)
        let message = failure { _ = try instance("load_inline", ["rows": .array([.object([:]), .string("x")])]) }
        #expect(message?.contains("rows[1] is not an object (found a string)") == true, "\(message ?? "")")
    }

    // MARK: write_jsonl

    private func write(_ batches: [RecordBatch], to path: String, _ extra: [String: JSONValue] = [:]) throws {
        let writer = try instance("write_jsonl", ["path": .string(path)].merging(extra) { $1 })
        for batch in batches { #expect(try writer.process(batch) == nil) }
        #expect(try writer.finish() == nil)
    }

    private func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func jsonlRoundTripIsByteIdentical() throws {
        let dir = try directory("roundtrip")
        let source = """
            {"id":1,"text":"plain","score":0.5,"ok":true,"tags":["a","b"],"v":[1.5,-2.0],"meta":"{\\"k\\":1}"}
            {"id":-7,"text":"esc \\" \\\\ \\n \\t \\u0001 / é 中 😀","score":1e-07,"ok":false,"tags":[],"v":[],"meta":"x"}
            {"id":9007199254740993,"text":"","score":123456.789,"ok":true,"tags":["x"],"v":[0.1],"meta":"y"}
            {"id":0,"text":"last","score":3.0,"ok":false,"tags":["q\\"q"],"v":[1e+100],"meta":"z"}

            """
        let input = file(dir, "in.jsonl", source)
        let output = dir.appendingPathComponent("out/nested/out.jsonl").path
        try write(try drain(try loadJSONL(input, ["batch_size": .number(3)])), to: output)
        #expect(contents(output) == source)
        // And back again: the same rows.
        let again = try rows(try loadJSONL(output))
        #expect(again == (try rows(try loadJSONL(input))))
    }

    @Test func jsonlRoundTripWithNullsReparses() throws {
        let dir = try directory("roundtrip2")
        let input = file(dir, "in.jsonl", "{\"a\":1,\"b\":{\"x\": [1, 2]}}\n{\"c\":\"only c\"}\n{\"a\":null,\"b\":{\"y\":[true]}}\n")
        let output = dir.appendingPathComponent("out.jsonl").path
        try write(try drain(try loadJSONL(input)), to: output)
        // A missing top-level key is written as null; a missing object member stays missing.
        #expect(contents(output) == """
            {"a":1,"b":{"x":[1,2]},"c":null}
            {"a":null,"b":null,"c":"only c"}
            {"a":null,"b":{"y":[true]},"c":null}

            """)
        #expect(try rows(try loadJSONL(output)) == (try rows(try loadJSONL(input))))
    }

    @Test func jsonlWriterFormatsValues() throws {
        let dir = try directory("format")
        let floats = ColumnBuilder(.float64)
        for value in [Double.nan, .infinity, 0.1 + 0.2, -0.0, 1e300, 2] { floats.append(value) }
        let vectors = ColumnBuilder(.embedding(width: 2))
        let pairs: [[Float]] = [[0.1, -1], [3, .nan], [0, 0], [1e-3, 2.5], [1, 1], [0.5, 0.25]]
        for pair in pairs { pair.withUnsafeBufferPointer { vectors.append(vector: $0) } }
        let ids = ColumnBuilder(.uint64)
        for id in 0..<6 { ids.append(UInt64.max - 5 + UInt64(id)) }
        let errors = ColumnBuilder(.utf8)
        for _ in 0..<6 { errors.appendNull() }
        let batch = try RecordBatch(fields: [ArrowField("f", .float64), ArrowField("e", .embedding(width: 2)),
                                             ArrowField("_row_id", .uint64), ArrowField("_error", .utf8)],
                                    columns: [floats.finish(), vectors.finish(), ids.finish(), errors.finish()])
        let plain = dir.appendingPathComponent("plain.jsonl").path
        try write([batch], to: plain)
        #expect(contents(plain)?.split(separator: "\n").map(String.init) == [
            #"{"f":null,"e":[0.1,-1.0]}"#, #"{"f":null,"e":[3.0,null]}"#, #"{"f":0.30000000000000004,"e":[0.0,0.0]}"#,
            #"{"f":-0.0,"e":[0.001,2.5]}"#, #"{"f":1e+300,"e":[1.0,1.0]}"#, #"{"f":2.0,"e":[0.5,0.25]}"#,
        ])
        let withIds = dir.appendingPathComponent("ids.jsonl").path
        try write([batch], to: withIds, ["include_row_id": .bool(true)])
        #expect(contents(withIds)?.split(separator: "\n").first == #"{"f":null,"e":[0.1,-1.0],"_row_id":18446744073709551610}"#)
    }

    @Test func jsonlWriterRejectsInvalidUTF8AndWritesNestedLists() throws {
        let dir = try directory("badtext")
        let text = ColumnBuilder(.utf8)
        text.append("fine")
        [UInt8]([0x61, 0xC3]).withUnsafeBytes { text.appendUTF8($0) }
        let batch = try RecordBatch([("t", text.finish())])
        let writer = try instance("write_jsonl", ["path": .string(dir.appendingPathComponent("x.jsonl").path)])
        let message = failure { _ = try writer.process(batch) }
        #expect(message?.contains("write_jsonl: column \"t\", row 2 of the batch: invalid UTF-8 at byte offset 1 of the value") == true,
                "\(message ?? "")")

        let nested = ColumnBuilder(.list(ArrowField("item", .utf8List)))
        nested.items.append(strings: ["a", "b\"c"])
        nested.items.appendNull()
        nested.endListRow()
        nested.appendNull()
        let path = dir.appendingPathComponent("nested.jsonl").path
        try write([try RecordBatch([("n", nested.finish())])], to: path)
        #expect(contents(path) == "{\"n\":[[\"a\",\"b\\\"c\"],null]}\n{\"n\":null}\n")
    }

    @Test func loadersStopWhenCancelled() throws {
        let dir = try directory("cancel")
        let path = file(dir, "c.jsonl", "{\"a\":1}\n")
        let generator = try loadJSONL(path)
        generator.interrupt()
        #expect(failedStatus { _ = try generator.process(nil) } == .cancelled)
    }

    /// The writer's temporary files in `dir`: `.final.jsonl.<random>.tmp`.
    private func temporaries(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") && $0.hasSuffix(".tmp") }
    }

    @Test func jsonlWriterUsesATemporaryFileUntilFinish() throws {
        let dir = try directory("temp")
        let path = dir.appendingPathComponent("final.jsonl").path
        let batch = try BatchJSON.batch(rows: [["a": .number(1)], ["a": .number(2)]])
        do {
            let writer = try instance("write_jsonl", ["path": .string(path)])
            #expect(try writer.process(batch) == nil)
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(try temporaries(dir).count == 1)
            #expect(try temporaries(dir).first?.hasPrefix(".final.jsonl.") == true)
            #expect(try writer.finish() == nil)
            #expect(try writer.finish() == nil)
            #expect(contents(path) == "{\"a\":1}\n{\"a\":2}\n")
            #expect(try temporaries(dir).isEmpty)
        }
        // Destroyed without finish: the temporary file goes, the final one is untouched.
        do {
            let writer = try instance("write_jsonl", ["path": .string(path)])
            #expect(try writer.process(batch) == nil)
            #expect(try temporaries(dir).count == 1)
            withExtendedLifetime(writer) {}
        }
        #expect(try temporaries(dir).isEmpty)
        #expect(contents(path) == "{\"a\":1}\n{\"a\":2}\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["final.jsonl"])
    }

    /// The bug: two writers of one process shared `.out.jsonl.tmp-<pid>`, so
    /// the file became a mix of both. Each writer now has its own temporary
    /// file; whichever finishes last wins, whole.
    @Test func twoWritersOfOnePathNeverMixTheirRows() throws {
        let dir = try directory("twowriters")
        let path = file(dir, "out.jsonl", "old\n")
        let first = try instance("write_jsonl", ["path": .string(path)])
        let second = try instance("write_jsonl", ["path": .string(path)])
        for index in 0..<200 {
            #expect(try first.process(try BatchJSON.batch(rows: [["w": .string("first"), "i": .number(Double(index))]])) == nil)
            #expect(try second.process(try BatchJSON.batch(rows: [["w": .string("second"), "i": .number(Double(index))]])) == nil)
        }
        #expect(try temporaries(dir).count == 2)
        #expect(contents(path) == "old\n")
        #expect(try first.finish() == nil)
        let afterFirst = contents(path) ?? ""
        #expect(afterFirst.split(separator: "\n").count == 200)
        #expect(!afterFirst.contains("second"))
        #expect(try second.finish() == nil)
        let lines = (contents(path) ?? "").split(separator: "\n")
        #expect(lines.count == 200)
        #expect(lines.allSatisfy { $0.contains("\"w\":\"second\"") })
        #expect(try temporaries(dir).isEmpty)
    }

    @Test func jsonlWriterErrorsNameThePathNotTheTemporaryFile() throws {
        let dir = try directory("longname")
        // 250 bytes: fine as a name, too long with a temporary prefix and suffix added.
        let path = dir.appendingPathComponent(String(repeating: "a", count: 244) + ".jsonl").path
        try write([try BatchJSON.batch(rows: [["a": .number(1)]])], to: path)
        #expect(contents(path) == "{\"a\":1}\n")
        let missing = dir.appendingPathComponent("file/inside").path
        _ = file(dir, "file", "x")
        let message = failure { _ = try instance("write_jsonl", ["path": .string(missing)]) } ?? ""
        #expect(!message.contains(".tmp"), "\(message)")
        #expect(message.contains(dir.appendingPathComponent("file").path), "\(message)")
    }

    @Test func jsonlWriterWithNoRowsWritesAnEmptyFile() throws {
        let dir = try directory("norows")
        let path = dir.appendingPathComponent("sub/empty.jsonl").path
        try write([], to: path)
        #expect(contents(path) == "")
    }

    @Test func jsonlWriterRefusesToOverwriteWhenAsked() throws {
        let dir = try directory("overwrite")
        let path = file(dir, "exists.jsonl", "old\n")
        let message = failure { _ = try instance("write_jsonl", ["path": .string(path), "overwrite": .bool(false)]) }
        #expect(message?.hasPrefix("step write_jsonl: ") == true, "\(message ?? "")")
        #expect(message?.contains("INVALID_ARGUMENT") == false, "\(message ?? "")")
        #expect(message?.contains("\(path) already exists and overwrite is false") == true)
        #expect(contents(path) == "old\n")
        try write([try BatchJSON.batch(rows: [["a": .string("new")]])], to: path)
        #expect(contents(path) == "{\"a\":\"new\"}\n")
        let fresh = dir.appendingPathComponent("fresh.jsonl").path
        try write([], to: fresh, ["overwrite": .bool(false)])
        #expect(contents(fresh) == "")
        #expect(failure { _ = try instance("write_jsonl", ["path": .string(dir.path)]) }?.contains("is a directory") == true)
    }

    // MARK: expand_columns

    @Test func expandMakesOneRowPerIndexWithDerivedIds() throws {
        let input = try withRowIds(try BatchJSON.batch(rows: [
            ["q": .string("first"), "answers": .array([.string("a1"), .string("a2")]), "scores": .array([.number(1), .number(0.5)])],
            ["q": .string("second"), "answers": .array([.string("b1")]), "scores": .array([.number(2)])],
            ["q": .string("empty"), "answers": .array([]), "scores": .array([])],
        ]), [10, 20, 30])
        let expand = try instance("expand_columns", ["columns": .array([.string("answers"), .string("scores")])])
        let output = try #require(try expand.process(input))
        #expect(output.fields.map(\.name) == ["answers", "q", "scores", "_row_id"])
        #expect(output.fields.map(\.type) == [.utf8, .utf8, .float64, .uint64])
        #expect(strings(output.column("answers")) == ["a1", "a2", "b1"])
        #expect(strings(output.column("q")) == ["first", "first", "second"])
        #expect(output.column("scores").map { c in (0..<3).map { c.float64($0) } } == [1, 0.5, 2])
        func derived(_ parent: UInt64, _ index: UInt64) -> UInt64 {
            var z = (parent ^ (0x9E37_79B9_7F4A_7C15 &* (index + 1))) &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        #expect(uint64s(output.column("_row_id")) == [derived(10, 0), derived(10, 1), derived(20, 0)])
        #expect(output.column("_error") == nil)
        // The same ids whatever the batching.
        let one = try #require(try expand.process(try input.take([1])))
        #expect(uint64s(one.column("_row_id")) == [derived(20, 0)])
    }

    @Test func expandMarksRowsWhoseListsDiffer() throws {
        let input = try withRowIds(try BatchJSON.batch(rows: [
            ["q": .string("ok"), "answers": .array([.string("a")]), "scores": .array([.number(1)])],
            ["q": .string("bad"), "answers": .array([.string("a"), .string("b"), .string("c")]), "scores": .array([.number(1), .number(2)])],
            ["q": .string("null"), "answers": .null, "scores": .array([.number(1)])],
        ]), [1, 2, 3])
        let expand = try instance("expand_columns", ["columns": .object(["answers": .string("answer"), "scores": .string("score")])])
        let output = try #require(try expand.process(input))
        #expect(output.fields.map(\.name) == ["answer", "q", "score", "_row_id", "_error"])
        #expect(output.length == 3)
        #expect(strings(output.column("_error")) == [
            nil,
            "expand_columns: lists differ in length: answers has 3, scores has 2",
            "expand_columns: cannot expand a null list: answers is null, scores has 1",
        ])
        #expect(strings(output.column("q")) == ["ok", "bad", "null"])
        #expect(strings(output.column("answer")) == ["a", nil, nil])
        #expect(output.column("score")?.isValid(1) == false)
        // Failed rows keep their parent's id.
        #expect(uint64s(output.column("_row_id")).suffix(2) == [2, 3])
    }

    @Test func expandWithoutRowIdsAndBadInput() throws {
        let input = try BatchJSON.batch(rows: [["xs": .array([.number(1), .number(2)]), "t": .string("s")]])
        let expand = try instance("expand_columns", ["columns": .array([.string("xs")])])
        let output = try #require(try expand.process(input))
        #expect(output.fields.map(\.name) == ["t", "xs"])
        #expect(BatchJSON.rows(output) == [#"{"t":"s","xs":1}"#, #"{"t":"s","xs":2}"#])
        let missing = try instance("expand_columns", ["columns": .array([.string("nope")])])
        #expect(failure { _ = try missing.process(input) }?.contains("no column \"nope\" in the input") == true)
        let notList = try instance("expand_columns", ["columns": .array([.string("t")])])
        #expect(failure { _ = try notList.process(input) }?.contains("column \"t\" is utf8, not a list") == true)
        let clash = try instance("expand_columns", ["columns": .object(["xs": .string("t")])])
        #expect(failure { _ = try clash.process(input) }?.contains("the output column \"t\" already exists") == true)
        #expect(failure { _ = try instance("expand_columns", ["columns": .array([.string("_row_id")])]) } != nil)
    }

    // MARK: limit and sample

    @Test func limitPassesTheFirstRows() throws {
        let all = try BatchJSON.batch(rows: (0..<10).map { ["n": .number(Double($0))] })
        let limit = try instance("limit", ["rows": .number(5)])
        var kept: [String] = []
        for part in try split(all, [3, 3, 4]) {
            if let out = try limit.process(part) { kept += BatchJSON.rows(out) }
        }
        #expect(kept == (0..<5).map { "{\"n\":\($0)}" })
        let none = try instance("limit", ["rows": .number(0)])
        #expect(try none.process(all) == nil)
    }

    @Test func sampleKeepsTheSameRowsWhateverTheBatching() throws {
        let count = 1000
        let all = try withRowIds(try BatchJSON.batch(rows: (0..<count).map { ["n": .number(Double($0))] }),
                                 (0..<count).map { UInt64($0) * 7919 + 3 })
        func kept(_ sizes: [Int], fraction: Double = 0.3, seed: Int = 42) throws -> [UInt64] {
            let sample = try instance("sample", ["fraction": .number(fraction), "seed": .number(Double(seed))])
            return try split(all, sizes).flatMap { part in try sample.process(part).map { uint64s($0.column("_row_id")) } ?? [] }
        }
        let whole = try kept([count])
        #expect(try kept([1, 999]) == whole)
        #expect(try kept(Array(repeating: 10, count: 100)) == whole)
        #expect(try kept([500, 250, 250]) == whole)
        #expect(whole.count > 250 && whole.count < 350, "\(whole.count)")
        #expect(try kept([count], seed: 43) != whole)
        #expect(try kept([count], fraction: 1).count == count)
        // The documented rule.
        let expected = (0..<count).map { UInt64($0) * 7919 + 3 }.filter { id in
            var z = (UInt64(42) ^ id) &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z) / 18_446_744_073_709_551_616.0 < 0.3
        }
        #expect(whole == expected)
        let noIds = try instance("sample", ["fraction": .number(0.5)])
        let message = failure { _ = try noIds.process(try BatchJSON.batch(rows: [["n": .number(1)]])) }
        #expect(message?.contains("sample: the input has no _row_id column") == true, "\(message ?? "")")
        #expect(failure { _ = try instance("sample", ["fraction": .number(0)]) }?.contains("fraction must be in (0, 1]") == true)
    }
}

// MARK: Log capture

/// Log lines a step sent to the host.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [(Logger.Level, String)] = []

    func add(_ level: Logger.Level, _ message: String) {
        lock.lock()
        defer { lock.unlock() }
        lines.append((level, message))
    }

    func messages(_ level: Logger.Level) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines.filter { $0.0 == level }.map(\.1)
    }
}

struct CaptureHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        capture.add(event.level, "\(event.message)")
    }
}
