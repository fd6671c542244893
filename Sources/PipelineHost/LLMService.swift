import CPipelineABI
import PipelineJSON
import PipelineLLMClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Service "pipeline.llm/1": what a plugin's C calls turn into on the
// step's LLMClient. Strings handed to the plugin are strdup'd and freed by
// `release` (complete) or after the callback (submit).

private func client(_ call: OpaquePointer?) -> (LLMClient, InstanceContext)? {
    guard let instance = CallContext.from(call)?.instance, let llm = instance.llm else { return nil }
    return (llm, instance)
}

/// The client's request for the plugin's; `row`: the input row it is for (ABI 1.5).
private func chatRequest(_ request: UnsafePointer<pipeline_llm_request>, row: UInt64? = nil) -> ChatRequest {
    let r = request.pointee
    var chat = ChatRequest()
    chat.prompt = r.prompt.map { String(cString: $0) }
    chat.system = r.system.map { String(cString: $0) }
    chat.messages = r.messages_json.flatMap { try? JSONValue(parsing: String(cString: $0)) }
    chat.options = r.options_json.flatMap { try? JSONValue(parsing: String(cString: $0)) }?.objectValue ?? [:]
    chat.generation = Int(r.generation)
    chat.row = row
    return chat
}

private func fill(_ out: UnsafeMutablePointer<pipeline_llm_response>, from response: ChatResponse) {
    func copy(_ text: String?) -> UnsafePointer<CChar>? { text.flatMap { strdup($0) }.map { UnsafePointer($0) } }
    out.pointee = pipeline_llm_response(
        struct_size: UInt32(MemoryLayout<pipeline_llm_response>.size), status: response.status.pipelineStatus,
        text: copy(response.text), error: copy(response.error), finish_reason: copy(response.finishReason),
        model: copy(response.model), prompt_tokens: Int64(response.promptTokens),
        completion_tokens: Int64(response.completionTokens), cached: response.cached ? 1 : 0)
}

private func freeStrings(_ response: UnsafeMutablePointer<pipeline_llm_response>) {
    free(UnsafeMutablePointer(mutating: response.pointee.text))
    free(UnsafeMutablePointer(mutating: response.pointee.error))
    free(UnsafeMutablePointer(mutating: response.pointee.finish_reason))
    free(UnsafeMutablePointer(mutating: response.pointee.model))
    response.pointee.text = nil
    response.pointee.error = nil
    response.pointee.finish_reason = nil
    response.pointee.model = nil
}

/// The least answer a plugin may ask for: the fields of ABI 1.4.
private let answerMinimumSize = Int(PIPELINE_LLM_ANSWER_SIZE_1_4)

/// Writes `response` into the plugin's answer of `size` bytes: every field
/// of ours that ends within `size`, zeroes after them (fields of a later
/// header than ours), struct_size = the bytes written.
private func fill(_ out: UnsafeMutableRawPointer, size: Int, from response: ChatResponse) {
    out.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    var answer = pipeline_llm_answer()
    fill(&answer.response, from: response)
    answer.reasoning = response.reasoning.flatMap { strdup($0) }.map { UnsafePointer($0) }
    let written = min(size, MemoryLayout<pipeline_llm_answer>.size)
    answer.struct_size = UInt32(written)
    withUnsafeBytes(of: &answer) { bytes in
        if let source = bytes.baseAddress { out.copyMemory(from: source, byteCount: written) }
    }
}

/// Frees the strings of an answer `fill(_:size:from:)` wrote.
private func freeStrings(answer: UnsafeMutableRawPointer) {
    let answer = answer.assumingMemoryBound(to: pipeline_llm_answer.self)
    freeStrings(&answer.pointee.response)
    free(UnsafeMutablePointer(mutating: answer.pointee.reasoning))
    answer.pointee.reasoning = nil
}

/// pipeline_llm_request is frozen (arrays of it have the stride of its one
/// size): a request of another struct_size is a plugin bug, refused before
/// anything is read past it.
private func badRequestSize(_ call: OpaquePointer?, _ requests: UnsafePointer<pipeline_llm_request>,
                            _ count: Int) -> Int32? {
    for index in 0..<count {
        let size = UnsafeRawPointer(requests + index).load(as: UInt32.self)
        guard size != UInt32(PIPELINE_LLM_REQUEST_SIZE) else { continue }
        CallContext.from(call)?.setError(
            status: Int32(PIPELINE_INVALID_ARGUMENT),
            message: "LLM request \(index): struct_size is \(size), but pipeline_llm_request is frozen at \(PIPELINE_LLM_REQUEST_SIZE) bytes (set it to sizeof(pipeline_llm_request))")
        return Int32(PIPELINE_INVALID_ARGUMENT)
    }
    return nil
}

