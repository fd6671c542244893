import Foundation
import Logging
import PipelineJSON
import PipelineRetry

/// The provider's Files and Batches endpoints, in the shape of the OpenAI
/// Batch API: `POST /files` (multipart, purpose "batch"), `GET
/// /files/{id}/content`, `POST /batches`, `GET /batches/{id}`, `GET
/// /batches?after=`, `POST /batches/{id}/cancel`; paths under the LLM's
/// base URL. Calls block the calling thread (never the HTTP engine's).
struct BatchAPI: Sendable {
    let llm: String
    let baseURL: String
    let displayURL: String
    let apiKey: String?
    /// Seconds for a JSON call; uploads and downloads get at least 10 minutes.
    let timeout: Double
    let policy: RetryPolicy
    let logger: Logger

    init(config: LLMConfig, logger: Logger) {
        llm = config.name
        baseURL = config.baseURL
        displayURL = config.displayURL
        apiKey = config.apiKey
        timeout = config.timeout
        policy = config.retryPolicy
        self.logger = logger
    }

    /// How a call ended.
    enum Outcome {
        case ok([UInt8])
        /// A status not worth retrying: the provider said no.
        case refused(status: Int, message: String)
        /// No answer, or a retryable status on the last attempt: the
        /// provider may or may not have done it.
        case unknown(String)
    }

    /// Sends a request, retrying no answer and 408/409/429/5xx with the LLM's
    /// policy (Retry-After as a floor) unless `once`.
    func send(_ method: String, _ path: String, body: [UInt8] = [], contentType: String = "application/json",
              transfer: Bool = false, once: Bool = false) -> Outcome {
        var headers = ["Accept: application/json"]
        if method == "POST" { headers.append("Content-Type: \(contentType)") }
        if let apiKey { headers.append("Authorization: Bearer \(apiKey)") }
        var request = HTTPRequest(url: baseURL + path, headers: headers, body: body,
                                  timeout: transfer ? max(timeout, 600) : timeout, method: method)
        // Sent at most once: libcurl must not send it again by itself.
        request.freshConnection = once
        var attempt = 0
        while true {
            attempt += 1
            let exchange = HTTPEngine.shared.perform(request)
            let message: String
            var serverDelay: Double?
            if let failure = exchange.failure {
                message = "no response from \(displayURL): \(failure)"
            } else if (200..<300).contains(exchange.status) {
                return .ok(exchange.body)
            } else {
                let detail = LLMClient.errorMessage(exchange.body).map { ": \($0)" } ?? ""
                let key = exchange.status == 401 || exchange.status == 403 ? " (check the API key)" : ""
                message = "HTTP \(exchange.status)\(key)\(detail)"
                guard policy.isRetryable(status: exchange.status) else {
                    return .refused(status: exchange.status, message: message)
                }
                if let value = HTTPExchange.header("Retry-After", in: exchange.headers) {
                    serverDelay = RetryAfter.delay(value, responseDate: HTTPExchange.header("Date", in: exchange.headers),
                                                   now: Date().timeIntervalSince1970)
                }
            }
            guard !once, policy.allowsRetry(afterAttempt: attempt) else {
                return .unknown(attempt == 1 ? message : "\(message) (after \(attempt) attempts)")
            }
            let delay = policy.delay(afterAttempt: attempt, serverDelay: serverDelay)
            logger.debug("llm \(llm): \(method) \(path): \(message); again in \(String(format: "%.2f", delay)) s")
            Thread.sleep(forTimeInterval: delay)
        }
    }

    /// The JSON object of a successful call, or a typed error naming `what`.
    private func json(_ outcome: Outcome, _ what: String) throws(BatchError) -> JSONValue {
        switch outcome {
        case .ok(let body):
            guard let text = String(validating: body, as: UTF8.self), let value = try? JSONValue(parsing: text),
                  value.objectValue != nil else {
                throw BatchError(.damaged, "llm \(llm): \(what): the provider's answer is not a JSON object: "
                                 + String(decoding: body.prefix(200), as: UTF8.self))
            }
            return value
        case .refused(_, let message), .unknown(let message):
            throw BatchError(.provider, "llm \(llm): \(what) (\(displayURL)): \(message)")
        }
    }

