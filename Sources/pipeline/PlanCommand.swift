import ArgumentParser
import Foundation
import Logging
import Synchronization
import PipelineBase
import PipelineCLI
import PipelineCore
import PipelineDefinition
import PipelineHost
import PipelineJSON

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forecast a run: rows, requests, tokens, time and cost per step, before anything runs.",
        discussion: """
            Validates the file as `pipeline validate` does (same messages, exit 2), reads the \
            generators' rows (no step after them runs) and works out, per step: rows in and out, chat \
            and embedding requests, prompt and completion tokens, the time at each LLM's \
            max_concurrency and latency, and the cost where an LLM gives a price. Request counts come \
            from each step's declaration (x-plan in its parameter schema); a step without one shows \
            "unknown" unless --probe measures it.

            --probe N runs the pipeline for real on the first N rows of each generator, against the \
            pipeline's servers, in a temporary directory (no LLM cache, nothing written or pushed), \
            and uses what it measured: tokens per request, the latency of each LLM, and the requests \
            of undeclared steps, scaled to the full input.

            See docs/pipelines.md, "Planning a run", for the output and the --json format.
            """)

    @Argument(help: "The pipeline YAML file.") var file: String

    @Option(name: .customLong("param"),
            help: ArgumentHelp("Set a step's parameter, as for run: step.key=value (repeatable).", valueName: "step.key=value"))
    var parameters: [String] = []

    @Option(help: ArgumentHelp("The run directory, as for run (for the output-path checks).", valueName: "dir"))
    var runDir: String?

    @Flag(help: "Print the forecast as one JSON document (format pipeline-plan/1).")
    var json = false

    @Option(help: ArgumentHelp("Plan for N rows from each generator instead of its whole input.", valueName: "N"))
    var rows: Int?

    @Option(help: ArgumentHelp("Measure: run the first N rows of each generator for real, then scale (N may be left out: 5).",
                               valueName: "N"))
    var probe: Int?

    @Option(help: ArgumentHelp("The latency of one request, in milliseconds, for every LLM (replaces each LLM's latency_ms).",
                               valueName: "ms"))
    var latencyMs: Double?

    @OptionGroup var plugins: PluginOptions

    static let defaultProbeRows = 5
    /// Rows of each generator the prompt estimate renders prompts over.
    static let sampleRows = 50

    /// `--probe` may stand without its number: ArgumentParser cannot say
    /// so, so the command line is rewritten before parsing (`--probe 5`).
    static func rewrite(_ arguments: [String]) -> [String] {
        guard arguments.first == "plan" else { return arguments }
        var out: [String] = []
        for (index, argument) in arguments.enumerated() {
            out.append(argument)
            if argument == "--probe", index + 1 == arguments.count || Int(arguments[index + 1]) == nil {
                out.append(String(defaultProbeRows))
            }
        }
        return out
    }

    func validate() throws {
        if let rows, rows < 1 { throw ValidationError("--rows must be at least 1") }
        if let probe, probe < 1 { throw ValidationError("--probe must be at least 1 row") }
        if let latencyMs, !(latencyMs >= 0 && latencyMs.isFinite) {
            throw ValidationError("--latency-ms must be a number of milliseconds, 0 or more")
        }
    }

    func run() throws {
        let registry = plugins.loadRegistry()
        let environment = ProcessInfo.processInfo.environment
        let plan: PipelinePlan
        do {
            plan = try PipelineLoader.load(file: file, overrides: parameters, environment: environment,
                                           registry: registry, runDirectory: runDir, requireInputFiles: true)
        } catch {
            for diagnostic in error.diagnostics { FileHandleOutput.standardError(diagnostic.description) }
            let count = error.diagnostics.count
            FileHandleOutput.standardError("\(count) error\(count == 1 ? "" : "s") in \(file)")
            throw ExitCode(.usage)
        }
        var logger = Logger(label: "pipeline.plan")
        logger.logLevel = .warning

        let seeds: [String: [Int]]
        var samples: [String: [JSONValue]] = [:]
        do {
            seeds = try Self.seedBatches(plan, rows: rows, samples: &samples, logger: logger)
        } catch {
            FileHandleOutput.standardError("error: \(error.message)")
            throw ExitCode(.failed)
        }
        var measured: RunForecast.Probe?
        if let probe {
            do {
                measured = try Self.probe(plan, rows: probe, logger: logger)
            } catch {
                FileHandleOutput.standardError("error: \(error.message)")
                throw ExitCode(.failed)
            }
        }
        let forecast = RunForecast(plan: plan, seedBatches: seeds, samples: samples, latencyMs: latencyMs,
                                   probe: measured)
        if json {
            FileHandleOutput.standardOutput(forecast.json.serialized)
        } else {
            FileHandleOutput.standardOutput(PlanText.render(forecast))
        }
    }

    struct Failure: Error { var message: String }

    /// Batches each generator emits: its whole input (or the first `rows`),
    /// read by running the generators alone. With `rows` beyond the input,
    /// batches of the generator's batch size make up the rest.
    static func seedBatches(_ plan: PipelinePlan, rows: Int?, samples: inout [String: [JSONValue]],
                            logger: Logger) throws(Failure) -> [String: [Int]] {
        let generators = plan.steps.filter { $0.descriptor.kind == .generator }
        guard !generators.isEmpty else { return [:] }
        let only = PipelinePlan(name: plan.name, file: plan.file, steps: generators, llms: [:], credentials: plan.credentials)
        let lengths = Mutex<[String: [Int]]>([:])
        let kept = Mutex<[String: [JSONValue]]>([:])
        let summary = try run(only, rows: rows, logger: logger, what: "reading the generators' rows") { options in
            options.onOutput = { step, batches, _ in
                lengths.withLock { $0[step, default: []] += batches.map(\.length) }
                kept.withLock { kept in
                    for batch in batches where kept[step, default: []].count < sampleRows {
                        let lines = BatchJSON.rows(batch).prefix(sampleRows - kept[step, default: []].count)
                        kept[step, default: []] += lines.compactMap { try? JSONValue(parsing: $0) }
                    }
                }
            }
        }.summary
        samples = kept.withLock { $0 }
        if let error = summary.error { throw Failure(message: "reading the generators' rows failed: \(error)") }
        var seeds = lengths.withLock { $0 }
        for generator in generators {
            let read = seeds[generator.name] ?? []
            let total = read.reduce(0, +)
            if let rows, total < rows {
                let size = max(1, generator.batchSize)
                let missing = rows - total
                seeds[generator.name] = read + Array(repeating: size, count: missing / size) + (missing % size > 0 ? [missing % size] : [])
            } else {
                seeds[generator.name] = read
            }
        }
        return seeds
    }

    /// Runs the first `rows` rows of each generator through the pipeline
    /// (as `run --preview` does: no writers, no pushes) and measures.
    static func probe(_ plan: PipelinePlan, rows: Int, logger: Logger) throws(Failure) -> RunForecast.Probe {
        let preview: PreviewPlan
        do { preview = try PreviewPlan(plan, step: nil) } catch { throw Failure(message: "--probe: \(error.description)") }
        let generators = Set(preview.plan.steps.filter { $0.descriptor.kind == .generator }.map(\.name))
        let lengths = Mutex<[String: [Int]]>([:])
        let (summary, ioLog) = try run(preview.plan, rows: rows, logger: logger, what: "the probe") { options in
            options.onOutput = { step, batches, _ in
                guard generators.contains(step) else { return }
                lengths.withLock { $0[step, default: []] += batches.map(\.length) }
            }
        }
        if let error = summary.error { throw Failure(message: "the probe failed: \(error)") }
        var usage: [String: (requests: Int, promptTokens: Int, completionTokens: Int)] = [:]
        for step in summary.steps {
            if let llm = step.llm { usage[step.name] = (llm.requests, llm.promptTokens, llm.completionTokens) }
        }
        // Failed requests measure nothing: say why, as the run would.
        for step in summary.steps where (step.llm?.failures ?? 0) > 0 {
            let llm = preview.plan.steps.first { $0.name == step.name }?.llm ?? "?"
            let reason = ioLog.split(separator: "\n").lazy.compactMap { try? JSONValue(parsing: String($0)) }
                .first { $0["step"]?.stringValue == step.name && $0["error"] != nil }?["error"]?.stringValue
            throw Failure(message: "the probe's requests to llm \(llm) failed (step \(step.name), \(step.llm?.failures ?? 0) of \(step.llm?.requests ?? 0))"
                + (reason.map { ": \($0)" } ?? ""))
        }
        // Mean latency of each LLM's answered requests, from the teacher I/O log.
        var sums: [String: (total: Double, count: Int)] = [:]
        for line in ioLog.split(separator: "\n") {
            guard let record = try? JSONValue(parsing: String(line)), record["status"]?.int64Value == 200,
                  let llm = record["llm"]?.stringValue, let latency = record["latency_ms"]?.doubleValue else { continue }
            sums[llm, default: (0, 0)].total += latency
            sums[llm, default: (0, 0)].count += 1
        }
        return RunForecast.Probe(seedBatches: lengths.withLock { $0 }, steps: Set(preview.plan.steps.map(\.name)), usage: usage,
                                 latencyMs: sums.mapValues { $0.total / Double($0.count) }, seconds: summary.seconds)
    }

    /// Runs `plan` in a scratch directory (removed after), no checkpoint, no
    /// LLM cache; returns the summary and the teacher I/O log's text.
    static func run(_ plan: PipelinePlan, rows: Int?, logger: Logger, what: String,
                    configure: (inout ExecutorOptions) -> Void) throws(Failure) -> (summary: RunSummary, ioLog: String) {
        let scratch: String
        do { scratch = try PreviewRun.scratchDirectory() } catch {
            throw Failure(message: "cannot make a scratch directory for \(what): \(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var options = ExecutorOptions(runDirectory: scratch)
        options.checkpoint = false
        options.llmCache = nil
        options.rowLimit = rows
        configure(&options)
        do {
            let summary = try Executor.run(plan, options: options, logger: logger)
            let log = (try? String(contentsOfFile: (scratch as NSString).appendingPathComponent("llm-io.jsonl"), encoding: .utf8)) ?? ""
            return (summary, log)
        } catch {
            throw Failure(message: "\(what): \(error.description)")
        }
    }
}

/// The forecast for people: a table of steps, then a line per LLM and the total.
enum PlanText {
    static func render(_ forecast: RunForecast) -> String {
        var lines: [String] = []
        let seed = forecast.seedRows.keys.sorted().map { "\($0): \(TimeText.count(forecast.seedRows[$0] ?? 0))" }
        lines.append("plan of \(forecast.file) (\(forecast.pipeline)); seed rows: \(seed.isEmpty ? "none" : seed.joined(separator: ", "))")
        if let probe = forecast.probe {
            let rows = probe.seedBatches.values.reduce(0) { $0 + $1.reduce(0, +) }
            lines.append("probe: \(rows) seed row\(rows == 1 ? "" : "s") run for real in \(TimeText.duration(probe.seconds)); tokens and latency measured")
        }
        let header = ["step", "uses", "llm", "rows in", "rows out", "chat", "embed", "prompt tok", "completion tok", "time", "cost"]
        var table: [[String]] = [header]
        for step in forecast.steps {
            let mark = step.rowsInAtMost ? "≤" : ""
            table.append([
                step.name, step.uses, step.llm ?? "-",
                step.rowsIn.map { mark + TimeText.count($0) } ?? "-",
                step.rowsOut.map { (step.atMost ? "≤" : "") + TimeText.count($0) } ?? (step.isSink ? "-" : "unknown"),
                step.llm == nil || (step.chatRequests == 0 && step.embeddingRequests != nil) ? "-"
                    : step.chatRequests.map { (step.requestsFromProbe ? "~" : mark) + TimeText.count($0) } ?? "unknown",
                step.llm == nil ? "-" : step.embeddingRequests.map { "\(mark)\(TimeText.count($0)) (\(TimeText.count(step.embeddingInputs ?? 0)) texts)" } ?? "-",
                step.llm == nil ? "-" : tokens(step.promptTokens, upper: false),
                step.llm == nil ? "-" : tokens(step.completionTokens, upper: step.completionUpperBound),
                step.llm == nil ? "-" : step.seconds.map(TimeText.duration) ?? "unknown",
                step.llm == nil ? "-" : money(step.cost),
            ])
        }
        lines.append(contentsOf: columns(table))
        for step in forecast.steps {
            for note in step.notes { lines.append("  \(step.name): \(note)") }
        }
        for llm in forecast.llms {
            var where_ = llm.baseURL ?? "?"
            if let serve = llm.serve { where_ = "served by the host: " + describe(serve) }
            let latency = llm.latencyMs.map { "\(TimeText.fixed($0, 1)) ms (\(llm.latencySource ?? ""))" }
                ?? "unknown (give latency_ms, --latency-ms or --probe)"
            lines.append("llm \(llm.name): model \(llm.model ?? "?") at \(where_); max_concurrency \(llm.maxConcurrency.map(String.init) ?? llm.concurrencySetting.map { "\($0) (time unknown)" } ?? "unknown"); latency \(latency)")
            lines.append("  \(count(llm.chatRequests)) chat + \(count(llm.embeddingRequests)) embedding requests; "
                + "tokens \(tokens(llm.promptTokens, upper: false)) prompt, \(tokens(llm.completionTokens, upper: llm.completionUpperBound)) completion; "
                + (llm.batch
                    ? "time: within the batches' completion window; cost \(money(llm.cost)) in provider batches (live: \(money(llm.liveCost)))"
                    : "time \(llm.seconds.map(TimeText.duration) ?? "unknown"); cost \(money(llm.cost))"))
        }
        let upper = forecast.llms.contains { $0.completionUpperBound }
        lines.append("total: \(count(forecast.totalChatRequests)) chat + \(count(forecast.totalEmbeddingRequests)) embedding requests; "
            + "tokens \(tokens(forecast.totalPromptTokens, upper: false)) prompt, \(tokens(forecast.totalCompletionTokens, upper: upper)) completion; "
            + "time \(forecast.totalSeconds.map(TimeText.duration) ?? "unknown"); cost \(money(forecast.totalCost))")
        if upper { lines.append("(≤ completion tokens: max_tokens × requests, an upper bound; --probe measures them)") }
        return lines.joined(separator: "\n")
    }

    static func count(_ value: Int?) -> String { value.map(TimeText.count) ?? "unknown" }

    static func tokens(_ value: Double?, upper: Bool) -> String {
        guard let value else { return "unknown" }
        return (upper ? "≤" : "") + TimeText.count(Int(value.rounded()))
    }

    static func money(_ value: Double?) -> String {
        guard let value else { return "-" }
        return "$" + TimeText.fixed(value, value < 1 ? 4 : 2)
    }

    static func describe(_ serve: JSONValue) -> String {
        guard let object = serve.objectValue else { return serve.serialized }
        return object.keys.sorted().map { key in
            let value = object[key] ?? .null
            return "\(key) \(value.stringValue ?? value.serialized)"
        }.joined(separator: ", ")
    }

    /// Left-aligned text columns, right-aligned figures, two spaces apart.
    static func columns(_ rows: [[String]]) -> [String] {
        guard let width = rows.first?.count else { return [] }
        var widths = [Int](repeating: 0, count: width)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return index < 3 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
    }
}
