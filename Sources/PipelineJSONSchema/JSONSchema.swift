import PipelineJSON

// The JSON Schema of a structured answer: the subset a model server can
// constrain decoding with and a column can hold. The host reads it at
// validation (problems at line:col, the columns later steps may read) and
// the LLM plugin with the same code (the answers it accepts, the Arrow
// columns it builds), so the two never disagree.
//
// Keywords: `type` (one of string, integer, number, boolean, array, object,
// or a list of one of them and "null"), `properties`, `required`,
// `additionalProperties` (a boolean or a schema), `items`, `minItems`,
// `maxItems`, `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`,
// `exclusiveMaximum`, `minLength`, `maxLength` (Unicode code points),
// `pattern` (searched, not anchored). Annotations are accepted and not
// checked: `title`, `description`, `default`, `examples`, `format`,
// `$schema`, `$id`, `$comment`. Any other keyword (`$ref`, `anyOf`, a
// misspelling) is refused: an answer is never accepted under a rule that
// was silently skipped.

/// One step of a path into a schema or an answer.
public enum JSONSchemaPathComponent: Hashable, Sendable {
    case key(String)
    case index(Int)
}

/// What is wrong with a schema, and where in it (from its root).
public struct JSONSchemaProblem: Error, Sendable, CustomStringConvertible {
    public let path: [JSONSchemaPathComponent]
    public let message: String

    public init(_ path: [JSONSchemaPathComponent], _ message: String) {
        self.path = path
        self.message = message
    }

    /// `properties.rating.maximum: ...`
    public var description: String {
        path.isEmpty ? message : JSONSchema.pathText(path, root: "") + ": " + message
    }
}

/// The schema could not be read; every problem found.
public struct JSONSchemaError: Error, Sendable, CustomStringConvertible {
    public let problems: [JSONSchemaProblem]
    public var description: String { problems.map(\.description).joined(separator: "; ") }
}

/// The Arrow type a schema's values become (the plugin maps it to
/// PipelineArrow's types; the host only needs the names).
public indirect enum JSONSchemaColumnType: Hashable, Sendable, CustomStringConvertible {
    case utf8, int64, float64, bool
    case list(JSONSchemaColumnType)
    case structure([Field])

    public struct Field: Hashable, Sendable {
        public let name: String
        public let type: JSONSchemaColumnType
    }

    public var description: String {
        switch self {
        case .utf8: "utf8"
        case .int64: "int64"
        case .float64: "float64"
        case .bool: "bool"
        case .list(let item): "list<\(item)>"
        case .structure(let fields): "struct<\(fields.map { "\($0.name): \($0.type)" }.joined(separator: ", "))>"
        }
    }
}

/// A checked schema. A reference type so a schema can hold its children.
public final class JSONSchema: Sendable {
    public enum Kind: String, Sendable {
        case string, integer, number, boolean, array, object
    }

    public enum Additional: Sendable {
        case allowed, forbidden
        case schema(JSONSchema)
    }

    public let kind: Kind
    /// `"type": [..., "null"]`: null is a value.
    public let nullable: Bool
    public let enumValues: [JSONValue]?
    public let constValue: JSONValue?
    public let minimum: Double?
    public let maximum: Double?
    public let exclusiveMinimum: Double?
    public let exclusiveMaximum: Double?
    public let minLength: Int?
    public let maxLength: Int?
    public let pattern: String?
    public let items: JSONSchema?
    public let minItems: Int?
    public let maxItems: Int?
    /// Properties in column order: those named in `required` in its
    /// order, then the others by name (a JSON object has no order of its own).
    public let properties: [(name: String, schema: JSONSchema)]
    public let required: Set<String>
    public let additional: Additional
    /// The schema as written.
    public let json: JSONValue

