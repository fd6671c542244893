/// A small regular-expression engine for `is matching(...)`: a Thompson
/// NFA run as a Pike VM over Unicode scalars, so matching takes time
/// linear in the text for every pattern (no catastrophic backtracking).
/// It answers only "is there a match anywhere" (Python's re.search).
///
/// Syntax (a subset of Python's `re`): literals; `.` (any character but
/// newline); `[...]` and `[^...]` with ranges and \d \w \s inside;
/// `\d \D \w \W \s \S` (Unicode-aware); `^ $ \A \Z \b \B`; groups `(...)`,
/// `(?:...)`, `(?P<name>...)`; `|`; `* + ? {n} {n,} {n,m}` (a trailing `?`,
/// lazy, is accepted and changes nothing for a yes/no match); escapes
/// `\n \t \r \f \v \0 \xhh \uXXXX` and `\` before punctuation; a leading
/// `(?i)` for case-insensitive matching. Back-references and look-around
/// are refused.
public struct Regex: Sendable {
    enum Assertion: Sendable { case start, end, textStart, textEnd, wordBoundary, notWordBoundary }

    enum ClassItem: Sendable {
        case range(UInt32, UInt32)
        case digit(Bool)  // negated?
        case word(Bool)
        case space(Bool)
    }

    struct CharClass: Sendable {
        var items: [ClassItem]
        var negated: Bool
    }

    enum Inst: Sendable {
        case char(Unicode.Scalar)
        case any
        case charClass(CharClass)
        case split(Int, Int)
        case jump(Int)
        case assert(Assertion)
        case match
    }

    indirect enum Node {
        case empty
        case char(Unicode.Scalar)
        case any
        case charClass(CharClass)
        case assert(Assertion)
        case concat([Node])
        case alternate([Node])
        case repeatNode(Node, min: Int, max: Int?)
    }

    let program: [Inst]
    let ignoreCase: Bool
    public let pattern: String

    /// The most instructions a pattern may compile to (counted repetition
    /// copies its operand).
    static let maximumProgramSize = 20_000

    /// Compiles `pattern`; the error's message says what is wrong, its
    /// column is 1-based in the pattern.
    public init(_ pattern: String) throws(RegexError) {
        self.pattern = pattern
        var parser = RegexParser(Array(pattern.unicodeScalars))
        if parser.consume("(?i)") { parser.ignoreCase = true }
        let node = try parser.parseAlternation()
        if parser.index < parser.scalars.count {
            throw RegexError(column: parser.index + 1, message: "unbalanced ')'")
        }
        ignoreCase = parser.ignoreCase
        var compiler = RegexCompiler(ignoreCase: ignoreCase)
        try compiler.emit(node)
        compiler.program.append(.match)
        program = compiler.program
    }

    /// True if the pattern matches somewhere in `text`.
    public func search(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        let count = program.count
        var current: [Int] = []
        var next: [Int] = []
        var marks = [Int](repeating: -1, count: count)
        var generation = 0
        current.reserveCapacity(count)
        next.reserveCapacity(count)

        func isWord(_ at: Int) -> Bool {
            at >= 0 && at < scalars.count && RegexMatch.isWord(scalars[at])
        }
        func holds(_ assertion: Assertion, _ at: Int) -> Bool {
            switch assertion {
            case .start, .textStart: return at == 0
            case .textEnd: return at == scalars.count
            case .end: return at == scalars.count || (at == scalars.count - 1 && scalars[at] == "\n")
            case .wordBoundary: return isWord(at - 1) != isWord(at)
            case .notWordBoundary: return isWord(at - 1) == isWord(at)
            }
        }
        // Adds pc and what it reaches without consuming; true on a match.
        func add(_ pc: Int, _ at: Int, _ list: inout [Int]) -> Bool {
            var stack = [pc]
            while let pc = stack.popLast() {
                guard marks[pc] != generation else { continue }
                marks[pc] = generation
                switch program[pc] {
                case .match: return true
                case .jump(let target): stack.append(target)
                case .split(let a, let b):
                    stack.append(b)
                    stack.append(a)
                case .assert(let assertion):
                    if holds(assertion, at) { stack.append(pc + 1) }
                default: list.append(pc)
                }
            }
            return false
        }
        generation += 1
        if add(0, 0, &current) { return true }
        var at = 0
        while at < scalars.count {
            let c = scalars[at]
            generation += 1
            next.removeAll(keepingCapacity: true)
            for pc in current {
                let matches: Bool
                switch program[pc] {
                case .char(let expected): matches = RegexMatch.same(c, expected, ignoreCase: ignoreCase)
                case .any: matches = c != "\n"
                case .charClass(let cls): matches = RegexMatch.contains(cls, c, ignoreCase: ignoreCase)
                default: matches = false
                }
                if matches, add(pc + 1, at + 1, &next) { return true }
            }
            // Unanchored: a new thread starts at every position.
            if add(0, at + 1, &next) { return true }
            swap(&current, &next)
            at += 1
        }
        return false
    }
}

