/// The concurrency limit of an LLM under `max_concurrency: auto`: how many
/// requests may be in flight at once, found from what the finished requests
/// say. Pure logic: the caller gives every sample its own times (from one
/// monotonic clock), so tests drive it with synthetic samples.
///
/// - **Throughput, by Little's law.** Samples are grouped in windows (at
///   least 16 answers and 2 × the limit); a window measures the rate of
///   answers. A window where the client did not fill the limit (the steps
///   sent too few requests) changes nothing.
/// - **Slow start.** From `start`, the limit doubles while a doubling raises
///   the throughput by at least a quarter of what it could (a server that
///   serves everything in parallel doubles it). When it does not, the limit
///   goes back to the last level that paid: more in flight would only wait
///   in the server's queue (a llama.cpp server serves one request at a
///   time), which lengthens latency and leaves throughput where it was.
/// - **Steady: probing.** The limit holds a level; after a number of
///   windows it tries one step up (or down, alternately; a step is an eighth
///   of the level, at least 1). A step up is kept when throughput grew by
///   a quarter of the step's share, a step down when throughput fell by less
///   than half of it. A probe that does not pay doubles the windows until the
///   next (up to 16; after one that met a 429, at least 8 and up to 64);
///   one that pays makes the next come at once, in the same direction.
/// - **Overload: multiplicative decrease.** A 429, 503 or timeout halves the
///   limit (once per episode: answers to requests sent before the cut do not
///   cut again) and starts a slow start that stays below the least number in
///   flight an overload was seen at. An overload during a probe up only
///   ends the probe. Never below `min` (at least 1).
package struct AdaptiveConcurrency: Sendable {
    package struct Bounds: Sendable, Equatable {
        package var min: Int
        package var max: Int
        package var start: Int

        package static let defaultMax = 256
        package static let defaultStart = 4

        /// Clamped so that 1 ≤ min ≤ start ≤ max.
        package init(min: Int = 1, max: Int = Bounds.defaultMax, start: Int? = nil) {
            self.min = Swift.max(1, min)
            self.max = Swift.max(self.min, max)
            self.start = Swift.min(self.max, Swift.max(self.min, start ?? Bounds.defaultStart))
        }
    }

    /// How a request ended, as far as the limit is concerned.
    package enum Outcome: Sendable, Equatable {
        /// The server answered (whatever the answer's content).
        case ok
        /// 429, 503 or a timeout: the server has too much to do.
        case overloaded
        /// Anything else (another error status, a broken connection): says
        /// nothing about load.
        case other
    }

    /// One finished attempt of a request.
    package struct Sample: Sendable {
        /// When it was sent and when its outcome arrived, in seconds.
        package var started: Double
        package var finished: Double
        /// Requests in flight just after it was sent, itself included.
        package var inFlight: Int
        package var outcome: Outcome

        package init(started: Double, finished: Double, inFlight: Int, outcome: Outcome) {
            self.started = started
            self.finished = finished
            self.inFlight = inFlight
            self.outcome = outcome
        }
    }

    package let bounds: Bounds
    /// The limit now.
    package private(set) var limit: Int
    /// The least and the most the limit has been.
    package private(set) var lowest: Int
    package private(set) var highest: Int

    private enum Phase {
        case slowStart
        case steady
    }

    private enum Probe {
        case up, down
    }

    private var phase = Phase.slowStart
    /// Slow start: the level before the last doubling, and its throughput.
    private var reference: (limit: Int, rate: Double)?
    /// Steady: the level held, and its throughput (a running mean).
    private var base: Int
    private var baseRate: Double?
    private var probe: Probe?
    private var nextProbe = Probe.up
    /// Windows at the base before the next probe, and how many have passed.
    private var hold = 1
    private var held = 0
    /// The least number in flight an overload was seen at, until a probe
    /// up reaches it without one.
    package private(set) var ceiling: Int?
    /// When the limit was last cut for an overload.
    private var lastCut = -Double.infinity

    // The current window.
    private var opened = -Double.infinity
    private var firstFinish: Double?
    private var lastFinish = -Double.infinity
    private var answers = 0
    /// Set when the window has its answers: the time of the last.
    private var closing: Double?
    private var counted = 0
    private var atLimit = 0

    static let minimumWindow = 16
    static let maximumHold = 16
    static let maximumRefusedHold = 64

    package init(bounds: Bounds) {
        self.bounds = bounds
        limit = bounds.start
        lowest = bounds.start
        highest = bounds.start
        base = bounds.start
    }

    /// Answers a window needs at the current limit.
    var windowSize: Int { Swift.max(Self.minimumWindow, 2 * limit) }

    /// Feeds one finished attempt; the limit may change.
    package mutating func record(_ sample: Sample) {
        switch sample.outcome {
        case .other:
            return
        case .overloaded:
            overloaded(sample)
        case .ok:
            answered(sample)
        }
    }

    // MARK: Windows

    private mutating func answered(_ sample: Sample) {
        let sentInWindow = sample.started >= opened
        guard let first = firstFinish else {
            // The window starts with the first answer to a request sent
            // under the current limit: the ones sent before have left.
            guard sentInWindow else { return }
            firstFinish = sample.finished
            lastFinish = sample.finished
            count(sample)
            return
        }
        // The rate is of answers after the first, up to the last; answers
        // at the same instant as the last one still count.
        if let closing, sample.finished > closing {
            let rate = Double(answers) / (closing - first)
            let filled = 2 * atLimit >= counted
            let now = sample.finished
            if filled {
                decide(rate: rate, now: now)
            } else {
                // The steps did not fill the limit: nothing learned about it.
                openWindow(at: now)
            }
            return
        }
        guard sample.finished > first else {
            if sentInWindow { count(sample) }
            return
        }
        answers += 1
        lastFinish = Swift.max(lastFinish, sample.finished)
        if sentInWindow { count(sample) }
        if answers >= windowSize { closing = lastFinish }
    }

    private mutating func count(_ sample: Sample) {
        counted += 1
        if sample.inFlight >= limit { atLimit += 1 }
    }

    private mutating func openWindow(at now: Double) {
        opened = now
        firstFinish = nil
        lastFinish = -Double.infinity
        answers = 0
        closing = nil
        counted = 0
        atLimit = 0
    }

    private mutating func set(_ value: Int, at now: Double) {
        limit = Swift.min(bounds.max, Swift.max(bounds.min, value))
        lowest = Swift.min(lowest, limit)
        highest = Swift.max(highest, limit)
        openWindow(at: now)
    }

    /// The most the limit may rise to: below the ceiling, within bounds.
    private var cap: Int {
        Swift.max(bounds.min, Swift.min(bounds.max, (ceiling ?? Int.max) - 1))
    }

    private static func step(_ level: Int) -> Int { Swift.max(1, level / 8) }

    // MARK: Decisions

    private mutating func decide(rate: Double, now: Double) {
        switch phase {
        case .slowStart:
            if let reference {
                let share = Double(limit - reference.limit) / Double(reference.limit)
                if rate < reference.rate * (1 + 0.25 * share) {
                    // More in flight, no more throughput: the knee is below.
                    settle(at: reference.limit, rate: reference.rate, now: now)
                    return
                }
            }
            reference = (limit, rate)
            let next = Swift.min(limit * 2, cap)
            if next > limit {
                set(next, at: now)
            } else {
                settle(at: limit, rate: rate, now: now)
            }
        case .steady:
            switch probe {
            case nil:
                baseRate = baseRate.map { ($0 + rate) / 2 } ?? rate
                held += 1
                if held >= hold { startProbe(now: now) } else { openWindow(at: now) }
            case .up?:
                let share = Double(limit - base) / Double(base)
                if let baseRate, rate >= baseRate * (1 + 0.25 * share) {
                    moved(to: limit, rate: rate, direction: .up, now: now)
                } else {
                    probeFailed(now: now)
                }
            case .down?:
                let share = Double(base - limit) / Double(base)
                if let baseRate, rate >= baseRate * (1 - 0.5 * share) {
                    moved(to: limit, rate: rate, direction: .down, now: now)
                } else {
                    probeFailed(now: now)
                }
            }
        }
    }

    private mutating func settle(at level: Int, rate: Double, now: Double) {
        phase = .steady
        reference = nil
        base = Swift.min(bounds.max, Swift.max(bounds.min, level))
        baseRate = rate
        probe = nil
        nextProbe = .down
        hold = 2
        held = 0
        set(base, at: now)
    }

    private mutating func startProbe(now: Double) {
        held = 0
        let up = Swift.min(base + Self.step(base), bounds.max)
        let down = Swift.max(base - Self.step(base), bounds.min)
        var direction = nextProbe
        if direction == .up && up == base { direction = .down }
        if direction == .down && down == base { direction = .up }
        guard (direction == .up ? up : down) != base else {
            openWindow(at: now)
            return
        }
        probe = direction
        set(direction == .up ? up : down, at: now)
    }

    private mutating func moved(to level: Int, rate: Double, direction: Probe, now: Double) {
        base = level
        baseRate = rate
        probe = nil
        nextProbe = direction
        hold = 1
        held = 0
        if direction == .up, let ceiling, level >= ceiling { self.ceiling = nil }
        openWindow(at: now)
    }

    /// `refused`: the probe met a 429, 503 or timeout; each costs a retry
    /// after the server's Retry-After, so such probes come rarer still.
    private mutating func probeFailed(now: Double, refused: Bool = false) {
        nextProbe = probe == .up ? .down : .up
        probe = nil
        hold = refused ? Swift.min(Swift.max(hold * 2, 8), Self.maximumRefusedHold) : Swift.min(hold * 2, Self.maximumHold)
        held = 0
        set(base, at: now)
    }

    // MARK: Overload

    private mutating func overloaded(_ sample: Sample) {
        let seen = Swift.max(1, sample.inFlight)
        ceiling = Swift.min(ceiling ?? seen, seen)
        // Sent before the last cut: the same episode, cut once.
        guard sample.started >= lastCut else { return }
        lastCut = sample.finished
        if phase == .steady, probe == .up {
            probeFailed(now: sample.finished, refused: true)
            return
        }
        phase = .slowStart
        reference = nil
        probe = nil
        baseRate = nil
        set(Swift.min(limit / 2, cap), at: sample.finished)
        base = limit
    }
}
