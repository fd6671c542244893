import Foundation
import Testing

@testable import PipelineCLI
@testable import PipelineJSON

/// `pipeline run FILE --preview N [--step NAME]` end to end: the first N
/// rows through the pipeline, nothing written or pushed, answers cached
/// for the full run; and the table people see.
@Suite("Preview", .serialized)
struct PreviewTests {
    private func textgen(_ directory: URL, rows: Int, server: LLMServiceTests.Server, temperature: Double = 0) throws -> String {
        try Fixtures.textgenPipeline(directory, rows: rows, batchSize: 16, server: server, maxConcurrency: 8,
                                     temperature: temperature)
    }

    private func requests(_ server: LLMServiceTests.Server) throws -> Int64 {
        try #require(server.stats()["requests"]?.int64Value)
    }

    @Test func previewRunsTheFirstRowsWritesNothingAndTheFullRunReusesTheAnswers() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("preview-textgen")
        let file = try textgen(directory, rows: 40, server: server)
        let runDirectory = directory.appendingPathComponent("run").path
        let cache = directory.appendingPathComponent("cache.db").path

        let preview = try Spawned(Fixtures.pipelineBinary, ["run", file, "--preview", "5", "--run-dir", runDirectory,
                                                            "--llm-cache", cache, "--log-format", "json"]).wait()
        #expect(preview.status == 0, "\(preview.output)")
        let rows = preview.output.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
            .filter { $0["generation"] != nil }
        #expect(rows.map { $0["text"]?.stringValue } == (0..<5).map { "question \($0)" })
        #expect(rows.allSatisfy { ($0["generation"]?.stringValue ?? "").count > 20 })
        #expect(preview.output.contains("preview leaves out save: it writes path (write_jsonl)"))
        // Nothing in the run directory, no output file anywhere near.
        #expect(!FileManager.default.fileExists(atPath: runDirectory))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("out.jsonl").path))
        #expect(try requests(server) == 5)

        // The full run gets those five answers from the cache, and the same rows.
        let full = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", runDirectory, "--llm-cache", cache]).wait()
        #expect(full.status == 0, "\(full.output)")
        #expect(try requests(server) == 40)
        let written = try String(contentsOfFile: runDirectory + "/out.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONValue(parsing: String($0)) }
        #expect(written.count == 40)
        for row in rows {
            #expect(written.contains { $0["text"] == row["text"] && $0["generation"] == row["generation"] })
        }
    }

    @Test func stepStopsThePreviewAfterIt() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("preview-step")
        let file = try textgen(directory, rows: 40, server: server)
        let result = try Spawned(Fixtures.pipelineBinary, ["run", file, "--preview", "3", "--step", "load", "--no-llm-cache"]).wait()
        #expect(result.status == 0, "\(result.output)")
        let rows = result.output.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
            .filter { $0["text"] != nil }
        #expect(rows.count == 3)
        #expect(rows.allSatisfy { $0["generation"] == nil })
        #expect(try requests(server) == 0)
        #expect(result.output.contains("preview leaves out generate: it comes after --step load"), "\(result.output)")
    }

    @Test func badPreviewRequestsAreUsageErrors() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("preview-bad")
        let file = try textgen(directory, rows: 4, server: server)
        let cases: [([String], String)] = [
            (["--preview", "2", "--step", "save"], "--step save cannot be previewed: it writes path (write_jsonl); preview a step before it"),
            (["--preview", "2", "--step", "gen"], "--step gen: the pipeline has no such step; its steps: load, generate, save"),
            (["--preview", "0"], "--preview must be at least 1 row"),
            (["--step", "load"], "--step goes with --preview N"),
            (["--preview", "2", "--fresh"], "--fresh does not apply to it"),
        ]
        for (arguments, message) in cases {
            let result = try Spawned(Fixtures.pipelineBinary, ["run", file, "--no-llm-cache"] + arguments).wait()
            #expect(result.status == 2, "\(arguments): \(result.output)")
            #expect(result.output.contains(message), "\(arguments): \(result.output)")
        }
        #expect(try requests(server) == 0)
    }

    @Test func globalStepsRunOnWhatThePreviewGaveThem() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--embed-dim", "32"])
        let pipeline = Fixtures.packageRoot.appendingPathComponent("pipelines/deita.yaml").path
        var environment = ProcessInfo.processInfo.environment
        environment["LLM_BASE_URL"] = server.url + "/v1"
        environment["DEITA_DIMENSIONS"] = "32"
        let result = try Spawned(Fixtures.pipelineBinary, ["run", pipeline, "--preview", "4", "--no-llm-cache"],
                                 environment: environment).wait()
        #expect(result.status == 0, "\(result.output)")
        let rows = result.output.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
            .filter { $0["evolved_response"] != nil }
        // deita_filter (global) selected among the 4 seeds' candidates only.
        #expect(!rows.isEmpty)
        let seeds = Set(rows.compactMap { $0["id"]?.int64Value })
        #expect(seeds.isSubset(of: [0, 1, 2, 3]), "\(seeds)")
    }

    @Test func shortValuesMakeAGridLongOnesABlockPerRow() {
        let grid = PreviewTable.render(title: "load", columns: ["id", "text"],
                                       rows: [[.number(1), .string("hi")], [.number(22), .null]], width: 80)
        #expect(grid.split(separator: "\n").dropFirst().joined(separator: "\n") == """
            id  text
            ──  ────
            1   hi
            22  null
            """)
        let long = String(repeating: "word ", count: 100)
        let blocks = PreviewTable.render(title: "gen", columns: ["id", "generation"], rows: [[.number(1), .string(long)]], width: 40)
        let lines = blocks.split(separator: "\n").map(String.init)
        #expect(lines[1] == "• row 1")
        #expect(lines[2] == "id          1")
        #expect(lines[3].hasPrefix("generation  word word"))
        #expect(lines.allSatisfy { $0.count <= 40 || $0.hasPrefix("──") }, "\(lines)")
        #expect(lines.last?.hasSuffix("more characters)") == true, "\(lines)")
        #expect(lines.count == 3 + PreviewTable.maxLines)
    }
}
