// The OpenAI-compatible endpoints, the counters and the injected faults.

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct BadRequest: Error {
    let message: String
    var param: String?
}

/// A validated LLM request, ready to be answered.
private struct Prepared {
    var kind: PromptKind?
    /// Whether `--junk-scores-rate` can apply.
    var scoring = false
    var render: (_ junkScores: Bool) -> Rendered
}

private struct Rendered {
    var body: JSON
    var promptTokens: Int
    var completionTokens: Int
    var embeddingInputs = 0
}

final class Server: HTTPHandler {
    let config: Config
    let stats = Stats()
    /// Sampled answers so far (--sample-unseeded): each one draws another.
    private let samples = Atomic<UInt64>(0)
    /// --capacity: the slots LLM requests are served in.
    let gate: CapacityGate?
    /// The Batch API's files and batches (BatchRoutes.swift).
    let batches: BatchStore

    static let created = 1_700_000_000
    static let models = ["test-chat", "test-embed"]

    /// When the model is "loaded" (--loading-ms).
    private let loadedAt: ContinuousClock.Instant

    init(config: Config) {
        self.config = config
        gate = config.capacity.map { CapacityGate(capacity: $0, over: config.overCapacity) }
        batches = BatchStore(config: config)
        loadedAt = .now + .milliseconds(Int(config.loadingMs))
    }

    // MARK: HTTPHandler

    func handle(_ request: HTTPRequest) -> (action: HTTPAction, inflight: Bool) {
        var path = request.path
        if path.count > 1, path.hasSuffix("/") { path.removeLast() }
        // The OpenAI routes answer with and without the /v1 prefix.
        let route = path.hasPrefix("/v1/") ? String(path.dropFirst(3)) : path
        if ContinuousClock.now < loadedAt, route != "/models", !route.hasPrefix("/stats"), !route.hasPrefix("/_control/") {
            return (.respond(.error(503, "Loading model", type: "unavailable_error", code: "503")), false)
        }
        switch route {
        case "/chat/completions":
            return llmRequest(request, endpoint: "chat", prepare: prepareChat)
        case "/completions":
            return llmRequest(request, endpoint: "completions", prepare: prepareCompletions)
        case "/embeddings":
            return llmRequest(request, endpoint: "embeddings", prepare: prepareEmbeddings)
        case "/models":
            guard request.method == "GET" else { return (.respond(notAllowed("GET")), false) }
            stats.request(endpoint: "models")
            return (.respond(.json(200, modelList())), false)
        case "/health":
            guard request.method == "GET" else { return (.respond(notAllowed("GET")), false) }
            stats.request(endpoint: "health")
            return (.respond(.json(200, .object([("status", .string("ok"))]))), false)
        case "/stats":
            guard request.method == "GET" else { return (.respond(notAllowed("GET")), false) }
            var snapshot = stats.snapshot(config: config)
            if case .object(var members) = snapshot {
                if let gate { members.append(("capacity", gate.snapshot)) }
                members.append(("batches", batchStats()))
                snapshot = .object(members)
            }
            return (.respond(.json(200, snapshot)), false)
        case "/stats/reset":
            guard request.method == "POST" else { return (.respond(notAllowed("POST")), false) }
            stats.reset()
            gate?.reset()
            batches.locked { batches.resetStats() }
            return (.respond(.json(200, .object([("ok", .bool(true))]))), false)
        default:
            if let routed = batchRoute(request, route: route) { return routed }
            return (.respond(.error(404, "no route for \(request.method) \(request.path)", code: "not_found")), false)
        }
    }

    func finished() { stats.end() }

    func responded(status: Int, path: String?) {
        if let path, path.hasPrefix("/stats") { return }
        stats.status(status)
    }

    func connectionOpened() { stats.connectionOpened() }
    func connectionClosed() { stats.connectionClosed() }

    private func notAllowed(_ allowed: String) -> HTTPResponse {
        .error(405, "method not allowed; use \(allowed)", headers: [("Allow", allowed)])
    }

    /// A model whose name ends in "-reasoner" answers with a reasoning
    /// trace in `reasoning_content` (vLLM before 0.9, SGLang, llama.cpp),
    /// one ending in "-reasoner-v2" in `reasoning` (newer vLLM).
    static func reasoningField(model: String) -> String? {
        if model.hasSuffix("-reasoner") { return "reasoning_content" }
        if model.hasSuffix("-reasoner-v2") { return "reasoning" }
        return nil
    }

