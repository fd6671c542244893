import Foundation
import Testing

@testable import PipelineJSON

/// load_llm_io: a run's teacher I/O log read back as rows, so past teacher
/// traffic becomes training data.
@Suite("Distil from logs")
struct LoadLLMIOTests {
    @Test func aRunsTeacherTrafficComesBackAsRows() throws {
        try Fixtures.requireBuiltPipeline()
        // Every distinct request fails once first: the log holds failed attempts too.
        let server = try LLMServiceTests.Server(["--error-rate", "1", "--faults-first", "1"])
        let directory = try Fixtures.emptyDirectory("load-llm-io")
        let textgen = try Fixtures.textgenPipeline(directory, rows: 12, batchSize: 5, server: server,
                                                   maxConcurrency: 4, temperature: 0)
        let run = directory.appendingPathComponent("run").path
        let first = try Spawned(Fixtures.pipelineBinary, ["run", textgen, "--run-dir", run, "--no-llm-cache"]).wait()
        #expect(first.status == 0, "\(first.output)")

        let file = directory.appendingPathComponent("distil.yaml").path
        try """
            name: distil
            steps:
              - name: log
                uses: load_llm_io
                with: {path: run/llm-io.jsonl, steps: [generate]}
              - name: save
                uses: write_jsonl
                input: log
                with: {path: rows.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let second = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", directory.appendingPathComponent("distil").path,
                                                           "--log-format", "json"]).wait()
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("12 lines not read as rows: a failed attempt"), "\(second.output)")

        let generated = try String(contentsOfFile: run + "/out.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONValue(parsing: String($0)) }
        let rows = try String(contentsOfFile: directory.appendingPathComponent("distil/rows.jsonl").path, encoding: .utf8)
            .split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(rows.count == 12)
        for row in rows {
            let messages = try #require(row["messages"]?.arrayValue, "\(row)")
            #expect(messages.last?["role"]?.stringValue == "user")
            let prompt = try #require(messages.last?["content"]?.stringValue)
            let source = try #require(generated.first { $0["text"]?.stringValue == prompt }, "\(prompt)")
            #expect(row["answer"] == source["generation"])
            #expect(row["model"]?.stringValue == "stub-chat")
            #expect(row["step"]?.stringValue == "generate" && row["llm"]?.stringValue == "teacher")
            #expect(row["cached"]?.boolValue == false)
            #expect((row["completion_tokens"]?.int64Value ?? 0) > 0)
            #expect(row["source_row_id"]?.stringValue.flatMap(UInt64.init) != nil, "\(row)")
        }
    }

    @Test func aLineThatIsNoLogLineFailsWithItsNumber() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("load-llm-io-bad")
        try "{\"llm\":\"t\"}\nnot json\n{}\n".write(to: directory.appendingPathComponent("llm-io.jsonl"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("distil.yaml").path
        try """
            name: distil
            steps:
              - name: log
                uses: load_llm_io
                with: {path: llm-io.jsonl}
              - name: save
                uses: write_jsonl
                input: log
                with: {path: rows.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", directory.appendingPathComponent("run").path]).wait()
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("llm-io.jsonl:2: not a JSON object"), "\(result.output)")
    }
}
