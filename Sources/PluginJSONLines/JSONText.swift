// Writing JSON text into a ByteArena: numbers and RFC 8259 strings.

public enum JSONText {
    @usableFromInline static let hexDigits: StaticString = "0123456789abcdef"

    /// Decimal digits of an Int64.
    @inlinable @inline(__always)
    public static func appendInt(_ value: Int64, to out: ByteArena) {
        if value < 0 {
            out.append(UInt8(ascii: "-"))
            appendUInt(value.magnitude, to: out)
        } else {
            appendUInt(UInt64(value), to: out)
        }
    }

    @inlinable @inline(__always)
    public static func appendUInt(_ value: UInt64, to out: ByteArena) {
        if value < 10 {
            out.append(UInt8(truncatingIfNeeded: value) + 0x30)
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var v = value
            var i = 24
            while v > 0 {
                i -= 1
                buffer[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
            }
            if let base = buffer.baseAddress {
                out.append(base.assumingMemoryBound(to: UInt8.self) + i, count: 24 - i)
            }
        }
    }

    /// The shortest text that reads back as the same Double; null for NaN
    /// and infinities, which JSON cannot hold.
    @inlinable @inline(__always)
    public static func appendDouble(_ value: Double, to out: ByteArena) {
        guard value.isFinite else {
            out.append("null" as StaticString)
            return
        }
        if value == value.rounded(.towardZero) && abs(value) < 1e15 {
            // Integral: "3.0" (keeps it a float when read back).
            appendInt(Int64(value), to: out)
            if value == 0 && value.sign == .minus {
                out.count -= 1
                out.append("-0.0" as StaticString)
                return
            }
            out.append(".0" as StaticString)
            return
        }
        out.append(value.description)   // Swift prints the shortest round-trip form
    }

    /// The shortest text that reads back as the same Float.
    public static func appendFloat(_ value: Float, to out: ByteArena) {
        guard value.isFinite else {
            out.append("null" as StaticString)
            return
        }
        out.append(value.description)
    }

    /// A JSON string of bytes known to be valid UTF-8.
    public static func appendValidString(_ bytes: UnsafeBufferPointer<UInt8>, to out: ByteArena) {
        _ = appendString(UnsafeRawBufferPointer(bytes), validating: false, to: out)
    }

    /// Writes `"…"` with RFC 8259 escapes (`"`, `\` and control characters;
    /// everything else as is). With `validating`, stops at the first byte
    /// that is not well-formed UTF-8 and returns its offset.
    @inlinable @inline(__always)
    public static func appendString(_ bytes: UnsafeRawBufferPointer, validating: Bool, to out: ByteArena) -> Int? {
        out.reserve(bytes.count + 2)
        out.append(UInt8(ascii: "\""))
        guard let start = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
            out.append(UInt8(ascii: "\""))
            return nil
        }
        let count = bytes.count
        var i = 0
        var run = 0   // start of bytes not yet copied
        while i < count {
            // Eight plain ASCII bytes at a time.
            while i + 8 <= count {
                let w = UnsafeRawPointer(start + i).loadUnaligned(as: UInt64.self)
                let quotes = w ^ 0x2222_2222_2222_2222
                let slashes = w ^ 0x5C5C_5C5C_5C5C_5C5C
                let special = ((w &- 0x2020_2020_2020_2020) | (quotes &- 0x0101_0101_0101_0101)
                    | (slashes &- 0x0101_0101_0101_0101) | w) & 0x8080_8080_8080_8080
                if special != 0 { break }
                i += 8
            }
            guard i < count else { break }
            let b = start[i]
            if b >= 0x80 {
                if validating {
                    let n = utf8SequenceLength(start, i, count)
                    if n == 0 { return i }
                    i += n
                } else {
                    i += 1
                }
                continue
            }
            if b >= 0x20 && b != 0x22 && b != 0x5C {
                i += 1
                continue
            }
            out.append(start + run, count: i - run)
            out.reserve(6)
            out.append(UInt8(ascii: "\\"))
            switch b {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            default:
                out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(hexDigits.utf8Start[Int(b >> 4)])
                out.append(hexDigits.utf8Start[Int(b & 0xF)])
            }
            i += 1
            run = i
        }
        out.append(start + run, count: count - run)
        out.append(UInt8(ascii: "\""))
        return nil
    }
}

