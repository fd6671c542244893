import Foundation
import Logging
import PipelineArrow
import Testing

@testable import PipelineCore
@testable import PipelineHost
@testable import PipelineJSON
@testable import PipelineStore

/// Issue 18, "Nested JSON turned into strings": load_jsonl and load_inline
/// type arrays and objects as Arrow lists and structs at every depth, and
/// write_jsonl (the shared JSON Lines encoder) writes them back.
///
/// What "exact" means here: every line written is the same JSON value as
/// the line read (Python's json.loads of both compare equal); where the
/// input is compact JSON in the writer's own spelling (numbers as it
/// prints them, strings escaped as it escapes them, an object's keys in
/// the order their column or struct first met them) the bytes are equal
/// too. Object members missing from a line stay missing; a member that is
/// null stays null.
@Suite("Nested JSON")
struct NestedJSONTests {
    // MARK: Harness: the data plugin through the C ABI

    private static let registry: PluginRegistry? = {
        let library = Fixtures.buildDirectory.appendingPathComponent("libPipelineData.so").path
        guard FileManager.default.fileExists(atPath: library) else { return nil }
        return PluginRegistry.load(PluginSearchPath(entries: [library]))
    }()

    private func instance(_ name: String, _ parameters: [String: JSONValue]) throws -> StepInstance {
        let registry = try #require(Self.registry,
                                    "libPipelineData.so is missing next to the tests: build the PipelineData product first")
        return try StepInstance(try registry.step(name), parameters: parameters)
    }

    private func drain(_ generator: StepInstance) throws -> [RecordBatch] {
        var batches: [RecordBatch] = []
        while let batch = try generator.process(nil) { batches.append(batch) }
        #expect(try generator.finish() == nil)
        return batches
    }

    private func load(_ path: String, _ extra: [String: JSONValue] = [:]) throws -> [RecordBatch] {
        try drain(try instance("load_jsonl", ["path": .string(path)].merging(extra) { $1 }))
    }

    private func write(_ batches: [RecordBatch], to path: String) throws {
        let writer = try instance("write_jsonl", ["path": .string(path)])
        for batch in batches { #expect(try writer.process(batch) == nil) }
        #expect(try writer.finish() == nil)
    }

    private func failure(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func file(_ directory: URL, _ name: String, _ text: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    private func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    // MARK: Harness: the binary

    /// `pipeline run` of `yaml` (written to `directory`); status, output, run directory.
    private func run(_ yaml: String, in directory: URL, _ extra: [String] = [],
                     environment: [String: String] = [:]) throws -> (status: Int32, output: String, runDirectory: String) {
        try Fixtures.requireBuiltPipeline()
        let pipeline = try file(directory, "pipeline.yaml", yaml)
        let runDirectory = directory.appendingPathComponent("run").path
        var env = ProcessInfo.processInfo.environment
        for key in ["CRASH_FIXTURE_AT", "CRASH_FIXTURE_HOW", "PIPELINE_CRASH_HANDLER"] { env.removeValue(forKey: key) }
        env.merge(environment) { $1 }
        let result = try Spawned(Fixtures.pipelineBinary, ["run", pipeline, "--run-dir", runDirectory] + extra,
                                 environment: env).wait()
        return (result.status, result.output, runDirectory)
    }

    private static let loadAndSave = """
        name: nested
        steps:
          - name: load
            uses: load_jsonl
            with: {path: in.jsonl}
            batch_size: 2
          - name: save
            uses: write_jsonl
            input: load
            with: {path: out.jsonl}
        """

    /// Compares two JSON Lines files with Python's json.loads, line by
    /// line: nil if every line is equal, else what differs.
    private func pythonDifferences(_ expected: String, _ actual: String, dropping: [String] = []) throws -> String? {
        let script = """
            import json, sys
            a = open(sys.argv[1], encoding="utf-8").read().splitlines()
            b = open(sys.argv[2], encoding="utf-8").read().splitlines()
            drop = sys.argv[3:]
            if len(a) != len(b):
                print(f"{len(a)} lines expected, {len(b)} written"); sys.exit(1)
            bad = 0
            for n, (x, y) in enumerate(zip(a, b), 1):
                x, y = json.loads(x), json.loads(y)
                for key in drop:
                    y.pop(key, None)
                if x != y:
                    bad += 1
                    print(f"line {n}: {x!r} != {y!r}")
            sys.exit(1 if bad else 0)
            """
        let result = try Fixtures.run("/usr/bin/env", ["python3", "-c", script, expected, actual] + dropping)
        return result.status == 0 ? nil : result.output
    }

    // MARK: Round trips through the binary

    /// An SFT file: messages (a list of objects, `name` in some only),
    /// nested objects, lists of lists, empty lists, nulls inside lists and
    /// objects, unicode and escapes, compact and in the writer's spelling:
    /// load_jsonl → write_jsonl (two batches each, stored in state.db on
    /// the way) gives back the same bytes.
    static let sft = #"""
        {"id":1,"messages":[{"role":"system","content":"You are \"terse\".\n"},{"role":"user","content":"Größe von 🌍? \u001f","name":"ana"},{"role":"assistant","content":"\\u00e9 is \t é"}],"meta":{"source":"seed","tags":["a","b"],"score":0.5,"origin":{"file":"x.jsonl","line":3}},"grid":[[1,2],[],[3]],"vectors":[[0.5,-1.25],[1e+100]],"empty":[],"flags":[true,null,false],"opt":null}
        {"id":2,"messages":[{"role":"user","content":"hi"}],"meta":{"source":null,"tags":[],"score":2.0,"origin":{"file":"y.jsonl","line":null}},"grid":[[null]],"vectors":[],"empty":[],"flags":[],"opt":{"a":[{"b":"deep"}]}}
        {"id":3,"messages":[],"meta":{"source":"web","tags":[null,"z"],"score":-0.0,"origin":null},"grid":null,"vectors":[[]],"empty":[],"flags":null,"opt":{"a":[]}}
        {"id":4,"messages":null,"meta":null,"grid":[],"vectors":null,"empty":[null],"flags":[false],"opt":{"a":null}}
        {"id":5,"messages":[{"role":"user","content":"","name":""},null],"meta":{"source":"","tags":["\\"],"score":1e-07,"origin":{"file":"","line":-9223372036854775808}},"grid":[[9223372036854775807]],"vectors":[[0.1,0.2]],"empty":[],"flags":[],"opt":{"a":[{},{"b":"x"},null]}}

        """#

    @Test func anSFTFileComesBackByteForByte() throws {
        let dir = try Fixtures.emptyDirectory("nested-sft")
        _ = try file(dir, "in.jsonl", Self.sft)
        let result = try run(Self.loadAndSave, in: dir)
        #expect(result.status == 0, "\(result.output)")
        let written = try #require(contents(result.runDirectory + "/out.jsonl"))
        #expect(written == Self.sft)
        let lines = zip(written.split(separator: "\n"), Self.sft.split(separator: "\n"))
        for (number, (got, want)) in lines.enumerated() where got != want {
            Issue.record("line \(number + 1):\n  read    \(want)\n  written \(got)")
        }
        #expect(try pythonDifferences(dir.appendingPathComponent("in.jsonl").path, result.runDirectory + "/out.jsonl") == nil)
    }

    /// The types the first pass gives the SFT file, through the C ABI.
    @Test func theSFTFileIsTypedAsListsAndStructs() throws {
        let dir = try Fixtures.emptyDirectory("nested-types")
        let batches = try load(try file(dir, "in.jsonl", Self.sft), ["batch_size": .number(2)])
        #expect(batches.map(\.length) == [2, 2, 1])
        let absent = [ArrowField.nullIsAbsentKey: "true"]
        let message: ArrowType = .structure([ArrowField("role", .utf8), ArrowField("content", .utf8),
                                             ArrowField("name", .utf8, metadata: absent)])
        let meta: ArrowType = .structure([
            ArrowField("source", .utf8), ArrowField("tags", .utf8List), ArrowField("score", .float64),
            ArrowField("origin", .structure([ArrowField("file", .utf8), ArrowField("line", .int64)])),
        ])
        let ints: ArrowType = .list(ArrowField("item", .int64))
        let opt: ArrowType = .structure([ArrowField("a", .list(ArrowField("item", .structure([
            ArrowField("b", .utf8, metadata: absent)]))))])
        let expected: [ArrowField] = [
            ArrowField("id", .int64), ArrowField("messages", .list(ArrowField("item", message))), ArrowField("meta", meta),
            ArrowField("grid", .list(ArrowField("item", ints))), ArrowField("vectors", .list(ArrowField("item", .float64List))),
            ArrowField("empty", .utf8List), ArrowField("flags", .list(ArrowField("item", .bool))), ArrowField("opt", opt),
        ]
        for batch in batches { #expect(batch.fields == expected) }
        // Values read through Arrow, not only written back.
        let messages = batches[0].columns[1]
        let items = messages.items
        #expect(messages.valueRange(0).count == 3)
        #expect(items.children[1].string(1) == "Größe von 🌍? \u{1F}")
        #expect(items.children[1].string(2) == "\\u00e9 is \t é")
        #expect(items.children[2].isValid(0) == false && items.children[2].string(1) == "ana")
        let grid = batches[2].columns[3]
        #expect(grid.items.items.int64(grid.items.valueRange(grid.valueRange(0).lowerBound).lowerBound) == Int64.max)
    }

    /// Insignificant white space, other escapes and number spellings, and
    /// keys in another order come back as the same JSON (json.loads
    /// equality), written compactly in the writer's spelling.
    @Test func anyJSONComesBackAsTheSameValues() throws {
        let dir = try Fixtures.emptyDirectory("nested-equal")
        let input = #"""
            { "id" : 1 , "messages" : [ { "role" : "user" , "content" : "caf\u00e9 \/ \ud83c\udf0d" } ] , "m" : { "x" : 1E2 , "y" : [ 1.50 , 2 ] } }
            {"messages":[{"content":"second","role":"assistant","extra":{"k":[[]]}}],"id":2,"m":{"y":[],"x":-0.25}}
            {"id":3,"messages":[],"m":{"x":3,"y":[null,1e-3]}}

            """#
        _ = try file(dir, "in.jsonl", input)
        let result = try run(Self.loadAndSave, in: dir)
        #expect(result.status == 0, "\(result.output)")
        #expect(try pythonDifferences(dir.appendingPathComponent("in.jsonl").path, result.runDirectory + "/out.jsonl") == nil)
        // Written in the column's order, compactly, in the writer's spelling:
        // x is float64 (an integer and fractions), y list<float64>.
        #expect(contents(result.runDirectory + "/out.jsonl") == #"""
            {"id":1,"messages":[{"role":"user","content":"café / 🌍"}],"m":{"x":100.0,"y":[1.5,2.0]}}
            {"id":2,"messages":[{"role":"assistant","content":"second","extra":{"k":[[]]}}],"m":{"x":-0.25,"y":[]}}
            {"id":3,"messages":[],"m":{"x":3.0,"y":[null,0.001]}}

            """#)
    }

    /// Arrow has only null: a member missing from some objects and never
    /// null is left out again; one null somewhere and never missing stays
    /// null; one both missing and null keeps its column as exact JSON text
    /// (arrow.json), written as JSON. Byte for byte in every case.
    @Test func absentAndNullMembersAreToldApart() throws {
        let dir = try Fixtures.emptyDirectory("nested-absent")
        let input = #"""
            {"absent":{"a":1},"nulls":{"a":null,"b":1},"both":{"a":1,"b":null},"deep":[{"x":{"y":[1]}},{"x":{}}]}
            {"absent":{},"nulls":{"a":2,"b":null},"both":{"b":2},"deep":[{"x":{"y":null}}]}
            {"absent":{"a":3},"nulls":{"a":null,"b":null},"both":{},"deep":[]}

            """#
        let path = try file(dir, "in.jsonl", input)
        let result = try run(Self.loadAndSave, in: dir)
        #expect(result.status == 0, "\(result.output)")
        #expect(contents(result.runDirectory + "/out.jsonl") == input)

        let batch = try #require(try load(path).first)
        let absent = [ArrowField.nullIsAbsentKey: "true"]
        #expect(batch.fields[0] == ArrowField("absent", .structure([ArrowField("a", .int64, metadata: absent)])))
        #expect(batch.fields[1] == ArrowField("nulls", .structure([ArrowField("a", .int64), ArrowField("b", .int64)])))
        // "both".b is null on line 1 and missing on line 3: the column is exact JSON text.
        #expect(batch.fields[2] == ArrowField("both", .utf8, metadata: ArrowField.jsonExtensionMetadata))
        #expect(batch.columns[2].string(0) == #"{"a":1,"b":null}"#)
        // y is null in one object and missing in another: deep is exact JSON text too.
        #expect(batch.fields[3].isJSONText)
    }

    /// Issue 18 §4: integers inside number arrays are never rounded.
    @Test func integersInArraysStayExact() throws {
        let dir = try Fixtures.emptyDirectory("nested-ints")
        // All integers: list<int64>, every digit.
        let ints = try file(dir, "ints.jsonl", "{\"v\":[1,12345678901234567,-9223372036854775808]}\n{\"v\":[null]}\n")
        let batch = try #require(try load(ints).first)
        #expect(batch.fields[0].type == .list(ArrowField("item", .int64)))
        let out = dir.appendingPathComponent("ints-out.jsonl").path
        try write([batch], to: out)
        #expect(contents(out) == "{\"v\":[1,12345678901234567,-9223372036854775808]}\n{\"v\":[null]}\n")
        // Integers a double holds exactly join numbers with a fraction.
        let exact = try file(dir, "exact.jsonl", "{\"v\":[9007199254740992,0.5]}\n{\"v\":[3]}\n")
        let widened = try #require(try load(exact).first)
        #expect(widened.fields[0].type == .float64List)
        #expect(widened.columns[0].float64List(0) == [9_007_199_254_740_992, 0.5])
        #expect(widened.columns[0].float64List(1) == [3])
        // In one array: the line is bad, at the integer.
        let mixed = try file(dir, "mixed.jsonl", "{\"v\":[1.5,12345678901234567]}\n")
        let message = failure { _ = try load(mixed) }
        #expect(message?.contains("\(mixed):1:11: the integer 12345678901234567 is in an array with numbers that have a fraction or an exponent, and a float64 cannot hold it exactly") == true,
                "\(message ?? "no error")")
        // In two lines, or two objects: a conflict naming the place and both lines.
        let apart = try file(dir, "apart.jsonl", "{\"v\":[12345678901234567]}\n{\"v\":[0.5]}\n")
        #expect(failure { _ = try load(apart) }?.contains(
            "the key \"v[]\" is the integer 12345678901234567 on line 1 and a number with a fraction or an exponent on line 2: a float64 column cannot hold that integer exactly") == true)
        let inObjects = try file(dir, "objects.jsonl", "{\"o\":{\"v\":[1.5]}}\n{\"o\":{\"v\":[12345678901234567]}}\n")
        #expect(failure { _ = try load(inObjects) }?.contains("the key \"o.v[]\" is a number with a fraction or an exponent on line 1 and the integer 12345678901234567 on line 2") == true)
        // Declared list<float64> refuses it; declared list<int64> takes integers only.
        let declared = failure { _ = try load(ints, ["columns": .array([.object(["v": .string("list<float64>")])])]) }
        #expect(declared?.contains("\(ints):1:9: \"v\" has the integer 12345678901234567, which a float64 cannot hold exactly, but columns declares it list<float64>") == true,
                "\(declared ?? "no error")")
        let asInts = try #require(try load(ints, ["columns": .array([.object(["v": .string("list<int64>")])])]).first)
        #expect(asInts.fields[0].type == .list(ArrowField("item", .int64)))
        #expect(failure { _ = try load(exact, ["columns": .array([.object(["v": .string("list<int64>")])])]) }?
            .contains("\"v\" is an array, but columns declares it list<int64>") == true)
        // With inexact_numbers: text a nested number no int64 or double holds keeps its digits, as exact JSON.
        let huge = try file(dir, "huge.jsonl", "{\"o\":{\"n\":123456789012345678901234567890},\"v\":[1.5,12345678901234567]}\n")
        let text = try #require(try load(huge, ["inexact_numbers": .string("text")]).first)
        #expect(text.fields.map(\.isJSONText) == [true, true])
        let hugeOut = dir.appendingPathComponent("huge-out.jsonl").path
        try write([text], to: hugeOut)
        #expect(contents(hugeOut) == "{\"o\":{\"n\":123456789012345678901234567890},\"v\":[1.5,12345678901234567]}\n")
    }

    /// Values of two kinds at one place inside nested values stop the step,
    /// naming the place and both lines, as a top-level conflict does;
    /// declared json keeps such a column as JSON text.
    @Test func nestedConflictsNameThePlaceAndBothLines() throws {
        let dir = try Fixtures.emptyDirectory("nested-conflicts")
        let cases: [(lines: String, message: String)] = [
            ("{\"m\":[{\"c\":\"x\"}]}\n{\"m\":[{\"c\":{\"y\":1}}]}\n", "the key \"m[].c\" is a string on line 1 and an object on line 2"),
            ("{\"m\":[1]}\n{\"m\":[\"x\"]}\n", "the key \"m[]\" is a number on line 1 and a string on line 2"),
            ("{\"m\":[[1],[\"x\"]]}\n", "the key \"m[][]\" is a number on line 1 and a string on line 1"),
            ("{\"m\":{\"k\":[]}}\n{\"m\":{\"k\":{}}}\n", "the key \"m.k\" is an array on line 1 and an object on line 2"),
            ("{\"m\":{\"k\":1}}\n{\"m\":[1]}\n", "the key \"m\" is an object on line 1 and an array on line 2"),
            ("{\"m\":[true,1]}\n", "the key \"m[]\" is a boolean on line 1 and a number on line 1"),
        ]
        for (lines, message) in cases {
            let path = try file(dir, "c.jsonl", lines)
            let error = failure { _ = try load(path) }
            #expect(error?.contains("load_jsonl: \(path): \(message): a column holds values of one type") == true,
                    "\(error ?? "no error")")
        }
        // Declared json: the file loads, each value as its JSON text.
        let path = try file(dir, "j.jsonl", "{\"m\":[{\"c\":\"x\"}]}\n{\"m\":[{\"c\":{\"y\":1}}]}\n")
        let batch = try #require(try load(path, ["columns": .array([.object(["m": .string("json")])])]).first)
        #expect((0..<2).map { batch.columns[0].string($0) } == [#"[{"c":"x"}]"#, #"[{"c":{"y":1}}]"#])
        #expect(!batch.fields[0].isJSONText, "a declared json column is JSON text written as a string, as before")
    }

    /// Bad nested input is a bad line at line:column (or skipped), never a crash or a guess.
    @Test func badNestedInputIsABadLine() throws {
        let dir = try Fixtures.emptyDirectory("nested-bad")
        let cases: [(text: String, says: String)] = [
            ("{\"m\":[{\"c\":\"x\"},{\"c\":}]}\n", ":1:22: expected a value, found '}'"),
            ("{\"m\":{\"c\":[1,2}}\n", ":1:15: expected ',' or ']' in an array, found '}'"),
            ("{\"m\":[{\"c\":\"\\x\"}]}\n", ":1:13: invalid escape \\x"),
            ("{\"m\":{\"a\":{\"b\":[\n", ":1:17: the line ends inside a JSON value"),
            ("{\"m\":{\"a\":{\"b\":[", ":1: truncated: the file ends inside a JSON value"),
            ("{\"m\":" + String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "}\n", "nested deeper than 256 levels"),
            ("{\"m\":{\"n\":1e400}}\n", ":1:11: the number 1e400 cannot be read as a number without changing it"),
        ]
        for (text, says) in cases {
            let only = try file(dir, "only.jsonl", text)
            let error = failure { _ = try load(only) }
            #expect(error?.contains(says) == true, "\(text): \(error ?? "no error")")
        }
        // With on_error: skip the bad line is skipped in both passes: it types nothing.
        let skipped = try file(dir, "skip.jsonl", "{\"m\":[{\"c\":1}]}\n{\"m\":[{\"c\":\"x\"},}]}\n{\"m\":[{\"c\":2,\"d\":[true]}]}\n")
        let batches = try load(skipped, ["on_error": .string("skip")])
        #expect(batches.first?.fields.first?.type == .list(ArrowField("item", .structure([
            ArrowField("c", .int64), ArrowField("d", .list(ArrowField("item", .bool)), metadata: [ArrowField.nullIsAbsentKey: "true"]),
        ]))))
        #expect(batches.first?.length == 2)
    }

    /// Killed (a crash in another branch) part-way; the rerun makes the
    /// loader's nested batches again, stores them, feeds write_jsonl from
    /// the store, and the output is the uninterrupted run's, byte for byte.
    @Test func aResumedRunReadsNestedBatchesFromTheStore() throws {
        let dir = try Fixtures.emptyDirectory("nested-resume")
        _ = try file(dir, "in.jsonl", Self.sft)
        let crash = try Fixtures.library("Tests/Fixtures/plugins/crash.c")
        let yaml = Self.loadAndSave + """

              - name: ids
                uses: keep_columns
                input: load
                with: {columns: [id]}
              - name: boom
                uses: crash
                input: ids
              - name: save_ids
                uses: write_jsonl
                input: boom
                with: {path: ids.jsonl}
            """
        let crashed = try run(yaml, in: dir, ["--plugin-path", crash], environment: ["CRASH_FIXTURE_AT": "3"])
        #expect(crashed.status == 6, "\(crashed.output)")
        #expect(!FileManager.default.fileExists(atPath: crashed.runDirectory + "/out.jsonl"))
        // The loader replays on resume: its batches are markers until then.
        #expect(try !RunStore(directory: crashed.runDirectory).replayMarkers(step: "load").isEmpty)
        let resumed = try run(yaml, in: dir, ["--plugin-path", crash])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("resuming the run"), "\(resumed.output)")
        #expect(contents(resumed.runDirectory + "/out.jsonl") == Self.sft)
        #expect(contents(resumed.runDirectory + "/ids.jsonl") == (1...5).map { "{\"id\":\($0)}\n" }.joined())
        do {
            // The resume made the loader's batches again and stored them for
            // write_jsonl, which replays from its first input: nested types and all.
            let store = try RunStore(directory: crashed.runDirectory)
            let stored = try store.batch(step: "load", seq: 0)
            #expect(stored.length == 2)
            let loaded = try #require(try load(dir.appendingPathComponent("in.jsonl").path).first)
            #expect(stored.fields.filter { $0.name != "_row_id" } == loaded.fields)
            #expect(BatchJSON.rows(stored).first?.hasPrefix(#"{"id":1,"messages":[{"role":"system","content":"You are \"terse\".\n"},"#) == true)
        }
    }

    /// Steps that pass rows on (limit, sample, expand_columns, keep and
    /// rename) pass nested columns on; expand_columns makes a row per
    /// message, each a struct.
    @Test func swiftStepsPassNestedColumnsOn() throws {
        let dir = try Fixtures.emptyDirectory("nested-steps")
        _ = try file(dir, "in.jsonl", Self.sft)
        let result = try run("""
            name: steps
            steps:
              - name: load
                uses: load_jsonl
                with: {path: in.jsonl}
                batch_size: 2
              - name: some
                uses: limit
                input: load
                with: {rows: 3}
              - name: all
                uses: sample
                input: some
                with: {fraction: 1.0}
              - name: renamed
                uses: rename_columns
                input: all
                with: {columns: {meta: info}}
              - name: kept
                uses: keep_columns
                input: renamed
                with: {columns: [id, messages, info]}
              - name: one_per_message
                uses: expand_columns
                input: kept
                with: {columns: {messages: message}}
              - name: save
                uses: write_jsonl
                input: one_per_message
                with: {path: out.jsonl}
            """, in: dir)
        #expect(result.status == 0, "\(result.output)")
        let lines = try #require(contents(result.runDirectory + "/out.jsonl")).split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines.first == #"{"id":1,"message":{"role":"system","content":"You are \"terse\".\n"},"info":{"source":"seed","tags":["a","b"],"score":0.5,"origin":{"file":"x.jsonl","line":3}}}"#)
        #expect(lines[1].hasPrefix(#"{"id":1,"message":{"role":"user","content":"Größe von 🌍? \u001f","name":"ana"},"#), "\(lines[1])")
        #expect(lines[3] == #"{"id":2,"message":{"role":"user","content":"hi"},"info":{"source":null,"tags":[],"score":2.0,"origin":{"file":"y.jsonl","line":null}}}"#)
    }

    /// A C step built on pipeline_arrow.h cannot copy struct columns (the
    /// helper reads utf8, numbers, bool and lists of utf8 or float64): it
    /// fails, naming the column; no row is dropped or changed silently.
    @Test func aCStepThatCannotPassAStructSaysSo() throws {
        let dir = try Fixtures.emptyDirectory("nested-c")
        _ = try file(dir, "in.jsonl", "{\"text\":\"long enough\",\"m\":{\"k\":1}}\n")
        let result = try run("""
            name: c
            steps:
              - name: load
                uses: load_jsonl
                with: {path: in.jsonl}
              - name: filter
                uses: text_filter
                input: load
                with: {column: text, min_chars: 1}
              - name: save
                uses: write_jsonl
                input: filter
                with: {path: out.jsonl}
            """, in: dir)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains(#"step filter: cannot pass column \"m\" through: format \"+s\" is not supported"#), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: result.runDirectory + "/out.jsonl"))
    }

    // MARK: plugins try, errors.jsonl, load_inline

    /// `plugins try load_jsonl` prints the rows as the loader made them:
    /// nested values as JSON, exact JSON text as JSON.
    @Test func pluginsTryPrintsNestedValuesAsJSON() throws {
        try Fixtures.requireBuiltPipeline()
        let dir = try Fixtures.emptyDirectory("nested-try")
        let input = try file(dir, "in.jsonl", Self.sft)
        let output = dir.appendingPathComponent("try.jsonl").path
        let result = try Fixtures.run("/bin/sh", ["-c", "'\(Fixtures.pipelineBinary)' plugins try load_jsonl --with path='\(input)' >'\(output)'"])
        #expect(result.status == 0, "\(result.output)")
        #expect(try pythonDifferences(input, output, dropping: ["_row_id"]) == nil)
        let first = try #require(contents(output)?.split(separator: "\n").first)
        #expect(first.hasPrefix(#"{"id":1,"messages":[{"role":"system","content":"You are \"terse\".\n"},{"role":"user","content":"Größe von 🌍? \u001f","name":"ana"},"#),
                "\(first)")

        let both = try file(dir, "both.jsonl", "{\"o\":{\"a\":1,\"b\":null}}\n{\"o\":{\"a\":2}}\n")
        let exact = dir.appendingPathComponent("exact.jsonl").path
        _ = try Fixtures.run("/bin/sh", ["-c", "'\(Fixtures.pipelineBinary)' plugins try load_jsonl --with path='\(both)' >'\(exact)'"])
        #expect(contents(exact) == "{\"o\":{\"a\":1,\"b\":null},\"_row_id\":0}\n{\"o\":{\"a\":2},\"_row_id\":1}\n")
    }

    /// Input rows of `plugins try` are typed as load_jsonl types a file
    /// (objects → structs, members in name order); failed rows go to
    /// stderr in the errors.jsonl format, nested values as JSON.
    @Test func pluginsTryReadsNestedRowsAndReportsThemInErrorRecords() throws {
        try Fixtures.requireBuiltPipeline()
        let dir = try Fixtures.emptyDirectory("nested-try-errors")
        let input = try file(dir, "rows.jsonl", """
            {"a": [1, 2], "b": ["x", "y"], "m": {"k": [1.5], "z": "q"}}
            {"a": [3], "b": [], "m": {"k": []}}

            """)
        let output = dir.appendingPathComponent("out.jsonl").path, errors = dir.appendingPathComponent("err.txt").path
        let result = try Fixtures.run("/bin/sh", ["-c", "'\(Fixtures.pipelineBinary)' plugins try expand_columns --with 'columns=[\"a\",\"b\"]' --input '\(input)' >'\(output)' 2>'\(errors)'"])
        #expect(result.status == 3, "\(contents(errors) ?? "")")
        // One row per item; the rest repeated, nested values and all.
        let rows = try #require(contents(output)).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(rows.count == 2)
        for (index, row) in rows.enumerated() {
            #expect(row["a"] == .number(Double(index + 1)) && row["b"] == .string(index == 0 ? "x" : "y"))
            #expect(row["m"] == .object(["k": .array([.number(1.5)]), "z": .string("q")]))
        }
        #expect(try #require(contents(output)).contains(#""m":{"k":[1.5],"z":"q"},"#))
        let record = try #require(contents(errors)?.split(separator: "\n").first { $0.hasPrefix("{") })
        #expect(record == #"{"step":"expand_columns","row_id":1,"error":"expand_columns: lists differ in length: a has 1, b has 0","row":{"a":[3],"b":[],"m":{"k":[]}}}"#)
    }

    @Test func loadInlineTypesNestedRowsToo() throws {
        let batches = try drain(try instance("load_inline", ["rows": .array([
            .object(["messages": .array([.object(["role": .string("user"), "content": .string("hi")])])]),
            .object(["messages": .array([.object(["role": .string("assistant"), "content": .string("yo"), "n": .number(2)])])]),
        ])]))
        let batch = try #require(batches.first)
        #expect(batch.fields == [ArrowField("messages", .list(ArrowField("item", .structure([
            ArrowField("content", .utf8), ArrowField("role", .utf8),
            ArrowField("n", .int64, metadata: [ArrowField.nullIsAbsentKey: "true"]),
        ]))))])
        #expect(BatchJSON.rows(batch) == [#"{"messages":[{"content":"hi","role":"user"}]}"#,
                                          #"{"messages":[{"content":"yo","role":"assistant","n":2}]}"#])
    }

    // MARK: The writer

    /// write_jsonl on batches another step could hand it: structs whose
    /// first member is left out, lists of fixed-size lists, nested lists of
    /// text, arrow.json text with white space (compacted) or broken (refused).
    @Test func theWriterWritesListsStructsAndJSONText() throws {
        let dir = try Fixtures.emptyDirectory("nested-writer")
        let absent = [ArrowField.nullIsAbsentKey: "true"]
        let pointType: ArrowType = .structure([ArrowField("label", .utf8, metadata: absent), ArrowField("xy", .embedding(width: 2)),
                                               ArrowField("tags", .list(ArrowField("item", .utf8List)))])
        let points = ColumnBuilder(.list(ArrowField("item", pointType)))
        let raw = ColumnBuilder(.utf8)
        for row in 0..<3 {
            let item = points.items
            if row == 0 { item.field(0).appendNull() } else { item.field(0).append("p\(row)") }
            [Float(row), 0.5].withUnsafeBufferPointer { item.field(1).append(vector: $0) }
            item.field(2).items.append(strings: ["a\"", "\n"])
            item.field(2).items.appendNull()
            item.field(2).endListRow()
            item.endStructRow()
            points.endListRow()
            raw.append([" { \"k\" : [ 1 , \"a b\" ] }\n", "null", "\"s\""][row])
        }
        let batch = try RecordBatch(fields: [ArrowField("points", points.type),
                                             ArrowField("raw", .utf8, metadata: ArrowField.jsonExtensionMetadata)],
                                    columns: [points.finish(), raw.finish()])
        let path = dir.appendingPathComponent("w.jsonl").path
        try write([batch], to: path)
        #expect(contents(path) == #"""
            {"points":[{"xy":[0.0,0.5],"tags":[["a\"","\n"],null]}],"raw":{"k":[1,"a b"]}}
            {"points":[{"label":"p1","xy":[1.0,0.5],"tags":[["a\"","\n"],null]}],"raw":null}
            {"points":[{"label":"p2","xy":[2.0,0.5],"tags":[["a\"","\n"],null]}],"raw":"s"}

            """#)
        // Text that is not one JSON value is refused, naming the column and row.
        for bad in ["{\"k\":", "[1] [2]", "{'k': 1}", "", "\"\u{1}\""] {
            let broken = ColumnBuilder(.utf8)
            broken.append("1")
            broken.append(bad)
            let rows = try RecordBatch(fields: [ArrowField("raw", .utf8, metadata: ArrowField.jsonExtensionMetadata)],
                                       columns: [broken.finish()])
            let writer = try instance("write_jsonl", ["path": .string(dir.appendingPathComponent("bad.jsonl").path)])
            let message = failure { _ = try writer.process(rows) }
            #expect(message?.contains("write_jsonl: column \"raw\", row 2 of the batch: the value is arrow.json but not one JSON value") == true,
                    "\(bad): \(message ?? "no error")")
        }
    }
}
