// The server's JSON value. Requests are read with PipelineJSON's parser
// (`JSONValue`, the host's: one grammar and one set of errors) and turned
// into this value; answers are built in it and written with PipelineJSON's
// `JSONBytes` (its string escaping). It keeps what answers need and
// `JSONValue` does not: integers apart from doubles, members in the order
// given, float32 embeddings written short, so the output is byte-stable.

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
    /// What is wrong and where ("expected ':' at byte 12").
    let message: String
}

enum JSONParser {
    /// A request body: invalid UTF-8 inside a string reads as U+FFFD, as
    /// clients that send it expect; everything else is `JSONValue`'s
    /// strict RFC 8259 grammar.
    static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSON {
        do {
            return JSON(try JSONValue(parsing: String(decoding: bytes, as: UTF8.self)))
        } catch {
            throw JSONParseError(message: error.message)
        }
    }
}

extension JSON {
    /// A parsed value, members sorted by key (a parsed object has no order
    /// to keep). A number without a fraction that a double holds exactly
    /// (|n| < 2^53, as the host reads it) is an integer.
    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .number(let number): self = value.int64Value.map { .int(Int($0)) } ?? .number(number)
        case .string(let text): self = .string(text)
        case .array(let items): self = .array(items.map(JSON.init))
        case .object(let members): self = .object(members.sorted { $0.key < $1.key }.map { ($0.key, JSON($0.value)) })
        }
    }
}

// MARK: - Writing

struct JSONWriter {
    private var out: JSONBytes

    init(capacity: Int = 512) { out = JSONBytes(capacity: capacity) }

    var bytes: [UInt8] { out.bytes }

    static func encode(_ value: JSON, sortKeys: Bool = false) -> [UInt8] {
        var writer = JSONWriter()
        writer.write(value, sortKeys: sortKeys)
        return writer.bytes
    }

    mutating func write(_ value: JSON, sortKeys: Bool = false) {
        switch value {
        case .null: out.raw("null")
        case .bool(let b): b ? out.raw("true") : out.raw("false")
        case .int(let i): out.int(i)
        // JSONBytes' numbers: integral as integers, else the shortest round trip; not finite: null.
        case .number(let d): d.isFinite ? out.value(.number(d)) : out.raw("null")
        case .float(let f): f.isFinite ? out.bytes.append(contentsOf: f.description.utf8) : out.raw("null")
        case .string(let s): out.string(s)
        case .array(let items):
            out.raw("[")
            for (k, item) in items.enumerated() {
                if k > 0 { out.raw(",") }
                write(item, sortKeys: sortKeys)
            }
            out.raw("]")
        case .object(let members):
            out.raw("{")
            let ordered = sortKeys ? members.sorted(by: { $0.0 < $1.0 }) : members
            for (k, member) in ordered.enumerated() {
                if k > 0 { out.raw(",") }
                out.string(member.0)
                out.raw(":")
                write(member.1, sortKeys: sortKeys)
            }
            out.raw("}")
        }
    }
}
