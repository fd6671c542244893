import PipelineJSON

/// A template: Jinja syntax (`{{ expr }}`, `{% if %}`, `{% for %}`,
/// `{% set %}`, `{# #}`, `{% raw %}`, whitespace control with `-`), or,
/// when the text has none of `{{`, `{%`, `{#`, the legacy `{column}` form.
public struct Template: Sendable {
    public let text: String
    /// True for the legacy `{column}` form.
    public var isLegacy: Bool { if case .legacy = body { true } else { false } }
    /// The variable names the template reads from outside (columns), in
    /// order of first appearance; loop variables and `set` names excluded.
    public let names: [String]
    /// Where each name is first read (1-based line and column).
    public let namePositions: [String: TemplatePosition]
    /// `{name}` written in the text of a Jinja template, where it is
    /// literal text, not a placeholder (likely a legacy template that
    /// gained a `{{`): name and position.
    public let literalPlaceholders: [(name: String, position: TemplatePosition)]

    enum Body: Sendable {
        case legacy([LegacyPart])
        case jinja([TNode])
    }

    enum LegacyPart: Sendable {
        case text(String)
        case column(String, Position)
    }

    let body: Body
    let regexes: [String: Regex]

    /// True when `text` is a Jinja template (has `{{`, `{%` or `{#`).
    public static func isJinja(_ text: String) -> Bool {
        var previous: Unicode.Scalar = " "
        for scalar in text.unicodeScalars {
            if previous == "{" && (scalar == "{" || scalar == "%" || scalar == "#") { return true }
            previous = scalar
        }
        return false
    }

    public init(parsing text: String) throws(TemplateError) {
        self.text = text
        let source = SourceText(text)
        guard Self.isJinja(text) else {
            let parts = try Self.parseLegacy(source)
            body = .legacy(parts)
            var names: [String] = []
            var positions: [String: TemplatePosition] = [:]
            for case .column(let name, let p) in parts where positions[name] == nil {
                names.append(name)
                positions[name] = TemplatePosition(p)
            }
            self.names = names
            self.namePositions = positions
            self.literalPlaceholders = []
            self.regexes = [:]
            return
        }
        var parser = TemplateParser(source: source, segments: try TemplateLexer(source).segments())
        let nodes = try parser.parseBody(until: [])
        body = .jinja(nodes)
        var regexes: [String: Regex] = [:]
        var analysis = NameAnalysis()
        try analysis.visit(nodes, source: source, regexes: &regexes)
        self.regexes = regexes
        self.names = analysis.names
        self.namePositions = analysis.positions
        var literal: [(name: String, position: TemplatePosition)] = []
        Self.findLiteralPlaceholders(nodes, into: &literal)
        self.literalPlaceholders = literal
    }

    /// Renders the template for the variables `lookup` gives (nil:
    /// undefined, an error where used).
    public func render(_ lookup: (String) -> Value?, nullOutput: NullOutput = .pythonNone,
                       limits: RenderLimits = RenderLimits()) throws(TemplateError) -> String {
        switch body {
        case .legacy(let parts):
            var out = ""
            for part in parts {
                switch part {
                case .text(let t): out += t
                case .column(let name, let p):
                    guard let value = lookup(name) else {
                        throw TemplateError(.render, line: p.line, column: p.column, "{\(name)}: '\(name)' is undefined")
                    }
                    if value.isNull {
                        throw TemplateError(.render, line: p.line, column: p.column, "{\(name)}: '\(name)' is null")
                    }
                    out += Self.legacyText(value)
                }
            }
            return out
        case .jinja(let nodes):
            let result: Result<String, TemplateError> = withoutActuallyEscaping(lookup) { escapable in
                let renderer = Renderer(Evaluator(lookup: escapable, source: nil, limits: limits, regexes: regexes),
                                        nullOutput: nullOutput)
                renderer.evaluator.scopes = [[:]]
                do throws(TemplateError) {
                    try renderer.render(nodes)
                    return .success(renderer.out)
                } catch {
                    return .failure(error)
                }
            }
            return try result.get()
        }
    }

    /// Renders for named values.
    public func render(_ values: [String: Value], nullOutput: NullOutput = .pythonNone) throws(TemplateError) -> String {
        try render({ values[$0] }, nullOutput: nullOutput)
    }

    // MARK: Legacy

    static let legacyHint = "for a literal brace, write the template in Jinja form: {{ name }} for a column, {{ '{' }} for a brace"

