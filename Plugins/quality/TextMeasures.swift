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

    /// Tokens between runs of ASCII whitespace (space, tab, newlines),
    /// found on the UTF-8 bytes: splitting by Character costs a grapheme
    /// break and a property lookup per character. Other Unicode spaces
    /// (no-break, ideographic) stay inside tokens.
    static func tokens(_ text: Substring) -> [Substring] {
        var result: [Substring] = []
        let utf8 = text.utf8
        var start: String.Index?
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) {
                if let first = start { result.append(text[first..<index]); start = nil }
            } else if start == nil {
                start = index
            }
            index = utf8.index(after: index)
        }
        if let first = start { result.append(text[first..<utf8.endIndex]) }
        return result
    }

    static func tokens(_ text: String) -> [Substring] { tokens(text[...]) }

    /// Whitespace-separated tokens with punctuation at either end cut off;
    /// tokens that were only punctuation are left out.
    static func words(_ text: String) -> [Substring] {
        var result: [Substring] = []
        for token in tokens(text) {
            let scalars = token.unicodeScalars
            guard let first = scalars.firstIndex(where: { !isSymbol($0) }),
                  let last = scalars.lastIndex(where: { !isSymbol($0) }) else { continue }
            result.append(Substring(scalars[first...last]))
        }
        return result
    }

    /// The text's lines split at "\n" on the UTF-8 bytes, a final "\r" cut
    /// off (so CRLF text splits too), empty lines kept.
    static func rawLines(_ text: String) -> [Substring] {
        var result: [Substring] = []
        let utf8 = text.utf8
        var start = utf8.startIndex
        var index = utf8.startIndex
        func add(_ end: String.Index) {
            var line = text[start..<end]
            if line.utf8.last == 0x0D { line = text[start..<utf8.index(before: end)] }
            result.append(line)
        }
        while index != utf8.endIndex {
            if utf8[index] == 0x0A {
                add(index)
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        add(utf8.endIndex)
        return result
    }

    /// The text with fenced code blocks (``` or ~~~ lines) and inline
    /// `code` spans removed: prose rules measure prose. An unclosed fence
    /// removes the rest of the text.
    static func withoutCode(_ text: String) -> String {
        var kept: [Substring] = []
        var fence: Substring?
        for line in rawLines(text) {
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
        rawLines(text).filter { !$0.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 } }
    }

    /// Paragraphs: the text split at two or more newlines in a row (blank
    /// lines of spaces count as newlines too).
    static func paragraphs(_ text: String) -> [Substring] {
        var result: [Substring] = []
        var current: [Substring] = []
        var blank = 0
        func flush() {
            if let first = current.first, let last = current.last {
                result.append(text[first.startIndex..<last.endIndex])
            }
            current = []
        }
        for line in rawLines(text) {
            if line.utf8.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                blank += 1
                continue
            }
            if blank > 0 && !current.isEmpty { flush() }
            blank = 0
            current.append(line)
        }
        flush()
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

    /// Lowercased, runs of ASCII whitespace made one space, trimmed.
    static func normalised(_ text: String) -> String {
        tokens(text.lowercased()).joined(separator: " ")
    }
}
