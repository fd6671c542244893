/// A value, or the absence of one (an undefined name, a missing key or
/// index) with what was missing. Undefined passes through `is defined`
/// and `default`; anything else done with it is an error (Jinja's
/// StrictUndefined).
enum Slot {
    case value(Value)
    case undefined(String)
}

/// How `{{ expr }}` writes a null.
public enum NullOutput: Sendable {
    /// `None`, as jinja2 prints it.
    case pythonNone
    /// A render error naming the expression (a prompt should never say
    /// "None" because a column was empty).
    case error
}

/// Limits that keep a template or expression from running away.
public struct RenderLimits: Sendable {
    /// Evaluation steps (expressions and loop iterations) per render.
    public var steps: Int = 10_000_000
    /// Characters of output (Unicode scalars).
    public var outputLength: Int = 64 << 20
    public init() {}
}

/// Evaluates expressions against a lookup and the template's scopes.
final class Evaluator {
    let lookup: (String) -> Value?
    let source: SourceText?
    var scopes: [[String: Value]] = []
    var steps = 0
    let limits: RenderLimits
    var regexes: [String: Regex]

    init(lookup: @escaping (String) -> Value?, source: SourceText?, limits: RenderLimits, regexes: [String: Regex]) {
        self.lookup = lookup
        self.source = source
        self.limits = limits
        self.regexes = regexes
    }

    func error(_ message: String, at position: Position) -> TemplateError {
        TemplateError(.render, line: position.line, column: position.column, message)
    }

    func tick(_ position: Position) throws(TemplateError) {
        steps += 1
        if steps > limits.steps {
            throw error("evaluation stopped after \(limits.steps) steps (a loop too long?)", at: position)
        }
    }

    func resolve(_ name: String) -> Slot {
        for scope in scopes.reversed() {
            if let value = scope[name] { return .value(value) }
        }
        if let value = lookup(name) { return .value(value) }
        return .undefined("'\(name)' is undefined")
    }

    /// The value of `expr`; an error if it is undefined.
    func value(_ expr: Expr) throws(TemplateError) -> Value {
        switch try evaluate(expr) {
        case .value(let v): return v
        case .undefined(let why): throw error(why, at: expr.position)
        }
    }

    func run<T>(_ position: Position, _ body: () throws(Failure) -> T) throws(TemplateError) -> T {
        do { return try body() } catch { throw self.error(error.message, at: position) }
    }

    func evaluate(_ expr: Expr) throws(TemplateError) -> Slot {
        try tick(expr.position)
        let at = expr.position
        switch expr.node {
        case .literal(let v): return .value(v)
        case .name(let name): return resolve(name)
        case .list(let items):
            var out: [Value] = []
            for item in items { out.append(try value(item)) }
            return .value(.list(out))
        case .dict(let pairs):
            var object = ValueObject()
            for pair in pairs {
                let key = try value(pair.key)
                guard case .string(let k) = key else {
                    throw error("object keys must be strings, not \(key.typeName)", at: pair.key.position)
                }
                object[k] = try value(pair.value)
            }
            return .value(.object(object))
        case .attribute(let base, let name):
            let b = try value(base)
            if case .object(let object) = b, let member = object[name] { return .value(member) }
            return .undefined("\(Self.describe(b)) has no attribute '\(name)'")
        case .subscript(let base, let index):
            let b = try value(base)
            let i = try value(index)
            if let item = Operations.item(b, i) { return .value(item) }
            return .undefined("\(Self.describe(b)) has no item \(i.pythonRepr)")
        case .slice(let base, let start, let stop, let step):
            let b = try value(base)
            let s1 = try start.map { (e) throws(TemplateError) in try value(e) }
            let s2 = try stop.map { (e) throws(TemplateError) in try value(e) }
            let s3 = try step.map { (e) throws(TemplateError) in try value(e) }
            return .value(try run(at) { () throws(Failure) in try Operations.slice(b, s1, s2, s3) })
        case .negate(let operand):
            let v = try value(operand)
            return .value(try run(at) { () throws(Failure) in
                switch Number(v) {
                case .int(let i)?:
                    if i == .min { throw Operations.overflow }
                    return .int(-i)
                case .double(let d)?: return .double(-d)
                case nil: throw Failure("cannot negate \(v.typeName)")
                }
            })
        case .plus(let operand):
            let v = try value(operand)
            guard let n = Number(v) else { throw error("unary '+' needs a number, not \(v.typeName)", at: at) }
            return .value(n.value)
        case .not(let operand):
            return .value(.bool(!(try value(operand)).isTruthy))
        case .binary(let op, let left, let right):
            let a = try value(left)
            let b = try value(right)
            return .value(try run(at) { () throws(Failure) in try Operations.binary(op, a, b) })
        case .and(let left, let right):
            let a = try value(left)
            return a.isTruthy ? .value(try value(right)) : .value(a)
        case .or(let left, let right):
            let a = try value(left)
            return a.isTruthy ? .value(a) : .value(try value(right))
        case .compare(let first, let rest):
            var left = try value(first)
            for item in rest {
                let right = try value(item.operand)
                let result: Bool = try run(item.position) { () throws(Failure) in
                    switch item.op {
                    case .equal: return Operations.equal(left, right)
                    case .notEqual: return !Operations.equal(left, right)
                    case .isIn: return try Operations.contains(right, left)
                    case .notIn: return !(try Operations.contains(right, left))
                    default: return try Operations.order(item.op, left, right)
                    }
                }
                if !result { return .value(.bool(false)) }
                left = right
            }
            return .value(.bool(true))
        case .filter(let base, let name, let args):
            let input = try evaluate(base)
            let arguments = try evaluateArguments(args)
            return try Filters.apply(name, input, arguments, at: at, evaluator: self)
        case .test(let base, let name, let args, let negated):
            let input = try evaluate(base)
            let arguments = try evaluateArguments(args)
            let result = try Tests.apply(name, input, arguments, at: at, evaluator: self)
            return .value(.bool(result != negated))
        case .call(let callee, let args):
            let arguments = try evaluateArguments(args)
            if case .attribute(let receiver, let method) = callee.node {
                let r = try value(receiver)
                return .value(try run(at) { () throws(Failure) in try Methods.call(method, on: r, arguments) })
            }
            return .value(try run(at) { () throws(Failure) in try Methods.range(arguments) })
        case .conditional(let then, let condition, let otherwise):
            if try value(condition).isTruthy { return try evaluate(then) }
            guard let otherwise else { return .undefined("the conditional expression has no else and its condition is false") }
            return try evaluate(otherwise)
        }
    }

