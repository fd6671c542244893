/// The tokens of Jinja's expression syntax.
enum TokenKind: Sendable, Equatable {
    case name(String)
    case string(String)
    case int(Int64)
    case float(Double)
    /// An operator or punctuation: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
    case op(String)
    /// The end of the expression text, or of the tag (`}}`, `%}`).
    case end

    var display: String {
        switch self {
        case .name(let n): "'\(n)'"
        case .string: "a string"
        case .int(let i): "'\(i)'"
        case .float: "a number"
        case .op(let o): "'\(o)'"
        case .end: "the end"
        }
    }
}

struct Token: Sendable {
    var kind: TokenKind
    var offset: Int
}

/// What ends the expression text being lexed.
enum Terminator: Sendable {
    /// The whole text (a standalone expression).
    case endOfText
    /// `}}` or `-}}`.
    case variable
    /// `%}` or `-%}`.
    case block

    var text: String {
        switch self {
        case .endOfText: "the end of the expression"
        case .variable: "}}"
        case .block: "%}"
        }
    }
}

/// The tokens of one expression or tag, the offset just after it, and
/// whether its end asked to strip the white space that follows (`-}}`).
struct LexedTag: Sendable {
    var tokens: [Token]
    var endOffset: Int
    var stripAfter: Bool
}

struct Lexer {
    let source: SourceText
    var index: Int

    init(_ source: SourceText, from offset: Int) {
        self.source = source
        self.index = offset
    }

    private var scalars: [Unicode.Scalar] { source.scalars }

    private func peek(_ ahead: Int = 0) -> Unicode.Scalar? {
        let at = index + ahead
        return at < scalars.count ? scalars[at] : nil
    }

    private func error(_ message: String, at offset: Int) -> TemplateError {
        let position = source.position(offset)
        return TemplateError(.syntax, line: position.line, column: position.column, message)
    }

    /// Lexes up to the terminator (which is consumed).
    mutating func lex(until terminator: Terminator, openedAt: Int) throws(TemplateError) -> LexedTag {
        var tokens: [Token] = []
        var brackets: [(Unicode.Scalar, Int)] = []
        while true {
            while let c = peek(), c == " " || c == "\t" || c == "\n" || c == "\r" { index += 1 }
            guard let c = peek() else {
                if terminator == .endOfText {
                    if let (open, at) = brackets.last {
                        throw error("'\(open)' is not closed", at: at)
                    }
                    tokens.append(Token(kind: .end, offset: index))
                    return LexedTag(tokens: tokens, endOffset: index, stripAfter: false)
                }
                throw error("the tag is not closed: expected '\(terminator.text)'", at: openedAt)
            }
            let start = index
            if brackets.isEmpty, let (length, strip) = terminatorMatch(terminator) {
                tokens.append(Token(kind: .end, offset: start))
                index += length
                return LexedTag(tokens: tokens, endOffset: index, stripAfter: strip)
            }
            if c == "'" || c == "\"" {
                tokens.append(Token(kind: .string(try string(quote: c)), offset: start))
            } else if isDigit(c) {
                tokens.append(Token(kind: try number(), offset: start))
            } else if c == "_" || c.properties.isAlphabetic {
                var name = ""
                while let n = peek(), n == "_" || n.properties.isAlphabetic || isDigit(n) || n.properties.numericType != nil {
                    name.unicodeScalars.append(n)
                    index += 1
                }
                tokens.append(Token(kind: .name(name), offset: start))
            } else {
                let op = try operatorToken()
                switch op {
                case "(", "[", "{": brackets.append((op.unicodeScalars.first ?? "(", start))
                case ")", "]", "}":
                    let expected: Unicode.Scalar = op == ")" ? "(" : op == "]" ? "[" : "{"
                    guard let (open, _) = brackets.last else {
                        throw error("unexpected '\(op)'", at: start)
                    }
                    guard open == expected else {
                        throw error("unexpected '\(op)': '\(open)' is still open", at: start)
                    }
                    brackets.removeLast()
                default: break
                }
                tokens.append(Token(kind: .op(op), offset: start))
            }
        }
    }

    private func terminatorMatch(_ terminator: Terminator) -> (Int, Bool)? {
        let closing: [Unicode.Scalar]
        switch terminator {
        case .endOfText: return nil
        case .variable: closing = ["}", "}"]
        case .block: closing = ["%", "}"]
        }
        func matches(at offset: Int) -> Bool {
            offset + closing.count <= scalars.count && zip(scalars[offset...], closing).allSatisfy { $0 == $1 }
        }
        if peek() == "-", matches(at: index + 1) { return (closing.count + 1, true) }
        if matches(at: index) { return (closing.count, false) }
        return nil
    }

