/// A value a template or an expression works on: what a row's column holds
/// (callers convert Arrow columns), a literal, or an intermediate result.
///
/// Objects keep their keys in order (a struct column's field order, a JSON
/// object's member order), as Python dicts do, so rendering one gives the
/// text jinja2 gives.
public enum Value: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case list([Value])
    case object(ValueObject)

    /// Python's truth: null, false, 0, 0.0, "", [] and {} are false.
    public var isTruthy: Bool {
        switch self {
        case .null: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .list(let l): !l.isEmpty
        case .object(let o): !o.isEmpty
        }
    }

    public var isNull: Bool { if case .null = self { true } else { false } }

    /// The type's name in messages: "null", "boolean", "integer", "float",
    /// "string", "list", "object".
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "float"
        case .string: "string"
        case .list: "list"
        case .object: "object"
        }
    }

    /// The text `{{ value }}` renders: Python's `str()` (None, True, 1.5,
    /// ['a', 1], {'k': None}).
    public var pythonString: String {
        switch self {
        case .string(let s): return s
        default:
            var out = ""
            writeRepr(to: &out)
            return out
        }
    }

    /// Python's `repr()`: strings quoted as Python quotes them.
    public var pythonRepr: String {
        var out = ""
        writeRepr(to: &out)
        return out
    }

    func writeRepr(to out: inout String) {
        switch self {
        case .null: out += "None"
        case .bool(let b): out += b ? "True" : "False"
        case .int(let i): out += String(i)
        case .double(let d): out += PythonFloat.repr(d)
        case .string(let s): PythonString.repr(s, to: &out)
        case .list(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += ", " }
                item.writeRepr(to: &out)
            }
            out += "]"
        case .object(let object):
            out += "{"
            for (index, key) in object.keys.enumerated() {
                if index > 0 { out += ", " }
                PythonString.repr(key, to: &out)
                out += ": "
                (object[key] ?? .null).writeRepr(to: &out)
            }
            out += "}"
        }
    }
}

/// An object's members in insertion order (a key given twice keeps its
/// first place and its last value, as in a Python dict).
public struct ValueObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var storage: [String: Value] = [:]

    public init() {}

    public init(_ members: [(String, Value)]) {
        for (key, value) in members { self[key] = value }
    }

    public var isEmpty: Bool { keys.isEmpty }
    public var count: Int { keys.count }

    public subscript(key: String) -> Value? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// The members in order.
    public var members: [(key: String, value: Value)] { keys.map { ($0, storage[$0] ?? .null) } }

    public static func == (a: ValueObject, b: ValueObject) -> Bool {
        // Python dict equality ignores order.
        a.storage == b.storage
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .list(elements) }
}

/// Python's `repr(float)`: the shortest digits that read back as the same
/// double, positional for exponents -4 ..< 16, else `1e+16`, `1.5e-07`.
enum PythonFloat {
    static func repr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        // Swift's description has the same shortest digits; only the layout
        // may differ, so take its digits and exponent and lay them out.
        let text = d.description
        var negative = false
        var mantissa = Substring(text)
        if mantissa.first == "-" { negative = true; mantissa = mantissa.dropFirst() }
        var exponent = 0
        if let e = mantissa.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(mantissa[mantissa.index(after: e)...]) ?? 0
            mantissa = mantissa[..<e]
        }
        var digits = ""
        var pointPosition = mantissa.count
        for (offset, character) in mantissa.enumerated() {
            if character == "." { pointPosition = offset } else { digits.append(character) }
        }
        // value = 0.digits × 10^decimalExponent
        var decimalExponent = pointPosition + exponent
        while digits.first == "0", digits.count > 1 { digits.removeFirst(); decimalExponent -= 1 }
        while digits.last == "0", digits.count > 1 { digits.removeLast() }
        let sign = negative ? "-" : ""
        if digits == "0" { return sign + "0.0" }
        let exp10 = decimalExponent - 1  // value = d.ddd × 10^exp10
        if exp10 < -4 || exp10 >= 16 {
            var out = sign + String(digits.first ?? "0")
            if digits.count > 1 { out += "." + digits.dropFirst() }
            let magnitude = abs(exp10)
            out += (exp10 < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
            return out
        }
        if decimalExponent <= 0 {
            return sign + "0." + String(repeating: "0", count: -decimalExponent) + digits
        }
        if digits.count <= decimalExponent {
            return sign + digits + String(repeating: "0", count: decimalExponent - digits.count) + ".0"
        }
        let split = digits.index(digits.startIndex, offsetBy: decimalExponent)
        return sign + digits[..<split] + "." + digits[split...]
    }
}

/// Python's `repr(str)`.
enum PythonString {
    static func repr(_ s: String, to out: inout String) {
        var hasSingle = false, hasDouble = false
        for scalar in s.unicodeScalars {
            if scalar == "'" { hasSingle = true } else if scalar == "\"" { hasDouble = true }
        }
        let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
        out.unicodeScalars.append(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case quote, "\\": out += "\\"; out.unicodeScalars.append(scalar)
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value < 0x100 {
                    out += "\\x" + hex(scalar.value, width: 2)
                } else if scalar.value < 0x10000 {
                    out += "\\u" + hex(scalar.value, width: 4)
                } else {
                    out += "\\U" + hex(scalar.value, width: 8)
                }
            }
        }
        out.unicodeScalars.append(quote)
    }

    /// Python's str.isprintable() for one character: not in Cc, Cf, Cs, Co,
    /// Cn, Zl, Zp, nor a space separator other than " ".
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
