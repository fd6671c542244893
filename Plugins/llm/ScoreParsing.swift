import Foundation
#if canImport(PipelineJSON)
import PipelineJSON
#endif

// Score parsing for complexity_scorer and quality_scorer. Kept free of
// PluginKit so the tests can compile it on its own (with PipelineJSON's
// sources beside it).
//
// distilabel's fault, not repeated here: it matched an anchored regex on
// the first n lines in order and ignored the bracket index, so a preamble
// line shifted every score and a short answer gave a short list. Here a
// score is found anywhere and mapped by its bracket index; a missing, out of
// range or contradictory score fails the whole row, naming the items.

enum ScoreParsing {
    enum Format: String, Sendable {
        case lines
        case json
    }

    /// The scores for items 1...count, each within 1...count+1, or why not.
    static func parse(_ text: String, count: Int, format: Format = .lines) -> Result<[Double], ScoreError> {
        guard count >= 1 else { return .success([]) }
        if format == .json, let scores = jsonScores(text) {
            guard scores.count == count else {
                return .failure(ScoreError(message: "the JSON \"scores\" list has \(scores.count) entries for \(count) items"))
            }
            return check(Dictionary(uniqueKeysWithValues: scores.enumerated().map { ($0.offset + 1, $0.element) }),
                         count: count, duplicates: [])
        }
        var found: [Int: Double] = [:]
        var duplicates: [String] = []
        for (index, score) in scoreLines(text) {
            guard (1...count).contains(index) else { continue }  // not an item: ignored
            if let previous = found[index], previous != score {
                duplicates.append("item \(index) scored both \(show(previous)) and \(show(score))")
            } else {
                found[index] = score
            }
        }
        return check(found, count: count, duplicates: duplicates)
    }

    private static func check(_ found: [Int: Double?], count: Int, duplicates: [String]) -> Result<[Double], ScoreError> {
        var problems = duplicates
        let missing = (1...count).filter { (found[$0] ?? nil) == nil }
        if !missing.isEmpty {
            problems.append("no score for item\(missing.count == 1 ? "" : "s") \(missing.map(String.init).joined(separator: ", ")) of \(count)")
        }
        for index in 1...count {
            if let value = found[index] ?? nil, !(value >= 1 && value <= Double(count + 1)) {
                problems.append("item \(index) scored \(show(value)), outside 1...\(count + 1)")
            }
        }
        guard problems.isEmpty else { return .failure(ScoreError(message: problems.joined(separator: "; "))) }
        return .success((1...count).map { (found[$0] ?? nil) ?? 0 })
    }

    private static func check(_ found: [Int: Double], count: Int, duplicates: [String]) -> Result<[Double], ScoreError> {
        check(found.mapValues { Optional($0) }, count: count, duplicates: duplicates)
    }

    private static func show(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Every `[i] Score: s` in the text, in order of appearance: anywhere in
    /// a line, any case, with optional spaces and markdown emphasis
    /// (`**[2] Score:** 3`), s an integer or decimal number.
    static func scoreLines(_ text: String) -> [(index: Int, score: Double)] {
        let chars = Array(text.lowercased().unicodeScalars)
        var result: [(Int, Double)] = []
        var i = 0
        func skip(_ set: String, _ j: inout Int) {
            while j < chars.count, set.unicodeScalars.contains(chars[j]) { j += 1 }
        }
        func digits(_ j: inout Int) -> String {
            var s = ""
            while j < chars.count, chars[j].properties.numericType != nil, chars[j].isASCII {
                s.unicodeScalars.append(chars[j]); j += 1
            }
            return s
        }
        while i < chars.count {
            guard chars[i] == "[" else { i += 1; continue }
            var j = i + 1
            skip(" \t", &j)
            let indexText = digits(&j)
            skip(" \t", &j)
            guard !indexText.isEmpty, j < chars.count, chars[j] == "]", let index = Int(indexText) else { i += 1; continue }
            j += 1
            skip(" \t*_", &j)
            let word = "score".unicodeScalars
            guard j + word.count <= chars.count, Array(chars[j..<j + word.count]) == Array(word) else { i += 1; continue }
            j += word.count
            skip(" \t*_", &j)
            guard j < chars.count, chars[j] == ":" || chars[j] == "=" else { i += 1; continue }
            j += 1
            skip(" \t*_", &j)
            var number = ""
            if j < chars.count, chars[j] == "-" { number = "-"; j += 1 }
            let whole = digits(&j)
            guard !whole.isEmpty else { i += 1; continue }
            number += whole
            if j + 1 < chars.count, chars[j] == ".", chars[j + 1].isASCII, chars[j + 1].properties.numericType != nil {
                j += 1
                number += "." + digits(&j)
            }
            if let value = Double(number) { result.append((index, value)) }
            i = j
        }
        return result
    }

    /// The numbers of the first `{"scores": [...]}` object in the text
    /// (possibly inside a code fence or after a preamble); nil when none.
    /// A null or non-number entry is nil (and so "missing").
    static func jsonScores(_ text: String) -> [Double?]? {
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
            let candidate = String(text[open...end])
            if let object = (try? JSONValue(parsing: candidate))?.objectValue,
               let list = object.sorted(by: { $0.key < $1.key }).first(where: { $0.key.lowercased() == "scores" })?.value.arrayValue {
                return list.map { item -> Double? in
                    switch item {
                    case .number(let number): number
                    case .string(let text): Double(text.trimmingCharacters(in: .whitespaces))
                    default: nil
                    }
                }
            }
            start = text.index(after: open)
        }
        return nil
    }
}