// MARK: JSON text

extension JSONText {
    /// Deeper nesting is refused (and bounds the recursion), as the loaders refuse it.
    public static let maxDepth = 256

    /// Appends the one JSON value `bytes` hold without insignificant white
    /// space, everything else as written (numbers, escapes). Returns nil,
    /// or what is wrong (then `out` holds part of the value): not JSON
    /// (RFC 8259), not well-formed UTF-8, more than one value, too deep.
    public static func appendCompactJSON(_ bytes: UnsafeRawBufferPointer, to out: ByteArena) -> String? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), !bytes.isEmpty else {
            return "empty text"
        }
        var reader = CompactJSON(p: base, end: bytes.count, out: out)
        do throws(CompactJSON.Problem) {
            reader.skipSpace()
            try reader.value(depth: 0)
            reader.skipSpace()
            guard reader.pos == reader.end else { throw reader.problem("more text after the JSON value") }
        } catch {
            return error.message
        }
        return nil
    }
}

/// A checking copier of JSON text (appendCompactJSON).
private struct CompactJSON {
    struct Problem: Error {
        let message: String
    }

    let p: UnsafePointer<UInt8>
    let end: Int
    let out: ByteArena
    var pos = 0

    init(p: UnsafePointer<UInt8>, end: Int, out: ByteArena) {
        self.p = p
        self.end = end
        self.out = out
    }

    func problem(_ what: String) -> Problem { Problem(message: "\(what) at byte offset \(pos)") }

    mutating func skipSpace() {
        while pos < end, p[pos] == 0x20 || p[pos] == 0x0A || p[pos] == 0x0D || p[pos] == 0x09 { pos += 1 }
    }

    mutating func copy(from start: Int) { out.append(p + start, count: pos - start) }

    mutating func value(depth: Int) throws(Problem) {
        guard pos < end else { throw problem("the text ends where a value should be") }
        let start = pos
        switch p[pos] {
        case UInt8(ascii: "{"):
            guard depth < JSONText.maxDepth else { throw problem("nested deeper than \(JSONText.maxDepth) levels") }
            pos += 1
            out.append(UInt8(ascii: "{"))
            skipSpace()
            if pos < end, p[pos] == UInt8(ascii: "}") {
                pos += 1
                out.append(UInt8(ascii: "}"))
                return
            }
            while true {
                skipSpace()
                guard pos < end, p[pos] == UInt8(ascii: "\"") else { throw problem("expected a string key") }
                try string()
                skipSpace()
                guard pos < end, p[pos] == UInt8(ascii: ":") else { throw problem("expected ':'") }
                pos += 1
                out.append(UInt8(ascii: ":"))
                skipSpace()
                try value(depth: depth + 1)
                if try endOfItem(UInt8(ascii: "}")) { return }
            }
        case UInt8(ascii: "["):
            guard depth < JSONText.maxDepth else { throw problem("nested deeper than \(JSONText.maxDepth) levels") }
            pos += 1
            out.append(UInt8(ascii: "["))
            skipSpace()
            if pos < end, p[pos] == UInt8(ascii: "]") {
                pos += 1
                out.append(UInt8(ascii: "]"))
                return
            }
            while true {
                skipSpace()
                try value(depth: depth + 1)
                if try endOfItem(UInt8(ascii: "]")) { return }
            }
        case UInt8(ascii: "\""):
            try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try number()
            copy(from: start)
        default:
            throw problem("no JSON value starts with byte 0x\(String(p[pos], radix: 16))")
        }
    }

    /// After an item: "," (false) or the closing byte (true), copied.
    mutating func endOfItem(_ closing: UInt8) throws(Problem) -> Bool {
        skipSpace()
        guard pos < end else { throw problem("the text ends inside an array or object") }
        if p[pos] == UInt8(ascii: ",") {
            pos += 1
            out.append(UInt8(ascii: ","))
            return false
        }
        guard p[pos] == closing else { throw problem("expected ',' or '\(Character(Unicode.Scalar(closing)))'") }
        pos += 1
        out.append(closing)
        return true
    }

