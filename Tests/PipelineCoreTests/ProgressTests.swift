import Foundation
import Testing

@testable import PipelineBase
@testable import PipelineCLI
@testable import PipelineJSON

/// Live progress: the figures move during one long LLM call (not only when
/// a batch leaves a step), off a terminal as JSON records, and in
/// `pipeline runs` for a run that is still going.
@Suite("Live progress", .serialized)
struct ProgressTests {
    /// One batch of `rows` prompts (unless `batchSize`), 4 in flight: the
    /// generate step holds a single call for the whole run.
    private func textgen(_ directory: URL, rows: Int, batchSize: Int? = nil, server: LLMServiceTests.Server) throws -> String {
        try Fixtures.textgenPipeline(directory, rows: rows, batchSize: batchSize ?? rows, server: server,
                                     maxConcurrency: 4, temperature: 0.7)
    }

    private func generateStep(_ record: JSONValue) -> JSONValue? {
        record["progress"]?["steps"]?.arrayValue?.first { $0["name"]?.stringValue == "generate" }
    }

    @Test func jsonRecordsShowRequestsMovingInsideOneCall() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--latency-ms", "100"])
        let directory = try Fixtures.emptyDirectory("progress-records")
        let file = try textgen(directory, rows: 80, server: server)
        let run = directory.appendingPathComponent("run").path
        let result = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", run, "--no-llm-cache",
                                                           "--log-format", "json", "--progress-interval", "0.5"]).wait()
        #expect(result.status == 0, "\(result.output)")

        let records = result.output.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
            .filter { $0["message"]?.stringValue == "progress" }
        // The run takes ~2 s: several records, all during the one call.
        let during = records.compactMap(generateStep).filter { $0["rows_out"]?.int64Value == 0 }
        let done = during.compactMap { $0["progress"]?["llm"]?["requests_done"]?.int64Value }
        #expect(done.count >= 2, "\(result.output)")
        #expect(zip(done, done.dropFirst()).allSatisfy { $0 <= $1 } && (done.last ?? 0) > (done.first ?? 0),
                "requests done move while the batch is in the step: \(done)")
        #expect(done.allSatisfy { $0 < 80 })
        for step in during {
            let progress = try #require(step["progress"])
            #expect(progress["expected_rows"]?.int64Value == 80)
            #expect(progress["rows_in_flight"]?.int64Value == 80)
            #expect(progress["llm"]?["requests_expected"]?.int64Value == 80)
            let inFlight = try #require(progress["llm"]?["in_flight"]?.int64Value)
            #expect(inFlight >= 0 && inFlight <= 4)
            #expect(progress["llm"]?["peak_in_flight"]?.int64Value == 4)
        }
        #expect(during.contains { $0["progress"]?["eta_seconds"]?.doubleValue != nil }, "an ETA once a rate is known")
        #expect(during.contains { ($0["progress"]?["llm"]?["requests_per_second"]?.doubleValue ?? 0) > 10 },
                "4 in flight at 100 ms: about 40 requests a second")

        // The finished summary carries no live figures.
        let summary = try String(contentsOfFile: run + "/summary.json", encoding: .utf8)
        #expect(!summary.contains("\"progress\""), "\(summary)")
    }

    /// Backpressure holds the loader back, so the total comes from what it
    /// announced (ABI 1.5 expect_rows), not from its end.
    @Test func theTotalIsKnownBeforeTheLoaderIsDone() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--latency-ms", "50"])
        let directory = try Fixtures.emptyDirectory("progress-expected")
        let file = try textgen(directory, rows: 400, batchSize: 10, server: server)
        let result = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", directory.appendingPathComponent("run").path,
                                                           "--no-llm-cache", "--log-format", "json", "--progress-interval", "0.5"]).wait()
        #expect(result.status == 0, "\(result.output)")
        let records = result.output.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
            .filter { $0["message"]?.stringValue == "progress" }
        let early = records.filter { record in
            let load = record["progress"]?["steps"]?.arrayValue?.first { $0["name"]?.stringValue == "load" }
            return (load?["rows_out"]?.int64Value ?? 400) < 400
        }
        #expect(!early.isEmpty, "\(result.output)")
        for record in early {
            let generate = try #require(generateStep(record))
            #expect(generate["progress"]?["expected_rows"]?.int64Value == 400, "\(record)")
        }
        #expect(early.contains { generateStep($0)?["progress"]?["eta_seconds"]?.doubleValue != nil })
    }

    @Test func pipelineRunsShowsTheFiguresOfARunStillGoing() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--latency-ms", "100"])
        let directory = try Fixtures.emptyDirectory("progress-runs")
        let file = try textgen(directory, rows: 400, server: server)
        let runs = directory.appendingPathComponent("runs")
        let process = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", runs.appendingPathComponent("textgen").path,
                                                            "--no-llm-cache", "--progress-interval", "0"])
        defer {
            process.kill()
            _ = process.wait()
        }
        // summary.json is rewritten every 5 s while the run goes on.
        var listed: JSONValue?
        for _ in 0..<300 where listed == nil {
            usleep(50_000)
            let result = try Spawned(Fixtures.pipelineBinary, ["runs", runs.path, "--json"]).wait()
            if let record = try? JSONValue(parsing: result.output.trimmingCharacters(in: .whitespacesAndNewlines)),
               record["state"]?.stringValue == "running", record["progress"] != nil {
                listed = record
            }
        }
        let record = try #require(listed, "pipeline runs never showed progress: \(process.output)")
        let generate = try #require(record["progress"]?.arrayValue?.first { $0["step"]?.stringValue == "generate" })
        let done = try #require(generate["llm"]?["requests_done"]?.int64Value)
        #expect(done > 0 && done < 400, "\(record)")
        #expect(generate["llm"]?["requests_expected"]?.int64Value == 400)

        let table = try Spawned(Fixtures.pipelineBinary, ["runs", runs.path]).wait()
        #expect(table.output.contains("PROGRESS") && table.output.contains("generate +"), "\(table.output)")
        #expect(table.output.contains("/400 req"), "\(table.output)")
    }

    @Test func theStatusLineNamesTheWorkingStepsFigures() {
        var summary = RunSummary(pipeline: "p", file: "p.yaml", runDirectory: "r",
                                 steps: [.init(name: "load", uses: "l"), .init(name: "gen", uses: "g"), .init(name: "save", uses: "s")])
        summary.steps[0].rowsOut = 500
        var progress = StepProgress()
        progress.rowsInFlight = 37
        progress.rowsDoneInFlight = 12
        progress.expectedRows = 500
        var llm = StepProgress.LLM()
        llm.done = 310
        llm.expected = 1000
        llm.inFlight = 4
        llm.peakInFlight = 6
        llm.perSecond = 18.24
        llm.retries = 2
        progress.llm = llm
        progress.etaSeconds = 38
        summary.steps[1].progress = progress
        let line = ProgressDisplay.line(summary, elapsed: 42, width: 200)
        #expect(line == "0:42  load 500  gen 0  save 0  │ gen +12/37 rows · 310/1,000 req · 4 in flight (peak 6) · 18/s · 2 retries · ETA 0:38")
        // Narrow: the working step's figures before the step list.
        let narrow = ProgressDisplay.line(summary, elapsed: 42, width: 90)
        #expect(narrow.hasPrefix("0:42  │ gen +12/37 rows"), "\(narrow)")
        #expect(narrow.count <= 89)
        // What summary.json holds reads back the same.
        #expect(StepProgress(json: progress.json) == progress.roundedForJSON)
    }
}

extension StepProgress {
    /// As `json` writes it: the ETA and the rate to a tenth.
    var roundedForJSON: StepProgress {
        var copy = self
        copy.etaSeconds = etaSeconds.map { ($0 * 10).rounded() / 10 }
        if var llm = copy.llm {
            llm.perSecond = (llm.perSecond * 10).rounded() / 10
            copy.llm = llm
        }
        return copy
    }
}