struct ScoreError: Error, Sendable {
    let message: String
}

/// Reading a rewrite out of an evolution answer (evol_instruct, evol_quality).
enum RewriteParsing {
    /// The text after the last of `markers` (case-insensitive) if any,
    /// trimmed of whitespace (and of a leading colon).
    static func afterMarker(_ text: String, markers: [String]) -> String {
        if let fast = ASCIIText.afterMarker(text, markers: markers) { return fast }
        var start = text.startIndex
        for marker in markers {
            if let range = text.range(of: marker, options: [.caseInsensitive, .backwards]), range.upperBound > start {
                start = range.upperBound
            }
        }
        var result = text[start...].trimmingCharacters(in: .whitespacesAndNewlines)
        if result.hasPrefix(":") { result = String(result.dropFirst()).trimmingCharacters(in: .whitespacesAndNewlines) }
        return result
    }

    /// Why a rewrite is unusable, or nil: empty, the input unchanged, or
    /// naming the template's own markers.
    static func degenerate(_ rewrite: String, input: String, markerWords: [String]) -> String? {
        if rewrite.isEmpty { return "the rewrite is empty" }
        if rewrite == trimmed(input) { return "the rewrite is the input unchanged" }
        if let found = ASCIIText.firstContained(markerWords, in: rewrite) {
            return found.map { "the rewrite contains the template's marker \"\($0)\"" }
        }
        let lower = rewrite.lowercased()
        if let word = markerWords.first(where: { lower.contains($0) }) {
            return "the rewrite contains the template's marker \"\(word)\""
        }
        return nil
    }

    /// `text.trimmingCharacters(in: .whitespacesAndNewlines)`, without
    /// Foundation's UTF-16 round trip for ASCII text.
    static func trimmed(_ text: String) -> String {
        ASCIIText.trimmed(text) ?? text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

}

/// Fast paths for ASCII text (what LLM answers mostly are): the same
/// results as Foundation's case-insensitive search, lowercased/contains and
/// trimming of whitespace and newlines, on UTF-8 bytes. Each returns nil
/// when the text or a pattern is not ASCII, and the caller falls back.
enum ASCIIText {
    /// ASCII whitespace and newlines: what `.whitespacesAndNewlines` holds below 0x80.
    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) }

    static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

    static func ascii(_ text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        return bytes.allSatisfy { $0 < 0x80 } ? bytes : nil
    }

    /// Where `pattern` last occurs in `bytes`, ignoring ASCII case: the offset just after it.
    static func lastEnd(of pattern: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !pattern.isEmpty, pattern.count <= bytes.count else { return nil }
        var at = bytes.count - pattern.count
        while at >= 0 {
            var offset = 0
            while offset < pattern.count, lower(bytes[at + offset]) == lower(pattern[offset]) { offset += 1 }
            if offset == pattern.count { return at + pattern.count }
            at -= 1
        }
        return nil
    }

    static func trimmedRange(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Range<Int> {
        var low = start, high = bytes.count
        while low < high, isSpace(bytes[low]) { low += 1 }
        while high > low, isSpace(bytes[high - 1]) { high -= 1 }
        return low..<high
    }

    static func afterMarker(_ text: String, markers: [String]) -> String? {
        var markerBytes: [[UInt8]] = []
        for marker in markers {
            guard let bytes = ascii(marker) else { return nil }
            markerBytes.append(bytes)
        }
        var text = text
        return text.withUTF8 { bytes -> String? in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            var start = 0
            for marker in markerBytes {
                if let end = lastEnd(of: marker, in: bytes), end > start { start = end }
            }
            var range = trimmedRange(bytes, from: start)
            if !range.isEmpty, bytes[range.lowerBound] == UInt8(ascii: ":") {
                range = trimmedRange(UnsafeBufferPointer(rebasing: bytes[..<range.upperBound]), from: range.lowerBound + 1)
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }
    }

    static func trimmed(_ text: String) -> String? {
        var text = text
        let range = text.withUTF8 { bytes -> Range<Int>? in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            return trimmedRange(bytes, from: 0)
        }
        guard let range else { return nil }
        if range.count == text.utf8.count { return text }
        return text.withUTF8 { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }

    /// The first of `words` that `text.lowercased()` contains (as `.some(word)`),
    /// `.some(nil)` when none does, nil when text or words are not ASCII.
    static func firstContained(_ words: [String], in text: String) -> String?? {
        var patterns: [[UInt8]] = []
        for word in words {
            guard let bytes = ascii(word) else { return nil }
            patterns.append(bytes)
        }
        var text = text
        return text.withUTF8 { bytes -> String?? in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            for (index, pattern) in patterns.enumerated() where contains(pattern, in: bytes) {
                return .some(words[index])
            }
            return .some(nil)
        }
    }

    /// `lowercased(text).contains(pattern)`: the pattern is compared as it
    /// is (an uppercase letter in it never matches), the text lowercased.
    private static func contains(_ pattern: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if pattern.isEmpty { return true }
        guard pattern.count <= bytes.count else { return false }
        for at in 0...(bytes.count - pattern.count) {
            var offset = 0
            while offset < pattern.count, lower(bytes[at + offset]) == pattern[offset] { offset += 1 }
            if offset == pattern.count { return true }
        }
        return false
    }
}
