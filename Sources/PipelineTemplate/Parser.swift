/// Jinja's expression grammar, from loosest to tightest binding:
///
///     conditional  or ('if' or ('else' conditional)?)*
///     or           and ('or' and)*
///     and          not ('and' not)*
///     not          'not' not | compare
///     compare      math1 (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not' 'in') math1)*
///     math1        concat (('+'|'-') concat)*
///     concat       math2 ('~' math2)*
///     math2        pow (('*'|'/'|'//'|'%') pow)*
///     pow          unary ('**' unary)*
///     unary        ('-'|'+') unary-without-filters | primary postfix* (filter | test)*
///     postfix      '.' name | '.' integer | '[' subscript-or-slice ']' | '(' arguments ')'
///     filter       '|' name ('(' arguments ')')?
///     test         'is' 'not'? name ('(' arguments ')' | primary postfix*)?
struct Parser {
    let source: SourceText
    let tokens: [Token]
    var index = 0

    init(_ source: SourceText, _ tokens: [Token]) {
        self.source = source
        self.tokens = tokens
    }

    var current: Token { tokens[min(index, tokens.count - 1)] }
    var next: Token { tokens[min(index + 1, tokens.count - 1)] }

    func position(_ token: Token) -> Position { source.position(token.offset) }

    func error(_ message: String, at token: Token) -> TemplateError {
        let p = position(token)
        return TemplateError(.syntax, line: p.line, column: p.column, message)
    }

    func found(_ token: Token) -> String {
        if case .end = token.kind { return endDescription }
        return token.kind.display
    }

    /// What the end token stands for in messages.
    var endDescription = "the end of the expression"

    mutating func advance() { index += 1 }

    func isName(_ name: String, _ token: Token? = nil) -> Bool {
        if case .name(let n) = (token ?? current).kind { return n == name }
        return false
    }

    func isOp(_ op: String, _ token: Token? = nil) -> Bool {
        if case .op(let o) = (token ?? current).kind { return o == op }
        return false
    }

    mutating func skipOp(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        advance()
        return true
    }

    mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        advance()
        return true
    }

    mutating func expectOp(_ op: String, _ context: String) throws(TemplateError) {
        guard skipOp(op) else { throw error("expected '\(op)' \(context), found \(found(current))", at: current) }
    }

    mutating func expectName(_ context: String) throws(TemplateError) -> String {
        guard case .name(let name) = current.kind else {
            throw error("expected a name \(context), found \(found(current))", at: current)
        }
        advance()
        return name
    }

    mutating func expectEnd(_ context: String) throws(TemplateError) {
        guard case .end = current.kind else {
            throw error("expected \(context), found \(found(current))", at: current)
        }
    }

    // MARK: Expressions

    mutating func parseExpression(conditional: Bool = true) throws(TemplateError) -> Expr {
        conditional ? try parseConditional() : try parseOr()
    }

    mutating func parseConditional() throws(TemplateError) -> Expr {
        var expr = try parseOr()
        while isName("if") {
            let at = position(current)
            advance()
            let condition = try parseOr()
            var otherwise: Expr?
            if skipName("else") { otherwise = try parseConditional() }
            expr = Expr(.conditional(then: expr, condition: condition, otherwise: otherwise), at)
        }
        return expr
    }

    mutating func parseOr() throws(TemplateError) -> Expr {
        var left = try parseAnd()
        while isName("or") {
            let at = position(current)
            advance()
            left = Expr(.or(left, try parseAnd()), at)
        }
        return left
    }

    mutating func parseAnd() throws(TemplateError) -> Expr {
        var left = try parseNot()
        while isName("and") {
            let at = position(current)
            advance()
            left = Expr(.and(left, try parseNot()), at)
        }
        return left
    }

    mutating func parseNot() throws(TemplateError) -> Expr {
        if isName("not") {
            let at = position(current)
            advance()
            return Expr(.not(try parseNot()), at)
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws(TemplateError) -> Expr {
        let first = try parseMath1()
        var rest: [(op: CompareOperator, operand: Expr, position: Position)] = []
        while true {
            let at = position(current)
            if case .op(let o) = current.kind, let op = CompareOperator(rawValue: o), op != .isIn, op != .notIn {
                advance()
                rest.append((op, try parseMath1(), at))
            } else if isName("in") {
                advance()
                rest.append((.isIn, try parseMath1(), at))
            } else if isName("not"), isName("in", next) {
                advance(); advance()
                rest.append((.notIn, try parseMath1(), at))
            } else {
                break
            }
        }
        return rest.isEmpty ? first : Expr(.compare(first, rest), first.position)
    }

    mutating func parseMath1() throws(TemplateError) -> Expr {
        var left = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            let at = position(current)
            advance()
            left = Expr(.binary(o == "+" ? .add : .subtract, left, try parseConcat()), at)
        }
        return left
    }

    mutating func parseConcat() throws(TemplateError) -> Expr {
        var left = try parseMath2()
        while isOp("~") {
            let at = position(current)
            advance()
            left = Expr(.binary(.concat, left, try parseMath2()), at)
        }
        return left
    }

    mutating func parseMath2() throws(TemplateError) -> Expr {
        var left = try parsePow()
        while case .op(let o) = current.kind, let op = BinaryOperator(rawValue: o),
              op == .multiply || op == .divide || op == .floorDivide || op == .modulo {
            let at = position(current)
            advance()
            left = Expr(.binary(op, left, try parsePow()), at)
        }
        return left
    }

    mutating func parsePow() throws(TemplateError) -> Expr {
        var left = try parseUnary()
        while isOp("**") {
            let at = position(current)
            advance()
            left = Expr(.binary(.power, left, try parseUnary()), at)
        }
        return left
    }

    mutating func parseUnary(withFilters: Bool = true) throws(TemplateError) -> Expr {
        let at = position(current)
        var expr: Expr
        if skipOp("-") {
            expr = Expr(.negate(try parseUnary(withFilters: false)), at)
        } else if skipOp("+") {
            expr = Expr(.plus(try parseUnary(withFilters: false)), at)
        } else {
            expr = try parsePrimary()
        }
        expr = try parsePostfix(expr)
        if withFilters { expr = try parseFilters(expr) }
        return expr
    }

    static let keywords: Set<String> = ["and", "or", "not", "in", "is", "if", "else"]

    mutating func parsePrimary() throws(TemplateError) -> Expr {
        let token = current
        let at = position(token)
        switch token.kind {
        case .name(let name):
            if Self.keywords.contains(name) {
                throw error("expected an expression, found '\(name)'", at: token)
            }
            advance()
            switch name {
            case "true", "True": return Expr(.literal(.bool(true)), at)
            case "false", "False": return Expr(.literal(.bool(false)), at)
            case "none", "None", "null": return Expr(.literal(.null), at)
            default: return Expr(.name(name), at)
            }
        case .string(var text):
            advance()
            // Adjacent strings are one: 'a' "b" is 'ab'.
            while case .string(let more) = current.kind {
                text += more
                advance()
            }
            return Expr(.literal(.string(text)), at)
        case .int(let value):
            advance()
            return Expr(.literal(.int(value)), at)
        case .float(let value):
            advance()
            return Expr(.literal(.double(value)), at)
        case .op("("):
            advance()
            let inner = try parseExpression()
            if isOp(",") {
                throw error("tuples are not supported: write a list [a, b]", at: current)
            }
            try expectOp(")", "to close '(' at \(at.line):\(at.column)")
            return inner
        case .op("["):
            advance()
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty {
                    try expectOp(",", "between list items")
                    if isOp("]") { break }
                }
                items.append(try parseExpression())
            }
            advance()
            return Expr(.list(items), at)
        case .op("{"):
            advance()
            var pairs: [(key: Expr, value: Expr)] = []
            while !isOp("}") {
                if !pairs.isEmpty {
                    try expectOp(",", "between the members of an object")
                    if isOp("}") { break }
                }
                let key = try parseExpression()
                try expectOp(":", "after an object key")
                pairs.append((key, try parseExpression()))
            }
            advance()
            return Expr(.dict(pairs), at)
        default:
            throw error("expected an expression, found \(found(token))", at: token)
        }
    }

    mutating func parsePostfix(_ base: Expr) throws(TemplateError) -> Expr {
        var expr = base
        while true {
            let token = current
            let at = position(token)
            if isOp(".") {
                advance()
                switch current.kind {
                case .name(let name):
                    advance()
                    expr = Expr(.attribute(expr, name), at)
                case .int(let value):
                    advance()
                    expr = Expr(.subscript(expr, Expr(.literal(.int(value)), at)), at)
                default:
                    throw error("expected an attribute name after '.', found \(found(current))", at: current)
                }
            } else if isOp("[") {
                advance()
                expr = try parseSubscript(expr, at: at)
            } else if isOp("(") {
                expr = try parseCall(expr, at: at)
            } else {
                return expr
            }
        }
    }

    mutating func parseSubscript(_ base: Expr, at: Position) throws(TemplateError) -> Expr {
        var parts: [Expr?] = [nil]
        var colons = 0
        while !isOp("]") {
            if isOp(":") {
                colons += 1
                guard colons <= 2 else { throw error("a slice has at most two ':'", at: current) }
                advance()
                parts.append(nil)
                continue
            }
            guard parts[parts.count - 1] == nil else {
                throw error("expected ']' or ':' in the subscript, found \(found(current))", at: current)
            }
            parts[parts.count - 1] = try parseExpression()
        }
        let close = current
        advance()
        if colons == 0 {
            guard let index = parts[0] else { throw error("expected an index inside '[]'", at: close) }
            return Expr(.subscript(base, index), at)
        }
        return Expr(.slice(base, start: parts[0], stop: parts.count > 1 ? parts[1] : nil,
                           step: parts.count > 2 ? parts[2] : nil), at)
    }

    mutating func parseArguments() throws(TemplateError) -> CallArguments {
        let open = position(current)
        try expectOp("(", "")
        var args = CallArguments()
        while !isOp(")") {
            if !args.isEmpty {
                try expectOp(",", "between arguments")
                if isOp(")") { break }
            }
            if case .name(let name) = current.kind, isOp("=", next) {
                advance(); advance()
                if args.keyword.contains(where: { $0.name == name }) {
                    throw error("argument '\(name)' given twice", at: tokens[index - 2])
                }
                args.keyword.append((name, try parseExpression()))
            } else {
                if !args.keyword.isEmpty {
                    throw error("a positional argument cannot follow a keyword argument", at: current)
                }
                if isOp("*") || isOp("**") { throw error("*args and **kwargs are not supported", at: current) }
                args.positional.append(try parseExpression())
            }
        }
        guard skipOp(")") else { throw error("expected ')' to close '(' at \(open.line):\(open.column)", at: current) }
        return args
    }

    mutating func parseCall(_ callee: Expr, at: Position) throws(TemplateError) -> Expr {
        let token = current
        switch callee.node {
        case .name("range"): break
        case .attribute(_, let method) where Methods.names.contains(method): break
        case .attribute(_, let method):
            throw error("'\(method)(...)': the methods are \(Methods.names.sorted().joined(separator: ", "))", at: token)
        default:
            throw error("only range(...) and the methods \(Methods.names.sorted().joined(separator: ", ")) can be called", at: token)
        }
        return Expr(.call(callee, try parseArguments()), at)
    }

    mutating func parseFilters(_ base: Expr) throws(TemplateError) -> Expr {
        var expr = base
        while true {
            if isOp("|") {
                advance()
                let nameToken = current
                let name = try dottedName("after '|'")
                guard Filters.names.contains(name) else {
                    throw error("no filter named '\(name)' (the filters are \(Filters.names.sorted().joined(separator: ", ")))",
                                at: nameToken)
                }
                let args = isOp("(") ? try parseArguments() : CallArguments()
                expr = Expr(.filter(expr, name: name, args), position(nameToken))
            } else if isName("is") {
                advance()
                let negated = skipName("not")
                let nameToken = current
                let name = try dottedName("after 'is'")
                guard Tests.names.contains(name) else {
                    throw error("no test named '\(name)' (the tests are \(Tests.names.sorted().joined(separator: ", ")))",
                                at: nameToken)
                }
                var args = CallArguments()
                if isOp("(") {
                    args = try parseArguments()
                } else if startsPrimary(current), !isName("else"), !isName("or"), !isName("and") {
                    if isName("is") { throw error("tests cannot be chained with 'is'", at: current) }
                    args.positional = [try parsePostfix(try parsePrimary())]
                }
                expr = Expr(.test(expr, name: name, args, negated: negated), position(nameToken))
            } else {
                return expr
            }
        }
    }

    func startsPrimary(_ token: Token) -> Bool {
        switch token.kind {
        case .name, .string, .int, .float: true
        case .op(let o): o == "(" || o == "[" || o == "{"
        case .end: false
        }
    }

    mutating func dottedName(_ context: String) throws(TemplateError) -> String {
        var name = try expectName(context)
        while isOp("."), case .name(let more) = next.kind {
            advance(); advance()
            name += "." + more
        }
        return name
    }
}
