// Text measures the quality rules share: words, lines, paragraphs, fenced
// code, duplicates. Plain Swift over Unicode scalars; no regular
// expressions, so a rule costs one or two passes over the text.

enum TextMeasures {
    /// Punctuation and symbols: a "word" made only of these is not a word
    /// (datatrove leaves such tokens out of its word counts).
    static func isSymbol(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            true
        default: false
        }
    }

    static func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isWhitespace }

    /// Whitespace-separated tokens with punctuation at either end cut off;
    /// tokens that were only punctuation are left out.
    static func words(_ text: String) -> [Substring] {
        var result: [Substring] = []
        for token in text.split(whereSeparator: { $0.unicodeScalars.allSatisfy(isSpace) }) {
            let scalars = token.unicodeScalars
            guard let first = scalars.firstIndex(where: { !isSymbol($0) }),
                  let last = scalars.lastIndex(where: { !isSymbol($0) }) else { continue }
            result.append(Substring(scalars[first...last]))
        }
        return result
    }

    /// The text with fenced code blocks (``` or ~~~ lines) and inline
    /// `code` spans removed: prose rules measure prose. An unclosed fence
    /// removes the rest of the text.
    static func withoutCode(_ text: String) -> String {
        var kept: [Substring] = []
        var fence: Substring?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if let open = fence {
                if trimmed.hasPrefix(open) { fence = nil }
                continue
            }
            if trimmed.hasPrefix("```") { fence = "```"; continue }
            if trimmed.hasPrefix("~~~") { fence = "~~~"; continue }
            kept.append(line)
        }
        return withoutInlineCode(kept.joined(separator: "\n"))
    }

    private static func withoutInlineCode(_ text: String) -> String {
        guard text.contains("`") else { return text }
        var out = ""
        var inside = false
        for character in text {
            if character == "`" { inside.toggle(); continue }
            if !inside { out.append(character) }
        }
        return out
    }

    /// Lines split at runs of newlines (blank lines do not count), as datatrove splits them.
    static func lines(_ text: String) -> [Substring] {
        text.split(separator: "\n").filter { !$0.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" } }
    }

    /// Paragraphs: the text split at two or more newlines in a row.
    static func paragraphs(_ text: String) -> [Substring] {
        var result: [Substring] = []
        var start = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == "\n" {
                var end = index
                var newlines = 0
                while end < text.endIndex, text[end] == "\n" || text[end] == "\r" {
                    if text[end] == "\n" { newlines += 1 }
                    end = text.index(after: end)
                }
                if newlines >= 2 {
                    let piece = text[start..<index]
                    if !piece.isEmpty { result.append(piece) }
                    start = end
                }
                index = end
            } else {
                index = text.index(after: index)
            }
        }
        let last = text[start...]
        if !last.allSatisfy(\.isWhitespace) { result.append(last) }
        return result
    }

    /// How many elements repeat an earlier one, and their characters
    /// (datatrove's find_duplicates).
    static func duplicates(_ elements: [Substring]) -> (count: Int, characters: Int) {
        var seen = Set<Substring>()
        var count = 0
        var characters = 0
        for element in elements {
            if seen.contains(element) {
                count += 1
                characters += element.count
            } else {
                seen.insert(element)
            }
        }
        return (count, characters)
    }

    /// Occurrences of `needle` in `text`, not overlapping (compared as UTF-8 bytes).
    static func occurrences(of needle: String, in text: String) -> Int {
        let wanted = Array(needle.utf8)
        guard let first = wanted.first else { return 0 }
        var count = 0
        var text = text
        text.withUTF8 { bytes in
            var index = 0
            while index + wanted.count <= bytes.count {
                if bytes[index] == first && matches(bytes, at: index, wanted) {
                    count += 1
                    index += wanted.count
                } else {
                    index += 1
                }
            }
        }
        return count
    }

    /// Whether `text` contains `needle`, compared as UTF-8 bytes (no
    /// Foundation: its search is the slowest part of a row otherwise).
    static func contains(_ text: String, _ needle: String) -> Bool {
        let wanted = Array(needle.utf8)
        guard let first = wanted.first else { return true }
        var text = text
        return text.withUTF8 { bytes in
            var index = 0
            while index + wanted.count <= bytes.count {
                if bytes[index] == first && matches(bytes, at: index, wanted) { return true }
                index += 1
            }
            return false
        }
    }

    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int, _ wanted: [UInt8]) -> Bool {
        for offset in 1..<max(wanted.count, 1) where bytes[index + offset] != wanted[offset] { return false }
        return true
    }

    /// `#` characters, leaving out the markers of markdown headings (one to
    /// six `#` at the start of a line, then a space): they are structure,
    /// not the hashtags the Gopher symbol rule is after.
    static func hashesOutsideHeadings(_ text: String) -> Int {
        var count = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let trimmed = line.drop { $0 == " " }
            let marker = trimmed.prefix { $0 == "#" }.count
            let heading = (1...6).contains(marker) && trimmed.dropFirst(marker).first == " "
            count += line.reduce(0) { $0 + ($1 == "#" ? 1 : 0) } - (heading ? marker : 0)
        }
        return count
    }

    /// Lowercased, whitespace runs made one space, trimmed.
    static func normalised(_ text: String) -> String {
        text.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}
