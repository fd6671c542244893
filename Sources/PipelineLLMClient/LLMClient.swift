import Foundation
import Synchronization
import PipelineJSON
import PipelineBase
import PipelineRetry

/// One chat request of a step.
package struct ChatRequest: Sendable {
    package var prompt: String?
    package var system: String?
    /// An OpenAI "messages" array, instead of prompt and system.
    package var messages: JSONValue?
    /// Generation parameters over the LLM's defaults.
    package var options: [String: JSONValue] = [:]
    package var generation = 0
    /// The `_row_id` of the input row the request is for, when the plugin
    /// says (ABI 1.5): keys a sampled answer under `cache: always` and
    /// names the row in the teacher I/O log.
    package var row: UInt64?

    package init(prompt: String? = nil, system: String? = nil, messages: JSONValue? = nil,
                 options: [String: JSONValue] = [:], generation: Int = 0, row: UInt64? = nil) {
        self.prompt = prompt
        self.system = system
        self.messages = messages
        self.options = options
        self.generation = generation
        self.row = row
    }
}

/// How a request ended, in the client's own terms (the plugin-facing LLM
/// service maps it to a `pipeline_status`).
package enum LLMStatus: Sendable, Hashable {
    case ok
    /// No answer, or an HTTP error status.
    case io
    /// No answer within the configured timeout.
    case timeout
    /// An answer that is not the JSON the API specifies.
    case invalidData
    /// The client lost the request (a bug).
    case `internal`
}

/// The outcome of one chat request, after retries.
package struct ChatResponse: Sendable {
    package var status: LLMStatus
    package var text: String?
    package var error: String?
    package var finishReason: String?
    package var model: String?
    /// The reasoning trace the server sent beside the answer, if any.
    package var reasoning: String?
    package var promptTokens = 0
    package var completionTokens = 0
    package var cached = false
    /// An embeddings answer: its vectors, in input order.
    var vectors: [[Float]]?

    static func failure(_ status: LLMStatus, _ message: String) -> ChatResponse {
        ChatResponse(status: status, error: message)
    }
}

/// Why a text got no embedding: the status and the message the teacher
/// I/O log has (`llm teacher: HTTP 500: overloaded (after 5 attempts)`).
package struct EmbedFailure: Error, Sendable {
    package var status: LLMStatus
    package var message: String
}