private func noLLM(_ call: OpaquePointer?) -> Int32 {
    if let context = CallContext.from(call) {
        context.setError(status: Int32(PIPELINE_INVALID_ARGUMENT),
                         message: "this step has no LLM: give it `llm: NAME` in the pipeline file")
    }
    return Int32(PIPELINE_INVALID_ARGUMENT)
}

private func llmComplete(_ call: OpaquePointer?, _ requests: UnsafePointer<pipeline_llm_request>?, _ count: Int,
                         _ responses: UnsafeMutablePointer<pipeline_llm_response>?) -> Int32 {
    guard let (llm, instance) = client(call) else { return noLLM(call) }
    guard count > 0 else { return Int32(PIPELINE_OK) }
    guard let requests, let responses else { return Int32(PIPELINE_INVALID_ARGUMENT) }
    if let refused = badRequestSize(call, requests, count) { return refused }
    if instance.cancelled.load(ordering: .relaxed) || HostState.runCancelled.load(ordering: .relaxed) {
        return Int32(PIPELINE_CANCELLED)
    }
    let chats = (0..<count).map { chatRequest(requests + $0) }
    let answers = llm.complete(chats, step: instance.stepLabel, sink: CallContext.from(call)?.ioLines)
    for (index, answer) in answers.enumerated() { fill(responses + index, from: answer) }
    return Int32(PIPELINE_OK)
}

/// complete_answers, and with `rows` (ABI 1.5) complete_answers_for_rows:
/// rows[i] is the `_row_id` request i is for.
private func llmCompleteAnswers(_ call: OpaquePointer?, _ requests: UnsafePointer<pipeline_llm_request>?, _ count: Int,
                                _ answers: UnsafeMutablePointer<pipeline_llm_answer>?, _ size: Int,
                                rows: UnsafePointer<UInt64>? = nil, function: String = "complete_answers") -> Int32 {
    guard let (llm, instance) = client(call) else { return noLLM(call) }
    guard count > 0 else { return Int32(PIPELINE_OK) }
    guard let requests, let answers else { return Int32(PIPELINE_INVALID_ARGUMENT) }
    guard size >= answerMinimumSize, size % MemoryLayout<UnsafeRawPointer>.alignment == 0 else {
        CallContext.from(call)?.setError(
            status: Int32(PIPELINE_INVALID_ARGUMENT),
            message: "\(function): answer_size is \(size), but a pipeline_llm_answer has at least \(answerMinimumSize) bytes, a multiple of 8 (pass sizeof(pipeline_llm_answer))")
        return Int32(PIPELINE_INVALID_ARGUMENT)
    }
    if let refused = badRequestSize(call, requests, count) { return refused }
    if instance.cancelled.load(ordering: .relaxed) || HostState.runCancelled.load(ordering: .relaxed) {
        return Int32(PIPELINE_CANCELLED)
    }
    let chats = (0..<count).map { chatRequest(requests + $0, row: rows?[$0]) }
    let results = llm.complete(chats, step: instance.stepLabel, sink: CallContext.from(call)?.ioLines)
    let base = UnsafeMutableRawPointer(answers)
    for (index, result) in results.enumerated() { fill(base + index * size, size: size, from: result) }
    return Int32(PIPELINE_OK)
}

private func llmReleaseAnswers(_ answers: UnsafeMutablePointer<pipeline_llm_answer>?, _ count: Int, _ size: Int) {
    guard let answers, size >= answerMinimumSize else { return }
    let base = UnsafeMutableRawPointer(answers)
    for index in 0..<count { freeStrings(answer: base + index * size) }
}

private func llmRelease(_ responses: UnsafeMutablePointer<pipeline_llm_response>?, _ count: Int) {
    guard let responses else { return }
    for index in 0..<count { freeStrings(responses + index) }
}

/// The plugin's callback and its argument, carried to another thread.
private struct Callback: @unchecked Sendable {
    let function: pipeline_llm_callback
    let user: UnsafeMutableRawPointer?
}

private func llmSubmit(_ call: OpaquePointer?, _ request: UnsafePointer<pipeline_llm_request>?,
                       _ done: pipeline_llm_callback?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    guard let (llm, instance) = client(call) else { return noLLM(call) }
    guard let request, let done else { return Int32(PIPELINE_INVALID_ARGUMENT) }
    if let refused = badRequestSize(call, request, 1) { return refused }
    let callback = Callback(function: done, user: user)
    llm.chat(chatRequest(request), step: instance.stepLabel, sink: CallContext.from(call)?.ioLines) { answer in
        var response = pipeline_llm_response()
        fill(&response, from: answer)
        callback.function(callback.user, &response)
        freeStrings(&response)
    }
    return Int32(PIPELINE_OK)
}

/// The plugin's answer callback and its argument, carried to another thread.
private struct AnswerCallback: @unchecked Sendable {
    let function: pipeline_llm_answer_callback
    let user: UnsafeMutableRawPointer?
}

