#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The filters (`x | name(args)`), as jinja2 defines them.
enum Filters {
    static let names: Set<String> = [
        "abs", "capitalize", "count", "d", "default", "first", "float", "int", "items", "join", "last", "length",
        "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "select",
        "selectattr", "sort", "string", "sum", "tojson", "trim", "unique", "upper",
    ]

    static func apply(_ name: String, _ input: Slot, _ args: Arguments, at: Position,
                      evaluator: Evaluator) throws(TemplateError) -> Slot {
        if name == "default" || name == "d" {
            let bound = try evaluator.run(at) { () throws(Failure) in
                try args.bind(name, [("default_value", .string("")), ("boolean", .bool(false))])
            }
            switch input {
            case .undefined: return .value(bound[0])
            case .value(let v): return .value(bound[1].isTruthy && !v.isTruthy ? bound[0] : v)
            }
        }
        guard case .value(let value) = input else {
            if case .undefined(let why) = input { throw evaluator.error(why, at: at) }
            throw evaluator.error("undefined", at: at)
        }
        return .value(try evaluator.run(at) { () throws(Failure) in try call(name, value, args) })
    }

    static func string(_ v: Value) -> String { v.pythonString }

    static func call(_ name: String, _ value: Value, _ args: Arguments) throws(Failure) -> Value {
        switch name {
        case "abs":
            _ = try args.bind(name, [])
            switch Number(value) {
            case .int(let i)?:
                if i == .min { throw Operations.overflow }
                return .int(abs(i))
            case .double(let d)?: return .double(abs(d))
            case nil: throw Failure("abs needs a number, not \(value.typeName)")
            }
        case "capitalize":
            _ = try args.bind(name, [])
            return .string(Text.capitalize(string(value)))
        case "count", "length":
            _ = try args.bind(name, [])
            return .int(Int64(try Operations.length(value)))
        case "first", "last":
            _ = try args.bind(name, [])
            let items = try Operations.items(value)
            guard let item = name == "first" ? items.first : items.last else {
                throw Failure("\(name): the \(value.typeName) is empty")
            }
            return item
        case "float":
            let bound = try args.bind(name, [("default", .double(0))])
            return toFloat(value) ?? bound[0]
        case "int":
            let bound = try args.bind(name, [("default", .int(0)), ("base", .int(10))])
            guard case .int(let base) = bound[1], base == 10 || (base >= 2 && base <= 36) else {
                throw Failure("int: base must be an integer from 2 to 36")
            }
            return try toInt(value, base: Int(base)) ?? bound[0]
        case "items":
            _ = try args.bind(name, [])
            guard case .object(let object) = value else { throw Failure("items needs an object, not \(value.typeName)") }
            return .list(object.members.map { .list([.string($0.key), $0.value]) })
        case "join":
            let bound = try args.bind(name, [("d", .string("")), ("attribute", .null)])
            var items = try Operations.items(value)
            if !bound[1].isNull { items = try items.map { (item) throws(Failure) in try attribute(item, bound[1]) } }
            return .string(items.map(string).joined(separator: string(bound[0])))
        case "list":
            _ = try args.bind(name, [])
            return .list(try Operations.items(value))
        case "lower":
            _ = try args.bind(name, [])
            return .string(Text.lower(string(value)))
        case "upper":
            _ = try args.bind(name, [])
            return .string(Text.upper(string(value)))
        case "map": return .list(try map(value, args))
        case "max", "min":
            let bound = try args.bind(name, [("case_sensitive", .bool(false)), ("attribute", .null)])
            let items = try Operations.items(value)
            guard !items.isEmpty else { throw Failure("\(name) of an empty \(value.typeName)") }
            let key = try sortKey(caseSensitive: bound[0].isTruthy, attribute: bound[1])
            var best = items[0]
            var bestKey = try key(best)
            for item in items.dropFirst() {
                let k = try key(item)
                let c = try Operations.compare(k, bestKey, op: .less) ?? 0
                if name == "max" ? c > 0 : c < 0 {
                    best = item
                    bestKey = k
                }
            }
            return best
        case "reject", "select":
            let items = try Operations.items(value)
            var out: [Value] = []
            for item in items where try selects(item, nil, args) == (name == "select") { out.append(item) }
            return .list(out)
        case "rejectattr", "selectattr":
            guard let attribute = args.positional.first else { throw Failure("\(name) needs an attribute name") }
            let rest = Arguments(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
            let items = try Operations.items(value)
            var out: [Value] = []
            for item in items where try selects(item, attribute, rest) == (name == "selectattr") { out.append(item) }
            return .list(out)
        case "replace":
            let bound = try args.bind(name, [("old", nil), ("new", nil), ("count", .null)])
            var count: Int64 = -1
            if !bound[2].isNull {
                guard let c = Operations.integerIndex(bound[2]) else { throw Failure("replace: count must be an integer") }
                count = c
            }
            return .string(try Text.replace(string(value), string(bound[0]), string(bound[1]), count: count))
        case "reverse":
            _ = try args.bind(name, [])
            if case .string(let s) = value { return .string(Text.string(s.unicodeScalars.reversed())) }
            return .list(try Operations.items(value).reversed())
        case "round": return try round(value, args)
        case "sort":
            let bound = try args.bind(name, [("reverse", .bool(false)), ("case_sensitive", .bool(false)), ("attribute", .null)])
            let key = try sortKey(caseSensitive: bound[1].isTruthy, attribute: bound[2])
            return .list(try sorted(try Operations.items(value), key: key, reverse: bound[0].isTruthy))
        case "string":
            _ = try args.bind(name, [])
            return .string(string(value))
        case "sum":
            let bound = try args.bind(name, [("attribute", .null), ("start", .int(0))])
            var total = bound[1]
            for item in try Operations.items(value) {
                let v = bound[0].isNull ? item : try attribute(item, bound[0])
                total = try Operations.add(total, v)
            }
            return total
        case "tojson":
            let bound = try args.bind(name, [("indent", .null)])
            var indent: Int?
            if !bound[0].isNull {
                guard let i = Operations.integerIndex(bound[0]), i >= 0, i <= 32 else { throw Failure("tojson: indent must be an integer from 0 to 32") }
                indent = Int(i)
            }
            var out = ""
            try PythonJSON.write(value, indent: indent, level: 0, to: &out)
            return .string(PythonJSON.htmlSafe(out))
        case "trim":
            let bound = try args.bind(name, [("chars", .null)])
            return .string(Text.strip(string(value), bound[0].isNull ? nil : string(bound[0])))
        case "unique":
            let bound = try args.bind(name, [("case_sensitive", .bool(false)), ("attribute", .null)])
            let key = try sortKey(caseSensitive: bound[0].isTruthy, attribute: bound[1])
            var seen: [Value] = []
            var out: [Value] = []
            for item in try Operations.items(value) {
                let k = try key(item)
                if !seen.contains(where: { Operations.equal($0, k) }) {
                    seen.append(k)
                    out.append(item)
                }
            }
            return .list(out)
        default:
            throw Failure("no filter named '\(name)'")
        }
    }

    /// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0.
    static func attribute(_ item: Value, _ path: Value, default defaultValue: Value? = nil) throws(Failure) -> Value {
        var current = item
        let parts: [String]
        switch path {
        case .string(let s): parts = s.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        case .int(let i): parts = [String(i)]
        default: throw Failure("an attribute must be a string, not \(path.typeName)")
        }
        for part in parts {
            let key: Value = Int64(part).map { .int($0) } ?? .string(part)
            guard let next = Operations.item(current, key) else {
                if let defaultValue { return defaultValue }
                throw Failure("\(Evaluator.describe(current)) has no attribute '\(part)'")
            }
            current = next
        }
        return current
    }

    static func sortKey(caseSensitive: Bool, attribute path: Value) throws(Failure) -> (Value) throws(Failure) -> Value {
        { (item: Value) throws(Failure) -> Value in
            let v = path.isNull ? item : try attribute(item, path)
            if !caseSensitive, case .string(let s) = v { return .string(Text.lower(s)) }
            return v
        }
    }

    /// A stable merge sort (Python's sort is stable) with a throwing key.
    static func sorted(_ items: [Value], key: (Value) throws(Failure) -> Value, reverse: Bool) throws(Failure) -> [Value] {
        var keyed: [(key: Value, item: Value)] = []
        for item in items { keyed.append((try key(item), item)) }
        func less(_ a: Value, _ b: Value) throws(Failure) -> Bool {
            if a.isNull || b.isNull {
                if a.isNull && b.isNull { return false }
                throw Failure("cannot sort null with \(a.isNull ? b.typeName : a.typeName)")
            }
            let c = try Operations.compare(a, b, op: .less) ?? 0
            return reverse ? c > 0 : c < 0
        }
        func mergeSort(_ slice: ArraySlice<(key: Value, item: Value)>) throws(Failure) -> [(key: Value, item: Value)] {
            guard slice.count > 1 else { return Array(slice) }
            let middle = slice.startIndex + slice.count / 2
            let left = try mergeSort(slice[slice.startIndex..<middle])
            let right = try mergeSort(slice[middle..<slice.endIndex])
            var out: [(key: Value, item: Value)] = []
            out.reserveCapacity(slice.count)
            var i = 0, j = 0
            while i < left.count && j < right.count {
                if try less(right[j].key, left[i].key) {
                    out.append(right[j]); j += 1
                } else {
                    out.append(left[i]); i += 1
                }
            }
            out += left[i...]
            out += right[j...]
            return out
        }
        return try mergeSort(keyed[...]).map(\.item)
    }

    static func map(_ value: Value, _ args: Arguments) throws(Failure) -> [Value] {
        let items = try Operations.items(value)
        if let attributeArgument = args.keyword.first(where: { $0.name == "attribute" })?.value {
            let defaultValue = args.keyword.first(where: { $0.name == "default" })?.value
            if let extra = args.keyword.first(where: { $0.name != "attribute" && $0.name != "default" }) {
                throw Failure("map has no argument '\(extra.name)'")
            }
            guard args.positional.isEmpty else { throw Failure("map(attribute=...) takes no positional argument") }
            return try items.map { (item) throws(Failure) in try attribute(item, attributeArgument, default: defaultValue) }
        }
        guard case .string(let filter)? = args.positional.first else {
            throw Failure("map needs a filter name or attribute='...'")
        }
        guard names.contains(filter), filter != "default", filter != "d" else { throw Failure("map: no filter named '\(filter)'") }
        let rest = Arguments(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
        return try items.map { (item) throws(Failure) in try call(filter, item, rest) }
    }

    /// select/reject: the test named by the first argument (truthiness
    /// without one), of the item or of its attribute.
    static func selects(_ item: Value, _ attributePath: Value?, _ args: Arguments) throws(Failure) -> Bool {
        let subject = try attributePath.map { (path) throws(Failure) in try attribute(item, path) } ?? item
        guard let first = args.positional.first else { return subject.isTruthy }
        guard case .string(let test) = first else { throw Failure("the test name must be a string") }
        guard Tests.names.contains(test) else { throw Failure("no test named '\(test)'") }
        let rest = Arguments(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
        return try Tests.check(test, .value(subject), rest)
    }

    // MARK: Conversions

    /// Python's float(): numbers, and strings Python reads as floats.
    static func toFloat(_ value: Value) -> Value? {
        switch value {
        case .int(let i): return .double(Double(i))
        case .double: return value
        case .bool(let b): return .double(b ? 1 : 0)
        case .string(let s): return parseFloat(s).map { .double($0) }
        default: return nil
        }
    }

    static func parseFloat(_ s: String) -> Double? {
        let text = Text.strip(s, nil)
        guard !text.isEmpty else { return nil }
        let lower = text.lowercased()
        var body = Substring(lower)
        var sign = 1.0
        if body.first == "+" || body.first == "-" {
            if body.first == "-" { sign = -1 }
            body = body.dropFirst()
        }
        if body == "inf" || body == "infinity" { return sign * .infinity }
        if body == "nan" { return .nan }
        // Digits, one point, an exponent; underscores only between digits.
        var cleaned = ""
        var previous: Character = " "
        var seenExponent = false, seenPoint = false, seenDigit = false
        for (offset, c) in body.enumerated() {
            switch c {
            case "0"..."9": cleaned.append(c); seenDigit = true
            case "_":
                let nextIndex = body.index(body.startIndex, offsetBy: offset + 1)
                guard previous.isASCII, previous.isNumber, nextIndex < body.endIndex, body[nextIndex].isNumber else { return nil }
            case ".":
                guard !seenPoint, !seenExponent else { return nil }
                seenPoint = true
                cleaned.append(c)
            case "e":
                guard !seenExponent, seenDigit else { return nil }
                seenExponent = true
                cleaned.append(c)
            case "+", "-":
                guard previous == "e" else { return nil }
                cleaned.append(c)
            default: return nil
            }
            previous = c
        }
        guard seenDigit, let d = Double(cleaned) else { return nil }
        return sign * d
    }

    /// jinja2's int filter: int(x), else int(float(x)), else nil (the
    /// default).
    static func toInt(_ value: Value, base: Int) throws(Failure) -> Value? {
        switch value {
        case .int: return value
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d): return try truncate(d)
        case .string(let s):
            if let i = parseInt(s, base: base) { return .int(i) }
            if let d = parseFloat(s) { return try truncate(d) }
            return nil
        default: return nil
        }
    }

    static func truncate(_ d: Double) throws(Failure) -> Value {
        if d.isNaN { throw Failure("cannot convert NaN to an integer") }
        if d.isInfinite { throw Failure("cannot convert infinity to an integer") }
        guard let i = Int64(exactly: d.rounded(.towardZero)) else { throw Operations.overflow }
        return .int(i)
    }

    static func parseInt(_ s: String, base: Int) -> Int64? {
        var text = Substring(Text.strip(s, nil))
        var negative = false
        if text.first == "+" || text.first == "-" {
            negative = text.first == "-"
            text = text.dropFirst()
        }
        guard !text.isEmpty, text.first != "_", text.last != "_", !text.contains("__") else { return nil }
        let digits = text.replacing("_", with: "")
        guard let magnitude = UInt64(digits, radix: base) else { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude)
        }
        return Int64(exactly: magnitude)
    }

    // MARK: round

    static func round(_ value: Value, _ args: Arguments) throws(Failure) -> Value {
        let bound = try args.bind("round", [("precision", .int(0)), ("method", .string("common"))])
        guard let precision = Operations.integerIndex(bound[0]), precision >= -30, precision <= 30 else {
            throw Failure("round: precision must be an integer from -30 to 30")
        }
        guard case .string(let method) = bound[1], ["common", "ceil", "floor"].contains(method) else {
            throw Failure("round: method must be 'common', 'ceil' or 'floor'")
        }
        guard let number = Number(value) else { throw Failure("round needs a number, not \(value.typeName)") }
        let p = Int(precision)
        if method == "common" {
            switch number {
            case .int(let i):
                guard p < 0 else { return .int(i) }
                return .int(try roundInteger(i, digits: -p))
            case .double(let d):
                return .double(roundDouble(d, p))
            }
        }
        let scale = power10(abs(p))
        let x = number.double
        let scaled = p >= 0 ? x * scale : x / scale
        guard scaled.isFinite else { throw Failure("cannot convert infinity to an integer") }
        let r = method == "ceil" ? scaled.rounded(.up) : scaled.rounded(.down)
        return .double(p >= 0 ? r / scale : r * scale)
    }

    static func power10(_ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<n { r *= 10 }
        return r
    }

    static func roundInteger(_ i: Int64, digits: Int) throws(Failure) -> Int64 {
        guard digits <= 18 else { return 0 }
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        var q = i / scale
        var r = i % scale
        if r < 0 { q -= 1; r += scale }
        if 2 * r > scale || (2 * r == scale && q & 1 != 0) { q += 1 }
        let (result, o) = q.multipliedReportingOverflow(by: scale)
        if o { throw Operations.overflow }
        return result
    }

    /// Python's round(x, n): the exact binary value rounded half to even
    /// at n decimals.
    static func roundDouble(_ x: Double, _ p: Int) -> Double {
        guard x.isFinite, x != 0 else { return x }
        if p == 0 { return x.rounded(.toNearestOrEven) }
        if p < 0 {
            let scale = power10(-p)
            return (x / scale).rounded(.toNearestOrEven) * scale
        }
        guard p <= 19 else {
            let scale = power10(p)
            let r = (x * scale).rounded(.toNearestOrEven) / scale
            return r.isFinite ? r : x
        }
        // |x| = m × 2^e
        let magnitude = x.magnitude
        let exponentBits = Int(magnitude.exponentBitPattern)
        let m: UInt64 = exponentBits == 0 ? magnitude.significandBitPattern : (1 << 52) | magnitude.significandBitPattern
        let e = (exponentBits == 0 ? -1074 : exponentBits - 1075)
        if e >= 0 { return x }  // an integer
        var scale: UInt64 = 1
        for _ in 0..<p { scale *= 10 }
        // product = m × 10^p (128 bits), then divide by 2^k.
        let (high, low) = m.multipliedFullWidth(by: scale)
        let k = -e
        var q: (high: UInt64, low: UInt64)
        var above: Bool, exactHalf: Bool
        if k >= 128 {
            q = (0, 0)
            above = false
            exactHalf = false
        } else {
            q = shiftRight(high, low, k)
            // remainder = product mod 2^k, compared with 2^(k-1)
            let remainder = maskLow(high, low, k)
            let half = k - 1 < 64 ? (high: UInt64(0), low: UInt64(1) << UInt64(k - 1)) : (high: UInt64(1) << UInt64(k - 1 - 64), low: UInt64(0))
            exactHalf = remainder == half
            above = remainder.high > half.high || (remainder.high == half.high && remainder.low > half.low)
        }
        if above || (exactHalf && q.low & 1 == 1) {
            let (sum, carry) = q.low.addingReportingOverflow(1)
            q = (q.high + (carry ? 1 : 0), sum)
        }
        let qDouble = Double(q.high) * 18_446_744_073_709_551_616.0 + Double(q.low)
        let result = qDouble / power10(p)
        return x < 0 ? -result : result
    }

    static func shiftRight(_ high: UInt64, _ low: UInt64, _ k: Int) -> (high: UInt64, low: UInt64) {
        if k == 0 { return (high, low) }
        if k >= 64 { return (0, k - 64 >= 64 ? 0 : high >> UInt64(k - 64)) }
        return (high >> UInt64(k), (low >> UInt64(k)) | (high << UInt64(64 - k)))
    }

    static func maskLow(_ high: UInt64, _ low: UInt64, _ k: Int) -> (high: UInt64, low: UInt64) {
        if k >= 128 { return (high, low) }
        if k >= 64 { return (k == 64 ? 0 : high & ((1 << UInt64(k - 64)) - 1), low) }
        return (0, k == 0 ? 0 : low & ((1 << UInt64(k)) - 1))
    }
}

/// The tests (`x is name(args)`).
enum Tests {
    static let names: Set<String> = [
        "boolean", "defined", "divisibleby", "eq", "equalto", "even", "false", "float", "ge", "gt", "greaterthan",
        "in", "integer", "iterable", "le", "lessthan", "lower", "lt", "mapping", "matching", "ne", "none", "null",
        "number", "odd", "sequence", "string", "true", "undefined", "upper", "==", "!=", "<", "<=", ">", ">=",
    ]

