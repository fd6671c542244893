import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON

/// The teacher I/O log and the run's accounting survive kills: every answer
/// that reaches the store is in llm-io.jsonl exactly once, and a resumed
/// run's summary adds up every attempt. The real binary, text_generation
/// and the in-project LLM server over loopback.
@Suite("Teacher log and accounting across kills", .serialized)
struct TeacherLogTests {
    private var binary: String { Fixtures.pipelineBinary }

    private func writePipeline(_ directory: URL, rows: Int, url: String) throws -> String {
        var text = ""
        for n in 0..<rows { text += #"{"id": \#(n), "instruction": "Explain topic number \#(n) briefly."}"# + "\n" }
        try text.write(to: directory.appendingPathComponent("seed.jsonl"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("gen.yaml").path
        try """
            name: gen
            llms:
              teacher: {base_url: "\(url)/v1", model: test-model, max_concurrency: 16}
            steps:
              - name: load
                uses: load_jsonl
                with: {path: seed.jsonl}
                batch_size: 10
              - name: generate
                uses: text_generation
                llm: teacher
                input: load
                with: {template: "Answer: {instruction}", temperature: 0.7}
              - name: save
                uses: write_jsonl
                input: generate
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func lines(_ path: String) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    private func summary(_ runDirectory: String) throws -> JSONValue {
        try JSONValue(parsing: String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8))
    }

    /// Answered requests in the log: request id → lines with an answer.
    private func answered(_ log: [JSONValue]) -> [String: Int] {
        var count: [String: Int] = [:]
        for line in log where line["status"]?.int64Value == 200 && line["response"] != nil {
            count[line["request_id"]?.stringValue ?? "?", default: 0] += 1
        }
        return count
    }

    @Test func afterKillsEveryCommittedAnswerIsLoggedExactlyOnce() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--latency-ms", "40"])
        let directory = try Fixtures.emptyDirectory("teacherlog")
        let rows = 300
        let file = try writePipeline(directory, rows: rows, url: server.url)
        let runDirectory = directory.appendingPathComponent("run").path
        let arguments = ["run", file, "--run-dir", runDirectory, "--no-llm-cache", "--log-format", "json"]
        var seed: UInt64 = 20_261_204
        var landed = 0
        for _ in 0..<8 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let process = try Spawned(binary, arguments)
            Thread.sleep(forTimeInterval: Double(150 + Int(seed >> 33) % 300) / 1000)
            if process.isRunning {
                process.kill(SIGKILL)
                landed += 1
            }
            _ = process.wait()
        }
        let last = try Spawned(binary, arguments).wait()
        #expect(last.status == 0, "\(last.output)")
        #expect(landed >= 4, "most kills should land while the run is going")
        let out = try lines(runDirectory + "/out.jsonl")
        #expect(out.count == rows)
        let log = try lines(runDirectory + "/llm-io.jsonl")
        let perRequest = answered(log)
        #expect(perRequest.count == rows, "distinct answered requests in the log = committed answers")
        #expect(perRequest.values.allSatisfy { $0 == 1 }, "no answer logged twice")
        // Every answer in the output is the one the log has.
        let logged = Set(log.compactMap { $0["response"]?.stringValue })
        #expect(out.allSatisfy { logged.contains($0["generation"]?.stringValue ?? "") })
        let report = try summary(runDirectory)
        let attempts = Int(report["attempts"]?.int64Value ?? 0)
        #expect(attempts >= 2 && attempts <= landed + 1, "attempts \(attempts), kills landed \(landed)")
        // The requests of every attempt count, those a kill made redone included.
        #expect((report["llms"]?["teacher"]?["requests"]?.int64Value ?? 0) >= Int64(rows))
    }

    @Test func aResumedRunsSummaryAddsUpEveryAttempt() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--latency-ms", "40"])
        let directory = try Fixtures.emptyDirectory("accounting")
        let rows = 300
        let file = try writePipeline(directory, rows: rows, url: server.url)
        let runDirectory = directory.appendingPathComponent("run").path
        let arguments = ["run", file, "--run-dir", runDirectory, "--no-llm-cache", "--log-format", "json"]
        let first = try Spawned(binary, arguments)
        Thread.sleep(forTimeInterval: 0.5)
        try #require(first.isRunning, "the run ended before it could be stopped")
        first.kill(SIGTERM)
        #expect(first.wait().status == 5)
        let stopped = try summary(runDirectory)
        let firstSeconds = stopped["seconds"]?.doubleValue ?? 0
        let firstRequests = stopped["llms"]?["teacher"]?["requests"]?.int64Value ?? 0
        #expect(firstRequests > 0 && firstRequests < Int64(rows), "\(stopped)")

        let second = try Spawned(binary, arguments).wait()
        #expect(second.status == 0, "\(second.output)")
        let done = try summary(runDirectory)
        #expect(done["attempts"]?.int64Value == 2)
        // A clean stop lets calls in flight finish and commit: nothing is
        // asked twice, and the two attempts together asked for every row.
        #expect(done["llms"]?["teacher"]?["requests"]?.int64Value == Int64(rows), "\(done)")
        #expect(done["steps"]?.arrayValue?.first { $0["name"] == .string("generate") }?["llm"]?["requests"]?.int64Value == Int64(rows))
        #expect((done["seconds"]?.doubleValue ?? 0) > firstSeconds)
        #expect(done["started_at"] == stopped["started_at"])

        // Running the finished run again changes nothing, summary.json included.
        let before = try String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8)
        let again = try Spawned(binary, arguments).wait()
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("already complete"))
        #expect(try String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8) == before)
        #expect(try lines(runDirectory + "/out.jsonl").count == rows)
    }
}
