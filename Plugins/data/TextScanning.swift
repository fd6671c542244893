// Byte-level text checks shared by the loaders: UTF-8 validation and
// number recognition. No Foundation: these run once per value.

import PipelineJSON

// MARK: UTF-8

/// True if any byte of the 8-byte word has its high bit set.
@inline(__always)
func hasNonASCII(_ word: UInt64) -> Bool { word & 0x8080_8080_8080_8080 != 0 }

/// The offset of the first byte that is not part of well-formed UTF-8, or
/// nil if all `count` bytes are.
func firstInvalidUTF8(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int? {
    var i = 0
    while i < count {
        if i + 8 <= count, !hasNonASCII(UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)) {
            i += 8
            continue
        }
        if p[i] < 0x80 {
            i += 1
            continue
        }
        let n = utf8SequenceLength(p, i, count)
        if n == 0 { return i }
        i += n
    }
    return nil
}

/// Appends the UTF-8 encoding of `scalar` (a valid code point).
@inline(__always)
func appendUTF8(_ scalar: UInt32, to out: ByteArena) {
    switch scalar {
    case ..<0x80:
        out.append(UInt8(scalar))
    case ..<0x800:
        out.reserve(2)
        out.append(UInt8(0xC0 | (scalar >> 6)))
        out.append(UInt8(0x80 | (scalar & 0x3F)))
    case ..<0x10000:
        out.reserve(3)
        out.append(UInt8(0xE0 | (scalar >> 12)))
        out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (scalar & 0x3F)))
    default:
        out.reserve(4)
        out.append(UInt8(0xF0 | (scalar >> 18)))
        out.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (scalar & 0x3F)))
    }
}

/// A byte for a message: `'x'` if printable ASCII, else `byte 0xNN`.
func describeByte(_ byte: UInt8) -> String {
    if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
    let hex = String(byte, radix: 16, uppercase: true)
    return "byte 0x\(hex.count == 1 ? "0" + hex : hex)"
}

// MARK: Numbers

/// A number read from text: an exact integer, a double, or a number that
/// neither holds without changing it (the nearest double, and why).
enum ParsedNumber: Equatable {
    case int(Int64)
    case float(Double)
    case inexact(Double, InexactNumber)

    var double: Double {
        switch self {
        case .int(let value): Double(value)
        case .float(let value), .inexact(let value, _): value
        }
    }
}

/// Why a number's text cannot become an Int64 or a double unchanged.
///
/// A decimal of up to 17 significant digits names one double, and the
/// writers print that double's shortest form, so such numbers are kept
/// (as every JSON reader keeps them). Beyond that, digits would be lost.
enum InexactNumber: Equatable {
    /// An integer (no fraction, no exponent) outside Int64, with more than
    /// 17 significant digits.
    case integerTooLarge
    /// More than 17 significant digits.
    case tooManyDigits
    /// Beyond ±1.8e308: it would become infinity (and be written as null).
    case overflow
    /// Non-zero but below 2.2e-308: it would become zero or lose precision.
    case underflow

    /// Why, for messages: "… cannot be read as a number without changing it: <why>".
    var reason: String {
        switch self {
        case .integerTooLarge: "it is an integer outside the 64-bit range (±9223372036854775807) with more than the 17 significant digits a double keeps"
        case .tooManyDigits: "it has more than the 17 significant digits a double keeps"
        case .overflow: "it is beyond the range of a double (±1.8e308)"
        case .underflow: "it is too close to zero for a double (below 2.2e-308)"
        }
    }
}

@inline(__always)
private func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }

