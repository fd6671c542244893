import Dispatch
import Synchronization
import PipelineJSON
import PipelineBase

/// Progress off a terminal (cron, a pipe, a file): every `interval`
/// seconds, one record on the console with the same figures the status
/// line shows. In JSON, a log-shaped object whose numbers stay numbers:
/// `{"level":"info","message":"progress","progress":{"elapsed_seconds":…,"steps":[…]},"time":"…"}`
/// (each step as in summary.json, its `progress` object included); for
/// people, `progress` and the status line's text.
public final class ProgressRecords: Sendable {
    private let source: @Sendable () -> RunSummary?
    private let sink: ConsoleSink
    private let json: Bool
    private let interval: Double
    private let started: Double
    private let timer = RepeatingTimer(label: "pipeline.progress-records")

    public init(every interval: Double, json: Bool, sink: ConsoleSink = .standardError,
                source: @escaping @Sendable () -> RunSummary?) {
        self.interval = interval
        self.json = json
        self.sink = sink
        self.source = source
        started = TimeText.now()
    }

    public func start() {
        timer.start(every: interval) { [weak self] in self?.emit() }
    }

    public func finish() { timer.cancel() }

    private func emit() {
        guard let summary = source() else { return }
        let now = TimeText.now()
        sink.writeLine(Self.record(summary, elapsed: now - started, time: now, json: json))
    }

    /// One record (a line without its newline).
    public static func record(_ summary: RunSummary, elapsed: Double, time: Double, json: Bool) -> String {
        guard json else { return "progress " + ProgressDisplay.line(summary, elapsed: elapsed, width: 4096) }
        let steps = summary.json["steps"] ?? .array([])
        return JSONValue.object([
            "time": .string(TimeText.rfc3339(time)), "level": .string("info"), "message": .string("progress"),
            "progress": .object([
                "pipeline": .string(summary.pipeline), "elapsed_seconds": .number((elapsed * 10).rounded() / 10),
                "row_errors": .number(Double(summary.rowErrors)), "steps": steps,
            ]),
        ]).serialized
    }
}
