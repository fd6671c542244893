import PipelineJSON

/// A path into a pipeline file's values, as messages show it:
/// `steps[2].with.columns[1]`.
public struct JSONPath: Hashable, Sendable, CustomStringConvertible {
    public enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component] = []) { self.components = components }

    public static let root = JSONPath()

    public func appending(_ key: String) -> JSONPath { JSONPath(components + [.key(key)]) }
    public func appending(_ index: Int) -> JSONPath { JSONPath(components + [.index(index)]) }

    public var parent: JSONPath? { components.isEmpty ? nil : JSONPath(Array(components.dropLast())) }

    /// True when `self` is `other` or inside it.
    public func isWithin(_ other: JSONPath) -> Bool {
        components.count >= other.components.count && Array(components.prefix(other.components.count)) == other.components
    }

    public var description: String {
        var out = ""
        for component in components {
            switch component {
            case .index(let index): out += "[\(index)]"
            case .key(let key):
                let simple = !key.isEmpty && key.unicodeScalars.allSatisfy {
                    $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
                }
                if simple {
                    out += out.isEmpty ? key : "." + key
                } else {
                    var quoted = ""
                    JSONValue.writeString(key, to: &quoted)
                    out += "[" + quoted + "]"
                }
            }
        }
        return out.isEmpty ? "(top level)" : out
    }
}

/// Where a value came from: a place in the pipeline file, or a command-line
/// flag (`--param step.key=value`).
public enum SourceOrigin: Sendable, Hashable {
    case file(SourceLocation)
    case flag(String)
}

extension Diagnostic {
    /// A diagnostic at `origin`: its location, or for a flag, a message
    /// that starts with the flag.
    package init(_ message: String, origin: SourceOrigin?) {
        switch origin {
        case .file(let location): self.init(message, at: location)
        case .flag(let flag): self.init("\(flag): \(message)", at: nil)
        case nil: self.init(message, at: nil)
        }
    }
}

/// Where each value and key of a pipeline file is, by path, so validation
/// can point at what it rejects; which values came from `${VARIABLES}` (so
/// messages never show them); and which could not be read at all (already
/// reported, so later checks stay quiet about them).
public struct SourceMap: Sendable {
    package var values: [JSONPath: SourceOrigin] = [:]
    var keys: [JSONPath: SourceOrigin] = [:]
    package var variables: [JSONPath: [String]] = [:]
    var broken: Set<JSONPath> = []

    public init() {}

    /// Where the value at `path` is written, or its closest enclosing value.
    public func valueOrigin(_ path: JSONPath) -> SourceOrigin? {
        var current: JSONPath? = path
        while let p = current {
            if let origin = values[p] ?? keys[p] { return origin }
            current = p.parent
        }
        return nil
    }

    /// Where the key of `path` is written (`with:` for `steps[0].with`),
    /// else where its value or closest enclosing value is.
    public func keyOrigin(_ path: JSONPath) -> SourceOrigin? {
        keys[path] ?? valueOrigin(path)
    }

    /// True when the value at `path`, or one enclosing it, could not be read.
    func isBroken(_ path: JSONPath) -> Bool {
        var current: JSONPath? = path
        while let p = current {
            if broken.contains(p) { return true }
            current = p.parent
        }
        return false
    }

    /// Forgets everything at and under `path` (before a --param replaces it).
    mutating func remove(_ path: JSONPath) {
        values = values.filter { !$0.key.isWithin(path) }
        keys = keys.filter { !$0.key.isWithin(path) }
        variables = variables.filter { !$0.key.isWithin(path) }
        broken = broken.filter { !$0.isWithin(path) }
    }

    /// The value for a message: `-3`, `"abc"`, `a list`; never the value of
    /// an environment variable (`a string from ${API_KEY}`).
    func describe(_ value: JSONValue, at path: JSONPath) -> String {
        if let names = variables[path], !names.isEmpty {
            return "\(Self.typeName(value)) from " + names.map { "${\($0)}" }.joined(separator: ", ")
        }
        return Self.describe(value)
    }

    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return formatNumber(n)
        case .string(let s):
            var out = ""
            JSONValue.writeString(s.count > 60 ? String(s.prefix(57)) + "..." : s, to: &out)
            return out
        case .array: return "a list"
        case .object: return "a mapping"
        }
    }

    static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number(let n): n.rounded() == n ? "an integer" : "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "a mapping"
        }
    }

    static func formatNumber(_ n: Double) -> String {
        if n.rounded() == n, abs(n) < 1e15 { return String(Int64(n)) }
        return "\(n)"
    }
}

/// Turns YAML nodes into JSON values: expands `${VARIABLES}`, resolves
/// plain scalars by the YAML 1.2 core schema (after expansion, so
/// `batch_size: ${N}` can be an integer), and records in a SourceMap where
/// every value and key is. Problems become diagnostics; a value that cannot
/// be read becomes null and is marked broken.
struct NodeConverter {
    let file: String
    let environment: [String: String]
    /// Set while converting the value of a `--param` flag: origins are the
    /// flag, and `${...}` is not expanded (the shell already had its turn).
    var flag: String?
    var sourceMap = SourceMap()
    var diagnostics: [Diagnostic] = []

    /// Integers beyond this magnitude are not exact as JSON numbers (doubles).
    static let exactIntegerLimit = 9_007_199_254_740_992.0

