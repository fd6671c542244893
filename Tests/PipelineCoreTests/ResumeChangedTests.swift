import Foundation
import Testing

@testable import PipelineJSON

/// `pipeline run --resume-changed`: after a change, the steps that did not
/// change keep their stored outputs (no LLM call is paid again), the first
/// changed step and everything after it run again, and the result equals
/// a fresh run of the changed pipeline.
@Suite("Resume what changed", .serialized)
struct ResumeChangedTests {
    /// load → generate → judge → save, deterministic (temperature 0), so a
    /// fresh run of the same file gives the same bytes.
    private func write(_ file: String, server: LLMServiceTests.Server, judgeTemplate: String,
                       extraStep: Bool = false, llmExtra: String = "") throws {
        let filterStep = extraStep ? """
              - name: keep_long
                uses: filter
                input: generate
                with: {where: "generation | length > 10"}

            """ : ""
        try """
            name: twostep
            llms:
              teacher: {base_url: "\(server.url)/v1", model: stub-chat, max_concurrency: 8, api_key_env: PIPELINE_TEST_KEY\(llmExtra)}
            steps:
              - name: load
                uses: load_jsonl
                with: {path: rows.jsonl}
                batch_size: 8
              - name: generate
                uses: text_generation
                llm: teacher
                input: load
                with: {template: "{text}", temperature: 0}
            \(filterStep)  - name: judge
                uses: text_generation
                llm: teacher
                input: \(extraStep ? "keep_long" : "generate")
                with: {template: "\(judgeTemplate)", output_column: judgement, model_name_column: judge_model,
                       finish_reason_column: judge_finish, reasoning_column: judge_reasoning, temperature: 0}
              - name: save
                uses: write_jsonl
                input: judge
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
    }

    private func run(_ file: String, _ directory: String, _ extra: [String] = []) throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["PIPELINE_TEST_KEY"] = "sk-secret-canary"
        return try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", directory, "--no-llm-cache", "--log-format", "json"] + extra,
                           environment: environment).wait()
    }

    private func requests(_ server: LLMServiceTests.Server) throws -> Int64 {
        try #require(server.stats()["requests"]?.int64Value)
    }

    @Test func onlyTheChangedStepAndWhatFollowsRunAgain() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("resume-changed")
        try Fixtures.writeQuestions(20, in: directory)
        let file = directory.appendingPathComponent("twostep.yaml").path
        let runDirectory = directory.appendingPathComponent("run").path

        try write(file, server: server, judgeTemplate: "Rate this answer: {generation}")
        #expect(try run(file, runDirectory).status == 0)
        #expect(try requests(server) == 40)

        // The judge's prompt changes: the default is still a refusal.
        try write(file, server: server, judgeTemplate: "Rate this answer from 1 to 10: {generation}")
        let refused = try run(file, runDirectory)
        #expect(refused.status == 2, "\(refused.output)")
        #expect(refused.output.contains("--resume-changed"), "\(refused.output)")
        #expect(try requests(server) == 40)

        let rerun = try run(file, runDirectory, ["--resume-changed"])
        #expect(rerun.status == 0, "\(rerun.output)")
        // Only the judge's 20 calls are made again; generate's 20 are saved.
        #expect(try requests(server) == 60)
        #expect(rerun.output.contains("reused load: stored outputs kept"), "\(rerun.output)")
        #expect(rerun.output.contains("reused generate: stored outputs kept"))
        #expect(rerun.output.contains(#"recomputed judge: with.template \"Rate this answer: {generation}\" → \"Rate this answer from 1 to 10: {generation}\""#),
                "\(rerun.output)")
        #expect(rerun.output.contains("recomputed save: it reads judge, which is recomputed; it writes path (write_jsonl): the file is written again"))
        #expect(!rerun.output.contains("sk-secret-canary"))
        let summary = try JSONValue(parsing: String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8))
        #expect(summary["rerun"]?["recomputed"]?.arrayValue?.compactMap { $0["step"]?.stringValue } == ["judge", "save"])
        #expect(summary["steps"]?.arrayValue?.first { $0["name"]?.stringValue == "judge" }?["rows_out"]?.int64Value == 20)

        // Byte for byte what a fresh run of the changed pipeline writes.
        let fresh = directory.appendingPathComponent("fresh").path
        #expect(try run(file, fresh).status == 0)
        let resumed = try Data(contentsOf: URL(fileURLWithPath: runDirectory + "/out.jsonl"))
        #expect(resumed == (try Data(contentsOf: URL(fileURLWithPath: fresh + "/out.jsonl"))))
        #expect(String(decoding: resumed, as: UTF8.self).contains("Rate this answer from 1 to 10") == false,
                "the answers are the judge's, not its prompt")

        // Nothing changed since: a finished run with nothing to do.
        let again = try run(file, runDirectory, ["--resume-changed"])
        #expect(again.status == 0)
        #expect(again.output.contains("already complete"), "\(again.output)")
        #expect(try requests(server) == 100, "the fresh run made 40; nothing since")
    }

    @Test func aStepAddedBetweenRecomputesWhatReadsIt() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("resume-changed-added")
        try Fixtures.writeQuestions(12, in: directory)
        let file = directory.appendingPathComponent("twostep.yaml").path
        let runDirectory = directory.appendingPathComponent("run").path
        try write(file, server: server, judgeTemplate: "Judge: {generation}")
        #expect(try run(file, runDirectory).status == 0)

        try write(file, server: server, judgeTemplate: "Judge: {generation}", extraStep: true)
        let rerun = try run(file, runDirectory, ["--resume-changed"])
        #expect(rerun.status == 0, "\(rerun.output)")
        #expect(rerun.output.contains("recomputed keep_long: it is new"), "\(rerun.output)")
        #expect(rerun.output.contains(#"recomputed judge: input [\"generate\"] → [\"keep_long\"]"#), "\(rerun.output)")
        #expect(try requests(server) == 24 + 12)

        let fresh = directory.appendingPathComponent("fresh").path
        #expect(try run(file, fresh).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: runDirectory + "/out.jsonl"))
                == Data(contentsOf: URL(fileURLWithPath: fresh + "/out.jsonl")))

        // Taking the step out again drops its state and redoes the judge.
        try write(file, server: server, judgeTemplate: "Judge: {generation}")
        let back = try run(file, runDirectory, ["--resume-changed"])
        #expect(back.status == 0, "\(back.output)")
        #expect(back.output.contains("removed keep_long: no longer in the pipeline"), "\(back.output)")
        #expect(back.output.contains("reused generate"))
    }

    @Test func aKilledRerunResumesAsAnyRun() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--latency-ms", "30"])
        let directory = try Fixtures.emptyDirectory("resume-changed-kill")
        try Fixtures.writeQuestions(64, in: directory)
        let file = directory.appendingPathComponent("twostep.yaml").path
        let runDirectory = directory.appendingPathComponent("run").path
        try write(file, server: server, judgeTemplate: "Judge: {generation}")
        #expect(try run(file, runDirectory).status == 0)

        try write(file, server: server, judgeTemplate: "Judge strictly: {generation}")
        var environment = ProcessInfo.processInfo.environment
        environment["PIPELINE_TEST_KEY"] = "sk-secret-canary"
        let process = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", runDirectory, "--no-llm-cache",
                                                            "--resume-changed"], environment: environment)
        // Killed once the judge has answered some of its new calls.
        let log = runDirectory + "/llm-io.jsonl"
        for _ in 0..<400 {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if text.components(separatedBy: "Judge strictly").count > 12 { break }
            usleep(10_000)
        }
        process.kill()
        _ = process.wait()
        // The store holds the new pipeline now: a plain run resumes it.
        let resumed = try run(file, runDirectory)
        #expect(resumed.status == 0, "\(resumed.output)")
        let fresh = directory.appendingPathComponent("fresh").path
        #expect(try run(file, fresh).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: runDirectory + "/out.jsonl"))
                == Data(contentsOf: URL(fileURLWithPath: fresh + "/out.jsonl")))
    }

    @Test func theLLMsModelAndParametersArePartOfItsSteps() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("resume-changed-llm")
        try Fixtures.writeQuestions(8, in: directory)
        let file = directory.appendingPathComponent("twostep.yaml").path
        let runDirectory = directory.appendingPathComponent("run").path
        try write(file, server: server, judgeTemplate: "Judge: {generation}")
        #expect(try run(file, runDirectory).status == 0)

        // Where the LLM is served and how fast are not part of it.
        try write(file, server: server, judgeTemplate: "Judge: {generation}", llmExtra: ", timeout_seconds: 60")
        let same = try run(file, runDirectory)
        #expect(same.status == 0 && same.output.contains("already complete"), "\(same.output)")

        try write(file, server: server, judgeTemplate: "Judge: {generation}", llmExtra: ", params: {max_tokens: 64}")
        let refused = try run(file, runDirectory)
        #expect(refused.status == 2)
        #expect(refused.output.contains("llm teacher params.max_tokens (not set) → 64"), "\(refused.output)")
        let rerun = try run(file, runDirectory, ["--resume-changed"])
        #expect(rerun.status == 0, "\(rerun.output)")
        #expect(rerun.output.contains("reused load"))
        #expect(rerun.output.contains("recomputed generate: llm teacher params.max_tokens (not set) → 64"), "\(rerun.output)")
        #expect(rerun.output.contains("recomputed judge: llm teacher params.max_tokens"), "\(rerun.output)")
    }

    @Test func flagsThatContradictItAreRefused() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("resume-changed-flags")
        let file = directory.appendingPathComponent("twostep.yaml").path
        try "".write(to: directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
        try write(file, server: server, judgeTemplate: "Judge: {generation}")
        for (flags, message) in [(["--fresh"], "--resume-changed keeps what did not change, --fresh forgets everything"),
                                 (["--no-checkpoint"], "--resume-changed needs the stored state"),
                                 (["--preview", "2"], "--resume-changed does not apply to it")] {
            let result = try run(file, directory.appendingPathComponent("run").path, ["--resume-changed"] + flags)
            #expect(result.status == 2, "\(flags): \(result.output)")
            #expect(result.output.contains(message), "\(flags): \(result.output)")
        }
    }
}
