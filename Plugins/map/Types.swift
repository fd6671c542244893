import PipelineJSON
import PipelineTemplate
import PluginKit

// The Arrow type of each new column, fixed for the run, and how a value of
// the template language goes into a column of that type (or why it does not).

/// A column type as far as it is known: from values (`unknown` where only
/// nulls or empty lists were seen) or exact (a field of the input's schema,
/// or a type declared with `types:`).
indirect enum VType {
    case unknown
    case bool
    case int
    case double
    case string
    case list(VType)
    case object([(name: String, type: VType)])
    case exact(ArrowField)

    /// The type of `value`; nil when its parts disagree (a list of a
    /// number and a text).
    static func of(_ value: Value) -> VType? {
        switch value {
        case .null: return .unknown
        case .bool: return .bool
        case .int: return .int
        case .double: return .double
        case .string: return .string
        case .list(let items):
            var item = VType.unknown
            for value in items {
                guard let type = of(value), let joined = unify(item, type) else { return nil }
                item = joined
            }
            return .list(item)
        case .object(let object):
            var fields: [(name: String, type: VType)] = []
            for member in object.members {
                guard let type = of(member.value) else { return nil }
                fields.append((member.key, type))
            }
            return .object(fields)
        }
    }

    /// The type both `a` and `b` fit in: unknown gives way, an integer
    /// widens to a float; nil when there is none.
    static func unify(_ a: VType, _ b: VType) -> VType? {
        switch (a, b) {
        case (.unknown, _): return b
        case (_, .unknown): return a
        case (.exact(let f), .exact(let g)): return f.type == g.type ? a : nil
        case (.exact(let f), _): return b.fits(f.type) ? a : nil
        case (_, .exact(let g)): return a.fits(g.type) ? b : nil
        case (.bool, .bool), (.int, .int), (.double, .double), (.string, .string): return a
        case (.int, .double), (.double, .int): return .double
        case (.list(let x), .list(let y)): return unify(x, y).map { .list($0) }
        case (.object(let x), .object(let y)):
            guard x.count == y.count, Set(x.map(\.name)) == Set(y.map(\.name)) else { return nil }
            var fields: [(name: String, type: VType)] = []
            for field in x {
                guard let other = y.first(where: { $0.name == field.name }), let joined = unify(field.type, other.type) else { return nil }
                fields.append((field.name, joined))
            }
            return .object(fields)
        default: return nil
        }
    }

    /// True when values of this type go into a column of `type`.
    func fits(_ type: ArrowType) -> Bool {
        switch (self, type) {
        case (.unknown, _): return true
        case (.exact(let field), _): return field.type == type
        case (.bool, .bool): return true
        case (.int, .int64), (.int, .uint64), (.int, .float64), (.int, .float32): return true
        case (.double, .float64), (.double, .float32): return true
        case (.string, .utf8), (.string, .largeUtf8): return true
        case (.list(let item), .list(let field)), (.list(let item), .fixedSizeList(let field, _)): return item.fits(field.type)
        case (.object(let fields), .structure(let members)):
            guard fields.count == members.count else { return false }
            return fields.allSatisfy { field in members.first { $0.name == field.name }.map { field.type.fits($0.type) } ?? false }
        default: return false
        }
    }

    /// The column's Arrow field: unknown parts are utf8 (only nulls were seen).
    func field(_ name: String) -> ArrowField {
        switch self {
        case .unknown, .string: return ArrowField(name, .utf8)
        case .bool: return ArrowField(name, .bool)
        case .int: return ArrowField(name, .int64)
        case .double: return ArrowField(name, .float64)
        case .list(let item): return ArrowField(name, .list(item.field("item")))
        case .object(let fields): return ArrowField(name, .structure(fields.map { $0.type.field($0.name) }))
        case .exact(let field):
            var copy = field
            copy.name = name
            copy.nullable = true
            return copy
        }
    }

    /// For messages: `int64`, `struct<role: utf8, content: utf8>`.
    var displayName: String { field("x").type.displayName }
}

/// A type written in `types:`.
struct DeclaredType {
    let name: String
    let field: ArrowField
    /// `json`: any value, kept as its compact JSON text (an arrow.json column).
    var isJSON: Bool { name == "json" }

    static let names = ["int64", "float64", "bool", "utf8", "json", "list<utf8>", "list<int64>", "list<float64>", "list<bool>"]

    init?(_ name: String) {
        let type: ArrowType
        switch name {
        case "int64": type = .int64
        case "float64": type = .float64
        case "bool": type = .bool
        case "utf8", "json": type = .utf8
        case "list<utf8>": type = .utf8List
        case "list<int64>": type = .list(ArrowField("item", .int64))
        case "list<float64>": type = .float64List
        case "list<bool>": type = .list(ArrowField("item", .bool))
        default: return nil
        }
        self.name = name
        field = ArrowField("x", type, metadata: name == "json" ? ArrowField.jsonExtensionMetadata : [:])
    }
}

