import Foundation
import Logging
import Testing

@testable import PipelineCore
@testable import PipelineJSON
@testable import PipelineBase
@testable import PipelineStore
@testable import PipelineCLI

/// What makes `pipeline run` safe in a crontab: the run directory's lock,
/// exit codes, JSON logs when nobody watches, the summary file, and
/// `pipeline runs`. End to end with the built binary and real processes.
@Suite("cron")
struct CronTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func requireBuild() throws {
        try #require(FileManager.default.fileExists(atPath: binary), "\(binary) is missing: run `make test`")
        let plugins = Fixtures.buildDirectory.appendingPathComponent("pipeline-plugins/libPipelineData.so").path
        try #require(FileManager.default.fileExists(atPath: plugins),
                     "\(plugins) is missing: run `make test`, which builds the plugins first")
    }

    // MARK: processes

    struct Finished {
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double
    }

    /// A started `pipeline` process; stdout and stderr go to files (pipes,
    /// not terminals, as under cron).
    final class Started {
        let process = Process()
        let stdoutPath: String
        let stderrPath: String
        let started = ContinuousClock.now

        init(_ binary: String, _ arguments: [String], in directory: URL) throws {
            stdoutPath = directory.appendingPathComponent("stdout-\(UUID().uuidString)").path
            stderrPath = directory.appendingPathComponent("stderr-\(UUID().uuidString)").path
            _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            process.currentDirectoryURL = directory
            var environment = ProcessInfo.processInfo.environment
            environment.removeValue(forKey: "PIPELINE_LOG_LEVEL")
            process.environment = environment
            process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
            process.standardError = FileHandle(forWritingAtPath: stderrPath)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        func wait() throws -> Finished {
            process.waitUntilExit()
            let elapsed = ContinuousClock.now - started
            return Finished(
                status: process.terminationStatus,
                stdout: try String(contentsOfFile: stdoutPath, encoding: .utf8),
                stderr: try String(contentsOfFile: stderrPath, encoding: .utf8),
                seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
    }

    private func run(_ arguments: [String], in directory: URL) throws -> Finished {
        try Started(binary, arguments, in: directory).wait()
    }

    // MARK: pipelines

    private func write(_ text: String, to url: URL) throws {
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    /// load_inline → write_jsonl: three rows, no errors.
    private func okPipeline(in directory: URL) throws -> String {
        let file = directory.appendingPathComponent("ok.yaml")
        try write("""
            name: ok
            steps:
              - name: load
                uses: load_inline
                with:
                  rows:
                    - {id: 1, text: one}
                    - {id: 2, text: two}
                    - {id: 3, text: three}
              - name: save
                uses: write_jsonl
                input: load
                with: {path: out.jsonl}
            """, to: file)
        return file.path
    }

    /// Row 2's lists differ in length: expand_columns fails that row, the
    /// two rows made from row 1 go through.
    private func rowErrorPipeline(in directory: URL) throws -> String {
        let file = directory.appendingPathComponent("rows.yaml")
        try write("""
            name: rows
            steps:
              - name: load
                uses: load_inline
                with:
                  rows:
                    - {id: 1, a: [1, 2], b: [3, 4]}
                    - {id: 2, a: [1, 2, 3], b: [5]}
              - name: expand
                uses: expand_columns
                input: load
                with: {columns: [a, b]}
              - name: save
                uses: write_jsonl
                input: expand
                with: {path: out.jsonl}
            """, to: file)
        return file.path
    }

    /// load_jsonl on a file whose third line is broken: the step fails.
    private func failingPipeline(in directory: URL) throws -> String {
        try write("{\"text\": \"fine\"}\n{\"text\": \"also\"}\n{\"text\": \"broken\n",
                  to: directory.appendingPathComponent("broken.jsonl"))
        let file = directory.appendingPathComponent("failing.yaml")
        try write("""
            name: failing
            steps:
              - name: load
                uses: load_jsonl
                with: {path: broken.jsonl}
              - name: save
                uses: write_jsonl
                input: load
                with: {path: out.jsonl}
            """, to: file)
        return file.path
    }

    private func json(_ text: String) throws -> JSONValue { try JSONValue(parsing: text) }

    private func jsonLines(_ text: String) throws -> [JSONValue] {
        try text.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    // MARK: the lock

    @Test func theLockIsHeldByOneDescriptorAndRefusedToAnother() throws {
        let directory = try Fixtures.emptyDirectory("lock").path
        #expect(RunLock.state(of: directory) == .absent)
        let first = try RunLock.acquire(directory: directory)
        #expect(first.holder.pid == getpid())
        // flock locks belong to open file descriptions: a second open in the
        // same process conflicts like another process would.
        do {
            _ = try RunLock.acquire(directory: directory)
            Issue.record("a second lock of \(directory) was granted")
        } catch {
            #expect(error.isHeld)
            #expect(error.holder?.pid == getpid())
            #expect(error.description.hasPrefix("another run (pid \(getpid()), started "), "\(error)")
            #expect(error.description.hasSuffix(") is using \(directory)"), "\(error)")
        }
        #expect(RunLock.state(of: directory) == .held(first.holder))
        #expect(RunLock.isLocked(directory))
        first.release()
        first.release()
        #expect(RunLock.state(of: directory) == .free)
        #expect(!RunLock.isLocked(directory))
        // Free again: the next one gets it.
        let second = try RunLock.acquire(directory: directory)
        #expect(RunLock.isLocked(directory))
        second.release()
    }

    @Test func aLockedRunDirectoryExitsFourAtOnceNamingTheHolder() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("locked")
        let file = try okPipeline(in: directory)
        let runDirectory = directory.appendingPathComponent("run").path
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let lock = try RunLock.acquire(directory: runDirectory)

        let refused = try run(["run", file, "--run-dir", runDirectory, "--log-format", "human"], in: directory)
        #expect(refused.status == PipelineExitCode.locked.rawValue, "\(refused.stderr)")
        #expect(refused.stderr.contains("another run (pid \(getpid()), started "), "\(refused.stderr)")
        #expect(refused.stderr.contains("is using \(runDirectory)"), "\(refused.stderr)")
        #expect(refused.seconds < 5, "exit 4 should be at once, took \(refused.seconds) s")
        // Nothing was written into the busy directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: runDirectory) == [RunLock.fileName])

        lock.release()
        let accepted = try run(["run", file, "--run-dir", runDirectory], in: directory)
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(try jsonLines(String(contentsOfFile: runDirectory + "/out.jsonl", encoding: .utf8)).count == 3)
    }

    @Test func waitLockWaitsUntilTheHolderReleases() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("wait")
        let file = try okPipeline(in: directory)
        let runDirectory = directory.appendingPathComponent("run").path
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let lock = try RunLock.acquire(directory: runDirectory)

        let waiting = try Started(binary, ["run", file, "--run-dir", runDirectory, "--wait-lock"], in: directory)
        // Released once the run says it waits (on a loaded machine the run
        // may take longer than any fixed delay to get that far), and 300 ms
        // later, so the wait is measurable.
        let stderrPath = waiting.stderrPath
        let released = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for _ in 0..<600 {
                let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
                if text.contains("waiting for another run") { break }
                usleep(50_000)
            }
            usleep(300_000)
            lock.release()
            released.signal()
        }
        let result = try waiting.wait()
        released.wait()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.seconds >= 0.3, "finished after \(result.seconds) s, before the lock was released")
        let records = try jsonLines(result.stderr)
        #expect(records.contains { $0["message"]?.stringValue?.hasPrefix("waiting for another run (pid \(getpid())") == true },
                "\(result.stderr)")
        #expect(try jsonLines(String(contentsOfFile: runDirectory + "/out.jsonl", encoding: .utf8)).count == 3)
    }

    // MARK: exit codes and the summary

    @Test func rowErrorsExitThreeAndTheSummaryFileSaysSo() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("rowerrors")
        let file = try rowErrorPipeline(in: directory)
        let runDirectory = directory.appendingPathComponent("run").path
        let summaryPath = directory.appendingPathComponent("nightly.json").path
        let result = try run(["run", file, "--run-dir", runDirectory, "--summary", summaryPath], in: directory)
        #expect(result.status == PipelineExitCode.rowErrors.rawValue, "\(result.stderr)")

        // The good rows are all in the output; the failed one in errors.jsonl.
        let rows = try jsonLines(String(contentsOfFile: runDirectory + "/out.jsonl", encoding: .utf8))
        #expect(rows.count == 2)
        #expect(rows.allSatisfy { $0["id"]?.int64Value == 1 })
        let errors = try jsonLines(String(contentsOfFile: runDirectory + "/errors.jsonl", encoding: .utf8))
        #expect(errors.count == 1)
        #expect(errors.first?["step"] == .string("expand"))

        // --summary: summary.json plus exit_code, and nothing left behind.
        let report = try json(String(contentsOfFile: summaryPath, encoding: .utf8))
        #expect(report["exit_code"]?.int64Value == 3)
        #expect(report["status"] == .string("succeeded"))
        #expect(report["row_errors"]?.int64Value == 1)
        guard case .object(var withoutCode) = report else {
            Issue.record("the summary is not an object")
            return
        }
        withoutCode["exit_code"] = nil
        let runSummary = try json(String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8))
        #expect(JSONValue.object(withoutCode) == runSummary)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func anInvalidFileExitsTwoAndStillWritesTheSummaryFile() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("invalid")
        let file = directory.appendingPathComponent("bad.yaml").path
        try write("name: bad\nsteps:\n  - name: load\n    uses: lod_jsonl\n", to: URL(fileURLWithPath: file))
        let summaryPath = directory.appendingPathComponent("nightly.json").path
        // A stale result from an earlier night must not survive.
        try write("{\"status\":\"succeeded\",\"exit_code\":0}\n", to: URL(fileURLWithPath: summaryPath))
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(["run", file, "--run-dir", runDirectory, "--summary", summaryPath, "--summary-json"],
                             in: directory)
        #expect(result.status == PipelineExitCode.usage.rawValue, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: runDirectory))
        let report = try json(String(contentsOfFile: summaryPath, encoding: .utf8))
        #expect(report["exit_code"]?.int64Value == 2)
        #expect(report["status"] == .string("failed"))
        #expect(report["file"] == .string(file))
        // --summary-json: stdout is that one document.
        #expect(try json(result.stdout.trimmingCharacters(in: .newlines)) == report)
        // stderr is not a terminal: the diagnostics are JSON lines too.
        let records = try jsonLines(result.stderr)
        #expect(records.contains { $0["message"]?.stringValue?.contains("\(file):4:11: error: unknown step") == true },
                "\(result.stderr)")

        // A bad flag is a usage error as well.
        let badFlag = try run(["run", file, "--log-format", "fancy"], in: directory)
        #expect(badFlag.status == PipelineExitCode.usage.rawValue, "\(badFlag.stderr)")
    }

    @Test func aFailedRunExitsOne() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("failed")
        let file = try failingPipeline(in: directory)
        let result = try run(["run", file, "--run-dir", directory.appendingPathComponent("run").path, "--summary-json"],
                             in: directory)
        #expect(result.status == PipelineExitCode.failed.rawValue, "\(result.stderr)")
        let report = try json(result.stdout.trimmingCharacters(in: .newlines))
        #expect(report["exit_code"]?.int64Value == 1)
        #expect(report["status"] == .string("failed"))
        #expect(report["error"]?.stringValue?.contains("broken.jsonl:3") == true, "\(report)")
    }

    // MARK: logs

    @Test func stderrIsJSONLinesWhenItIsNotATerminal() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("jsonlogs")
        let file = try okPipeline(in: directory)
        let result = try run(["run", file, "--run-dir", directory.appendingPathComponent("run").path, "--summary-json"],
                             in: directory)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(!lines.isEmpty)
        #expect(result.stderr.hasSuffix("\n"))
        for line in lines {
            let record = try JSONValue(parsing: String(line))
            #expect(record.objectValue.map { Set($0.keys) } == ["time", "level", "message", "metadata"], "\(line)")
            #expect(record["metadata"]?.objectValue != nil)
            #expect(record["time"]?.stringValue?.hasSuffix("Z") == true)
        }
        // No colour, no status line, nothing but JSON.
        #expect(!result.stderr.contains("\u{1B}"))
        #expect(!result.stderr.contains("\r"))
        let summary = try json(result.stdout)
        #expect(summary["exit_code"]?.int64Value == 0)
        #expect(summary["status"] == .string("succeeded"))
        #expect(result.stdout.split(separator: "\n").count == 1)
    }

    @Test func quietShowsOnlyWarningsAndErrors() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("quiet")
        let file = try okPipeline(in: directory)
        let runDirectory = directory.appendingPathComponent("run").path
        let quiet = try run(["run", file, "--run-dir", runDirectory, "--quiet", "--log-format", "human"], in: directory)
        #expect(quiet.status == 0)
        #expect(quiet.stderr.isEmpty, "\(quiet.stderr)")
        // run.log keeps everything whatever the console shows.
        let log = try jsonLines(String(contentsOfFile: runDirectory + "/run.log", encoding: .utf8))
        #expect(log.contains { $0["message"]?.stringValue?.hasPrefix("done in") == true })

        let rows = try rowErrorPipeline(in: directory)
        let warned = try run(["run", rows, "--run-dir", directory.appendingPathComponent("rows").path, "--quiet"],
                             in: directory)
        #expect(warned.status == 3)
        let records = try jsonLines(warned.stderr)
        #expect(records.count == 1, "\(warned.stderr)")
        #expect(records.first?["level"] == .string("warning"))
        #expect(records.first?["metadata"]?["exit_code"] == .string("3"))
    }

    @Test func handlersFormatRecords() {
        let time = 1_714_530_000.25
        let human = HumanLogHandler.format(time: time, level: .warning, message: "slow step",
                                           metadata: ["step": "gen", "note": "two words"], colour: false)
        #expect(human.hasSuffix("warning  slow step  note=\"two words\"  step=gen"), "\(human)")
        #expect(!human.contains("\u{1B}"))
        let coloured = HumanLogHandler.format(time: time, level: .error, message: "m", metadata: [:], colour: true)
        #expect(coloured.contains("\u{1B}[31m"))
        let line = JSONConsoleLogHandler.format(time: time, level: .info, message: "hi", metadata: ["n": "1"])
        #expect(line == #"{"level":"info","message":"hi","metadata":{"n":"1"},"time":"2024-05-01T02:20:00.250Z"}"#)
        #expect(LogFormat.auto.resolved(for: .plain) == .json)
        #expect(LogFormat.auto.resolved(for: Terminal(isTTY: true, colour: false, canRedraw: true)) == .human)
        #expect(ConsoleLogging.level(environment: ["PIPELINE_LOG_LEVEL": "debug"], quiet: false) == .debug)
        #expect(ConsoleLogging.level(environment: ["PIPELINE_LOG_LEVEL": "debug"], quiet: true) == .warning)
        #expect(ConsoleLogging.level(environment: ["PIPELINE_LOG_LEVEL": "error"], quiet: true) == .error)
        #expect(ConsoleLogging.level(environment: [:], quiet: false) == .info)
    }

    @Test func theStatusLineFitsTheTerminal() {
        var summary = RunSummary(pipeline: "p", file: "p.yaml", runDirectory: "/r",
                                 steps: ["load", "filter", "save"].map { RunSummary.Step(name: $0, uses: "x") })
        summary.steps[0].rowsOut = 12_000
        summary.steps[1].rowsIn = 12_000
        summary.steps[1].rowsOut = 9_310
        summary.steps[2].rowsIn = 9_310
        summary.steps[1].rowErrors = 3
        #expect(ProgressDisplay.line(summary, elapsed: 42, width: 120)
                == "0:42  load 12,000  filter 9,310  save 9,310 in  3 row errors")
        #expect(ProgressDisplay.line(summary, elapsed: 42, width: 60) == "0:42  load 12,000 … save 9,310 in  (3 steps)  3 row errors")
        #expect(ProgressDisplay.line(summary, elapsed: 3725, width: 20).count <= 19)
    }

    @Test func exitCodesFollowTheTable() throws {
        #expect(PipelineExitCode.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6, 7])
        #expect(PipelineExitCode(status: "succeeded", rowErrors: 0) == .success)
        #expect(PipelineExitCode(status: "succeeded", rowErrors: 2) == .rowErrors)
        #expect(PipelineExitCode(status: "failed", rowErrors: 2) == .failed)
        #expect(PipelineExitCode(status: "interrupted", rowErrors: 0) == .interrupted)
        #expect(PipelineExitCode(status: "waiting", rowErrors: 3) == .waiting)
        #expect(PipelineExitCode(status: "something new", rowErrors: 0) == .failed)

        try requireBuild()
        let help = try run(["run", "--help"], in: try Fixtures.emptyDirectory("help"))
        #expect(help.status == 0)
        for code in PipelineExitCode.allCases {
            #expect(help.stdout.contains("\(code.rawValue)  \(code.meaning)"), "\(code)")
        }
    }

    // MARK: pipeline runs

    @Test func runsListsEveryRunDirectoryWithItsState() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("runs")
        let runs = directory.appendingPathComponent("runs")
        try FileManager.default.createDirectory(at: runs, withIntermediateDirectories: true)

        let ok = try run(["run", try okPipeline(in: directory), "--run-dir", runs.appendingPathComponent("ok").path],
                         in: directory)
        #expect(ok.status == 0, "\(ok.stderr)")
        let failed = try run(["run", try failingPipeline(in: directory), "--run-dir",
                              runs.appendingPathComponent("failed").path], in: directory)
        #expect(failed.status == 1, "\(failed.stderr)")
        let rows = try run(["run", try rowErrorPipeline(in: directory), "--run-dir",
                            runs.appendingPathComponent("partial").path], in: directory)
        #expect(rows.status == 3, "\(rows.stderr)")
        // A process that died: its summary still says running, nobody holds the lock.
        let dead = runs.appendingPathComponent("dead")
        try FileManager.default.createDirectory(at: dead, withIntermediateDirectories: true)
        try write("""
            {"pipeline":"dead","status":"running","started_at":1714530000,"seconds":0,"row_errors":0,
             "steps":[{"name":"load","rows_in":0,"rows_out":500,"row_errors":0}]}
            """, to: dead.appendingPathComponent("summary.json"))
        _ = FileManager.default.createFile(atPath: dead.appendingPathComponent(RunLock.fileName).path, contents: nil)
        // A live one: this process holds its lock.
        let live = runs.appendingPathComponent("live")
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: true)
        let lock = try RunLock.acquire(directory: live.path)
        defer { lock.release() }
        // A status this version does not know, and a directory that is no run.
        let future = runs.appendingPathComponent("future")
        try FileManager.default.createDirectory(at: future, withIntermediateDirectories: true)
        try write(#"{"status":"paused","steps":[]}"#, to: future.appendingPathComponent("summary.json"))
        try FileManager.default.createDirectory(at: runs.appendingPathComponent("notes"), withIntermediateDirectories: true)

        let listed = try run(["runs", runs.path, "--json"], in: directory)
        #expect(listed.status == 0, "\(listed.stderr)")
        let records = try jsonLines(listed.stdout)
        let byName = Dictionary(uniqueKeysWithValues: records.map { ($0["name"]?.stringValue ?? "", $0) })
        #expect(records.compactMap { $0["name"]?.stringValue } == ["dead", "failed", "future", "live", "ok", "partial"])
        #expect(byName["ok"]?["state"] == .string("succeeded"))
        #expect(byName["ok"]?["rows"]?.int64Value == 3)
        #expect(byName["ok"]?["row_errors"]?.int64Value == 0)
        #expect(byName["failed"]?["state"] == .string("failed"))
        #expect(byName["partial"]?["state"] == .string("finished with row errors"))
        #expect(byName["partial"]?["rows"]?.int64Value == 2)
        #expect(byName["partial"]?["row_errors"]?.int64Value == 1)
        #expect(byName["dead"]?["state"] == .string("stopped"))
        #expect(byName["dead"]?["status"] == .string("running"))
        #expect(byName["dead"]?["rows"]?.int64Value == 500)
        #expect(byName["live"]?["state"] == .string("running"))
        #expect(byName["live"]?["pid"]?.int64Value == Int64(getpid()))
        #expect(byName["future"]?["state"] == .string("paused"))

        let table = try run(["runs", runs.path], in: directory)
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("NAME") == true)
        #expect(lines.count == 7, "\(table.stdout)")
        #expect(lines.contains { $0.hasPrefix("dead ") && $0.contains("stopped") })
        #expect(lines.contains { $0.hasPrefix("live ") && $0.contains("running (pid \(getpid()))") })
        #expect(lines.contains { $0.hasPrefix("partial ") && $0.contains("finished with row errors") })

        let missing = try run(["runs", directory.appendingPathComponent("nope").path], in: directory)
        #expect(missing.status == PipelineExitCode.usage.rawValue)
    }
}
