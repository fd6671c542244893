/// Compact JSON written straight into UTF-8 bytes, with sorted keys (stable,
/// so it can be hashed): the one JSON writer of the host. `JSONValue.serialized`
/// is its text; the LLM client writes per-request bodies, cache keys and log
/// lines with it directly. Strings are copied in runs between the bytes that
/// need an escape.
public struct JSONBytes: Sendable {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func value(_ value: JSONValue) {
        switch value {
        case .string(let text): string(text)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                self.value(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                string(key)
                bytes.append(UInt8(ascii: ":"))
                if let item = object[key] { self.value(item) }
            }
            bytes.append(UInt8(ascii: "}"))
        case .null: raw("null")
        case .bool(let flag): flag ? raw("true") : raw("false")
        case .number(let n):
            // Integral values as integers; others in Swift's shortest round-trip form.
            if n.rounded() == n, abs(n) < 1e15 {
                bytes.append(contentsOf: String(Int64(n)).utf8)
            } else {
                bytes.append(contentsOf: "\(n)".utf8)
            }
        }
    }

    /// A JSON string: `"` and `\` escaped, and control characters (as \n,
    /// \r, \t or \u00XX); everything else as it is.
    public mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { escape($0) }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func int(_ value: Int) { bytes.append(contentsOf: String(value).utf8) }

    /// Bytes that already are one JSON value.
    public mutating func raw(_ json: [UInt8]) { bytes.append(contentsOf: json) }

    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Runs of bytes that need no escape are appended whole; the scan looks
    /// at 8 bytes at a time and stops only where one of them might need one.
    private mutating func escape(_ utf8: UnsafeBufferPointer<UInt8>) {
        guard let base = utf8.baseAddress else { return }
        let count = utf8.count
        var run = 0
        var index = 0
        while index < count {
            // A word with no byte below 0x20, no '"' and no '\\' is skipped whole.
            if index + 8 <= count {
                let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
                if !Self.mayNeedEscape(word) {
                    index += 8
                    continue
                }
            }
            let byte = base[index]
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                index += 1
                continue
            }
            if index > run { bytes.append(contentsOf: UnsafeBufferPointer(start: base + run, count: index - run)) }
            bytes.append(0x5C)
            switch byte {
            case 0x22, 0x5C: bytes.append(byte)
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            default:
                bytes.append(UInt8(ascii: "u"))
                bytes.append(UInt8(ascii: "0"))
                bytes.append(UInt8(ascii: "0"))
                bytes.append(Self.hexDigit(byte >> 4))
                bytes.append(Self.hexDigit(byte & 0xF))
            }
            index += 1
            run = index
        }
        if run < count { bytes.append(contentsOf: UnsafeBufferPointer(start: base + run, count: count - run)) }
    }

    /// Whether some byte of `word` is below 0x20, '"' or '\\' (it may say yes
    /// for a word that needs nothing; never no for one that does).
    @inline(__always) private static func mayNeedEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
        let control = (word &- ones &* 0x20) & ~word & highs != 0
        return control || hasZeroByte(word ^ (ones &* 0x22)) || hasZeroByte(word ^ (ones &* 0x5C))
    }

    @inline(__always) private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// A JSON object from fields given in any order: written with sorted
    /// keys, like `JSONValue.object(...).serialized`.
    public static func object(_ fields: [(key: String, value: Field)], capacity: Int = 512) -> JSONBytes {
        var out = JSONBytes(capacity: capacity)
        out.bytes.append(UInt8(ascii: "{"))
        for (index, field) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out.bytes.append(UInt8(ascii: ",")) }
            out.string(field.key)
            out.bytes.append(UInt8(ascii: ":"))
            switch field.value {
            case .value(let value): out.value(value)
            case .string(let text): out.string(text)
            case .int(let number): out.int(number)
            case .bool(let flag): out.bytes.append(contentsOf: (flag ? "true" : "false").utf8)
            case .raw(let json): out.raw(json)
            }
        }
        out.bytes.append(UInt8(ascii: "}"))
        return out
    }

    public enum Field: Sendable {
        case value(JSONValue)
        case string(String)
        case int(Int)
        case bool(Bool)
        /// Bytes that already are one JSON value.
        case raw([UInt8])
    }
}
