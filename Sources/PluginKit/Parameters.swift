import Foundation
import PipelineJSON

// A step's parameters, declared once: each `Parameter` names a parameter,
// its type, default, bounds and description. PluginKit writes the JSON
// Schema the host validates `with:` against (and fills the defaults from)
// out of the list in `StepInfo(parameters:)`, and the step reads typed
// values with the same declarations:
//
//     static let rounds = Parameter("rounds", default: 3, .minimum(1), .maximum(32),
//                                   description: "Evolution rounds.")
//     static let system = Parameter<String?>("system_prompt", description: "An optional system message.")
//     …
//     init(parameters: ParameterValues, context: StepContext) throws(StepError) {
//         rounds = try parameters[Self.rounds]        // an Int
//         system = try parameters[Self.system]        // a String?
//     }
//
// A parameter is required when it is neither optional (`Parameter<T?>`) nor
// has a default.

/// One parameter of a step: its name in `with:`, its type (`Value`), default,
/// bounds and description.
public struct Parameter<Value: ParameterValue>: ParameterDeclaration {
    public let name: String
    public let defaultValue: Value?
    public let description: String
    let rules: [ParameterRule<Value>]

    /// `default` is what the host fills in when the pipeline file leaves the
    /// parameter out; without one, a non-optional parameter is required.
    public init(_ name: String, default defaultValue: Value? = nil, _ rules: ParameterRule<Value>...,
                description: String) {
        self.name = name
        self.defaultValue = defaultValue
        self.rules = rules
        self.description = description
    }

    public var isRequired: Bool { defaultValue == nil && Value.absent == nil }

    /// This parameter's JSON Schema. `type` comes from `Value`; a rule
    /// replaces a keyword of the type (`items`), and an `enum` stands for the
    /// type (the host then reports "must be one of …" for any other value).
    public var schema: PluginJSON {
        var members = Value.schema
        for rule in rules {
            if rule.keyword == "enum" { members.removeAll { $0.key == "type" } }
            if let index = members.firstIndex(where: { $0.key == rule.keyword }) {
                members[index].value = rule.value
            } else {
                members.append((rule.keyword, rule.value))
            }
        }
        if let defaultValue { members.append(("default", defaultValue.json)) }
        if !description.isEmpty { members.append(("description", .string(description))) }
        return .object(members)
    }
}

/// A parameter as `StepInfo` lists it, whatever its value type.
public protocol ParameterDeclaration: Sendable {
    var name: String { get }
    var isRequired: Bool { get }
    var schema: PluginJSON { get }
}

/// The JSON Schema of a parameter list, as the text of pipeline_step_desc.params_schema_json:
/// an object that allows no other keys.
func parameterSchemaText(_ parameters: [any ParameterDeclaration]) -> String {
    var members: [(key: String, value: PluginJSON)] = [("type", .string("object")), ("additionalProperties", .bool(false))]
    let required = parameters.filter(\.isRequired).map { PluginJSON.string($0.name) }
    if !required.isEmpty { members.append(("required", .array(required))) }
    members.append(("properties", .object(parameters.map { ($0.name, $0.schema) })))
    return PluginJSON.object(members).text
}

/// A bound or format of a parameter: a JSON Schema keyword. Which rules a
/// parameter takes depends on its type (`.minimum` for numbers,
/// `.minLength` for text, `.minItems` for lists).
public struct ParameterRule<Value: ParameterValue>: Sendable {
    public let keyword: String
    public let value: PluginJSON

    public init(keyword: String, value: PluginJSON) {
        self.keyword = keyword
        self.value = value
    }
}

extension ParameterRule where Value: NumericParameter {
    public static func minimum(_ bound: Double) -> Self { Self(keyword: "minimum", value: .number(bound)) }
    public static func maximum(_ bound: Double) -> Self { Self(keyword: "maximum", value: .number(bound)) }
    public static func exclusiveMinimum(_ bound: Double) -> Self { Self(keyword: "exclusiveMinimum", value: .number(bound)) }
    public static func exclusiveMaximum(_ bound: Double) -> Self { Self(keyword: "exclusiveMaximum", value: .number(bound)) }
}