    static func parseLegacy(_ source: SourceText) throws(TemplateError) -> [LegacyPart] {
        let scalars = source.scalars
        var parts: [LegacyPart] = []
        var text = ""
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if c == "}", i + 1 < scalars.count, scalars[i + 1] == "}" {
                text += "}"
                i += 2
            } else if c == "{" {
                guard let close = scalars[(i + 1)...].firstIndex(of: "}") else {
                    let p = source.position(i)
                    throw TemplateError(.syntax, line: p.line, column: p.column, "\"{\" without a closing \"}\" (\(legacyHint))")
                }
                let name = source.string((i + 1)..<close)
                guard !name.isEmpty else {
                    let p = source.position(i)
                    throw TemplateError(.syntax, line: p.line, column: p.column, "an empty {} placeholder (\(legacyHint))")
                }
                if !text.isEmpty { parts.append(.text(text)); text = "" }
                parts.append(.column(name, source.position(i)))
                i = close + 1
            } else {
                text.unicodeScalars.append(c)
                i += 1
            }
        }
        if !text.isEmpty { parts.append(.text(text)) }
        return parts
    }

    /// A value as the legacy `{column}` form writes it: text as is,
    /// numbers as Swift writes them, true/false, lists and objects as JSON.
    public static func legacyText(_ value: Value) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return s
        case .list(let items): return "[" + items.map(legacyItem).joined(separator: ", ") + "]"
        case .object(let object):
            return "{" + object.members.map { legacyItem(.string($0.key)) + ": " + legacyItem($0.value) }.joined(separator: ", ") + "}"
        }
    }

    /// An item inside a list or object: strings as JSON strings.
    static func legacyItem(_ value: Value) -> String {
        guard case .string(let s) = value else { return legacyText(value) }
        var out = ""
        JSONValue.writeString(s, to: &out)
        return out
    }

    static func findLiteralPlaceholders(_ nodes: [TNode], into out: inout [(name: String, position: TemplatePosition)]) {
        for node in nodes {
            switch node {
            case .text(let t, let start):
                let scalars = Array(t.unicodeScalars)
                var i = 0
                while i < scalars.count {
                    if scalars[i] == "{", let close = scalars[(i + 1)...].firstIndex(of: "}"), close > i + 1 {
                        let inner = scalars[(i + 1)..<close]
                        if let first = inner.first, first == "_" || first.properties.isAlphabetic,
                           inner.allSatisfy({ $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }) {
                            var p = start
                            for c in scalars[..<i] {
                                if c == "\n" { p.line += 1; p.column = 1 } else { p.column += 1 }
                            }
                            out.append((Text.string(inner), TemplatePosition(p)))
                        }
                        i = close + 1
                    } else {
                        i += 1
                    }
                }
            case .ifBlock(let branches, let otherwise):
                for branch in branches { findLiteralPlaceholders(branch.body, into: &out) }
                findLiteralPlaceholders(otherwise ?? [], into: &out)
            case .forBlock(let loop):
                findLiteralPlaceholders(loop.body, into: &out)
                findLiteralPlaceholders(loop.otherwise ?? [], into: &out)
            case .output, .set: break
            }
        }
    }
}

/// A 1-based line and column inside a template.
public struct TemplatePosition: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    init(_ p: Position) {
        line = p.line
        column = p.column
    }
    public var description: String { "\(line):\(column)" }
}

// MARK: - Syntax

struct ForLoop: Sendable {
    var targets: [String]
    var iterable: Expr
    var condition: Expr?
    var body: [TNode]
    var otherwise: [TNode]?
    var position: Position
}

indirect enum TNode: Sendable {
    /// Text and where it starts (for literal-placeholder hints).
    case text(String, Position)
    case output(Expr)
    case ifBlock([(condition: Expr, body: [TNode])], otherwise: [TNode]?)
    case forBlock(ForLoop)
    case set([String], Expr, Position)
}

/// A piece of the template text: text, `{{ }}` or `{% %}` with its
/// tokens (comments are dropped, raw blocks become text).
enum Segment {
    case text(String, Position)
    case output([Token], Int)
    case block([Token], Int)
}

struct TemplateLexer {
    let source: SourceText

    init(_ source: SourceText) { self.source = source }

    func error(_ message: String, at offset: Int) -> TemplateError {
        let p = source.position(offset)
        return TemplateError(.syntax, line: p.line, column: p.column, message)
    }

