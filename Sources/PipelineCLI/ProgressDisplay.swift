import Dispatch
import Synchronization
import PipelineBase

/// The live status line of a run on a terminal:
/// `0:42  load 12,000  filter 9,310  save 9,310 in  3 row errors`.
///
/// Fed by `ExecutorOptions.progress` (every completed call) and redrawn
/// at most 10 times a second; a timer redraws it twice a second so the
/// elapsed time moves while every step is busy. Log lines clear it and it
/// is drawn again below them (`ConsoleSink`); `finish()` removes it.
/// Only for terminals: on anything else nothing is drawn.
public final class ProgressDisplay: Sendable {
    private struct State {
        var latest: RunSummary?
        var lastDraw = 0.0
        var finished = false
    }

    private let sink: ConsoleSink
    private let started: Double
    private let minimumInterval: Double
    private let width: @Sendable () -> Int
    private let state = Mutex(State())
    private let timer: Mutex<TimerBox?> = Mutex(nil)

    /// Dispatch sources are thread-safe; the box only carries one across.
    private final class TimerBox: @unchecked Sendable {
        let source: any DispatchSourceTimer
        init(_ source: any DispatchSourceTimer) { self.source = source }
    }

    public init(sink: ConsoleSink = .standardError, minimumInterval: Double = 0.1,
                width: @escaping @Sendable () -> Int = { Terminal.width() }) {
        self.sink = sink
        self.started = TimeText.now()
        self.minimumInterval = minimumInterval
        self.width = width
    }

    /// Starts the timer that keeps the elapsed time moving.
    public func start() {
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "pipeline.progress"))
        source.schedule(deadline: .now() + 0.5, repeating: 0.5)
        source.setEventHandler { [weak self] in self?.redraw(force: true) }
        source.resume()
        let box = TimerBox(source)
        timer.withLock { $0 = box }
    }

    /// The summary so far (cheap: drawing is throttled).
    public func update(_ summary: RunSummary) {
        state.withLock { $0.latest = summary }
        redraw(force: false)
    }

    /// Stops the timer and clears the status line.
    public func finish() {
        let box = timer.withLock { box in
            defer { box = nil }
            return box
        }
        box?.source.cancel()
        state.withLock { $0.finished = true }
        sink.clearStatus()
    }

    private func redraw(force: Bool) {
        let now = TimeText.now()
        let text: String? = state.withLock { state in
            guard !state.finished, let summary = state.latest else { return nil }
            guard force || now - state.lastDraw >= minimumInterval else { return nil }
            state.lastDraw = now
            return Self.line(summary, elapsed: now - started, width: width())
        }
        if let text { sink.setStatus(text) }
    }

    /// The status line for `summary`, at most `width - 1` characters: every
    /// step when it fits, else the first and the last step.
    public static func line(_ summary: RunSummary, elapsed: Double, width: Int) -> String {
        func cell(_ step: RunSummary.Step) -> String {
            // A sink emits nothing: show what it took in.
            step.rowsOut == 0 && step.rowsIn > 0
                ? "\(step.name) \(TimeText.count(step.rowsIn)) in"
                : "\(step.name) \(TimeText.count(step.rowsOut))"
        }
        let time = TimeText.elapsed(elapsed)
        let errors = summary.rowErrors > 0
            ? "  \(TimeText.count(summary.rowErrors)) row error\(summary.rowErrors == 1 ? "" : "s")" : ""
        let limit = max(10, width - 1)
        let full = time + "  " + summary.steps.map(cell).joined(separator: "  ") + errors
        if full.count <= limit { return full }
        if let first = summary.steps.first, let last = summary.steps.last, summary.steps.count > 2 {
            let compact = time + "  " + cell(first) + " … " + cell(last) + "  (\(summary.steps.count) steps)" + errors
            if compact.count <= limit { return compact }
        }
        return String(full.prefix(limit - 1)) + "…"
    }
}