extension ParameterRule where Value: TextParameter {
    /// In Unicode code points.
    public static func minLength(_ count: Int) -> Self { Self(keyword: "minLength", value: .integer(Int64(count))) }
    public static func maxLength(_ count: Int) -> Self { Self(keyword: "maxLength", value: .integer(Int64(count))) }
    /// A regular expression the text must contain a match of.
    public static func pattern(_ regex: String) -> Self { Self(keyword: "pattern", value: .string(regex)) }
    /// The text is one of `options`.
    public static func oneOf(_ options: [String]) -> Self { Self(keyword: "enum", value: .array(options.map(PluginJSON.string))) }
    /// A file the step reads: the host makes it absolute against the pipeline
    /// file's directory and checks it for conflicts with outputs.
    public static var inputPath: Self { Self(keyword: "format", value: .string("input-path")) }
    /// A file the step writes, relative to the run directory.
    public static var outputPath: Self { Self(keyword: "format", value: .string("output-path")) }
    /// A `{column}` template: the host checks at validation that each
    /// placeholder names a column the step's input can have.
    public static var template: Self { Self(keyword: "format", value: .string("template")) }
    /// An expression of the template language (a `filter` condition): the
    /// host parses it at validation and checks the columns it names.
    public static var expression: Self { Self(keyword: "format", value: .string("expression")) }
}

extension ParameterRule where Value: ListParameter {
    /// The step's output columns are exactly these names (the host knows
    /// them at validation; see "format": "columns" in the header).
    public static var columns: Self { Self(keyword: "format", value: .string("columns")) }
    public static func minItems(_ count: Int) -> Self { Self(keyword: "minItems", value: .integer(Int64(count))) }
    public static func maxItems(_ count: Int) -> Self { Self(keyword: "maxItems", value: .integer(Int64(count))) }
    public static var uniqueItems: Self { Self(keyword: "uniqueItems", value: .bool(true)) }
    /// Every item is one of `options`.
    public static func eachOneOf(_ options: [String]) -> Self {
        Self(keyword: "items", value: .object([("enum", .array(options.map(PluginJSON.string)))]))
    }
}

// MARK: - Value types

/// A type a parameter can have: String, Int, Int64, Double, Bool,
/// [String], [String: String], or an Optional of one of them.
public protocol ParameterValue: Sendable {
    /// The JSON Schema keywords of the type (`"type": "integer"`).
    static var schema: [(key: String, value: PluginJSON)] { get }
    /// The type in an error message ("an integer").
    static var typeName: String { get }
    /// The value of `json`, or nil when `json` is not of this type.
    static func decode(_ json: PluginJSON) -> Self?
    var json: PluginJSON { get }
    /// The value of a parameter left out (or null): nil when there is none,
    /// which makes the parameter required unless it has a default.
    static var absent: Self? { get }
}

extension ParameterValue {
    public static var absent: Self? { nil }
}

/// Numbers: the bounds rules apply.
public protocol NumericParameter: ParameterValue {}
/// Text: the length, pattern, enum and path rules apply.
public protocol TextParameter: ParameterValue {}
/// Lists: the item rules apply.
public protocol ListParameter: ParameterValue {}

extension String: TextParameter {
    public static var schema: [(key: String, value: PluginJSON)] { [("type", .string("string"))] }
    public static var typeName: String { "a string" }
    public static func decode(_ json: PluginJSON) -> String? {
        if case .string(let text) = json { return text }
        return nil
    }
    public var json: PluginJSON { .string(self) }
}

extension Int64: NumericParameter {
    public static var schema: [(key: String, value: PluginJSON)] { [("type", .string("integer"))] }
    public static var typeName: String { "an integer" }
    public static func decode(_ json: PluginJSON) -> Int64? {
        switch json {
        case .integer(let value): return value
        case .number(let value): return Int64(exactly: value)
        default: return nil
        }
    }
    public var json: PluginJSON { .integer(self) }
}