/// Parses a whole number lexeme `p[0..<count]`.
///
/// The grammar is JSON's (RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`).
/// `lenient` (CSV) also accepts a leading `+` and a missing integer or
/// fraction part (`.5`, `5.`). Leading zeros (`007`) are never a number,
/// so codes like zip codes stay text. Without fraction and exponent, a
/// value that fits Int64 is `.int`; everything else is `.float`: the
/// Double PipelineJSON's `JSONNumber` makes of the same digits (its exact
/// path for up to 19 digits and |exponent| ≤ 22, `JSONNumber.read`
/// otherwise), so load_jsonl, load_csv and the host read a number alike.
/// Returns nil if the text is not a number.
func parseNumber(_ p: UnsafePointer<UInt8>, _ count: Int, lenient: Bool) -> ParsedNumber? {
    var i = 0
    var negative = false
    if i < count && p[i] == UInt8(ascii: "-") {
        negative = true
        i += 1
    } else if lenient && i < count && p[i] == UInt8(ascii: "+") {
        i += 1
    }
    var mantissa: UInt64 = 0
    var significant = 0      // digits held in mantissa
    var dropped = false      // digits beyond 19 were dropped
    var exponent = 0
    var digits = 0           // significant digits, from the first non-zero one
    var trailingZeros = 0    // zeros at the end of them
    let integerStart = i
    while i < count && isDigit(p[i]) {
        let digit = UInt64(p[i] &- 0x30)
        if digits > 0 || digit != 0 {
            digits += 1
            trailingZeros = digit == 0 ? trailingZeros + 1 : 0
        }
        if significant < 19 {
            if mantissa != 0 || digit != 0 {
                mantissa = mantissa * 10 + digit
                significant += 1
            }
        } else {
            dropped = true
            exponent += 1
        }
        i += 1
    }
    let integerDigits = i - integerStart
    if integerDigits > 1 && p[integerStart] == UInt8(ascii: "0") { return nil }
    var integral = true
    var fractionDigits = 0
    if i < count && p[i] == UInt8(ascii: ".") {
        integral = false
        i += 1
        let fractionStart = i
        while i < count && isDigit(p[i]) {
            let digit = UInt64(p[i] &- 0x30)
            if digits > 0 || digit != 0 {
                digits += 1
                trailingZeros = digit == 0 ? trailingZeros + 1 : 0
            }
            if significant < 19 {
                if mantissa != 0 || digit != 0 {
                    mantissa = mantissa * 10 + digit
                    significant += 1
                }
                exponent -= 1
            } else {
                dropped = true
            }
            i += 1
        }
        fractionDigits = i - fractionStart
        if fractionDigits == 0 && !lenient { return nil }
    }
    if integerDigits == 0 && (!lenient || fractionDigits == 0) { return nil }
    if i < count && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) {
        integral = false
        i += 1
        var exponentNegative = false
        if i < count && (p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-")) {
            exponentNegative = p[i] == UInt8(ascii: "-")
            i += 1
        }
        let exponentStart = i
        var written = 0
        while i < count && isDigit(p[i]) {
            if written < 100_000 { written = written * 10 + Int(p[i] &- 0x30) }
            i += 1
        }
        if i == exponentStart { return nil }
        exponent += exponentNegative ? -written : written
    }
    guard i == count else { return nil }

    if integral && !dropped {
        if negative {
            if mantissa <= UInt64(Int64.max) { return .int(-Int64(mantissa)) }
            if mantissa == UInt64(Int64.max) + 1 { return .int(Int64.min) }
        } else if mantissa <= UInt64(Int64.max) {
            return .int(Int64(mantissa))
        }
    }
    if mantissa == 0 && !dropped { return .float(negative ? -0.0 : 0.0) }
    let tooManyDigits = digits - trailingZeros > 17
    if !dropped, let value = JSONNumber.exactDouble(mantissa: mantissa, exponent: exponent, negative: negative) {
        return .float(value)
    }
    // Rare: many digits or a large exponent: JSONNumber.read, correctly
    // rounded. It refuses what is not JSON (CSV's `+1`, `.5`, `5.`) and
    // what overflows a Double; for those, the standard library's parser,
    // which is what JSONNumber.read's general path is too (correctly
    // rounded, independent of the C locale; infinity on overflow).
    var end = 0
    let json = JSONNumber.read(UnsafeBufferPointer(start: p, count: count), at: &end)
    guard let value = (end == count ? json : nil)
            ?? Double(String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)) else { return nil }
    if value.isInfinite { return .inexact(value, .overflow) }
    if abs(value) < Double.leastNormalMagnitude { return .inexact(value, .underflow) }
    // An integer beyond Int64 with few digits (1e20 written out) is a
    // double like any other; with more, digits would be lost.
    if tooManyDigits { return .inexact(value, integral ? .integerTooLarge : .tooManyDigits) }
    return .float(value)
}
