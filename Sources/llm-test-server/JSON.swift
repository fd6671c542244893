// A small JSON value, a strict parser that never traps on bad input, and a
// writer. The value keeps what the server needs and PipelineJSON's JSONValue
// does not: integers apart from doubles, members in order, float32
// embeddings written short, so the output is byte-stable. Numbers are read
// with PipelineJSON's JSONNumber (one grammar for host and server).

import PipelineJSON

indirect enum JSON: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    /// Written with the shortest text that reads back as the same Float.
    case float(Float)
    case string(String)
    case array([JSON])
    /// Members in the order given; lookups take the last duplicate.
    case object([(String, JSON)])

    subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var array: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// An integer, also from an integral floating-point literal such as `2.0`.
    var int: Int? {
        switch self {
        case .int(let i): return i
        case .number(let d):
            guard d.rounded() == d, abs(d) < 9.0e15 else { return nil }
            return Int(d)
        default: return nil
        }
    }

    var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .number(let d): return d
        case .float(let f): return Double(f)
        default: return nil
        }
    }

    var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}

// MARK: - Parsing

struct JSONParseError: Error {
    let message: String
    let offset: Int
}

enum JSONParser {
    static let maximumDepth = 200

    static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSON {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONParseError) -> JSON in
            var reader = Reader(bytes: buffer)
            reader.skipWhitespace()
            let value = try reader.value(depth: 0)
            reader.skipWhitespace()
            guard reader.index == buffer.count else {
                throw JSONParseError(message: "unexpected data after the JSON value", offset: reader.index)
            }
            return value
        }
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func fail(_ message: String) -> JSONParseError {
            JSONParseError(message: message, offset: index)
        }

        var atEnd: Bool { index >= bytes.count }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0a, 0x0d: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(JSONParseError) -> JSON {
            guard depth < JSONParser.maximumDepth else { throw fail("JSON nested too deeply") }
            guard !atEnd else { throw fail("unexpected end of JSON") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected character in JSON")
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONParseError) {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { throw fail("invalid literal") }
            let expected = UnsafeBufferPointer(start: word.utf8Start, count: count)
            for k in 0..<count where bytes[index + k] != expected[k] {
                throw fail("invalid literal")
            }
            index += count
        }

        mutating func object(depth: Int) throws(JSONParseError) -> JSON {
            index += 1  // {
            var members: [(String, JSON)] = []
            skipWhitespace()
            if !atEnd, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard !atEnd, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                skipWhitespace()
                guard !atEnd, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
                index += 1
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard !atEnd else { throw fail("unterminated object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw fail("expected ',' or '}' in an object")
            }
        }

        mutating func array(depth: Int) throws(JSONParseError) -> JSON {
            index += 1  // [
            var items: [JSON] = []
            skipWhitespace()
            if !atEnd, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard !atEnd else { throw fail("unterminated array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                throw fail("expected ',' or ']' in an array")
            }
        }

        mutating func string() throws(JSONParseError) -> String {
            index += 1  // opening quote
            let start = index
            // Fast path: no escapes.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    index += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw fail("control character in a string") }
                index += 1
            }
            guard index < bytes.count else { throw fail("unterminated string") }
            var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<index]))
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw fail("unterminated escape") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5c)
                    case UInt8(ascii: "/"): out.append(0x2f)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0c)
                    case UInt8(ascii: "n"): out.append(0x0a)
                    case UInt8(ascii: "r"): out.append(0x0d)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xd800..<0xdc00).contains(scalar) {
                            // A high surrogate: a low one should follow.
                            if bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"),
                               bytes[index + 1] == UInt8(ascii: "u") {
                                let save = index
                                index += 2
                                let low = try hex4()
                                if (0xdc00..<0xe000).contains(low) {
                                    scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                                } else {
                                    index = save
                                    scalar = 0xfffd
                                }
                            } else {
                                scalar = 0xfffd
                            }
                        } else if (0xdc00..<0xe000).contains(scalar) {
                            scalar = 0xfffd
                        }
                        appendUTF8(scalar, to: &out)
                    default:
                        throw fail("invalid escape in a string")
                    }
                default:
                    if byte < 0x20 { throw fail("control character in a string") }
                    out.append(byte)
                    index += 1
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws(JSONParseError) -> UInt32 {
            guard bytes.count - index >= 4 else { throw fail("short \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                let digit: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw fail("invalid \\u escape")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
            let s = Unicode.Scalar(scalar) ?? "\u{fffd}"
            out.append(contentsOf: Array(String(Character(s)).utf8))
        }

        /// JSON's number grammar and rounding are PipelineJSON's (the
        /// host's): `JSONNumber.read`. An integer literal that fits Int
        /// stays an integer here (requests are echoed back byte-stable).
        mutating func number() throws(JSONParseError) -> JSON {
            let start = index
            var end = index
            guard let value = JSONNumber.read(bytes, at: &end) else {
                throw fail(end > start ? "number out of range" : "invalid number")
            }
            index = end
            let literal = bytes[start..<end]
            if !literal.contains(where: { $0 == UInt8(ascii: ".") || $0 | 0x20 == UInt8(ascii: "e") }),
               let integer = Int(String(decoding: literal, as: UTF8.self)) {
                return .int(integer)
            }
            return .number(value)
        }

        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
    }
}

// MARK: - Writing

struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    static func encode(_ value: JSON, sortKeys: Bool = false) -> [UInt8] {
        var writer = JSONWriter()
        writer.write(value, sortKeys: sortKeys)
        return writer.bytes
    }

    mutating func write(_ value: JSON, sortKeys: Bool = false) {
        switch value {
        case .null: raw("null")
        case .bool(let b): raw(b ? "true" : "false")
        case .int(let i): raw(String(i))
        case .number(let d):
            if d.isFinite {
                if d.rounded() == d, abs(d) < 1e15 { raw(String(Int(d))) } else { raw(d.description) }
            } else {
                raw("null")
            }
        case .float(let f): raw(f.isFinite ? f.description : "null")
        case .string(let s): string(s)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (k, item) in items.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                write(item, sortKeys: sortKeys)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            let ordered = sortKeys ? members.sorted(by: { $0.0 < $1.0 }) : members
            for (k, member) in ordered.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                string(member.0)
                bytes.append(UInt8(ascii: ":"))
                write(member.1, sortKeys: sortKeys)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    mutating func raw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(0x5c); bytes.append(0x22)
            case UInt8(ascii: "\\"): bytes.append(0x5c); bytes.append(0x5c)
            case 0x0a: bytes.append(0x5c); bytes.append(UInt8(ascii: "n"))
            case 0x0d: bytes.append(0x5c); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(0x5c); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5c, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(byte >> 4)], hex[Int(byte & 0xf)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
