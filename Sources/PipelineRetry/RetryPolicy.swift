// When a failed HTTP request is tried again, and after how long: the one
// policy of the host's LLM client and of the Hub plugin (which links this
// module statically). Standard library only, so any plugin can link it.

/// The HTTP statuses worth another attempt: the same request may well
/// succeed later (a timeout, a rate limit, an overloaded server).
public struct RetryableStatuses: Sendable, Hashable {
    /// These statuses.
    public var codes: Set<Int>
    /// And every status at or above this one (nil: none).
    public var atOrAbove: Int?

    public init(codes: Set<Int>, atOrAbove: Int? = nil) {
        self.codes = codes
        self.atOrAbove = atOrAbove
    }

    public func contains(_ status: Int) -> Bool {
        codes.contains(status) || atOrAbove.map { status >= $0 } == true
    }

    /// 408 Request Timeout, 429 Too Many Requests, 500, 502 Bad Gateway,
    /// 503 Service Unavailable, 504 Gateway Timeout. Not 501 or 505 (the
    /// server will never do it) nor 409 (a Hub answer that means "exists"
    /// or "conflict", which the caller handles).
    public static let transient = RetryableStatuses(codes: [408, 429, 500, 502, 503, 504])

    /// `transient`, every other 5xx, and 409 Conflict (an LLM server busy
    /// with a conflicting request): what the LLM client retries.
    public static let transientConflictsAndServerErrors = RetryableStatuses(codes: [408, 409, 429], atOrAbove: 500)
}

/// How a client retries: which answers, how many times, how long between.
///
/// The wait after attempt n (1-based) is exponential backoff with jitter,
/// `initialDelay × multiplier^(n-1)`, multiplied by a random factor in
/// `[1 - jitter, 1 + jitter]` and then capped at `maxDelay`. A server's
/// Retry-After (or RateLimit reset) is a floor: the wait is never shorter
/// than what it asked for, capped at `maxServerDelay`, and never jittered.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first one included (at least 1).
    public var maxAttempts: Int
    /// Seconds before the second attempt, before jitter.
    public var initialDelay: Double
    /// Growth of the backoff per attempt.
    public var multiplier: Double
    /// Seconds no backoff exceeds, jitter included.
    public var maxDelay: Double
    /// 0 (none) to 1: the wait is drawn from backoff × [1 - jitter, 1 + jitter].
    public var jitter: Double
    /// Seconds no server-requested wait exceeds (a server asking for an
    /// hour should not hold a run for an hour).
    public var maxServerDelay: Double
    public var statuses: RetryableStatuses

    public init(maxAttempts: Int, initialDelay: Double, multiplier: Double = 2, maxDelay: Double,
                jitter: Double = 0.5, maxServerDelay: Double = 300, statuses: RetryableStatuses = .transient) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay.isFinite ? max(0, initialDelay) : 0
        self.multiplier = multiplier.isFinite ? max(1, multiplier) : 2
        // An infinite cap is read as a day.
        self.maxDelay = maxDelay.isNaN ? 0 : min(max(0, maxDelay), 86_400)
        self.jitter = jitter.isFinite ? min(max(jitter, 0), 1) : 0
        self.maxServerDelay = maxServerDelay.isNaN ? 0 : min(max(0, maxServerDelay), 86_400)
        self.statuses = statuses
    }

    /// Whether an answer with this status is worth another attempt.
    public func isRetryable(status: Int) -> Bool { statuses.contains(status) }

    /// Whether attempt `attempt` (1-based) may be followed by another.
    public func allowsRetry(afterAttempt attempt: Int) -> Bool { attempt < maxAttempts }

    /// The backoff after attempt `attempt`, before jitter: capped, never
    /// overflowing however large `attempt` is.
    public func backoff(afterAttempt attempt: Int) -> Double {
        var delay = initialDelay
        var step = 1
        // Bounded: with a multiplier above 1 the cap is reached long before.
        while step < attempt && delay > 0 && delay < maxDelay && step < 4096 {
            delay *= multiplier
            step += 1
        }
        return min(delay, maxDelay)
    }

    /// The range the wait after attempt `attempt` is drawn from, without a
    /// server's request.
    public func delayRange(afterAttempt attempt: Int) -> ClosedRange<Double> {
        let base = backoff(afterAttempt: attempt)
        return min(base * (1 - jitter), maxDelay)...min(base * (1 + jitter), maxDelay)
    }

    /// Seconds to wait after attempt `attempt` failed; `serverDelay` is
    /// what the server asked for (`RetryAfter.delay`), if anything.
    public func delay<G: RandomNumberGenerator>(afterAttempt attempt: Int, serverDelay: Double? = nil,
                                                using generator: inout G) -> Double {
        let range = delayRange(afterAttempt: attempt)
        let drawn = range.lowerBound == range.upperBound ? range.lowerBound : Double.random(in: range, using: &generator)
        guard let serverDelay, serverDelay.isFinite else { return drawn }
        return max(drawn, min(max(serverDelay, 0), maxServerDelay))
    }

    /// `delay(afterAttempt:serverDelay:using:)` with the system's generator.
    public func delay(afterAttempt attempt: Int, serverDelay: Double? = nil) -> Double {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, serverDelay: serverDelay, using: &generator)
    }
}
