import Foundation
import Logging
import Synchronization
import PipelineArrow
import PipelineBase
import PipelineCLI
import PipelineCore
import PipelineHost
import PipelineJSON
import PipelineLLMClient

/// `pipeline run FILE --preview N [--step NAME]`: the first N rows of every
/// generator through the pipeline (global steps included, on what they
/// received), in a scratch directory that is removed afterwards, without
/// the steps that write or push. The rows are printed: a table on a
/// terminal, else JSON lines. LLM answers go to the cache as in a run, so
/// the full run reuses every answer the cache policy allows.
struct PreviewRun {
    var rows: Int
    var step: String?
    var llmCache: String?
    var queueCapacity: Int
    var quiet: Bool

    /// Collects what the shown steps emit and every failed row.
    private final class Collected: Sendable {
        private let state = Mutex<(batches: [String: [RecordBatch]], failed: [(String, RecordBatch)])>(([:], []))
        let shown: Set<String>
        init(shown: Set<String>) { self.shown = shown }

        func add(step: String, batches: [RecordBatch], failed: [RecordBatch]) {
            state.withLock { state in
                if shown.contains(step) { state.batches[step, default: []] += batches }
                state.failed += failed.map { (step, $0) }
            }
        }

        var batches: [String: [RecordBatch]] { state.withLock { $0.batches } }
        var failed: [(String, RecordBatch)] { state.withLock { $0.failed } }
    }

    func perform(plan full: PipelinePlan, console: ConsoleLogging, logger: Logger) -> PipelineExitCode {
        let preview: PreviewPlan
        do {
            preview = try PreviewPlan(full, step: step)
        } catch {
            logger.error("\(error.description)")
            return .usage
        }
        for (name, reason) in preview.skipped where !quiet {
            logger.info("preview leaves out \(name): \(reason)")
        }
        let scratch: String
        do {
            scratch = try Self.scratchDirectory()
        } catch {
            logger.error("cannot make a scratch directory for the preview: \(error)")
            return .failed
        }
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        let collected = Collected(shown: Set(preview.shown))
        let live = LiveProgress()
        let display = console.terminal.canRedraw && console.format == .human && !quiet
            ? ProgressDisplay(source: { live.snapshot() }) : nil
        var options = ExecutorOptions(runDirectory: scratch)
        options.checkpoint = false
        options.queueCapacity = queueCapacity
        options.llmCache = llmCache
        options.rowLimit = rows
        options.live = live
        options.onOutput = { collected.add(step: $0, batches: $1, failed: $2) }
        if let display { options.progress = { _ in display.poke() } }
        display?.start()
        let summary: RunSummary
        do {
            summary = try Executor.run(preview.plan, options: options, logger: logger)
            display?.finish()
        } catch {
            display?.finish()
            logger.error("\(error.description)")
            return .failed
        }
        if let error = summary.error {
            logger.error("the preview failed: \(error)")
            return PipelineExitCode(summary: summary)
        }

        let table = isatty(1) == 1
        let batches = collected.batches
        for name in preview.shown {
            let parts = batches[name] ?? []
            if table {
                var columns: [String] = []
                var values: [[JSONValue]] = []
                for batch in parts {
                    let (names, rows) = BatchJSON.table(batch)
                    if columns.isEmpty { columns = names }
                    values += rows
                }
                FileHandleOutput.standardOutput(PreviewTable.render(title: name, columns: columns, rows: values,
                                                                    width: Terminal.width(descriptor: 1)))
            } else {
                for batch in parts { for line in BatchJSON.rows(batch) { FileHandleOutput.standardOutput(line) } }
            }
        }
        // Failed rows on stderr, as errors.jsonl has them.
        for (name, batch) in collected.failed {
            for line in BatchJSON.errorRecords(batch, step: name) { FileHandleOutput.standardError(line) }
        }
        let shownRows = preview.shown.reduce(0) { sum, name in sum + (batches[name] ?? []).reduce(0) { $0 + $1.length } }
        let cache = llmCache == nil ? "no LLM cache" : "LLM answers cached as the pipeline's cache policy says"
        let line = "preview: \(shownRows) row\(shownRows == 1 ? "" : "s") of \(preview.shown.joined(separator: ", ")) "
            + "in \(TimeText.fixed(summary.seconds, 2)) s, \(summary.rowErrors) failed; nothing written or pushed; \(cache)"
        if !quiet { logger.info("\(line)") }
        return PipelineExitCode(summary: summary)
    }

    /// A fresh private directory under the system's temporary directory.
    static func scratchDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/pipeline-preview.XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
            return String(cString: base)
        }
        guard let made else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return made
    }
}