    private func modelList() -> JSON {
        .object([
            ("object", .string("list")),
            ("data", .array(Server.models.map {
                .object([("id", .string($0)), ("object", .string("model")), ("created", .int(Server.created)),
                         ("owned_by", .string("llm-test-server"))])
            })),
        ])
    }

    // MARK: LLM requests: validation, faults, answer

    private func llmRequest(_ request: HTTPRequest, endpoint: String,
                            prepare: (JSON) throws(BadRequest) -> Prepared) -> (action: HTTPAction, inflight: Bool) {
        guard request.method == "POST" else { return (.respond(notAllowed("POST")), false) }
        stats.request(endpoint: endpoint)
        let json: JSON
        do {
            json = try JSONParser.parse(request.body)
        } catch {
            let message = request.body.isEmpty
                ? "the request body is empty; send a JSON object"
                : "the request body is not valid JSON: \(error.message)"
            return (.respond(.error(400, message)), false)
        }
        let prepared: Prepared
        do {
            prepared = try prepare(json)
        } catch {
            return (.respond(.error(400, error.message, param: error.param)), false)
        }

        // In service from here until answered (the latency is service time).
        if let gate {
            guard gate.enter() else {
                return (.respond(.error(429, "the server is at capacity (\(gate.capacity) requests in service); retry after \(config.retryAfter) s",
                                        type: "requests", code: "over_capacity",
                                        headers: [("Retry-After", String(config.retryAfter))])), false)
            }
        }
        defer { gate?.leave() }

        var hash = StableHash()
        hash.add(endpoint)
        hash.separator()
        hash.add(request.body)
        let requestHash = hash.mixed
        let attempt = stats.begin(kind: prepared.kind?.statsName, requestHash: requestHash)
        let plan = FaultPlan(config: config, requestHash: requestHash, attempt: attempt)

        if plan.fault != .hang, plan.latencyMs > 0 { sleep(milliseconds: plan.latencyMs) }
        let retryAfter = [("Retry-After", String(config.retryAfter))]
        switch plan.fault {
        case .error?:
            stats.fault(Fault.error.rawValue)
            return (.respond(.error(config.errorStatus, "injected fault: the server had an error while processing the request",
                                    type: config.errorStatus >= 500 ? "server_error" : "invalid_request_error",
                                    code: "injected_error")), true)
        case .rateLimit?:
            stats.fault(Fault.rateLimit.rawValue)
            return (.respond(.error(429, "injected fault: rate limit reached; retry after \(config.retryAfter) s",
                                    type: "requests", code: "rate_limit_exceeded", headers: retryAfter)), true)
        case .unavailable?:
            stats.fault(Fault.unavailable.rawValue)
            return (.respond(.error(503, "injected fault: the server is overloaded; retry after \(config.retryAfter) s",
                                    type: "server_error", code: "service_unavailable", headers: retryAfter)), true)
        case .hang?:
            stats.fault(Fault.hang.rawValue)
            return (.hang, true)
        case .drop?:
            stats.fault(Fault.drop.rawValue)
            return (.drop, true)
        case .malformed?:
            stats.fault(Fault.malformed.rawValue)
            let whole = HTTPResponse.json(200, prepared.render(false).body)
            var truncated = whole
            truncated.body = Array(whole.body.prefix(max(1, whole.body.count / 2)))
            return (.respond(truncated), true)
        case nil:
            break
        }
        let junk = prepared.scoring && plan.junkScores
        if junk { stats.fault("junk_scores") }
        let rendered = prepared.render(junk)
        stats.tokens(prompt: rendered.promptTokens, completion: rendered.completionTokens,
                     embeddingInputs: rendered.embeddingInputs)
        return (.respond(.json(200, rendered.body)), true)
    }

