import Foundation
import PipelineHashing
import Logging
import PipelineJSON
import PipelineSQLite

/// The requests of one LLM with `batch:`, sent through the provider's Batch
/// API, each exactly once across kills and runs.
///
/// Record, then act: a chunk's requests and the sha256 of its file are
/// stored before the upload, the file id before the batch is created, the
/// batch id as soon as the provider gives it. A chunk with a file id whose
/// create may have reached the provider ("creating") is looked for among
/// the provider's batches (by the metadata every batch carries:
/// `pipeline_run`, `pipeline_chunk`, `pipeline_llm`) before it is created
/// again, so a batch is never created twice for a chunk. [thread-safe]
package final class ProviderBatches: @unchecked Sendable {
    /// The state file in a run directory.
    package static let fileName = "batches.db"

    package let name: String
    package let settings: BatchSettings
    package let runID: String
    private let store: BatchStore
    private let api: BatchAPI
    private let logger: Logger
    /// Submitting, polling and cancelling happen one at a time.
    private let work = NSLock()
    /// The wait before the next poll.
    private var pollDelay: Double {
        get { delayLock.withLock { delay } }
        set { delayLock.withLock { delay = newValue } }
    }
    private var delay: Double
    private let delayLock = NSLock()
    /// Set by `cancelOpen`: polls submit nothing more in this process. [under `work`]
    private var cancelled = false

    /// Where a test stops the work as a kill would (the state stored so far
    /// is all a fresh object on the same file gets).
    enum KillPoint: Sendable {
        /// A chunk is recorded, its file not uploaded.
        case afterRecord
        /// The file is uploaded and its id stored; no create sent.
        case afterUpload
        /// The chunk is marked "creating"; no create sent.
        case beforeCreate
        /// The create was sent and the provider made the batch; its answer is lost.
        case afterCreate
        /// A batch finished; its files are not downloaded.
        case beforeCollect
    }

    /// [tests] Set, the work stops at that point with a `.store` error. [under `work`]
    var killPoint: KillPoint?

    private func reach(_ point: KillPoint) throws(BatchError) {
        if killPoint == point { throw BatchError(.store, "llm \(name): stopped at \(point) (a simulated kill)") }
    }

    /// The state is in `path` (RUN_DIR/batches.db); `runID` tags every batch
    /// this object creates (its `pipeline_run` metadata).
    package init(path: String, llm: LLMConfig, settings: BatchSettings, runID: String,
                 logger: Logger = Logger(label: "pipeline.batch")) throws(BatchError) {
        name = llm.name
        self.settings = settings
        self.runID = runID
        self.logger = logger
        store = try BatchStore(path: path)
        api = BatchAPI(config: llm, logger: logger)
        delay = settings.pollSeconds
    }

    // MARK: Requests

    /// [thread-safe] One request: its answer when a finished batch holds it;
    /// its final failure (the provider's reason) when it failed and no
    /// resubmission is left; otherwise it is recorded (if new) and pending.
    /// `customID` is the caller's stable key of the request (the same
    /// request has the same id in every run); `endpoint` is its path under
    /// the base URL, as a live call sends it ("/chat/completions"), and
    /// `body` its JSON body.
    package func answer(customID: String, endpoint: String, body: [UInt8]) throws(BatchError) -> BatchAnswer {
        try store.answer(llm: name, customID: customID, endpoint: endpoint, body: body)
    }

    /// [thread-safe] Where the requests are, without asking the provider.
    package func progress() throws(BatchError) -> BatchProgress {
        var progress = try store.progress(llm: name)
        progress.nextPollSeconds = pollDelay
        return progress
    }

    /// The batch endpoint of a request path: "/v1/chat/completions" for "/chat/completions".
    static func batchEndpoint(_ endpoint: String) -> String {
        endpoint.hasPrefix("/v1/") ? endpoint : "/v1" + (endpoint.hasPrefix("/") ? endpoint : "/" + endpoint)
    }

    // MARK: Submitting

    /// [thread-safe] Finishes submitting the chunks an earlier call or
    /// process left on the way, then puts every recorded request that no
    /// batch holds into chunks (at most `max_requests` lines and `max_bytes`
    /// per file, one endpoint per batch) and submits each: recorded,
    /// uploaded, created.
    package func submitPending() throws(BatchError) {
        work.lock()
        defer { work.unlock() }
        try submitLocked()
    }

    private func submitLocked() throws(BatchError) {
        for chunk in try store.chunks(llm: name, states: [.recorded, .uploaded, .creating]) {
            try advance(chunk, file: nil)
        }
        let requests = try store.unsubmitted(llm: name)
        guard !requests.isEmpty else { return }
        var byEndpoint: [String: [(seq: Int64, customID: String, endpoint: String, bodyBytes: Int)]] = [:]
        var endpoints: [String] = []
        for request in requests {
            if byEndpoint[request.endpoint] == nil { endpoints.append(request.endpoint) }
            byEndpoint[request.endpoint, default: []].append(request)
        }
        for endpoint in endpoints {
            let url = Self.batchEndpoint(endpoint)
            var seqs: [Int64] = []
            var bytes = 0
            for request in byEndpoint[endpoint] ?? [] {
                let size = Self.line(customID: request.customID, url: url, body: []).count + request.bodyBytes
                if size > settings.maxBytes {
                    try store.fail(seq: request.seq, reason: "llm \(name): the request \(request.customID) is \(size) bytes as a "
                                   + "batch line, more than max_bytes (\(settings.maxBytes)): it cannot go into a batch")
                    continue
                }
                if seqs.count == settings.maxRequests || bytes + size > settings.maxBytes {
                    try submitChunk(seqs: seqs, endpoint: endpoint)
                    seqs.removeAll()
                    bytes = 0
                }
                seqs.append(request.seq)
                bytes += size
            }
            if !seqs.isEmpty { try submitChunk(seqs: seqs, endpoint: endpoint) }
        }
    }

    /// One line of a batch input file, with its newline.
    static func line(customID: String, url: String, body: [UInt8]) -> [UInt8] {
        var line = JSONBytes.object([("custom_id", .string(customID)), ("method", .string("POST")), ("url", .string(url)),
                                     ("body", .raw(body))], capacity: body.count + customID.utf8.count + 80).bytes
        line.append(0x0A)
        return line
    }

    /// The input file of requests (custom id, body), in that order.
    static func file(_ requests: [(customID: String, body: [UInt8])], endpoint: String) -> [UInt8] {
        let url = batchEndpoint(endpoint)
        var file: [UInt8] = []
        file.reserveCapacity(requests.reduce(0) { $0 + $1.body.count + $1.customID.utf8.count + 80 })
        for request in requests { file += line(customID: request.customID, url: url, body: request.body) }
        return file
    }

    /// Records a chunk of requests with its file's hash, then submits it.
    private func submitChunk(seqs: [Int64], endpoint: String) throws(BatchError) {
        let file = Self.file(try store.bodies(seqs: seqs), endpoint: endpoint)
        let id = "c" + String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF, radix: 16)
        let chunk = ChunkRecord(id: id, llm: name, run: runID, endpoint: endpoint, state: .recorded, sha256: SHA.sha256Hex(file),
                                bytes: file.count, requests: seqs.count, recorded: Date().timeIntervalSince1970,
                                completed: 0, failed: 0)
        try store.record(chunk, seqs: seqs)
        try reach(.afterRecord)
        logger.debug("llm \(name): chunk \(id) recorded: \(seqs.count) requests, \(file.count) bytes")
        try advance(chunk, file: file)
    }

    /// Takes a chunk from where it is to an open batch.
    private func advance(_ record: ChunkRecord, file: [UInt8]?) throws(BatchError) {
        var chunk = record
        if chunk.state == .recorded {
            let bytes: [UInt8]
            if let file { bytes = file } else { bytes = try rebuild(chunk) }
            let fileID = try api.upload(bytes, filename: "pipeline-\(chunk.id).jsonl")
            try store.setUploaded(chunk: chunk.id, fileID: fileID)
            chunk.fileID = fileID
            chunk.state = .uploaded
            logger.debug("llm \(name): chunk \(chunk.id) uploaded as file \(fileID)")
            try reach(.afterUpload)
        }
        if chunk.state == .creating, let batch = try find(chunk) {
            try opened(chunk, batch, how: "found among the provider's batches")
            return
        }
        guard let fileID = chunk.fileID else {
            throw BatchError(.damaged, "llm \(name): chunk \(chunk.id) is \(chunk.state.rawValue) without a file id (\(store.path))")
        }
        try store.setState(chunk: chunk.id, .creating)
        try reach(.beforeCreate)
        try create(chunk, fileID: fileID)
    }

    /// The chunk's file as recorded: rebuilt from its requests, checked against the stored hash.
    private func rebuild(_ chunk: ChunkRecord) throws(BatchError) -> [UInt8] {
        let file = Self.file(try store.chunkRequests(chunk: chunk.id).map { ($0.customID, $0.body) }, endpoint: chunk.endpoint)
        guard SHA.sha256Hex(file) == chunk.sha256 else {
            throw BatchError(.damaged, "llm \(name): chunk \(chunk.id): its requests no longer make the file that was "
                             + "recorded (sha256 \(chunk.sha256)); the batch state \(store.path) is damaged")
        }
        return file
    }

    /// Creates the chunk's batch. An unknown outcome (no answer, 5xx) is
    /// resolved by listing before another create; a refusal (4xx) means no
    /// batch was made.
    private func create(_ chunk: ChunkRecord, fileID: String) throws(BatchError) {
        let metadata = ["pipeline_run": chunk.run, "pipeline_chunk": chunk.id, "pipeline_llm": name]
        let what = "create of the batch of chunk \(chunk.id) (file \(fileID))"
        let policy = api.policy
        var attempt = 0
        while true {
            attempt += 1
            let outcome = api.create(fileID: fileID, endpoint: Self.batchEndpoint(chunk.endpoint),
                                     window: settings.completionWindow, metadata: metadata)
            switch outcome {
            case .ok:
                try reach(.afterCreate)
                try opened(chunk, try api.batch(outcome, what), how: "created")
                return
            case .refused(_, let message):
                try store.setState(chunk: chunk.id, .uploaded)
                throw BatchError(.provider, "llm \(name): \(what): the provider refused: \(message)")
            case .unknown(let message):
                logger.warning("llm \(name): \(what): \(message); looking for it among the provider's batches")
                guard policy.allowsRetry(afterAttempt: attempt) else {
                    throw BatchError(.provider, "llm \(name): \(what): \(message) (after \(attempt) attempts); the next "
                                     + "submit looks for it among the provider's batches before creating it")
                }
                Thread.sleep(forTimeInterval: policy.delay(afterAttempt: attempt))
                if let batch = try find(chunk) {
                    try opened(chunk, batch, how: "found among the provider's batches")
                    return
                }
            }
        }
    }

    private func opened(_ chunk: ChunkRecord, _ batch: ProviderBatch, how: String) throws(BatchError) {
        try store.setOpen(chunk: chunk.id, batchID: batch.id, status: batch.status, created: batch.created)
        pollDelay = settings.pollSeconds
        logger.info("llm \(name): batch \(batch.id) \(how) for \(chunk.requests) requests (chunk \(chunk.id), \(chunk.bytes) bytes)")
    }

    /// The provider's batch of a chunk, by its metadata; nil when it has none.
    private func find(_ chunk: ChunkRecord) throws(BatchError) -> ProviderBatch? {
        var after: String?
        while true {
            let page = try api.list(after: after)
            if let batch = page.batches.first(where: {
                $0.metadata["pipeline_run"] == chunk.run && $0.metadata["pipeline_chunk"] == chunk.id
                    && ($0.metadata["pipeline_llm"] ?? name) == name
            }) { return batch }
            guard page.hasMore, let last = page.batches.last else { return nil }
            // Newest first (as OpenAI lists): once a page reaches batches an
            // hour older than the chunk (clocks differ), none later is its.
            let times = page.batches.compactMap(\.created)
            if times.count == page.batches.count, zip(times, times.dropFirst()).allSatisfy({ $0 >= $1 }),
               let oldest = times.last, oldest < chunk.recorded - 3600 {
                return nil
            }
            after = last.id
        }
    }

    // MARK: Polling

    /// [thread-safe] Asks the provider once about each open batch; stores
    /// every line of those that finished (answers; failed and expired lines
    /// go into a follow-up batch up to `resubmit` times, then fail with the
    /// provider's reason), then submits what is unsubmitted (those
    /// resubmissions and requests recorded since), unless `cancelOpen` was
    /// called.
    package func poll() throws(BatchError) -> BatchProgress {
        work.lock()
        defer { work.unlock() }
        var finished = false
        for chunk in try store.chunks(llm: name, states: [.open]) {
            guard let batchID = chunk.batchID else { continue }
            let batch = try api.retrieve(batchID)
            if batch.finished {
                try reach(.beforeCollect)
                try collect(chunk, batch)
                finished = true
            } else {
                try store.setProviderStatus(chunk: chunk.id, status: batch.status, completed: batch.completed, failed: batch.failed)
            }
        }
        if !cancelled { try submitLocked() }
        if finished { pollDelay = settings.pollSeconds }
        var progress = try store.progress(llm: name)
        progress.nextPollSeconds = pollDelay
        if !finished { pollDelay = min(pollDelay * 2, settings.maxPollSeconds) }
        return progress
    }

    /// Stores what a finished batch says about each of its requests.
    private func collect(_ chunk: ChunkRecord, _ batch: ProviderBatch) throws(BatchError) {
        var outcomes: [String: LineOutcome] = [:]
        for fileID in [batch.outputFileID, batch.errorFileID].compactMap({ $0 }) {
            let bytes = try api.content(fileID)
            var number = 0
            for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
                number += 1
                guard let text = String(validating: line, as: UTF8.self), let value = try? JSONValue(parsing: text),
                      let customID = value["custom_id"]?.stringValue else {
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
                    throw BatchError(.damaged, "llm \(name): batch \(batch.id): line \(number) of file \(fileID) is not a "
                                     + "JSON object with a custom_id: \(String(decoding: line.prefix(200), as: UTF8.self))")
                }
                let outcome = lineOutcome(value)
                // A line answered twice keeps the answer.
                if case .answered? = outcomes[customID] { continue }
                outcomes[customID] = outcome
            }
        }
        let missing: LineOutcome
        switch batch.status {
        case "cancelled": missing = .requeue
        case "expired": missing = .retry(reason: "the batch expired before the request ran (completion window \(settings.completionWindow))")
        case "failed": missing = .retry(reason: "the batch failed" + (batch.errors.map { ": \($0)" } ?? ""))
        default: missing = .retry(reason: "the batch ended (\(batch.status)) without a line for the request")
        }
        if batch.status == "cancelled" {
            // What a cancelled batch did not run goes back to be submitted, not failed.
            for (key, outcome) in outcomes { if case .retry = outcome { outcomes[key] = .requeue } }
        }
        let counts = try store.finish(
            chunk: chunk.id, status: batch.status, completed: batch.completed, failed: batch.failed, outcomes: outcomes,
            missing: missing, resubmit: settings.resubmit,
            final: { [name] reason, submissions in
                "llm \(name): batch \(batch.id): \(reason)" + (submissions > 1 ? " (in \(submissions) batches)" : "")
            })
        logger.info("""
            llm \(name): batch \(batch.id) \(batch.status): \(counts.answered) answered, \
            \(counts.resubmitted) to submit again, \(counts.failed) failed
            """)
    }

    /// What one line of an output or error file says.
    private func lineOutcome(_ line: JSONValue) -> LineOutcome {
        if let response = line["response"], response.objectValue != nil, let status = response["status_code"]?.int64Value {
            var body = JSONBytes(capacity: 1024)
            body.value(response["body"] ?? .null)
            if status == 200 { return .answered(status: 200, body: body.bytes) }
            if api.policy.isRetryable(status: Int(status)) {
                return .retry(reason: "HTTP \(status)" + (LLMClient.errorMessage(body.bytes).map { ": \($0)" } ?? ""))
            }
            return .answered(status: Int(status), body: body.bytes)
        }
        let error = line["error"]
        let code = error?["code"]?.stringValue
        let message = error?["message"]?.stringValue ?? error?.stringValue
        switch (code, message) {
        case let (code?, message?): return .retry(reason: "\(code): \(message)")
        case let (code?, nil): return .retry(reason: code)
        case let (nil, message?): return .retry(reason: message)
        case (nil, nil): return .retry(reason: "no response and no error in the batch's files")
        }
    }

    // MARK: Cancelling

    /// [thread-safe] Asks the provider to cancel every open batch. What was
    /// answered is kept; what a cancelled batch did not run goes back to be
    /// submitted by a later run (a poll collects a cancelled batch but no
    /// longer submits). Chunks not yet created stay recorded.
    package func cancelOpen() throws(BatchError) {
        work.lock()
        defer { work.unlock() }
        cancelled = true
        for chunk in try store.chunks(llm: name, states: [.creating]) {
            if let batch = try find(chunk) {
                try store.setOpen(chunk: chunk.id, batchID: batch.id, status: batch.status, created: batch.created)
            } else {
                try store.setState(chunk: chunk.id, .uploaded)
            }
        }
        var failures: [String] = []
        for chunk in try store.chunks(llm: name, states: [.open]) {
            guard let batchID = chunk.batchID else { continue }
            do {
                let batch = try api.cancel(batchID)
                try store.setProviderStatus(chunk: chunk.id, status: batch.status, completed: batch.completed, failed: batch.failed)
                logger.info("llm \(name): batch \(batchID) (chunk \(chunk.id)): cancel asked, now \(batch.status)")
            } catch {
                // A batch that finished meanwhile cannot be cancelled: the next poll collects it.
                if let batch = try? api.retrieve(batchID), batch.finished { continue }
                failures.append(error.message)
            }
        }
        if !failures.isEmpty { throw BatchError(.provider, failures.joined(separator: "; ")) }
    }

    // MARK: Summary

    /// Read-only: the progress of every LLM in a batch state file (for
    /// `pipeline runs`); empty when there is no such file.
    package static func pendingSummary(path: String) -> [BatchProgress] {
        guard FileManager.default.fileExists(atPath: path),
              let database = try? SQLiteDatabase(path: path, create: false) else { return [] }
        do {
            return try BatchStore.llms(database).map { name throws(StoreError) in try BatchStore.progress(database, llm: name) }
        } catch {
            return []
        }
    }
}
