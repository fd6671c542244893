import Foundation
import Testing

@testable import PipelineJSON

/// pipelines/distill.yaml (the one `make run` runs) end to end against
/// llm-test-server: two teachers, a judge, SFT messages and DPO pairs.
@Suite("Distill pipeline")
struct DistillPipelineTests {
    @Test func twoTeachersAJudgeAndBothDatasets() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--latency-ms", "2"])
        let file = Fixtures.packageRoot.appendingPathComponent("pipelines/distill.yaml").path
        let run = try Fixtures.emptyDirectory("distill").appendingPathComponent("run")
        var environment = ProcessInfo.processInfo.environment
        environment["LLM_BASE_URL"] = server.url + "/v1"
        let result = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", run.path, "--no-llm-cache"],
                                 environment: environment).wait()
        #expect(result.status == 0, "\(result.output)")
        let prompts = try String(contentsOfFile: Fixtures.packageRoot.appendingPathComponent("pipelines/distill-prompts.jsonl").path,
                                 encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        let instructions = Set(prompts.compactMap { $0["instruction"]?.stringValue })
        func rows(_ name: String) throws -> [JSONValue] {
            try String(contentsOf: run.appendingPathComponent(name), encoding: .utf8).split(separator: "\n")
                .map { try JSONValue(parsing: String($0)) }
        }

        // Every teacher and judge call is logged: 2 teachers × 2 samples, then a rating per answer.
        let log = try rows("llm-io.jsonl")
        #expect(log.count == prompts.count * 8)
        let models = Set(log.compactMap { $0["request"]?["model"]?.stringValue })
        #expect(models == ["teacher-a", "teacher-b", "judge"])

        let sft = try rows("sft.jsonl")
        #expect(!sft.isEmpty && sft.count <= prompts.count)
        for row in sft {
            #expect(row.objectValue?.keys.sorted() == ["messages"], "\(row)")
            let messages = try #require(row["messages"]?.arrayValue)
            #expect(messages.compactMap { $0["role"]?.stringValue } == ["user", "assistant"], "\(row)")
            #expect(instructions.contains(messages[0]["content"]?.stringValue ?? ""))
            let answer = messages[1]["content"]?.stringValue ?? ""
            #expect(answer.isEmpty == false)
        }

        let dpo = try rows("dpo.jsonl")
        #expect(!dpo.isEmpty && dpo.count <= prompts.count)
        for row in dpo {
            let prompt = try #require(row["prompt"]?.arrayValue, "\(row)")
            #expect(prompt.compactMap { $0["role"]?.stringValue } == ["user"])
            #expect(instructions.contains(prompt[0]["content"]?.stringValue ?? ""))
            let chosen = try #require(row["chosen"]?.arrayValue), rejected = try #require(row["rejected"]?.arrayValue)
            #expect(chosen.count == 1 && rejected.count == 1)
            #expect(chosen[0]["role"]?.stringValue == "assistant" && rejected[0]["role"]?.stringValue == "assistant")
            #expect(chosen[0]["content"] != rejected[0]["content"])
            let margin = (row["chosen_rating"]?.doubleValue ?? 0) - (row["rejected_rating"]?.doubleValue ?? 0)
            #expect(margin >= 2, "\(row)")
            for key in ["chosen_model", "rejected_model"] {
                #expect(["teacher-a", "teacher-b"].contains(row[key]?.stringValue ?? ""), "\(row)")
            }
        }
    }

    @Test func noPromptsGiveEmptyDatasetsAndExitZero() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("distill-empty")
        let empty = directory.appendingPathComponent("empty.jsonl")
        try "".write(to: empty, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["LLM_BASE_URL"] = server.url + "/v1"
        for (name, outputs) in [("distill", ["sft.jsonl", "dpo.jsonl"]), ("evaluate", ["compared.jsonl"])] {
            let file = Fixtures.packageRoot.appendingPathComponent("pipelines/\(name).yaml").path
            let run = directory.appendingPathComponent(name)
            let result = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", run.path, "--no-llm-cache",
                                                               "--param", "load.path=\(empty.path)"], environment: environment).wait()
            #expect(result.status == 0, "\(name): \(result.output)")
            for output in outputs {
                #expect(try String(contentsOf: run.appendingPathComponent(output), encoding: .utf8).isEmpty, "\(name)/\(output)")
            }
        }
    }
}
