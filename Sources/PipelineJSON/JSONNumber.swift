/// Reads one JSON number, the host's only number reader: the JSON parser
/// (`JSONValue(parsing:)`) and the embeddings reader of the LLM client use it.
public enum JSONNumber {
    /// The number at `index` (RFC 8259's grammar:
    /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, so "01", "1.", ".5" and
    /// "+1" are not numbers) as the correctly rounded Double, with `index`
    /// just past it; nil when there is no number there or it does not fit a
    /// Double. Exact integer arithmetic when the digits and the power of ten
    /// are small enough (Clinger's fast path), the standard library's
    /// correctly rounded parser otherwise.
    public static func read(_ bytes: UnsafeBufferPointer<UInt8>, at index: inout Int) -> Double? {
        let start = index
        var negative = false
        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }
        func digit(_ byte: UInt8?) -> UInt64? {
            guard let byte, byte >= 0x30, byte <= 0x39 else { return nil }
            return UInt64(byte - 0x30)
        }
        if peek() == UInt8(ascii: "-") { negative = true; index += 1 }
        var mantissa: UInt64 = 0
        var digits = 0          // significant digits in mantissa
        var exponent = 0        // power of ten applied to mantissa
        var exact = true
        // Integer part: 0, or a nonzero digit then digits.
        guard let first = digit(peek()) else { return nil }
        index += 1
        mantissa = first
        digits = first == 0 ? 0 : 1
        if first != 0 {
            while let d = digit(peek()) {
                index += 1
                if digits < 19 { mantissa = mantissa * 10 + d; digits += 1 } else { exponent += 1; exact = false }
            }
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard digit(peek()) != nil else { return nil }
            while let d = digit(peek()) {
                index += 1
                if digits < 19 {
                    mantissa = mantissa * 10 + d
                    if mantissa != 0 { digits += 1 }
                    exponent -= 1
                } else if d != 0 {
                    exact = false
                }
            }
        }
        if let byte = peek(), byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            index += 1
            var negativeExponent = false
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                negativeExponent = sign == UInt8(ascii: "-")
                index += 1
            }
            guard digit(peek()) != nil else { return nil }
            var value = 0
            while let d = digit(peek()) {
                index += 1
                if value < 100_000 { value = value * 10 + Int(d) }
            }
            exponent += negativeExponent ? -value : value
        }
        if exact, let value = exactDouble(mantissa: mantissa, exponent: exponent, negative: negative) {
            return value
        }
        // The token is a valid JSON number by now; one too large for a Double is not accepted.
        guard let value = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)),
              value.isFinite else { return nil }
        return value
    }

    /// The integer literals of the JSON text `text` (no fraction, no
    /// exponent, outside strings) of magnitude 2^53 or more, such as
    /// 9007199254740993: `JSONValue` holds numbers as doubles, which from
    /// there on no longer hold every integer, so a reader of rows through
    /// it refuses them, naming them, instead of rounding them.
    public static func inexactIntegers(in text: String) -> [String] {
        var found: [String] = []
        let bytes = Array(text.utf8)
        var index = 0
        var inString = false
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\") { index += 2; continue }
                if byte == UInt8(ascii: "\"") { inString = false }
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\"") { inString = true; index += 1; continue }
            guard isDigit(byte) || byte == UInt8(ascii: "-") else { index += 1; continue }
            let start = index
            index += 1
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
                // A fraction or an exponent: a decimal number, read as the nearest double.
                while index < bytes.count, isDigit(bytes[index]) || [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
                                                                     UInt8(ascii: "+"), UInt8(ascii: "-")].contains(bytes[index]) {
                    index += 1
                }
                continue
            }
            let literal = String(decoding: bytes[start..<index], as: UTF8.self)
            // 2^53 has 16 digits: anything shorter is below it.
            guard literal.count >= 16 else { continue }
            // Within ±(2^53 - 1) every integer is exact, and `int64Value` reads it back.
            if let value = Int64(literal), value.magnitude < 1 << 53 { continue }
            found.append(literal)
        }
        return found
    }

    /// ±`mantissa` × 10^`exponent` when a Double holds both exactly
    /// (mantissa ≤ 2^53, |exponent| ≤ 22): then one IEEE multiplication or
    /// division rounds correctly (Clinger's fast path). Nil otherwise: the
    /// text needs `read`'s general path. `read` uses it, and so do readers
    /// that scan digits their own way (load_jsonl's scanner, the CSV
    /// reader), so every reader makes the same Double of the same digits.
    @inlinable
    public static func exactDouble(mantissa: UInt64, exponent: Int, negative: Bool) -> Double? {
        guard mantissa <= 1 << 53, exponent >= -22, exponent <= 22 else { return nil }
        var value = Double(mantissa)
        if exponent < 0 { value /= powersOfTen[-exponent] } else { value *= powersOfTen[exponent] }
        return negative ? -value : value
    }

    /// 10^0 ... 10^22: the powers of ten a Double holds exactly.
    @usableFromInline
    static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]
}
