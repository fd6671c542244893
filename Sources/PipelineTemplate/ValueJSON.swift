import PipelineJSON

extension Value {
    /// A JSON document as a Value, keeping the members' order (integers
    /// without a fraction or exponent become .int when they fit in 64 bits;
    /// a lone or broken surrogate escape becomes U+FFFD). For tests and
    /// fixtures: rows reach templates as Arrow columns.
    public init(parsingJSON text: String) throws(TemplateError) {
        var reader = OrderedJSONReader(Array(text.utf8))
        let value = try reader.document()
        self = value
    }

    /// A PipelineJSON value (objects' keys sorted: JSONValue keeps no
    /// order; integral numbers become .int).
    public init(_ json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n): self = json.int64Value.map { .int($0) } ?? .double(n)
        case .string(let s): self = .string(s)
        case .array(let items): self = .list(items.map(Value.init))
        case .object(let object): self = .object(ValueObject(object.keys.sorted().map { ($0, Value(object[$0] ?? .null)) }))
        }
    }
}

/// RFC 8259 JSON into Values, objects in order.
struct OrderedJSONReader {
    let bytes: [UInt8]
    var index = 0
    var depth = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func error(_ message: String) -> TemplateError {
        TemplateError(.syntax, line: 1, column: index + 1, "JSON: \(message) at byte \(index)")
    }

    mutating func space() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    mutating func document() throws(TemplateError) -> Value {
        let v = try value()
        space()
        guard index == bytes.count else { throw error("unexpected text after the value") }
        return v
    }

    mutating func literal(_ word: String, _ v: Value) throws(TemplateError) -> Value {
        let w = Array(word.utf8)
        guard index + w.count <= bytes.count, Array(bytes[index..<(index + w.count)]) == w else { throw error("unexpected text") }
        index += w.count
        return v
    }

    mutating func value() throws(TemplateError) -> Value {
        space()
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            depth += 1
            guard depth < 500 else { throw error("nested too deeply") }
            index += 1
            var items: [Value] = []
            space()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; depth -= 1; return .list(items) }
            while true {
                items.append(try value())
                space()
                guard index < bytes.count else { throw error("unexpected end in a list") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "]") else { throw error("expected , or ]") }
                index += 1
                depth -= 1
                return .list(items)
            }
        case UInt8(ascii: "{"):
            depth += 1
            guard depth < 500 else { throw error("nested too deeply") }
            index += 1
            var object = ValueObject()
            space()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; depth -= 1; return .object(object) }
            while true {
                space()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
                let key = try string()
                space()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected :") }
                index += 1
                object[key] = try value()
                space()
                guard index < bytes.count else { throw error("unexpected end in an object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "}") else { throw error("expected , or }") }
                index += 1
                depth -= 1
                return .object(object)
            }
        default: return try number()
        }
    }

    mutating func number() throws(TemplateError) -> Value {
        let start = index
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        while index < bytes.count {
            let b = bytes[index]
            if b >= 0x30 && b <= 0x39 { index += 1; continue }
            if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") {
                integral = false
                index += 1
                continue
            }
            break
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if integral, let i = Int64(text) { return .int(i) }
        guard let d = Double(text) else { throw error("bad number \(text)") }
        return .double(d)
    }

    mutating func string() throws(TemplateError) -> String {
        index += 1
        var out: [UInt8] = []
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let b = bytes[index]
            index += 1
            if b == UInt8(ascii: "\"") { break }
            guard b == UInt8(ascii: "\\") else { out.append(b); continue }
            guard index < bytes.count else { throw error("unterminated string") }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if code >= 0xD800 && code < 0xDC00, index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                    index += 2
                    let low = try hex4()
                    // A high surrogate without its low half: both U+FFFD.
                    code = low >= 0xDC00 && low <= 0xDFFF ? 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(scalar).utf8))
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func hex4() throws(TemplateError) -> UInt32 {
        guard index + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16) else {
            throw error("bad \\u escape")
        }
        index += 4
        return v
    }
}