    static let annotations: Set<String> = ["title", "description", "default", "examples", "format", "$schema", "$id",
                                           "$comment"]
    static let keywords: [Kind: Set<String>] = [
        .string: ["minLength", "maxLength", "pattern"],
        .integer: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
        .number: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
        .boolean: [],
        .array: ["items", "minItems", "maxItems"],
        .object: ["properties", "required", "additionalProperties"],
    ]
    static let common: Set<String> = ["type", "enum", "const"]

    /// Reads `value` as a schema; throws every problem found.
    public convenience init(_ value: JSONValue) throws(JSONSchemaError) {
        var problems: [JSONSchemaProblem] = []
        guard let schema = JSONSchema.read(value, path: [], problems: &problems), problems.isEmpty else {
            throw JSONSchemaError(problems: problems)
        }
        self.init(copying: schema)
    }

    private init(copying other: JSONSchema) {
        kind = other.kind; nullable = other.nullable; enumValues = other.enumValues; constValue = other.constValue
        minimum = other.minimum; maximum = other.maximum
        exclusiveMinimum = other.exclusiveMinimum; exclusiveMaximum = other.exclusiveMaximum
        minLength = other.minLength; maxLength = other.maxLength; pattern = other.pattern
        items = other.items; minItems = other.minItems; maxItems = other.maxItems
        properties = other.properties; required = other.required; additional = other.additional; json = other.json
    }

    private init(kind: Kind, nullable: Bool, object: [String: JSONValue], json: JSONValue, items: JSONSchema?,
                 properties: [(name: String, schema: JSONSchema)], required: Set<String>, additional: Additional,
                 minLength: Int?, maxLength: Int?, minItems: Int?, maxItems: Int?) {
        self.kind = kind
        self.nullable = nullable
        self.enumValues = object["enum"]?.arrayValue
        self.constValue = object["const"]
        self.minimum = object["minimum"]?.doubleValue
        self.maximum = object["maximum"]?.doubleValue
        self.exclusiveMinimum = object["exclusiveMinimum"]?.doubleValue
        self.exclusiveMaximum = object["exclusiveMaximum"]?.doubleValue
        self.minLength = minLength
        self.maxLength = maxLength
        self.pattern = object["pattern"]?.stringValue
        self.items = items
        self.minItems = minItems
        self.maxItems = maxItems
        self.properties = properties
        self.required = required
        self.additional = additional
        self.json = json
    }

    // MARK: - Reading