    private func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }

    private mutating func operatorToken() throws(TemplateError) -> String {
        guard let c = peek() else { throw error("unexpected end", at: index) }
        let two = peek(1).map { String(c) + String($0) } ?? ""
        if ["//", "**", "==", "!=", "<=", ">="].contains(two) {
            index += 2
            return two
        }
        let singles: Set<Unicode.Scalar> = ["+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"]
        guard singles.contains(c) else {
            if c == "!" { throw error("unexpected '!': write 'not' for negation, '!=' for not equal", at: index) }
            if c == "&" || (c == "|" && peek(1) == "|") { throw error("unexpected '\(c)': write 'and' / 'or'", at: index) }
            throw error("unexpected character '\(String(c).debugDescription.dropFirst().dropLast())'", at: index)
        }
        index += 1
        return String(c)
    }

    /// A decimal integer or float as Jinja writes them: `42`, `1_000`,
    /// `1.5`, `2e10`, `1.5e-3`.
    private mutating func number() throws(TemplateError) -> TokenKind {
        let start = index
        var text = ""
        func digits(_ lexer: inout Lexer) {
            while let d = lexer.peek() {
                if lexer.isDigit(d) {
                    text.unicodeScalars.append(d)
                    lexer.index += 1
                } else if d == "_", let next = lexer.peek(1), lexer.isDigit(next) {
                    lexer.index += 1
                } else {
                    return
                }
            }
        }
        digits(&self)
        var isFloat = false
        if peek() == ".", let next = peek(1), isDigit(next) {
            isFloat = true
            text += "."
            index += 1
            digits(&self)
        }
        if let e = peek(), e == "e" || e == "E" {
            var ahead = 1
            if let sign = peek(1), sign == "+" || sign == "-" { ahead = 2 }
            if let d = peek(ahead), isDigit(d) {
                isFloat = true
                text += "e"
                if ahead == 2, let sign = peek(1) { text.unicodeScalars.append(sign) }
                index += ahead
                digits(&self)
            }
        }
        if let after = peek(), after == "_" || after.properties.isAlphabetic {
            throw error("a number cannot be followed by '\(after)' (only decimal numbers are supported)", at: index)
        }
        if isFloat {
            guard let value = Double(text), value.isFinite else { throw error("the number \(text) is too large", at: start) }
            return .float(value)
        }
        if text.count > 1, text.first == "0", text.contains(where: { $0 != "0" }) {
            throw error("an integer cannot start with 0 (\(text))", at: start)
        }
        guard let value = Int64(text) else { throw error("the integer \(text) does not fit in 64 bits", at: start) }
        return .int(value)
    }

    /// A quoted string with Python's escapes (\n \t \\ \' \" \xhh \uXXXX
    /// \UXXXXXXXX, octal); an unknown escape keeps its backslash, as in
    /// Jinja, so "\d+" is the regex \d+.
    private mutating func string(quote: Unicode.Scalar) throws(TemplateError) -> String {
        let start = index
        index += 1
        var out = ""
        while true {
            guard let c = peek() else { throw error("the string is not closed: expected \(quote)", at: start) }
            index += 1
            if c == quote { return out }
            guard c == "\\" else {
                if c == "\r" {
                    // Jinja normalizes newlines in strings.
                    if peek() == "\n" { index += 1 }
                    out += "\n"
                } else {
                    out.unicodeScalars.append(c)
                }
                continue
            }
            guard let e = peek() else { throw error("the string is not closed: expected \(quote)", at: start) }
            let escapeStart = index - 1
            index += 1
            switch e {
            case "\n": break
            case "\\": out += "\\"
            case "'": out += "'"
            case "\"": out += "\""
            case "n": out += "\n"
            case "t": out += "\t"
            case "r": out += "\r"
            case "a": out += "\u{07}"
            case "b": out += "\u{08}"
            case "f": out += "\u{0C}"
            case "v": out += "\u{0B}"
            case "0"..."7":
                var value = e.value - 0x30
                var count = 1
                while count < 3, let d = peek(), d >= "0", d <= "7" {
                    value = value * 8 + (d.value - 0x30)
                    index += 1
                    count += 1
                }
                guard let scalar = Unicode.Scalar(value) else { throw error("bad octal escape", at: escapeStart) }
                out.unicodeScalars.append(scalar)
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                var value: UInt32 = 0
                for _ in 0..<width {
                    guard let d = peek(), let digit = hexValue(d) else {
                        throw error("a \\\(e) escape needs \(width) hex digits", at: escapeStart)
                    }
                    value = value * 16 + digit
                    index += 1
                }
                guard let scalar = Unicode.Scalar(value) else {
                    throw error("\\\(e) escape: \(value) is not a Unicode scalar value", at: escapeStart)
                }
                out.unicodeScalars.append(scalar)
            default:
                out += "\\"
                out.unicodeScalars.append(e)
            }
        }
    }

    private func hexValue(_ c: Unicode.Scalar) -> UInt32? {
        switch c {
        case "0"..."9": c.value - 0x30
        case "a"..."f": c.value - 0x61 + 10
        case "A"..."F": c.value - 0x41 + 10
        default: nil
        }
    }
}
