import PipelineJSON

/// Checks a value against the subset of JSON Schema (draft 2020-12) that
/// step plugins use, fills in `default`s, and makes `"format": "input-path"`
/// strings absolute.
///
/// Keywords: `type` (a name or a list; `integer` is a number with no
/// fraction), `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`,
/// `exclusiveMaximum`, `minLength`, `maxLength` (in Unicode code points),
/// `pattern` (searched, not anchored), `minItems`, `maxItems`, `items`
/// (`prefixItems` too), `properties`, `required`, `additionalProperties`
/// (false or a schema), `default`, `format: input-path`, `not: {}` (the key
/// is forbidden; its `description` says why); `true`/`false` schemas. Other
/// keywords are ignored.
///
/// Every problem becomes a Diagnostic at the value (or, for a missing or
/// unknown key, at the key or the enclosing mapping), named by its path:
/// `steps[1].with.min_chars: must be ≥ 0, got -3`.
package struct SchemaValidator {
    let sourceMap: SourceMap
    /// What the keys of the top-level object are called in messages
    /// ("parameter" for a step's `with:`).
    let noun: String
    /// The path of the top-level object.
    let rootPath: JSONPath
    /// Makes an `input-path` string absolute; gets where the value came from.
    let resolveInputPath: (String, SourceOrigin?) -> String
    package var diagnostics: [Diagnostic] = []
    /// Keys of the top-level object reported missing elsewhere (a step's
    /// parameter written beside `with:`): not reported as missing here.
    package var reportedElsewhere: Set<String> = []
    private var patterns: [String: Regex<AnyRegexOutput>?] = [:]

    package init(sourceMap: SourceMap, noun: String, rootPath: JSONPath,
         resolveInputPath: @escaping (String, SourceOrigin?) -> String = { path, _ in path }) {
        self.sourceMap = sourceMap
        self.noun = noun
        self.rootPath = rootPath
        self.resolveInputPath = resolveInputPath
    }

    /// Validates `value` and returns it with defaults filled in and input
    /// paths resolved.
    package mutating func validate(_ value: JSONValue, schema: JSONValue, path: JSONPath) -> JSONValue {
        if case .bool(let allowed) = schema {
            if !allowed { report("\(path): is not allowed here", at: path) }
            return value
        }
        guard let schema = schema.objectValue else { return value }

        if let types = Self.typeList(schema["type"]), !types.contains(where: { Self.matches(value, type: $0) }) {
            report("\(path): must be \(types.map(Self.typeName).joined(separator: " or ")), got \(describe(value, path))", at: path)
            return value
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            var message = "\(path): must be one of \(options.map(SourceMap.describe).joined(separator: ", ")), got \(describe(value, path))"
            if case .string(let text) = value, sourceMap.variables[path] == nil {
                message += Suggestion.hint(for: text, among: options.compactMap(\.stringValue))
            }
            report(message, at: path)
            return value
        }
        // `"not": {}` (or `true`) forbids the key whatever its value; the
        // schema's description says why ("a literal token is never accepted").
        if let forbidden = schema["not"], forbidden == .bool(true) || forbidden.objectValue?.isEmpty == true {
            let why = schema["description"]?.stringValue.map { ": \($0)" } ?? ""
            report("\(path): is not allowed\(why)", at: path)
            return value
        }
        if let constant = schema["const"], constant != value {
            report("\(path): must be \(SourceMap.describe(constant)), got \(describe(value, path))", at: path)
            return value
        }

        switch value {
        case .number(let number):
            checkBounds(number, schema, path)
            return value
        case .string(let text):
            return checkString(text, schema, path)
        case .array(let items):
            return checkArray(items, schema, path)
        case .object(let object):
            return checkObject(object, schema, path)
        case .null, .bool:
            return value
        }
    }

    // MARK: - Reporting

    private mutating func report(_ message: String, at path: JSONPath, key: Bool = false) {
        // A value that could not be read was reported already.
        guard !sourceMap.isBroken(path) else { return }
        diagnostics.append(Diagnostic(message, origin: key ? sourceMap.keyOrigin(path) : sourceMap.valueOrigin(path)))
    }

    private func describe(_ value: JSONValue, _ path: JSONPath) -> String { sourceMap.describe(value, at: path) }

    private func keyNoun(_ path: JSONPath) -> String { path == rootPath ? noun : "key" }

    // MARK: - Types

    static func typeList(_ type: JSONValue?) -> [String]? {
        switch type {
        case .string(let name)?: [name]
        case .array(let names)?: names.compactMap(\.stringValue)
        default: nil
        }
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string),
             ("array", .array), ("object", .object):
            true
        case ("integer", .number(let n)):
            n.isFinite && n.rounded() == n
        default:
            false
        }
    }

    static func typeName(_ type: String) -> String {
        switch type {
        case "integer": "an integer"
        case "number": "a number"
        case "string": "a string"
        case "boolean": "true or false"
        case "array": "a list"
        case "object": "a mapping"
        case "null": "null"
        default: type
        }
    }

    // MARK: - Numbers

    private mutating func checkBounds(_ number: Double, _ schema: [String: JSONValue], _ path: JSONPath) {
        let got = describe(.number(number), path)
        // Draft 4 wrote exclusive bounds as booleans next to minimum/maximum.
        let exclusiveMinimumFlag = schema["exclusiveMinimum"]?.boolValue ?? false
        let exclusiveMaximumFlag = schema["exclusiveMaximum"]?.boolValue ?? false
        if let minimum = schema["minimum"]?.doubleValue {
            if exclusiveMinimumFlag ? number <= minimum : number < minimum {
                report("\(path): must be \(exclusiveMinimumFlag ? ">" : "≥") \(SourceMap.formatNumber(minimum)), got \(got)", at: path)
                return
            }
        }
        if let maximum = schema["maximum"]?.doubleValue {
            if exclusiveMaximumFlag ? number >= maximum : number > maximum {
                report("\(path): must be \(exclusiveMaximumFlag ? "<" : "≤") \(SourceMap.formatNumber(maximum)), got \(got)", at: path)
                return
            }
        }
        if let minimum = schema["exclusiveMinimum"]?.doubleValue, number <= minimum {
            report("\(path): must be > \(SourceMap.formatNumber(minimum)), got \(got)", at: path)
            return
        }
        if let maximum = schema["exclusiveMaximum"]?.doubleValue, number >= maximum {
            report("\(path): must be < \(SourceMap.formatNumber(maximum)), got \(got)", at: path)
        }
    }

    // MARK: - Strings

    private mutating func checkString(_ text: String, _ schema: [String: JSONValue], _ path: JSONPath) -> JSONValue {
        let length = text.unicodeScalars.count
        if let minimum = schema["minLength"]?.int64Value, length < minimum {
            let got = length == 0 ? "an empty string" : "\(length) character\(length == 1 ? "" : "s")"
            report("\(path): must be at least \(minimum) character\(minimum == 1 ? "" : "s") long, got \(got)", at: path)
            return .string(text)
        }
        if let maximum = schema["maxLength"]?.int64Value, length > maximum {
            report("\(path): must be at most \(maximum) character\(maximum == 1 ? "" : "s") long, got \(length)", at: path)
            return .string(text)
        }
        if let pattern = schema["pattern"]?.stringValue, let regex = compiled(pattern), !text.contains(regex) {
            report("\(path): must match the pattern \(pattern), got \(describe(.string(text), path))", at: path)
            return .string(text)
        }
        let format = schema["format"]?.stringValue
        if format == "output-path", text.isEmpty {
            // Taken in the run directory, "" would name the directory itself.
            report("\(path): an output path cannot be empty", at: path)
            return .string(text)
        }
        if format == "input-path" || format == "output-path", let problem = Self.pathProblem(text) {
            report("\(path): \(problem)", at: path)
            return .string(text)
        }
        if format == "input-path", !text.isEmpty {
            return .string(resolveInputPath(text, sourceMap.valueOrigin(path)))
        }
        return .string(text)
    }

    /// Why no file system could open `text` as a path (Linux limits), if so.
    static func pathProblem(_ text: String) -> String? {
        if text.utf8.contains(0) { return "a path cannot contain a NUL character" }
        if let long = text.utf8.split(separator: UInt8(ascii: "/")).first(where: { $0.count > 255 }) {
            return "a file name of \(long.count) bytes; names are at most 255 bytes"
        }
        if text.utf8.count > 4095 { return "a path of \(text.utf8.count) bytes; paths are at most 4095 bytes" }
        return nil
    }

    /// A compiled pattern; nil (the check is skipped) when Swift's regex
    /// syntax does not accept it.
    private mutating func compiled(_ pattern: String) -> Regex<AnyRegexOutput>? {
        if let cached = patterns[pattern] { return cached }
        let regex = try? Regex(pattern)
        patterns[pattern] = .some(regex)
        return regex
    }

    // MARK: - Lists

    private mutating func checkArray(_ items: [JSONValue], _ schema: [String: JSONValue], _ path: JSONPath) -> JSONValue {
        if let minimum = schema["minItems"]?.int64Value, items.count < minimum {
            report("\(path): must list at least \(minimum) item\(minimum == 1 ? "" : "s"), got \(items.count)", at: path)
            return .array(items)
        }
        if let maximum = schema["maxItems"]?.int64Value, items.count > maximum {
            report("\(path): must list at most \(maximum) item\(maximum == 1 ? "" : "s"), got \(items.count)", at: path)
            return .array(items)
        }
        // Positional schemas: `prefixItems` (2020-12) or an `items` list (older drafts).
        let positional = schema["prefixItems"]?.arrayValue ?? schema["items"]?.arrayValue ?? []
        let rest: JSONValue? = schema["prefixItems"] != nil || schema["items"]?.arrayValue == nil
            ? schema["items"] : schema["additionalItems"]
        var result: [JSONValue] = []
        result.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            let itemSchema = index < positional.count ? positional[index] : rest
            if let itemSchema {
                result.append(validate(item, schema: itemSchema, path: path.appending(index)))
            } else {
                result.append(item)
            }
        }
        return .array(result)
    }

    // MARK: - Objects

    private mutating func checkObject(_ object: [String: JSONValue], _ schema: [String: JSONValue],
                                      _ path: JSONPath) -> JSONValue {
        var result = object
        let properties = schema["properties"]?.objectValue ?? [:]
        for (key, property) in properties where result[key] == nil {
            if let value = property["default"] { result[key] = value }
        }
        let noun = keyNoun(path)
        for key in (schema["required"]?.arrayValue ?? []).compactMap(\.stringValue) where result[key] == nil {
            if path == rootPath, reportedElsewhere.contains(key) { continue }
            report("\(path): missing required \(noun) \"\(key)\"", at: path, key: true)
        }
        for key in object.keys.sorted() {
            guard let value = object[key] else { continue }
            let childPath = path.appending(key)
            if let property = properties[key] {
                result[key] = validate(value, schema: property, path: childPath)
                continue
            }
            switch schema["additionalProperties"] {
            case .bool(false)?:
                var message = "\(path): unknown \(noun) \(Suggestion.quoted(key))"
                let known = properties.keys.sorted()
                let hint = Suggestion.hint(for: key, among: known)
                if !hint.isEmpty {
                    message += hint
                } else if known.isEmpty {
                    message += noun == "parameter" ? " (this step takes no parameters)" : " (no keys are allowed here)"
                } else {
                    message += " (known: \(known.joined(separator: ", ")))"
                }
                report(message, at: childPath, key: true)
            case let additional? where additional.objectValue != nil:
                result[key] = validate(value, schema: additional, path: childPath)
            default:
                break
            }
        }
        return .object(result)
    }
}
