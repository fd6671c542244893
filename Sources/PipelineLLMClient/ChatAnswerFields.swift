import PipelineJSON

/// The fields of a chat completion answer the client uses, read from the
/// body's bytes with JSONReader: `choices[0].message` (content, reasoning),
/// `choices[0].finish_reason`, `model` and `usage`. Everything else is
/// checked, not built, so a malformed body is refused exactly as a full
/// parse refuses it. Where a key appears twice the last one counts, as in
/// a parsed object. Non-string values read as absent.
struct ChatAnswerFields {
    /// `choices` is an array whose first element is an object with a `message` object.
    var hasMessage = false
    var content: String?
    var reasoningContent: String?
    var reasoning: String?
    var finishReason: String?
    var model: String?
    var promptTokens: Int64?
    var completionTokens: Int64?

    /// Nil when the body is not valid UTF-8 JSON, or not an object.
    init?(_ bytes: [UInt8]) {
        guard JSONReader.isValidUTF8(bytes) else { return nil }
        var reader = JSONReader(bytes)
        var fields = ChatAnswerFields()
        do {
            let isObject = try reader.object { (reader: inout JSONReader, key: String) throws(JSONError) in
                switch key {
                case "choices": try fields.readChoices(&reader)
                case "model": fields.model = try reader.string()
                case "usage":
                    fields.promptTokens = nil
                    fields.completionTokens = nil
                    _ = try reader.object { (reader: inout JSONReader, key: String) throws(JSONError) in
                        switch key {
                        case "prompt_tokens": fields.promptTokens = try reader.value().int64Value
                        case "completion_tokens": fields.completionTokens = try reader.value().int64Value
                        default: try reader.skip()
                        }
                    }
                default: try reader.skip()
                }
            }
            try reader.end()
            guard isObject else { return nil }
        } catch {
            return nil
        }
        self = fields
    }

    private init() {}

    private mutating func readChoices(_ reader: inout JSONReader) throws(JSONError) {
        hasMessage = false
        content = nil
        reasoningContent = nil
        reasoning = nil
        finishReason = nil
        _ = try reader.array { (reader: inout JSONReader, index: Int) throws(JSONError) in
            guard index == 0 else { return try reader.skip() }
            _ = try reader.object { (reader: inout JSONReader, key: String) throws(JSONError) in
                switch key {
                case "finish_reason": finishReason = try reader.string()
                case "message":
                    content = nil
                    reasoningContent = nil
                    reasoning = nil
                    hasMessage = try reader.object { (reader: inout JSONReader, key: String) throws(JSONError) in
                        switch key {
                        case "content": content = try reader.string()
                        case "reasoning_content": reasoningContent = try reader.string()
                        case "reasoning": reasoning = try reader.string()
                        default: try reader.skip()
                        }
                    }
                default: try reader.skip()
                }
            }
        }
    }
}