    static func apply(_ name: String, _ input: Slot, _ args: Arguments, at: Position,
                      evaluator: Evaluator) throws(TemplateError) -> Bool {
        if name == "matching", case .value(let value) = input {
            return try evaluator.run(at) { () throws(Failure) in
                let bound = try args.bind("matching", [("pattern", nil)])
                guard case .string(let pattern) = bound[0] else { throw Failure("matching needs a string pattern") }
                guard case .string(let text) = value else {
                    throw Failure("'is matching' needs a string, not \(value.typeName)")
                }
                return try evaluator.regex(pattern).search(text)
            }
        }
        if case .undefined(let why) = input, name != "defined", name != "undefined" {
            throw evaluator.error(why, at: at)
        }
        return try evaluator.run(at) { () throws(Failure) in try check(name, input, args) }
    }

    static func check(_ name: String, _ input: Slot, _ args: Arguments) throws(Failure) -> Bool {
        let value: Value
        switch input {
        case .undefined:
            switch name {
            case "defined": return false
            case "undefined": return true
            default: throw Failure("undefined")
            }
        case .value(let v): value = v
        }
        func one() throws(Failure) -> Value { try args.bind(name, [("other", nil)])[0] }
        func none() throws(Failure) { _ = try args.bind(name, []) }
        switch name {
        case "defined": try none(); return true
        case "undefined": try none(); return false
        case "none", "null": try none(); return value.isNull
        case "boolean": try none(); if case .bool = value { return true } else { return false }
        case "true": try none(); return value == .bool(true)
        case "false": try none(); return value == .bool(false)
        case "integer": try none(); if case .int = value { return true } else { return false }
        case "float": try none(); if case .double = value { return true } else { return false }
        case "number": try none(); return Number(value) != nil
        case "string": try none(); if case .string = value { return true } else { return false }
        case "mapping": try none(); if case .object = value { return true } else { return false }
        case "iterable", "sequence":
            try none()
            switch value {
            case .string, .list, .object: return true
            default: return false
            }
        case "odd", "even":
            try none()
            guard Number(value) != nil else { throw Failure("'\(name)' needs a number, not \(value.typeName)") }
            let r = try Operations.binary(.modulo, value, .int(2))
            return Operations.equal(r, .int(name == "odd" ? 1 : 0))
        case "divisibleby":
            let r = try Operations.binary(.modulo, value, try one())
            return Operations.equal(r, .int(0))
        case "eq", "equalto", "==": return Operations.equal(value, try one())
        case "ne", "!=": return !Operations.equal(value, try one())
        case "lt", "lessthan", "<": return try Operations.order(.less, value, try one())
        case "le", "<=": return try Operations.order(.lessEqual, value, try one())
        case "gt", "greaterthan", ">": return try Operations.order(.greater, value, try one())
        case "ge", ">=": return try Operations.order(.greaterEqual, value, try one())
        case "in": return try Operations.contains(try one(), value)
        case "lower": try none(); return Text.hasCased(value.pythonString, upper: false)
        case "upper": try none(); return Text.hasCased(value.pythonString, upper: true)
        case "matching":
            let bound = try args.bind(name, [("pattern", nil)])
            guard case .string(let pattern) = bound[0] else { throw Failure("matching needs a string pattern") }
            guard case .string(let text) = value else { throw Failure("'is matching' needs a string, not \(value.typeName)") }
            do { return try Regex(pattern).search(text) } catch {
                throw Failure("bad pattern: column \(error.column) of the pattern: \(error.message)")
            }
        default: throw Failure("no test named '\(name)'")
        }
    }
}

/// The methods a template may call, and range().
enum Methods {
    static let names: Set<String> = [
        "items", "keys", "values", "get", "startswith", "endswith", "split", "strip", "lstrip", "rstrip", "lower",
        "upper", "replace",
    ]

