/// One expression in Jinja's syntax, parsed once (at validation) and
/// evaluated per row: `rating >= 7 and finish_reason == "stop"`.
public struct Expression: Sendable {
    public let text: String
    let root: Expr
    let regexes: [String: Regex]

    /// The variable names the expression reads (columns, for a step), in
    /// order of first appearance.
    public let names: [String]

    /// Parses `text`; a TemplateError (kind .syntax) says where and what
    /// was expected.
    public init(parsing text: String) throws(TemplateError) {
        self.text = text
        let source = SourceText(text)
        var lexer = Lexer(source, from: 0)
        let lexed = try lexer.lex(until: .endOfText, openedAt: 0)
        var parser = Parser(source, lexed.tokens)
        if case .end = parser.current.kind {
            throw TemplateError(.syntax, line: 1, column: 1, "the expression is empty")
        }
        let root = try parser.parseExpression()
        try parser.expectEnd("an operator or the end of the expression")
        var regexes: [String: Regex] = [:]
        try compileLiteralPatterns(root, source: source, into: &regexes)
        self.root = root
        self.regexes = regexes
        self.names = root.names
    }

    /// The value for the variables `lookup` gives (nil: undefined, an
    /// error unless the expression tests `is defined` or uses `default`).
    public func evaluate(_ lookup: (String) -> Value?, limits: RenderLimits = RenderLimits()) throws(TemplateError) -> Value {
        let result: Result<Value, TemplateError> = withoutActuallyEscaping(lookup) { escapable in
            let evaluator = Evaluator(lookup: escapable, source: nil, limits: limits, regexes: regexes)
            do throws(TemplateError) { return .success(try evaluator.value(root)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The value for named values.
    public func evaluate(_ values: [String: Value]) throws(TemplateError) -> Value {
        try evaluate { values[$0] }
    }
}
