#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Times and durations as text, without Foundation formatters (these run
/// for every log line).
public enum TimeText {
    /// Seconds since 1970, now.
    public static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// `2024-05-01 02:17:03`, local time.
    public static func local(_ seconds: Double) -> String {
        let parts = brokenDown(seconds, utc: false)
        return "\(parts.year)-\(two(parts.month))-\(two(parts.day)) \(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))"
    }

    /// `02:17:03`, local time.
    public static func clock(_ seconds: Double) -> String {
        let parts = brokenDown(seconds, utc: false)
        return "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))"
    }

    /// RFC 3339 in UTC with milliseconds: `2024-05-01T00:17:03.120Z`.
    public static func rfc3339(_ seconds: Double) -> String {
        let parts = brokenDown(seconds, utc: true)
        let millis = Int((seconds - seconds.rounded(.down)) * 1000)
        let fraction = String(repeating: "0", count: 3 - String(millis).count) + String(millis)
        return "\(parts.year)-\(two(parts.month))-\(two(parts.day))T\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second)).\(fraction)Z"
    }

    /// A duration for people: `0.42 s`, `12.3 s`, `4m05s`, `2h03m`, `3d04h`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        if seconds < 10 { return "\(fixed(seconds, 2)) s" }
        if seconds < 60 { return "\(fixed(seconds, 1)) s" }
        let whole = Int(seconds.rounded(.down))
        if whole < 3600 { return "\(whole / 60)m\(two(whole % 60))s" }
        if whole < 86400 { return "\(whole / 3600)h\(two(whole % 3600 / 60))m" }
        return "\(whole / 86400)d\(two(whole % 86400 / 3600))h"
    }

    /// Elapsed time on a clock face: `0:07`, `12:34`, `1:02:03`.
    public static func elapsed(_ seconds: Double) -> String {
        let whole = max(0, Int(seconds.rounded(.down)))
        if whole < 3600 { return "\(whole / 60):\(two(whole % 60))" }
        return "\(whole / 3600):\(two(whole % 3600 / 60)):\(two(whole % 60))"
    }

    /// A number with `places` decimals (no locale, no exponent).
    public static func fixed(_ value: Double, _ places: Int) -> String {
        guard value.isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int64((abs(value) * scale).rounded())
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard places > 0 else { return sign + String(scaled) }
        let unit = Int64(scale)
        let fraction = String(scaled % unit)
        return sign + String(scaled / unit) + "." + String(repeating: "0", count: places - fraction.count) + fraction
    }

    /// Seconds with millisecond precision, for JSON text.
    package static func seconds3(_ value: Double) -> String { fixed(value, 3) }

    /// `12345` → `12,345`.
    public static func count(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (value < 0 ? "-" : "") + out
    }

    private struct Parts { var year, month, day, hour, minute, second: Int }

    private static func brokenDown(_ seconds: Double, utc: Bool) -> Parts {
        var time = time_t(seconds.rounded(.down))
        var fields = tm()
        if utc { gmtime_r(&time, &fields) } else { localtime_r(&time, &fields) }
        return Parts(year: Int(fields.tm_year) + 1900, month: Int(fields.tm_mon) + 1, day: Int(fields.tm_mday),
                     hour: Int(fields.tm_hour), minute: Int(fields.tm_min), second: Int(fields.tm_sec))
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