public struct RegexError: Error, Sendable, Equatable {
    /// 1-based, in the pattern.
    public var column: Int
    public var message: String
}

enum RegexMatch {
    static func isWord(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
    }

    static func isDigit(_ c: Unicode.Scalar) -> Bool { c.properties.numericType == .decimal }

    static func fold(_ c: Unicode.Scalar) -> Unicode.Scalar {
        let lower = c.properties.lowercaseMapping.unicodeScalars
        return lower.count == 1 ? lower.first ?? c : c
    }

    static func same(_ c: Unicode.Scalar, _ expected: Unicode.Scalar, ignoreCase: Bool) -> Bool {
        c == expected || (ignoreCase && fold(c) == fold(expected))
    }

    static func contains(_ cls: Regex.CharClass, _ c: Unicode.Scalar, ignoreCase: Bool) -> Bool {
        func inItems(_ c: Unicode.Scalar) -> Bool {
            for item in cls.items {
                switch item {
                case .range(let low, let high): if c.value >= low && c.value <= high { return true }
                case .digit(let negated): if isDigit(c) != negated { return true }
                case .word(let negated): if isWord(c) != negated { return true }
                case .space(let negated): if Text.isSpace(c) != negated { return true }
                }
            }
            return false
        }
        var found = inItems(c)
        if !found && ignoreCase {
            let lower = fold(c)
            let upperScalars = c.properties.uppercaseMapping.unicodeScalars
            found = inItems(lower) || (upperScalars.count == 1 && upperScalars.first.map(inItems) == true)
        }
        return found != cls.negated
    }
}

struct RegexParser {
    let scalars: [Unicode.Scalar]
    var index = 0
    var ignoreCase = false
    var depth = 0

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    func error(_ message: String, at: Int? = nil) -> RegexError {
        RegexError(column: (at ?? index) + 1, message: message)
    }

    mutating func consume(_ text: String) -> Bool {
        let wanted = Array(text.unicodeScalars)
        guard index + wanted.count <= scalars.count, Array(scalars[index..<(index + wanted.count)]) == wanted else { return false }
        index += wanted.count
        return true
    }

