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

    // MARK: load_csv

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
}