    func evaluateArguments(_ args: CallArguments) throws(TemplateError) -> Arguments {
        var out = Arguments()
        for arg in args.positional { out.positional.append(try value(arg)) }
        for arg in args.keyword { out.keyword.append((arg.name, try value(arg.value))) }
        return out
    }

    /// A value for messages: its type, and short values themselves.
    static func describe(_ value: Value) -> String {
        switch value {
        case .null: return "null"
        case .object: return "the object"
        case .list(let items): return "the list (\(items.count) items)"
        default:
            let repr = value.pythonRepr
            return repr.unicodeScalars.count <= 40 ? "\(value.typeName) \(repr)" : value.typeName
        }
    }
}

/// Evaluated call arguments.
struct Arguments {
    var positional: [Value] = []
    var keyword: [(name: String, value: Value)] = []

    /// Binds the arguments to `parameters` (names in order, with defaults);
    /// an unknown keyword or too many arguments is an error.
    func bind(_ function: String, _ parameters: [(String, Value?)]) throws(Failure) -> [Value] {
        guard positional.count <= parameters.count else {
            throw Failure("\(function) takes at most \(parameters.count) argument\(parameters.count == 1 ? "" : "s"), \(positional.count) given")
        }
        var out: [Value?] = parameters.map(\.1)
        var given = [Bool](repeating: false, count: parameters.count)
        for (index, value) in positional.enumerated() {
            out[index] = value
            given[index] = true
        }
        for (name, value) in keyword {
            guard let index = parameters.firstIndex(where: { $0.0 == name }) else {
                let names = parameters.map(\.0)
                throw Failure("\(function) has no argument '\(name)'" + (names.isEmpty ? "" : " (it takes \(names.joined(separator: ", ")))"))
            }
            guard !given[index] else { throw Failure("\(function): argument '\(name)' given twice") }
            out[index] = value
            given[index] = true
        }
        var values: [Value] = []
        for (index, value) in out.enumerated() {
            guard let value else { throw Failure("\(function) needs the argument '\(parameters[index].0)'") }
            values.append(value)
        }
        return values
    }
}

extension Evaluator {
    func regex(_ pattern: String) throws(Failure) -> Regex {
        if let compiled = regexes[pattern] { return compiled }
        do {
            let compiled = try Regex(pattern)
            regexes[pattern] = compiled
            return compiled
        } catch {
            throw Failure("bad pattern: column \(error.column) of the pattern: \(error.message)")
        }
    }
}

/// The patterns of `is matching('...')` with a literal pattern, compiled
/// when the text is parsed (a bad one is a syntax error there).
func compileLiteralPatterns(_ expr: Expr, source: SourceText?, into regexes: inout [String: Regex]) throws(TemplateError) {
    var failure: TemplateError?
    var found: [String: Regex] = regexes
    expr.walk { node in
        guard failure == nil, case .test(_, "matching", let args, _) = node.node,
              let first = args.positional.first ?? args.keyword.first(where: { $0.name == "pattern" })?.value,
              case .literal(.string(let pattern)) = first.node, found[pattern] == nil else { return }
        do throws(RegexError) { found[pattern] = try Regex(pattern) } catch {
            failure = TemplateError(.syntax, line: first.position.line, column: first.position.column,
                                    "bad pattern (column \(error.column) of the pattern): \(error.message)")
        }
    }
    if let failure { throw failure }
    regexes = found
}
