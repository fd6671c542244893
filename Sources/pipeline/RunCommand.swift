import ArgumentParser
import Foundation
import Logging
import PipelineCore
import PipelineJSON
import PipelineLLMClient
import PipelineBase
import PipelineStore
import PipelineCLI
import PipelineHost

extension LogFormat: ExpressibleByArgument {}
extension BatchWait: ExpressibleByArgument {}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a pipeline file, then run it.",
        discussion: """
            Every step runs as soon as it has input; batches stream between steps through \
            bounded queues, so memory stays flat however large the input. Outputs, run.log \
            (JSON lines), errors.jsonl (rows that failed, with the reason) and summary.json \
            go to the run directory: runs/<pipeline name> unless --run-dir says otherwise. \
            Relative output paths of steps (e.g. write_jsonl's path) are inside it; relative \
            input paths are relative to the pipeline file.

            One run at a time per run directory: a run holds <run dir>/run.lock (released \
            by the kernel when the process ends, however it ends). A second run of the same \
            directory exits with 4 at once, or waits with --wait-lock.

            Logs go to stderr: readable lines and a live status line on a terminal, JSON \
            lines (time, level, message, metadata) otherwise, e.g. under cron. \
            PIPELINE_LOG_LEVEL=trace|debug|info|notice|warning|error|critical sets the level; \
            NO_COLOR turns colour off.

            Exit codes:
            \(PipelineExitCode.helpTable)
            """)

    @Argument(help: "The pipeline YAML file.") var file: String

    @Option(name: .customLong("param"),
            help: ArgumentHelp("Override a step parameter: step.key=value (repeatable); the value is YAML. A relative input path is taken from the pipeline file's directory, as in the file.",
                               valueName: "step.key=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Where outputs, logs and the summary go (default: runs/<pipeline name>).",
                               valueName: "dir"))
    var runDir: String?

    // Unconditional: `--queue-capacity -1` is a value (refused below), not a missing one.
    @Option(parsing: .unconditional, help: "Batches an edge between two steps may hold before the producer waits.")
    var queueCapacity = 4

    @Flag(help: "If another run holds the run directory's lock, wait for it instead of exiting with 4.")
    var waitLock = false

    @Option(help: ArgumentHelp("The LLM response cache, shared by every run (default: $XDG_CACHE_HOME/pipeline/llm-cache.db or ~/.cache/pipeline/llm-cache.db).",
                               valueName: "file"))
    var llmCache: String?

    @Flag(help: "Neither read nor write the LLM response cache.")
    var noLLMCache = false

    @Flag(help: ArgumentHelp("Keep no state: a killed run cannot resume (benchmarks, throwaway runs).",
                             discussion: "Nothing is written to state.db; outputs and the summary are written as usual."))
    var noCheckpoint = false

    @Option(help: ArgumentHelp("With an LLM that has batch: once nothing can go on before a provider batch answers: exit or block.",
                               discussion: "exit (the default, for cron): submit the batches, save the state and exit with 7 (waiting); the same command, run later, collects the answers and goes on. block: poll until the batches are done and go on in this process."))
    var batchWait: BatchWait = .exit

    @Flag(help: ArgumentHelp("Forget the run directory's saved state and start the run over.",
                             discussion: "Without it, a run that stopped (killed, interrupted, failed) resumes where it stopped, and a finished run is not run again."))
    var fresh = false

    @Flag(help: ArgumentHelp("When the pipeline file changed since the stored run: keep what did not change, redo the rest.",
                             discussion: "Steps whose definition (plugin, parameters, inputs, batch size, input files) and inputs did not change keep their stored outputs; the first changed steps and every step after them are run again. Each step is logged as reused or recomputed with why (old → new values, secrets hidden); a recomputed writer writes its file again, a recomputed pusher pushes again. Without this flag a changed pipeline is refused (exit 2), so a cron job never mixes two pipelines silently."))
    var resumeChanged = false

    @Option(help: ArgumentHelp("Log lines on stderr: human, json, or auto (human on a terminal, else json).",
                               valueName: "format"))
    var logFormat: LogFormat = .auto

    @Flag(name: .shortAndLong, help: "Log warnings and errors only.")
    var quiet = false

    @Option(help: ArgumentHelp("Off a terminal: a progress record on stderr every this many seconds (0: none).",
                               discussion: "The same figures as the status line: per step rows, rows in work, and for an LLM step requests done of expected, in flight, per second, retries, failures and an ETA. JSON (typed numbers) when the log format is json.",
                               valueName: "seconds"))
    var progressInterval = 30.0

    @Option(help: ArgumentHelp("Also write the summary (summary.json plus exit_code) to this file, atomically.",
                               valueName: "file"))
    var summary: String?

    @Flag(help: "Print the summary (summary.json plus exit_code) on stdout; stdout carries nothing else.")
    var summaryJSON = false

    @Option(help: ArgumentHelp("Try the pipeline on the first N rows of each generator, and print what comes out.",
                               discussion: "Every step runs, global ones on the rows they received, except the steps that write or push (and what follows them). Nothing is written to the run directory or pushed; LLM answers go to the cache as in a run, so the full run reuses them (all of them with `cache: always`). The rows go to stdout: a table on a terminal, else JSON lines; failed rows go to stderr as errors.jsonl has them.",
                               valueName: "N"))
    var preview: Int?

    @Option(help: ArgumentHelp("With --preview: run only this step and the steps it reads from, and print its rows.",
                               valueName: "name"))
    var step: String?

    @OptionGroup var plugins: PluginOptions

    func validate() throws {
        guard queueCapacity >= 1 else { throw ValidationError("--queue-capacity must be at least 1") }
        if let preview {
            guard preview >= 1 else { throw ValidationError("--preview must be at least 1 row") }
            for (given, flag) in [(fresh, "--fresh"), (summary != nil, "--summary"), (summaryJSON, "--summary-json"),
                                  (waitLock, "--wait-lock"), (resumeChanged, "--resume-changed")] where given {
                throw ValidationError("--preview writes nothing to the run directory; \(flag) does not apply to it")
            }
        } else if step != nil {
            throw ValidationError("--step goes with --preview N (it names the step whose rows to show)")
        }
        if resumeChanged && fresh {
            throw ValidationError("--resume-changed keeps what did not change, --fresh forgets everything; give one")
        }
        if resumeChanged && noCheckpoint {
            throw ValidationError("--resume-changed needs the stored state that --no-checkpoint does not keep")
        }
        guard progressInterval >= 0, progressInterval.isFinite else {
            throw ValidationError("--progress-interval must be a number of seconds, 0 or more")
        }
        if noLLMCache, let llmCache {
            throw ValidationError("--llm-cache \(llmCache) and --no-llm-cache contradict each other; give one")
        }
        if let summary {
            let parent = (summary as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: parent.isEmpty ? "." : parent, isDirectory: &isDirectory),
                  isDirectory.boolValue
            else { throw ValidationError("--summary \(summary): the directory \(parent) does not exist") }
            if FileManager.default.fileExists(atPath: summary, isDirectory: &isDirectory), isDirectory.boolValue {
                throw ValidationError("--summary \(summary) is a directory; give a file name")
            }
            // Written by a rename: over a device or a pipe (/dev/stdout), that
            // would replace the node itself with a regular file.
            var info = stat()
            if stat(summary, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
                throw ValidationError("--summary \(summary) is not a regular file (a device or a pipe); give a file name")
            }
            // Written even when the pipeline file is invalid: never over it.
            var a = stat(), b = stat()
            if stat(summary, &a) == 0, stat(file, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino {
                throw ValidationError("--summary \(summary) is the pipeline file; give another file name")
            }
        }
    }

    /// The console logging this run asked for (used by the CLI's bootstrap too).
    func consoleLogging(environment: [String: String]) -> ConsoleLogging {
        ConsoleLogging(format: logFormat, level: ConsoleLogging.level(environment: environment, quiet: quiet),
                       terminal: .standardError(environment: environment))
    }

    func run() throws {
        let stdout = summaryJSON ? ReservedStandardOutput() : nil
        let environment = ProcessInfo.processInfo.environment
        let console = consoleLogging(environment: environment)
        let startedAt = Date().timeIntervalSince1970
        CrashGuard.reportAlso(file: summary, descriptor: stdout.map(\.descriptor).flatMap { $0 >= 0 ? $0 : nil },
                              report: { SummaryReport.json($0, exitCode: .crashed) })
        let outcome = perform(console: console, environment: environment)

        let report: JSONValue
        if let summary = outcome.summary {
            report = SummaryReport.json(summary, exitCode: outcome.code)
        } else {
            report = SummaryReport.json(notStarted: file, pipeline: outcome.pipeline, runDirectory: outcome.directory,
                                        error: outcome.error ?? outcome.code.meaning, exitCode: outcome.code,
                                        startedAt: startedAt)
        }
        var code = outcome.code
        if let path = summary, !outcome.summaryRefused {
            do {
                try SummaryReport.writeAtomically(report.serialized + "\n", to: path)
            } catch {
                Logger(label: "pipeline.run").error("\(error)")
                // Whoever reads that file would see a stale result.
                if code == .success || code == .rowErrors { code = .failed }
            }
        }
        stdout?.write(report.serialized)
        if code != .success { throw ExitCode(code) }
    }

    /// How a run ended, and what is known about it.
    private struct Outcome {
        var code: PipelineExitCode
        var summary: RunSummary?
        var pipeline: String?
        var directory: String?
        var error: String?
        /// --summary names a file the run may not write.
        var summaryRefused = false
    }

    /// Validates, locks the run directory, runs, reports on stderr.
    private func perform(console: ConsoleLogging, environment: [String: String]) -> Outcome {
        let consoleLogger = Logger(label: "pipeline.run") { console.handler(label: $0) }
        let registry = plugins.loadRegistry { consoleLogger.warning("\($0)") }
        let plan: PipelinePlan
        do {
            plan = try PipelineLoader.load(file: file, overrides: overrides, environment: environment,
                                           registry: registry, runDirectory: runDir, requireInputFiles: true)
        } catch {
            if console.format == .json {
                for diagnostic in error.diagnostics { consoleLogger.error("\(diagnostic.description)") }
            } else {
                FileHandleOutput.standardError(error.description)
            }
            return Outcome(code: .usage, error: error.description)
        }
        if let preview {
            let run = PreviewRun(rows: preview, step: step, llmCache: noLLMCache ? nil : (llmCache ?? LLMCache.defaultPath()),
                                 queueCapacity: queueCapacity, quiet: quiet)
            return Outcome(code: run.perform(plan: plan, console: console, logger: consoleLogger), pipeline: plan.name)
        }
        let directory = URL(fileURLWithPath: runDir ?? "runs/\(plan.name)").standardizedFileURL.path
        var outcome = Outcome(code: .failed, pipeline: plan.name, directory: directory)
        if let summary, let conflict = plan.conflict(writing: summary, as: "--summary \(summary)", runDirectory: directory) {
            outcome.code = .usage
            outcome.error = conflict
            outcome.summaryRefused = true
            consoleLogger.error("\(conflict)")
            return outcome
        }
        if let file = Self.fileInTheWay(of: directory) {
            // A usage problem: the flag (or the default) names a file.
            let named = runDir.map { "--run-dir \($0)" } ?? "the run directory \(directory)"
            outcome.code = .usage
            outcome.error = file == directory
                ? "\(named) is a file, not a directory"
                : "\(named) cannot be a directory: \(file) is a file"
            consoleLogger.error("\(outcome.error ?? "")")
            return outcome
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            outcome.error = "cannot create the run directory \(directory): \(error.localizedDescription)"
            consoleLogger.error("\(outcome.error ?? "")")
            return outcome
        }

        // Nothing is written into the directory before its lock is held.
        let lock: RunLock
        do {
            lock = try RunLock.acquire(directory: directory, wait: waitLock) { holder in
                let who = holder.map { " (\($0.description))" } ?? ""
                consoleLogger.notice("waiting for another run\(who) to release \(directory)")
            }
        } catch {
            outcome.code = error.isHeld ? .locked : .failed
            outcome.error = error.description
            consoleLogger.error("\(error.description)", metadata: error.holder.map { ["pid": "\($0.pid)"] })
            return outcome
        }
        defer { lock.release() }

        let fileLog: @Sendable (String) -> JSONLinesLogHandler
        do {
            fileLog = try JSONLinesLogHandler.open(path: (directory as NSString).appendingPathComponent("run.log"))
        } catch {
            outcome.error = "cannot open \(directory)/run.log: \(error.localizedDescription)"
            consoleLogger.error("\(outcome.error ?? "")")
            return outcome
        }
        let logger = Logger(label: "pipeline.run") { label in
            MultiplexLogHandler([console.handler(label: label), fileLog(label)])
        }
        let live = LiveProgress()
        let progress = console.terminal.canRedraw && console.format == .human && !quiet
            ? ProgressDisplay(source: { live.snapshot() }) : nil
        let records = progress == nil && !quiet && progressInterval > 0
            ? ProgressRecords(every: progressInterval, json: console.format == .json, source: { live.snapshot() }) : nil
        CrashGuard.console(json: console.format == .json, clearsStatusLine: progress != nil)
        CrashGuard.log(to: (directory as NSString).appendingPathComponent("run.log"))
        defer { CrashGuard.log(to: nil) }
        let stop = StopSignal()
        let signals = SignalHandling(stop: stop, logger: logger)
        defer { signals.cancel() }
        var options = executorOptions(directory: directory, progress: progress, stop: stop)
        options.live = live
        progress?.start()
        records?.start()
        let summary: RunSummary
        do {
            summary = try Executor.run(plan, options: options, logger: logger)
            progress?.finish()
            records?.finish()
        } catch {
            progress?.finish()
            records?.finish()
            // The run could not start; a pipeline changed since its stored
            // state was written needs a decision (a flag), not a retry.
            outcome.code = error.kind == .changed ? .usage : .failed
            outcome.error = error.description
            logger.error("\(error.description)")
            return outcome
        }

        outcome.summary = summary
        outcome.code = PipelineExitCode(summary: summary)
        outcome.error = summary.error
        report(summary, code: outcome.code, directory: directory, console: console, logger: logger,
               fileLogger: Logger(label: "pipeline.run") { fileLog($0) })
        return outcome
    }

    /// `path` itself or the nearest of its parents that exists, when that
    /// is not a directory (so the run directory cannot be made there).
    static func fileInTheWay(of path: String) -> String? {
        var current = path
        var isDirectory: ObjCBool = false
        while !FileManager.default.fileExists(atPath: current, isDirectory: &isDirectory) {
            let parent = (current as NSString).deletingLastPathComponent
            guard !parent.isEmpty, parent != current else { return nil }
            current = parent
        }
        return isDirectory.boolValue ? nil : current
    }

    /// What this command asks of the executor.
    private func executorOptions(directory: String, progress: ProgressDisplay?, stop: StopSignal) -> ExecutorOptions {
        var options = ExecutorOptions(runDirectory: directory)
        options.queueCapacity = queueCapacity
        options.fresh = fresh
        options.resumeChanged = resumeChanged
        options.checkpoint = !noCheckpoint
        options.llmCache = noLLMCache ? nil : (llmCache ?? LLMCache.defaultPath())
        options.stop = stop
        options.batchWait = batchWait
        options.pipelineText = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        if let progress { options.progress = { _ in progress.poke() } }
        return options
    }

    /// The end of a run on stderr: for people, the step table and one line;
    /// in JSON, one record. Quiet: only when not a success. Always in run.log.
    private func report(_ summary: RunSummary, code: PipelineExitCode, directory: String,
                        console: ConsoleLogging, logger: Logger, fileLogger: Logger) {
        let seconds = TimeText.fixed(summary.seconds, 2)
        let errors = "\(summary.rowErrors) row error\(summary.rowErrors == 1 ? "" : "s")"
        let line: String
        switch code {
        case .success: line = "done in \(seconds) s; \(errors); run directory: \(directory)"
        case .rowErrors: line = "done in \(seconds) s with \(errors) (see errors.jsonl); run directory: \(directory)"
        case .interrupted:
            line = "interrupted after \(seconds) s; run the same command to resume; run directory: \(directory)"
        case .waiting:
            line = "waiting for provider batches after \(seconds) s (submitted, state saved); run the same command later to collect them; run directory: \(directory)"
        default: line = "FAILED after \(seconds) s: \(summary.error ?? summary.status.rawValue); run directory: \(directory)"
        }
        let level: Logger.Level = code == .success ? .info : code == .failed ? .error : .warning
        let metadata: Logger.Metadata = [
            "status": "\(summary.status.rawValue)", "exit_code": "\(code.rawValue)", "seconds": "\(seconds)",
            "row_errors": "\(summary.rowErrors)", "run_directory": "\(directory)",
        ]
        if console.format == .human && !quiet {
            FileHandleOutput.standardError(summary.table)
            for limit in summary.concurrencyLines {
                FileHandleOutput.standardError(limit)
                fileLogger.info("\(limit)")
            }
            FileHandleOutput.standardError(line)
            fileLogger.log(level: level, "\(line)", metadata: metadata)
        } else {
            for limit in summary.concurrencyLines { logger.info("\(limit)") }
            logger.log(level: level, "\(line)", metadata: metadata)
        }
    }
}
