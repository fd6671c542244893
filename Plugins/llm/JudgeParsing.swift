import Foundation
#if canImport(PipelineJSON)
import PipelineJSON
#endif

// Reading a judge's answer (the `judge` step). Kept free of PluginKit, like
// ScoreParsing, so tests can compile it on its own.
//
// A rating or verdict is read from the first JSON object in the answer that
// has the key (inside a code fence or after chatter too), else from a
// `Rating: 7` / `Verdict: 2` line anywhere in the text. Two different values
// in the text, a value out of range, or none at all is an error; the caller
// quotes the raw answer.

enum JudgeParsing {
    struct Rating: Equatable, Sendable {
        let value: Double
        let rationale: String
    }

    /// In the order's own terms: the response shown first, second, or a tie.
    enum Choice: String, Sendable {
        case first = "1"
        case second = "2"
        case tie
    }

    struct Verdict: Equatable, Sendable {
        let choice: Choice
        let rationale: String
    }

    /// The rating in `range` and a rationale (the JSON's, the text after
    /// "Rationale:", or the whole answer), or why not.
    static func rating(_ text: String, range: ClosedRange<Double> = 1...10) -> Result<Rating, ScoreError> {
        let text = afterThinking(text)
        var value: Double?
        var rationale: String?
        if let object = firstObject(in: text, having: "rating") {
            switch member(object, "rating") {
            case .number(let number)?: value = number
            case .string(let written)?: value = Double(written.trimmingCharacters(in: .whitespaces))
            default: return .failure(ScoreError(message: "the JSON \"rating\" is not a number"))
            }
            rationale = member(object, "rationale")?.stringValue
        } else {
            let found = labelled(text, labels: ["rating", "score"]).compactMap { number($0) }
            if Set(found).count > 1 {
                return .failure(ScoreError(message: "the answer gives several ratings (\(found.map(show).joined(separator: ", ")))"))
            }
            value = found.first
        }
        guard let value else { return .failure(ScoreError(message: "no rating found")) }
        guard range.contains(value) else {
            return .failure(ScoreError(message: "the rating \(show(value)) is outside \(show(range.lowerBound))...\(show(range.upperBound))"))
        }
        return .success(Rating(value: value, rationale: rationale ?? textRationale(text)))
    }

    /// The verdict of one pairwise comparison, or why not.
    static func verdict(_ text: String) -> Result<Verdict, ScoreError> {
        let text = afterThinking(text)
        if let object = firstObject(in: text, having: "verdict") {
            let written: String
            switch member(object, "verdict") {
            case .string(let string)?: written = string
            case .number(let number)?: written = show(number)
            default: return .failure(ScoreError(message: "the JSON \"verdict\" is not a string"))
            }
            guard let choice = choice(written) else {
                return .failure(ScoreError(message: "the verdict \(written.debugDescription) is not 1, 2 or tie"))
            }
            return .success(Verdict(choice: choice, rationale: member(object, "rationale")?.stringValue ?? textRationale(text)))
        }
        let found = labelled(text, labels: ["verdict", "winner", "better response"]).compactMap(choice)
        guard let first = found.first else { return .failure(ScoreError(message: "no verdict found")) }
        if found.contains(where: { $0 != first }) {
            return .failure(ScoreError(message: "the answer gives several verdicts (\(found.map(\.rawValue).joined(separator: ", ")))"))
        }
        return .success(Verdict(choice: first, rationale: textRationale(text)))
    }

    /// The answer after a reasoning model's closed `<think>...</think>`
    /// block (its drafts may weigh several ratings); the answer itself
    /// when there is none.
    static func afterThinking(_ text: String) -> String {
        guard let close = text.range(of: "</think>", options: .backwards) else { return text }
        return String(text[close.upperBound...])
    }