    /// A batch line's answer: what the live route answers for the same body
    /// (the live faults and --junk-scores-rate aside), or the 400 it refuses it with.
    func batchAnswer(endpoint: BatchEndpoint, body: JSON) -> LineAnswer {
        let prepared: Prepared
        do {
            switch endpoint {
            case .chat: prepared = try prepareChat(body)
            case .completions: prepared = try prepareCompletions(body)
            case .embeddings: prepared = try prepareEmbeddings(body)
            }
        } catch {
            return LineAnswer(statusCode: 400, body: HTTPResponse.errorBody(error.message, param: error.param))
        }
        let rendered = prepared.render(false)
        return LineAnswer(statusCode: 200, body: rendered.body, promptTokens: rendered.promptTokens,
                          completionTokens: rendered.completionTokens)
    }

    private func sleep(milliseconds: Double) {
        let nanoseconds = Int(milliseconds * 1_000_000)
        var request = timespec(tv_sec: nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }

    // MARK: field validation

    private func requireObject(_ json: JSON) throws(BadRequest) {
        guard case .object = json else { throw BadRequest(message: "the request body must be a JSON object") }
    }

    private func requireModel(_ json: JSON) throws(BadRequest) -> String {
        guard let model = json["model"]?.string, !model.isEmpty else {
            throw BadRequest(message: "you must provide a model parameter (a non-empty string)", param: "model")
        }
        return model
    }

    private func optionalInt(_ json: JSON, _ key: String, _ range: ClosedRange<Int>) throws(BadRequest) -> Int? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let n = value.int, range.contains(n) else {
            throw BadRequest(message: "'\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound)", param: key)
        }
        return n
    }

    private func optionalNumbers(_ json: JSON, _ keys: [String]) throws(BadRequest) {
        for key in keys {
            guard let value = json[key], !value.isNull else { continue }
            guard value.double != nil else { throw BadRequest(message: "'\(key)' must be a number", param: key) }
        }
    }

    private func rejectStreaming(_ json: JSON) throws(BadRequest) {
        if json["stream"]?.bool == true {
            throw BadRequest(message: "streaming is not supported by llm-test-server", param: "stream")
        }
    }

    private static func canonical(_ value: JSON) -> String {
        String(decoding: JSONWriter.encode(value, sortKeys: true), as: UTF8.self)
    }

    // MARK: /v1/chat/completions

