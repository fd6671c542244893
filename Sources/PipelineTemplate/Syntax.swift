/// An expression's syntax tree. Every node keeps where it starts, for
/// errors met while evaluating it.
struct Expr: Sendable {
    var node: Node
    var position: Position

    init(_ node: Node, _ position: Position) {
        self.node = node
        self.position = position
    }
}

struct CallArguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(name: String, value: Expr)] = []
    var isEmpty: Bool { positional.isEmpty && keyword.isEmpty }
}

enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
    case concat = "~"
}

enum CompareOperator: String, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case isIn = "in", notIn = "not in"
}

indirect enum Node: Sendable {
    case literal(Value)
    case name(String)
    case list([Expr])
    case dict([(key: Expr, value: Expr)])
    case attribute(Expr, String)
    case `subscript`(Expr, Expr)
    case slice(Expr, start: Expr?, stop: Expr?, step: Expr?)
    case negate(Expr)
    case plus(Expr)
    case not(Expr)
    case binary(BinaryOperator, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    /// `a < b < c`: each operator with its right operand.
    case compare(Expr, [(op: CompareOperator, operand: Expr, position: Position)])
    case filter(Expr, name: String, CallArguments)
    case test(Expr, name: String, CallArguments, negated: Bool)
    /// A method call (`x.items()`, `s.startswith('a')`) or `range(...)`.
    case call(Expr, CallArguments)
    /// `a if condition else b` (no else: undefined when false).
    case conditional(then: Expr, condition: Expr, otherwise: Expr?)
}

extension Expr {
    /// Calls `visit` on this node and every node under it, parents first.
    func walk(_ visit: (Expr) -> Void) {
        visit(self)
        switch node {
        case .literal, .name: break
        case .list(let items): for item in items { item.walk(visit) }
        case .dict(let pairs): for pair in pairs { pair.key.walk(visit); pair.value.walk(visit) }
        case .attribute(let base, _): base.walk(visit)
        case .subscript(let base, let index): base.walk(visit); index.walk(visit)
        case .slice(let base, let start, let stop, let step):
            base.walk(visit); start?.walk(visit); stop?.walk(visit); step?.walk(visit)
        case .negate(let e), .plus(let e), .not(let e): e.walk(visit)
        case .binary(_, let a, let b), .and(let a, let b), .or(let a, let b): a.walk(visit); b.walk(visit)
        case .compare(let first, let rest): first.walk(visit); for item in rest { item.operand.walk(visit) }
        case .filter(let base, _, let args), .test(let base, _, let args, _):
            base.walk(visit); args.walk(visit)
        case .call(let callee, let args):
            // range(...) names no variable; a method's receiver does.
            if case .attribute(let receiver, _) = callee.node { receiver.walk(visit) }
            args.walk(visit)
        case .conditional(let then, let condition, let otherwise):
            then.walk(visit); condition.walk(visit); otherwise?.walk(visit)
        }
    }

    /// The variable names read, in order of first appearance.
    var names: [String] {
        var seen = Set<String>()
        var out: [String] = []
        walk { expr in
            if case .name(let name) = expr.node, seen.insert(name).inserted { out.append(name) }
        }
        return out
    }
}

extension CallArguments {
    func walk(_ visit: (Expr) -> Void) {
        for arg in positional { arg.walk(visit) }
        for arg in keyword { arg.value.walk(visit) }
    }
}
