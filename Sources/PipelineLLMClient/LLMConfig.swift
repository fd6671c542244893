import Foundation
import PipelineJSON
import PipelineRetry

/// One entry of `llms:`, with its defaults, as the client uses it.
package struct LLMConfig: Sendable {
    enum CachePolicy: String, Sendable {
        /// Cache answers of deterministic requests (temperature 0, or a seed).
        case auto
        case always
        case never
    }

    package var name: String
    /// Set by the host for a served LLM (`serve:`): its server's URL.
    package var baseURL: String
    /// What the response cache keys answers by: the base URL, or for a
    /// served LLM (whose port changes from run to run) what it serves.
    package var cacheIdentity: String?
    var cacheURL: String { cacheIdentity ?? baseURL }
    var model: String
    /// `max_concurrency`: a fixed limit, or found as the run goes (`auto`).
    var concurrency: Concurrency
    var requestsPerMinute: Double?
    var tokensPerMinute: Double?
    var timeout: Double
    var retries: Int
    /// `retries` + 1 attempts on a network error, a malformed answer, 408,
    /// 409, 429 or any 5xx; 0.25 s doubling to 30 s, ±50 % jitter; a
    /// server's Retry-After as a floor, up to 5 minutes.
    var retryPolicy: RetryPolicy {
        RetryPolicy(maxAttempts: retries + 1, initialDelay: 0.25, multiplier: 2, maxDelay: 30, jitter: 0.5,
                    maxServerDelay: 300, statuses: .transientConflictsAndServerErrors)
    }
    var cache: CachePolicy
    /// Default generation parameters (temperature, max_tokens, ...).
    var params: [String: JSONValue]
    /// `batch:`: requests go to the provider's Batch API instead of live calls.
    package var batch: BatchSettings?
    /// Never logged, never given to plugins.
    var apiKey: String?

    /// `baseURL` for messages: a user and password in it (often from
    /// `${ENV}`) shown as `***`.
    var displayURL: String { Self.withoutCredentials(baseURL) }

    static func withoutCredentials(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let authority = url[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard let at = authority.lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + "***" + String(url[at...])
    }

    /// Reads the validated settings; the API key comes from the environment
    /// variable or file they name.
    package init(name: String, settings: JSONValue, environment: [String: String]) throws(LLMError) {
        self.name = name
        var base = settings["base_url"]?.stringValue ?? "https://api.openai.com/v1"
        while base.hasSuffix("/") { base.removeLast() }
        baseURL = base
        guard let model = settings["model"]?.stringValue else { throw .configuration("llm \"\(name)\" has no model") }
        self.model = model
        if case .string(let text)? = settings["max_concurrency"], text != "auto" {
            throw .configuration("llm \"\(name)\": max_concurrency must be an integer ≥ 1, \"auto\" or {auto: {min, max, start}}, got \"\(text)\"")
        }
        concurrency = Concurrency(settings["max_concurrency"])
        requestsPerMinute = settings["requests_per_minute"]?.doubleValue
        tokensPerMinute = settings["tokens_per_minute"]?.doubleValue
        timeout = settings["timeout_seconds"]?.doubleValue ?? 120
        retries = max(0, Int(settings["retries"]?.int64Value ?? 4))
        cache = settings["cache"]?.stringValue.flatMap(CachePolicy.init(rawValue:)) ?? .auto
        params = settings["params"]?.objectValue ?? [:]
        batch = settings["batch"].flatMap { $0 == .bool(false) ? nil : BatchSettings(settings: $0) }
        if let variable = settings["api_key_env"]?.stringValue {
            guard let key = environment[variable], !key.isEmpty else {
                throw .configuration("llm \"\(name)\": the environment variable \(variable) (api_key_env) is not set")
            }
            apiKey = key
        } else if let path = settings["api_key_file"]?.stringValue {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw .configuration("llm \"\(name)\": cannot read the API key file \(path)")
            }
            apiKey = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}

/// How many requests of one LLM may be in flight at once.
package enum Concurrency: Sendable, Equatable {
    case fixed(Int)
    /// Found by `AdaptiveConcurrency` within these bounds.
    case auto(AdaptiveConcurrency.Bounds)

    /// From a validated `max_concurrency`: an integer, `auto`, or
    /// `{auto: {min, max, start}}`; 16 when absent.
    init(_ value: JSONValue?) {
        switch value {
        case .string("auto")?:
            self = .auto(AdaptiveConcurrency.Bounds())
        case .object(let object)?:
            let bounds = object["auto"]?.objectValue ?? [:]
            func int(_ key: String) -> Int? { bounds[key]?.int64Value.map { Int(clamping: $0) } }
            self = .auto(AdaptiveConcurrency.Bounds(min: int("min") ?? 1, max: int("max") ?? AdaptiveConcurrency.Bounds.defaultMax,
                                                    start: int("start")))
        default:
            self = .fixed(max(1, Int(clamping: value?.int64Value ?? 16)))
        }
    }
}

/// Why an LLM could not be set up.
public struct LLMError: Error, CustomStringConvertible, Sendable {
    public let message: String
    static func configuration(_ message: String) -> LLMError { LLMError(message: message) }
    public var description: String { message }
}