    private func prepareChat(_ json: JSON) throws(BadRequest) -> Prepared {
        try requireObject(json)
        let model = try requireModel(json)
        guard let rawMessages = json["messages"]?.array, !rawMessages.isEmpty else {
            throw BadRequest(message: "'messages' must be a non-empty array", param: "messages")
        }
        var messages: [(role: String, text: String)] = []
        for (k, message) in rawMessages.enumerated() {
            guard case .object = message, let role = message["role"]?.string else {
                throw BadRequest(message: "messages[\(k)] must be an object with a string 'role'", param: "messages[\(k)]")
            }
            let text: String
            switch message["content"] {
            case nil, .null?: text = ""
            case .string(let s)?: text = s
            case .array(let parts)?:
                text = parts.map { $0["text"]?.string ?? Server.canonical($0) }.joined(separator: "\n")
            default:
                throw BadRequest(message: "messages[\(k)].content must be a string, an array of parts or null",
                                 param: "messages[\(k)].content")
            }
            messages.append((role, text))
        }
        let n = try optionalInt(json, "n", 1...128) ?? 1
        let maxCompletionTokens = try optionalInt(json, "max_completion_tokens", 1...10_000_000)
        let legacyMaxTokens = try optionalInt(json, "max_tokens", 1...10_000_000)
        let maxTokens = maxCompletionTokens ?? legacyMaxTokens
        try optionalNumbers(json, ["temperature", "top_p", "frequency_penalty", "presence_penalty", "seed"])
        try rejectStreaming(json)

        let prompt = (messages.last(where: { $0.role == "user" }) ?? messages[messages.count - 1]).text
        let classification = Classifier.classify(prompt)
        var format = try ResponseFormat.read(json)
        if json["response_format"] == nil { format = ResponseFormat.inPrompt(messages) }
        // The answer is a function of (model, messages, seed, choice index)
        // only: like a sampling server, another seed gives another answer.
        var base = StableHash()
        base.add(model)
        base.separator()
        for message in messages {
            base.add(message.role)
            base.separator(1)
            base.add(message.text)
            base.separator(2)
        }
        if case .int(let seed)? = json["seed"] {
            base.separator(4)
            base.add(UInt64(bitPattern: Int64(seed)))
        } else if config.sampleUnseeded, json["temperature"]?.double != 0 {
            base.separator(5)
            base.add(samples.wrappingAdd(1, ordering: .relaxed).oldValue)
        }
        let promptTokens = messages.reduce(0) { $0 + Tokens.estimate($1.text) }
        let id = "chatcmpl-" + base.mixed.hex16 + mix64(base.mixed).hex16

        return Prepared(kind: classification.kind, scoring: classification.kind.isScoring) { junk in
            var choices: [JSON] = []
            var completionTokens = 0
            for index in 0..<n {
                var choiceHash = base
                choiceHash.separator(3)
                choiceHash.add(UInt64(index))
                var (text, truncated) = Generator.text(for: classification, seed: choiceHash.mixed,
                                                       maxTokens: maxTokens, junkScores: junk, model: model)
                if case .json(let schema) = format {
                    // Structured output (Structured.swift); max_tokens cuts it as it cuts text.
                    (text, truncated) = StructuredAnswer.cut(StructuredAnswer.text(schema: schema, messages: messages,
                                                                                   seed: choiceHash.mixed), maxTokens: maxTokens)
                }
                completionTokens += Tokens.estimate(text)
                var message: [(String, JSON)] = [("role", .string("assistant")), ("content", .string(text))]
                if let field = Self.reasoningField(model: model) {
                    let trace = "Reasoning \(choiceHash.mixed.hex16): the user asks \"\(prompt.prefix(60))\"."
                    completionTokens += Tokens.estimate(trace)
                    message.append((field, .string(trace)))
                }
                choices.append(.object([
                    ("index", .int(index)),
                    ("message", .object(message)),
                    ("logprobs", .null),
                    ("finish_reason", .string(truncated ? "length" : "stop")),
                ]))
            }
            let body = JSON.object([
                ("id", .string(id)),
                ("object", .string("chat.completion")),
                ("created", .int(Server.created)),
                ("model", .string(model)),
                ("system_fingerprint", .string("llm-test-server")),
                ("choices", .array(choices)),
                ("usage", .object([
                    ("prompt_tokens", .int(promptTokens)),
                    ("completion_tokens", .int(completionTokens)),
                    ("total_tokens", .int(promptTokens + completionTokens)),
                ])),
            ])
            return Rendered(body: body, promptTokens: promptTokens, completionTokens: completionTokens)
        }
    }

    // MARK: /v1/completions (legacy)

    private func prepareCompletions(_ json: JSON) throws(BadRequest) -> Prepared {
        try requireObject(json)
        let model = try requireModel(json)
        let prompts: [String]
        switch json["prompt"] {
        case .string(let s)?: prompts = [s]
        case .array(let items)? where !items.isEmpty && items.allSatisfy({ $0.string != nil }):
            prompts = items.compactMap(\.string)
        default:
            throw BadRequest(message: "'prompt' must be a string or a non-empty array of strings", param: "prompt")
        }
        let n = try optionalInt(json, "n", 1...128) ?? 1
        let maxTokens = try optionalInt(json, "max_tokens", 1...10_000_000)
        try optionalNumbers(json, ["temperature", "top_p", "seed"])
        try rejectStreaming(json)
        let classifications = prompts.map(Classifier.classify)
        let promptTokens = prompts.reduce(0) { $0 + Tokens.estimate($1) }
        var idHash = StableHash()
        idHash.add(model)
        for prompt in prompts { idHash.separator(); idHash.add(prompt) }

        return Prepared(kind: classifications.first?.kind, scoring: classifications.contains { $0.kind.isScoring }) { junk in
            var choices: [JSON] = []
            var completionTokens = 0
            for (p, prompt) in prompts.enumerated() {
                for index in 0..<n {
                    var hash = StableHash()
                    hash.add(model)
                    hash.separator()
                    hash.add(prompt)
                    hash.separator(3)
                    hash.add(UInt64(index))
                    let (text, truncated) = Generator.text(for: classifications[p], seed: hash.mixed,
                                                           maxTokens: maxTokens, junkScores: junk)
                    completionTokens += Tokens.estimate(text)
                    choices.append(.object([
                        ("index", .int(p * n + index)),
                        ("text", .string(text)),
                        ("logprobs", .null),
                        ("finish_reason", .string(truncated ? "length" : "stop")),
                    ]))
                }
            }
            let body = JSON.object([
                ("id", .string("cmpl-" + idHash.mixed.hex16)),
                ("object", .string("text_completion")),
                ("created", .int(Server.created)),
                ("model", .string(model)),
                ("choices", .array(choices)),
                ("usage", .object([
                    ("prompt_tokens", .int(promptTokens)),
                    ("completion_tokens", .int(completionTokens)),
                    ("total_tokens", .int(promptTokens + completionTokens)),
                ])),
            ])
            return Rendered(body: body, promptTokens: promptTokens, completionTokens: completionTokens)
        }
    }

