import Foundation
import PipelineArrow
import PipelineBase
import ParquetFormat
import PipelineJSON
import PluginParquet
import Testing

@testable import PipelineCore
@testable import PipelineHost

/// write_parquet, through the built plugin (dlopen) and through the real
/// binary: pyarrow (the test venv) reads every file back and
/// Tests/tools/parquet_read.py compares it exactly with what was written
/// (floats by their bits, uint64 as integers, nulls at every depth), and
/// checks the footer: row groups, codecs, dictionary pages, statistics.
@Suite("write_parquet", .serialized)
struct ParquetWriteTests {
    // MARK: pyarrow

    static let python = Fixtures.packageRoot.appendingPathComponent(".build/test-venv/bin/python").path
    static let script = Fixtures.packageRoot.appendingPathComponent("Tests/tools/parquet_read.py").path

    /// pyarrow must be there under `make test` (PIPELINE_REQUIRE_PYARROW=1)
    /// and in CI; elsewhere the checks that need it are skipped, said on stderr.
    static var pyarrowAvailable: Bool {
        let environment = ProcessInfo.processInfo.environment
        let required = environment["PIPELINE_REQUIRE_PYARROW"] == "1" || environment["CI"] != nil
        if required { return true }
        let present = FileManager.default.isExecutableFile(atPath: python)
            && (try? Spawned(python, ["-c", "import pyarrow.parquet"]).wait().status) == 0
        if !present {
            FileHandle.standardError.write(Data("skipping the pyarrow checks of write_parquet: no pyarrow in \(python) (make venv)\n".utf8))
        }
        return present
    }

