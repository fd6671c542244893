import Foundation
import Testing

@testable import PipelineJSON

/// `max_concurrency: auto` end to end: `pipeline run` with text_generation
/// against llm-test-server with a capacity limit, over real HTTP.
@Suite("Adaptive concurrency run", .serialized)
struct AdaptiveConcurrencyRunTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func textgen(_ directory: URL, rows: Int, server: LLMServiceTests.Server, concurrency: String) throws -> String {
        try Fixtures.writeQuestions(rows, in: directory)
        let file = directory.appendingPathComponent("textgen.yaml").path
        try """
            name: textgen
            llms:
              teacher:
                base_url: "\(server.url)/v1"
                model: stub-chat
                max_concurrency: \(concurrency)
            steps:
              - name: load
                uses: load_jsonl
                with: {path: rows.jsonl}
                batch_size: 16
              - name: generate
                uses: text_generation
                llm: teacher
                input: load
                with: {template: "{text}", temperature: 0.7}
              - name: save
                uses: write_jsonl
                input: generate
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func autoAgainstAServerThatRefusesBeyondItsCapacityAnswersEveryRow() throws {
        let server = try LLMServiceTests.Server(["--capacity", "4", "--over-capacity", "429", "--latency-ms", "20",
                                                 "--retry-after", "1"])
        let directory = try Fixtures.emptyDirectory("adaptive-429")
        let file = try textgen(directory, rows: 300, server: server, concurrency: "auto")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--no-llm-cache"]).wait()
        #expect(result.status == 0, "\(result.output)")

        let rows = try String(contentsOfFile: runDirectory + "/out.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONValue(parsing: String($0)) }
        #expect(rows.count == 300)
        #expect(rows.allSatisfy { ($0["generation"]?.stringValue ?? "").count > 20 && $0["_error"] == nil })
        let summary = try JSONValue(parsing: String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8))
        #expect(summary["row_errors"]?.int64Value == 0)
        let teacher = summary["llms"]?["teacher"]
        #expect(teacher?["requests"]?.int64Value == 300)
        #expect(teacher?["failures"]?.int64Value == 0)
        let concurrency = try #require(teacher?["concurrency"], "\(summary.serialized)")
        #expect(concurrency["setting"]?.stringValue == "auto")
        let limit = try #require(concurrency["limit"]?.int64Value)
        let lowest = try #require(concurrency["lowest"]?.int64Value), highest = try #require(concurrency["highest"]?.int64Value)
        #expect(lowest >= 1 && lowest <= limit && limit <= highest && highest <= 256)
        // The console names the value it settled at.
        #expect(result.output.contains("llm teacher: max_concurrency auto settled at \(limit) ("), "\(result.output)")

        let stats = try server.stats()
        #expect((stats["capacity"]?["max_in_service"]?.int64Value ?? 99) <= 4)
        // Every 429 was retried: the server answered each row once.
        #expect(stats["by_status"]?["200"]?.int64Value == 300)
    }

    @Test func aFixedLimitIsReportedAsSetAndPrintsNoLine() throws {
        let server = try LLMServiceTests.Server(["--capacity", "4"])
        let directory = try Fixtures.emptyDirectory("adaptive-fixed")
        let file = try textgen(directory, rows: 20, server: server, concurrency: "3")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--no-llm-cache"]).wait()
        #expect(result.status == 0, "\(result.output)")
        let summary = try JSONValue(parsing: String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8))
        let concurrency = summary["llms"]?["teacher"]?["concurrency"]
        #expect(concurrency?["setting"]?.int64Value == 3 && concurrency?["limit"]?.int64Value == 3)
        #expect((concurrency?["peak_in_flight"]?.int64Value ?? 0) <= 3)
        #expect(!result.output.contains("max_concurrency auto"))
    }

    @Test func badSettingsAreErrorsAtTheirPlace() throws {
        let directory = try Fixtures.emptyDirectory("adaptive-invalid")
        let server = try LLMServiceTests.Server([])
        for (setting, message) in [
            ("automatic", #"llms.teacher.max_concurrency: must be an integer ≥ 1, "auto" or {auto: {min, max, start}}, got "automatic""#),
            ("{auto: {min: 8, max: 4}}", "llms.teacher.max_concurrency: auto: max (4) is less than min (8)"),
            ("{auto: {start: 0}}", "llms.teacher.max_concurrency.auto.start: must be ≥ 1"),
            ("{auto: {most: 3}}", #"llms.teacher.max_concurrency.auto: unknown key "most""#),
            ("0", "llms.teacher.max_concurrency: must be ≥ 1"),
        ] {
            let file = try textgen(directory, rows: 1, server: server, concurrency: setting)
            let result = try Spawned(binary, ["validate", file]).wait()
            #expect(result.status == 2, "\(setting): \(result.output)")
            #expect(result.output.contains(message), "\(setting): \(result.output)")
            #expect(result.output.contains("textgen.yaml:6:"), "positioned at the value: \(result.output)")
        }
    }
}