    mutating func parseAlternation() throws(RegexError) -> Regex.Node {
        var branches = [try parseConcatenation()]
        while peek == "|" {
            index += 1
            branches.append(try parseConcatenation())
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    mutating func parseConcatenation() throws(RegexError) -> Regex.Node {
        var items: [Regex.Node] = []
        while let c = peek, c != "|", c != ")" {
            var atom = try parseAtom()
            atom = try parseQuantifiers(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : items.isEmpty ? .empty : .concat(items)
    }

    mutating func parseQuantifiers(_ atom: Regex.Node) throws(RegexError) -> Regex.Node {
        var node = atom
        var quantified = false
        while let c = peek {
            let start = index
            var bounds: (Int, Int?)?
            switch c {
            case "*": index += 1; bounds = (0, nil)
            case "+": index += 1; bounds = (1, nil)
            case "?": index += 1; bounds = (0, 1)
            case "{":
                if let counted = try parseCount() { bounds = counted }
            default: break
            }
            guard let (low, high) = bounds else { break }
            if quantified { throw error("multiple repeat", at: start) }
            if case .assert = node { throw error("nothing to repeat", at: start) }
            if case .empty = node { throw error("nothing to repeat", at: start) }
            node = .repeatNode(node, min: low, max: high)
            quantified = true
            if peek == "?" { index += 1 }  // lazy: same yes/no answer
            if peek == "+" { throw error("possessive quantifiers are not supported") }
        }
        return node
    }

    /// `{n}`, `{n,}`, `{,m}`, `{n,m}`; nil (and nothing consumed) when the
    /// brace is a literal, as in Python.
    mutating func parseCount() throws(RegexError) -> (Int, Int?)? {
        let start = index
        index += 1
        func number(_ p: inout RegexParser) -> Int? {
            var value: Int?
            while let d = p.peek, d >= "0", d <= "9" {
                value = (value ?? 0) * 10 + Int(d.value - 0x30)
                if (value ?? 0) > 100_000 { value = 100_001 }
                p.index += 1
            }
            return value
        }
        let low = number(&self)
        var high = low
        var open = false
        if peek == "," {
            index += 1
            high = number(&self)
            open = high == nil
        }
        guard peek == "}", low != nil || high != nil || open && low != nil else {
            index = start
            return nil
        }
        index += 1
        let lowValue = low ?? 0
        if let high, high < lowValue { throw error("min repeat greater than max repeat", at: start) }
        if lowValue > 1000 || (high ?? 0) > 1000 { throw error("repeat counts above 1000 are not supported", at: start) }
        return (lowValue, open ? nil : high)
    }

    mutating func parseAtom() throws(RegexError) -> Regex.Node {
        guard let c = peek else { throw error("unexpected end of pattern") }
        let start = index
        index += 1
        switch c {
        case ".": return .any
        case "^": return .assert(.start)
        case "$": return .assert(.end)
        case "*", "+", "?": throw error("nothing to repeat", at: start)
        case "[": return .charClass(try parseClass())
        case "(":
            if consume("?:") {
            } else if consume("?P<") {
                while let n = peek, n != ">" { index += 1 }
                guard peek == ">" else { throw error("unterminated group name", at: start) }
                index += 1
            } else if peek == "?" {
                throw error("(? groups other than (?: and (?P<name> are not supported (no look-around, no inline flags but a leading (?i))", at: start)
            }
            depth += 1
            guard depth <= 200 else { throw error("groups nested too deeply", at: start) }
            let inner = try parseAlternation()
            depth -= 1
            guard peek == ")" else { throw error("missing ), unterminated subpattern", at: start) }
            index += 1
            return inner
        case "\\": return try parseEscape(start: start, inClass: false).node
        default: return .char(c)
        }
    }

    enum Escaped {
        case scalar(Unicode.Scalar)
        case item(Regex.ClassItem)
        case assertion(Regex.Assertion)

        var node: Regex.Node {
            switch self {
            case .scalar(let c): .char(c)
            case .item(let item): .charClass(Regex.CharClass(items: [item], negated: false))
            case .assertion(let a): .assert(a)
            }
        }
    }

    mutating func parseEscape(start: Int, inClass: Bool) throws(RegexError) -> Escaped {
        guard let e = peek else { throw error("bad escape (end of pattern)", at: start) }
        index += 1
        switch e {
        case "d": return .item(.digit(false))
        case "D": return .item(.digit(true))
        case "w": return .item(.word(false))
        case "W": return .item(.word(true))
        case "s": return .item(.space(false))
        case "S": return .item(.space(true))
        case "n": return .scalar("\n")
        case "t": return .scalar("\t")
        case "r": return .scalar("\r")
        case "f": return .scalar("\u{0C}")
        case "v": return .scalar("\u{0B}")
        case "a": return .scalar("\u{07}")
        case "0": return .scalar("\0")
        case "b":
            if inClass { return .scalar("\u{08}") }
            return .assertion(.wordBoundary)
        case "B" where !inClass: return .assertion(.notWordBoundary)
        case "A" where !inClass: return .assertion(.textStart)
        case "Z" where !inClass: return .assertion(.textEnd)
        case "x", "u", "U":
            let width = e == "x" ? 2 : e == "u" ? 4 : 8
            var value: UInt32 = 0
            for _ in 0..<width {
                guard let d = peek, let digit = d.properties.numericType != nil || ("a"..."f").contains(d) || ("A"..."F").contains(d)
                        ? UInt32(String(d), radix: 16) : nil else {
                    throw error("\\\(e) needs \(width) hex digits", at: start)
                }
                value = value * 16 + digit
                index += 1
            }
            guard let scalar = Unicode.Scalar(value) else { throw error("bad escape \\\(e)", at: start) }
            return .scalar(scalar)
        default:
            if e.properties.isAlphabetic || (e >= "1" && e <= "9") {
                throw error("bad escape \\\(e)" + (e >= "1" && e <= "9" ? " (back-references are not supported)" : ""), at: start)
            }
            return .scalar(e)
        }
    }

    mutating func parseClass() throws(RegexError) -> Regex.CharClass {
        let start = index - 1
        var cls = Regex.CharClass(items: [], negated: false)
        if peek == "^" {
            cls.negated = true
            index += 1
        }
        var first = true
        while true {
            guard let c = peek else { throw error("unterminated character set", at: start) }
            if c == "]" && !first {
                index += 1
                return cls
            }
            first = false
            let itemStart = index
            index += 1
            var low: Unicode.Scalar
            if c == "\\" {
                switch try parseEscape(start: itemStart, inClass: true) {
                case .scalar(let s): low = s
                case .item(let item): cls.items.append(item); continue
                case .assertion: throw error("bad escape in a character set", at: itemStart)
                }
            } else {
                low = c
            }
            if peek == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                index += 1
                guard let h = peek else { throw error("unterminated character set", at: start) }
                let highStart = index
                index += 1
                var high = h
                if h == "\\" {
                    guard case .scalar(let s) = try parseEscape(start: highStart, inClass: true) else {
                        throw error("bad character range", at: itemStart)
                    }
                    high = s
                }
                guard low.value <= high.value else { throw error("bad character range \(low)-\(high)", at: itemStart) }
                cls.items.append(.range(low.value, high.value))
            } else {
                cls.items.append(.range(low.value, low.value))
            }
        }
    }
}

struct RegexCompiler {
    let ignoreCase: Bool
    var program: [Regex.Inst] = []

    init(ignoreCase: Bool) { self.ignoreCase = ignoreCase }

    mutating func append(_ inst: Regex.Inst) throws(RegexError) {
        guard program.count < Regex.maximumProgramSize else {
            throw RegexError(column: 1, message: "the pattern is too large (counted repetitions expand it)")
        }
        program.append(inst)
    }

    mutating func emit(_ node: Regex.Node) throws(RegexError) {
        switch node {
        case .empty: break
        case .char(let c): try append(.char(c))
        case .any: try append(.any)
        case .charClass(let cls): try append(.charClass(cls))
        case .assert(let a): try append(.assert(a))
        case .concat(let items): for item in items { try emit(item) }
        case .alternate(let branches):
            var jumps: [Int] = []
            for (index, branch) in branches.enumerated() {
                if index < branches.count - 1 {
                    let split = program.count
                    try append(.split(split + 1, -1))
                    try emit(branch)
                    jumps.append(program.count)
                    try append(.jump(-1))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emit(branch)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repeatNode(let inner, let low, let high):
            for _ in 0..<low { try emit(inner) }
            if let high {
                // Optional copies: x? nested so each is tried only after the last.
                var splits: [Int] = []
                for _ in low..<high {
                    splits.append(program.count)
                    try append(.split(program.count + 1, -1))
                    try emit(inner)
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            } else {
                let loop = program.count
                try append(.split(loop + 1, -1))
                try emit(inner)
                try append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}