    /// The longest list range() makes.
    static let maximumRange: Int64 = 1_000_000

    static func range(_ args: Arguments) throws(Failure) -> Value {
        guard args.keyword.isEmpty, (1...3).contains(args.positional.count) else {
            throw Failure("range takes 1 to 3 integer arguments")
        }
        var ints: [Int64] = []
        for arg in args.positional {
            guard let i = Operations.integerIndex(arg) else { throw Failure("range needs integers, not \(arg.typeName)") }
            ints.append(i)
        }
        let (start, stop, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
        guard step != 0 else { throw Failure("range: step cannot be zero") }
        var out: [Value] = []
        var i = start
        while step > 0 ? i < stop : i > stop {
            guard out.count < maximumRange else { throw Failure("range: more than \(maximumRange) items") }
            out.append(.int(i))
            let (n, o) = i.addingReportingOverflow(step)
            if o { break }
            i = n
        }
        return .list(out)
    }

    static func call(_ method: String, on receiver: Value, _ args: Arguments) throws(Failure) -> Value {
        switch (receiver, method) {
        case (.object(let object), "items"):
            _ = try args.bind("items()", [])
            return .list(object.members.map { .list([.string($0.key), $0.value]) })
        case (.object(let object), "keys"):
            _ = try args.bind("keys()", [])
            return .list(object.keys.map { .string($0) })
        case (.object(let object), "values"):
            _ = try args.bind("values()", [])
            return .list(object.members.map(\.value))
        case (.object(let object), "get"):
            let bound = try args.bind("get()", [("key", nil), ("default", .null)])
            guard case .string(let key) = bound[0] else { return bound[1] }
            return object[key] ?? bound[1]
        case (.string(let s), "startswith"), (.string(let s), "endswith"):
            let bound = try args.bind("\(method)()", [("prefix", nil)])
            guard case .string(let affix) = bound[0] else { throw Failure("\(method)() needs a string, not \(bound[0].typeName)") }
            let a = Array(s.unicodeScalars), b = Array(affix.unicodeScalars)
            guard b.count <= a.count else { return .bool(false) }
            return .bool(method == "startswith" ? a.prefix(b.count).elementsEqual(b) : a.suffix(b.count).elementsEqual(b))
        case (.string(let s), "split"):
            let bound = try args.bind("split()", [("sep", .null), ("maxsplit", .int(-1))])
            let separator: String?
            switch bound[0] {
            case .null: separator = nil
            case .string(let sep): separator = sep
            default: throw Failure("split() needs a string separator, not \(bound[0].typeName)")
            }
            guard let maxsplit = Operations.integerIndex(bound[1]) else { throw Failure("split(): maxsplit must be an integer") }
            return .list(try Text.split(s, separator, maxsplit: maxsplit).map { .string($0) })
        case (.string(let s), "strip"), (.string(let s), "lstrip"), (.string(let s), "rstrip"):
            let bound = try args.bind("\(method)()", [("chars", .null)])
            var chars: String?
            if case .string(let c) = bound[0] { chars = c } else if !bound[0].isNull {
                throw Failure("\(method)() needs a string, not \(bound[0].typeName)")
            }
            return .string(Text.strip(s, chars, leading: method != "rstrip", trailing: method != "lstrip"))
        case (.string(let s), "lower"):
            _ = try args.bind("lower()", [])
            return .string(Text.lower(s))
        case (.string(let s), "upper"):
            _ = try args.bind("upper()", [])
            return .string(Text.upper(s))
        case (.string(let s), "replace"):
            let bound = try args.bind("replace()", [("old", nil), ("new", nil), ("count", .int(-1))])
            guard case .string(let old) = bound[0], case .string(let new) = bound[1], let count = Operations.integerIndex(bound[2]) else {
                throw Failure("replace() needs two strings (and an integer count)")
            }
            return .string(try Text.replace(s, old, new, count: count))
        default:
            throw Failure("\(receiver.typeName) has no method \(method)()")
        }
    }
}

/// Python's json.dumps(sort_keys=True) as jinja2's tojson calls it:
/// ASCII only, ", " and ": " separators (or "," with indent), keys sorted
/// by code point; then <, >, & and ' escaped as \u003c and so on.
enum PythonJSON {
    static func write(_ value: Value, indent: Int?, level: Int, to out: inout String) throws(Failure) {
        guard level < 200 else { throw Failure("tojson: nested too deeply") }
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else { out += PythonFloat.repr(d) }
        case .string(let s): writeString(s, to: &out)
        case .list(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += indent == nil ? ", " : "," }
                if let indent { out += "\n" + String(repeating: " ", count: indent * (level + 1)) }
                try write(item, indent: indent, level: level + 1, to: &out)
            }
            if let indent { out += "\n" + String(repeating: " ", count: indent * level) }
            out += "]"
        case .object(let object):
            guard !object.isEmpty else { out += "{}"; return }
            out += "{"
            let keys = object.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
            for (index, key) in keys.enumerated() {
                if index > 0 { out += indent == nil ? ", " : "," }
                if let indent { out += "\n" + String(repeating: " ", count: indent * (level + 1)) }
                writeString(key, to: &out)
                out += ": "
                try write(object[key] ?? .null, indent: indent, level: level + 1, to: &out)
            }
            if let indent { out += "\n" + String(repeating: " ", count: indent * level) }
            out += "}"
        }
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value > 0x7E && scalar.value != 0x7F {
                    if scalar.value > 0xFFFF {
                        let v = scalar.value - 0x10000
                        out += "\\u" + PythonString.hex(0xD800 + (v >> 10), width: 4)
                        out += "\\u" + PythonString.hex(0xDC00 + (v & 0x3FF), width: 4)
                    } else {
                        out += "\\u" + PythonString.hex(scalar.value, width: 4)
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    static func htmlSafe(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            case "'": out += "\\u0027"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
