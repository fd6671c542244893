import Foundation
import Testing

@testable import PipelineRetry

/// SplitMix64, seeded: reproducible draws.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test func theTransientStatusesAreRetriedAndNothingElse() {
        let policy = RetryPolicy(maxAttempts: 3, initialDelay: 1, maxDelay: 8)
        for status in [408, 429, 500, 502, 503, 504] { #expect(policy.isRetryable(status: status), "\(status)") }
        for status in [0, 200, 201, 301, 400, 401, 403, 404, 409, 412, 422, 501, 505, 599] {
            #expect(!policy.isRetryable(status: status), "\(status)")
        }
    }

    @Test func theLLMClassAddsConflictsAndEveryServerError() {
        let statuses = RetryableStatuses.transientConflictsAndServerErrors
        for status in [408, 409, 429, 500, 501, 502, 503, 504, 505, 520, 599] { #expect(statuses.contains(status), "\(status)") }
        for status in [200, 400, 401, 403, 404, 412, 422, 499] { #expect(!statuses.contains(status), "\(status)") }
    }

    @Test func maxAttemptsCountsTheFirstAttempt() {
        let policy = RetryPolicy(maxAttempts: 3, initialDelay: 1, maxDelay: 8)
        #expect(policy.allowsRetry(afterAttempt: 1))
        #expect(policy.allowsRetry(afterAttempt: 2))
        #expect(!policy.allowsRetry(afterAttempt: 3))
        #expect(!policy.allowsRetry(afterAttempt: 4))
        // At least one attempt, whatever is asked.
        #expect(RetryPolicy(maxAttempts: 0, initialDelay: 1, maxDelay: 8).maxAttempts == 1)
        #expect(!RetryPolicy(maxAttempts: -5, initialDelay: 1, maxDelay: 8).allowsRetry(afterAttempt: 1))
    }

    @Test func theBackoffDoublesUpToTheCap() {
        let policy = RetryPolicy(maxAttempts: 20, initialDelay: 0.25, maxDelay: 30)
        #expect((1...10).map { policy.backoff(afterAttempt: $0) } == [0.25, 0.5, 1, 2, 4, 8, 16, 30, 30, 30])
        #expect(policy.backoff(afterAttempt: Int.max) == 30)
        let tripled = RetryPolicy(maxAttempts: 5, initialDelay: 1, multiplier: 3, maxDelay: 100)
        #expect((1...6).map { tripled.backoff(afterAttempt: $0) } == [1, 3, 9, 27, 81, 100])
        #expect(RetryPolicy(maxAttempts: 5, initialDelay: 0, maxDelay: 30).backoff(afterAttempt: Int.max) == 0)
        #expect(RetryPolicy(maxAttempts: 5, initialDelay: 50, maxDelay: 30).backoff(afterAttempt: 1) == 30)
    }

    @Test func jitterStaysWithinItsBoundsAndSpreadsOverThem() {
        let policy = RetryPolicy(maxAttempts: 10, initialDelay: 1, maxDelay: 1000, jitter: 0.5)
        var generator = SeededGenerator(state: 42)
        for attempt in 1...6 {
            let backoff = policy.backoff(afterAttempt: attempt)
            var low = Double.infinity
            var high = 0.0
            for _ in 0..<5_000 {
                let delay = policy.delay(afterAttempt: attempt, using: &generator)
                #expect(delay >= backoff * 0.5 && delay <= backoff * 1.5, "attempt \(attempt): \(delay)")
                low = min(low, delay)
                high = max(high, delay)
            }
            // Spread over the range, not stuck at the backoff.
            #expect(low < backoff * 0.55 && high > backoff * 1.45, "attempt \(attempt): \(low)...\(high)")
        }
        #expect(policy.delayRange(afterAttempt: 3) == 2...6)
    }

    @Test func withoutJitterTheWaitIsTheBackoff() {
        let policy = RetryPolicy(maxAttempts: 10, initialDelay: 0.5, maxDelay: 4, jitter: 0)
        var generator = SeededGenerator(state: 7)
        #expect((1...6).map { policy.delay(afterAttempt: $0, using: &generator) } == [0.5, 1, 2, 4, 4, 4])
    }

    @Test func theCapHoldsWithJitterIncluded() {
        let policy = RetryPolicy(maxAttempts: 100, initialDelay: 1, maxDelay: 10, jitter: 0.5)
        var generator = SeededGenerator(state: 99)
        var nearCap = 0
        for attempt in 1...60 {
            for _ in 0..<200 {
                let delay = policy.delay(afterAttempt: attempt, using: &generator)
                #expect(delay <= 10, "attempt \(attempt): \(delay)")
                if attempt > 10 { #expect(delay >= 5) }
                if delay > 9.9 { nearCap += 1 }
            }
        }
        // The range is cut at the cap, not the draws piled on it.
        #expect(nearCap > 0 && nearCap < 1_000, "\(nearCap) draws near the cap")
        #expect(policy.delayRange(afterAttempt: 40) == 5...10)
        #expect(policy.delayRange(afterAttempt: 4) == 4...10)
    }

    @Test func aServerDelayIsAFloorCappedAndNeverJittered() {
        let policy = RetryPolicy(maxAttempts: 10, initialDelay: 1, maxDelay: 8, jitter: 0.5, maxServerDelay: 120)
        var generator = SeededGenerator(state: 3)
        // Longer than the backoff: exactly what the server asked.
        for _ in 0..<100 { #expect(policy.delay(afterAttempt: 1, serverDelay: 20, using: &generator) == 20) }
        // Shorter (or 0): the backoff still applies.
        for _ in 0..<100 {
            let delay = policy.delay(afterAttempt: 3, serverDelay: 0, using: &generator)
            #expect(delay >= 2 && delay <= 6)
        }
        // Too long: capped.
        #expect(policy.delay(afterAttempt: 1, serverDelay: 86_400, using: &generator) == 120)
        // Nonsense: ignored.
        for bad in [-5.0, .nan, .infinity] {
            let delay = policy.delay(afterAttempt: 1, serverDelay: bad, using: &generator)
            #expect(delay >= 0.5 && delay <= 1.5, "\(bad): \(delay)")
        }
    }

    @Test func nonsenseSettingsAreClampedNotTrapped() {
        let policy = RetryPolicy(maxAttempts: 3, initialDelay: -.infinity, multiplier: .nan, maxDelay: .infinity,
                                 jitter: 7, maxServerDelay: .nan)
        #expect(policy.initialDelay == 0 && policy.multiplier == 2 && policy.maxDelay == 86_400)
        #expect(policy.jitter == 1 && policy.maxServerDelay == 0)
        var generator = SeededGenerator(state: 1)
        #expect(policy.delay(afterAttempt: 2, serverDelay: 10, using: &generator) == 0)
    }
}

@Suite("Retry-After")
struct RetryAfterTests {
    /// 2015-10-21 07:28:00 UTC.
    static let reference = 1_445_412_480.0

    @Test func deltaSecondsAreReadAsSeconds() {
        #expect(RetryAfter.delay("120", now: 0) == 120)
        #expect(RetryAfter.delay("  7 \r\n", now: 0) == 7)
        #expect(RetryAfter.delay("0", now: 0) == 0)
        #expect(RetryAfter.delay("1.5", now: 0) == 1.5)
        for bad in ["", " ", "-1", "+3", ".5", "1e3", "5s", "0x10", "1,5", "NaN", "inf"] {
            #expect(RetryAfter.delay(bad, now: 0) == nil, "\(bad)")
        }
    }

    @Test func anHTTPDateInEachOfItsThreeForms() {
        let now = Self.reference
        #expect(RetryAfter.delay("Wed, 21 Oct 2015 07:30:00 GMT", now: now) == 120)
        #expect(RetryAfter.delay("Wednesday, 21-Oct-15 07:30:00 GMT", now: now) == 120)
        #expect(RetryAfter.delay("Wed Oct 21 07:30:00 2015", now: now) == 120)
        #expect(RetryAfter.delay("Sun Nov  6 08:49:37 1994", now: 784_111_777 - 30) == 30)
        #expect(RetryAfter.delay("wed, 21 OCT 2015 07:28:10 GMT", now: now) == 10)
    }

    @Test func aDateIsMeasuredFromTheResponsesOwnDate() {
        // The local clock is an hour ahead; the server's Date says 07:28:00.
        let delay = RetryAfter.delay("Wed, 21 Oct 2015 07:28:45 GMT", responseDate: "Wed, 21 Oct 2015 07:28:00 GMT",
                                     now: Self.reference + 3_600)
        #expect(delay == 45)
        // An unreadable Date header: the local clock.
        #expect(RetryAfter.delay("Wed, 21 Oct 2015 07:28:45 GMT", responseDate: "yesterday", now: Self.reference) == 45)
    }

    @Test func aDateInThePastMeansNow() {
        #expect(RetryAfter.delay("Thu, 01 Jan 1970 00:00:00 GMT", now: Self.reference) == 0)
    }

    @Test func malformedDatesAreRefused() {
        for bad in ["Wed, 31 Feb 2015 07:28:00 GMT", "Wed, 21 Oct 2015 24:00:00 GMT", "Wed, 21 Oct 2015 07:60:00 GMT",
                    "Wed, 21 Oct 2015 07:28:00 PST", "Wed, 21 Oct 2015 07:28 GMT", "Wed, 1 Oct 2015 07:28:00 GMT",
                    "Wed, 21 Oct 15 07:28:00 GMT", "Wed, 21 Okt 2015 07:28:00 GMT", "Xyz, 21 Oct 2015 07:28:00 GMT",
                    "Wednesday, 21-Oct-2015 07:28:00 GMT", "Wed Oct 21 07:28:00 15", "Wed Oct 21 2015",
                    "2015-10-21T07:28:00Z", "Wed, 21 Oct 2015 07:28:00 GMT extra", "Wed, 29 Feb 2015 00:00:00 GMT"] {
            #expect(RetryAfter.delay(bad, now: Self.reference) == nil, "\(bad)")
        }
    }

    @Test func leapDays() {
        #expect(HTTPDate.parse("Thu, 29 Feb 2024 00:00:00 GMT", now: 0) == 1_709_164_800)
        #expect(HTTPDate.parse("Tue, 29 Feb 2000 00:00:00 GMT", now: 0) == 951_782_400)
        #expect(HTTPDate.parse("Thu, 29 Feb 1900 00:00:00 GMT", now: 0) == nil)
        #expect(HTTPDate.parse("Wed, 29 Feb 2023 00:00:00 GMT", now: 0) == nil)
    }

    @Test func aTwoDigitYearIsNeverMoreThanFiftyYearsAhead() {
        let in2026 = 1_767_225_600.0  // 2026-01-01
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: in2026) == 784_111_777)
        #expect(HTTPDate.parse("Wednesday, 01-Jan-76 00:00:00 GMT", now: in2026) == 3_345_062_400)  // 2076
        #expect(HTTPDate.parse("Saturday, 01-Jan-77 00:00:00 GMT", now: in2026) == 220_924_800)  // 1977
        let in2099 = 4_070_908_800.0  // 2099-01-01
        #expect(HTTPDate.parse("Saturday, 01-Jan-01 00:00:00 GMT", now: in2099) == 4_133_980_800)  // 2101
    }

    /// Every day from 1900 to 2200 at a random time, written by Foundation's
    /// formatter, reads back as the same instant.
    @Test func agreesWithFoundationOverThreeCenturies() throws {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = try #require(TimeZone(identifier: "UTC"))
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let asctime = DateFormatter()
        asctime.locale = formatter.locale
        asctime.timeZone = formatter.timeZone
        asctime.dateFormat = "EEE MMM d HH:mm:ss yyyy"
        var generator = SeededGenerator(state: 2024)
        var day = -25_567  // 1900-01-01
        while day < 84_006 {  // 2200-01-01
            let instant = Double(day * 86_400 + Int(generator.next() % 86_400))
            let date = Date(timeIntervalSince1970: instant)
            let imf = formatter.string(from: date)
            #expect(HTTPDate.parse(imf, now: 0) == instant, "\(imf)")
            var padded = asctime.string(from: date)
            // asctime pads a one-digit day with a space: "Nov  6".
            if let range = padded.range(of: #" \d "#, options: .regularExpression) {
                padded.replaceSubrange(range, with: "  " + padded[range].dropFirst())
            }
            #expect(HTTPDate.parse(padded, now: 0) == instant, "\(padded)")
            day += 1 + Int(generator.next() % 7)
        }
    }

    @Test func rateLimitResetGetsASecondMore() {
        #expect(RetryAfter.rateLimitDelay(#""api";r=0;t=42"#) == 43)
        #expect(RetryAfter.rateLimitDelay(#""api";r=0;t=5, "burst";r=0;t=9"#) == 10)
        #expect(RetryAfter.rateLimitDelay(#""api"; r=0; t = 3"#) == 4)
        #expect(RetryAfter.rateLimitDelay(#""api";r=10"#) == nil)
        #expect(RetryAfter.rateLimitDelay(#""quota-t=5""#) == nil)
        #expect(RetryAfter.rateLimitDelay(#""api";r=0;t=-1"#) == nil)
    }
}
