import Foundation
import Testing

@testable import PipelineJSON

/// `llms: NAME: batch:` end to end: text_generation whose requests go to
/// llm-test-server's Batch API (files, batches, time-accelerated), through
/// the real binary. A call whose answers a batch does not have yet is held
/// (its input uncommitted); under `--batch-wait exit` the run ends with 7
/// once the batches are submitted, and the same command collects them.
@Suite("Batch mode", .serialized)
struct BatchModeTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func pipeline(_ directory: URL, rows: Int, server: LLMServiceTests.Server, batch: String?) throws -> String {
        var text = ""
        for n in 0..<rows { text += #"{"id": \#(n), "instruction": "Explain topic number \#(n) briefly."}"# + "\n" }
        try text.write(to: directory.appendingPathComponent("seed.jsonl"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("gen.yaml").path
        try """
            name: gen
            llms:
              teacher: {base_url: "\(server.url)/v1", model: test-model, params: {temperature: 0}\(batch.map { ", batch: \($0)" } ?? "")}
            steps:
              - name: load
                uses: load_jsonl
                with: {path: seed.jsonl}
                batch_size: 50
              - name: generate
                uses: text_generation
                llm: teacher
                input: load
                with: {num_generations: 2}
              - name: save
                uses: write_jsonl
                input: generate
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func run(_ file: String, _ runDirectory: URL, _ extra: [String] = []) throws -> (status: Int32, output: String) {
        try Fixtures.run(binary, ["run", file, "--run-dir", runDirectory.path, "--no-llm-cache"] + extra)
    }

    private func lines(_ url: URL) throws -> [String] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func exitThenCollectGivesTheRowsOfALiveRun() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--batch-seconds", "1", "--batch-max-requests", "1000"])
        let directory = try Fixtures.emptyDirectory("batch-exit")

        let live = directory.appendingPathComponent("live")
        let liveResult = try run(try pipeline(directory, rows: 2000, server: server, batch: nil), live)
        try #require(liveResult.status == 0, "\(liveResult.output)")

        let file = try pipeline(directory, rows: 2000, server: server, batch: "{max_requests: 1000, poll_seconds: 0.2}")
        let batched = directory.appendingPathComponent("batched")
        let first = try run(file, batched)
        #expect(first.status == 7, "\(first.output)")
        #expect(first.output.contains("waiting for provider batches"), "\(first.output)")
        #expect(!FileManager.default.fileExists(atPath: batched.appendingPathComponent("out.jsonl").path),
                "nothing is written before the answers are in")
        let summary = try JSONValue(parsing: String(contentsOf: batched.appendingPathComponent("summary.json"), encoding: .utf8))
        #expect(summary["status"]?.stringValue == "waiting")
        // 4000 requests (2000 rows × 2) in files of at most 1000: four batches.
        var stats = try server.stats()
        #expect(stats["batches"]?["created"]?.int64Value == 4, "\(stats["batches"] ?? .null)")
        // `pipeline runs` shows the run waiting, with its batches.
        let listed = try Fixtures.run(binary, ["runs", directory.path, "--json"])
        let record = try listed.output.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
            .first { $0["name"]?.stringValue == "batched" }
        #expect(record?["state"]?.stringValue == "waiting", "\(listed.output)")
        let batches = record?["provider_batches"]?.arrayValue ?? []
        #expect(batches.count == 4 && batches.allSatisfy { $0["batch_id"]?.stringValue?.hasPrefix("batch_") == true },
                "\(listed.output)")
        let table = try Fixtures.run(binary, ["runs", directory.path])
        #expect(table.output.contains("waiting") && table.output.contains("teacher batch_"), "\(table.output)")

        var last = first
        for _ in 0..<60 where last.status == 7 {
            Thread.sleep(forTimeInterval: 0.5)
            last = try run(file, batched)
        }
        #expect(last.status == 0, "\(last.output)")
        #expect(try lines(batched.appendingPathComponent("out.jsonl")) == lines(live.appendingPathComponent("out.jsonl")))
        stats = try server.stats()
        #expect(stats["batches"]?["created"]?.int64Value == 4, "every request is submitted once: \(stats["batches"] ?? .null)")
    }

    @Test func blockWaitsInTheRunAndGoesOn() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--batch-seconds", "1"])
        let directory = try Fixtures.emptyDirectory("batch-block")
        let live = directory.appendingPathComponent("live")
        let liveResult = try run(try pipeline(directory, rows: 120, server: server, batch: nil), live)
        try #require(liveResult.status == 0, "\(liveResult.output)")
        let batched = directory.appendingPathComponent("batched")
        let result = try run(try pipeline(directory, rows: 120, server: server, batch: "{poll_seconds: 0.2}"), batched,
                             ["--batch-wait", "block"])
        #expect(result.status == 0, "\(result.output)")
        #expect(try lines(batched.appendingPathComponent("out.jsonl")) == lines(live.appendingPathComponent("out.jsonl")))
        let stats = try server.stats()
        #expect(stats["batches"]?["created"]?.int64Value == 1, "\(stats)")
    }

    /// SIGKILL ten times at random moments (recording, uploading, creating,
    /// polling, collecting), then a run to the end: the server saw exactly
    /// one batch per chunk, and the output is the live run's, no row lost
    /// or doubled.
    @Test func killedTenTimesEachChunkIsSubmittedOnce() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--batch-seconds", "2", "--batch-max-requests", "500"])
        let directory = try Fixtures.emptyDirectory("batch-kill")
        let live = directory.appendingPathComponent("live")
        let liveResult = try run(try pipeline(directory, rows: 1000, server: server, batch: nil), live)
        try #require(liveResult.status == 0, "\(liveResult.output)")

        let file = try pipeline(directory, rows: 1000, server: server, batch: "{max_requests: 500, poll_seconds: 0.1}")
        let batched = directory.appendingPathComponent("batched")
        var seed: UInt64 = 0x5EED
        var landed = 0
        for _ in 0..<10 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let delay = 50 + Int(seed >> 33) % 900
            let process = try Spawned(binary, ["run", file, "--run-dir", batched.path, "--no-llm-cache", "--batch-wait", "block"])
            Thread.sleep(forTimeInterval: Double(delay) / 1000)
            if process.isRunning {
                process.kill(SIGKILL)
                landed += 1
            }
            _ = process.wait()
        }
        let last = try run(file, batched, ["--batch-wait", "block"])
        #expect(last.status == 0, "\(last.output)")
        #expect(landed >= 5, "most kills should land while the run is going (\(landed))")
        let got = try lines(batched.appendingPathComponent("out.jsonl"))
        let expected = try lines(live.appendingPathComponent("out.jsonl"))
        #expect(got.count == expected.count && Set(got).count == got.count, "\(got.count) rows")
        #expect(got == expected)
        // 2000 requests (1000 rows × 2) in files of at most 500: four chunks, four batches.
        let stats = try server.stats()
        #expect(stats["batches"]?["created"]?.int64Value == 4, "\(stats["batches"] ?? .null)")
    }

    /// SIGTERM while waiting, with cancel_on_stop: the run stops with 5 and
    /// asks the provider to cancel its batch; the next run submits the
    /// requests again and ends with the live rows.
    @Test func sigtermWithCancelOnStopCancelsTheBatchAndTheNextRunFinishes() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--batch-seconds", "1", "--batch-hold"])
        let directory = try Fixtures.emptyDirectory("batch-cancel")
        let file = try pipeline(directory, rows: 40, server: server, batch: "{poll_seconds: 0.1, cancel_on_stop: true}")
        let batched = directory.appendingPathComponent("batched")
        let process = try Spawned(binary, ["run", file, "--run-dir", batched.path, "--no-llm-cache", "--batch-wait", "block"])
        for _ in 0..<400 where !process.output.contains("waiting for provider batches") { usleep(50_000) }
        try #require(process.output.contains("waiting for provider batches"), "\(process.output)")
        process.kill(SIGTERM)
        let stopped = process.wait()
        #expect(stopped.status == 5, "\(stopped.output)")
        #expect(stopped.output.contains("cancel its open batches"), "\(stopped.output)")
        var stats = try server.stats()
        #expect(stats["batches"]?["cancel_requests"]?.int64Value == 1, "\(stats["batches"] ?? .null)")

        // The provider runs batches again: the next run submits what the cancelled one did not answer.
        _ = try Spawned("/usr/bin/env", ["python3", "-c",
            "import urllib.request,sys;urllib.request.urlopen(urllib.request.Request(sys.argv[1]+'/_control/batches/release', method='POST'))",
            server.url]).wait()
        let last = try run(file, batched, ["--batch-wait", "block"])
        #expect(last.status == 0, "\(last.output)")
        #expect(try lines(batched.appendingPathComponent("out.jsonl")).count == 40)
        stats = try server.stats()
        #expect(stats["batches"]?["created"]?.int64Value == 2, "\(stats["batches"] ?? .null)")
    }

    /// Lines the provider fails (and no resubmission left) are row errors
    /// with the provider's reason; every other row is in the output.
    @Test func linesTheProviderFailsAreRowErrorsWithItsReason() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--batch-seconds", "0.5", "--batch-line-failure-rate", "0.2", "--seed", "3"])
        let directory = try Fixtures.emptyDirectory("batch-failed-lines")
        let file = try pipeline(directory, rows: 50, server: server, batch: "{poll_seconds: 0.1, resubmit: 0}")
        let batched = directory.appendingPathComponent("batched")
        let result = try run(file, batched, ["--batch-wait", "block"])
        #expect(result.status == 3, "\(result.output)")
        let errors = try lines(batched.appendingPathComponent("errors.jsonl"))
        let written = try lines(batched.appendingPathComponent("out.jsonl"))
        #expect(!errors.isEmpty && errors.count + written.count == 50, "\(errors.count) errors, \(written.count) rows")
        #expect(errors.allSatisfy { $0.contains("provider batch") }, "\(errors.first ?? "")")
    }

    /// `pipeline plan` prices an LLM with batch: at its batch prices (half
    /// the live ones unless given) and shows what live calls would cost.
    @Test func planShowsTheBatchCostBesideTheLiveOne() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("batch-plan")
        var text = ""
        for n in 0..<1000 { text += "{\"instruction\": \"Explain topic number \(n) briefly.\"}\n" }
        try text.write(to: directory.appendingPathComponent("seed.jsonl"), atomically: true, encoding: .utf8)
        for given in [false, true] {
            let file = directory.appendingPathComponent("p.yaml").path
            let price = given ? "{prompt_per_million: 1, completion_per_million: 2, batch_prompt_per_million: 0.25, batch_completion_per_million: 0.5}"
                : "{prompt_per_million: 1, completion_per_million: 2}"
            try """
                name: priced
                llms:
                  teacher: {model: m, params: {max_tokens: 100}, batch: true, price: \(price)}
                steps:
                  - {name: load, uses: load_jsonl, with: {path: seed.jsonl}}
                  - {name: g, uses: text_generation, llm: teacher, input: load}
                """.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try Fixtures.run(binary, ["plan", file, "--json"])
            try #require(result.status == 0, "\(result.output)")
            let json = try JSONValue(parsing: result.output)
            let llm = try #require(json["llms"]?["teacher"])
            let cost = try #require(llm["cost"]?.doubleValue), live = try #require(llm["live_cost"]?.doubleValue)
            #expect(llm["batch"] == .bool(true))
            // Half the live price by default; a quarter with the batch prices given here.
            #expect(abs(cost - live / (given ? 4 : 2)) < 1e-5, "cost \(cost), live \(live)")
            #expect(live > 0)
        }
    }

    @Test func aStatefulOrGlobalStepCannotUseABatchLLM() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("batch-invalid")
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: bad
            llms:
              teacher: {base_url: "http://127.0.0.1:9/v1", model: m, batch: true, serve: {command: [x, "{port}"]}}
            steps:
              - {name: load, uses: load_inline, with: {rows: [{instruction: a}]}}
              - {name: g, uses: text_generation, llm: teacher, input: load}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Fixtures.run(binary, ["validate", file])
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("serve: and batch: together"), "\(result.output)")
    }
}