    /// Uploads a batch input file; its file id.
    func upload(_ file: [UInt8], filename: String) throws(BatchError) -> String {
        var boundary = "pipeline-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        // The boundary must not occur in the file: JSON lines never hold one
        // this random, but check anyway.
        while Self.contains(file, Array(boundary.utf8)) { boundary += "x" }
        var body: [UInt8] = []
        body.reserveCapacity(file.count + 512)
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n".utf8)
        body += Array(("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\n"
            + "Content-Type: application/jsonl\r\n\r\n").utf8)
        body += file
        body += Array("\r\n--\(boundary)--\r\n".utf8)
        let what = "upload of batch file \(filename) (\(file.count) bytes)"
        let value = try json(send("POST", "/files", body: body, contentType: "multipart/form-data; boundary=\(boundary)",
                                  transfer: true), what)
        guard let id = value["id"]?.stringValue, !id.isEmpty else {
            throw BatchError(.damaged, "llm \(llm): \(what): the provider's answer has no file id: \(value.serialized.prefix(200))")
        }
        return id
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return haystack.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { pin in
                var index = 0
                let last = hay.count - pin.count
                while index <= last {
                    if hay[index] == pin[0] {
                        var offset = 1
                        while offset < pin.count && hay[index + offset] == pin[offset] { offset += 1 }
                        if offset == pin.count { return true }
                    }
                    index += 1
                }
                return false
            }
        }
    }

    /// Asks for a batch, once: an unknown outcome is resolved by the caller
    /// (by listing), never by asking again blindly.
    func create(fileID: String, endpoint: String, window: String, metadata: [String: String]) -> Outcome {
        let body = JSONValue.object([
            "input_file_id": .string(fileID), "endpoint": .string(endpoint), "completion_window": .string(window),
            "metadata": .object(metadata.mapValues { .string($0) }),
        ])
        var bytes = JSONBytes(capacity: 256)
        bytes.value(body)
        return send("POST", "/batches", body: bytes.bytes, once: true)
    }

    /// Parses a created batch.
    func batch(_ outcome: Outcome, _ what: String) throws(BatchError) -> ProviderBatch {
        let value = try json(outcome, what)
        guard let batch = ProviderBatch(value) else {
            throw BatchError(.damaged, "llm \(llm): \(what): the provider's answer is not a batch: \(value.serialized.prefix(300))")
        }
        return batch
    }

    func retrieve(_ batchID: String) throws(BatchError) -> ProviderBatch {
        try batch(send("GET", "/batches/\(batchID)"), "status of batch \(batchID)")
    }

    func cancel(_ batchID: String) throws(BatchError) -> ProviderBatch {
        try batch(send("POST", "/batches/\(batchID)/cancel"), "cancel of batch \(batchID)")
    }

    /// One page of the provider's batches, newest first.
    func list(after: String?) throws(BatchError) -> (batches: [ProviderBatch], hasMore: Bool) {
        var path = "/batches?limit=100"
        if let after { path += "&after=\(after)" }
        let value = try json(send("GET", path), "list of batches")
        guard let data = value["data"]?.arrayValue else {
            throw BatchError(.damaged, "llm \(llm): list of batches: the provider's answer has no data: \(value.serialized.prefix(300))")
        }
        return (data.compactMap(ProviderBatch.init), value["has_more"]?.boolValue ?? false)
    }

    /// The bytes of a file (a batch's output or error file).
    func content(_ fileID: String) throws(BatchError) -> [UInt8] {
        switch send("GET", "/files/\(fileID)/content", transfer: true) {
        case .ok(let body): return body
        case .refused(_, let message), .unknown(let message):
            throw BatchError(.provider, "llm \(llm): download of file \(fileID) (\(displayURL)): \(message)")
        }
    }
}

/// A batch as the provider describes it.
struct ProviderBatch: Sendable {
    var id: String
    var status: String
    var created: Double?
    var outputFileID: String?
    var errorFileID: String?
    var total = 0
    var completed = 0
    var failed = 0
    var metadata: [String: String] = [:]
    /// The batch's own errors (a failed validation), as text.
    var errors: String?

    init?(_ value: JSONValue) {
        guard let id = value["id"]?.stringValue, let status = value["status"]?.stringValue else { return nil }
        self.id = id
        self.status = status
        created = value["created_at"]?.doubleValue
        outputFileID = value["output_file_id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        errorFileID = value["error_file_id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        let counts = value["request_counts"]
        total = Int(counts?["total"]?.int64Value ?? 0)
        completed = Int(counts?["completed"]?.int64Value ?? 0)
        failed = Int(counts?["failed"]?.int64Value ?? 0)
        for (key, item) in value["metadata"]?.objectValue ?? [:] { if let text = item.stringValue { metadata[key] = text } }
        let messages = (value["errors"]?["data"]?.arrayValue ?? []).compactMap { error -> String? in
            guard let message = error["message"]?.stringValue ?? error["code"]?.stringValue else { return nil }
            if let line = error["line"]?.int64Value { return "line \(line): \(message)" }
            return message
        }
        errors = messages.isEmpty ? nil : messages.joined(separator: "; ")
    }

    /// The provider will not change it any more.
    var finished: Bool { ["completed", "failed", "expired", "cancelled"].contains(status) }
}