    private static func read(_ value: JSONValue, path: [JSONSchemaPathComponent],
                             problems: inout [JSONSchemaProblem]) -> JSONSchema? {
        guard let object = value.objectValue else {
            problems.append(JSONSchemaProblem(path, "a schema must be an object (with a \"type\"), got \(describe(value))"))
            return nil
        }
        let before = problems.count
        func problem(_ key: String?, _ message: String) {
            problems.append(JSONSchemaProblem(key.map { path + [.key($0)] } ?? path, message))
        }

        // Keywords no type has ($ref, anyOf, a misspelling), whatever the type.
        let known = common.union(annotations).union(keywords.values.joined())
        for key in object.keys.sorted() where !known.contains(key) {
            problem(key, "is not supported (the keywords are type, enum, const, properties, required, additionalProperties, items, minItems, maxItems, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern)")
        }

        // The type: written, or that of every enum / const value.
        var kind: Kind?
        var nullable = false
        switch object["type"] {
        case .string(let name)?:
            if let found = Kind(rawValue: name) { kind = found } else if name == "null" {
                problem("type", "\"null\" alone holds no answer; write [\"<type>\", \"null\"] for a value that may be null")
            } else {
                problem("type", "\(describe(.string(name))) is not a type a column can hold (string, integer, number, boolean, array, object)")
            }
        case .array(let names)?:
            let others = names.filter { $0 != .string("null") }
            nullable = others.count < names.count
            if others.count == 1, let name = others[0].stringValue, let found = Kind(rawValue: name) {
                kind = found
            } else {
                problem("type", "a list of types must be one type and \"null\" (a column holds one type), got \(describe(.array(names)))")
            }
        case nil:
            let values = object["const"].map { [$0] } ?? object["enum"]?.arrayValue ?? []
            let kinds = Set(values.compactMap(kindOf))
            if let only = kinds.first, kinds.count == 1 || kinds == [.integer, .number] {
                kind = kinds.count == 1 ? only : .number
                nullable = values.contains(.null)
            } else {
                problem(nil, "missing \"type\"" + (values.isEmpty ? "" : " (the enum values are not all of one type)"))
            }
        case let other?:
            problem("type", "must be a type name or a list of them, got \(describe(other))")
        }
        guard let kind else {
            return nil
        }

        // Keywords of another type (minimum on a string).
        let allowed = common.union(annotations).union(keywords[kind] ?? [])
        for key in object.keys.sorted() where known.contains(key) && !allowed.contains(key) {
            if let owner = keywords.first(where: { $0.value.contains(key) })?.key {
                problem(key, "applies to \(owner == .integer || owner == .number ? "numbers" : owner.rawValue + "s"), not to \(article(kind))")
            }
        }

        // enum and const: values of the type.
        if let values = object["enum"] {
            if let list = values.arrayValue, !list.isEmpty {
                for (index, item) in list.enumerated() where !(item == .null && nullable) && !matches(item, kind) {
                    problems.append(JSONSchemaProblem(path + [.key("enum"), .index(index)],
                                                      "\(describe(item)) is not \(article(kind))"))
                }
            } else {
                problem("enum", "must be a non-empty list, got \(describe(values))")
            }
        }
        if let constant = object["const"], !(constant == .null && nullable), !matches(constant, kind) {
            problem("const", "\(describe(constant)) is not \(article(kind))")
        }

        // Bounds.
        for key in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] {
            if let bound = object[key], bound.doubleValue == nil { problem(key, "must be a number, got \(describe(bound))") }
        }
        func count(_ key: String) -> Int? {
            guard let given = object[key] else { return nil }
            guard let number = given.int64Value, number >= 0, number <= Int64(Int32.max) else {
                problem(key, "must be an integer ≥ 0, got \(describe(given))")
                return nil
            }
            return Int(number)
        }
        let minLength = count("minLength"), maxLength = count("maxLength")
        let minItems = count("minItems"), maxItems = count("maxItems")
        if let low = minLength, let high = maxLength, low > high { problem("maxLength", "is below minLength \(low)") }
        if let low = minItems, let high = maxItems, low > high { problem("maxItems", "is below minItems \(low)") }
        if let low = object["minimum"]?.doubleValue, let high = object["maximum"]?.doubleValue, low > high {
            problem("maximum", "is below minimum \(number(low))")
        }
        if let pattern = object["pattern"] {
            if let text = pattern.stringValue {
                do { _ = try Regex(text) } catch { problem("pattern", "is not a regular expression: \(error)") }
            } else {
                problem("pattern", "must be a string, got \(describe(pattern))")
            }
        }

        // Arrays: one item schema.
        var items: JSONSchema?
        if kind == .array {
            if let item = object["items"] {
                items = read(item, path: path + [.key("items")], problems: &problems)
            } else {
                problem(nil, "an array needs \"items\" (the schema of its elements: the column is a list of them)")
            }
        }

