import Dispatch
import Synchronization
import PipelineBase

/// The live status line of a run on a terminal:
/// `0:42  load 12,000  gen 9,310  save 9,310 in │ gen +12/37 · 310/1,000 req · 4 in flight (peak 4) · 18/s · ETA 0:38`.
///
/// It reads the run's live progress (`LiveProgress.snapshot`): on a timer
/// twice a second, so LLM requests and the elapsed time move during a long
/// call, and after every completed call (`poke`), at most 10 times a
/// second. Log lines clear it and it is drawn again below them
/// (`ConsoleSink`); `finish()` removes it. Only for terminals: on anything
/// else nothing is drawn.
public final class ProgressDisplay: Sendable {
    private struct State {
        var lastDraw = 0.0
        var finished = false
    }

    private let sink: ConsoleSink
    private let started: Double
    private let minimumInterval: Double
    private let width: @Sendable () -> Int
    private let source: @Sendable () -> RunSummary?
    private let state = Mutex(State())
    private let timer = RepeatingTimer(label: "pipeline.progress")

    public init(source: @escaping @Sendable () -> RunSummary?, sink: ConsoleSink = .standardError,
                minimumInterval: Double = 0.1, width: @escaping @Sendable () -> Int = { Terminal.width() }) {
        self.source = source
        self.sink = sink
        self.started = TimeText.now()
        self.minimumInterval = minimumInterval
        self.width = width
    }

    /// Starts the timer that keeps the line moving.
    public func start() {
        timer.start(every: 0.5) { [weak self] in self?.redraw(force: true) }
    }

    /// Something changed (cheap: drawing is throttled).
    public func poke() { redraw(force: false) }

    /// Stops the timer and clears the status line.
    public func finish() {
        timer.cancel()
        state.withLock { $0.finished = true }
        sink.clearStatus()
    }

    private func redraw(force: Bool) {
        let now = TimeText.now()
        let due = state.withLock { state -> Bool in
            guard !state.finished, force || now - state.lastDraw >= minimumInterval else { return false }
            state.lastDraw = now
            return true
        }
        guard due, let summary = source() else { return }
        let text = Self.line(summary, elapsed: now - started, width: width())
        // finish() may have run meanwhile: never draw after it.
        state.withLock { state in if !state.finished { sink.setStatus(text) } }
    }

    /// The status line for `summary`, at most `width - 1` characters: every
    /// step, then the live figures of the steps that are working (an LLM
    /// step's requests); when that does not fit, the first and the last
    /// step, then the working steps alone.
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
        // Working: an LLM step with requests open, or a step with rows in hand.
        let working = summary.steps.compactMap { step -> String? in
            guard let progress = step.progress,
                  progress.rowsInFlight > 0 || (progress.llm?.open ?? 0) > 0 else { return nil }
            let text = progress.text
            return text.isEmpty ? nil : "\(step.name) \(text)"
        }
        let live = working.isEmpty ? "" : "  │ " + working.joined(separator: "  │ ")
        let limit = max(10, width - 1)
        let full = time + "  " + summary.steps.map(cell).joined(separator: "  ") + errors + live
        if full.count <= limit { return full }
        if let first = summary.steps.first, let last = summary.steps.last, summary.steps.count > 2 {
            let compact = time + "  " + cell(first) + " … " + cell(last) + "  (\(summary.steps.count) steps)" + errors + live
            if compact.count <= limit { return compact }
        }
        if !live.isEmpty {
            let alone = time + errors + live
            if alone.count <= limit { return alone }
            return String(alone.prefix(limit - 1)) + "…"
        }
        return String(full.prefix(limit - 1)) + "…"
    }
}
