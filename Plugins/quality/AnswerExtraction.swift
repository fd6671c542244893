import Foundation

// Final answers out of a model's text, and their comparison with a
// reference: the last \boxed{…} (braces balanced), "the answer is X" /
// "Answer: X", the last number, or the last non-empty line.

enum AnswerExtraction {
    static let methods = ["auto", "boxed", "answer_is", "number", "last_line", "whole"]

    /// `auto`: boxed, else "answer is", else the last number when the
    /// reference is a number, else the last line.
    static func extract(_ text: String, method: String, numericReference: Bool = false) -> String? {
        switch method {
        case "boxed": return boxed(text)
        case "answer_is": return answerIs(text)
        case "number": return lastNumber(text)
        case "last_line": return lastLine(text)
        case "whole": return text.trimmingCharacters(in: .whitespacesAndNewlines)
        default: return boxed(text) ?? answerIs(text) ?? (numericReference ? lastNumber(text) : nil) ?? lastLine(text)
        }
    }

    /// The contents of the last \boxed{…} (or \fbox{…}).
    static func boxed(_ text: String) -> String? {
        let scalars = Array(text.unicodeScalars)
        var found: String?
        var index = 0
        while index < scalars.count {
            if scalars[index] == "\\", let open = marker(scalars, at: index) {
                var depth = 1
                var end = open
                while end < scalars.count, depth > 0 {
                    if scalars[end] == "{" { depth += 1 } else if scalars[end] == "}" { depth -= 1 }
                    end += 1
                }
                if depth == 0 {
                    var inner = String.UnicodeScalarView()
                    inner.append(contentsOf: scalars[open..<(end - 1)])
                    found = String(inner)
                }
                index = end
            } else {
                index += 1
            }
        }
        return found
    }

    private static func marker(_ scalars: [Unicode.Scalar], at index: Int) -> Int? {
        for name in ["\\boxed{", "\\fbox{"] {
            let wanted = Array(name.unicodeScalars)
            if index + wanted.count <= scalars.count, Array(scalars[index..<(index + wanted.count)]) == wanted {
                return index + wanted.count
            }
        }
        return nil
    }

    /// What follows the last "answer is" or "answer:" up to the end of its line, without a final period.
    static func answerIs(_ text: String) -> String? {
        let lower = text.lowercased()
        var best: Range<String.Index>?
        for cue in ["answer is", "answer:"] {
            if let range = lower.range(of: cue, options: .backwards), best.map({ range.lowerBound > $0.lowerBound }) ?? true {
                best = range
            }
        }
        guard let best else { return nil }
        // Lowercasing can change lengths; map by offset only when they agree.
        guard lower.count == text.count else { return nil }
        let offset = lower.distance(from: lower.startIndex, to: best.upperBound)
        let rest = text[text.index(text.startIndex, offsetBy: offset)...]
        let line = rest.prefix { $0 != "\n" }
        var answer = line.trimmingCharacters(in: .whitespaces)
        while let last = answer.last, ".!".contains(last) { answer.removeLast() }
        answer = answer.trimmingCharacters(in: CharacterSet(charactersIn: " *:"))
        return answer.isEmpty ? nil : answer
    }

    /// The last number in the text (sign, digits with , separators, decimals, exponent, or a/b).
    static func lastNumber(_ text: String) -> String? {
        let pattern = #"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?(?:\s*/\s*-?\d+(?:\.\d+)?)?"#
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        let range = NSRange(text.startIndex..., in: text)
        guard let match = regex.matches(in: text, range: range).last, let found = Range(match.range, in: text) else { return nil }
        return String(text[found])
    }

    static func lastLine(_ text: String) -> String? {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.last { !$0.isEmpty }
    }

    /// Lowercase, no surrounding $ or \text{}, no \left \right, no spaces, no final period.
    static func normalise(_ answer: String) -> String {
        var text = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        for wrapper in ["\\text{", "\\mathrm{", "\\textbf{"] where text.hasPrefix(wrapper) && text.hasSuffix("}") {
            text = String(text.dropFirst(wrapper.count).dropLast())
        }
        text = text.replacingOccurrences(of: "\\left", with: "").replacingOccurrences(of: "\\right", with: "")
            .replacingOccurrences(of: "\\!", with: "").replacingOccurrences(of: "\\,", with: "")
            .replacingOccurrences(of: "$", with: "").replacingOccurrences(of: "dfrac", with: "frac")
            .replacingOccurrences(of: "tfrac", with: "frac")
        text = text.lowercased().filter { !$0.isWhitespace }
        while let last = text.last, last == "." { text.removeLast() }
        return text
    }

    /// The value of a number written as digits (1,000.5, -3e2), a/b, \frac{a}{b} or a percentage.
    static func number(_ answer: String) -> Double? {
        var text = normalise(answer)
        if text.hasSuffix("%") || text.hasSuffix("\\%") {
            text = String(text.dropLast(text.hasSuffix("\\%") ? 2 : 1))
            return number(text).map { $0 / 100 }
        }
        text = text.replacingOccurrences(of: ",", with: "")
        if text.hasPrefix("\\frac{"), let middle = text.range(of: "}{"), text.hasSuffix("}") {
            let top = String(text[text.index(text.startIndex, offsetBy: 6)..<middle.lowerBound])
            let bottom = String(text[middle.upperBound..<text.index(before: text.endIndex)])
            if let a = Double(top), let b = Double(bottom), b != 0 { return a / b }
            return nil
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let a = Double(parts[0]), let b = Double(parts[1]), b != 0 { return a / b }
        guard let value = Double(text), value.isFinite else { return nil }
        return value
    }

    /// Whether the answer matches the reference: `exact` after normalising,
    /// `numeric` within the tolerance (relative to the reference, at least
    /// absolute), `auto` numeric when both are numbers, else exact.
    static func matches(_ answer: String, _ reference: String, match: String, tolerance: Double) -> Bool {
        if match != "exact", let a = number(answer), let b = number(reference) {
            return abs(a - b) <= tolerance * max(1, abs(b))
        }
        if match == "numeric" { return false }
        return normalise(answer) == normalise(reference)
    }
}
