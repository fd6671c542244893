import Foundation
import Testing

@testable import PipelineJSON

/// pipelines/support-sft.yaml (the one `make run` runs) end to end against
/// llm-test-server: CSV questions -> 2 answers each with a system prompt
/// naming the product -> one row per answer -> filter -> SFT messages.
@Suite("Support SFT pipeline")
struct SupportSFTTests {
    @Test func theBundledPipelineWritesSFTMessages() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--latency-ms", "2"])
        let file = Fixtures.packageRoot.appendingPathComponent("pipelines/support-sft.yaml").path
        let run = try Fixtures.emptyDirectory("support-sft").appendingPathComponent("run")
        var environment = ProcessInfo.processInfo.environment
        environment["LLM_BASE_URL"] = server.url + "/v1"
        let result = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", run.path, "--no-llm-cache"],
                                 environment: environment).wait()
        #expect(result.status == 0, "\(result.output)")

        let summary = try JSONValue(parsing: String(contentsOf: run.appendingPathComponent("summary.json"), encoding: .utf8))
        let steps = Dictionary(uniqueKeysWithValues: (summary["steps"]?.arrayValue ?? []).compactMap { step in
            step["name"]?.stringValue.map { ($0, step) }
        })
        let questions = try String(contentsOfFile: Fixtures.packageRoot.appendingPathComponent("pipelines/support-questions.csv").path,
                                   encoding: .utf8).split(separator: "\n").count - 1
        #expect(steps["answer"]?["rows_out"]?.int64Value == Int64(questions))
        #expect(steps["each"]?["rows_out"]?.int64Value == Int64(2 * questions))
        let kept = try #require(steps["good"]?["rows_out"]?.int64Value)
        #expect(kept > 0 && kept < Int64(2 * questions), "the filter drops the cut-off answers and keeps the rest: \(kept)")

        let rows = try String(contentsOf: run.appendingPathComponent("support-sft.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(rows.count == Int(kept))
        for row in rows {
            #expect(row.objectValue?.keys.sorted() == ["messages", "product"], "\(row)")
            let messages = try #require(row["messages"]?.arrayValue, "messages is a list of objects, not a string: \(row)")
            #expect(messages.compactMap { $0["role"]?.stringValue } == ["system", "user", "assistant"], "\(row)")
            let product = try #require(row["product"]?.stringValue)
            #expect(messages[0]["content"]?.stringValue?.contains(product) == true, "\(row)")
            #expect((messages[2]["content"]?.stringValue?.count ?? 0) >= 80, "\(row)")
        }
        // Two different answers to the same question (distinct seeds).
        let answers = Dictionary(grouping: rows) { $0["messages"]?.arrayValue?[1]["content"]?.stringValue ?? "" }
        #expect(answers.values.contains { group in Set(group.map { $0["messages"]?.arrayValue?[2]["content"] }).count == 2 })
        // The server was asked with the product in the system message.
        let log = try String(contentsOf: run.appendingPathComponent("llm-io.jsonl"), encoding: .utf8)
        #expect(log.contains("You are a patient support agent for the Nimbus router."))
    }
}