    func segments() throws(TemplateError) -> [Segment] {
        let s = source.scalars
        var out: [Segment] = []
        var position = 0
        var stripNext = false
        func emitText(_ range: Range<Int>, stripEnd: Bool) {
            var lower = range.lowerBound, upper = range.upperBound
            if stripNext { while lower < upper && Text.isSpace(s[lower]) { lower += 1 } }
            if stripEnd { while upper > lower && Text.isSpace(s[upper - 1]) { upper -= 1 } }
            stripNext = false
            if lower < upper { out.append(.text(source.string(lower..<upper), source.position(lower))) }
        }
        while position < s.count {
            // The next {{, {% or {#.
            var open = position
            while open + 1 < s.count && !(s[open] == "{" && (s[open + 1] == "{" || s[open + 1] == "%" || s[open + 1] == "#")) {
                open += 1
            }
            guard open + 1 < s.count else {
                emitText(position..<s.count, stripEnd: false)
                break
            }
            let kind = s[open + 1]
            var contentStart = open + 2
            let stripBefore = contentStart < s.count && s[contentStart] == "-"
            if contentStart < s.count && (s[contentStart] == "-" || s[contentStart] == "+") { contentStart += 1 }
            emitText(position..<open, stripEnd: stripBefore)
            switch kind {
            case "#":
                var close = contentStart
                while close + 1 < s.count && !(s[close] == "#" && s[close + 1] == "}") { close += 1 }
                guard close + 1 < s.count else { throw error("the comment is not closed: expected '#}'", at: open) }
                stripNext = close > contentStart && s[close - 1] == "-"
                position = close + 2
            case "{":
                var lexer = Lexer(source, from: contentStart)
                let tag = try lexer.lex(until: .variable, openedAt: open)
                out.append(.output(tag.tokens, open))
                stripNext = tag.stripAfter
                position = tag.endOffset
            default:
                var lexer = Lexer(source, from: contentStart)
                let tag = try lexer.lex(until: .block, openedAt: open)
                stripNext = tag.stripAfter
                position = tag.endOffset
                if tag.tokens.count == 2, case .name("raw") = tag.tokens[0].kind {
                    // Everything up to {% endraw %} is text.
                    guard let (textEnd, after, stripBeforeEnd, stripAfterEnd) = findEndRaw(from: position) else {
                        throw error("'{% raw %}' is not closed: expected '{% endraw %}'", at: open)
                    }
                    emitText(position..<textEnd, stripEnd: stripBeforeEnd)
                    stripNext = stripAfterEnd
                    position = after
                } else {
                    out.append(.block(tag.tokens, open))
                }
            }
        }
        return out
    }

    /// `{%-? endraw -?%}` from `start`: where the raw text ends, where the
    /// tag ends, and its strip markers.
    func findEndRaw(from start: Int) -> (Int, Int, Bool, Bool)? {
        let s = source.scalars
        var i = start
        while i + 1 < s.count {
            if s[i] == "{" && s[i + 1] == "%" {
                var j = i + 2
                var stripBefore = false
                if j < s.count && (s[j] == "-" || s[j] == "+") { stripBefore = s[j] == "-"; j += 1 }
                while j < s.count && Text.isSpace(s[j]) { j += 1 }
                let word: [Unicode.Scalar] = ["e", "n", "d", "r", "a", "w"]
                if j + word.count <= s.count && Array(s[j..<(j + word.count)]) == word {
                    j += word.count
                    while j < s.count && Text.isSpace(s[j]) { j += 1 }
                    var stripAfter = false
                    if j < s.count && (s[j] == "-" || s[j] == "+") { stripAfter = s[j] == "-"; j += 1 }
                    if j + 1 < s.count && s[j] == "%" && s[j + 1] == "}" { return (i, j + 2, stripBefore, stripAfter) }
                }
            }
            i += 1
        }
        return nil
    }
}

struct TemplateParser {
    let source: SourceText
    let segments: [Segment]
    var index = 0

    init(source: SourceText, segments: [Segment]) {
        self.source = source
        self.segments = segments
    }

    static let supported = "the tags are if/elif/else/endif, for/else/endfor, set and raw"
    static let unsupported: Set<String> = [
        "macro", "call", "filter", "block", "extends", "include", "import", "from", "with", "autoescape", "do",
        "break", "continue", "trans", "endmacro", "endcall", "endfilter", "endblock", "endwith", "endautoescape",
    ]

