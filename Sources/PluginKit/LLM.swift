#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One chat request to the step's LLM (the `llm:` of its pipeline entry).
public struct LLMRequest: Sendable {
    public var prompt: String?
    public var system: String?
    /// An OpenAI "messages" array as JSON, instead of prompt and system.
    public var messagesJSON: String?
    /// Generation parameters as a JSON object, over the LLM's defaults.
    public var optionsJSON: String?
    /// Which of several generations for the same prompt (part of the cache key).
    public var generation: Int
    /// The `_row_id` of the input row the request is for. With it (ABI 1.5
    /// hosts), a sampled answer cached under `cache: always` is the row's
    /// own, and the teacher I/O log names the row. `LLMTask` steps get it
    /// set from their input; a step calling `complete` itself sets it.
    public var row: UInt64?

    public init(prompt: String? = nil, system: String? = nil, messagesJSON: String? = nil,
                optionsJSON: String? = nil, generation: Int = 0, row: UInt64? = nil) {
        self.prompt = prompt
        self.system = system
        self.messagesJSON = messagesJSON
        self.optionsJSON = optionsJSON
        self.generation = generation
        self.row = row
    }
}

/// The answer to one request, or why it failed after the host's retries.
public struct LLMResponse: Sendable {
    public var text: String?
    /// Set when the request failed.
    public var error: String?
    public var finishReason: String?
    public var model: String?
    /// The model's reasoning trace, when the server sent one beside the
    /// answer (nil from a host older than ABI 1.4).
    public var reasoning: String?
    public var promptTokens: Int
    public var completionTokens: Int
    public var cached: Bool
}

extension StepContext {
    private var llmService: UnsafePointer<pipeline_llm_ext>? {
        host.pointee.get_extension(host, PIPELINE_EXT_LLM)?.assumingMemoryBound(to: pipeline_llm_ext.self)
    }

    /// [worker] Sends all requests at once through the host's shared LLM
    /// client and waits for every answer. A failed request is a response
    /// with `error` set (a row error for the step), not a thrown error.
    /// The requests' rows go with them (complete_answers_for_rows) when
    /// every request has one and the host is 1.5 or later; otherwise the
    /// host learns no row.
    public func complete(_ requests: [LLMRequest]) throws(StepError) -> [LLMResponse] {
        guard let service = llmService else { throw .internal("this host offers no LLM service") }
        guard !requests.isEmpty else { return [] }
        var owned: [UnsafeMutablePointer<CChar>?] = []
        func copy(_ text: String?) -> UnsafePointer<CChar>? {
            guard let text, let pointer = strdup(text) else { return nil }
            owned.append(pointer)
            return UnsafePointer(pointer)
        }
        defer { for pointer in owned { free(pointer) } }
        let cRequests = requests.map { request in
            pipeline_llm_request(
                struct_size: UInt32(MemoryLayout<pipeline_llm_request>.size), prompt: copy(request.prompt),
                system: copy(request.system), messages_json: copy(request.messagesJSON),
                options_json: copy(request.optionsJSON), generation: UInt32(clamping: request.generation))
        }
        let rows = requests.compactMap(\.row)
        let forRows = rows.count == requests.count && Self.has(service, \.complete_answers_for_rows)
            ? service.pointee.complete_answers_for_rows : nil
        // complete_answers (ABI 1.4) also brings the reasoning trace.
        if Self.has(service, \.complete_answers), let completeAnswers = service.pointee.complete_answers,
           let releaseAnswers = service.pointee.release_answers {
            var answers = [pipeline_llm_answer](repeating: pipeline_llm_answer(), count: requests.count)
            let size = MemoryLayout<pipeline_llm_answer>.stride
            let status = cRequests.withUnsafeBufferPointer { input in
                answers.withUnsafeMutableBufferPointer { output in
                    guard let forRows else {
                        return completeAnswers(call, input.baseAddress, input.count, output.baseAddress, size)
                    }
                    return rows.withUnsafeBufferPointer { ids in
                        forRows(call, input.baseAddress, ids.baseAddress, input.count, output.baseAddress, size)
                    }
                }
            }
            try Self.check(status)
            defer { answers.withUnsafeMutableBufferPointer { releaseAnswers($0.baseAddress, $0.count, size) } }
            return answers.map { answer in
                var response = LLMResponse(answer.response)
                let reasoningEnd = (MemoryLayout<pipeline_llm_answer>.offset(of: \.reasoning) ?? size) + 8
                if Int(answer.struct_size) >= reasoningEnd {
                    response.reasoning = answer.reasoning.map { String(cString: $0) }
                }
                return response
            }
        }
        var responses = [pipeline_llm_response](repeating: pipeline_llm_response(), count: requests.count)
        let status = cRequests.withUnsafeBufferPointer { input in
            responses.withUnsafeMutableBufferPointer { output in
                service.pointee.complete(call, input.baseAddress, input.count, output.baseAddress)
            }
        }
        try Self.check(status)
        defer {
            responses.withUnsafeMutableBufferPointer { service.pointee.release($0.baseAddress, $0.count) }
        }
        return responses.map(LLMResponse.init)
    }