        // Objects: named properties (the fields of a struct, or the columns).
        var properties: [(name: String, schema: JSONSchema)] = []
        var required = Set<String>()
        var additional = Additional.allowed
        if kind == .object {
            var order: [String] = []
            if let list = object["required"] {
                if let names = list.arrayValue {
                    for (index, name) in names.enumerated() {
                        guard let text = name.stringValue else {
                            problems.append(JSONSchemaProblem(path + [.key("required"), .index(index)], "must be a property name, got \(describe(name))"))
                            continue
                        }
                        if object["properties"]?[text] == nil {
                            problems.append(JSONSchemaProblem(path + [.key("required"), .index(index)], "names no property (\(describe(name)) is not in \"properties\")"))
                        } else if required.insert(text).inserted {
                            order.append(text)
                        }
                    }
                } else {
                    problem("required", "must be a list of property names, got \(describe(list))")
                }
            }
            switch object["properties"] {
            case .object(let members)? where !members.isEmpty:
                order += members.keys.filter { !required.contains($0) }.sorted()
                for name in order {
                    if name.isEmpty { problems.append(JSONSchemaProblem(path + [.key("properties")], "a property name must not be empty")) }
                    guard let member = members[name] else { continue }
                    if let schema = read(member, path: path + [.key("properties"), .key(name)], problems: &problems) {
                        properties.append((name, schema))
                    }
                }
            case let other?:
                problem("properties", "must be an object of at least one property, got \(describe(other))")
            case nil:
                problem(nil, "an object needs \"properties\" (they become the fields of its column)")
            }
            switch object["additionalProperties"] {
            case nil, .bool(true)?: additional = .allowed
            case .bool(false)?: additional = .forbidden
            case let schema?:
                if let read = read(schema, path: path + [.key("additionalProperties")], problems: &problems) {
                    additional = .schema(read)
                }
            }
        }
        guard problems.count == before else { return nil }
        return JSONSchema(kind: kind, nullable: nullable, object: object, json: value, items: items,
                          properties: properties, required: required, additional: additional,
                          minLength: minLength, maxLength: maxLength, minItems: minItems, maxItems: maxItems)
    }

    private static func kindOf(_ value: JSONValue) -> Kind? {
        switch value {
        case .string: .string
        case .number(let n): n.rounded() == n ? .integer : .number
        case .bool: .boolean
        case .array, .object, .null: nil
        }
    }

    private static func matches(_ value: JSONValue, _ kind: Kind) -> Bool {
        switch (kind, value) {
        case (.string, .string), (.number, .number), (.boolean, .bool), (.array, .array), (.object, .object): true
        case (.integer, .number(let n)): n.isFinite && n.rounded() == n
        default: false
        }
    }

    private static func article(_ kind: Kind) -> String {
        kind == .integer || kind == .array || kind == .object ? "an \(kind.rawValue)" : "a \(kind.rawValue)"
    }

    // MARK: - Columns

    /// The column type of this schema's values.
    public var columnType: JSONSchemaColumnType {
        switch kind {
        case .string: .utf8
        case .integer: .int64
        case .number: .float64
        case .boolean: .bool
        case .array: .list(items?.columnType ?? .utf8)
        case .object: .structure(properties.map { JSONSchemaColumnType.Field(name: $0.name, type: $0.schema.columnType) })
        }
    }

    /// The columns of an answer: the top-level properties, in order (nil
    /// unless the schema is an object).
    public var columns: [JSONSchemaColumnType.Field]? {
        guard kind == .object else { return nil }
        return properties.map { JSONSchemaColumnType.Field(name: $0.name, type: $0.schema.columnType) }
    }

    // MARK: - Validation

    /// What makes `value` not conform, one line each with its JSON path
    /// (`$.rating: 11 is above the maximum 10`); empty when it conforms.
    /// At most `limit` lines.
    public func violations(of value: JSONValue, limit: Int = 8) -> [String] {
        var found: [String] = []
        check(value, path: "$", into: &found, limit: limit)
        return found
    }

    private func check(_ value: JSONValue, path: String, into found: inout [String], limit: Int) {
        guard found.count < limit else { return }
        func fail(_ message: String) { if found.count < limit { found.append("\(path): \(message)") } }
        if value == .null {
            if !nullable { fail("null is not allowed (\(Self.article(kind)) is)") }
            return
        }
        guard Self.matches(value, kind) else {
            fail("must be \(Self.article(kind))\(nullable ? " or null" : ""), got \(Self.describe(value))")
            return
        }
        if let enumValues, !enumValues.contains(where: { Self.same($0, value) }) {
            fail("\(Self.describe(value)) is not one of \(enumValues.map(Self.describe).joined(separator: ", "))")
        }
        if let constValue, !Self.same(constValue, value) {
            fail("must be \(Self.describe(constValue)), got \(Self.describe(value))")
        }
        switch value {
        case .number(let n):
            if kind == .integer, abs(n) >= 9.007_199_254_740_992e15 {
                fail("\(Self.number(n)) is beyond the integers a column holds exactly (±2^53)")
            }
            if let minimum, n < minimum { fail("\(Self.number(n)) is below the minimum \(Self.number(minimum))") }
            if let maximum, n > maximum { fail("\(Self.number(n)) is above the maximum \(Self.number(maximum))") }
            if let exclusiveMinimum, n <= exclusiveMinimum {
                fail("\(Self.number(n)) is not above the exclusive minimum \(Self.number(exclusiveMinimum))")
            }
            if let exclusiveMaximum, n >= exclusiveMaximum {
                fail("\(Self.number(n)) is not below the exclusive maximum \(Self.number(exclusiveMaximum))")
            }
        case .string(let text):
            let length = text.unicodeScalars.count
            if let minLength, length < minLength { fail("\(length) characters, fewer than minLength \(minLength)") }
            if let maxLength, length > maxLength { fail("\(length) characters, more than maxLength \(maxLength)") }
            if let pattern, let regex = try? Regex(pattern), (try? regex.firstMatch(in: text)) == nil {
                fail("\(Self.describe(value)) does not match the pattern \(pattern)")
            }
        case .array(let list):
            if let minItems, list.count < minItems { fail("\(list.count) items, fewer than minItems \(minItems)") }
            if let maxItems, list.count > maxItems { fail("\(list.count) items, more than maxItems \(maxItems)") }
            if let items {
                for (index, item) in list.enumerated() { items.check(item, path: "\(path)[\(index)]", into: &found, limit: limit) }
            }
        case .object(let members):
            for (name, schema) in properties {
                if let member = members[name] {
                    schema.check(member, path: Self.member(path, name), into: &found, limit: limit)
                } else if required.contains(name) {
                    fail("missing the required property \(Self.describe(.string(name)))")
                }
            }
            let known = Set(properties.map(\.name))
            for name in members.keys.sorted() where !known.contains(name) {
                switch additional {
                case .allowed: break
                case .forbidden: fail("\(Self.describe(.string(name))) is not a property of the schema (additionalProperties is false)")
                case .schema(let schema):
                    if let member = members[name] { schema.check(member, path: Self.member(path, name), into: &found, limit: limit) }
                }
            }
        case .null, .bool:
            break
        }
    }

    /// Equal as JSON values (1 and 1.0 are the same number).
    private static func same(_ a: JSONValue, _ b: JSONValue) -> Bool { a == b }

    private static func member(_ path: String, _ name: String) -> String {
        let simple = !name.isEmpty && name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_")
        } && !(name.unicodeScalars.first.map { ("0"..."9").contains($0) } ?? true)
        return simple ? "\(path).\(name)" : "\(path)[\(describe(.string(name)))]"
    }

    /// A path into a schema as text: `properties.rating.maximum`.
    public static func pathText(_ path: [JSONSchemaPathComponent], root: String) -> String {
        var out = root
        for component in path {
            switch component {
            case .index(let index): out += "[\(index)]"
            case .key(let key): out = member(out, key)
            }
        }
        if out.hasPrefix(".") { out.removeFirst() }
        return out
    }

    /// A value as messages quote it: compact JSON, long ones cut.
    static func describe(_ value: JSONValue) -> String {
        let text = value.serialized
        guard text.count > 80 else { return text }
        return String(text.prefix(77)) + "..."
    }

    static func number(_ n: Double) -> String { JSONValue.number(n).serialized }
}