    func error(_ message: String, at offset: Int) -> TemplateError {
        let p = source.position(offset)
        return TemplateError(.syntax, line: p.line, column: p.column, message)
    }

    /// The tag name of a block segment.
    func tagName(_ tokens: [Token]) -> String? {
        if case .name(let n) = tokens.first?.kind { return n }
        return nil
    }

    /// Nodes up to one of the `end` tags (left unconsumed), or the end of
    /// the template when `end` is empty.
    mutating func parseBody(until end: Set<String>, opened: (String, Int)? = nil) throws(TemplateError) -> [TNode] {
        var nodes: [TNode] = []
        while index < segments.count {
            switch segments[index] {
            case .text(let t, let p):
                nodes.append(.text(t, p))
                index += 1
            case .output(let tokens, let offset):
                var parser = Parser(source, tokens)
                parser.endDescription = "'}}'"
                if case .end = parser.current.kind {
                    throw error("'{{ }}' is empty: expected an expression", at: offset)
                }
                do throws(TemplateError) {
                    let expr = try parser.parseExpression()
                    try parser.expectEnd("'}}'")
                    nodes.append(.output(expr))
                } catch {
                    // Likely a legacy template's {{ meant as a brace.
                    var e = error
                    if !e.message.hasPrefix("no filter named"), !e.message.hasPrefix("no test named") {
                        e.message += " (in a template with {{, {% or {#, '{{ ... }}' holds an expression; write {{ '{' }} for a literal brace)"
                    }
                    throw e
                }
                index += 1
            case .block(let tokens, let offset):
                guard let name = tagName(tokens) else {
                    throw error("expected a tag name after '{%' (\(Self.supported))", at: tokens.first?.offset ?? offset)
                }
                if end.contains(name) { return nodes }
                index += 1
                switch name {
                case "if": nodes.append(try parseIf(tokens, offset))
                case "for": nodes.append(try parseFor(tokens, offset))
                case "set": nodes.append(try parseSet(tokens))
                default:
                    if let (opener, at) = opened, ["elif", "else", "endif", "endfor"].contains(name) {
                        let p = source.position(at)
                        throw error("unexpected '{% \(name) %}': the '{% \(opener) %}' at \(p.line):\(p.column) is closed by '{% end\(opener) %}'", at: tokens[0].offset)
                    }
                    if ["elif", "else", "endif", "endfor", "endraw", "endset"].contains(name) {
                        throw error("unexpected '{% \(name) %}' (no open block it belongs to)", at: tokens[0].offset)
                    }
                    if Self.unsupported.contains(name) {
                        throw error("'{% \(name) %}' is not supported (\(Self.supported))", at: tokens[0].offset)
                    }
                    throw error("unknown tag '\(name)' (\(Self.supported))", at: tokens[0].offset)
                }
            }
        }
        if let (opener, at) = opened {
            throw error("'{% \(opener) %}' is not closed: expected '{% end\(opener) %}'", at: at)
        }
        return nodes
    }

    func expressionParser(_ tokens: [Token], from start: Int) -> Parser {
        var parser = Parser(source, tokens)
        parser.index = start
        parser.endDescription = "'%}'"
        return parser
    }

    mutating func parseIf(_ tokens: [Token], _ offset: Int) throws(TemplateError) -> TNode {
        var branches: [(condition: Expr, body: [TNode])] = []
        var otherwise: [TNode]?
        var conditionTokens = tokens
        while true {
            var parser = expressionParser(conditionTokens, from: 1)
            let condition = try parser.parseExpression()
            try parser.expectEnd("'%}'")
            let body = try parseBody(until: ["elif", "else", "endif"], opened: ("if", offset))
            branches.append((condition, body))
            guard index < segments.count, case .block(let next, _) = segments[index], let name = tagName(next) else {
                throw error("'{% if %}' is not closed: expected '{% endif %}'", at: offset)
            }
            index += 1
            switch name {
            case "elif":
                conditionTokens = next
                continue
            case "else":
                try expectBare(next, "else")
                otherwise = try parseBody(until: ["endif", "elif", "else"], opened: ("if", offset))
                guard index < segments.count, case .block(let close, _) = segments[index], tagName(close) == "endif" else {
                    if index < segments.count, case .block(let other, _) = segments[index], let n = tagName(other) {
                        throw error("unexpected '{% \(n) %}' after '{% else %}': expected '{% endif %}'", at: other[0].offset)
                    }
                    throw error("'{% if %}' is not closed: expected '{% endif %}'", at: offset)
                }
                index += 1
                try expectBare(close, "endif")
            default:
                try expectBare(next, "endif")
            }
            return .ifBlock(branches, otherwise: otherwise)
        }
    }

