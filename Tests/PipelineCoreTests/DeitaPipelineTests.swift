import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON

/// pipelines/deita.yaml end to end against the in-project server: the call
/// counts of the method, and a selection that obeys the filter's rule.
@Suite("DEITA pipeline", .serialized)
struct DeitaPipelineTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func run(k: Int, budget: Int, server: LLMServiceTests.Server, runDirectory: String,
                     pipeline: String = Fixtures.packageRoot.appendingPathComponent("pipelines/deita.yaml").path)
        throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["LLM_BASE_URL"] = server.url + "/v1"
        environment["DEITA_K"] = String(k)
        environment["DEITA_BUDGET"] = String(budget)
        environment["DEITA_DIMENSIONS"] = "32"
        return try Spawned(binary, ["run", pipeline, "--run-dir", runDirectory, "--no-llm-cache", "--log-format", "json",
                                    "--batch-wait", "block"],
                           environment: environment).wait()
    }

    /// The teacher in batch mode (the provider's Batch API of the test
    /// server): every round of the evol steps waits for its batch, and the
    /// selection is the one of a live run.
    @Test func aBatchTeacherSelectsWhatALiveOneDoes() throws {
        let server = try LLMServiceTests.Server(["--embed-dim", "32", "--batch-seconds", "0.5"])
        let live = try Fixtures.emptyDirectory("deita-live").path
        let liveResult = try run(k: 2, budget: 20, server: server, runDirectory: live)
        try #require(liveResult.status == 0, "\(liveResult.output)")
        // pipelines/deita.yaml with `batch: {poll_seconds: 0.1}` on its teacher, beside its seeds.
        let copy = try Fixtures.emptyDirectory("deita-batch-file")
        let original = Fixtures.packageRoot.appendingPathComponent("pipelines")
        let text = try String(contentsOf: original.appendingPathComponent("deita.yaml"), encoding: .utf8)
        try #require(text.contains("batch: ${TEACHER_BATCH:-false}"))
        try text.replacingOccurrences(of: "batch: ${TEACHER_BATCH:-false}", with: "batch: {poll_seconds: 0.1}")
            .write(to: copy.appendingPathComponent("deita.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(at: original.appendingPathComponent("deita-seed.jsonl"),
                                         to: copy.appendingPathComponent("deita-seed.jsonl"))
        let batched = try Fixtures.emptyDirectory("deita-batch").path
        let result = try run(k: 2, budget: 20, server: server, runDirectory: batched,
                             pipeline: copy.appendingPathComponent("deita.yaml").path)
        #expect(result.status == 0, "\(result.output)")
        let selected = { (directory: String) in try String(contentsOfFile: directory + "/deita.jsonl", encoding: .utf8) }
        #expect(try selected(batched) == selected(live))
        // Rounds are barriers: one batch per round of asking (evol k rounds, the
        // complexity scores, the answers, their evol rounds, the quality scores).
        let created = try server.stats()["batches"]?["created"]?.int64Value ?? 0
        #expect(created >= 4, "\(created) batches")
        print("DEITA k=2 with a batch teacher: \(created) batches")
    }

    @Test(arguments: [2, 3])
    func callsPerSeedAreThoseOfTheMethod(k: Int) throws {
        let server = try LLMServiceTests.Server(["--embed-dim", "32"])
        let runDirectory = try Fixtures.emptyDirectory("deita-\(k)").path
        let result = try run(k: k, budget: 20, server: server, runDirectory: runDirectory)
        #expect(result.status == 0, "\(result.output)")
        let seeds = try String(contentsOf: Fixtures.packageRoot.appendingPathComponent("pipelines/deita-seed.jsonl"), encoding: .utf8)
            .split(separator: "\n").count
        let stats = try server.stats()
        // (k+1)(k+3) chat calls and (k+1)^2 embedded candidates per seed row.
        #expect(stats["by_endpoint"]?["chat"]?.int64Value == Int64(seeds * (k + 1) * (k + 3)))
        #expect(stats["embedding_inputs"]?.int64Value == Int64(seeds * (k + 1) * (k + 1)))

        let rows = try String(contentsOfFile: runDirectory + "/deita.jsonl", encoding: .utf8)
            .split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(rows.count == 20)
        let scores = rows.compactMap { $0["deita_score"]?.doubleValue }
        #expect(scores.count == 20)
        for row in rows {
            let complexity = try #require(row["complexity_score"]?.doubleValue)
            let quality = try #require(row["quality_score"]?.doubleValue)
            #expect(row["deita_score"]?.doubleValue == complexity * quality)
        }
        // Every row kept after the first is farther than the threshold from the rows kept before it.
        for row in rows.dropFirst() { #expect((row["nearest_distance"]?.doubleValue ?? 0) > 0.1) }
    }

    /// Killed mid-run (SIGKILL, seeded moments) and resumed with the same
    /// command: the same selected rows as a run never interrupted.
    @Test func killedMidDeitaAndResumedSelectsTheSameRows() throws {
        let server = try LLMServiceTests.Server(["--embed-dim", "32", "--latency-ms", "40"])
        let reference = try Fixtures.emptyDirectory("deita-reference").path
        let first = try run(k: 2, budget: 30, server: server, runDirectory: reference)
        #expect(first.status == 0, "\(first.output)")
        let expected = try String(contentsOfFile: reference + "/deita.jsonl", encoding: .utf8)

        let runDirectory = try Fixtures.emptyDirectory("deita-killed").path
        var environment = ProcessInfo.processInfo.environment
        environment["LLM_BASE_URL"] = server.url + "/v1"
        environment["DEITA_K"] = "2"
        environment["DEITA_BUDGET"] = "30"
        environment["DEITA_DIMENSIONS"] = "32"
        let pipeline = Fixtures.packageRoot.appendingPathComponent("pipelines/deita.yaml").path
        let arguments = ["run", pipeline, "--run-dir", runDirectory, "--no-llm-cache", "--log-format", "json"]
        var landed = 0
        for delay in [120, 90, 150, 70, 110] as [UInt32] {
            let process = try Spawned(binary, arguments, environment: environment)
            usleep(delay * 1000)
            if process.isRunning {
                process.kill()
                landed += 1
            }
            _ = process.wait()
        }
        let last = try Spawned(binary, arguments, environment: environment).wait()
        #expect(last.status == 0, "\(last.output)")
        #expect(landed >= 3)
        #expect(try String(contentsOfFile: runDirectory + "/deita.jsonl", encoding: .utf8) == expected)
    }
}
