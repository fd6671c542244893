import Testing

@testable import PipelineLLMClient

/// The header lookup the LLM client reads Retry-After and Date with.
@Suite("HTTP header block")
struct HTTPHeaderTests {
    let block = Array("Content-Type: application/json\r\nretry-after:  120 \r\nDate: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Retry-After: 5\r\nRetry-After: 7\r\n\r\n".utf8)

    @Test func theFirstHeaderOfThatNameInAnyCaseTrimmed() {
        #expect(HTTPExchange.header("Retry-After", in: block) == "120")
        #expect(HTTPExchange.header("RETRY-AFTER", in: block) == "120")
        #expect(HTTPExchange.header("date", in: block) == "Wed, 21 Oct 2015 07:28:00 GMT")
        #expect(HTTPExchange.header("X-Retry-After", in: block) == "5")
    }

    @Test func noPartialNamesAndNothingFromAnEmptyBlock() {
        #expect(HTTPExchange.header("After", in: block) == nil)
        #expect(HTTPExchange.header("Retry", in: block) == nil)
        #expect(HTTPExchange.header("Retry-After", in: []) == nil)
        #expect(HTTPExchange.header("Retry-After", in: Array("Retry-After 5\r\n".utf8)) == nil)
    }
}
