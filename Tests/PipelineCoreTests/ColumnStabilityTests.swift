import Foundation
import Logging
import PipelineArrow
import Testing

@testable import PipelineCore
@testable import PipelineJSON
@testable import PipelineHost

/// Issue 17 §6, rows whose columns come and go: a loader's columns are
/// those of the whole file, in every batch, in one order, with one type
/// each; a key a row lacks is a null in that row; a key with values of two
/// kinds stops the run naming the key and both lines. load_jsonl (inferred
/// or declared `columns:`), load_csv and load_inline, through the built
/// plugins (C ABI) and end to end through the built binary.
@Suite("Column stability")
struct ColumnStabilityTests {
    // MARK: Harness: the data plugin through the C ABI

    private static let registry: PluginRegistry? = {
        let library = Fixtures.buildDirectory.appendingPathComponent("libPipelineData.so").path
        guard FileManager.default.fileExists(atPath: library) else { return nil }
        return PluginRegistry.load(PluginSearchPath(entries: [library]))
    }()

    private func generator(_ name: String, _ parameters: [String: JSONValue], logs: LogCapture? = nil) throws -> StepInstance {
        let registry = try #require(Self.registry,
                                    "libPipelineData.so is missing next to the tests: build the PipelineData product first")
        let descriptor = try registry.step(name)
        if let logs {
            return try StepInstance(descriptor, parameters: parameters,
                                    logger: Logger(label: "test") { _ in CaptureHandler(capture: logs) })
        }
        return try StepInstance(descriptor, parameters: parameters)
    }

    private func drain(_ generator: StepInstance) throws -> [RecordBatch] {
        var batches: [RecordBatch] = []
        while let batch = try generator.process(nil) { batches.append(batch) }
        #expect(try generator.finish() == nil)
        return batches
    }

    private func failure(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func write(_ directory: URL, _ name: String, _ text: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    private func strings(_ batches: [RecordBatch], _ column: String) -> [String?] {
        batches.flatMap { batch in (0..<batch.length).map { batch.column(column)?.string($0) } }
    }

    // MARK: Harness: the binary

    /// The `char_count` example of docs/writing-plugins.md, compiled as it
    /// is written there: the plugin the issue found failing on sparse JSONL.
    private func docsCharCount(in directory: URL) throws -> String {
        let docs = try String(contentsOf: Fixtures.packageRoot.appendingPathComponent("docs/writing-plugins.md"), encoding: .utf8)
        let section = try #require(docs.range(of: "## A minimal plugin in C"), "docs/writing-plugins.md has no C example")
        let rest = docs[section.upperBound...]
        let open = try #require(rest.range(of: "```c\n"))
        let close = try #require(rest[open.upperBound...].range(of: "\n```"))
        let source = directory.appendingPathComponent("char_count.c").path
        try String(rest[open.upperBound..<close.lowerBound]).write(toFile: source, atomically: false, encoding: .utf8)
        let library = directory.appendingPathComponent("libchar_count.so").path
        let result = try Fixtures.run("/usr/bin/env", ["cc", "-std=c11", "-Wall", "-Wextra", "-fPIC", "-shared",
                                                       "-fvisibility=hidden", "-I", Fixtures.includeDirectory,
                                                       "-o", library, source])
        try #require(result.status == 0, "the docs' char_count does not compile:\n\(result.output)")
        return library
    }

    private func run(_ pipeline: String, in directory: URL, _ extra: [String] = []) throws -> (status: Int32, output: String, runDirectory: String) {
        let file = try write(directory, "pipeline.yaml", pipeline)
        let runDirectory = directory.appendingPathComponent("run-\(UUID().uuidString)").path
        let result = try Fixtures.run(Fixtures.pipelineBinary, ["run", file, "--run-dir", runDirectory] + extra)
        return (result.status, result.output, runDirectory)
    }

    private func objects(_ path: String) throws -> [JSONValue] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    // MARK: End to end

    /// The key `text` appears in the last batch only: every batch still has
    /// a utf8 column `text` (null until then), so the docs' char_count reads
    /// it from the first batch on; every row comes out, in file order.
    @Test func aKeyOnlyInTheLastBatchReachesAStepThatReadsIt() throws {
        try Fixtures.requireBuiltPipeline()
        let dir = try Fixtures.emptyDirectory("stable-sparse")
        let charCount = try docsCharCount(in: dir)
        var lines: [String] = []
        for n in 0..<9 {
            switch n {
            case 2: lines.append(#"{"id": 2, "meta": "k=1", "tags": ["a", "b"]}"#)
            case 5: lines.append(#"{"id": 5, "tags": [], "v": [0.5, -1]}"#)
            case 8: lines.append(#"{"text": "héllo wörld", "id": 8}"#)
            default: lines.append(#"{"id": \#(n)}"#)
            }
        }
        _ = try write(dir, "sparse.jsonl", lines.joined(separator: "\n") + "\n")
        let result = try run("""
            name: sparse
            steps:
              - name: load
                uses: load_jsonl
                with: {path: sparse.jsonl}
                batch_size: 2
              - name: count
                uses: char_count
                input: load
              - name: save
                uses: write_jsonl
                input: count
                with: {path: out.jsonl, include_row_id: true}
            """, in: dir, ["--plugin-path", charCount])
        #expect(result.status == 0, "\(result.output)")
        let rows = try objects(result.runDirectory + "/out.jsonl")
        #expect(rows.count == 9)
        // Order, count and ids: the file's.
        #expect(rows.map { $0["id"]?.int64Value } == (0..<9).map { Int64($0) })
        #expect(rows.compactMap { $0["_row_id"]?.int64Value } == (0..<9).map { Int64($0) })
        for (n, row) in rows.enumerated() {
            // Every row has every column of the file, in the order of first appearance.
            #expect(row.objectValue.map { Set($0.keys) } == ["id", "meta", "tags", "v", "text", "chars", "_row_id"])
            if n == 8 {
                #expect(row["text"] == .string("héllo wörld"))
                #expect(row["chars"] == .number(11))
            } else {
                #expect(row["text"] == .null)
                #expect(row["chars"] == .null)
            }
        }
        // Lists as lists: a C step (pipeline_arrow.h) passes list<utf8> and
        // list<float64> on. (Structs and list<int64> it cannot: NestedJSONTests.)
        #expect(rows[2]["meta"] == .string("k=1"))
        #expect(rows[2]["tags"] == .array([.string("a"), .string("b")]))
        #expect(rows[5]["tags"] == .array([]))
        #expect(rows[5]["v"] == .array([.number(0.5), .number(-1)]))
        #expect(rows[0]["tags"] == .null)
        let text = try String(contentsOfFile: result.runDirectory + "/out.jsonl", encoding: .utf8)
        #expect(text.hasPrefix(#"{"id":0,"meta":null,"tags":null,"v":null,"text":null,"_row_id":0,"chars":null}"#), "\(text)")
    }

    /// A number on line 3 and a string on line 900: the run stops (exit
    /// 1) before a row is emitted, naming the file, the key and both lines.
    @Test func aTypeConflictNamesTheKeyAndBothLines() throws {
        try Fixtures.requireBuiltPipeline()
        let dir = try Fixtures.emptyDirectory("stable-conflict")
        var text = ""
        for line in 1...1000 {
            switch line {
            case 3: text += #"{"id": \#(line), "label": 7}"# + "\n"
            case 900: text += #"{"id": \#(line), "label": "seven"}"# + "\n"
            case 950: text += #"{"id": \#(line), "label": null}"# + "\n"   // null never conflicts
            default: text += #"{"id": \#(line)}"# + "\n"
            }
        }
        let path = try write(dir, "data.jsonl", text)
        let pipeline = """
            name: conflict
            steps:
              - name: load
                uses: load_jsonl
                with: {path: data.jsonl}
                batch_size: 100
              - name: save
                uses: write_jsonl
                input: load
                with: {path: out.jsonl}
            """
        let result = try run(pipeline, in: dir)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains(#"\#(path): the key \"label\" is a number on line 3 and a string on line 900"#),
                "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: result.runDirectory + "/out.jsonl"))

        // Declared json, the same file loads: every value as its JSON text.
        let declared = try run(pipeline.replacingOccurrences(of: "{path: data.jsonl}",
                                                             with: "{path: data.jsonl, columns: [{id: int64}, {label: json}]}"),
                               in: dir)
        #expect(declared.status == 0, "\(declared.output)")
        let rows = try objects(declared.runDirectory + "/out.jsonl")
        #expect(rows.count == 1000)
        #expect(rows[2]["label"] == .string("7"))
        #expect(rows[899]["label"] == .string(#""seven""#))
        #expect(rows[949]["label"] == .null)
        #expect(rows[0]["label"] == .null)
    }

    /// int64 and float64 values in one column make it float64 only if no
    /// integer changes on the way; 2^53 + 1 does, and stops the run.
    @Test func integersAFloat64CannotHoldStopTheRun() throws {
        try Fixtures.requireBuiltPipeline()
        let dir = try Fixtures.emptyDirectory("stable-exact")
        let path = try write(dir, "n.jsonl", "{\"x\": 1.5}\n{\"x\": 9007199254740992}\n{\"x\": 9007199254740993}\n")
        let result = try run("""
            name: exact
            steps:
              - name: load
                uses: load_jsonl
                with: {path: n.jsonl}
              - name: save
                uses: write_jsonl
                input: load
                with: {path: out.jsonl}
            """, in: dir)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains(#"\#(path): the key \"x\" is a number with a fraction or an exponent on line 1 and the integer 9007199254740993 on line 3"#),
                "\(result.output)")
    }

    /// `columns:` in list form gives the columns and their order without a
    /// first pass; a value of another type is a bad line at file:line:column
    /// (fails, or is skipped and counted with on_error: skip).
    @Test func declaredColumnsThroughTheBinary() throws {
        try Fixtures.requireBuiltPipeline()
        let dir = try Fixtures.emptyDirectory("stable-declared")
        let good = """
            {"id": 1, "messages": [{"role": "user", "content": "hi"}], "score": 2}
            {"text": "two", "id": 2, "messages": "plain"}
            {"id": 3, "score": 0.25, "messages": null}

            """
        _ = try write(dir, "good.jsonl", good)
        let pipeline = """
            name: declared
            steps:
              - name: load
                uses: load_jsonl
                with:
                  path: FILE
                  on_error: MODE
                  columns:
                    - id: int64
                    - text: utf8
                    - messages: json
                    - score: float64
                batch_size: 1
              - name: save
                uses: write_jsonl
                input: load
                with: {path: out.jsonl}
            """
        func pipelineFor(_ file: String, _ mode: String) -> String {
            pipeline.replacingOccurrences(of: "FILE", with: file).replacingOccurrences(of: "MODE", with: mode)
        }
        let result = try run(pipelineFor("good.jsonl", "fail"), in: dir)
        #expect(result.status == 0, "\(result.output)")
        let text = try String(contentsOfFile: result.runDirectory + "/out.jsonl", encoding: .utf8)
        #expect(text == """
            {"id":1,"text":null,"messages":"[{\\"role\\":\\"user\\",\\"content\\":\\"hi\\"}]","score":2.0}
            {"id":2,"text":"two","messages":"\\"plain\\"","score":null}
            {"id":3,"text":null,"messages":null,"score":0.25}

            """, "\(text)")

        let badPath = try write(dir, "bad.jsonl", good + "{\"id\": \"4\"}\n{\"id\": 5, \"extra\": true}\n{\"id\": 6}\n")
        let failed = try run(pipelineFor("bad.jsonl", "fail"), in: dir)
        #expect(failed.status == 1, "\(failed.output)")
        #expect(failed.output.contains(#"\#(badPath):4:8: \"id\" is a string, but columns declares it int64"#), "\(failed.output)")
        let skipped = try run(pipelineFor("bad.jsonl", "skip"), in: dir)
        #expect(skipped.status == 0, "\(skipped.output)")
        #expect(skipped.output.contains(#"\#(badPath):5:11: the key \"extra\" is not one of the columns declared in columns"#),
                "\(skipped.output)")
        #expect(skipped.output.contains("skipped 2 bad lines of"), "\(skipped.output)")
        let rows = try objects(skipped.runDirectory + "/out.jsonl")
        #expect(rows.map { $0["id"]?.int64Value } == [1, 2, 3, 6])
    }

    /// Killed with SIGKILL mid-run and resumed (the loader, a generator, is
    /// replayed, first pass and all): the same rows, with the same ids, as
    /// a run that was never interrupted.
    @Test func killedAndResumedGivesTheSameRowsAndIds() throws {
        try Fixtures.requireBuiltPipeline()
        let dir = try Fixtures.emptyDirectory("stable-resume")
        let charCount = try docsCharCount(in: dir)
        let slow = try Fixtures.library("Tests/Fixtures/plugins/slow.c")
        var text = ""
        for n in 0..<1200 {
            // `text` from row 1000 on, `score` an integer until row 1100, then a fraction.
            var row = #"{"n": \#(n)"#
            if n >= 1000 { row += #", "text": "row \#(n)""# }
            if n % 3 == 0 { row += n < 1100 ? #", "score": \#(n)"# : #", "score": \#(n).5"# }
            text += row + "}\n"
        }
        _ = try write(dir, "seed.jsonl", text)
        let file = try write(dir, "resume.yaml", """
            name: resume
            steps:
              - name: load
                uses: load_jsonl
                with: {path: seed.jsonl}
                batch_size: 20
              - name: slow
                uses: slow
                input: load
                with: {delay_ms: 8}
              - name: count
                uses: char_count
                input: slow
              - name: save
                uses: write_jsonl
                input: count
                with: {path: rows.jsonl, include_row_id: true}
            """)
        let flags = ["--plugin-path", charCount, "--plugin-path", slow]
        func rows(_ runDirectory: String) throws -> [String] {
            try String(contentsOfFile: runDirectory + "/rows.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
        }
        let reference = dir.appendingPathComponent("reference").path
        let clean = try Fixtures.run(Fixtures.pipelineBinary, ["run", file, "--run-dir", reference] + flags)
        #expect(clean.status == 0, "\(clean.output)")
        let expected = try rows(reference)
        #expect(expected.count == 1200)
        #expect(expected.first == #"{"n":0,"score":0.0,"text":null,"_row_id":0,"chars":null}"#)
        #expect(expected.last == #"{"n":1199,"score":null,"text":"row 1199","_row_id":1199,"chars":8}"#)

        let interrupted = dir.appendingPathComponent("interrupted").path
        let first = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", interrupted] + flags)
        // Long enough for some batches to be stored, well before the end (60 batches × 8 ms).
        Thread.sleep(forTimeInterval: 0.25)
        try #require(first.isRunning, "the run ended before it could be killed")
        first.kill(SIGKILL)
        _ = first.wait()
        let resumed = try Fixtures.run(Fixtures.pipelineBinary, ["run", file, "--run-dir", interrupted] + flags)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try rows(interrupted).sorted() == expected.sorted())
    }

    // MARK: load_jsonl through the C ABI

    @Test func everyBatchHasTheColumnsOfTheWholeFile() throws {
        let dir = try Fixtures.emptyDirectory("stable-abi")
        let path = try write(dir, "s.jsonl", """
            {"a": 1, "tags": []}
            {"a": null}
            {"b": "x", "tags": ["t"]}
            {"a": 2.5, "c": true, "v": []}
            {"v": [1, 2], "o": {"j": [true]}}
            {"o": {"k": 1}, "tags": null}

            """)
        let batches = try drain(try generator("load_jsonl", ["path": .string(path), "batch_size": .number(2)]))
        #expect(batches.map(\.length) == [2, 2, 2])
        for batch in batches {
            #expect(batch.fields.map(\.name) == ["a", "tags", "b", "c", "v", "o"])
            let o: ArrowType = .structure([ArrowField("j", .list(ArrowField("item", .bool)), metadata: [ArrowField.nullIsAbsentKey: "true"]),
                                           ArrowField("k", .int64, metadata: [ArrowField.nullIsAbsentKey: "true"])])
            #expect(batch.fields.map(\.type) == [.float64, .utf8List, .utf8, .bool, .list(ArrowField("item", .int64)), o])
        }
        #expect(batches[0].column("a")?.float64(0) == 1)
        #expect(batches[0].column("a")?.isValid(1) == false)
        #expect(batches[0].column("tags")?.stringList(0) == [])
        #expect(batches[1].column("tags")?.stringList(0) == ["t"])
        #expect(batches[1].column("v")?.valueRange(1).count == 0)
        let v = try #require(batches[2].column("v"))
        #expect(v.valueRange(0).map { v.items.int64($0) } == [1, 2])
        var objects: [String] = []
        for batch in batches { objects += BatchJSON.rows(try RecordBatch([("o", try #require(batch.column("o")))])) }
        #expect(objects == [#"{"o":null}"#, #"{"o":null}"#, #"{"o":null}"#, #"{"o":null}"#, #"{"o":{"j":[true]}}"#, #"{"o":{"k":1}}"#])
        #expect(strings(batches, "b") == [nil, nil, "x", nil, nil, nil])
    }

    @Test func conflictsAndWhatIsNoConflict() throws {
        let dir = try Fixtures.emptyDirectory("stable-kinds")
        let conflicts: [(first: String, second: String, message: String)] = [
            ("1", "\"x\"", "is a number on line 1 and a string on line 3"),
            ("true", "0", "is a boolean on line 1 and a number on line 3"),
            ("\"x\"", "[\"x\"]", "is a string on line 1 and an array on line 3"),
            ("{\"k\": 1}", "\"{}\"", "is an object on line 1 and a string on line 3"),
            ("[1]", "2", "is an array on line 1 and a number on line 3"),
        ]
        for (first, second, message) in conflicts {
            let path = try write(dir, "c.jsonl", "{\"k\": \(first)}\n{\"k\": null}\n{\"other\": 1, \"k\": \(second)}\n")
            let error = failure { _ = try drain(try generator("load_jsonl", ["path": .string(path), "batch_size": .number(1)])) }
            #expect(error?.contains("load_jsonl: \(path): the key \"k\" \(message)") == true, "\(error ?? "no error")")
        }
        // A duplicate key: the value read (the last) is the one typed.
        let duplicate = try write(dir, "d.jsonl", "{\"a\": \"x\", \"a\": 1}\n{\"a\": 2}\n")
        let batch = try #require(try drain(try generator("load_jsonl", ["path": .string(duplicate)])).first)
        #expect(batch.column("a")?.type == .int64)
        #expect(batch.column("a")?.int64(0) == 1)
        // Integers a double holds exactly widen to float64: 2^53 and 2^60 do.
        let exact = try write(dir, "e.jsonl", "{\"x\": 9007199254740992}\n{\"x\": 0.5}\n{\"x\": 1152921504606846976}\n")
        let widened = try drain(try generator("load_jsonl", ["path": .string(exact), "batch_size": .number(1)]))
        #expect(widened.map { $0.column("x")?.type } == [.float64, .float64, .float64])
        #expect(widened[2].column("x")?.float64(0) == 1_152_921_504_606_846_976)
        // inexact_numbers: text makes a number column text, every digit as written.
        let text = try write(dir, "t.jsonl", "{\"x\": 1.50}\n{\"x\": 9007199254740993}\n{\"x\": 123456789012345678901234567890}\n")
        let asText = try drain(try generator("load_jsonl", ["path": .string(text), "batch_size": .number(1),
                                                            "inexact_numbers": .string("text")]))
        #expect(strings(asText, "x") == ["1.50", "9007199254740993", "123456789012345678901234567890"])
    }

    /// In skip mode a bad line counts for nothing in the first pass either:
    /// its keys are no columns and its values decide no type.
    @Test func skippedLinesDecideNothing() throws {
        let dir = try Fixtures.emptyDirectory("stable-skip")
        let path = try write(dir, "s.jsonl", "{\"a\": 1}\n{\"z\": 1, \"a\": \"x\", oops}\n{\"a\": 2}\n")
        let logs = LogCapture()
        let batches = try drain(try generator("load_jsonl", ["path": .string(path), "on_error": .string("skip")], logs: logs))
        #expect(batches.first?.fields.map(\.name) == ["a"])
        #expect(batches.first?.column("a")?.type == .int64)
        #expect(batches.map(\.length) == [2])
        // Reported once, by the pass that makes the rows.
        #expect(logs.messages(.warning).filter { $0.contains("s.jsonl:2:") }.count == 1, "\(logs.messages(.warning))")
    }

    @Test func declaredColumnsThroughTheABI() throws {
        let dir = try Fixtures.emptyDirectory("stable-declared-abi")
        let path = try write(dir, "d.jsonl", "{\"b\": 1, \"a\": \"x\", \"l\": [\"p\"], \"f\": [1.5], \"t\": true}\n{\"a\": null}\n")
        // A mapping: columns in name order.
        let columns: JSONValue = .object(["b": .string("int64"), "a": .string("utf8"), "l": .string("list<utf8>"),
                                          "f": .string("list<float64>"), "t": .string("bool")])
        let batch = try #require(try drain(try generator("load_jsonl", ["path": .string(path), "columns": columns])).first)
        #expect(batch.fields.map(\.name) == ["a", "b", "f", "l", "t"])
        #expect(batch.fields.map(\.type) == [.utf8, .int64, .float64List, .utf8List, .bool])
        #expect(batch.column("l")?.stringList(0) == ["p"])
        #expect(batch.column("b")?.isValid(1) == false)
        // A declared float64 refuses an integer it would change.
        let inexact = try write(dir, "i.jsonl", "{\"x\": 9007199254740993}\n")
        let message = failure {
            _ = try drain(try generator("load_jsonl", ["path": .string(inexact), "columns": .array([.object(["x": .string("float64")])])]))
        }
        #expect(message?.contains("\(inexact):1:7: \"x\" is the integer 9007199254740993, which a float64 cannot hold exactly, but columns declares it float64") == true,
                "\(message ?? "no error")")
        // json keeps numbers no double holds, without inexact_numbers.
        let big = try write(dir, "b.jsonl", "{\"x\": 123456789012345678901234567890}\n{\"x\": [1e400]}\n")
        let kept = try drain(try generator("load_jsonl", ["path": .string(big), "columns": .array([.object(["x": .string("any")])])]))
        #expect(strings(kept, "x") == ["123456789012345678901234567890", "[1e400]"])
        // Bad declarations fail at create.
        let bad: [(JSONValue, String)] = [
            (.array([.object(["x": .string("int")])]), "\"x\" has the type \"int\", which is not one of int64, float64"),
            (.array([.object(["x": .string("utf8")]), .object(["x": .string("json")])]), "\"x\" is declared twice"),
            (.array([.object(["_row_id": .string("int64")])]), "\"_row_id\" names a column the host owns"),
            (.array([.object(["x": .string("utf8"), "y": .string("utf8")])]), "columns[0] must be one name: type entry (it has 2)"),
        ]
        for (declaration, expected) in bad {
            let text = failure { _ = try generator("load_jsonl", ["path": .string(path), "columns": declaration]) }
            #expect(text?.contains(expected) == true, "\(text ?? "no error")")
        }
    }

    // MARK: load_csv and load_inline

    /// load_csv typed its columns per batch: "1" made an int64 column in one
    /// batch and "x" a utf8 one in the next. Now the whole file decides, and
    /// an integer a float64 cannot hold keeps its column text.
    @Test func csvColumnsHaveTheTypesOfTheWholeFile() throws {
        let dir = try Fixtures.emptyDirectory("stable-csv")
        let path = try write(dir, "t.csv", "n,m,big,e\n1,1,9007199254740993,\n2,2,1,\n3,2.5,0.5,\nx,4,2,\n")
        let batches = try drain(try generator("load_csv", ["path": .string(path), "batch_size": .number(2)]))
        #expect(batches.map(\.length) == [2, 2])
        for batch in batches {
            #expect(batch.fields.map(\.type) == [.utf8, .float64, .utf8, .utf8])
        }
        #expect(strings(batches, "n") == ["1", "2", "3", "x"])
        #expect(batches.flatMap { b in (0..<b.length).map { b.column("m")?.float64($0) } } == [1, 2, 2.5, 4])
        #expect(strings(batches, "big") == ["9007199254740993", "1", "0.5", "2"])
        #expect(strings(batches, "e") == [nil, nil, nil, nil])
        // A bad record skipped is no evidence: the column stays int64.
        let skip = try write(dir, "s.csv", "a,b\n1,2\nx,y,z\n3,4\n")
        let logs = LogCapture()
        let typed = try drain(try generator("load_csv", ["path": .string(skip), "on_error": .string("skip"), "batch_size": .number(1)],
                                            logs: logs))
        #expect(typed.map { $0.column("a")?.type } == [.int64, .int64])
        #expect(logs.messages(.warning).filter { $0.contains("s.csv:3: expected 2 fields") }.count == 1)
    }

    @Test func inlineRowsConflictNamingBothRows() throws {
        let message = failure {
            _ = try generator("load_inline", ["rows": .array([.object(["k": .number(1)]), .object([:]), .object(["k": .string("one")])])])
        }
        #expect(message?.contains("the key \"k\" is a number on rows[0] and a string on rows[2]") == true, "\(message ?? "no error")")
    }
}
