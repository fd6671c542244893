// How long a server asks a client to wait before trying again.

public enum RetryAfter {
    /// Seconds to wait according to a `Retry-After` header (RFC 9110
    /// §10.2.3): delta-seconds ("120"; a fraction is accepted), or an
    /// HTTP-date in any of the three forms a recipient must accept
    /// (§5.6.7). A date is measured from the response's own `Date` header
    /// when it has one, so the two clocks need not agree, else from `now`
    /// (Unix time); a date in the past means 0. Nil when the value is
    /// neither.
    public static func delay(_ value: String, responseDate: String? = nil, now: Double) -> Double? {
        let text = trimmed(value)
        if let seconds = deltaSeconds(text) { return seconds }
        let reference = responseDate.flatMap { HTTPDate.parse($0, now: now) } ?? now
        guard let date = HTTPDate.parse(text, now: reference) else { return nil }
        return max(0, date - reference)
    }

    /// Seconds to wait according to a `RateLimit` header of the IETF draft
    /// (draft-ietf-httpapi-ratelimit-headers), as the Hub sends it:
    /// `"api";r=0;t=42`, where `t` is whole seconds until the quota resets.
    /// One second is added (`t` is rounded down, and a retry at the exact
    /// reset may still be refused). With several policies, the longest
    /// wait. Nil without a `t` parameter.
    public static func rateLimitDelay(_ value: String) -> Double? {
        var longest: Double?
        for item in value.split(separator: ",") {
            for parameter in item.split(separator: ";").dropFirst() {
                let parts = parameter.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, trimmed(String(parts[0])) == "t",
                      let seconds = deltaSeconds(trimmed(String(parts[1]))) else { continue }
                longest = max(longest ?? 0, seconds + 1)
            }
        }
        return longest
    }

    /// "12" or "1.5": non-negative, finite.
    static func deltaSeconds(_ text: String) -> Double? {
        guard !text.isEmpty, text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }),
              text.utf8.first != 0x2E, let value = Double(text), value.isFinite else { return nil }
        return value
    }

    static func trimmed(_ text: String) -> String {
        var slice = Substring(text)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}

/// HTTP-dates (RFC 9110 §5.6.7), as Unix time.
public enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let shortDays: Set<String> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    private static let longDays: Set<String> = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    /// Parses `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate), `Sunday,
    /// 06-Nov-94 08:49:37 GMT` (RFC 850) and `Sun Nov  6 08:49:37 1994`
    /// (asctime); names in any case. A two-digit year more than 50 years
    /// after `now` (Unix time) is read as the most recent past year that
    /// ends in those digits. Nil for anything else, or an impossible date.
    public static func parse(_ text: String, now: Double) -> Double? {
        let value = RetryAfter.trimmed(text)
        if let comma = value.firstIndex(of: ",") {
            let day = value[..<comma].lowercased()
            let fields = value[value.index(after: comma)...].split(separator: " ")
            if shortDays.contains(day) {
                // 06 Nov 1994 08:49:37 GMT
                guard fields.count == 5, fields[4] == "GMT", fields[0].count == 2, fields[2].count == 4,
                      let mday = number(fields[0]), let month = month(fields[1]), let year = number(fields[2])
                else { return nil }
                return timestamp(year: year, month: month, day: mday, clock: fields[3])
            }
            if longDays.contains(day) {
                // 06-Nov-94 08:49:37 GMT
                guard fields.count == 3, fields[2] == "GMT" else { return nil }
                let date = fields[0].split(separator: "-", omittingEmptySubsequences: false)
                guard date.count == 3, date[0].count == 2, date[2].count == 2, let mday = number(date[0]),
                      let month = month(date[1]), let yy = number(date[2]) else { return nil }
                return timestamp(year: fullYear(yy, now: now), month: month, day: mday, clock: fields[1])
            }
            return nil
        }
        // Sun Nov  6 08:49:37 1994
        let fields = value.split(separator: " ")
        guard fields.count == 5, shortDays.contains(fields[0].lowercased()), fields[1].count == 3,
              let month = month(fields[1]), fields[2].count <= 2, let mday = number(fields[2]),
              fields[4].count == 4, let year = number(fields[4]) else { return nil }
        return timestamp(year: year, month: month, day: mday, clock: fields[3])
    }

    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 4, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
    }

    private static func month(_ text: Substring) -> Int? {
        months.firstIndex(of: text.lowercased()).map { $0 + 1 }
    }

    /// The year of a two-digit RFC 850 year, seen from `now`.
    private static func fullYear(_ yy: Int, now: Double) -> Int {
        let dayNumber = now.isFinite && abs(now) < 1e15 ? now / 86_400 : 0
        var days = Int(dayNumber)
        if Double(days) > dayNumber { days -= 1 }  // toward the past, before 1970 too
        let current = civilYear(days: days)
        var year = current - current % 100 + yy
        if year > current + 50 {
            year -= 100
        } else if year + 100 <= current + 50 {
            year += 100
        }
        return year
    }

    /// Unix time of a date and an `HH:MM:SS` clock (UTC); nil if either is impossible.
    private static func timestamp(year: Int, month: Int, day: Int, clock: Substring) -> Double? {
        let parts = clock.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.count == 2 }), let hour = number(parts[0]),
              let minute = number(parts[1]), let second = number(parts[2]),
              hour < 24, minute < 60, second <= 60 else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), day >= 1, day <= lengths[month - 1] else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Double(days * 86_400 + hour * 3_600 + minute * 60 + second)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (the era/day-of-era
    /// arithmetic of Howard Hinnant's "chrono-compatible low-level date algorithms").
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The year that day `days` (since 1970-01-01) falls in.
    static func civilYear(days: Int) -> Int {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        return yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }
}
