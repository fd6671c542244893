import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON

/// Nothing a run writes may replace what it reads, another output, or its
/// own state; a failed run replaces no existing output. The real binary and
/// plugins, on real files.
@Suite("output safety")
struct OutputSafetyTests {
    private var binary: String { Fixtures.pipelineBinary }

    private func requireBuild() throws { try Fixtures.requireBuiltPipeline() }

    private func write(_ text: String, _ directory: URL, _ name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    private let rows = (1...20).map { "{\"id\": \($0), \"text\": \"row \($0)\"}\n" }.joined()

    @Test func anOutputThatIsAnInputThroughASymlinkIsRefused() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("clobber")
        let data = try write(rows, directory, "data.jsonl")
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("alias.jsonl").path,
                                                   withDestinationPath: data)
        let file = try write("""
            name: clobber
            steps:
              - name: load
                uses: load_jsonl
                with: {path: data.jsonl}
              - name: save
                uses: write_jsonl
                input: load
                with: {path: \(directory.path)/alias.jsonl}
            """, directory, "p.yaml")
        let runDirectory = directory.appendingPathComponent("run").path
        for command in [["validate", file], ["run", file, "--log-format", "human"]] {
            let result = try Fixtures.run(binary, command + ["--run-dir", runDirectory])
            #expect(result.status == 2, "\(command[0]): \(result.output)")
            #expect(result.output.contains("\(file):9:18: error: step \"save\" (with.path) writes \(directory.path)/alias.jsonl, which is the input of step \"load\" (with.path) (at \(file):5:18) (the same file as \(data)); the run would replace its own input"),
                    "\(result.output)")
        }
        #expect(read(data) == rows)
        // --param, with a hard link this time: the same file, another name.
        _ = link(data, directory.appendingPathComponent("hard.jsonl").path)
        let viaParam = try Fixtures.run(binary, ["run", file, "--run-dir", runDirectory, "--log-format", "human",
                                                 "--param", "save.path=\(directory.path)/hard.jsonl"])
        #expect(viaParam.status == 2)
        #expect(viaParam.output.contains("set by --param save.path="), "\(viaParam.output)")
        #expect(read(data) == rows)
        #expect(!FileManager.default.fileExists(atPath: runDirectory))
    }

    @Test func twoWritersOfOneFileAndRunFilesAreRefused() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("twowriters")
        _ = try write(rows, directory, "data.jsonl")
        let file = try write("""
            name: two
            steps:
              - name: load
                uses: load_jsonl
                with: {path: data.jsonl}
              - name: save
                uses: write_jsonl
                input: load
                with: {path: out.jsonl}
              - name: again
                uses: write_jsonl
                input: load
                with: {path: ./sub/../out.jsonl}
              - name: state
                uses: write_jsonl
                input: load
                with: {path: state.db}
            """, directory, "p.yaml")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Fixtures.run(binary, ["validate", file, "--run-dir", runDirectory])
        #expect(result.status == 2)
        #expect(result.output.contains("\(file):13:18: error: step \"again\" (with.path) writes \(runDirectory)/out.jsonl, which step \"save\" (with.path) (at \(file):9:18) writes too; two writers cannot share a file"),
                "\(result.output)")
        #expect(result.output.contains("\(file):17:18: error: step \"state\" (with.path) writes \(runDirectory)/state.db, which is the run directory's state.db"),
                "\(result.output)")
    }

    /// One branch writes its small output early; the other fails late. The
    /// existing output of the first branch must survive the failed run, and
    /// the resumed run must then publish it.
    @Test func aFailedRunReplacesNoExistingOutput() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("failkeeps")
        _ = try write(rows, directory, "small.jsonl")
        var big = (1...3000).map { "{\"id\": \($0)}\n" }.joined()
        big += "{\"id\": broken\n"
        let bad = try write(big, directory, "big.jsonl")
        let file = try write("""
            name: keep
            steps:
              - name: small
                uses: load_jsonl
                with: {path: small.jsonl}
              - name: save_small
                uses: write_jsonl
                input: small
                with: {path: small-out.jsonl}
              - name: big
                uses: load_jsonl
                with: {path: big.jsonl, batch_size: 100}
              - name: save_big
                uses: write_jsonl
                input: big
                with: {path: big-out.jsonl}
            """, directory, "p.yaml")
        let runDirectory = directory.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let previous = try write("yesterday's output\n", runDirectory, "small-out.jsonl")
        let result = try Fixtures.run(binary, ["run", file, "--run-dir", runDirectory.path])
        #expect(result.status == 1, "\(result.output)")
        #expect(read(previous) == "yesterday's output\n")
        #expect(!FileManager.default.fileExists(atPath: runDirectory.appendingPathComponent("big-out.jsonl").path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: runDirectory.path).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        // Fixed input: the run resumes and now publishes both outputs.
        try (big.dropLast("{\"id\": broken\n".count) + "{\"id\": 3001}\n").write(toFile: bad, atomically: true, encoding: .utf8)
        let resumed = try Fixtures.run(binary, ["run", file, "--run-dir", runDirectory.path, "--fresh"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(read(previous)?.split(separator: "\n").count == 20)
        #expect(read(runDirectory.appendingPathComponent("big-out.jsonl").path)?.split(separator: "\n").count == 3001)
    }

    /// errors.jsonl keeps a failed row as the step received it: expand_columns
    /// cannot put unequal lists in its item-typed columns and emits nulls,
    /// but the record holds the lists that caused the error. The row is
    /// nested: data columns named `step` and `error` do not clash with the
    /// record's own keys.
    @Test func aFailedRowIsRecordedAsItCameIn() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("errorrows")
        _ = try write("""
            {"q": "a", "answers": ["x", "y"], "scores": [1, 2], "step": "mine", "error": 7}
            {"q": "b", "answers": ["x", "y", "z"], "scores": [1, 2], "step": "mine", "error": 8}

            """, directory, "rows.jsonl")
        let file = try write("""
            name: expand
            steps:
              - name: load
                uses: load_jsonl
                with: {path: rows.jsonl}
              - name: expand
                uses: expand_columns
                input: load
                with: {columns: [answers, scores]}
              - name: save
                uses: write_jsonl
                input: expand
                with: {path: out.jsonl}
            """, directory, "p.yaml")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Fixtures.run(binary, ["run", file, "--run-dir", runDirectory])
        #expect(result.status == 3, "\(result.output)")
        let errors = try #require(read(runDirectory + "/errors.jsonl"))
        let record = try JSONValue(parsing: String(errors.split(separator: "\n").first ?? ""))
        #expect(record["step"] == .string("expand"))
        #expect(record["row"]?["q"] == .string("b"))
        #expect(record["row"]?["answers"] == .array([.string("x"), .string("y"), .string("z")]), "\(errors)")
        #expect(record["row"]?["scores"] == .array([.number(1), .number(2)]), "\(errors)")
        #expect(record["error"]?.stringValue?.contains("lists differ in length") == true, "\(errors)")
        #expect(record["row"]?["step"] == .string("mine") && record["row"]?["error"] == .number(8), "\(errors)")
        #expect(record["row_id"]?.int64Value == 1, "\(errors)")
        #expect(record.objectValue.map { Set($0.keys) } == ["step", "row_id", "error", "row"])
        #expect(read(runDirectory + "/out.jsonl")?.split(separator: "\n").count == 2)
    }

    /// What a step adds to a failed row (a raw answer it could not parse,
    /// say) is kept beside the input's columns.
    @Test func aFailedRowKeepsWhatTheStepAdded() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("errorrows-added")
        _ = try write((1...6).map { "{\"n\": \($0), \"text\": \"row \($0)\"}\n" }.joined(), directory, "rows.jsonl")
        let file = try write("""
            name: flaky
            steps:
              - name: load
                uses: load_jsonl
                with: {path: rows.jsonl}
              - name: check
                uses: flaky
                input: load
                with: {every: 3, note: "checked by flaky"}
              - name: save
                uses: write_jsonl
                input: check
                with: {path: out.jsonl}
            """, directory, "p.yaml")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Fixtures.run(binary, ["run", file, "--run-dir", runDirectory,
                                               "--plugin-path", try Fixtures.library("Tests/Fixtures/plugins/collect.c")])
        #expect(result.status == 3, "\(result.output)")
        let records = try (read(runDirectory + "/errors.jsonl") ?? "").split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(records.map { $0["row"]?["n"]?.int64Value } == [3, 6])
        #expect(records.allSatisfy { $0["row"]?["note"] == .string("checked by flaky") && $0["row"]?["text"] != nil }, "\(records)")
        #expect(records.first?["error"] == .string("n=3 is a multiple of 3"))
    }
}