/// Values into columns of a known type.
enum Values {
    /// Why `value` does not go into a column of `type`, or nil when it does.
    static func mismatch(_ value: Value, _ type: ArrowType, at place: () -> String) -> String? {
        switch (value, type) {
        case (.null, _), (.bool, .bool), (.int, .int64), (.double, .float64), (.string, .utf8), (.string, .largeUtf8):
            return nil
        case (.int(let i), .uint64):
            if i >= 0 { return nil }
        case (.int(let i), .float64):
            if i.magnitude <= 1 << 53 { return nil }
            return "\(place()): the integer \(i) is beyond what a float64 holds exactly"
        case (.int(let i), .float32):
            if Float(exactly: i) != nil { return nil }
        case (.double(let d), .float32):
            if Double(Float(d)) == d || d.isNaN { return nil }
        case (.double(let d), .uint64):
            if UInt64(exactly: d) != nil { return nil }
        case (.list(let items), .list(let item)):
            for (index, value) in items.enumerated() {
                if let problem = mismatch(value, item.type, at: { "\(place())[\(index)]" }) { return problem }
            }
            return nil
        case (.list(let items), .fixedSizeList(let item, let width)):
            guard items.count == width else {
                return "\(place()): a list of \(items.count) items, the column holds exactly \(width) (\(type.displayName))"
            }
            guard item.type == .float32 else { break }
            for (index, value) in items.enumerated() {
                if value.isNull { return "\(place())[\(index)]: null in a \(type.displayName) column" }
                if let problem = mismatch(value, item.type, at: { "\(place())[\(index)]" }) { return problem }
            }
            return nil
        case (.object(let object), .structure(let fields)):
            guard object.count == fields.count, fields.allSatisfy({ object[$0.name] != nil }) else {
                return "\(place()): an object with the keys (\(object.keys.joined(separator: ", "))), "
                    + "the column is \(type.displayName)"
            }
            for field in fields {
                if let problem = mismatch(object[field.name] ?? .null, field.type, at: { "\(place()).\(field.name)" }) { return problem }
            }
            return nil
        default:
            break
        }
        return "\(place()): got \(describe(value)), the column is \(type.displayName)"
    }

    /// "a string ("abc")", "an integer (3)", "a list".
    static func describe(_ value: Value) -> String {
        let article = value.typeName == "integer" || value.typeName == "object" ? "an" : "a"
        switch value {
        case .list, .object: return "\(article) \(value.typeName)"
        default:
            var shown = value.pythonRepr
            if shown.count > 40 { shown = String(shown.prefix(37)) + "..." }
            return "\(article) \(value.typeName) (\(shown))"
        }
    }

    /// Appends `value`, which `mismatch` accepted, to `builder`.
    static func append(_ value: Value, to builder: ColumnBuilder) {
        switch (value, builder.type) {
        case (.bool(let b), .bool): builder.append(b)
        case (.int(let i), .int64): builder.append(i)
        case (.int(let i), .uint64): builder.append(UInt64(i))
        case (.int(let i), .float64): builder.append(Double(i))
        case (.int(let i), .float32): builder.append(Float(i))
        case (.double(let d), .float64): builder.append(d)
        case (.double(let d), .float32): builder.append(Float(d))
        case (.double(let d), .uint64): builder.append(UInt64(exactly: d) ?? 0)
        case (.string(let s), .utf8), (.string(let s), .largeUtf8): builder.append(s)
        case (.list(let items), .list):
            let itemBuilder = builder.items
            for item in items { append(item, to: itemBuilder) }
            builder.endListRow()
        case (.list(let items), .fixedSizeList):
            let floats = items.map { value -> Float in
                switch value {
                case .double(let d): Float(d)
                case .int(let i): Float(i)
                default: 0
                }
            }
            floats.withUnsafeBufferPointer { builder.append(vector: $0) }
        case (.object(let object), .structure(let fields)):
            for (index, field) in fields.enumerated() { append(object[field.name] ?? .null, to: builder.field(index)) }
            builder.endStructRow()
        default:
            builder.appendNull()
        }
    }

    /// The compact JSON text of `value` (members in order, integers as
    /// they are, floats in their shortest form), for a `json` column.
    static func json(_ value: Value, at place: String) throws(RowError) -> String {
        var out = ""
        try writeJSON(value, to: &out, at: { place })
        return out
    }

    private static func writeJSON(_ value: Value, to out: inout String, at place: () -> String) throws(RowError) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            guard d.isFinite else { throw RowError("\(place()): \(d) is not a JSON number") }
            out += d.description
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .list(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                try writeJSON(item, to: &out, at: { "\(place())[\(index)]" })
            }
            out += "]"
        case .object(let object):
            out += "{"
            for (index, member) in object.members.enumerated() {
                if index > 0 { out += "," }
                JSONValue.writeString(member.key, to: &out)
                out += ":"
                try writeJSON(member.value, to: &out, at: { "\(place()).\(member.key)" })
            }
            out += "}"
        }
    }
}
