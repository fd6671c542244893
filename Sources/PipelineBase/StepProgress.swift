import PipelineJSON

/// Where a step is within a run that is still going: what the status line,
/// the JSON progress records and `pipeline runs` show. Estimates are marked
/// as such; none of it is stored in the run's state.
public struct StepProgress: Sendable, Equatable {
    /// Rows of the batches the step is working on now.
    public var rowsInFlight = 0
    /// Of those, about how many are done (an LLM step's answered requests
    /// over its requests per row); nil when the step cannot say.
    public var rowsDoneInFlight: Int?
    /// Rows the step is expected to take in total: exact once every step
    /// before it is done, else estimated from what the generators announced
    /// and the ratios seen so far; nil when nothing is known yet.
    public var expectedRows: Int?
    /// The step's LLM requests, if it makes any.
    public var llm: LLM?
    /// Seconds until the step is done at the recent request rate.
    public var etaSeconds: Double?

    public struct LLM: Sendable, Equatable {
        /// Requests answered (or failed for good) in this attempt, cache hits included.
        public var done = 0
        /// Requests sent and not answered yet.
        public var open = 0
        /// `done` plus the requests still to come, when the step's input is known.
        public var expected: Int?
        public var inFlight = 0
        public var peakInFlight = 0
        /// Answered requests per second over the last half minute.
        public var perSecond = 0.0
        public var retries = 0
        public var failures = 0
        public var cached = 0

        public init() {}
    }

    public init() {}

    public var json: JSONValue {
        func optional(_ value: Int?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }
        var object: [String: JSONValue] = [
            "rows_in_flight": .number(Double(rowsInFlight)), "rows_done_in_flight": optional(rowsDoneInFlight),
            "expected_rows": optional(expectedRows),
            "eta_seconds": etaSeconds.map { .number(($0 * 10).rounded() / 10) } ?? .null,
        ]
        if let llm {
            object["llm"] = .object([
                "requests_done": .number(Double(llm.done)), "requests_open": .number(Double(llm.open)),
                "requests_expected": optional(llm.expected),
                "in_flight": .number(Double(llm.inFlight)), "peak_in_flight": .number(Double(llm.peakInFlight)),
                "requests_per_second": .number((llm.perSecond * 10).rounded() / 10),
                "retries": .number(Double(llm.retries)), "failures": .number(Double(llm.failures)),
                "cached": .number(Double(llm.cached)),
            ])
        }
        return .object(object)
    }

    /// Reads what `json` wrote (from a summary.json of a running run).
    public init?(json: JSONValue) {
        guard json.objectValue != nil else { return nil }
        func int(_ value: JSONValue?) -> Int? { value?.int64Value.map(Int.init) }
        rowsInFlight = int(json["rows_in_flight"]) ?? 0
        rowsDoneInFlight = int(json["rows_done_in_flight"])
        expectedRows = int(json["expected_rows"])
        etaSeconds = json["eta_seconds"]?.doubleValue
        if let object = json["llm"], object.objectValue != nil {
            var llm = LLM()
            llm.done = int(object["requests_done"]) ?? 0
            llm.open = int(object["requests_open"]) ?? 0
            llm.expected = int(object["requests_expected"])
            llm.inFlight = int(object["in_flight"]) ?? 0
            llm.peakInFlight = int(object["peak_in_flight"]) ?? 0
            llm.perSecond = object["requests_per_second"]?.doubleValue ?? 0
            llm.retries = int(object["retries"]) ?? 0
            llm.failures = int(object["failures"]) ?? 0
            llm.cached = int(object["cached"]) ?? 0
            self.llm = llm
        }
    }

    /// The step's figures for people, after its name:
    /// `+12/37 rows · 310/1,000 req · 4 in flight (peak 6) · 18/s · 2 retries · ETA 0:38`
    /// (rows done of the rows in work; requests done of expected).
    public var text: String {
        var parts: [String] = []
        if rowsInFlight > 0 {
            parts.append(rowsDoneInFlight.map { "+\(TimeText.count($0))/\(TimeText.count(rowsInFlight)) rows" }
                         ?? "\(TimeText.count(rowsInFlight)) rows in work")
        }
        if let llm {
            parts.append("\(TimeText.count(llm.done))/\(llm.expected.map(TimeText.count) ?? "?") req")
            parts.append("\(llm.inFlight) in flight" + (llm.peakInFlight > llm.inFlight ? " (peak \(llm.peakInFlight))" : ""))
            parts.append("\(TimeText.fixed(llm.perSecond, llm.perSecond < 10 ? 1 : 0))/s")
            if llm.retries > 0 { parts.append("\(TimeText.count(llm.retries)) retr\(llm.retries == 1 ? "y" : "ies")") }
            if llm.failures > 0 { parts.append("\(TimeText.count(llm.failures)) failed") }
        }
        if let etaSeconds { parts.append("ETA \(TimeText.elapsed(etaSeconds))") }
        return parts.joined(separator: " · ")
    }
}