extension Int: NumericParameter {
    public static var schema: [(key: String, value: PluginJSON)] { Int64.schema }
    public static var typeName: String { Int64.typeName }
    public static func decode(_ json: PluginJSON) -> Int? { Int64.decode(json).flatMap { Int(exactly: $0) } }
    public var json: PluginJSON { .integer(Int64(self)) }
}

extension Double: NumericParameter {
    public static var schema: [(key: String, value: PluginJSON)] { [("type", .string("number"))] }
    public static var typeName: String { "a number" }
    public static func decode(_ json: PluginJSON) -> Double? {
        switch json {
        case .integer(let value): return Double(value)
        case .number(let value): return value
        default: return nil
        }
    }
    public var json: PluginJSON { .number(self) }
}

extension Bool: ParameterValue {
    public static var schema: [(key: String, value: PluginJSON)] { [("type", .string("boolean"))] }
    public static var typeName: String { "true or false" }
    public static func decode(_ json: PluginJSON) -> Bool? {
        if case .bool(let value) = json { return value }
        return nil
    }
    public var json: PluginJSON { .bool(self) }
}

extension Array: ParameterValue, ListParameter where Element == String {
    public static var schema: [(key: String, value: PluginJSON)] {
        [("type", .string("array")), ("items", .object([("type", .string("string"))]))]
    }
    public static var typeName: String { "a list of strings" }
    public static func decode(_ json: PluginJSON) -> [String]? {
        guard case .array(let items) = json else { return nil }
        var strings: [String] = []
        for item in items {
            guard case .string(let text) = item else { return nil }
            strings.append(text)
        }
        return strings
    }
    public var json: PluginJSON { .array(map(PluginJSON.string)) }
}

extension Dictionary: ParameterValue where Key == String, Value == String {
    public static var schema: [(key: String, value: PluginJSON)] {
        [("type", .string("object")), ("additionalProperties", .object([("type", .string("string"))]))]
    }
    public static var typeName: String { "a mapping of strings" }
    public static func decode(_ json: PluginJSON) -> [String: String]? {
        guard case .object(let members) = json else { return nil }
        var result: [String: String] = [:]
        for (key, value) in members {
            guard case .string(let text) = value else { return nil }
            result[key] = text
        }
        return result
    }
    public var json: PluginJSON { .object(sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }) }
}

extension Optional: ParameterValue where Wrapped: ParameterValue {
    public static var schema: [(key: String, value: PluginJSON)] { Wrapped.schema }
    public static var typeName: String { Wrapped.typeName }
    public static func decode(_ json: PluginJSON) -> Wrapped?? {
        if case .null = json { return .some(.none) }
        return Wrapped.decode(json).map { .some($0) }
    }
    public var json: PluginJSON { map(\.json) ?? .null }
    public static var absent: Wrapped?? { .some(.none) }
}

extension Optional: NumericParameter where Wrapped: NumericParameter {}
extension Optional: TextParameter where Wrapped: TextParameter {}
extension Optional: ListParameter where Wrapped: ListParameter {}

// MARK: - Reading values

/// The parameters the host passed to `create` (validated against the
/// schema, defaults filled in), read with the step's `Parameter`s.
public struct ParameterValues: Decodable, Sendable {
    private let step: String
    private let values: [String: PluginJSON]
    /// The names `StepInfo(parameters:)` declares; nil when the step gave
    /// its schema as text.
    private let declared: Set<String>?

    /// For a step's tests: values as the host would pass them.
    public init(_ values: [String: PluginJSON], step: String, declared: [any ParameterDeclaration]? = nil) {
        self.step = step
        self.values = values
        self.declared = declared.map { Set($0.map(\.name)) }
    }

