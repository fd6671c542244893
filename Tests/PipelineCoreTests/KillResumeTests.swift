import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON

/// The promise of durable runs, tested the hard way: the real binary is
/// killed with SIGKILL at random (seeded) moments, the same command is run
/// again each time, and the final outputs must equal those of a run that
/// was never interrupted: no row lost, none duplicated.
///
/// PIPELINE_CHAOS_KILLS sets the number of kills (default 20; `make chaos`
/// uses 100), PIPELINE_CHAOS_SEED the seed.
@Suite("Kill and resume", .serialized)
struct KillResumeTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    struct Outputs: Equatable {
        var rows: [String]
        var total: [String]
        var errors: [String]
    }

    private func pipeline(in directory: URL, rows: Int) throws -> String {
        var text = ""
        for n in 0..<rows {
            text += #"{"n": \#(n), "text": "row \#(n) \#(String(repeating: "x", count: n % 17))"}"# + "\n"
        }
        try text.write(to: directory.appendingPathComponent("seed.jsonl"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("chaos.yaml").path
        try """
            name: chaos
            steps:
              - name: load
                uses: load_jsonl
                with: {path: seed.jsonl}
                batch_size: 20
              - name: slow
                uses: slow
                input: load
                with: {delay_ms: 12}
              - name: flaky
                uses: flaky
                input: slow
                with: {every: 7}
              - name: save
                uses: write_jsonl
                input: flaky
                with: {path: rows.jsonl, include_row_id: true}
              - name: total
                uses: collect
                input: slow
              - name: save_total
                uses: write_jsonl
                input: total
                with: {path: total.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func pluginFlags() throws -> [String] {
        try ["Tests/Fixtures/plugins/slow.c", "Tests/Fixtures/plugins/collect.c"]
            .flatMap { ["--plugin-path", try Fixtures.library($0)] }
    }

    private func outputs(_ runDirectory: String) throws -> Outputs {
        func lines(_ name: String) throws -> [String] {
            let path = runDirectory + "/" + name
            guard FileManager.default.fileExists(atPath: path) else { return [] }
            return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init).sorted()
        }
        return Outputs(rows: try lines("rows.jsonl"), total: try lines("total.jsonl"), errors: try lines("errors.jsonl"))
    }

    private func launch(_ arguments: [String]) throws -> Spawned {
        try Spawned(binary, arguments)
    }

    @Test func killedAtRandomMomentsAndResumedGivesTheSameRows() throws {
        try #require(FileManager.default.fileExists(atPath: binary), "\(binary) is missing: run `make test`")
        let environment = ProcessInfo.processInfo.environment
        let kills = Int(environment["PIPELINE_CHAOS_KILLS"] ?? "") ?? 20
        var seed = UInt64(environment["PIPELINE_CHAOS_SEED"] ?? "") ?? 20_261_130
        let rows = max(4_000, kills * 250)
        let directory = try Fixtures.emptyDirectory("chaos")
        let file = try pipeline(in: directory, rows: rows)
        let flags = try pluginFlags()

        // The reference: one uninterrupted run.
        let referenceDirectory = directory.appendingPathComponent("reference").path
        let reference = try launch(["run", file, "--run-dir", referenceDirectory] + flags).wait()
        #expect(reference.status == 3, "the reference run has row errors, so exit 3")
        let expected = try outputs(referenceDirectory)
        #expect(expected.rows.count == rows - (rows + 6) / 7)
        #expect(expected.total.count == 1)

        // Kill, resume, kill again...
        let chaosDirectory = directory.appendingPathComponent("chaos").path
        var landed = 0
        for _ in 0..<kills {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let delay = 20 + Int(seed >> 33) % 300
            let process = try launch(["run", file, "--run-dir", chaosDirectory] + flags)
            Thread.sleep(forTimeInterval: Double(delay) / 1000)
            if process.isRunning {
                process.kill(SIGKILL)
                landed += 1
            }
            _ = process.wait()
        }
        // Finish the run.
        let last = try launch(["run", file, "--run-dir", chaosDirectory] + flags).wait()
        #expect(last.status == 3)
        let got = try outputs(chaosDirectory)
        let duplicates = got.rows.count - Set(got.rows).count
        let lost = Set(expected.rows).subtracting(got.rows).count
        print("kill/resume: \(kills) kills (\(landed) while running), \(got.rows.count) rows, lost \(lost), duplicated \(duplicates)")
        #expect(landed >= kills / 2, "most kills should land while the run is going")
        #expect(duplicates == 0)
        #expect(lost == 0)
        #expect(got == expected)
    }

    @Test func sigtermStopsCleanlyWithFiveAndTheRunResumes() throws {
        try #require(FileManager.default.fileExists(atPath: binary), "\(binary) is missing: run `make test`")
        let directory = try Fixtures.emptyDirectory("sigterm")
        let file = try pipeline(in: directory, rows: 3_000)
        let flags = try pluginFlags()
        let referenceDirectory = directory.appendingPathComponent("reference").path
        _ = try launch(["run", file, "--run-dir", referenceDirectory] + flags).wait()
        let expected = try outputs(referenceDirectory)

        let runDirectory = directory.appendingPathComponent("run").path
        let first = try launch(["run", file, "--run-dir", runDirectory] + flags)
        Thread.sleep(forTimeInterval: 0.4)
        try #require(first.isRunning, "the run ended before it could be signalled")
        first.kill(SIGTERM)
        // 5 is an exit code: a death by signal would read 128 + the signal.
        #expect(first.wait().status == 5)
        let summary = try JSONValue(parsing: String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8))
        #expect(summary["status"] == .string("interrupted"))
        #expect(!FileManager.default.fileExists(atPath: runDirectory + "/rows.jsonl"))

        let second = try launch(["run", file, "--run-dir", runDirectory] + flags).wait()
        #expect(second.status == 3)
        #expect(try outputs(runDirectory) == expected)
    }
}
