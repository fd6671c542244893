import PipelineJSON

/// Token and request counts, per step and in total. [thread-safe]
public struct LLMUsage: Sendable {
    public var requests = 0
    public var cached = 0
    public var failures = 0
    public var retries = 0
    public var promptTokens = 0
    public var completionTokens = 0

    public init(requests: Int = 0, cached: Int = 0, failures: Int = 0, retries: Int = 0,
                promptTokens: Int = 0, completionTokens: Int = 0) {
        self.requests = requests
        self.cached = cached
        self.failures = failures
        self.retries = retries
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    package mutating func add(_ other: LLMUsage) {
        requests += other.requests
        cached += other.cached
        failures += other.failures
        retries += other.retries
        promptTokens += other.promptTokens
        completionTokens += other.completionTokens
    }

    package func adding(_ other: LLMUsage) -> LLMUsage {
        var sum = self
        sum.add(other)
        return sum
    }

    public var json: JSONValue {
        .object([
            "requests": .number(Double(requests)), "cached": .number(Double(cached)),
            "failures": .number(Double(failures)), "retries": .number(Double(retries)),
            "prompt_tokens": .number(Double(promptTokens)), "completion_tokens": .number(Double(completionTokens)),
        ])
    }
}

/// What one step's requests to an LLM are doing at this moment: for
/// progress displays, never stored.
public struct LLMLive: Sendable, Equatable {
    /// Requests sent and not answered yet (waiting for a slot, in flight,
    /// or waiting to be retried). Answers from the cache never open.
    public var open = 0
    /// Requests on the wire now.
    public var inFlight = 0
    /// The most requests of the step on the wire at once.
    public var peakInFlight = 0

    public init(open: Int = 0, inFlight: Int = 0, peakInFlight: Int = 0) {
        self.open = open
        self.inFlight = inFlight
        self.peakInFlight = peakInFlight
    }

    package mutating func started() {
        inFlight += 1
        peakInFlight = max(peakInFlight, inFlight)
    }
}