    /// The parameters JSON the host passed to `create`, for `info`'s step.
    init(json: Data, info: StepInfo) throws(StepError) {
        let parsed: PluginJSON
        do { parsed = PluginJSON(try JSONValue(parsing: String(decoding: json, as: UTF8.self))) } catch {
            throw .invalidArgument("\(info.name): parameters cannot be read: \(error)")
        }
        guard case .object(let members) = parsed else { throw .invalidArgument("\(info.name): the parameters are not a JSON object") }
        step = info.name
        values = Dictionary(members, uniquingKeysWith: { _, last in last })
        declared = info.parameters.map { Set($0.map(\.name)) }
    }

    /// `Decodable` (as `PipelineStep.Parameters` must be), for values read
    /// outside PluginKit; PluginKit itself uses `init(json:info:)`.
    public init(from decoder: any Decoder) throws {
        guard case .object(let members) = try PluginJSON(from: decoder) else {
            throw DecodingError.typeMismatch(
                [String: PluginJSON].self, .init(codingPath: [], debugDescription: "the parameters are not a JSON object"))
        }
        step = "step"
        values = Dictionary(members, uniquingKeysWith: { _, last in last })
        declared = nil
    }

    /// The value of `parameter`: the one the pipeline file gave, else its
    /// default, else nil for an optional parameter.
    public subscript<Value>(_ parameter: Parameter<Value>) -> Value {
        get throws(StepError) {
            if let declared, !declared.contains(parameter.name) {
                throw .internal("\(step): reads parameter \"\(parameter.name)\", which its StepInfo does not declare")
            }
            guard let json = values[parameter.name] else {
                if let value = parameter.defaultValue ?? Value.absent { return value }
                throw .invalidArgument("\(step): missing parameter \"\(parameter.name)\"")
            }
            guard let value = Value.decode(json) else {
                if case .null = json { throw .invalidArgument("\(step): parameter \(parameter.name) is null, expected \(Value.typeName)") }
                throw .invalidArgument("\(step): parameter \(parameter.name) is not \(Value.typeName)")
            }
            return value
        }
    }
}

// MARK: - JSON

/// A JSON value: the parameters as the host passes them, and the schema
/// PluginKit writes. Object members keep their order.
public indirect enum PluginJSON: Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([PluginJSON])
    case object([(key: String, value: PluginJSON)])

    /// Compact JSON text.
    public var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .integer(let value): out += String(value)
        case .number(let value):
            if !value.isFinite {
                out += "null"
            } else if value == value.rounded(), abs(value) < 1e15 {
                out += String(Int64(value))  // 1 rather than 1.0
            } else {
                out += "\(value)"
            }
        case .string(let text): Self.quote(text, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                Self.quote(member.key, to: &out)
                out += ":"
                member.value.write(to: &out)
            }
            out += "}"
        }
    }

    private static func quote(_ text: String, to out: inout String) { JSONValue.writeString(text, to: &out) }
}

extension PluginJSON {
    /// A parsed value; a number without a fraction that a double holds
    /// exactly is an integer, as the host wrote it.
    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .number(let number): self = value.int64Value.map(PluginJSON.integer) ?? .number(number)
        case .string(let text): self = .string(text)
        case .array(let items): self = .array(items.map(PluginJSON.init))
        case .object(let members): self = .object(members.sorted { $0.key < $1.key }.map { ($0.key, PluginJSON($0.value)) })
        }
    }
}

extension PluginJSON: Decodable {
    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            self = .object(try object.allKeys.map { ($0.stringValue, try object.decode(PluginJSON.self, forKey: $0)) })
        } else if var array = try? decoder.unkeyedContainer() {
            var items: [PluginJSON] = []
            while !array.isAtEnd { items.append(try array.decode(PluginJSON.self)) }
            self = .array(items)
        } else {
            let value = try decoder.singleValueContainer()
            if value.decodeNil() {
                self = .null
            } else if let bool = try? value.decode(Bool.self) {
                self = .bool(bool)
            } else if let integer = try? value.decode(Int64.self) {
                self = .integer(integer)
            } else if let number = try? value.decode(Double.self) {
                self = .number(number)
            } else {
                self = .string(try value.decode(String.self))
            }
        }
    }
}