/// One named LLM of the pipeline: a client shared by every step that uses
/// it. It owns the concurrency limit, the rate limits, retries (the
/// PipelineRetry policy of `LLMConfig.retryPolicy`: exponential backoff
/// with jitter, Retry-After as a floor), the response
/// cache, the I/O log and the token counts. Requests from all steps wait in
/// one queue, so they are in flight together up to the limit.
package final class LLMClient: @unchecked Sendable {
    package let config: LLMConfig
    private let cache: LLMCache?
    /// Where lines of requests made outside a plugin call go.
    private let log: LLMIOLog?
    private let engine = HTTPEngine.shared
    private let lock = NSLock()
    private var inFlight = 0
    /// Jobs waiting to start (a started one is dropped from it at once: a
    /// job holds its request body until it ends, no longer).
    private var waiting = FIFO<Job>()
    private var rate: RateWindow
    private var pumpScheduled = false
    private var usageByStep: [String: LLMUsage] = [:]
    /// What each step's requests are doing now (progress, not results).
    private var liveByStep: [String: LLMLive] = [:]
    private var peakInFlight = 0
    /// The limit under `max_concurrency: auto`, fed by every finished attempt.
    private var adaptive: AdaptiveConcurrency?
    /// The server the host runs for this LLM (`serve:`), if any.
    private let endpoint: (any ServedEndpoint)?
    /// Where requests go instead of live calls (`batch:`), if anywhere.
    private let providerBatches: ProviderBatches?
    private var batchProgress: BatchProgress?
    private var nextBatchPoll = 0.0

    package init(config: LLMConfig, cache: LLMCache?, log: LLMIOLog?, endpoint: (any ServedEndpoint)? = nil,
                 providerBatches: ProviderBatches? = nil) {
        self.providerBatches = providerBatches
        self.config = config
        self.cache = cache
        self.log = log
        if case .auto(let bounds) = config.concurrency { adaptive = AdaptiveConcurrency(bounds: bounds) }
        self.endpoint = endpoint
        rate = RateWindow(requestsPerMinute: config.requestsPerMinute, tokensPerMinute: config.tokensPerMinute)
    }

    /// One request being worked on, across its attempts.
    private final class Job: @unchecked Sendable {
        let step: String
        let endpoint: String
        /// The request body as sent (and as the I/O log shows it).
        let body: [UInt8]
        /// The input row the request is for, if known (the I/O log names it).
        let row: UInt64?
        let cacheKey: String?
        let estimatedTokens: Double
        let parse: @Sendable ([UInt8]) -> ChatResponse?
        let completion: @Sendable (ChatResponse) -> Void
        /// The log of the plugin call that made the request, if any.
        var sink: (any IOLogSink)?
        /// Names the request in the I/O log (every attempt of it).
        let requestID = LLMClient.newRequestID()
        var attempt = 0
        var started = 0.0
        /// The attempt's start on the monotonic clock, and the requests in
        /// flight just after it (for the adaptive limit).
        var sent = 0.0
        var sentInFlight = 0
        /// The served endpoint's incarnation the last attempt went to.
        var incarnation = 0
        /// The request's custom_id in a provider batch (LLMs with `batch:`).
        var batchID = ""
        /// The answer came from a provider batch: it is the answer, and a
        /// failure is not retried (asking again gets the same lines).
        var fromBatch = false

        init(step: String, endpoint: String, body: [UInt8], row: UInt64? = nil, cacheKey: String?, estimatedTokens: Double,
             parse: @escaping @Sendable ([UInt8]) -> ChatResponse?, completion: @escaping @Sendable (ChatResponse) -> Void) {
            self.step = step
            self.endpoint = endpoint
            self.body = body
            self.row = row
            self.cacheKey = cacheKey
            self.estimatedTokens = estimatedTokens
            self.parse = parse
            self.completion = completion
        }
    }

    // MARK: Chat

    /// [thread-safe] Sends one chat request; `completion` runs once, on any thread.
    package func chat(_ request: ChatRequest, step: String, sink: (any IOLogSink)? = nil,
              completion: @escaping @Sendable (ChatResponse) -> Void) {
        var body = config.params
        for (key, value) in request.options { body[key] = value }
        body["model"] = .string(config.model)
        if let messages = request.messages {
            body["messages"] = messages
        } else {
            var messages: [JSONValue] = []
            if let system = request.system { messages.append(.object(["role": .string("system"), "content": .string(system)])) }
            messages.append(.object(["role": .string("user"), "content": .string(request.prompt ?? "")]))
            body["messages"] = .array(messages)
        }
        let deterministic = body["temperature"]?.doubleValue == 0 || body["seed"] != nil
        let useCache = cache != nil && (config.cache == .always || (config.cache == .auto && deterministic))
        // Serialized once: the same bytes are sent, hashed and logged.
        var json = JSONBytes(capacity: 1024)
        json.value(.object(body))
        let bodyBytes = json.bytes
        // A sample (only `always` caches one) is the step's and the row's own.
        let key = useCache ? Self.cacheKey(url: config.cacheURL, endpoint: "chat", body: bodyBytes,
                                           generation: request.generation,
                                           sample: deterministic ? nil : SampleOwner(step: step, row: request.row)) : nil
        if let key, let cache, let stored = cache.get(key), let response = Self.parseChat(Array(stored.utf8)) {
            var hit = response
            hit.cached = true
            record(step: step) { $0.requests += 1; $0.cached += 1 }
            var fields: [(key: String, value: JSONBytes.Field)] = [
                ("llm", .string(config.name)), ("step", .string(step)),
                ("request_id", .string(String(Self.newRequestID(), radix: 16))), ("cached", .bool(true)),
                ("request", .raw(bodyBytes)), ("response", .string(hit.text ?? "")), ("status", .int(200)),
            ]
            if let row = request.row { fields.append(("row", Self.rowField(row))) }
            (sink ?? log)?.append(line: .object(fields, capacity: bodyBytes.count + 1024))
            completion(hit)
            return
        }
        // Only a token limit needs the estimate (the serialized messages' length).
        let promptChars = config.tokensPerMinute == nil ? 0 : body["messages"]?.serialized.utf8.count ?? 0
        let estimate = Double(promptChars) / 4 + (body["max_tokens"]?.doubleValue ?? 256)
        let job = Job(step: step, endpoint: "/chat/completions", body: bodyBytes, row: request.row, cacheKey: key,
                      estimatedTokens: estimate, parse: Self.parseChat, completion: completion)
        job.sink = sink
        if providerBatches != nil { job.batchID = Self.batchCustomID(job, generation: request.generation) }
        enqueue(job)
    }

    /// [worker] Sends every request at once and waits for all answers.
    package func complete(_ requests: [ChatRequest], step: String, sink: (any IOLogSink)? = nil) -> [ChatResponse] {
        let results = Mutex<[ChatResponse?]>(Array(repeating: nil, count: requests.count))
        let group = DispatchGroup()
        for (index, request) in requests.enumerated() {
            group.enter()
            chat(request, step: step, sink: sink) { response in
                results.withLock { $0[index] = response }
                group.leave()
            }
        }
        group.wait()
        return results.withLock { $0.map { $0 ?? .failure(.internal, "no answer") } }
    }

    /// Whose a sampled answer is: the step that asked, and the input row
    /// (its `_row_id`) when the plugin said which.
    struct SampleOwner {
        var step: String
        var row: UInt64?
    }

    /// The cache key of a request: the hash of the canonical JSON
    /// `{"body":…,"endpoint":…,"generation":…,"url":…}` (sorted keys, as
    /// `JSONValue.serialized` writes it), with the body's bytes spliced in.
    /// That is the whole key of a deterministic request (temperature 0 or a
    /// seed), whichever step or row sends it: caches written before rows
    /// were known keep answering. A sample (`cache: always` without either)
    /// also has `sample`'s "step" and "row" (the row left out when unknown,
    /// so a plugin older than ABI 1.5 gets one answer per prompt and step):
    /// two rows with one prompt keep their own answers, and a fresh run of
    /// the pipeline gets each row's back.
    static func cacheKey(url: String, endpoint: String, body: [UInt8], generation: Int?,
                         sample: SampleOwner? = nil) -> String {
        var fields: [(key: String, value: JSONBytes.Field)] = [("url", .string(url)), ("endpoint", .string(endpoint)),
                                                                ("body", .raw(body))]
        if let generation { fields.append(("generation", .int(generation))) }
        if let sample {
            fields.append(("step", .string(sample.step)))
            if let row = sample.row { fields.append(("row", rowField(row))) }
        }
        return LLMCache.key(utf8: JSONBytes.object(fields, capacity: body.count + 256).bytes)
    }

    /// A row id as a JSON number, every digit of the full uint64 range.
    static func rowField(_ row: UInt64) -> JSONBytes.Field { .raw(Array(String(row).utf8)) }

    /// A chat answer; nil when the body is not one (malformed: retried).
    /// A well-formed answer without content is a failed request, never
    /// retried: a reasoning model that spent its whole `max_tokens` thinking
    /// answers with null or empty content, and asking again pays again.
    static func parseChat(_ bytes: [UInt8]) -> ChatResponse? {
        guard let answer = ChatAnswerFields(bytes), answer.hasMessage else { return nil }
        let finish = answer.finishReason
        // vLLM (older), SGLang and llama.cpp say reasoning_content; newer vLLM says reasoning.
        let trace = [answer.reasoningContent, answer.reasoning].lazy.compactMap { $0 }.first { !$0.isEmpty }
        let reasoning = trace != nil
        let content = answer.content
        if content == nil || (content == "" && (finish == "length" || reasoning)) {
            var why = "the model returned no answer (content \(content == nil ? "null" : "empty")"
            why += finish.map { ", finish_reason \"\($0)\"" } ?? ""
            why += ")"
            if reasoning || finish == "length" {
                why += reasoning ? "; it spent its tokens reasoning: raise max_tokens" : "; raise max_tokens"
            }
            return .failure(.invalidData, why)
        }
        guard let content else { return nil }
        return ChatResponse(
            status: .ok, text: content, finishReason: finish, model: answer.model, reasoning: trace,
            promptTokens: Int(answer.promptTokens ?? 0), completionTokens: Int(answer.completionTokens ?? 0))
    }

    /// An id for a request in the I/O log (all its attempts share it):
    /// a random base drawn once per process plus a counter, so ids differ
    /// across processes (a resumed run) without a system call per request.
    static func newRequestID() -> UInt64 {
        requestIDBase &+ requestIDCounter.wrappingAdd(1, ordering: .relaxed).oldValue &* 0x9E37_79B9_7F4A_7C15
    }

    private static let requestIDBase: UInt64 = {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }()

    private static let requestIDCounter = Atomic<UInt64>(0)

    // MARK: Embeddings

    /// [worker] The vectors of `texts` (in order), or why each failed.
    package func embed(_ texts: [String], step: String, sink: (any IOLogSink)? = nil) -> [Result<[Float], EmbedFailure>] {
        let results = Mutex<[Result<[Float], EmbedFailure>?]>(Array(repeating: nil, count: texts.count))
        let group = DispatchGroup()
        let chunk = 64
        for start in stride(from: 0, to: texts.count, by: chunk) {
            let slice = Array(texts[start..<min(start + chunk, texts.count)])
            var body = [String: JSONValue]()
            body["model"] = .string(config.model)
            body["input"] = .array(slice.map { .string($0) })
            body["encoding_format"] = .string("float")
            var json = JSONBytes(capacity: slice.reduce(256) { $0 + $1.utf8.count + 8 })
            json.value(.object(body))
            let bodyBytes = json.bytes
            let key = config.cache == .never || cache == nil ? nil
                : Self.cacheKey(url: config.cacheURL, endpoint: "embeddings", body: bodyBytes, generation: nil)
            let count = slice.count
            let finish: @Sendable (ChatResponse) -> Void = { response in
                let vectors = response.vectors
                results.withLock { all in
                    for offset in 0..<count {
                        if let vectors {
                            all[start + offset] = .success(vectors[offset])
                        } else {
                            all[start + offset] = .failure(EmbedFailure(
                                status: response.status, message: response.error ?? "malformed embeddings response"))
                        }
                    }
                }
                group.leave()
            }
            group.enter()
            if let key, let cache, let stored = cache.get(key),
               let vectors = Self.parseEmbeddings(Array(stored.utf8), count: count) {
                record(step: step) { $0.requests += 1; $0.cached += 1 }
                finish(ChatResponse(status: .ok, cached: true, vectors: vectors))
                continue
            }
            let job = Job(step: step, endpoint: "/embeddings", body: bodyBytes, cacheKey: key,
                          estimatedTokens: Double(slice.reduce(0) { $0 + $1.utf8.count }) / 4,
                          parse: { bytes in
                              guard let vectors = Self.parseEmbeddings(bytes, count: count) else { return nil }
                              return ChatResponse(status: .ok, vectors: vectors)
                          },
                          completion: finish)
            job.sink = sink
            if providerBatches != nil { job.batchID = Self.batchCustomID(job, generation: nil) }
            enqueue(job)
        }
        group.wait()
        return results.withLock { $0.map { $0 ?? .failure(EmbedFailure(status: .internal, message: "no answer")) } }
    }

    /// The vectors of an embeddings answer (`data[i].embedding`, placed by
    /// `data[i].index`), or nil when it is malformed or has another count.
    static func parseEmbeddings(_ bytes: [UInt8], count: Int) -> [[Float]]? {
        guard String(validating: bytes, as: UTF8.self) != nil else { return nil }
        return EmbeddingsReader.vectors(bytes, count: count)
    }

    // MARK: Scheduling

    private func enqueue(_ job: Job) {
        if let providerBatches {
            answerFromBatch(job, providerBatches)
            return
        }
        lock.lock()
        // A retry comes back here; it is still the same open request.
        if job.attempt == 0 { liveByStep[job.step, default: LLMLive()].open += 1 }
        waiting.append(job)
        lock.unlock()
        pump()
    }

    /// Starts waiting jobs while the concurrency and rate limits allow.
    private func pump() {
        if let endpoint {
            // A served LLM's requests wait while its server (re)starts, and
            // fail once it is gone for good.
            if let failure = endpoint.failure {
                lock.lock()
                var failed: [Job] = []
                while let job = waiting.popFirst() { failed.append(job) }
                lock.unlock()
                for job in failed {
                    record(step: job.step, closing: true) { $0.requests += 1; $0.failures += 1 }
                    job.completion(.failure(.io, "llm \(config.name): \(failure)"))
                }
                return
            }
            guard endpoint.whenReady({ [self] in pump() }) else { return }
        }
        var starting: [Job] = []
        var retryIn: Double?
        lock.lock()
        let now = Date().timeIntervalSince1970
        while inFlight < limit, let job = waiting.first {
            if let wait = rate.admit(tokens: job.estimatedTokens, now: now) {
                retryIn = wait
                break
            }
            _ = waiting.popFirst()
            inFlight += 1
            job.sent = Self.monotonicNow()
            job.sentInFlight = inFlight
            peakInFlight = max(peakInFlight, inFlight)
            liveByStep[job.step, default: LLMLive()].started()
            starting.append(job)
        }
        // A rate limit is full: look again when its oldest request ages out.
        let wake = retryIn != nil && !pumpScheduled
        if wake { pumpScheduled = true }
        lock.unlock()
        if wake, let retryIn {
            DispatchQueue.global().asyncAfter(deadline: .now() + max(0.05, retryIn)) { [self] in
                lock.lock()
                pumpScheduled = false
                lock.unlock()
                pump()
            }
        }
        for job in starting { start(job) }
    }

    private func start(_ job: Job) {
        job.attempt += 1
        job.started = Date().timeIntervalSince1970
        job.incarnation = endpoint?.incarnation ?? 0
        var headers = ["Content-Type: application/json", "Accept: application/json"]
        if let key = config.apiKey { headers.append("Authorization: Bearer \(key)") }
        let request = HTTPRequest(url: (endpoint?.baseURL ?? config.baseURL) + job.endpoint, headers: headers, body: job.body,
                                  timeout: config.timeout)
        engine.start(request) { [self] outcome in finish(job, outcome) }
    }

    /// A retryable failure is tried again after a delay, a final one (or
    /// the last retry) ends the job with a failed response.
    private func finish(_ job: Job, _ outcome: HTTPOutcome) {
        lock.lock()
        inFlight -= 1
        liveByStep[job.step, default: LLMLive()].inFlight -= 1
        adaptive?.record(AdaptiveConcurrency.Sample(started: job.sent, finished: Self.monotonicNow(),
                                                    inFlight: job.sentInFlight, outcome: Self.load(outcome)))
        lock.unlock()
        let latency = Date().timeIntervalSince1970 - job.started
        var retryAfter: Double?
        var failure: (status: LLMStatus, message: String, retryable: Bool)?
        var response: ChatResponse?
        var httpStatus = 0
        switch outcome {
        case .failure(let message, let timedOut):
            failure = (timedOut ? .timeout : .io, "no response from \(config.displayURL): \(message)", true)
        case .response(let status, let headers, let body):
            httpStatus = status
            if status != 200, let value = HTTPExchange.header("Retry-After", in: headers) {
                retryAfter = RetryAfter.delay(value, responseDate: HTTPExchange.header("Date", in: headers),
                                              now: Date().timeIntervalSince1970)
            }
            if status == 200 {
                let parsed = job.parse(body)
                if let parsed, parsed.status != .ok {
                    // A well-formed answer that is no answer: failed, not retried, not cached.
                    failure = (parsed.status, parsed.error ?? "the server's answer has no result", false)
                } else if let parsed {
                    response = parsed
                    if let key = job.cacheKey, let text = String(validating: body, as: UTF8.self) {
                        cache?.put(key, text)
                    }
                } else {
                    failure = (.invalidData, "the server answered with malformed JSON", true)
                }
            } else {
                let detail = Self.errorMessage(body)
                let retryable = config.retryPolicy.isRetryable(status: status)
                let kind = status == 401 || status == 403 ? " (check the API key)" : ""
                failure = (.io, "HTTP \(status)\(kind)\(detail.map { ": \($0)" } ?? "")", retryable)
            }
        }
        if let log = job.sink ?? log {
            var fields: [(key: String, value: JSONBytes.Field)] = [
                ("llm", .string(config.name)), ("step", .string(job.step)),
                ("request_id", .string(String(job.requestID, radix: 16))), ("attempt", .int(job.attempt)),
                ("status", .int(httpStatus)), ("latency_ms", .int(Int((latency * 1000).rounded()))),
                ("request", .raw(job.body)), ("cached", .bool(false)),
            ]
            if let row = job.row { fields.append(("row", Self.rowField(row))) }
            if let response {
                if job.endpoint != "/embeddings" { fields.append(("response", .string(response.text ?? ""))) }
                fields.append(("prompt_tokens", .int(response.promptTokens)))
                fields.append(("completion_tokens", .int(response.completionTokens)))
            }
            if let failure { fields.append(("error", .string(failure.message))) }
            log.append(line: .object(fields, capacity: job.body.count + (response?.text?.utf8.count ?? 0) + 512))
        }

        // No answer from a served LLM: if its server went away, the request
        // goes again once the server is back, as the same attempt.
        if response == nil, httpStatus == 0, let endpoint, let failure {
            endpoint.judge(failureAt: job.incarnation) { [self, retryAfter] wentAway in
                if wentAway {
                    job.attempt -= 1
                    record(step: job.step) { $0.retries += 1 }
                    enqueue(job)
                } else {
                    settle(job, failure: failure, retryAfter: retryAfter)
                }
            }
            pump()
            return
        }
        if let response {
            self.record(step: job.step, closing: true) {
                $0.requests += 1
                $0.promptTokens += response.promptTokens
                $0.completionTokens += response.completionTokens
            }
            job.completion(response)
        } else if let failure {
            settle(job, failure: failure, retryAfter: retryAfter)
        }
        pump()
    }

    // MARK: Provider batches

    /// The id of a request in a provider batch: the same request (body,
    /// generation, and the row and step when the plugin names the row) has
    /// the same id in every run, so a resumed run finds its answer.
    private static func batchCustomID(_ job: Job, generation: Int?) -> String {
        var fields: [(key: String, value: JSONBytes.Field)] = [("endpoint", .string(job.endpoint)), ("body", .raw(job.body)),
                                                                ("step", .string(job.step))]
        if let generation { fields.append(("generation", .int(generation))) }
        if let row = job.row { fields.append(("row", rowField(row))) }
        return "req-" + LLMCache.key(utf8: JSONBytes.object(fields, capacity: job.body.count + 128).bytes)
    }

    /// A request of an LLM with `batch:`: its answer when a finished batch
    /// holds it (then handled as a live answer: parsed, cached, logged,
    /// counted), its final failure, or it is recorded for the next batch and
    /// the call is marked as waiting (the executor holds its input).
    private func answerFromBatch(_ job: Job, _ batches: ProviderBatches) {
        let answer: BatchAnswer
        do {
            answer = try batches.answer(customID: job.batchID, endpoint: job.endpoint, body: job.body)
        } catch {
            job.completion(.failure(.io, "llm \(config.name): \(error)"))
            return
        }
        switch answer {
        case .pending:
            job.sink?.markWaitsForBatch()
            job.completion(.failure(.io, "llm \(config.name): waiting for a provider batch"))
        case .failed(let reason):
            record(step: job.step, closing: true) { $0.requests += 1; $0.failures += 1 }
            job.completion(.failure(.io, "llm \(config.name): the provider batch gave no answer: \(reason)"))
        case .response(let status, let body) where status != 200:
            record(step: job.step, closing: true) { $0.requests += 1; $0.failures += 1 }
            let detail = Self.errorMessage(body)
            job.completion(.failure(.io, "llm \(config.name): HTTP \(status) in the provider batch\(detail.map { ": \($0)" } ?? "")"))
        case .response(_, let body):
            // As a live answer, with no retry: the batch's answer is the answer.
            lock.lock()
            inFlight += 1
            liveByStep[job.step, default: LLMLive()].open += 1
            liveByStep[job.step, default: LLMLive()].started()
            lock.unlock()
            job.fromBatch = true
            job.attempt += 1
            job.started = Date().timeIntervalSince1970
            job.sent = Self.monotonicNow()
            finish(job, .response(status: 200, headers: [], body: body))
        }
    }

    /// [thread-safe] Whether the LLM's requests go to provider batches.
    package var usesProviderBatches: Bool { providerBatches != nil }

    /// [control thread] Submits what the held calls asked for.
    package func submitProviderBatches() throws(BatchError) {
        try providerBatches?.submitPending()
    }

    /// [control thread] Polls the open batches when it is time (the wait
    /// backs off while nothing finishes, up to `max_poll_seconds`); true
    /// once every request has its final answer.
    package func pollProviderBatches(now force: Bool = false) throws(BatchError) -> Bool {
        guard let providerBatches else { return true }
        let now = Self.monotonicNow()
        lock.lock()
        let due = force || now >= nextBatchPoll
        lock.unlock()
        guard due else { return false }
        let progress = try providerBatches.poll()
        lock.lock()
        defer { lock.unlock() }
        batchProgress = progress
        nextBatchPoll = now + progress.nextPollSeconds
        return progress.done
    }

    /// [control thread] The run is stopping (SIGINT/SIGTERM): with
    /// `cancel_on_stop`, the provider's open batches are cancelled (what they
    /// answered is kept and collected by the next run, which submits the
    /// rest again). True when it asked for cancellation.
    package func cancelProviderBatchesOnStop() throws(BatchError) -> Bool {
        guard let providerBatches, config.batch?.cancelOnStop == true else { return false }
        try providerBatches.cancelOpen()
        return true
    }

    /// [thread-safe] The open batches as last polled, for summary.json and
    /// `pipeline runs`.
    package var providerBatchesJSON: [JSONValue] {
        lock.lock()
        defer { lock.unlock() }
        guard let progress = batchProgress else { return [] }
        let checked = Date().timeIntervalSince1970
        return progress.open.map { open in
            .object([
                "llm": .string(open.llm), "batch_id": open.batchID.map { .string($0) } ?? .null, "chunk": .string(open.chunkID),
                "status": .string(open.status), "created": .number(open.created ?? open.recorded),
                "requests": .number(Double(open.requests)), "completed": .number(Double(open.completed)),
                "failed": .number(Double(open.failed)), "checked": .number(checked),
            ])
        }
    }

    /// [thread-safe] One line for logs: requests waiting and open batches.
    package var providerBatchStatus: String {
        lock.lock()
        defer { lock.unlock() }
        guard let progress = batchProgress else { return "submitted" }
        let open = progress.open.map { "\($0.batchID ?? $0.chunkID) \($0.status)" }.joined(separator: ", ")
        return "\(progress.pending) request(s) waiting, \(progress.answered) answered, \(progress.failed) failed; batches: \(open)"
    }

    /// The requests that may be in flight now. [under lock]
    private var limit: Int {
        if let adaptive { return adaptive.limit }
        if case .fixed(let limit) = config.concurrency { return limit }
        return 1
    }

    /// What an attempt's outcome says about the server's load: 429, 503 and
    /// timeouts say it has too much to do; any other answer that it served.
    static func load(_ outcome: HTTPOutcome) -> AdaptiveConcurrency.Outcome {
        switch outcome {
        case .failure(_, let timedOut): timedOut ? .overloaded : .other
        case .response(let status, _, _) where status == 429 || status == 503: .overloaded
        case .response(let status, _, _) where status < 400: .ok
        case .response: .other
        }
    }

    /// Seconds on a monotonic clock.
    static func monotonicNow() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// [thread-safe] The limit this run: `max_concurrency`, or under `auto`
    /// where it is now and the range it moved in.
    package var concurrency: LLMConcurrency {
        lock.lock()
        defer { lock.unlock() }
        if let adaptive {
            return LLMConcurrency(auto: true, limit: adaptive.limit, lowest: adaptive.lowest, highest: adaptive.highest,
                                  peakInFlight: peakInFlight)
        }
        let fixed = limit
        return LLMConcurrency(auto: false, limit: fixed, lowest: fixed, highest: fixed, peakInFlight: peakInFlight)
    }

    /// A failed attempt: tried again after the policy's delay, or the
    /// request ends with the failure.
    private func settle(_ job: Job, failure: (status: LLMStatus, message: String, retryable: Bool), retryAfter: Double?) {
        let policy = config.retryPolicy
        if failure.retryable && !job.fromBatch && policy.allowsRetry(afterAttempt: job.attempt) {
            self.record(step: job.step) { $0.retries += 1 }
            let delay = policy.delay(afterAttempt: job.attempt, serverDelay: retryAfter)
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [self] in enqueue(job) }
        } else {
            self.record(step: job.step, closing: true) { $0.requests += 1; $0.failures += 1 }
            let attempts = job.attempt == 1 ? "" : " (after \(job.attempt) attempts)"
            job.completion(.failure(failure.status, "llm \(config.name): \(failure.message)\(attempts)"))
        }
    }

    static func errorMessage(_ body: [UInt8]) -> String? {
        guard let text = String(validating: body, as: UTF8.self), !text.isEmpty else { return nil }
        if let json = try? JSONValue(parsing: text), let message = json["error"]?["message"]?.stringValue ?? json["error"]?.stringValue {
            return message
        }
        return String(text.prefix(200))
    }

    /// `closing`: the update ends one of the step's open (sent) requests.
    private func record(step: String, closing: Bool = false, _ update: (inout LLMUsage) -> Void) {
        lock.lock()
        update(&usageByStep[step, default: LLMUsage()])
        if closing { liveByStep[step, default: LLMLive()].open -= 1 }
        lock.unlock()
    }

    /// [thread-safe] What the steps' requests are doing now, and the most
    /// requests this LLM has had in flight at once.
    package var live: (steps: [String: LLMLive], peakInFlight: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (liveByStep, peakInFlight)
    }

    /// Counts so far, per step.
    package var usage: [String: LLMUsage] {
        lock.lock()
        defer { lock.unlock() }
        return usageByStep
    }
}

/// The rate limits of one LLM over a sliding minute: requests started, and
/// their estimated tokens. Pure: the caller gives the time.
struct RateWindow {
    var requestsPerMinute: Double?
    var tokensPerMinute: Double?
    private var starts: [(time: Double, tokens: Double)] = []

    init(requestsPerMinute: Double?, tokensPerMinute: Double?) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
    }

    /// Records a start and returns nil when a request of `tokens` may start
    /// at `now`; otherwise the seconds until the oldest start leaves the
    /// window. A request larger than the whole token budget still starts
    /// when the window is empty (else it could never run).
    mutating func admit(tokens: Double, now: Double) -> Double? {
        // Without limits there is nothing to count (and no list to grow).
        if requestsPerMinute == nil && tokensPerMinute == nil { return nil }
        starts.removeAll { now - $0.time >= 60 }
        let wait = starts.first.map { max(0.01, $0.time + 60 - now) } ?? 0
        if let rpm = requestsPerMinute, Double(starts.count) >= rpm { return wait }
        if let tpm = tokensPerMinute, !starts.isEmpty, starts.reduce(0, { $0 + $1.tokens }) + tokens > tpm { return wait }
        starts.append((now, tokens))
        return nil
    }
}
