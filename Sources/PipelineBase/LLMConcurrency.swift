import PipelineJSON

/// How many requests one LLM had in flight at once in a run: its
/// `max_concurrency` setting, the limit at the end (under `auto`, the one it
/// settled at) and the range the limit moved in.
public struct LLMConcurrency: Sendable, Equatable {
    /// `max_concurrency` was `auto` (the limit was found as the run went).
    public var auto: Bool
    /// The limit at the end of the run.
    public var limit: Int
    /// The least and the most the limit was (equal to `limit` when fixed).
    public var lowest: Int
    public var highest: Int
    /// The most requests on the wire at once.
    public var peakInFlight: Int

    public init(auto: Bool, limit: Int, lowest: Int, highest: Int, peakInFlight: Int) {
        self.auto = auto
        self.limit = limit
        self.lowest = lowest
        self.highest = highest
        self.peakInFlight = peakInFlight
    }

    /// `{"setting": "auto" | N, "limit", "lowest", "highest", "peak_in_flight"}`.
    public var json: JSONValue {
        .object([
            "setting": auto ? .string("auto") : .number(Double(limit)), "limit": .number(Double(limit)),
            "lowest": .number(Double(lowest)), "highest": .number(Double(highest)),
            "peak_in_flight": .number(Double(peakInFlight)),
        ])
    }

    /// One line for people, for an `auto` LLM:
    /// `llm teacher: max_concurrency auto settled at 4 (moved within 2–8; peak 8 in flight)`.
    public func line(llm: String) -> String {
        let range = lowest == highest ? "it never moved" : "moved within \(lowest)–\(highest)"
        return "llm \(llm): max_concurrency auto settled at \(limit) (\(range); peak \(peakInFlight) in flight)"
    }
}
