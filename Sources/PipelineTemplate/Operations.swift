#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed operation's reason; the evaluator adds where.
struct Failure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// A number as Python sees it: bool is an integer (True + 1 == 2).
enum Number {
    case int(Int64)
    case double(Double)

    init?(_ value: Value) {
        switch value {
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .bool(let b): self = .int(b ? 1 : 0)
        default: return nil
        }
    }

    var double: Double {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        }
    }

    var value: Value {
        switch self {
        case .int(let i): .int(i)
        case .double(let d): .double(d)
        }
    }
}

/// The longest string or list an operator may make (`"ab" * n`).
let maximumBuiltLength = 16 << 20

enum Operations {
    static func typeName(_ value: Value) -> String { value.typeName }

    static func unsupported(_ op: String, _ a: Value, _ b: Value) -> Failure {
        Failure("'\(op)' is not supported between \(a.typeName) and \(b.typeName)")
    }

    static let overflow = Failure("integer overflow (integers are 64-bit)")

    static func binary(_ op: BinaryOperator, _ a: Value, _ b: Value) throws(Failure) -> Value {
        switch op {
        case .add: return try add(a, b)
        case .subtract:
            guard let x = Number(a), let y = Number(b) else { throw unsupported("-", a, b) }
            if case .int(let i) = x, case .int(let j) = y {
                let (r, o) = i.subtractingReportingOverflow(j)
                if o { throw overflow }
                return .int(r)
            }
            return .double(x.double - y.double)
        case .multiply: return try multiply(a, b)
        case .divide:
            guard let x = Number(a), let y = Number(b) else { throw unsupported("/", a, b) }
            guard y.double != 0 else { throw Failure("division by zero") }
            if case .int(let i) = x, case .int(let j) = y, i.magnitude < 1 << 53, j.magnitude < 1 << 53 {
                return .double(Double(i) / Double(j))
            }
            return .double(x.double / y.double)
        case .floorDivide:
            guard let x = Number(a), let y = Number(b) else { throw unsupported("//", a, b) }
            if case .int(let i) = x, case .int(let j) = y {
                guard j != 0 else { throw Failure("integer division by zero") }
                if i == .min && j == -1 { throw overflow }
                var q = i / j
                if (i % j != 0) && ((i < 0) != (j < 0)) { q -= 1 }
                return .int(q)
            }
            guard y.double != 0 else { throw Failure("float division by zero") }
            return .double(floatDivmod(x.double, y.double).div)
        case .modulo:
            if case .string = a { throw Failure("string formatting with '%' is not supported (use ~ or filters)") }
            guard let x = Number(a), let y = Number(b) else { throw unsupported("%", a, b) }
            if case .int(let i) = x, case .int(let j) = y {
                guard j != 0 else { throw Failure("integer modulo by zero") }
                if j == -1 { return .int(0) }
                var r = i % j
                if r != 0 && ((r < 0) != (j < 0)) { r += j }
                return .int(r)
            }
            guard y.double != 0 else { throw Failure("float modulo by zero") }
            return .double(floatDivmod(x.double, y.double).mod)
        case .power: return try power(a, b)
        case .concat: return .string(a.pythonString + b.pythonString)
        }
    }

    /// CPython's float_divmod.
    static func floatDivmod(_ vx: Double, _ wx: Double) -> (div: Double, mod: Double) {
        var mod = vx.truncatingRemainder(dividingBy: wx)
        var div = (vx - mod) / wx
        if mod != 0 {
            if (wx < 0) != (mod < 0) {
                mod += wx
                div -= 1
            }
        } else {
            mod = Double(signOf: wx, magnitudeOf: 0)
        }
        var floordiv: Double
        if div != 0 {
            floordiv = div.rounded(.down)
            if div - floordiv > 0.5 { floordiv += 1 }
        } else {
            floordiv = Double(signOf: vx / wx, magnitudeOf: 0)
        }
        return (floordiv, mod)
    }

    static func add(_ a: Value, _ b: Value) throws(Failure) -> Value {
        switch (a, b) {
        case (.string(let x), .string(let y)):
            guard x.utf8.count + y.utf8.count <= maximumBuiltLength else { throw Failure("the string would be too long") }
            return .string(x + y)
        case (.list(let x), .list(let y)):
            guard x.count + y.count <= maximumBuiltLength else { throw Failure("the list would be too long") }
            return .list(x + y)
        default:
            guard let x = Number(a), let y = Number(b) else { throw unsupported("+", a, b) }
            if case .int(let i) = x, case .int(let j) = y {
                let (r, o) = i.addingReportingOverflow(j)
                if o { throw overflow }
                return .int(r)
            }
            return .double(x.double + y.double)
        }
    }