    func expectBare(_ tokens: [Token], _ name: String) throws(TemplateError) {
        guard tokens.count == 2 else {
            throw error("expected '%}' after '\(name)'", at: tokens[1].offset)
        }
    }

    mutating func parseFor(_ tokens: [Token], _ offset: Int) throws(TemplateError) -> TNode {
        var parser = expressionParser(tokens, from: 1)
        var targets: [String] = []
        repeat {
            let token = parser.current
            let name = try parser.expectName("as the loop variable")
            if Parser.keywords.contains(name) || ["true", "false", "none", "True", "False", "None", "null", "loop"].contains(name) {
                throw parser.error("'\(name)' cannot be a loop variable", at: token)
            }
            targets.append(name)
        } while parser.skipOp(",")
        guard parser.skipName("in") else {
            throw parser.error("expected 'in' after the loop variable, found \(parser.found(parser.current))", at: parser.current)
        }
        let iterable = try parser.parseExpression(conditional: false)
        var condition: Expr?
        if parser.skipName("if") { condition = try parser.parseExpression() }
        if parser.isName("recursive") { throw parser.error("recursive loops are not supported", at: parser.current) }
        try parser.expectEnd("'%}'")
        let body = try parseBody(until: ["else", "endfor"], opened: ("for", offset))
        var otherwise: [TNode]?
        guard index < segments.count, case .block(var next, _) = segments[index], let name = tagName(next) else {
            throw error("'{% for %}' is not closed: expected '{% endfor %}'", at: offset)
        }
        index += 1
        if name == "else" {
            try expectBare(next, "else")
            otherwise = try parseBody(until: ["endfor", "else"], opened: ("for", offset))
            guard index < segments.count, case .block(let close, _) = segments[index], tagName(close) == "endfor" else {
                if index < segments.count, case .block(let other, _) = segments[index] {
                    throw error("unexpected '{% else %}': expected '{% endfor %}'", at: other[0].offset)
                }
                throw error("'{% for %}' is not closed: expected '{% endfor %}'", at: offset)
            }
            next = close
            index += 1
        }
        try expectBare(next, "endfor")
        return .forBlock(ForLoop(targets: targets, iterable: iterable, condition: condition, body: body,
                                 otherwise: otherwise, position: source.position(offset)))
    }

    mutating func parseSet(_ tokens: [Token]) throws(TemplateError) -> TNode {
        var parser = expressionParser(tokens, from: 1)
        var targets: [String] = []
        repeat {
            let token = parser.current
            let name = try parser.expectName("to set")
            if Parser.keywords.contains(name) || ["true", "false", "none", "True", "False", "None", "null", "loop"].contains(name) {
                throw parser.error("cannot set '\(name)'", at: token)
            }
            targets.append(name)
        } while parser.skipOp(",")
        if case .end = parser.current.kind {
            throw parser.error("block '{% set %}...{% endset %}' is not supported: write {% set name = expression %}", at: parser.current)
        }
        if parser.isOp(".") { throw parser.error("setting an attribute is not supported", at: parser.current) }
        guard parser.skipOp("=") else {
            throw parser.error("expected '=' after the name to set, found \(parser.found(parser.current))", at: parser.current)
        }
        let value = try parser.parseExpression()
        try parser.expectEnd("'%}'")
        return .set(targets, value, source.position(tokens[0].offset))
    }
}

/// The names a template reads from outside, with scopes: loop variables
/// and `set` names are bound where Jinja binds them.
struct NameAnalysis {
    var names: [String] = []
    var positions: [String: TemplatePosition] = [:]
    var scopes: [Set<String>] = [[]]

    mutating func read(_ expr: Expr, source: SourceText, regexes: inout [String: Regex]) throws(TemplateError) {
        try compileLiteralPatterns(expr, source: source, into: &regexes)
        var found: [(String, Position)] = []
        expr.walk { node in
            if case .name(let name) = node.node { found.append((name, node.position)) }
        }
        for (name, position) in found where !scopes.contains(where: { $0.contains(name) }) && positions[name] == nil {
            names.append(name)
            positions[name] = TemplatePosition(position)
        }
    }

