/// Reads the parts of a JSON text a caller wants, straight from its bytes,
/// and checks the rest as strictly as `JSONValue(parsing:)` without
/// building it: no dictionary per object, no string per key or value the
/// caller skips. For documents read once per request (an LLM's answer),
/// where building the whole tree was most of the cost.
///
/// The caller checks that the text is valid UTF-8 first
/// (`JSONReader.isValidUTF8`): strings that are skipped are not decoded.
public struct JSONReader {
    private var parser: JSONParser

    public init(_ bytes: [UInt8]) { parser = JSONParser(bytes) }

    /// True when `bytes` is valid UTF-8 (all-ASCII text is checked 8 bytes at a time).
    public static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        let ascii = bytes.withUnsafeBytes { raw -> Bool in
            var offset = 0
            var high: UInt64 = 0
            while offset + 8 <= raw.count {
                high |= raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            while offset < raw.count {
                high |= UInt64(raw[offset])
                offset += 1
            }
            return high & 0x8080_8080_8080_8080 == 0
        }
        return ascii || String(validating: bytes, as: UTF8.self) != nil
    }

    /// If the next value is an object, calls `member` with each key, in the
    /// order written; `member` must read or skip the key's value. Returns
    /// false (the value skipped) when it is not an object.
    public mutating func object(_ member: (inout JSONReader, String) throws(JSONError) -> Void) throws(JSONError) -> Bool {
        parser.skipSpace()
        guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "{") else {
            try parser.skipValue()
            return false
        }
        try parser.nest()
        parser.index += 1
        parser.skipSpace()
        if parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "}") {
            parser.index += 1
            parser.depth -= 1
            return true
        }
        while true {
            parser.skipSpace()
            guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "\"") else {
                throw parser.error("expected a key string")
            }
            let key = try parser.parseString()
            parser.skipSpace()
            guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: ":") else {
                throw parser.error("expected ':'")
            }
            parser.index += 1
            try member(&self, key)
            parser.skipSpace()
            guard parser.index < parser.bytes.count else { throw parser.error("unterminated object") }
            if parser.bytes[parser.index] == UInt8(ascii: ",") { parser.index += 1; continue }
            guard parser.bytes[parser.index] == UInt8(ascii: "}") else { throw parser.error("expected ',' or '}'") }
            parser.index += 1
            parser.depth -= 1
            return true
        }
    }

    /// If the next value is an array, calls `element` with each index;
    /// `element` must read or skip the element. Returns false (the value
    /// skipped) when it is not an array.
    public mutating func array(_ element: (inout JSONReader, Int) throws(JSONError) -> Void) throws(JSONError) -> Bool {
        parser.skipSpace()
        guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "[") else {
            try parser.skipValue()
            return false
        }
        try parser.nest()
        parser.index += 1
        parser.skipSpace()
        if parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "]") {
            parser.index += 1
            parser.depth -= 1
            return true
        }
        var position = 0
        while true {
            try element(&self, position)
            position += 1
            parser.skipSpace()
            guard parser.index < parser.bytes.count else { throw parser.error("unterminated array") }
            if parser.bytes[parser.index] == UInt8(ascii: ",") { parser.index += 1; continue }
            guard parser.bytes[parser.index] == UInt8(ascii: "]") else { throw parser.error("expected ',' or ']'") }
            parser.index += 1
            parser.depth -= 1
            return true
        }
    }

    /// The next value if it is a string; nil (the value skipped) otherwise.
    public mutating func string() throws(JSONError) -> String? {
        parser.skipSpace()
        guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "\"") else {
            try parser.skipValue()
            return nil
        }
        return try parser.parseString()
    }

    /// The next value, parsed whole.
    public mutating func value() throws(JSONError) -> JSONValue { try parser.parseValue() }

    /// Checks the next value and goes past it.
    public mutating func skip() throws(JSONError) { try parser.skipValue() }

    /// Checks that nothing but white space follows.
    public mutating func end() throws(JSONError) {
        parser.skipSpace()
        guard parser.index == parser.bytes.count else { throw parser.error("unexpected text after the JSON value") }
    }
}