    static func multiply(_ a: Value, _ b: Value) throws(Failure) -> Value {
        func repeated(_ count: Int64, _ value: Value) throws(Failure) -> Value? {
            let n = Int(max(0, min(count, Int64(maximumBuiltLength) + 1)))
            switch value {
            case .string(let s):
                guard s.isEmpty || n <= maximumBuiltLength / max(1, s.utf8.count) else { throw Failure("the string would be too long") }
                return .string(String(repeating: s, count: n))
            case .list(let l):
                guard l.isEmpty || n <= maximumBuiltLength / l.count else { throw Failure("the list would be too long") }
                var out: [Value] = []
                for _ in 0..<n { out += l }
                return .list(out)
            default: return nil
            }
        }
        if case .int(let n) = Number(b) ?? .double(0), case .string = a { if let r = try repeated(n, a) { return r } }
        if case .int(let n) = Number(b) ?? .double(0), case .list = a { if let r = try repeated(n, a) { return r } }
        if case .int(let n) = Number(a) ?? .double(0), case .string = b { if let r = try repeated(n, b) { return r } }
        if case .int(let n) = Number(a) ?? .double(0), case .list = b { if let r = try repeated(n, b) { return r } }
        guard let x = Number(a), let y = Number(b) else { throw unsupported("*", a, b) }
        if case .int(let i) = x, case .int(let j) = y {
            let (r, o) = i.multipliedReportingOverflow(by: j)
            if o { throw overflow }
            return .int(r)
        }
        return .double(x.double * y.double)
    }

    static func power(_ a: Value, _ b: Value) throws(Failure) -> Value {
        guard let x = Number(a), let y = Number(b) else { throw unsupported("**", a, b) }
        if case .int(let base) = x, case .int(let exponent) = y, exponent >= 0 {
            var result: Int64 = 1
            var factor = base
            var e = exponent
            while e > 0 {
                if e & 1 == 1 {
                    let (r, o) = result.multipliedReportingOverflow(by: factor)
                    if o { throw overflow }
                    result = r
                }
                e >>= 1
                if e > 0 {
                    let (f, o) = factor.multipliedReportingOverflow(by: factor)
                    if o { throw overflow }
                    factor = f
                }
            }
            return .int(result)
        }
        let base = x.double, exponent = y.double
        if base == 0 && exponent < 0 { throw Failure("zero cannot be raised to a negative power") }
        if base < 0 && exponent.isFinite && exponent.rounded() != exponent {
            throw Failure("a negative number cannot be raised to a fractional power")
        }
        let result = pow(base, exponent)
        if result.isInfinite && base.isFinite && exponent.isFinite { throw Failure("the result of '**' is too large") }
        return .double(result)
    }

    // MARK: Comparisons