/// submit_answer, and with `row` (ABI 1.5) submit_answer_for_row.
private func llmSubmitAnswer(_ call: OpaquePointer?, _ request: UnsafePointer<pipeline_llm_request>?,
                             _ done: pipeline_llm_answer_callback?, _ user: UnsafeMutableRawPointer?,
                             row: UInt64? = nil) -> Int32 {
    guard let (llm, instance) = client(call) else { return noLLM(call) }
    guard let request, let done else { return Int32(PIPELINE_INVALID_ARGUMENT) }
    if let refused = badRequestSize(call, request, 1) { return refused }
    let callback = AnswerCallback(function: done, user: user)
    llm.chat(chatRequest(request, row: row), step: instance.stepLabel, sink: CallContext.from(call)?.ioLines) { result in
        var answer = pipeline_llm_answer()
        withUnsafeMutableBytes(of: &answer) { bytes in
            guard let base = bytes.baseAddress else { return }
            fill(base, size: bytes.count, from: result)
        }
        callback.function(callback.user, &answer)
        withUnsafeMutableBytes(of: &answer) { bytes in bytes.baseAddress.map { freeStrings(answer: $0) } }
    }
    return Int32(PIPELINE_OK)
}

private func llmEmbed(_ call: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int,
                      _ vectors: UnsafeMutablePointer<Float>?, _ dim: Int,
                      _ statuses: UnsafeMutablePointer<Int32>?) -> Int32 {
    llmEmbed(call, texts, count, vectors, dim, statuses, errors: nil)
}

/// `embed`, and with `errors`, each failed text's reason (a string that
/// lives as long as the call).
private func llmEmbed(_ call: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int,
                      _ vectors: UnsafeMutablePointer<Float>?, _ dim: Int,
                      _ statuses: UnsafeMutablePointer<Int32>?,
                      errors: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    guard let (llm, instance) = client(call) else { return noLLM(call) }
    guard count > 0 else { return Int32(PIPELINE_OK) }
    guard let texts, let vectors, let statuses, dim > 0 else { return Int32(PIPELINE_INVALID_ARGUMENT) }
    let strings = (0..<count).map { texts[$0].map { String(cString: $0) } ?? "" }
    for (index, result) in llm.embed(strings, step: instance.stepLabel, sink: CallContext.from(call)?.ioLines).enumerated() {
        let context = CallContext.from(call)
        switch result {
        case .success(let vector) where vector.count == dim:
            for offset in 0..<dim { vectors[index * dim + offset] = vector[offset] }
            statuses[index] = Int32(PIPELINE_OK)
            errors?[index] = nil
        case .success(let vector):
            statuses[index] = Int32(PIPELINE_INVALID_DATA)
            errors?[index] = context?.keep("llm \(llm.config.name): the vector has \(vector.count) floats, not \(dim)")
        case .failure(let failure):
            statuses[index] = Int32(PIPELINE_IO)
            errors?[index] = context?.keep(failure.message)
        }
    }
    return Int32(PIPELINE_OK)
}

extension LLMStatus {
    /// The plugin ABI's status for the client's outcome.
    var pipelineStatus: Int32 {
        switch self {
        case .ok: Int32(PIPELINE_OK)
        case .io: Int32(PIPELINE_IO)
        case .timeout: Int32(PIPELINE_TIMEOUT)
        case .invalidData: Int32(PIPELINE_INVALID_DATA)
        case .internal: Int32(PIPELINE_INTERNAL)
        }
    }
}

enum LLMService {
    nonisolated(unsafe) static let table: UnsafePointer<pipeline_llm_ext> = {
        let table = UnsafeMutablePointer<pipeline_llm_ext>.allocate(capacity: 1)
        // Field by field over zeroes: what a later header appends stays NULL.
        var service = pipeline_llm_ext()
        service.struct_size = UInt32(MemoryLayout<pipeline_llm_ext>.size)
        service.complete = { llmComplete($0, $1, $2, $3) }
        service.release = { llmRelease($0, $1) }
        service.submit = { llmSubmit($0, $1, $2, $3) }
        service.embed = { llmEmbed($0, $1, $2, $3, $4, $5) }
        service.embed_with_errors = { llmEmbed($0, $1, $2, $3, $4, $5, errors: $6) }
        service.complete_answers = { llmCompleteAnswers($0, $1, $2, $3, $4) }
        service.release_answers = { llmReleaseAnswers($0, $1, $2) }
        service.submit_answer = { llmSubmitAnswer($0, $1, $2, $3) }
        service.complete_answers_for_rows = { call, requests, rows, count, answers, size in
            llmCompleteAnswers(call, requests, count, answers, size, rows: rows, function: "complete_answers_for_rows")
        }
        service.submit_answer_for_row = { llmSubmitAnswer($0, $1, $3, $4, row: $2) }
        table.initialize(to: service)
        return UnsafePointer(table)
    }()
}
