import Testing

@testable import PipelineLLMClient

/// What the client makes of a chat answer: an answer, a failed request
/// (well formed, no content: never retried or cached), or malformed (nil:
/// retried).
@Suite("Chat answers")
struct ChatAnswerTests {
    private func parse(_ text: String) -> ChatResponse? { LLMClient.parseChat(Array(text.utf8)) }

    @Test func anAnswerKeepsItsTextAndFinishReason() throws {
        let answer = try #require(parse(#"{"model":"m","choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}]}"#))
        #expect(answer.status == .ok && answer.text == "hi" && answer.finishReason == "length" && answer.model == "m")
    }

    /// A reasoning model that spent max_tokens thinking: null or empty
    /// content is a clear failure, not a malformed answer paid again.
    @Test func noContentAfterReasoningIsAFailureThatSaysWhy() throws {
        let null = try #require(parse(#"{"choices":[{"message":{"role":"assistant","content":null,"reasoning_content":"Let me think"},"finish_reason":"length"}]}"#))
        #expect(null.status == .invalidData)
        #expect(null.error == #"the model returned no answer (content null, finish_reason "length"); it spent its tokens reasoning: raise max_tokens"#)
        let empty = try #require(parse(#"{"choices":[{"message":{"content":"","reasoning":"hmm"},"finish_reason":"stop"}]}"#))
        #expect(empty.status == .invalidData)
        #expect(empty.error?.contains("content empty") == true)
        // An empty answer that ended normally, without reasoning, is an answer.
        let quiet = try #require(parse(#"{"choices":[{"message":{"content":""},"finish_reason":"stop"}]}"#))
        #expect(quiet.status == .ok && quiet.text == "")
    }

    @Test func theReasoningTraceIsKeptFromEitherField() throws {
        let old = try #require(parse(#"{"choices":[{"message":{"content":"42","reasoning_content":"6 times 7"},"finish_reason":"stop"}]}"#))
        #expect(old.text == "42" && old.reasoning == "6 times 7")
        let new = try #require(parse(#"{"choices":[{"message":{"content":"42","reasoning":"six sevens","reasoning_content":null}}]}"#))
        #expect(new.reasoning == "six sevens")
        let none = try #require(parse(#"{"choices":[{"message":{"content":"42","reasoning_content":""}}]}"#))
        #expect(none.reasoning == nil)
    }

    @Test func aBodyThatIsNoChatAnswerIsMalformed() {
        #expect(parse(#"{"choices":[]}"#) == nil)
        #expect(parse(#"{"choices":[{"text":"x"}]}"#) == nil)
        #expect(parse("not json") == nil)
    }
}