    mutating func visit(_ nodes: [TNode], source: SourceText, regexes: inout [String: Regex]) throws(TemplateError) {
        for node in nodes {
            switch node {
            case .text: break
            case .output(let e): try read(e, source: source, regexes: &regexes)
            case .ifBlock(let branches, let otherwise):
                for branch in branches {
                    try read(branch.condition, source: source, regexes: &regexes)
                    try visit(branch.body, source: source, regexes: &regexes)
                }
                try visit(otherwise ?? [], source: source, regexes: &regexes)
            case .forBlock(let loop):
                try read(loop.iterable, source: source, regexes: &regexes)
                scopes.append(Set(loop.targets).union(["loop"]))
                if let condition = loop.condition { try read(condition, source: source, regexes: &regexes) }
                try visit(loop.body, source: source, regexes: &regexes)
                scopes.removeLast()
                try visit(loop.otherwise ?? [], source: source, regexes: &regexes)
            case .set(let targets, let e, _):
                try read(e, source: source, regexes: &regexes)
                scopes[scopes.count - 1].formUnion(targets)
            }
        }
    }
}

// MARK: - Rendering

final class Renderer {
    let evaluator: Evaluator
    let nullOutput: NullOutput
    var out = ""
    var length = 0

    init(_ evaluator: Evaluator, nullOutput: NullOutput) {
        self.evaluator = evaluator
        self.nullOutput = nullOutput
    }

    func write(_ text: String, at position: Position) throws(TemplateError) {
        length += text.unicodeScalars.count
        if length > evaluator.limits.outputLength {
            throw evaluator.error("the output is longer than \(evaluator.limits.outputLength) characters", at: position)
        }
        out += text
    }

    func render(_ nodes: [TNode]) throws(TemplateError) {
        for node in nodes {
            switch node {
            case .text(let t, let p): try write(t, at: p)
            case .output(let e):
                let value = try evaluator.value(e)
                if value.isNull && nullOutput == .error {
                    throw evaluator.error("this {{ }} prints null; test it with 'is none' (or write {{ x | default('', true) }})", at: e.position)
                }
                try write(value.pythonString, at: e.position)
            case .ifBlock(let branches, let otherwise):
                var done = false
                for branch in branches where try evaluator.value(branch.condition).isTruthy {
                    try render(branch.body)
                    done = true
                    break
                }
                if !done, let otherwise { try render(otherwise) }
            case .forBlock(let loop): try render(loop)
            case .set(let targets, let e, let p):
                let value = try evaluator.value(e)
                try assign(targets, value, at: p)
            }
        }
    }

    func assign(_ targets: [String], _ value: Value, at position: Position) throws(TemplateError) {
        var scope = evaluator.scopes.removeLast()
        defer { evaluator.scopes.append(scope) }
        if targets.count == 1 {
            scope[targets[0]] = value
            return
        }
        let items = try evaluator.run(position) { () throws(Failure) in try Operations.items(value) }
        guard items.count == targets.count else {
            throw evaluator.error("cannot unpack \(items.count) values into \(targets.count) names", at: position)
        }
        for (name, item) in zip(targets, items) { scope[name] = item }
    }

    func render(_ loop: ForLoop) throws(TemplateError) {
        let iterable = try evaluator.value(loop.iterable)
        var items = try evaluator.run(loop.iterable.position) { () throws(Failure) in try Operations.items(iterable) }
        if let condition = loop.condition {
            var kept: [Value] = []
            for item in items {
                evaluator.scopes.append([:])
                try assign(loop.targets, item, at: loop.position)
                let keep = try evaluator.value(condition).isTruthy
                evaluator.scopes.removeLast()
                if keep { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            if let otherwise = loop.otherwise { try render(otherwise) }
            return
        }
        let count = items.count
        for (index, item) in items.enumerated() {
            try evaluator.tick(loop.position)
            evaluator.scopes.append([:])
            let info = ValueObject([
                ("index", .int(Int64(index + 1))), ("index0", .int(Int64(index))),
                ("revindex", .int(Int64(count - index))), ("revindex0", .int(Int64(count - index - 1))),
                ("first", .bool(index == 0)), ("last", .bool(index == count - 1)), ("length", .int(Int64(count))),
            ])
            evaluator.scopes[evaluator.scopes.count - 1]["loop"] = .object(info)
            try assign(loop.targets, item, at: loop.position)
            try render(loop.body)
            evaluator.scopes.removeLast()
        }
    }
}
