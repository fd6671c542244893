import Foundation
import Synchronization
import PipelineBase
import PipelineLLMClient

/// A running run's progress, readable from any thread while the run goes
/// on: the control thread posts its figures after every call, and a reader
/// (the status line, the JSON progress records, summary.json for `pipeline
/// runs`) asks for a `snapshot`, which adds what the LLM clients are doing
/// at that moment. So the figures move during a long LLM call, not only
/// when a batch leaves a step. [thread-safe]
public final class LiveProgress: Sendable {
    /// The run's shape, set once when the executor starts it.
    struct Shape: Sendable {
        var parents: [[Int]]
        var isGenerator: [Bool]
        /// The LLM each step calls, by name.
        var llm: [String?]
        var clients: [String: LLMClient]
        /// Rows each generator said it will emit (ABI `expect_rows`), by step name.
        var announced: @Sendable () -> [String: Int]
    }

    private struct State {
        var shape: Shape?
        var summary: RunSummary?
        var rowsInFlight: [Int] = []
        var done: [Bool] = []
        /// Rows each step had taken when this attempt started (a resume
        /// restores counters of earlier attempts; the LLM figures are this
        /// attempt's).
        var rowsInAtStart: [Int] = []
        /// Per step: (time, requests done) samples of the last half minute.
        var samples: [[(time: Double, done: Int)]] = []
    }

    private let state = Mutex(State())
    /// Seconds of history the request rate is measured over.
    static let window = 30.0

    public init() {}

    func attach(_ shape: Shape, summary: RunSummary) {
        state.withLock { state in
            state.shape = shape
            state.summary = summary
            state.rowsInFlight = Array(repeating: 0, count: summary.steps.count)
            state.done = Array(repeating: false, count: summary.steps.count)
            state.rowsInAtStart = summary.steps.map(\.rowsIn)
            state.samples = Array(repeating: [], count: summary.steps.count)
        }
    }

    /// [control thread] The figures after a call was handled.
    func post(_ summary: RunSummary, rowsInFlight: [Int], done: [Bool]) {
        state.withLock { state in
            state.summary = summary
            state.rowsInFlight = rowsInFlight
            state.done = done
        }
    }

    /// The summary so far with every unfinished step's progress; nil before
    /// the run has started.
    public func snapshot(now: Double = TimeText.now()) -> RunSummary? {
        let (taken, shape) = state.withLock { ($0.summary, $0.shape) }
        guard var summary = taken, let shape else { return nil }
        // Outside the lock: the clients take their own.
        var usage: [String: [String: LLMUsage]] = [:]
        var live: [String: [String: LLMLive]] = [:]
        for (name, client) in shape.clients {
            usage[name] = client.usage
            live[name] = client.live.steps
        }
        let announced = shape.announced()
        state.withLock { state in
            let expected = Self.expectedRows(summary, shape: shape, done: state.done,
                                             rowsInFlight: state.rowsInFlight, announced: announced)
            for index in summary.steps.indices where !state.done[index] {
                let step = summary.steps[index]
                var progress = StepProgress()
                progress.rowsInFlight = state.rowsInFlight[index]
                progress.expectedRows = expected[index].input
                if let name = shape.llm[index] {
                    let used = usage[name]?[step.name] ?? LLMUsage()
                    let now0 = live[name]?[step.name] ?? LLMLive()
                    var llm = StepProgress.LLM()
                    llm.done = used.requests
                    llm.open = max(0, now0.open)
                    llm.inFlight = max(0, now0.inFlight)
                    llm.peakInFlight = now0.peakInFlight
                    llm.retries = used.retries
                    llm.failures = used.failures
                    llm.cached = used.cached
                    llm.perSecond = Self.rate(&state.samples[index], done: llm.done, now: now)
                    // Requests per row, from the rows this attempt handed the step.
                    let rowsSeen = step.rowsIn - state.rowsInAtStart[index] + progress.rowsInFlight
                    if rowsSeen > 0, llm.done + llm.open > 0 {
                        let perRow = Double(llm.done + llm.open) / Double(rowsSeen)
                        let waiting = Double(llm.open) / perRow
                        progress.rowsDoneInFlight = max(0, min(progress.rowsInFlight,
                                                               progress.rowsInFlight - Int(waiting.rounded(.up))))
                        if let total = progress.expectedRows {
                            let rowsToCome = max(0, total - step.rowsIn - progress.rowsInFlight)
                            let remaining = llm.open + Int((Double(rowsToCome) * perRow).rounded())
                            llm.expected = llm.done + remaining
                            if llm.perSecond > 0 { progress.etaSeconds = Double(remaining) / llm.perSecond }
                        }
                    }
                    progress.llm = llm
                }
                summary.steps[index].progress = progress
            }
        }
        return summary
    }

    /// Answered requests per second over the last `window` seconds.
    private static func rate(_ samples: inout [(time: Double, done: Int)], done: Int, now: Double) -> Double {
        if samples.last.map({ now - $0.time >= 0.5 }) ?? true { samples.append((now, done)) }
        while let first = samples.first, now - first.time > window, samples.count > 2 { samples.removeFirst() }
        guard let first = samples.first, now - first.time >= 1 else { return 0 }
        return Double(done - first.done) / (now - first.time)
    }

    /// Rows each step is expected to take in (and give out) in total: a
    /// done step's are its counts; a generator's are what it announced; a
    /// step's input is its parents' outputs, and its output its input times
    /// the ratio it has shown so far (1 before it has seen a row).
    static func expectedRows(_ summary: RunSummary, shape: Shape, done: [Bool], rowsInFlight: [Int],
                             announced: [String: Int]) -> [(input: Int?, output: Int?)] {
        var result: [(input: Int?, output: Int?)] = Array(repeating: (nil, nil), count: summary.steps.count)
        // Steps are in an order where parents come first (the plan's order).
        for (index, step) in summary.steps.enumerated() {
            if done[index] {
                result[index] = (step.rowsIn, step.rowsOut)
                continue
            }
            if shape.isGenerator[index] {
                let total = announced[step.name].map { max($0, step.rowsOut) }
                result[index] = (total, total)
                continue
            }
            var input: Int? = 0
            for parent in shape.parents[index] {
                guard let sum = input, let more = result[parent].output else { input = nil; break }
                input = sum + more
            }
            guard let input else { continue }
            let seen = step.rowsIn
            let ratio = seen > 0 ? Double(step.rowsOut) / Double(seen) : 1
            result[index] = (max(input, seen + rowsInFlight[index]), Int((Double(input) * ratio).rounded()))
        }
        return result
    }
}
