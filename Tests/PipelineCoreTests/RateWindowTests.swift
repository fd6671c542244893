import Testing

@testable import PipelineCore
@testable import PipelineLLMClient

/// The LLM client's rate limits, with the clock in the test's hands.
@Suite("Rate limits")
struct RateWindowTests {
    @Test func requestsPerMinuteHoldsBackTheExtraOnesUntilTheOldestAgesOut() {
        var window = RateWindow(requestsPerMinute: 3, tokensPerMinute: nil)
        #expect(window.admit(tokens: 10, now: 0) == nil)
        #expect(window.admit(tokens: 10, now: 1) == nil)
        #expect(window.admit(tokens: 10, now: 2) == nil)
        // The fourth waits until the first started 60 s ago.
        #expect(window.admit(tokens: 10, now: 10) == 50)
        #expect(window.admit(tokens: 10, now: 59.5) == 0.5)
        #expect(window.admit(tokens: 10, now: 60) == nil)
        #expect(window.admit(tokens: 10, now: 60.5) == 0.5)
    }

    @Test func tokensPerMinuteCountsEstimatedTokens() {
        var window = RateWindow(requestsPerMinute: nil, tokensPerMinute: 1000)
        #expect(window.admit(tokens: 600, now: 0) == nil)
        #expect(window.admit(tokens: 300, now: 5) == nil)
        #expect(window.admit(tokens: 200, now: 6) == 54)
        #expect(window.admit(tokens: 100, now: 6) == nil)
        // A request over the whole budget still runs once the window is empty.
        var big = RateWindow(requestsPerMinute: nil, tokensPerMinute: 100)
        #expect(big.admit(tokens: 5000, now: 0) == nil)
        #expect(big.admit(tokens: 1, now: 1) == 59)
    }

    @Test func noLimitsNeverWait() {
        var window = RateWindow(requestsPerMinute: nil, tokensPerMinute: nil)
        for second in 0..<1000 { #expect(window.admit(tokens: 1e6, now: Double(second) / 100) == nil) }
    }
}
