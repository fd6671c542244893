import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON
@testable import PipelineCLI

/// A third-party plugin that crashes (a NULL write, a stack overflow, a
/// crash on a thread of its own): the real binary must say which step and
/// plugin, in stderr and run.log, mark the summary failed, exit with 6, and
/// a rerun without the fault must resume to the bytes of an uninterrupted run.
/// The fixture (Tests/Fixtures/plugins/crash.c) crashes only when
/// CRASH_FIXTURE_AT is set, so the rerun is the same pipeline.
@Suite("Plugin crash", .serialized)
struct CrashTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func requireBuild() throws {
        try #require(FileManager.default.fileExists(atPath: binary), "\(binary) is missing: run `make test`")
        let plugins = Fixtures.buildDirectory.appendingPathComponent("pipeline-plugins/libPipelineData.so").path
        try #require(FileManager.default.fileExists(atPath: plugins),
                     "\(plugins) is missing: run `make test`, which builds the plugins first")
    }

    /// load_jsonl (10 batches of 10 rows) → the crash fixture (or `uses`) → write_jsonl.
    private func pipeline(in directory: URL, uses: String = "crash") throws -> String {
        var text = ""
        for n in 0..<100 { text += #"{"n": \#(n), "text": "row \#(n)"}"# + "\n" }
        try text.write(to: directory.appendingPathComponent("seed.jsonl"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("crashy.yaml").path
        try """
            name: crashy
            steps:
              - name: load
                uses: load_jsonl
                with: {path: seed.jsonl}
                batch_size: 10
              - name: boom
                uses: \(uses)
                input: load
              - name: save
                uses: write_jsonl
                input: boom
                with: {path: rows.jsonl, include_row_id: true}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        for key in ["CRASH_FIXTURE_AT", "CRASH_FIXTURE_HOW", "PIPELINE_CRASH_HANDLER", "PIPELINE_LOG_LEVEL"] {
            environment.removeValue(forKey: key)
        }
        environment.merge(extra) { $1 }
        return try Spawned(binary, arguments, environment: environment).wait()
    }

    private func lastLogRecord(_ runDirectory: String) throws -> JSONValue {
        let log = try String(contentsOfFile: runDirectory + "/run.log", encoding: .utf8)
        let line = try #require(log.split(separator: "\n").last)
        return try JSONValue(parsing: String(line))
    }

    private func summary(_ path: String) throws -> JSONValue {
        try JSONValue(parsing: String(contentsOfFile: path, encoding: .utf8))
    }

    @Test func segfaultOnBatchThreeIsNamedAndTheRerunResumesToTheSameBytes() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("crash")
        let file = try pipeline(in: directory)
        let plugin = try Fixtures.library("Tests/Fixtures/plugins/crash.c")
        let flags = ["--plugin-path", plugin]

        let reference = directory.appendingPathComponent("reference").path
        let uninterrupted = try run(["run", file, "--run-dir", reference] + flags)
        #expect(uninterrupted.status == 0, "\(uninterrupted.output)")
        let expected = try Data(contentsOf: URL(fileURLWithPath: reference + "/rows.jsonl"))

        let runDirectory = directory.appendingPathComponent("runs/crashed").path
        let crashed = try run(["run", file, "--run-dir", runDirectory, "--summary", directory.appendingPathComponent("report.json").path] + flags,
                              environment: ["CRASH_FIXTURE_AT": "3"])
        #expect(crashed.status == PipelineExitCode.crashed.rawValue, "\(crashed.output)")
        #expect(PipelineExitCode.crashed.rawValue == 6)
        let named = "step \\\"boom\\\" (plugin \(plugin), step id org.test.crash) crashed with SIGSEGV"
        #expect(crashed.output.contains(named), "stderr (JSON lines off a terminal): \(crashed.output)")
        #expect(crashed.output.contains("in process; exit code 6"))
        // Our line instead of the Swift runtime's backtrace.
        #expect(!crashed.output.contains("Backtrace"), "\(crashed.output)")
        #expect(!crashed.output.contains("Program crashed"))

        let record = try lastLogRecord(runDirectory)
        #expect(record["level"] == .string("critical"))
        #expect(record["step"] == .string("boom"))
        #expect(record["plugin"] == .string(plugin))
        #expect(record["function"] == .string("process"))
        #expect(record["signal"] == .string("SIGSEGV"))
        #expect(record["message"]?.stringValue?.hasPrefix("step \"boom\" (plugin \(plugin)") == true)

        let failed = try summary(runDirectory + "/summary.json")
        #expect(failed["status"] == .string("failed"))
        #expect(failed["error"]?.stringValue?.contains("step \"boom\"") == true)
        #expect(failed["steps"]?.arrayValue?.count == 3)
        let report = try summary(directory.appendingPathComponent("report.json").path)
        #expect(report["status"] == .string("failed"))
        #expect(report["exit_code"] == .number(6))

        let listing = try run(["runs", directory.appendingPathComponent("runs").path, "--json"])
        let runs = try listing.output.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(runs.first?["state"] == .string("failed"), "\(listing.output)")

        // The same command without the fault: resumes, and the output is
        // byte for byte the uninterrupted run's.
        let resumed = try run(["run", file, "--run-dir", runDirectory] + flags)
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("resuming the run"))
        #expect(try summary(runDirectory + "/summary.json")["status"] == .string("succeeded"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: runDirectory + "/rows.jsonl")) == expected)
    }

    @Test func aCrashOnThePluginsOwnThreadNamesThePlugin() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("crash-thread")
        let file = try pipeline(in: directory)
        let plugin = try Fixtures.library("Tests/Fixtures/plugins/crash.c")
        let runDirectory = directory.appendingPathComponent("run").path
        let crashed = try run(["run", file, "--run-dir", runDirectory, "--plugin-path", plugin, "--log-format", "human"],
                              environment: ["CRASH_FIXTURE_AT": "2", "CRASH_FIXTURE_HOW": "thread"])
        #expect(crashed.status == 6, "\(crashed.output)")
        #expect(crashed.output.contains("plugin \(plugin) crashed with SIGSEGV (invalid memory access at address 0x0) on a thread of its own"),
                "\(crashed.output)")
        #expect(try lastLogRecord(runDirectory)["plugin"] == .string(plugin))
        #expect(try summary(runDirectory + "/summary.json")["status"] == .string("failed"))
    }

    @Test func aStackOverflowAndAnAbortAreReportedToo() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("crash-stack")
        let file = try pipeline(in: directory)
        let plugin = try Fixtures.library("Tests/Fixtures/plugins/crash.c")
        for (how, signal) in [("stack", "SIGSEGV"), ("abort", "SIGABRT")] {
            let runDirectory = directory.appendingPathComponent(how).path
            let crashed = try run(["run", file, "--run-dir", runDirectory, "--plugin-path", plugin, "--log-format", "human"],
                                  environment: ["CRASH_FIXTURE_AT": "1", "CRASH_FIXTURE_HOW": how])
            #expect(crashed.status == 6, "\(how): \(crashed.output)")
            #expect(crashed.output.contains("step \"boom\" (plugin \(plugin), step id org.test.crash) crashed with \(signal)"),
                    "\(how): \(crashed.output)")
            #expect(try lastLogRecord(runDirectory)["signal"] == .string(signal))
        }
    }

    @Test func aSignalSentByAnotherProcessBlamesNoPlugin() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("crash-kill")
        let file = try pipeline(in: directory, uses: "slow\n    with: {delay_ms: 100}")
        let plugin = try Fixtures.library("Tests/Fixtures/plugins/slow.c")
        let runDirectory = directory.appendingPathComponent("run").path
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "PIPELINE_CRASH_HANDLER")
        let process = try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--plugin-path", plugin],
                                  environment: environment)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline,
              (try? String(contentsOfFile: runDirectory + "/run.log", encoding: .utf8))?.contains("run started") != true {
            Thread.sleep(forTimeInterval: 0.02)
        }
        Thread.sleep(forTimeInterval: 0.2)
        try #require(process.isRunning, "the run ended before it could be signalled")
        process.kill(SIGSEGV)
        let result = process.wait()
        #expect(result.status == 6, "\(result.output)")
        #expect(result.output.contains("pipeline was sent SIGSEGV by process \(getpid()); exit code 6"), "\(result.output)")
        #expect(try lastLogRecord(runDirectory)["plugin"] == nil)
        #expect(try summary(runDirectory + "/summary.json")["status"] == .string("failed"))
    }
}
