// The Batch API's state: uploaded files and batches, behind one lock.
//
// A batch's life is a function of the wall clock, worked out whenever
// anyone looks (`advance`): validating for the first quarter of
// --batch-seconds, in_progress (lines done one after another, in input
// order) for the next half, finalizing for the last quarter, then
// completed. A held batch (--batch-hold) waits in_progress, nothing done,
// until released; its run then starts at the release. A batch leaves
// validating when its lines are validated and answered (or refused) and
// its quarter has passed; the output and error files
// are written when the batch ends (completed, expired or cancelled).
// The lines are validated and answered on a thread of their own, started
// at create, so a large batch never holds the lock (or a poll) for long.

import Foundation

enum BatchEndpoint: String, Sendable, CaseIterable {
    case chat = "/v1/chat/completions"
    case embeddings = "/v1/embeddings"
    case completions = "/v1/completions"
}

/// What the server answers for one batch line's body.
struct LineAnswer: Sendable {
    var statusCode: Int
    var body: JSON
    var promptTokens = 0
    var completionTokens = 0
}

struct StoredFile: Sendable {
    var id: String
    var filename: String
    var purpose: String
    var content: [UInt8]
    var createdAt: Int
    var sequence: Int

    var object: JSON {
        .object([
            ("id", .string(id)),
            ("object", .string("file")),
            ("bytes", .int(content.count)),
            ("created_at", .int(createdAt)),
            ("expires_at", .null),
            ("filename", .string(filename)),
            ("purpose", .string(purpose)),
            ("status", .string("processed")),
            ("status_details", .null),
        ])
    }
}

/// Decided at create from (seed, input file bytes, attempt).
enum BatchFate: Sendable {
    case normal
    case failValidation
    /// Expires once this fraction of its run has passed.
    case expire(Double)
}

private struct BatchLine {
    var customID: String
    /// The line as the output or error file has it.
    var encoded: [UInt8]
    var succeeded: Bool
    var promptTokens: Int
    var completionTokens: Int
}

struct BatchRecord {
    var id: String
    var sequence: Int
    var inputFileID: String
    var endpoint: BatchEndpoint
    var completionWindow: String
    var windowSeconds: Int
    var metadata: [(String, String)]?
    var input: [UInt8]
    var fate: BatchFate
    var held: Bool
    var created: Double
    var status = "validating"
    /// When the lines start being done (nil while held or validating).
    var runStart: Double?
    var inProgressAt: Double?
    var finalizingAt: Double?
    var completedAt: Double?
    var failedAt: Double?
    var expiredAt: Double?
    var cancellingAt: Double?
    var cancelledAt: Double?
    var errors: [JSON]?
    /// When the preparing thread was done with the lines.
    var preparedAt: Double?
    /// How many requests the input file has (0 until validated).
    var total = 0
    fileprivate var lines: [BatchLine] = []
    /// successes[k]: how many of the first k lines succeeded.
    fileprivate var successes: [Int] = [0]
    var outputFileID: String?
    var errorFileID: String?

    var isTerminal: Bool { ["completed", "failed", "expired", "cancelled"].contains(status) }
}

struct BatchCounters {
    var filesUploaded = 0
    var bytesUploaded = 0
    var filesDeleted = 0
    var uploadErrors = 0
    var pollErrors = 0
    var created = 0
    var createDropped = 0
    var cancelRequests = 0
    var linesAnswered = 0
    var linesFailed = 0
    var linesExpired = 0
    var linesCancelled = 0
    var promptTokens = 0
    var completionTokens = 0
}

final class BatchStore: @unchecked Sendable {
    private let lock = NSLock()
    private let config: Config
    private var files: [String: StoredFile] = [:]
    private var batches: [String: BatchRecord] = [:]
    /// Batch ids in creation order.
    private var batchOrder: [String] = []
    private var sequence = 0
    private var hold: Bool
    private var counters = BatchCounters()
    /// Batches created before this sequence number are left out of /stats.
    private var statsFrom = 0
    /// How many times each fault key was seen (batch input, line, poll, upload).
    private var attempts: [UInt64: Int] = [:]
    /// Ids are a function of --seed and the creation order, so the faults
    /// keyed by a route (with an id in it) are too.
    private let nonce: UInt64