    // MARK: /v1/embeddings

    private func prepareEmbeddings(_ json: JSON) throws(BadRequest) -> Prepared {
        try requireObject(json)
        let model = try requireModel(json)
        let inputError = BadRequest(
            message: "'input' must be a string, a non-empty array of strings, an array of token ids or an array of token-id arrays",
            param: "input")
        var inputs: [String]
        switch json["input"] {
        case .string(let s)?:
            inputs = [s]
        case .array(let items)?:
            guard !items.isEmpty else { throw inputError }
            if items.allSatisfy({ $0.string != nil }) {
                inputs = items.compactMap(\.string)
            } else if items.allSatisfy({ $0.int != nil }) {
                inputs = [items.compactMap(\.int).map(String.init).joined(separator: " ")]
            } else if items.allSatisfy({ $0.array?.allSatisfy({ $0.int != nil }) == true }) {
                inputs = items.map { ($0.array ?? []).compactMap(\.int).map(String.init).joined(separator: " ") }
            } else {
                throw inputError
            }
        default:
            throw inputError
        }
        guard inputs.count <= 2048 else {
            throw BadRequest(message: "at most 2048 inputs per request", param: "input")
        }
        let base64: Bool
        switch json["encoding_format"] {
        case nil, .null?, .string("float")?: base64 = false
        case .string("base64")?: base64 = true
        default:
            throw BadRequest(message: "'encoding_format' must be \"float\" or \"base64\"", param: "encoding_format")
        }
        let dimensions = try optionalInt(json, "dimensions", 1...65536) ?? config.embedDim

        return Prepared(kind: nil, scoring: false) { _ in
            var data: [JSON] = []
            data.reserveCapacity(inputs.count)
            var tokens = 0
            for (index, text) in inputs.enumerated() {
                let vector = Embeddings.vector(model: model, text: text, dimensions: dimensions)
                let embedding: JSON = base64 ? .string(Embeddings.base64(vector)) : .array(vector.map { .float($0) })
                data.append(.object([("object", .string("embedding")), ("index", .int(index)), ("embedding", embedding)]))
                tokens += Tokens.estimate(text)
            }
            let body = JSON.object([
                ("object", .string("list")),
                ("data", .array(data)),
                ("model", .string(model)),
                ("usage", .object([("prompt_tokens", .int(tokens)), ("total_tokens", .int(tokens))])),
            ])
            return Rendered(body: body, promptTokens: tokens, completionTokens: 0, embeddingInputs: inputs.count)
        }
    }
}

enum Embeddings {
    /// A float32 unit vector: normal draws (Box-Muller) from a generator
    /// seeded by a hash of (model, text), then L2-normalised.
    static func vector(model: String, text: String, dimensions: Int) -> [Float] {
        var rng = SeededRandom(seed: StableHash(model, text).mixed)
        var values = [Double](repeating: 0, count: dimensions)
        var k = 0
        while k < dimensions {
            let u1 = (Double(rng.next() >> 11) + 1) * 0x1p-53  // (0, 1]
            let u2 = rng.unit()
            let radius = (-2 * log(u1)).squareRoot()
            values[k] = radius * cos(2 * Double.pi * u2)
            if k + 1 < dimensions { values[k + 1] = radius * sin(2 * Double.pi * u2) }
            k += 2
        }
        var norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm == 0 {
            values[0] = 1
            norm = 1
        }
        return values.map { Float($0 / norm) }
    }

    /// Little-endian float32 bytes, base64 (what the openai client decodes).
    static func base64(_ vector: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(vector.count * 4)
        for value in vector {
            let bits = value.bitPattern
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 8))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 16))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 24))
        }
        return Data(bytes).base64EncodedString()
    }
}
