import ArgumentParser
import Foundation
import Logging
import PipelineCore

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

            Exit codes: 0 success, 1 the run failed, 2 the pipeline file is invalid.
            """)

    @Argument(help: "The pipeline YAML file.") var file: String

    @Option(name: .customLong("param"),
            help: ArgumentHelp("Override a step parameter: step.key=value (repeatable); the value is YAML.",
                               valueName: "step.key=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Where outputs, logs and the summary go (default: runs/<pipeline name>).",
                               valueName: "dir"))
    var runDir: String?

    @Option(help: "Batches an edge between two steps may hold before the producer waits.")
    var queueCapacity = 4

    @OptionGroup var plugins: PluginOptions

    func validate() throws {
        guard queueCapacity >= 1 else { throw ValidationError("--queue-capacity must be at least 1") }
    }

    func run() throws {
        let registry = plugins.loadRegistry()
        let plan: PipelinePlan
        do {
            plan = try PipelineLoader.load(file: file, overrides: overrides,
                                           environment: ProcessInfo.processInfo.environment, registry: registry)
        } catch {
            FileHandleOutput.standardError(error.description)
            throw ExitCode(ExitStatus.usage)
        }
        let directory = URL(fileURLWithPath: runDir ?? "runs/\(plan.name)").standardizedFileURL.path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            FileHandleOutput.standardError("error: cannot create the run directory \(directory): \(error.localizedDescription)")
            throw ExitCode(ExitStatus.failure)
        }
        let fileLog = try JSONLinesLogHandler.open(path: (directory as NSString).appendingPathComponent("run.log"))
        let level = Logger.Level(rawValue: Environment.value("PIPELINE_LOG_LEVEL") ?? "") ?? .info
        let logger = Logger(label: "pipeline.run") { label in
            var console = StreamLogHandler.standardError(label: label)
            console.logLevel = level
            return MultiplexLogHandler([console, fileLog(label)])
        }
        var options = ExecutorOptions(runDirectory: directory)
        options.queueCapacity = queueCapacity
        let summary = Executor.run(plan, options: options, logger: logger)
        FileHandleOutput.standardError(summary.table)
        FileHandleOutput.standardError(
            "\(summary.status == .succeeded ? "done" : "FAILED") in \(String(format: "%.2f", summary.seconds)) s; "
                + "\(summary.rowErrors) row error(s); run directory: \(directory)")
        if summary.status != .succeeded { throw ExitCode(ExitStatus.failure) }
    }
}