    mutating func literal(_ word: StaticString) throws(Problem) {
        let n = word.utf8CodeUnitCount
        guard end - pos >= n, memcmp(p + pos, word.utf8Start, n) == 0 else { throw problem("invalid literal") }
        out.append(p + pos, count: n)
        pos += n
    }

    /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    mutating func number() throws(Problem) {
        func digits(_ reader: inout CompactJSON) -> Int {
            let start = reader.pos
            while reader.pos < reader.end, reader.p[reader.pos] &- 0x30 < 10 { reader.pos += 1 }
            return reader.pos - start
        }
        if p[pos] == UInt8(ascii: "-") { pos += 1 }
        let integerStart = pos
        let integerDigits = digits(&self)
        guard integerDigits > 0, integerDigits == 1 || p[integerStart] != UInt8(ascii: "0") else {
            throw problem("invalid number")
        }
        if pos < end, p[pos] == UInt8(ascii: ".") {
            pos += 1
            guard digits(&self) > 0 else { throw problem("invalid number") }
        }
        if pos < end, p[pos] | 0x20 == UInt8(ascii: "e") {
            pos += 1
            if pos < end, p[pos] == UInt8(ascii: "+") || p[pos] == UInt8(ascii: "-") { pos += 1 }
            guard digits(&self) > 0 else { throw problem("invalid number") }
        }
    }

    /// A string at `pos` (its opening quote), checked and copied as written.
    mutating func string() throws(Problem) {
        let start = pos
        pos += 1
        while true {
            guard pos < end else { throw problem("the text ends inside a string") }
            let b = p[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                copy(from: start)
                return
            } else if b == UInt8(ascii: "\\") {
                guard pos + 1 < end else { throw problem("the text ends inside an escape") }
                switch p[pos + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    pos += 2
                case UInt8(ascii: "u"):
                    guard end - pos >= 6, (2..<6).allSatisfy({ isHexDigit(p[pos + $0]) }) else {
                        throw problem("invalid \\u escape")
                    }
                    pos += 6
                default:
                    throw problem("invalid escape")
                }
            } else if b < 0x20 {
                throw problem("an unescaped control character in a string")
            } else if b >= 0x80 {
                let n = utf8SequenceLength(p, pos, end)
                guard n > 0 else { throw problem("invalid UTF-8") }
                pos += n
            } else {
                pos += 1
            }
        }
    }

    private func isHexDigit(_ b: UInt8) -> Bool {
        b &- 0x30 < 10 || (b | 0x20) &- 0x61 < 6
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: UTF-8

/// The length of the well-formed UTF-8 sequence that starts with the
/// non-ASCII byte at `p[i]`, or 0 if it is not well formed (a stray
/// continuation byte, an overlong form, a surrogate, a code point above
/// U+10FFFF, or a sequence cut by `end`).
@inlinable @inline(__always)
public func utf8SequenceLength(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
    let b0 = p[i]
    if b0 < 0xC2 { return 0 }
    if b0 < 0xE0 {
        return i + 1 < end && p[i + 1] & 0xC0 == 0x80 ? 2 : 0
    }
    if b0 < 0xF0 {
        guard i + 2 < end else { return 0 }
        let b1 = p[i + 1], b2 = p[i + 2]
        guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80 else { return 0 }
        if b0 == 0xE0 && b1 < 0xA0 { return 0 }   // overlong
        if b0 == 0xED && b1 >= 0xA0 { return 0 }  // UTF-16 surrogate
        return 3
    }
    if b0 < 0xF5 {
        guard i + 3 < end else { return 0 }
        let b1 = p[i + 1], b2 = p[i + 2], b3 = p[i + 3]
        guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80, b3 & 0xC0 == 0x80 else { return 0 }
        if b0 == 0xF0 && b1 < 0x90 { return 0 }   // overlong
        if b0 == 0xF4 && b1 >= 0x90 { return 0 }  // above U+10FFFF
        return 4
    }
    return 0
}
