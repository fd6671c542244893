import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON

/// `pipeline run` end to end: the built binary, the built-in plugins from
/// the build tree (C and Swift, dlopen'ed), real files in a run directory.
@Suite("pipeline run")
struct RunCommandTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func requireBuild() throws {
        try #require(FileManager.default.fileExists(atPath: binary), "\(binary) is missing: run `make test`")
        let plugins = Fixtures.buildDirectory.appendingPathComponent("pipeline-plugins/libPipelineData.so").path
        try #require(FileManager.default.fileExists(atPath: plugins),
                     "\(plugins) is missing: run `make test`, which builds the plugins first")
    }

    private func lines(_ path: String) throws -> [JSONValue] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    @Test func demoPipelineFanOutFanInThroughCAndSwiftPlugins() throws {
        try requireBuild()
        let runDirectory = try Fixtures.emptyDirectory("demo").path
        let demo = Fixtures.packageRoot.appendingPathComponent("pipelines/demo.yaml").path
        let result = try Fixtures.run(binary, ["run", demo, "--run-dir", runDirectory])
        #expect(result.status == 0, "\(result.output)")

        let rows = try lines(runDirectory + "/demo.jsonl")
        let seeds = try lines(Fixtures.packageRoot.appendingPathComponent("pipelines/demo-rows.jsonl").path)
        // Every seed row comes out exactly once, through one branch or the other.
        #expect(rows.compactMap { $0["id"]?.int64Value }.sorted() == Array(1...12))
        for row in rows {
            let seed = try #require(seeds.first { $0["id"] == row["id"] })
            let text = try #require(seed["text"]?.stringValue)
            #expect(row["text"] == seed["text"])
            if text.count >= 20 {
                // Long branch: keep_columns kept id and text only.
                #expect(row.objectValue?.keys.sorted() == ["id", "text"])
            } else {
                // Short branch: rename_columns turned source into origin.
                #expect(row["origin"] == seed["source"])
                #expect(row["source"] == nil)
            }
        }
        let summary = try JSONValue(parsing: String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8))
        #expect(summary["status"] == .string("succeeded"))
        let steps = try #require(summary["steps"]?.arrayValue)
        #expect(steps.map { $0["name"]?.stringValue ?? "" } == ["load", "long", "short", "long_only", "short_renamed", "save"])
        #expect(steps.last?["rows_in"]?.int64Value == 12)
        #expect(FileManager.default.fileExists(atPath: runDirectory + "/run.log"))

        // Running again replaces the output whole: still 12 rows.
        let again = try Fixtures.run(binary, ["run", demo, "--run-dir", runDirectory])
        #expect(again.status == 0)
        #expect(try lines(runDirectory + "/demo.jsonl").count == 12)
    }

    @Test func anInvalidPipelineExitsTwoWithPositions() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("invalid")
        let file = directory.appendingPathComponent("bad.yaml").path
        try """
            name: bad
            steps:
              - name: load
                uses: lod_jsonl
                with: {path: x.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        // stderr is a pipe here, so the default would be JSON lines: ask for the human form.
        let result = try Fixtures.run(binary, ["run", file, "--run-dir", directory.appendingPathComponent("run").path,
                                               "--log-format", "human"])
        #expect(result.status == 2)
        #expect(result.output.contains("\(file):4:11: error: unknown step \"lod_jsonl\"; did you mean \"load_jsonl\"?"),
                "\(result.output)")
        // Nothing ran: no run directory was made.
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("run").path))
    }

    @Test func aFailedRunExitsOneAndKeepsNoHalfWrittenOutput() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("failing")
        let file = directory.appendingPathComponent("failing.yaml").path
        try "{\"text\": \"fine\"}\n{\"text\": \"also fine\"}\n{\"text\": \"broken\n"
            .write(toFile: directory.appendingPathComponent("rows.jsonl").path, atomically: true, encoding: .utf8)
        try """
            name: failing
            steps:
              - name: load
                uses: load_jsonl
                with: {path: rows.jsonl}
              - name: save
                uses: write_jsonl
                input: load
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Fixtures.run(binary, ["run", file, "--run-dir", runDirectory])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("rows.jsonl:3"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: runDirectory + "/out.jsonl"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: runDirectory).filter { $0.contains("tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        let summary = try JSONValue(parsing: String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8))
        #expect(summary["status"] == .string("failed"))
    }
}
