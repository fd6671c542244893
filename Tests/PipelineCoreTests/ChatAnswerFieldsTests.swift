import Testing

@testable import PipelineJSON
@testable import PipelineLLMClient

/// The chat answer read with JSONReader (fields only) against the whole
/// tree parsed with JSONValue, as the client read it before: the same
/// fields for every body, and the same bodies refused, including each
/// prefix of a real answer and bytes changed one at a time.
@Suite("Chat answer fields")
struct ChatAnswerFieldsTests {
    /// What the tree says, the way LLMClient.parseChat read it before JSONReader.
    private struct Oracle: Equatable {
        var hasMessage: Bool
        var content, reasoningContent, reasoning, finishReason, model: String?
        var promptTokens, completionTokens: Int64?

        init?(_ bytes: [UInt8]) {
            guard let text = String(validating: bytes, as: UTF8.self), let json = try? JSONValue(parsing: text),
                  json.objectValue != nil else { return nil }
            let choice = json["choices"]?.arrayValue?.first
            let message = choice?["message"]
            hasMessage = message?.objectValue != nil
            content = message?["content"]?.stringValue
            reasoningContent = message?["reasoning_content"]?.stringValue
            reasoning = message?["reasoning"]?.stringValue
            finishReason = choice?["finish_reason"]?.stringValue
            model = json["model"]?.stringValue
            promptTokens = json["usage"]?["prompt_tokens"]?.int64Value
            completionTokens = json["usage"]?["completion_tokens"]?.int64Value
        }

        init(_ fields: ChatAnswerFields) {
            hasMessage = fields.hasMessage
            content = fields.content
            reasoningContent = fields.reasoningContent
            reasoning = fields.reasoning
            finishReason = fields.finishReason
            model = fields.model
            promptTokens = fields.promptTokens
            completionTokens = fields.completionTokens
        }
    }

    private func agree(_ bytes: [UInt8], _ label: String) {
        let expected = Oracle(bytes)
        let read = ChatAnswerFields(bytes).map(Oracle.init)
        // A body that is no object: both refuse. Otherwise the same fields
        // wherever the old reading found a message (without one the body is
        // malformed either way).
        #expect((expected == nil) == (read == nil), "\(label): \(String(decoding: bytes, as: UTF8.self))")
        if let expected, let read, expected.hasMessage || read.hasMessage {
            #expect(expected == read, "\(label): \(String(decoding: bytes, as: UTF8.self))")
        }
    }

    static let bodies: [String] = [
        #"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello \"there\"\n\u00e9\ud83d\ude00 \/ ok"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}"#,
        #"{"choices":[{"message":{"content":null,"reasoning_content":"think"},"finish_reason":"length"}]}"#,
        #"{"choices":[{"message":{"content":"","reasoning":"r"}}],"usage":{"prompt_tokens":1.5,"completion_tokens":1e3}}"#,
        #"{"choices":[{"message":{"content":"a"}},{"message":{"content":"b"}}],"model":7}"#,
        #"{"choices":[],"model":"m"}"#,
        #"{"choices":{"message":{"content":"x"}}}"#,
        #"{"choices":[1,{"message":{"content":"x"}}]}"#,
        #"{"choices":[{"message":"text"}]}"#,
        #"{"choices":[{"message":{"content":["parts"]}}]}"#,
        #"{"choices":[{"message":{"content":"first"},"message":{"content":"second"}}],"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}"#,
        #"{"choices":[{"message":{"content":"x"}}],"choices":[]}"#,
        #"{"model":"m","choices":[{"finish_reason":"stop","message":{"content":"x","tool_calls":[{"id":"t","function":{"name":"f","arguments":"{}"}}]}}], "usage" : { "prompt_tokens" : 3 , "completion_tokens" : 4 } }  "#,
        #"[{"choices":[]}]"#,
        #""just a string""#,
        #"{"choices":[{"message":{"content":"\ud800"}}]}"#,
        #"{"choices":[{"message":{"content":"ok","x":"\udc00"}}]}"#,
        #"{"choices":[{"message":{"content":"ok","x":"\u12"}}]}"#,
        #"{"choices":[{"message":{"content":"ok","x":"\q"}}]}"#,
        "{\"choices\":[{\"message\":{\"content\":\"ok\",\"x\":\"tab\there\"}}]}",
        #"{"choices":[{"message":{"content":"ok"}}]} trailing"#,
        #"{"choices":[{"message":{"content":"ok"}}],}"#,
        #"{"choices":[{"message":{"content":"ok"}}]"#,
        #"{"choices":[{"message":{"content":"ok"}}],"n":01}"#,
        #"{"choices":[{"message":{"content":"ok"}}],"n":-0.5e-3,"t":true,"f":false,"z":null}"#,
        String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
        #"{"choices":[{"message":{"content":"ok"}}],"deep":"# + String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "}",
    ]

    @Test func everyBodyReadsAsTheWholeTreeSaysIt() {
        for (index, body) in Self.bodies.enumerated() { agree(Array(body.utf8), "body \(index)") }
        agree([0x7B, 0x22, 0x6D, 0x6F, 0x64, 0x65, 0x6C, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D], "invalid UTF-8")
        agree([], "empty")
    }

    @Test func everyPrefixAndEveryChangedByteReadsAsTheWholeTreeSaysIt() {
        let body = Array(Self.bodies[0].utf8)
        for length in 0...body.count { agree(Array(body[..<length]), "prefix \(length)") }
        let replacements: [UInt8] = [0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A, 0x20, 0x30, 0x0A, 0x61, 0xC3]
        for position in body.indices {
            for byte in replacements where byte != body[position] {
                var changed = body
                changed[position] = byte
                agree(changed, "byte \(position) = \(byte)")
            }
        }
    }

    @Test func theClientsAnswerComesFromTheFields() throws {
        let answer = try #require(LLMClient.parseChat(Array(Self.bodies[0].utf8)))
        #expect(answer.status == .ok && answer.text == "Hello \"there\"\n\u{e9}\u{1F600} / ok")
        #expect(answer.finishReason == "stop" && answer.model == "m" && answer.promptTokens == 12 && answer.completionTokens == 34)
    }
}

/// JSONBytes' string escape, which skips 8 bytes at a time where none needs
/// an escape: every string reads back as itself, escapes as before.
@Suite("JSON string escapes")
struct JSONEscapeTests {
    @Test func everyStringReadsBackAsItselfAndEscapesAreTheUsualOnes() throws {
        var escaped = JSONBytes()
        escaped.string("a\"b\\c\nd\re\tf\u{1}g\u{1f}h/é😀")
        #expect(String(decoding: escaped.bytes, as: UTF8.self) == #""a\"b\\c\nd\re\tf\u0001g\u001fh/é😀""#)
        var generator = SystemRandomNumberGenerator()
        let alphabet: [Character] = ["a", "b", " ", "\"", "\\", "\n", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "😀", "~", "}"]
        for length in 0..<200 {
            let text = String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            var json = JSONBytes()
            json.string(text)
            let parsed = try JSONValue(parsing: String(decoding: json.bytes, as: UTF8.self))
            #expect(parsed == .string(text), "\(json.bytes)")
        }
    }
}
