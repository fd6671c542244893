import Foundation
import PipelineJSON
import PipelineRetry
import PluginKit

// `verify_http`: POSTs each row (the chosen columns as a JSON object) to a
// verifier (a code runner, a math checker) through the host's HTTP service,
// `concurrency` requests at a time, and keeps the verdict field of the
// JSON answer as a column. Connection failures, timeouts and 408/429/5xx
// are retried with backoff; a row whose verifier gives no usable verdict
// becomes an error row quoting what came back.

struct VerifyHTTP: PipelineStep {
    static let url = Parameter<String>("url", .pattern("^https?://"), description: "The verifier's URL; each row is POSTed to it as a JSON object.")
    static let columns = Parameter<[String]>("columns", .minItems(1), .uniqueItems, description: """
        The columns sent, as the keys of the JSON object (text, integers, floats, booleans, lists of text; null as null).
        """)
    static let verdictField = Parameter("verdict_field", default: "verdict", .minLength(1), description: """
        The field of the response's JSON object that holds the verdict; a dotted path (result.passed) reads into objects.
        """)
    static let outputColumn = Parameter("output_column", default: "verdict", .minLength(1), description: "The column the verdict goes to.")
    static let verdictType = Parameter("verdict_type", default: "bool", .oneOf(["bool", "float64"]), description: """
        bool: the field must be true or false; float64: a number (a score), true and false read as 1 and 0.
        """)
    static let concurrency = Parameter("concurrency", default: 8, .minimum(1), .maximum(256), description: "Requests in flight at once.")
    static let timeout = Parameter("timeout", default: 30.0, .exclusiveMinimum(0), description: "Seconds for one exchange.")
    static let attempts = Parameter("max_attempts", default: 3, .minimum(1), .maximum(20), description: """
        Attempts per row in all: connection failures, timeouts and HTTP 408, 429, 500, 502, 503, 504 are retried \
        with exponential backoff (0.5 s doubling, jittered, Retry-After honoured up to 60 s).
        """)

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.verify_http", name: "verify_http", version: "1.0.0",
        description: """
            Checks each row with a verifier service of your own: POSTs the chosen columns as a JSON object to url \
            (Content-Type: application/json) through the host's HTTP service, concurrency requests at a time, with \
            a timeout and retries, and writes verdict_field of the JSON answer to output_column. A row whose \
            verifier answers an error status, something that is not JSON, or no verdict of the declared type \
            becomes an error row quoting the status and the start of the body.
            """,
        inputs: [.init("*", "any", description: "the columns named in `columns` must be among them")],
        outputs: [.init("verdict", "bool", description: "The verdict (float64 with verdict_type: float64).", nameParam: "output_column"),
                  .init("*", "any")],
        parameters: [url, columns, verdictField, outputColumn, verdictType, concurrency, timeout, attempts],
        deterministic: false)

    let target: String
    let sent: [String]
    let path: [String]
    let output: String
    let numeric: Bool
    let workers: Int
    let seconds: Double
    let policy: RetryPolicy

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        target = try parameters[Self.url]
        sent = try parameters[Self.columns]
        path = try parameters[Self.verdictField].split(separator: ".").map(String.init)
        output = try parameters[Self.outputColumn]
        numeric = try parameters[Self.verdictType] == "float64"
        workers = try parameters[Self.concurrency]
        seconds = try parameters[Self.timeout]
        policy = RetryPolicy(maxAttempts: try parameters[Self.attempts], initialDelay: 0.5, maxDelay: 10, maxServerDelay: 60)
        if path.isEmpty { throw .invalidArgument("verify_http: verdict_field is empty") }
        if !context.hasHTTP { throw .internal("verify_http: this host offers no HTTP service (pipeline.http/1)") }
    }

    enum Verdict: Sendable { case flag(Bool), score(Double), failed(String) }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        var bodies: [[UInt8]] = []
        bodies.reserveCapacity(batch.length)
        var columns: [(String, ArrowColumn)] = []
        for name in sent {
            guard let column = batch.column(name) else { throw .invalidData("verify_http: columns: the input has no column \"\(name)\"") }
            columns.append((name, column))
        }
        for row in 0..<batch.length {
            var object: [String: JSONValue] = [:]
            for (name, column) in columns { object[name] = try Self.json(column, row, name: name) }
            bodies.append(Array(JSONValue.object(object).serialized.utf8))
        }
        let verdicts = try ask(bodies, context: context)
        var kept: [Int] = []
        var failed: [Int: String] = [:]
        for (row, verdict) in verdicts.enumerated() {
            if case .failed(let reason) = verdict { failed[row] = "verify_http: \(reason)" } else { kept.append(row) }
        }
        let numeric = self.numeric
        return try RowOutcome.assemble(batch, kept: kept, failed: failed, added: [
            (ArrowField(output, numeric ? .float64 : .bool), { builder, row in
                switch verdicts[row] {
                case .flag(let value): if numeric { builder.append(value ? 1.0 : 0.0) } else { builder.append(value) }
                case .score(let value): builder.append(value)
                case .failed: builder.appendNull()
                }
            }),
        ], step: "verify_http")
    }

    /// Every body sent, `workers` at a time on threads of their own (each
    /// blocks in the host's perform), the verdicts in row order.
    private func ask(_ bodies: [[UInt8]], context: StepContext) throws(StepError) -> [Verdict] {
        let work = Work(count: bodies.count)
        let shared = Unchecked((context, self))
        let done = DispatchGroup()
        for _ in 0..<min(workers, bodies.count) {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                let (context, step) = shared.value
                while let index = work.take() {
                    do { work.set(index, try step.verify(bodies[index], context: context)) } catch {
                        work.cancel()
                        return
                    }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        done.wait()
        return try work.results()
    }

    /// One row's exchange with retries; throws only when the run is stopping.
    func verify(_ body: [UInt8], context: StepContext) throws(StepError) -> Verdict {
        let request = HTTPRequest(method: "POST", url: target, headers: ["Content-Type: application/json", "Accept: application/json"],
                                  body: body, timeout: seconds)
        var attempt = 0
        while true {
            attempt += 1
            if context.isCancelled { throw StepError(status: pipeline_status(PIPELINE_CANCELLED), "verify_http: cancelled") }
            let wait: Double
            switch try context.http(request) {
            case .success(let response):
                if policy.isRetryable(status: response.status) && policy.allowsRetry(afterAttempt: attempt) {
                    let server = response.header("Retry-After").flatMap { RetryAfter.delay($0, now: Date().timeIntervalSince1970) }
                    wait = policy.delay(afterAttempt: attempt, serverDelay: server)
                    break
                }
                return verdict(response, attempts: attempt)
            case .failure(.cancelled):
                throw StepError(status: pipeline_status(PIPELINE_CANCELLED), "verify_http: cancelled")
            case .failure(let failure):
                guard policy.allowsRetry(afterAttempt: attempt) else {
                    return .failed("\(target): \(failure.message) (after \(attempt) attempt\(attempt == 1 ? "" : "s"))")
                }
                wait = policy.delay(afterAttempt: attempt)
            }
            usleep(useconds_t(min(wait, 60) * 1_000_000))
        }
    }

    private func verdict(_ response: HTTPResponse, attempts: Int) -> Verdict {
        let quoted = Self.quote(response.text)
        guard (200..<300).contains(response.status) else {
            return .failed("\(target): HTTP \(response.status) after \(attempts) attempt\(attempts == 1 ? "" : "s"): \(quoted)")
        }
        guard let json = try? JSONValue(parsing: response.text) else { return .failed("the verifier's answer is not JSON: \(quoted)") }
        var value: JSONValue? = json
        for key in path { value = value?[key] }
        let field = path.joined(separator: ".")
        switch value {
        case .bool(let flag)?: return numeric ? .score(flag ? 1 : 0) : .flag(flag)
        case .number(let number)? where numeric && number.isFinite: return .score(number)
        case nil: return .failed("the verifier's answer has no \"\(field)\": \(quoted)")
        default: return .failed("the verifier's \"\(field)\" is not \(numeric ? "a number" : "true or false"): \(quoted)")
        }
    }

    static func quote(_ text: String) -> String {
        let head = text.prefix(200)
        return "\"" + head.replacingOccurrences(of: "\n", with: "\\n") + (text.count > 200 ? "…\"" : "\"")
    }

    static func json(_ column: ArrowColumn, _ row: Int, name: String) throws(StepError) -> JSONValue {
        guard column.isValid(row) else { return .null }
        switch column.type {
        case .utf8, .largeUtf8: return column.string(row).map(JSONValue.string) ?? .null
        case .int64: return .number(Double(column.int64(row)))
        case .float64: return .number(column.float64(row))
        case .bool: return .bool(column.bool(row))
        case .list(let item) where item.type == .utf8:
            return .array((column.stringList(row) ?? []).map { $0.map(JSONValue.string) ?? .null })
        default: throw .invalidData("verify_http: columns: \"\(name)\" is \(column.type), which is not sent (text, numbers, booleans, lists of text)")
        }
    }
}

/// The rows of one batch shared by the sending threads: the next row to
/// send and the verdicts so far, behind a lock.
final class Work: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var cancelled = false
    private var items: [VerifyHTTP.Verdict]

    init(count: Int) { items = Array(repeating: .failed("not sent"), count: count) }

    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard !cancelled, next < items.count else { return nil }
        next += 1
        return next - 1
    }

    func set(_ index: Int, _ verdict: VerifyHTTP.Verdict) {
        lock.lock(); defer { lock.unlock() }
        items[index] = verdict
    }

    func cancel() {
        lock.lock(); defer { lock.unlock() }
        cancelled = true
    }

    func results() throws(StepError) -> [VerifyHTTP.Verdict] {
        lock.lock(); defer { lock.unlock() }
        if cancelled { throw StepError(status: pipeline_status(PIPELINE_CANCELLED), "verify_http: cancelled") }
        return items
    }
}

struct Unchecked<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