    /// pyarrow reads `file` and finds `expected` (see parquet_read.py).
    private func pyarrowReads(_ file: URL, _ expected: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard Self.pyarrowAvailable else { return }
        let expectation = file.deletingPathExtension().appendingPathExtension("expected.json")
        try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys]).write(to: expectation)
        let result = try Spawned(Self.python, ["-B", Self.script, "check", file.path, expectation.path]).wait()
        #expect(result.status == 0, "pyarrow disagrees:\n\(result.output)", sourceLocation: sourceLocation)
    }

    // MARK: Values

    /// A value of the test data, rendered as parquet_read.py prints it.
    indirect enum V {
        case null
        case bool(Bool)
        case int(Int64)
        case uint(UInt64)
        case f32(UInt32)
        case f64(UInt64)
        case text(String)
        case list([V])
        case record([V])

        static func float(_ x: Float) -> V { .f32(x.bitPattern) }

        func append(to builder: ColumnBuilder) {
            switch self {
            case .null: builder.appendNull()
            case .bool(let x): builder.append(x)
            case .int(let x): builder.append(x)
            case .uint(let x): builder.append(x)
            case .f32(let bits): builder.append(Float(bitPattern: bits))
            case .f64(let bits): builder.append(Double(bitPattern: bits))
            case .text(let x): builder.append(x)
            case .list(let items):
                if case .fixedSizeList = builder.type {
                    let floats = items.map { item -> Float in
                        if case .f32(let bits) = item { return Float(bitPattern: bits) }
                        return .nan
                    }
                    floats.withUnsafeBufferPointer { builder.append(vector: $0) }
                } else {
                    for item in items { item.append(to: builder.items) }
                    builder.endListRow()
                }
            case .record(let members):
                for (k, member) in members.enumerated() { member.append(to: builder.field(k)) }
                builder.endStructRow()
            }
        }

        /// The JSON value parquet_read.py makes of it (struct members named from `type`).
        func json(_ type: ArrowType) -> Any {
            switch (self, type) {
            case (.null, _): return NSNull()
            case (.bool(let x), _): return x
            case (.int(let x), _): return NSNumber(value: x)
            case (.uint(let x), _): return NSNumber(value: x)
            case (.f32(let bits), _): return "f32:" + String(format: "%08x", bits)
            case (.f64(let bits), _): return "f64:" + String(format: "%016llx", bits)
            case (.text(let x), _): return x
            case (.list(let items), .list(let item)), (.list(let items), .fixedSizeList(let item, _)):
                return items.map { $0.json(item.type) }
            case (.record(let members), .structure(let fields)):
                var object: [String: Any] = [:]
                for (member, field) in zip(members, fields) { object[field.name] = member.json(field.type) }
                return object
            default: return "unexpected \(self) for \(type.displayName)"
            }
        }
    }

    /// A column of values.
    static func column(_ type: ArrowType, _ values: [V]) -> ArrowColumn {
        let builder = ColumnBuilder(type)
        for value in values { value.append(to: builder) }
        return builder.finish()
    }

    /// pyarrow's name of the type it reads back.
    static func pyarrowType(_ type: ArrowType) -> String {
        switch type {
        case .bool: "bool"
        case .int64: "int64"
        case .uint64: "uint64"
        case .float32: "float"
        case .float64: "double"
        case .utf8, .largeUtf8: "string"
        case .list(let item), .fixedSizeList(let item, _): "list<element: \(pyarrowType(item.type))>"
        case .structure(let fields): "struct<\(fields.map { "\($0.name): \(pyarrowType($0.type))" }.joined(separator: ", "))>"
        }
    }

    /// Test columns: name, type, values (the same number of rows each).
    typealias Table = [(name: String, type: ArrowType, values: [V])]

    static func batch(_ table: Table, rows: Range<Int>? = nil) throws -> RecordBatch {
        let range = rows ?? 0..<(table.first?.values.count ?? 0)
        return try RecordBatch(fields: table.map { ArrowField($0.name, $0.type) },
                               columns: table.map { column($0.type, Array($0.values[range])) }, length: range.count)
    }

    static func expected(_ table: Table, extra: [String: Any] = [:]) -> [String: Any] {
        let rows = table.first?.values.count ?? 0
        var expected: [String: Any] = [
            "schema": table.map { [$0.name, pyarrowType($0.type)] },
            "rows": (0..<rows).map { row in table.map { $0.values[row].json($0.type) } },
        ]
        for (key, value) in extra { expected[key] = value }
        return expected
    }

    static let message = ArrowType.structure([ArrowField("role", .utf8), ArrowField("content", .utf8)])
    static let nested = ArrowType.structure([
        ArrowField("a", .int64), ArrowField("inner", .structure([ArrowField("x", .list(ArrowField("item", .int64)))])),
    ])

    /// Every type, nulls at every depth, the floats and integers at their edges.
    static var everyType: Table {
        let nan = Float.nan.bitPattern | 1          // a quiet NaN with a payload
        let signalling: UInt32 = 0x7F80_0001        // a signalling NaN
        let dnan = Double.nan.bitPattern | 0xABCDE
        return [
            ("flag", .bool, [.bool(true), .bool(false), .null, .bool(true), .bool(false), .null, .bool(true), .bool(false)]),
            ("id", .int64, [.int(0), .int(.min), .int(.max), .null, .int(-1), .int(42), .int(42), .int(7)]),
            ("big", .uint64, [.uint(.max), .uint(0), .uint(1 << 63), .null, .uint(UInt64(Int64.max) + 1), .uint(5), .uint(5), .uint(.max - 1)]),
            ("f", .float32, [.f32(nan), .f32(signalling), .f32((-0.0 as Float).bitPattern), .f32(Float.infinity.bitPattern),
                             .f32((-Float.infinity).bitPattern), .null, .f32(Float.leastNonzeroMagnitude.bitPattern), .float(1.5)]),
            ("d", .float64, [.f64(dnan), .f64((-0.0 as Double).bitPattern), .f64(0), .null, .f64(Double.greatestFiniteMagnitude.bitPattern),
                             .f64((-Double.infinity).bitPattern), .f64(Double.leastNonzeroMagnitude.bitPattern), .f64((0.1).bitPattern)]),
            ("text", .utf8, [.text(""), .text("héllo wörld 🌍 你好"), .null, .text("a\u{0}b"), .text("line\nbreak\t\"q\""),
                             .text(String(repeating: "long ", count: 2000)), .text(""), .text("z")]),
            ("tags", .utf8List, [.list([.text("x"), .text("y")]), .list([]), .null, .list([.text(""), .null]), .list([.null]),
                                 .list([.text("é")]), .null, .list([])]),
            ("scores", .list(ArrowField("item", .float32)), [.list([.float(1), .null]), .list([.float(2.5)]), .list([]), .null,
                                                             .list([.f32(nan), .f32((-0.0 as Float).bitPattern)]), .list([.float(3)]), .list([]), .list([.null])]),
            ("embedding", .embedding(width: 3), [.list([.float(1), .float(2), .float(3)]), .null, .list([.f32(nan), .float(0), .f32((-0.0 as Float).bitPattern)]),
                                                 .list([.float(4), .float(5), .float(6)]), .null, .list([.float(7), .float(8), .float(9)]),
                                                 .list([.float(1), .float(1), .float(1)]), .list([.f32(signalling), .float(1), .float(2)])]),
            ("messages", .list(ArrowField("item", message)), [
                .list([.record([.text("user"), .text("hi")]), .record([.text("assistant"), .text("yo")])]),
                .null,
                .list([.record([.text("user"), .null])]),
                .list([.null]),
                .list([]),
                .list([.record([.null, .null]), .null, .record([.text("system"), .text("")])]),
                .list([.record([.text("user"), .text("😀")])]),
                .null,
            ]),
            ("nested", nested, [
                .record([.int(1), .record([.list([.int(1), .int(2)])])]),
                .null,
                .record([.null, .null]),
                .record([.int(2), .record([.null])]),
                .record([.int(3), .record([.list([])])]),
                .record([.int(4), .record([.list([.null, .int(5)])])]),
                .null,
                .record([.int(.max), .record([.list([.int(.min)])])]),
            ]),
            ("matrix", .list(ArrowField("item", .list(ArrowField("item", .int64)))), [
                .list([.list([.int(1), .int(2)]), .list([]), .null, .list([.null])]),
                .null, .list([]), .list([.list([.int(3)])]), .list([.null]), .list([.list([]), .list([])]),
                .list([.list([.int(4)]), .list([.int(5), .int(6)])]), .null,
            ]),
        ]
    }

    // MARK: The plugin

    private func plugin() throws -> StepDescriptor {
        try Fixtures.requireBuiltPipeline()
        let library = Fixtures.buildDirectory.appendingPathComponent("libPipelineData.so").path
        return try PluginRegistry.load(PluginSearchPath(entries: [library])).step("write_parquet")
    }

    /// Runs write_parquet over `batches`, finishing it.
    private func write(_ batches: [RecordBatch], to file: URL, _ parameters: [String: JSONValue] = [:]) throws {
        var all = parameters
        all["path"] = .string(file.path)
        let instance = try StepInstance(try plugin(), parameters: all)
        for batch in batches { _ = try instance.process(batch) }
        _ = try instance.finish()
    }

    @Test("every type and nulls at every depth, each codec, dictionary on and off",
          arguments: ["snappy", "zstd", "none"], [true, false])
    func everyTypeReadsBackExactly(compression: String, dictionary: Bool) throws {
        let directory = try Fixtures.emptyDirectory("parquet-types")
        let file = directory.appendingPathComponent("all.parquet")
        let table = Self.everyType
        // Batches of 3, 0, 5 rows: one row group, whatever the batches.
        try write([try Self.batch(table, rows: 0..<3), try Self.batch(table, rows: 3..<3), try Self.batch(table, rows: 3..<8)], to: file,
                  ["compression": .string(compression), "dictionary": .bool(dictionary)])
        let codec = ["snappy": "SNAPPY", "zstd": "ZSTD", "none": "UNCOMPRESSED"][compression] ?? compression
        try pyarrowReads(file, Self.expected(table, extra: [
            "row_groups": [8], "codec": codec, "dictionary": dictionary, "stats_like_pyarrow": true,
            "created_by": ParquetBatchWriter.createdBy,
        ]))
        let bytes = try Data(contentsOf: file)
        #expect(bytes.prefix(4) == Data("PAR1".utf8) && bytes.suffix(4) == Data("PAR1".utf8))
    }

    @Test func statisticsHoldNullCountsAndMinMaxInTheColumnsOrder() throws {
        let directory = try Fixtures.emptyDirectory("parquet-stats")
        let file = directory.appendingPathComponent("stats.parquet")
        let table = Self.everyType
        try write([try Self.batch(table)], to: file)
        // The min and max parquet_read.py prints: floats as f64 bits (pyarrow
        // gives Python floats), uint64 compared unsigned, text byte-wise;
        // a NaN is never a min or max; a zero min is -0.0 and a zero max +0.0.
        func f64(_ value: Double) -> String { "f64:" + String(format: "%016llx", value.bitPattern) }
        try pyarrowReads(file, Self.expected(table, extra: ["stats": [
            "id": ["null_count": 1, "min": NSNumber(value: Int64.min), "max": NSNumber(value: Int64.max)],
            "big": ["null_count": 1, "min": 0, "max": NSNumber(value: UInt64.max)],
            "flag": ["null_count": 2, "min": false, "max": true],
            "f": ["null_count": 1, "min": f64(-.infinity), "max": f64(.infinity)],
            "d": ["null_count": 1, "min": f64(-.infinity), "max": f64(.greatestFiniteMagnitude)],
            "text": ["null_count": 1, "min": "", "max": "z"],
            // Null lists, empty lists and null elements are nulls of the leaf.
            "tags.list.element": ["null_count": 6, "min": "", "max": "é"],
        ] as [String: Any]]))

        // A max over 4,096 bytes: min and max are left out (null_count stays), as pyarrow does.
        let long = directory.appendingPathComponent("long.parquet")
        let table2: Table = [("s", .utf8, [.text("a"), .text(String(repeating: "z", count: 5000)), .text("b")])]
        try write([try Self.batch(table2)], to: long)
        try pyarrowReads(long, Self.expected(table2, extra: ["stats": ["s": ["null_count": 0]], "stats_like_pyarrow": true]))
    }

    @Test func rowGroupsAreCutAtRowGroupRowsWhateverTheBatchSizes() throws {
        let directory = try Fixtures.emptyDirectory("parquet-groups")
        let file = directory.appendingPathComponent("groups.parquet")
        let rows = 2500
        let table: Table = [
            ("n", .int64, (0..<rows).map { $0 % 7 == 0 ? .null : .int(Int64($0)) }),
            ("text", .utf8, (0..<rows).map { .text("row \($0 % 50) " + String(repeating: "é", count: $0 % 13)) }),
            ("tags", .utf8List, (0..<rows).map { $0 % 5 == 0 ? .list([]) : .list((0..<($0 % 4)).map { .text("t\($0)") }) }),
        ]
        var batches: [RecordBatch] = []
        var start = 0
        for size in [0, 7, 1000, 0, 1, 1492] {
            batches.append(try Self.batch(table, rows: start..<(start + size)))
            start += size
        }
        #expect(start == rows)
        try write(batches, to: file, ["row_group_rows": .number(1000)])
        try pyarrowReads(file, Self.expected(table, extra: ["row_groups": [1000, 1000, 500], "stats_like_pyarrow": true]))
    }

    @Test func aDictionaryPastOneMiBFallsBackToPlainPagesAndNothingIsLost() throws {
        let directory = try Fixtures.emptyDirectory("parquet-fallback")
        let file = directory.appendingPathComponent("fallback.parquet")
        // 15,000 distinct texts of ~400 bytes: 6 MB, past the 1 MiB
        // dictionary; 15,000 × 48 floats: 2.9 MB. Pages shrink as the
        // dictionary nears 1 MiB, and it stops growing past it: its page
        // stays under 1 MiB + 1/16 of a page (+ its header); the rest is PLAIN.
        let rows = 15000
        let filler = String(repeating: "0123456789", count: 40)
        let table: Table = [
            ("text", .utf8, (0..<rows).map { .text("\($0) \(filler)") }),
            ("embedding", .list(ArrowField("item", .float32)), (0..<rows).map { row in .list((0..<48).map { .f32(Float(row * 48 + $0).bitPattern) }) }),
        ]
        try write([try Self.batch(table)], to: file)
        try pyarrowReads(file, Self.expected(table, extra: [
            "row_groups": [rows], "dictionary": true,
            "encodings": ["text": ["PLAIN", "RLE", "RLE_DICTIONARY"], "embedding.list.element": ["PLAIN", "RLE", "RLE_DICTIONARY"]],
            "dictionary_page_at_most": ["text": (1 << 20) + (1 << 16) + 100, "embedding.list.element": (1 << 20) + (1 << 16) + 100],
        ]))
    }

    @Test func zeroRowsMakeAValidFileWithTheSchemaAndNoRowGroup() throws {
        let directory = try Fixtures.emptyDirectory("parquet-empty")
        let file = directory.appendingPathComponent("empty.parquet")
        let table = Self.everyType.map { (name: $0.name, type: $0.type, values: [V]()) }
        try write([try Self.batch(table)], to: file)
        try pyarrowReads(file, Self.expected(table, extra: ["row_groups": [Int]()]))
    }

    @Test func aBatchWithOtherColumnsIsAnErrorNamingTheColumn() throws {
        let directory = try Fixtures.emptyDirectory("parquet-schema")
        let file = directory.appendingPathComponent("schema.parquet")
        let instance = try StepInstance(try plugin(), parameters: ["path": .string(file.path)])
        _ = try instance.process(try Self.batch([("id", .int64, [.int(1)]), ("text", .utf8, [.text("a")])]))
        #expect {
            _ = try instance.process(try Self.batch([("id", .int64, [.int(2)]), ("text", .int64, [.int(3)])]))
        } throws: { error in
            "\(error)".contains("text") && "\(error)".contains("int64")
        }
        #expect {
            _ = try instance.process(try Self.batch([("id", .int64, [.int(2)]), ("other", .utf8, [.text("b")])]))
        } throws: { error in
            "\(error)".contains("other")
        }
        #expect(!FileManager.default.fileExists(atPath: file.path), "nothing is put in place before finish")
    }

    @Test func aStructWithNoFieldsIsRefusedByName() throws {
        let directory = try Fixtures.emptyDirectory("parquet-empty-struct")
        let file = directory.appendingPathComponent("s.parquet")
        let instance = try StepInstance(try plugin(), parameters: ["path": .string(file.path)])
        #expect {
            _ = try instance.process(try Self.batch([("hollow", .structure([]), [.record([])])]))
        } throws: { error in
            "\(error)".contains("hollow") && "\(error)".contains("struct with no fields")
        }
    }

    @Test func smallPagesSplitNestedColumnsAtRowBoundariesExactly() throws {
        // pageBytes is not a step parameter: the library directly, 64-byte pages.
        let directory = try Fixtures.emptyDirectory("parquet-pages")
        let file = directory.appendingPathComponent("pages.parquet")
        let table = Self.everyType
        let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        try #require(fd >= 0)
        let writer = try ParquetBatchWriter(fileDescriptor: fd, name: file.path, fields: table.map { ArrowField($0.name, $0.type) },
                                            options: ParquetWriteOptions(codec: .zstd, rowGroupRows: 5, pageBytes: 64))
        for _ in 0..<3 { try writer.write(try Self.batch(table)) }
        try writer.finish()
        close(fd)
        #expect(writer.rowsWritten == 24 && writer.rowGroupsWritten == 5)
        let tripled: Table = table.map { (name: $0.name, type: $0.type, values: $0.values + $0.values + $0.values) }
        try pyarrowReads(file, Self.expected(tripled, extra: ["row_groups": [5, 5, 5, 5, 4]]))
    }

    // MARK: Bytes from the specification

    @Test func aDictionaryPageHeaderHasTheBytesPyarrowWrites() {
        // The worked example of the research note (pyarrow 26, uncompressed):
        // type 2, sizes 12 and 12, dictionary_page_header {2 values, PLAIN, is_sorted false}.
        let header = PageHeader(type: .dictionaryPage, uncompressedPageSize: 12, compressedPageSize: 12,
                                dictionaryPageHeader: DictionaryPageHeader(numValues: 2, encoding: .plain, isSorted: false))
        #expect(header.encoded() == [0x15, 0x04, 0x15, 0x18, 0x15, 0x18, 0x4C, 0x15, 0x04, 0x15, 0x00, 0x12, 0x00, 0x00])
    }

    @Test func thriftFieldHeadersUseTheLongFormPastADeltaOf15() {
        var writer = ThriftCompactWriter()
        writer.field(1, i32: -1)          // short form, zigzag 1
        writer.field(17, i64: 300)        // delta 16: long form, id zigzag 34, value zigzag 600
        writer.field(16, bool: true)      // a smaller id: long form; the value is the type nibble
        writer.beginList(18, of: .i32, count: 15)   // 15 elements: size nibble 0xF then a varint
        for _ in 0..<15 { writer.element(i32: 0) }
        writer.endStruct()
        #expect(writer.bytes == [0x15, 0x01, 0x06, 0x22, 0xD8, 0x04, 0x01, 0x20, 0x29, 0xF5, 0x0F]
                + [UInt8](repeating: 0, count: 15) + [0x00])
    }

    @Test func levelsAreRLERunsFor8RepeatsAndBitPackedGroupsOtherwise() {
        // 10 ones: one RLE run (count 10 << 1, then the value in one byte).
        #expect(RLEHybridEncoder.encode([UInt8](repeating: 1, count: 10), bitWidth: 1) == [0x14, 0x01])
        // 1, 0, 1: one bit-packed group (header 1 << 1 | 1), 0b101, padded.
        #expect(RLEHybridEncoder.encode([UInt8]([1, 0, 1]), bitWidth: 1) == [0x03, 0x05])
        // 3 values then 12 twos (width 2): the 3 and 5 of the twos fill a group
        // of 8, the other 7 twos are fewer than 8: one more group (2 bytes
        // each), the last value padded with 0.
        #expect(RLEHybridEncoder.encode([UInt8]([0, 1, 3] + [UInt8](repeating: 2, count: 12)), bitWidth: 2)
                == [0x05, 0b1011_0100, 0b1010_1010, 0b1010_1010, 0b0010_1010])
        // 3 values then 20 twos: 5 twos complete the group, 15 twos are an RLE run.
        #expect(RLEHybridEncoder.encode([UInt8]([0, 1, 3] + [UInt8](repeating: 2, count: 20)), bitWidth: 2)
                == [0x03, 0b1011_0100, 0b1010_1010, 0x1E, 0x02])
        // Width 0 (a single dictionary entry): runs with no value bytes.
        #expect(RLEHybridEncoder.encode([UInt32](repeating: 0, count: 9), bitWidth: 0) == [0x12])
    }

    @Test func createdByNamesThisProgramAndItsVersion() {
        #expect(ParquetBatchWriter.createdBy == "pipeline version \(PipelineVersion.host)")
    }

    // MARK: The binary

    private func run(_ yaml: String, in directory: URL) throws -> (status: Int32, output: String) {
        try Fixtures.requireBuiltPipeline()
        let file = directory.appendingPathComponent("pipeline.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        return try Fixtures.run(Fixtures.pipelineBinary, ["run", file.path, "--run-dir", directory.appendingPathComponent("run").path])
    }

    /// A file written with include_row_id read again: the host numbers the
    /// rows of the new run, so load_parquet leaves the old `_row_id` out (and
    /// says so) instead of failing or passing it on as data.
    @Test func aFileWithRowIDsReadsBackWithoutThem() throws {
        let directory = try Fixtures.emptyDirectory("parquet-row-ids")
        let written = try run("""
            name: ids
            steps:
              - {name: load, uses: load_inline, with: {rows: [{text: a}, {text: b}, {text: c}]}}
              - {name: save, uses: write_parquet, input: load, with: {path: "\(directory.path)/ids.parquet", include_row_id: true}}
            """, in: directory)
        try #require(written.status == 0, "\(written.output)")
        let again = directory.appendingPathComponent("again")
        try FileManager.default.createDirectory(at: again, withIntermediateDirectories: true)
        let read = try run("""
            name: again
            steps:
              - {name: load, uses: load_parquet, with: {path: "\(directory.path)/ids.parquet"}}
              - {name: save, uses: write_jsonl, input: load, with: {path: out.jsonl}}
            """, in: again)
        try #require(read.status == 0, "\(read.output)")
        #expect(read.output.contains("leaving out the column") && read.output.contains("_row_id"), "\(read.output)")
        let lines = try String(contentsOf: again.appendingPathComponent("run/out.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines == [#"{"text":"a"}"#, #"{"text":"b"}"#, #"{"text":"c"}"#], "\(lines)")
    }

    @Test func aPipelineWritesJSONLinesAndEmbeddingsAsParquet() throws {
        let directory = try Fixtures.emptyDirectory("parquet-pipeline")
        let lines = [
            #"{"id": 1, "text": "héllo", "score": 0.5, "ok": true, "tags": ["a", "b"], "messages": [{"role": "user", "content": "hi"}]}"#,
            #"{"id": null, "text": "", "score": -0.0, "ok": null, "tags": [], "messages": null}"#,
            #"{"id": -9223372036854775808, "text": null, "score": 1e308, "ok": false, "tags": null, "messages": [{"role": "assistant", "content": null}]}"#,
        ]
        try lines.joined(separator: "\n").write(to: directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
        let vectors: [Float] = [1, 2, 3, -0.0, .infinity, 0.25]
        try NPYEmbeddingsTests.npy(vectors, rows: 3, dims: 2).write(to: directory.appendingPathComponent("vectors.npy"))
        let result = try run("""
            name: parquet
            steps:
              - {name: load, uses: load_jsonl, with: {path: "\(directory.path)/rows.jsonl", embeddings: "\(directory.path)/vectors.npy", batch_size: 2}}
              - {name: save, uses: write_parquet, input: load, with: {path: out.parquet, compression: zstd, include_row_id: true}}
            """, in: directory)
        try #require(result.status == 0, "\(result.output)")
        let file = directory.appendingPathComponent("run/out.parquet")
        guard Self.pyarrowAvailable else { return }
        let dump = try Spawned(Self.python, ["-B", Self.script, "dump", file.path]).wait()
        try #require(dump.status == 0, "\(dump.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(dump.output.utf8)) as? [String: Any])
        let schema = try #require(json["schema"] as? [[String]])
        let names = schema.map { $0[0] }
        #expect(Set(names) == ["_row_id", "id", "text", "score", "ok", "tags", "messages", "embedding"], "\(schema)")
        #expect(schema.first { $0[0] == "_row_id" }?[1] == "uint64", "\(schema)")
        #expect(schema.first { $0[0] == "embedding" }?[1] == "list<element: float>", "\(schema)")
        let rows = try #require(json["rows"] as? [[Any]])
        try #require(rows.count == 3)
        func cell(_ row: Int, _ name: String) -> Any? { names.firstIndex(of: name).map { rows[row][$0] } }
        #expect(cell(0, "text") as? String == "héllo" && cell(1, "text") as? String == "" && cell(2, "text") is NSNull)
        #expect((cell(2, "id") as? NSNumber)?.int64Value == Int64.min && cell(1, "id") is NSNull)
        #expect(cell(1, "score") as? String == "f64:8000000000000000")
        #expect(cell(2, "score") as? String == "f64:" + String(format: "%016llx", (1e308).bitPattern))
        #expect((cell(0, "tags") as? [String]) == ["a", "b"] && (cell(1, "tags") as? [Any])?.isEmpty == true && cell(2, "tags") is NSNull)
        let message = try #require((cell(2, "messages") as? [[String: Any]])?.first)
        #expect(message["role"] as? String == "assistant" && message["content"] is NSNull)
        #expect(cell(1, "messages") is NSNull)
        #expect((cell(1, "embedding") as? [String]) == ["f32:40400000", "f32:80000000"])
        #expect((cell(2, "embedding") as? [String]) == ["f32:7f800000", "f32:3e800000"])
        let ids = (0..<3).compactMap { (cell($0, "_row_id") as? NSNumber)?.uint64Value }
        #expect(Set(ids).count == 3, "\(ids)")
        let groups = try #require(json["row_groups"] as? [[String: Any]])
        #expect(groups.count == 1 && (groups[0]["columns"] as? [[String: Any]])?.allSatisfy { $0["codec"] as? String == "ZSTD" } == true)

        // Hugging Face datasets (also in the test venv) loads it with the features a dataset of chats has.
        var environment = ProcessInfo.processInfo.environment
        environment["HF_HOME"] = directory.appendingPathComponent("hf-home").path
        environment["HF_DATASETS_OFFLINE"] = "1"
        let hf = try Spawned(Self.python, ["-B", Self.script, "datasets", file.path], environment: environment).wait()
        try #require(hf.status == 0, "\(hf.output)")
        let line = try #require(hf.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let view = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let features = try #require(view["features"] as? [String: String])
        #expect(view["num_rows"] as? Int == 3)
        #expect(features["messages"] == "List({'role': Value('string'), 'content': Value('string')})", "\(features)")
        #expect(features["embedding"] == "List(Value('float32'))" && features["_row_id"] == "Value('uint64')", "\(features)")
    }

    @Test func aFailedRunKeepsTheEarlierFileAndLeavesNoTemporaryFile() throws {
        let directory = try Fixtures.emptyDirectory("parquet-failed")
        let good = (0..<50).map { #"{"n": \#($0)}"# }.joined(separator: "\n")
        try good.write(to: directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
        let yaml = """
            name: parquet
            steps:
              - {name: load, uses: load_jsonl, with: {path: "\(directory.path)/rows.jsonl", batch_size: 5, columns: [{n: int64}]}}
              - {name: save, uses: write_parquet, input: load, with: {path: "\(directory.path)/out/data.parquet"}}
            """
        let first = try run(yaml, in: directory)
        try #require(first.status == 0, "\(first.output)")
        let output = directory.appendingPathComponent("out/data.parquet")
        let before = try Data(contentsOf: output)

        // The same pipeline over a file whose line 40 is bad: the loader
        // fails after write_parquet has had 35 rows.
        var lines = (0..<50).map { #"{"n": \#($0 + 1000)}"# }
        lines[39] = #"{"n": "not a number"}"#
        try lines.joined(separator: "\n").write(to: directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("run"))
        let second = try run(yaml, in: directory)
        #expect(second.status != 0, "\(second.output)")
        #expect(try Data(contentsOf: output) == before, "the earlier file is untouched")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("out").path)
        #expect(left == ["data.parquet"], "\(left)")
        try pyarrowReads(output, Self.expected([("n", .int64, (0..<50).map { .int(Int64($0)) })], extra: ["row_groups": [50]]))
    }

    @Test func overwriteFalseRefusesAnExistingFileBeforeRunning() throws {
        let directory = try Fixtures.emptyDirectory("parquet-overwrite")
        let output = directory.appendingPathComponent("data.parquet")
        try Data("not parquet".utf8).write(to: output)
        let result = try run("""
            name: parquet
            steps:
              - {name: load, uses: load_inline, with: {rows: [{n: 1}]}}
              - {name: save, uses: write_parquet, input: load, with: {path: "\(output.path)", overwrite: false}}
            """, in: directory)
        #expect(result.status != 0)
        #expect(result.output.contains("overwrite is false"), "\(result.output)")
        #expect(try Data(contentsOf: output) == Data("not parquet".utf8))
    }

    @Test func inspectShowsTheTypeTableAndTheParameters() throws {
        try Fixtures.requireBuiltPipeline()
        let result = try Fixtures.run(Fixtures.pipelineBinary, ["plugins", "inspect", "write_parquet"])
        #expect(result.status == 0, "\(result.output)")
        // The text is wrapped to the terminal: compare with single spaces.
        let text = result.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for needle in ["INTEGER(64, unsigned)", "3-level LIST", "fixed_size_list<T>[n]", "compression", "row_group_rows", "snappy",
                       "temporary file in the same directory and renamed"] {
            #expect(text.contains(needle), "\(needle) missing from:\n\(result.output)")
        }
    }
}
