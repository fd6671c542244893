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