    init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    func origin(_ mark: YAMLMark) -> SourceOrigin {
        if let flag { return .flag(flag) }
        return .file(SourceLocation(file: file, line: mark.line, column: mark.column))
    }

    func location(_ mark: YAMLMark) -> SourceLocation {
        SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    mutating func error(_ message: String, at mark: YAMLMark) {
        diagnostics.append(Diagnostic(message, origin: origin(mark)))
    }

    mutating func error(_ message: String, origin: SourceOrigin?) {
        diagnostics.append(Diagnostic(message, origin: origin))
    }

    /// Records where the value at `path` is (and its key, when given).
    mutating func record(_ path: JSONPath, value: YAMLNode, key: YAMLNode? = nil) {
        sourceMap.values[path] = origin(value.mark)
        if let key { sourceMap.keys[path] = origin(key.mark) }
    }

    /// The text of a scalar with `${...}` expanded; nil after reporting why not.
    mutating func expandedText(_ node: YAMLNode, path: JSONPath) -> String? {
        guard let (text, _) = node.scalar else { return nil }
        if flag != nil { return text }
        switch Interpolation.expand(text, environment: environment) {
        case .success(let result):
            if !result.variables.isEmpty { sourceMap.variables[path] = result.variables }
            return result.text
        case .failure(let problems):
            for message in problems.messages { error(message, at: node.mark) }
            sourceMap.broken.insert(path)
            return nil
        }
    }

    /// The JSON value of a scalar node; nil after reporting why not.
    mutating func scalarValue(_ node: YAMLNode, path: JSONPath) -> JSONValue? {
        if node.isPlaceholder {
            // Its problem (an unsupported tag, an unknown alias) is reported.
            sourceMap.broken.insert(path)
            return nil
        }
        guard let (_, style) = node.scalar, let text = expandedText(node, path: path) else { return nil }
        let core: YAML.CoreValue
        let yamlTag = "tag:yaml.org,2002:"
        switch node.tag {
        case nil:
            core = style.isPlain ? YAML.resolvePlain(text) : .string(text)
        case "!", yamlTag + "str":
            core = .string(text)
        case let tag? where [yamlTag + "null", yamlTag + "bool", yamlTag + "int", yamlTag + "float"].contains(tag):
            let resolved = YAML.resolvePlain(text)
            let wanted = String(tag.dropFirst(yamlTag.count))
            let matches: Bool
            switch resolved {
            case .null: matches = wanted == "null"
            case .bool: matches = wanted == "bool"
            case .int: matches = wanted == "int" || wanted == "float"
            case .float: matches = wanted == "float"
            case .string: matches = false
            }
            guard matches else {
                error("\(path): \(sourceMap.describe(.string(text), at: path)) is not a valid !!\(wanted)", at: node.mark)
                sourceMap.broken.insert(path)
                return nil
            }
            core = resolved
        case let tag?:
            error("\(path): unsupported YAML tag \(YAML.writtenTag(tag)) (only the core !!str, !!int, !!float, !!bool and !!null)", at: node.mark)
            sourceMap.broken.insert(path)
            return nil
        }
        switch core {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .int(let value):
            guard abs(value) <= Self.exactIntegerLimit else {
                error("\(path): integer \(verbatim(text, at: path)) is too large to be exact (the limit is ±2^53)", at: node.mark)
                sourceMap.broken.insert(path)
                return nil
            }
            return .number(value)
        case .float(let value):
            guard value.isFinite else {
                error("\(path): \(verbatim(text, at: path)) is not a finite number; values must be finite", at: node.mark)
                sourceMap.broken.insert(path)
                return nil
            }
            return .number(value)
        }
    }

    /// A scalar's text as written, or which variables it came from.
    func verbatim(_ text: String, at path: JSONPath) -> String {
        if let names = sourceMap.variables[path], !names.isEmpty {
            return "the value of " + names.map { "${\($0)}" }.joined(separator: ", ")
        }
        return text
    }

    /// Converts a whole subtree, recording origins under `path`.
    mutating func json(_ node: YAMLNode, path: JSONPath) -> JSONValue {
        sourceMap.values[path] = origin(node.mark)
        switch node.content {
        case .scalar:
            return scalarValue(node, path: path) ?? .null
        case .sequence(let items):
            var array: [JSONValue] = []
            array.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                array.append(json(item, path: path.appending(index)))
            }
            return .array(array)
        case .mapping(let pairs):
            var object: [String: JSONValue] = [:]
            var rawKeys: [String: String] = [:]
            for pair in pairs {
                guard let key = mappingKey(pair.key, in: path) else { continue }
                let childPath = path.appending(key)
                let raw = pair.key.scalar?.text ?? key
                if let earlier = rawKeys[key] {
                    // Same raw text: the YAML reader reported it already.
                    if earlier != raw { error("\(path): two keys are \"\(key)\" once ${...} is expanded", at: pair.key.mark) }
                    continue
                }
                rawKeys[key] = raw
                sourceMap.keys[childPath] = origin(pair.key.mark)
                object[key] = json(pair.value, path: childPath)
            }
            return .object(object)
        }
    }

    /// A mapping key as text (expanded); nil after reporting a non-scalar key.
    mutating func mappingKey(_ node: YAMLNode, in path: JSONPath) -> String? {
        if node.isPlaceholder { return nil }
        guard node.scalar != nil else {
            error("\(path): keys must be text, not \(node.kindDescription)", at: node.mark)
            return nil
        }
        return expandedText(node, path: path.appending(node.scalar?.text ?? ""))
    }
}