    /// Python's ==.
    static func equal(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.string(let x), .string(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case (.list(let x), .list(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.members.allSatisfy { member in y[member.key].map { equal(member.value, $0) } ?? false }
        default:
            guard let x = Number(a), let y = Number(b) else { return false }
            switch (x, y) {
            case (.int(let i), .int(let j)): return i == j
            case (.int(let i), .double(let d)), (.double(let d), .int(let i)): return Int64(exactly: d) == i
            case (.double(let c), .double(let d)): return c == d
            }
        }
    }

    /// Python's <, <=, >, >=; false when either side is null.
    static func order(_ op: CompareOperator, _ a: Value, _ b: Value) throws(Failure) -> Bool {
        if a.isNull || b.isNull { return false }
        guard let ordering = try compare(a, b, op: op) else { return false }  // NaN
        switch op {
        case .less: return ordering < 0
        case .lessEqual: return ordering <= 0
        case .greater: return ordering > 0
        case .greaterEqual: return ordering >= 0
        default: return false
        }
    }

    /// -1, 0, 1, or nil when unordered (NaN); throws for types Python
    /// cannot order.
    static func compare(_ a: Value, _ b: Value, op: CompareOperator) throws(Failure) -> Int? {
        switch (a, b) {
        case (.string(let x), .string(let y)):
            if x.unicodeScalars.elementsEqual(y.unicodeScalars) { return 0 }
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1
        case (.list(let x), .list(let y)):
            for (p, q) in zip(x, y) where !equal(p, q) {
                if p.isNull || q.isNull { throw Failure("'\(op.rawValue)' is not supported between \(p.typeName) and \(q.typeName) (in lists)") }
                return try compare(p, q, op: op)
            }
            return x.count == y.count ? 0 : x.count < y.count ? -1 : 1
        default:
            guard let x = Number(a), let y = Number(b) else { throw unsupported(op.rawValue, a, b) }
            if case .int(let i) = x, case .int(let j) = y { return i == j ? 0 : i < j ? -1 : 1 }
            let c = x.double, d = y.double
            if c.isNaN || d.isNaN { return nil }
            return c == d ? 0 : c < d ? -1 : 1
        }
    }

    static func contains(_ container: Value, _ item: Value) throws(Failure) -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let needle) = item else {
                throw Failure("'in <string>' needs a string on the left, not \(item.typeName)")
            }
            return Text.find(Array(needle.unicodeScalars), in: Array(s.unicodeScalars)) != nil
        case .list(let items): return items.contains { equal($0, item) }
        case .object(let object):
            guard case .string(let key) = item else { return false }
            return object[key] != nil
        default:
            throw Failure("'in' needs a string, list or object on the right, not \(container.typeName)")
        }
    }

    // MARK: Containers

    static func length(_ value: Value) throws(Failure) -> Int {
        switch value {
        case .string(let s): return s.unicodeScalars.count
        case .list(let l): return l.count
        case .object(let o): return o.count
        default: throw Failure("\(value.typeName) has no length")
        }
    }

    /// What `for` goes over: a list's items, a string's characters, an
    /// object's keys.
    static func items(_ value: Value) throws(Failure) -> [Value] {
        switch value {
        case .list(let l): return l
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .object(let o): return o.keys.map { .string($0) }
        default: throw Failure("cannot iterate over \(value.typeName)")
        }
    }

    static func integerIndex(_ value: Value) -> Int64? {
        switch value {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    /// `base[index]`; nil when there is no such item (undefined).
    static func item(_ base: Value, _ index: Value) -> Value? {
        switch base {
        case .list(let items):
            guard let i = integerIndex(index) else { return nil }
            let at = i < 0 ? Int64(items.count) + i : i
            return at >= 0 && at < items.count ? items[Int(at)] : nil
        case .string(let s):
            guard let i = integerIndex(index) else { return nil }
            let scalars = Array(s.unicodeScalars)
            let at = i < 0 ? Int64(scalars.count) + i : i
            return at >= 0 && at < scalars.count ? .string(String(scalars[Int(at)])) : nil
        case .object(let object):
            guard case .string(let key) = index else { return nil }
            return object[key]
        default:
            return nil
        }
    }

    /// Python's slice of a list or string.
    static func slice(_ base: Value, _ start: Value?, _ stop: Value?, _ step: Value?) throws(Failure) -> Value {
        func bound(_ v: Value?) throws(Failure) -> Int64? {
            guard let v, !v.isNull else { return nil }
            guard let i = integerIndex(v) else { throw Failure("slice indices must be integers, not \(v.typeName)") }
            return i
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw Failure("slice step cannot be zero") }
        func indices(_ count: Int) throws(Failure) -> [Int] {
            let n = Int64(count)
            func adjust(_ v: Int64?, _ defaultValue: Int64) -> Int64 {
                guard var v else { return defaultValue }
                if v < 0 {
                    v += n
                    if v < 0 { v = stepValue < 0 ? -1 : 0 }
                } else if v >= n {
                    v = stepValue < 0 ? n - 1 : n
                }
                return v
            }
            let lower = adjust(try bound(start), stepValue < 0 ? n - 1 : 0)
            let upper = adjust(try bound(stop), stepValue < 0 ? -1 : n)
            var out: [Int] = []
            var i = lower
            while stepValue > 0 ? i < upper : i > upper {
                out.append(Int(i))
                let (next, o) = i.addingReportingOverflow(stepValue)
                if o { break }
                i = next
            }
            return out
        }
        switch base {
        case .list(let items): return .list(try indices(items.count).map { items[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            var out = ""
            for i in try indices(scalars.count) { out.unicodeScalars.append(scalars[i]) }
            return .string(out)
        default: throw Failure("\(base.typeName) cannot be sliced")
        }
    }
}

/// String helpers over Unicode scalars (Python's code points).
enum Text {
    /// The first offset of `needle` in `haystack`.
    static func find(_ needle: [Unicode.Scalar], in haystack: [Unicode.Scalar], from: Int = 0) -> Int? {
        if needle.isEmpty { return from <= haystack.count ? from : nil }
        guard needle.count <= haystack.count else { return nil }
        var i = from
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    /// Python's str.isspace() for one character.
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        (c.value >= 0x1C && c.value <= 0x1F) || c.properties.isWhitespace
    }

    static func string(_ scalars: some Sequence<Unicode.Scalar>) -> String {
        var out = ""
        out.unicodeScalars.append(contentsOf: scalars)
        return out
    }

    /// Python's str.strip(chars).
    static func strip(_ s: String, _ chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let scalars = Array(s.unicodeScalars)
        let set = chars.map { Set($0.unicodeScalars) }
        func strips(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? isSpace(c) }
        var lower = 0, upper = scalars.count
        if leading { while lower < upper && strips(scalars[lower]) { lower += 1 } }
        if trailing { while upper > lower && strips(scalars[upper - 1]) { upper -= 1 } }
        return string(scalars[lower..<upper])
    }

    /// Python's str.replace(old, new, count).
    static func replace(_ s: String, _ old: String, _ new: String, count: Int64 = -1) throws(Failure) -> String {
        let scalars = Array(s.unicodeScalars), oldScalars = Array(old.unicodeScalars), newScalars = Array(new.unicodeScalars)
        var out: [Unicode.Scalar] = []
        var done: Int64 = 0
        if oldScalars.isEmpty {
            for c in scalars {
                if count < 0 || done < count { out += newScalars; done += 1 }
                out.append(c)
                if out.count > maximumBuiltLength { throw Failure("the string would be too long") }
            }
            if count < 0 || done < count { out += newScalars }
            return string(out)
        }
        var i = 0
        while i < scalars.count {
            if count < 0 || done < count, let found = find(oldScalars, in: scalars, from: i) {
                out += scalars[i..<found]
                out += newScalars
                i = found + oldScalars.count
                done += 1
                if out.count > maximumBuiltLength { throw Failure("the string would be too long") }
            } else {
                out += scalars[i...]
                break
            }
        }
        return string(out)
    }

    /// Python's str.split(sep) (nil: runs of white space).
    static func split(_ s: String, _ separator: String?, maxsplit: Int64 = -1) throws(Failure) -> [String] {
        let scalars = Array(s.unicodeScalars)
        var parts: [String] = []
        guard let separator else {
            var i = 0
            var splits: Int64 = 0
            while i < scalars.count {
                while i < scalars.count && isSpace(scalars[i]) { i += 1 }
                guard i < scalars.count else { break }
                if maxsplit >= 0 && splits >= maxsplit {
                    var end = scalars.count
                    while end > i && isSpace(scalars[end - 1]) { end -= 1 }
                    parts.append(string(scalars[i..<end]))
                    return parts
                }
                let start = i
                while i < scalars.count && !isSpace(scalars[i]) { i += 1 }
                parts.append(string(scalars[start..<i]))
                splits += 1
            }
            return parts
        }
        let sep = Array(separator.unicodeScalars)
        guard !sep.isEmpty else { throw Failure("split: empty separator") }
        var i = 0
        var splits: Int64 = 0
        while (maxsplit < 0 || splits < maxsplit), let found = find(sep, in: scalars, from: i) {
            parts.append(string(scalars[i..<found]))
            i = found + sep.count
            splits += 1
        }
        parts.append(string(scalars[i...]))
        return parts
    }

    static func upper(_ s: String) -> String { s.uppercased() }
    static func lower(_ s: String) -> String { s.lowercased() }

    /// Python's str.capitalize(): the first character in title case, the
    /// rest lower case.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return first.properties.titlecaseMapping + lower(string(s.unicodeScalars.dropFirst()))
    }

    static func hasCased(_ s: String, upper: Bool) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            let p = c.properties
            if p.isUppercase || p.generalCategory == .titlecaseLetter {
                if !upper { return false }
                cased = true
            } else if p.isLowercase {
                if upper { return false }
                cased = true
            }
        }
        return cased
    }
}
