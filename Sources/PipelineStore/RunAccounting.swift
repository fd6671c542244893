import Foundation
import PipelineJSON
import PipelineBase
import PipelineSQLite

// What a run cost, across every attempt (the first run and each resume):
// wall time, CPU, peak memory and LLM usage per attempt, and how much of
// the teacher I/O log belongs to committed work. A table and a meta key of
// their own, created on demand, so stores written before them open unchanged.
extension RunStore {
    /// One attempt at the run: a `pipeline run` that started work.
    public struct Attempt: Sendable {
        public var number = 0
        public var startedAt = 0.0
        public var seconds = 0.0
        public var cpuSeconds = 0.0
        public var peakRSSBytes = 0
        /// LLM usage: LLM name → step name → counts.
        public var llms: [String: [String: LLMUsage]] = [:]

        /// The figures of an attempt that started at `since`, measured now.
        package static func measure(number: Int, startedAt: Double, since: ContinuousClock.Instant,
                            llms: [String: [String: LLMUsage]] = [:]) -> Attempt {
            let usage = RunSummary.processUsage()
            return Attempt(number: number, startedAt: startedAt, seconds: (ContinuousClock.now - since).seconds,
                           cpuSeconds: usage.cpuSeconds, peakRSSBytes: usage.peakRSSBytes, llms: llms)
        }

        var usageJSON: String {
            JSONValue.object(llms.mapValues { .object($0.mapValues(\.json)) }).serialized
        }
    }

    func createAccountingTable() throws(StoreError) {
        try database.execute("""
            CREATE TABLE IF NOT EXISTS attempts (
                number INTEGER PRIMARY KEY, started_at REAL NOT NULL, seconds REAL NOT NULL DEFAULT 0,
                cpu_seconds REAL NOT NULL DEFAULT 0, peak_rss INTEGER NOT NULL DEFAULT 0,
                usage TEXT NOT NULL DEFAULT '{}')
            """)
    }

    /// Every attempt recorded so far, oldest first.
    public func attempts() throws(StoreError) -> [Attempt] {
        access.lock()
        defer { access.unlock() }
        var attempts: [Attempt] = []
        try database.prepare("SELECT number, started_at, seconds, cpu_seconds, peak_rss, usage FROM attempts ORDER BY number")
            .query { row in
                var attempt = Attempt(number: Int(row.int(0)), startedAt: row.double(1), seconds: row.double(2),
                                      cpuSeconds: row.double(3), peakRSSBytes: Int(row.int(4)))
                if let text = row.text(5), case .object(let byLLM)? = try? JSONValue(parsing: text) {
                    for (llm, steps) in byLLM {
                        for (step, usage) in steps.objectValue ?? [:] {
                            attempt.llms[llm, default: [:]][step] = LLMUsage(json: usage)
                        }
                    }
                }
                attempts.append(attempt)
            }
        return attempts
    }

    /// Records the start of a new attempt; returns its number.
    public func beginAttempt(startedAt: Double) throws(StoreError) -> Int {
        access.lock()
        defer { access.unlock() }
        var last = 0
        try database.prepare("SELECT COALESCE(MAX(number), 0) FROM attempts").query { row in last = Int(row.int(0)) }
        try database.prepare("INSERT INTO attempts (number, started_at) VALUES (?, ?)")
            .run(.int(Int64(last + 1)), .double(startedAt))
        return last + 1
    }

    /// Stores what the attempt has cost so far, in its own transaction.
    public func record(_ attempt: Attempt) throws(StoreError) {
        access.lock()
        defer { access.unlock() }
        try writeAttempt(attempt)
    }

    /// The UPDATE itself; the caller holds `access` (a commit runs it in
    /// its transaction, so the figures move with the work they describe).
    func writeAttempt(_ attempt: Attempt) throws(StoreError) {
        if updateAttempt == nil {
            updateAttempt = try database.prepare("""
                UPDATE attempts SET seconds = ?, cpu_seconds = ?, peak_rss = ?, usage = ? WHERE number = ?
                """)
        }
        guard let updateAttempt else { return }
        try updateAttempt.run(.double(attempt.seconds), .double(attempt.cpuSeconds), .int(Int64(attempt.peakRSSBytes)),
                                  .text(attempt.usageJSON), .int(Int64(attempt.number)))
    }

    /// Bytes of llm-io.jsonl that belong to committed work: a resumed run
    /// cuts the log back to this length, dropping the lines of calls whose
    /// results never reached the store (they are made, and logged, again).
    public func ioLogBytes() throws(StoreError) -> Int64? {
        access.lock()
        defer { access.unlock() }
        var value: Int64?
        try database.prepare("SELECT value FROM meta WHERE key = 'io_log_bytes'").query { row in
            value = row.text(0).flatMap { Int64($0) }
        }
        return value
    }

    /// Sets the committed length of the teacher I/O log; the caller holds
    /// `access` (a commit runs it in its transaction).
    func writeIOLogBytes(_ bytes: Int64) throws(StoreError) {
        try database.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('io_log_bytes', ?)").run(.text(String(bytes)))
    }

    public func setIOLogBytes(_ bytes: Int64) throws(StoreError) {
        access.lock()
        defer { access.unlock() }
        try writeIOLogBytes(bytes)
    }
}

extension LLMUsage {
    init(json: JSONValue) {
        func count(_ key: String) -> Int { Int(json[key]?.int64Value ?? 0) }
        self.init(requests: count("requests"), cached: count("cached"), failures: count("failures"),
                  retries: count("retries"), promptTokens: count("prompt_tokens"), completionTokens: count("completion_tokens"))
    }
}

extension RunSummary {
    /// Adds attempts' figures: time and CPU add up, the peak is the
    /// highest, the start is the first one's, LLM usage adds up per LLM
    /// and per step.
    package mutating func add(_ attempts: [RunStore.Attempt]) {
        for attempt in attempts {
            seconds += attempt.seconds
            cpuSeconds += attempt.cpuSeconds
            peakRSSBytes = max(peakRSSBytes, attempt.peakRSSBytes)
            if attempt.startedAt > 0 { startedAt = min(startedAt, attempt.startedAt) }
            for (name, byStep) in attempt.llms {
                for (step, usage) in byStep {
                    llms[name] = (llms[name] ?? LLMUsage()).adding(usage)
                    if let index = steps.firstIndex(where: { $0.name == step }) {
                        steps[index].llm = (steps[index].llm ?? LLMUsage()).adding(usage)
                    }
                }
            }
        }
    }
}
