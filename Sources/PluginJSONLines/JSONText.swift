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