    init(config: Config) {
        self.config = config
        hold = config.batchHold
        var hash = StableHash("batch-ids")
        hash.add(config.seed)
        nonce = hash.mixed
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    // MARK: ids and fault draws

    private func newID(_ prefix: String, _ kind: String) -> (String, Int) {
        sequence += 1
        var hash = StableHash()
        hash.add(nonce)
        hash.add(kind)
        hash.add(UInt64(sequence))
        let high = hash.mixed
        hash.separator()
        return (prefix + high.hex16 + String(hash.mixed.hex16.prefix(8)), sequence)
    }

    /// A seeded generator for one fault decision, and whether the attempt
    /// is eligible under --faults-first.
    func draws(_ key: UInt64) -> (rng: SeededRandom, eligible: Bool) {
        let attempt = attempts[key, default: 0]
        attempts[key] = attempt + 1
        var hash = StableHash()
        hash.add(config.seed)
        hash.add(key)
        hash.add(UInt64(attempt))
        return (SeededRandom(seed: hash.mixed), config.faultsFirst.map { attempt < $0 } ?? true)
    }

    func count(_ update: (inout BatchCounters) -> Void) {
        update(&counters)
    }

    // MARK: files

    func addFile(filename: String, purpose: String, content: [UInt8]) -> StoredFile {
        let (id, sequence) = newID("file-", "file")
        let file = StoredFile(id: id, filename: filename, purpose: purpose, content: content,
                              createdAt: Int(Self.now()), sequence: sequence)
        files[id] = file
        return file
    }

    func file(_ id: String) -> StoredFile? { files[id] }

    func deleteFile(_ id: String) -> Bool {
        guard files.removeValue(forKey: id) != nil else { return false }
        counters.filesDeleted += 1
        return true
    }

    /// Newest first.
    func listFiles(purpose: String?) -> [StoredFile] {
        files.values.filter { purpose == nil || $0.purpose == purpose }.sorted { $0.sequence > $1.sequence }
    }

    // MARK: batches

    func createBatch(input: StoredFile, endpoint: BatchEndpoint, completionWindow: String, windowSeconds: Int,
                     metadata: [(String, String)]?, fate: BatchFate) -> BatchRecord {
        let (id, sequence) = newID("batch_", "batch")
        let record = BatchRecord(id: id, sequence: sequence, inputFileID: input.id, endpoint: endpoint,
                                 completionWindow: completionWindow, windowSeconds: windowSeconds, metadata: metadata,
                                 input: input.content, fate: fate, held: hold, created: Self.now())
        batches[id] = record
        batchOrder.append(id)
        counters.created += 1
        return record
    }

    func batch(_ id: String) -> BatchRecord? { batches[id] }

    /// Newest first: up to `limit` after the batch `after` (nil when `after` is unknown).
    func listBatches(limit: Int, after: String?) -> (page: [BatchRecord], hasMore: Bool)? {
        var ordered = batchOrder.reversed()[...]
        if let after {
            guard let index = ordered.firstIndex(of: after) else { return nil }
            ordered = ordered[ordered.index(after: index)...]
        }
        let page = ordered.prefix(limit).compactMap { batches[$0] }
        return (page, ordered.count > limit)
    }

    enum CancelOutcome {
        case cancelled(BatchRecord)
        case notFound
        case tooLate(String)
    }

    func cancel(_ id: String, now: Double) -> CancelOutcome {
        guard var record = batches[id] else { return .notFound }
        switch record.status {
        case "validating", "in_progress", "finalizing":
            if record.status == "validating" {
                // Nothing runs: no request counts, no files.
                record.lines = []
                record.total = 0
                record.successes = [0]
            }
            counters.cancelRequests += 1
            record.status = "cancelling"
            record.cancellingAt = now
            batches[id] = record
            return .cancelled(record)
        case "cancelling":
            return .cancelled(record)
        default:
            return .tooLate(record.status)
        }
    }

    func setHold(_ on: Bool, now: Double) -> Int {
        hold = on
        guard !on else { return 0 }
        var released = 0
        for id in batchOrder {
            guard var record = batches[id], record.held else { continue }
            record.held = false
            if record.status == "in_progress", record.runStart == nil { record.runStart = now }
            batches[id] = record
            released += 1
        }
        return released
    }

    // MARK: the clock

    /// Brings every batch up to `now`.
    func advanceAll(now: Double) {
        for id in batchOrder {
            guard var record = batches[id], !record.isTerminal else { continue }
            advance(&record, now: now)
            batches[id] = record
        }
    }

    private var seconds: Double { config.batchSeconds }

    private func advance(_ record: inout BatchRecord, now: Double) {
        if record.status == "validating" {
            guard let preparedAt = record.preparedAt else { return }
            let validated = max(record.created + seconds * 0.25, preparedAt)
            guard now >= validated else { return }
            if record.errors != nil {
                record.status = "failed"
                record.failedAt = validated
                return
            }
            record.status = "in_progress"
            record.inProgressAt = validated
            if !record.held { record.runStart = validated }
        }
        if record.status == "cancelling" {
            guard let cancellingAt = record.cancellingAt, now >= cancellingAt + seconds * 0.25 else { return }
            let done = doneCount(record, at: cancellingAt)
            finish(&record, done: done, unfinishedCode: "batch_cancelled",
                   unfinishedMessage: "the batch was cancelled before this request was run")
            record.status = "cancelled"
            record.cancelledAt = cancellingAt + seconds * 0.25
            return
        }
        guard let runStart = record.runStart else { return }
        if record.status == "in_progress" {
            if case .expire(let fraction) = record.fate {
                let expiresAt = runStart + seconds * 0.5 * fraction
                if now >= expiresAt {
                    let done = Int((fraction * Double(record.lines.count)).rounded(.down))
                    finish(&record, done: done, unfinishedCode: "batch_expired",
                           unfinishedMessage: "the batch expired before this request was run")
                    record.status = "expired"
                    record.expiredAt = expiresAt
                    return
                }
            }
            guard now >= runStart + seconds * 0.5 else { return }
            record.status = "finalizing"
            record.finalizingAt = runStart + seconds * 0.5
        }
        if record.status == "finalizing" {
            guard now >= runStart + seconds * 0.75 else { return }
            finish(&record, done: record.lines.count, unfinishedCode: "", unfinishedMessage: "")
            record.status = "completed"
            record.completedAt = runStart + seconds * 0.75
        }
    }

    /// How many lines are done at `time` (in input order, evenly over the run).
    func doneCount(_ record: BatchRecord, at time: Double) -> Int {
        guard let runStart = record.runStart, time >= runStart else { return 0 }
        guard seconds > 0 else { return record.total }
        let fraction = (time - runStart) / (seconds * 0.5)
        return min(record.total, Int((fraction * Double(record.total)).rounded(.down)))
    }

    /// request_counts at `now`: total, completed, failed.
    func requestCounts(_ record: BatchRecord, now: Double) -> (total: Int, completed: Int, failed: Int) {
        let total = record.total
        if record.isTerminal {
            let answered = record.successes.last ?? 0
            return (total, answered, total - answered)
        }
        let done = doneCount(record, at: record.cancellingAt.map { min($0, now) } ?? now)
        let succeeded = record.successes[min(done, record.successes.count - 1)]
        return (total, succeeded, done - succeeded)
    }

    // MARK: validation

    private func validationError(_ code: String, _ message: String, line: Int? = nil, param: String? = nil) -> JSON {
        .object([
            ("code", .string(code)),
            ("message", .string(message)),
            ("param", param.map { .string($0) } ?? .null),
            ("line", line.map { .int($0) } ?? .null),
        ])
    }

    /// Validates a batch's input and answers its lines, off the lock: run
    /// on a thread of its own from create. The lines are kept only if the
    /// batch is still validating by then (not cancelled).
    func prepare(_ id: String, answer: (BatchEndpoint, JSON) -> LineAnswer) {
        guard let record = locked({ batches[id] }) else { return }
        let (errors, parsed) = validated(record)
        var lines: [BatchLine] = []
        if errors == nil {
            let failures = locked { parsed.map { lineFailure(endpoint: record.endpoint, body: $0.body) } }
            lines.reserveCapacity(parsed.count)
            for (index, (item, failure)) in zip(parsed, failures).enumerated() {
                let lineAnswer = failure ?? answer(record.endpoint, item.body)
                lines.append(BatchLine(customID: item.customID,
                                       encoded: Self.encodedLine(batchID: record.id, index: index, customID: item.customID,
                                                                 answer: lineAnswer),
                                       succeeded: lineAnswer.statusCode == 200, promptTokens: lineAnswer.promptTokens,
                                       completionTokens: lineAnswer.completionTokens))
            }
        }
        locked {
            guard var current = batches[id] else { return }
            current.preparedAt = Self.now()
            current.input = []
            if current.status == "validating" {
                current.errors = errors
                current.total = lines.count
                var successes = [0]
                successes.reserveCapacity(lines.count + 1)
                for line in lines { successes.append((successes.last ?? 0) + (line.succeeded ? 1 : 0)) }
                current.successes = successes
                current.lines = lines
            }
            batches[id] = current
        }
    }

    private func validated(_ record: BatchRecord) -> (errors: [JSON]?, lines: [(customID: String, body: JSON)]) {
        if case .failValidation = record.fate {
            return ([validationError("injected_validation_error",
                                             "injected fault: the input file \(record.inputFileID) failed validation")], [])
        }
        let input = record.input
        guard input.count <= config.batchMaxBytes else {
            return ([validationError("file_too_large",
                                     "the input file \(record.inputFileID) has \(input.count) bytes, more than the \(config.batchMaxBytes) a batch takes")], [])
        }
        var rawLines = input.split(separator: 0x0a, omittingEmptySubsequences: false)
        // Blank lines at the end (a final newline) are no requests.
        while let last = rawLines.last, last.allSatisfy({ $0 == 0x20 || $0 == 0x0d || $0 == 0x09 }) { rawLines.removeLast() }
        guard !rawLines.isEmpty else {
            return ([validationError("empty_file", "the input file \(record.inputFileID) has no requests")], [])
        }
        guard rawLines.count <= config.batchMaxRequests else {
            return ([validationError("too_many_tasks",
                                     "the input file \(record.inputFileID) has \(rawLines.count) requests, more than the \(config.batchMaxRequests) a batch takes")], [])
        }
        var errors: [JSON] = []
        var seen = Set<String>()
        var parsed: [(customID: String, body: JSON)] = []
        parsed.reserveCapacity(rawLines.count)
        var model: (name: String, line: Int)?
        for (index, raw) in rawLines.enumerated() where errors.count < 1000 {
            let line = index + 1
            var bytes = Array(raw)
            if bytes.last == 0x0d { bytes.removeLast() }
            guard let json = try? JSONParser.parse(bytes), case .object = json else {
                errors.append(validationError("invalid_json_line", "line \(line) is not a JSON object", line: line))
                continue
            }
            guard let customID = json["custom_id"]?.string, !customID.isEmpty else {
                errors.append(validationError("missing_required_parameter",
                                              "line \(line) has no custom_id (a non-empty string)", line: line, param: "custom_id"))
                continue
            }
            guard seen.insert(customID).inserted else {
                errors.append(validationError("duplicate_custom_id",
                                              "line \(line): custom_id '\(customID)' is used by an earlier line", line: line, param: "custom_id"))
                continue
            }
            guard let method = json["method"]?.string else {
                errors.append(validationError("missing_required_parameter", "line \(line) has no method", line: line, param: "method"))
                continue
            }
            guard method == "POST" else {
                errors.append(validationError("invalid_method", "line \(line): method is '\(method)'; only POST is supported",
                                              line: line, param: "method"))
                continue
            }
            guard let url = json["url"]?.string else {
                errors.append(validationError("missing_required_parameter", "line \(line) has no url", line: line, param: "url"))
                continue
            }
            guard url == record.endpoint.rawValue else {
                errors.append(validationError("url_mismatch",
                                              "line \(line): url '\(url)' is not the batch's endpoint '\(record.endpoint.rawValue)'",
                                              line: line, param: "url"))
                continue
            }
            guard let body = json["body"], case .object = body else {
                errors.append(validationError("missing_required_parameter", "line \(line) has no body (a JSON object)",
                                              line: line, param: "body"))
                continue
            }
            if let name = body["model"]?.string {
                if let model, model.name != name {
                    errors.append(validationError("model_mismatch",
                                                  "line \(line): model '\(name)' differs from '\(model.name)' on line \(model.line); a batch takes one model",
                                                  line: line, param: "body.model"))
                    continue
                }
                if model == nil { model = (name, line) }
            }
            parsed.append((customID, body))
        }
        return errors.isEmpty ? (nil, parsed) : (errors, [])
    }

    /// An injected line failure (--batch-line-failure-rate), or nil for the live answer.
    private func lineFailure(endpoint: BatchEndpoint, body: JSON) -> LineAnswer? {
        if config.batchLineFailureRate > 0 {
            var key = StableHash()
            key.add("batch-line")
            key.separator()
            key.add(endpoint.rawValue)
            key.separator()
            key.add(JSONWriter.encode(body, sortKeys: true))
            var (rng, eligible) = draws(key.mixed)
            if eligible, rng.unit() < config.batchLineFailureRate {
                if rng.unit() < 0.5 {
                    return LineAnswer(statusCode: 500, body: HTTPResponse.errorBody(
                        "injected fault: the server had an error while processing the request",
                        type: "server_error", code: "injected_error"))
                }
                return LineAnswer(statusCode: 400, body: HTTPResponse.errorBody(
                    "injected fault: the request was refused by the content filter",
                    type: "invalid_request_error", code: "content_filter", param: "messages"))
            }
        }
        return nil
    }

    static func lineID(batchID: String, index: Int) -> String {
        "batch_req_" + StableHash(batchID, String(index)).mixed.hex16
    }

    private static func encodedLine(batchID: String, index: Int, customID: String, answer: LineAnswer) -> [UInt8] {
        var requestID = StableHash(batchID, customID)
        let high = requestID.mixed
        requestID.separator()
        return JSONWriter.encode(.object([
            ("id", .string(lineID(batchID: batchID, index: index))),
            ("custom_id", .string(customID)),
            ("response", .object([
                ("status_code", .int(answer.statusCode)),
                ("request_id", .string(high.hex16 + requestID.mixed.hex16)),
                ("body", answer.body),
            ])),
            ("error", .null),
        ]))
    }

    // MARK: output and error files

    /// Writes the output file (answered lines) and the error file (refused
    /// lines, then the `unfinished` ones from `done` on), and counts them.
    private func finish(_ record: inout BatchRecord, done: Int, unfinishedCode: String, unfinishedMessage: String) {
        var output: [[UInt8]] = []
        var errors: [[UInt8]] = []
        for (index, line) in record.lines.enumerated() {
            if index >= done {
                errors.append(JSONWriter.encode(.object([
                    ("id", .string(Self.lineID(batchID: record.id, index: index))),
                    ("custom_id", .string(line.customID)),
                    ("response", .null),
                    ("error", .object([("code", .string(unfinishedCode)), ("message", .string(unfinishedMessage))])),
                ])))
                if unfinishedCode == "batch_expired" { counters.linesExpired += 1 } else { counters.linesCancelled += 1 }
                continue
            }
            if line.succeeded {
                output.append(line.encoded)
                counters.linesAnswered += 1
                counters.promptTokens += line.promptTokens
                counters.completionTokens += line.completionTokens
            } else {
                errors.append(line.encoded)
                counters.linesFailed += 1
            }
        }
        // The answered prefix counts as the successes; the rest failed.
        record.successes = [0, record.successes[min(done, record.successes.count - 1)]]
        record.lines.removeAll()
        if config.batchOutputOrder == .shuffled {
            var hash = StableHash(record.id)
            hash.add(config.seed)
            var rng = SeededRandom(seed: hash.mixed)
            shuffle(&output, &rng)
            shuffle(&errors, &rng)
        }
        func write(_ lines: [[UInt8]], _ suffix: String) -> String? {
            guard !lines.isEmpty else { return nil }
            var content: [UInt8] = []
            content.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
            for line in lines {
                content.append(contentsOf: line)
                content.append(0x0a)
            }
            return addFile(filename: "\(record.id)_\(suffix).jsonl", purpose: "batch_output", content: content).id
        }
        record.outputFileID = write(output, "output")
        record.errorFileID = write(errors, "error")
    }

    private func shuffle(_ lines: inout [[UInt8]], _ rng: inout SeededRandom) {
        guard lines.count > 1 else { return }
        for i in stride(from: lines.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            lines.swapAt(i, j)
        }
    }

    // MARK: /stats

    func resetStats() {
        counters = BatchCounters()
        attempts = [:]
        statsFrom = sequence + 1
    }

    func snapshot(now: Double, render: (BatchRecord) -> JSON) -> JSON {
        let recent = batchOrder.compactMap { batches[$0] }.filter { $0.sequence >= statsFrom }
        var byStatus: [(String, JSON)] = []
        for status in ["validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"] {
            byStatus.append((status, .int(recent.filter { $0.status == status }.count)))
        }
        return .object([
            ("files_uploaded", .int(counters.filesUploaded)),
            ("bytes_uploaded", .int(counters.bytesUploaded)),
            ("files_deleted", .int(counters.filesDeleted)),
            ("upload_errors", .int(counters.uploadErrors)),
            ("poll_errors", .int(counters.pollErrors)),
            ("created", .int(counters.created)),
            ("create_dropped", .int(counters.createDropped)),
            ("cancel_requests", .int(counters.cancelRequests)),
            ("by_status", .object(byStatus)),
            ("lines_answered", .int(counters.linesAnswered)),
            ("lines_failed", .int(counters.linesFailed)),
            ("lines_expired", .int(counters.linesExpired)),
            ("lines_cancelled", .int(counters.linesCancelled)),
            ("prompt_tokens", .int(counters.promptTokens)),
            ("completion_tokens", .int(counters.completionTokens)),
            ("hold", .bool(hold)),
            ("submissions", .array(recent.map(render))),
        ])
    }
}