    /// True if the host's LLM table reaches the function at `field`.
    private static func has<T>(_ service: UnsafePointer<pipeline_llm_ext>,
                               _ field: KeyPath<pipeline_llm_ext, T>) -> Bool {
        MemoryLayout<pipeline_llm_ext>.offset(of: field).map {
            Int(service.pointee.struct_size) >= $0 + MemoryLayout<UnsafeRawPointer>.size
        } ?? false
    }

    private static func check(_ status: pipeline_status) throws(StepError) {
        guard status == pipeline_status(PIPELINE_OK) else {
            throw StepError(status: status, status == pipeline_status(PIPELINE_CANCELLED) ? "cancelled" : "the LLM service refused the requests")
        }
    }

    /// [worker] Embeds texts with the step's LLM; nil where a text failed.
    public func embed(_ texts: [String], dimension: Int) throws(StepError) -> [[Float]?] {
        try embedding(texts, dimension: dimension).map(\.vector)
    }

    /// [worker] Embeds texts with the step's LLM: each text's vector, or
    /// why it has none (the HTTP status and the server's message, as the
    /// teacher I/O log has them; a host older than ABI 1.2 gives no reason).
    public func embedding(_ texts: [String], dimension: Int) throws(StepError) -> [Embedding] {
        guard let service = llmService else { throw .internal("this host offers no LLM service") }
        guard !texts.isEmpty else { return [] }
        let copies = texts.map { strdup($0) }
        defer { for pointer in copies { free(pointer) } }
        var vectors = [Float](repeating: 0, count: texts.count * dimension)
        var statuses = [pipeline_status](repeating: 0, count: texts.count)
        var errors = [UnsafePointer<CChar>?](repeating: nil, count: texts.count)
        let pointers = copies.map { $0.map { UnsafePointer($0) } }
        // embed_with_errors is in the table of hosts from ABI 1.2 on.
        let explained = Self.has(service, \.embed_with_errors)
        let status = pointers.withUnsafeBufferPointer { input in
            vectors.withUnsafeMutableBufferPointer { output in
                statuses.withUnsafeMutableBufferPointer { state in
                    errors.withUnsafeMutableBufferPointer { reasons in
                        if explained, let embed = service.pointee.embed_with_errors {
                            return embed(call, input.baseAddress, input.count, output.baseAddress, dimension,
                                         state.baseAddress, reasons.baseAddress)
                        }
                        return service.pointee.embed(call, input.baseAddress, input.count, output.baseAddress, dimension,
                                                     state.baseAddress)
                    }
                }
            }
        }
        guard status == pipeline_status(PIPELINE_OK) else { throw StepError(status: status, "the LLM service refused the texts") }
        return (0..<texts.count).map { index in
            if statuses[index] == pipeline_status(PIPELINE_OK) {
                return Embedding(vector: Array(vectors[index * dimension..<(index + 1) * dimension]), error: nil)
            }
            return Embedding(vector: nil, error: errors[index].map { String(cString: $0) })
        }
    }
}

/// One text's embedding, or why it has none.
public struct Embedding: Sendable {
    public var vector: [Float]?
    /// When `vector` is nil: what went wrong, if the host said.
    public var error: String?
}

extension LLMResponse {
    /// The response as the frozen ABI struct has it (no reasoning).
    init(_ response: pipeline_llm_response) {
        let ok = response.status == pipeline_status(PIPELINE_OK)
        self.init(
            text: ok ? response.text.map { String(cString: $0) } : nil,
            error: ok ? nil : (response.error.map { String(cString: $0) } ?? "the request failed"),
            finishReason: response.finish_reason.map { String(cString: $0) },
            model: response.model.map { String(cString: $0) }, reasoning: nil,
            promptTokens: Int(response.prompt_tokens), completionTokens: Int(response.completion_tokens),
            cached: response.cached != 0)
    }
}
