import PipelineJSON

/// The JSON value in a model's answer. Models wrap JSON in chatter, so an
/// answer is read in this order, strict JSON (RFC 8259) each time:
///
/// 1. the whole answer, white space around it ignored;
/// 2. else the one fenced block (```json ... ``` or ``` ... ```) that holds
///    valid JSON;
/// 3. else the one `{...}` span (braces balanced outside strings) that is
///    valid JSON, the text around it ignored.
///
/// Two candidates at one stage (two fenced blocks of JSON, two objects in
/// the text) are refused: which one the model meant is a guess.
public enum JSONAnswer {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func value(in answer: String) -> Result<JSONValue, Failure> {
        let trimmed = answer.trimmingWhiteSpace
        if trimmed.isEmpty { return .failure(Failure(message: "the answer is empty")) }
        var wholeError: JSONError?
        do { return .success(try JSONValue(parsing: trimmed)) } catch { wholeError = error }

        let fenced = fencedBlocks(answer).compactMap { try? JSONValue(parsing: $0) }
        if fenced.count == 1, let only = fenced.first { return .success(only) }
        if fenced.count > 1 { return .failure(Failure(message: "the answer holds \(fenced.count) fenced JSON blocks; expected one")) }

        let objects = objectSpans(answer).compactMap { try? JSONValue(parsing: $0) }
        if objects.count == 1, let only = objects.first { return .success(only) }
        if objects.count > 1 { return .failure(Failure(message: "the answer holds \(objects.count) JSON objects; expected one")) }
        let why = trimmed.first == "{" || trimmed.first == "[" ? " (\(wholeError?.message ?? "not valid JSON"))" : ""
        return .failure(Failure(message: "the answer is not JSON and holds no JSON object\(why)"))
    }

    /// The contents of ``` fences (an info string such as `json` after the
    /// opening fence is skipped).
    static func fencedBlocks(_ text: String) -> [String] {
        var blocks: [String] = []
        var rest = Substring(text)
        while let open = rest.firstRange(of: "```") {
            var body = rest[open.upperBound...]
            // The info string: up to the end of the line.
            if let newline = body.firstIndex(of: "\n") {
                let info = body[..<newline]
                if info.allSatisfy({ $0.isLetter || $0.isNumber || $0 == " " || $0 == "-" || $0 == "_" }) {
                    body = body[body.index(after: newline)...]
                }
            }
            guard let close = body.firstRange(of: "```") else { break }
            blocks.append(String(body[..<close.lowerBound]))
            rest = body[close.upperBound...]
        }
        return blocks
    }

    /// Top-level `{...}` spans with balanced braces (braces inside JSON
    /// strings do not count).
    static func objectSpans(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var spans: [String] = []
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "{") else { index += 1; continue }
            var depth = 0
            var inString = false
            var escaped = false
            var end: Int?
            var cursor = index
            scan: while cursor < bytes.count {
                let byte = bytes[cursor]
                if inString {
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                } else {
                    switch byte {
                    case UInt8(ascii: "\""): inString = true
                    case UInt8(ascii: "{"): depth += 1
                    case UInt8(ascii: "}"):
                        depth -= 1
                        if depth == 0 { end = cursor; break scan }
                    default: break
                    }
                }
                cursor += 1
            }
            guard let end else { break }
            spans.append(String(decoding: bytes[index...end], as: UTF8.self))
            index = end + 1
        }
        return spans
    }
}

extension String {
    var trimmingWhiteSpace: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[first...last]
    }
}

extension JSONValue {
    init(parsing text: Substring) throws(JSONError) { try self.init(parsing: String(text)) }
}