    /// "1", "Response 1", "[[1]]", "first", "tie", "equal" ... as a choice.
    static func choice(_ written: String) -> Choice? {
        var word = written.lowercased()
        word = String(word.drop(while: { " \t*_[(\"'`".contains($0) }))
        if word.hasPrefix("response") { word = String(word.dropFirst("response".count)) }
        if word.hasPrefix(" ") { word = String(word.drop(while: { $0 == " " })) }
        if word.hasPrefix("1") || word.hasPrefix("first") || word.hasPrefix("a]") || word == "a" { return .first }
        if word.hasPrefix("2") || word.hasPrefix("second") || word.hasPrefix("b]") || word == "b" { return .second }
        if word.hasPrefix("tie") || word.hasPrefix("equal") || word.hasPrefix("both") { return .tie }
        return nil
    }

    /// The leading number of a value: "7", "7/10", "**8**", "7.5 out of 10".
    static func number(_ written: String) -> Double? {
        let trimmed = written.drop(while: { " \t*_[(\"'`".contains($0) })
        var digits = String(trimmed.prefix(while: { $0.isASCII && ($0.isNumber || $0 == ".") }))
        if trimmed.first == "-" { digits = "-" + trimmed.dropFirst().prefix(while: { $0.isASCII && ($0.isNumber || $0 == ".") }) }
        while digits.hasSuffix(".") { digits.removeLast() }
        return Double(digits)
    }

    /// The text after each `label:` (or `label =`, `label is`, `label is:`) anywhere in
    /// the answer, any case, markdown emphasis allowed, up to the line's end.
    static func labelled(_ text: String, labels: [String]) -> [String] {
        var values: [String] = []
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let lower = line.lowercased()
            for label in labels {
                var searchFrom = lower.startIndex
                while let range = lower.range(of: label, range: searchFrom..<lower.endIndex) {
                    searchFrom = range.upperBound
                    // A whole word: not the tail of another one.
                    if range.lowerBound > lower.startIndex, lower[lower.index(before: range.lowerBound)].isLetter { continue }
                    var rest = lower[range.upperBound...].drop(while: { " \t*_".contains($0) })
                    if rest.hasPrefix("(1-10)") { rest = rest.dropFirst(6).drop(while: { " \t*_".contains($0) }) }
                    if rest.hasPrefix(":") || rest.hasPrefix("=") {
                        values.append(String(rest.dropFirst()))
                    } else if rest.hasPrefix("is ") || rest.hasPrefix("is:") {
                        values.append(String(rest.dropFirst(2).drop(while: { " \t*_:".contains($0) })))
                    }
                }
            }
        }
        return values
    }

    /// The text after "Rationale:" (or "Explanation:"), else the whole answer, trimmed.
    static func textRationale(_ text: String) -> String {
        for marker in ["rationale:", "explanation:", "reasoning:"] {
            if let range = text.range(of: marker, options: [.caseInsensitive, .backwards]) {
                let rest = text[range.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
                if !rest.isEmpty { return rest }
            }
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func member(_ object: [String: JSONValue], _ key: String) -> JSONValue? {
        object.sorted(by: { $0.key < $1.key }).first(where: { $0.key.lowercased() == key })?.value
    }

    /// The first balanced `{...}` in the text that parses as a JSON object with `key` (any case).
    static func firstObject(in text: String, having key: String) -> [String: JSONValue]? {
        var start = text.startIndex
        while let open = text[start...].firstIndex(of: "{") {
            var depth = 0
            var inString = false
            var escaped = false
            var end: String.Index?
            for index in text[open...].indices {
                let c = text[index]
                if inString {
                    if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                    continue
                }
                if c == "\"" { inString = true } else if c == "{" { depth += 1 } else if c == "}" {
                    depth -= 1
                    if depth == 0 { end = index; break }
                }
            }
            guard let end else { return nil }
            if let object = (try? JSONValue(parsing: String(text[open...end])))?.objectValue,
               object.keys.contains(where: { $0.lowercased() == key }) {
                return object
            }
            start = text.index(after: open)
        }
        return nil
    }

    static func show(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
