import PipelineDefinition
import PipelineHost
import PipelineJSON
import PipelineTemplate

/// Parameters that add columns to the ones a step passes through, and
/// remove some (`map`):
///
/// - `"format": "added-columns"`: a mapping (or a list of one-entry
///   mappings) of new column names to specs: a template, an `=` expression,
///   or a list or mapping of specs (numbers, booleans and null are
///   constants). The step's output is its input's columns plus these.
/// - `"format": "replaced-columns"`: names of new columns that may take the
///   place of an input column; any other new column the input already has
///   is an error.
/// - `"format": "dropped-columns"`: input columns the step leaves out.
///
/// At validation every template and expression inside is parsed, and the
/// names they read checked against the columns earlier steps produce, at
/// their line:col in the file.
enum AddedColumns {
    static func parameters(_ schema: JSONValue, format: String) -> [String] {
        (schema["properties"]?.objectValue ?? [:]).filter { $0.value["format"]?.stringValue == format }.keys.sorted()
    }

    /// The new columns of a step, each with its spec and the path of its
    /// key in `with:` (below the parameter); nil entries for list items
    /// that are not one-entry mappings.
    static func entries(_ value: JSONValue?) -> [(name: String, spec: JSONValue, path: [JSONPath.Component])?] {
        switch value {
        case .object(let members)?:
            return members.keys.sorted().map { (name: $0, spec: members[$0] ?? .null, path: [.key($0)]) }
        case .array(let items)?:
            return items.enumerated().map { index, item in
                guard let members = item.objectValue, members.count == 1, let member = members.first else { return nil }
                return (name: member.key, spec: member.value, path: [.index(index), .key(member.key)])
            }
        default:
            return []
        }
    }

    /// The names of the columns the step adds.
    static func names(schema: JSONValue, parameters: [String: JSONValue]) -> Set<String> {
        var names = Set<String>()
        for key in Self.parameters(schema, format: "added-columns") {
            for entry in entries(parameters[key]) { if let entry { names.insert(entry.name) } }
        }
        return names
    }

    /// The names of a `"format": "replaced-columns"` or `"dropped-columns"` parameter.
    static func listed(_ format: String, schema: JSONValue, parameters: [String: JSONValue]) -> [String] {
        Self.parameters(schema, format: format).flatMap { (parameters[$0]?.arrayValue ?? []).compactMap(\.stringValue) }
    }
}

extension PipelineChecker {
    /// A step's `"format": "added-columns"` parameters (and the
    /// replaced and dropped columns beside them): names, specs (each
    /// template and expression parsed, the names they read checked against
    /// `available` when the columns are known), a new column the input
    /// already has without replace:, a dropped column no earlier step
    /// produces.
    mutating func checkAddedColumns(of index: Int, descriptor: StepDescriptor, parameters: [String: JSONValue],
                                    available: Set<String>?, parents: [[Int]], produced: [Set<String>]) {
        let schema = descriptor.parameterSchema
        let keys = AddedColumns.parameters(schema, format: "added-columns")
        guard !keys.isEmpty else { return }
        let step = steps[index]
        let with = step.path.appending("with")
        let added = AddedColumns.names(schema: schema, parameters: parameters)
        let replaced = Set(AddedColumns.listed("replaced-columns", schema: schema, parameters: parameters))
        let label = step.name ?? "steps[\(step.index)]"

        for key in keys {
            guard let value = parameters[key], value.objectValue != nil || value.arrayValue != nil else { continue }
            let root = with.appending(key)
            if value.objectValue?.isEmpty == true || value.arrayValue?.isEmpty == true {
                diagnostics.append(Diagnostic("\(root): name at least one column to make", origin: pipeline.sourceMap.valueOrigin(root)))
            }
            var seen = Set<String>()
            for (position, entry) in AddedColumns.entries(value).enumerated() {
                guard let entry else {
                    let item = root.appending(position)
                    diagnostics.append(Diagnostic("\(item): each item of the list is a mapping with one entry, `name: spec`",
                                                  origin: pipeline.sourceMap.valueOrigin(item)))
                    continue
                }
                let path = JSONPath(root.components + entry.path)
                let keyOrigin = pipeline.sourceMap.keyOrigin(path)
                if entry.name.isEmpty || entry.name.hasPrefix("_") {
                    diagnostics.append(Diagnostic("\(path): \(entry.name.isEmpty ? "a column name is empty" : "a column name starting with _ is reserved for the host (_row_id, _error)")",
                                                  origin: keyOrigin))
                } else if !seen.insert(entry.name).inserted {
                    diagnostics.append(Diagnostic("\(path): \"\(entry.name)\" is listed twice", origin: keyOrigin))
                }
                checkSpec(entry.spec, path: path, step: index, available: available, parents: parents, produced: produced)
                if let available, available.contains(entry.name), !replaced.contains(entry.name),
                   !ColumnContracts.reserved.contains(entry.name) {
                    let source = nearestProducer(of: entry.name, from: index, parents: parents, produced: produced)
                    var message = "step \"\(label)\" would overwrite column \"\(entry.name)\""
                    message += source.map { ", which \"\($0)\" produces" } ?? ", which its input already has"
                    message += "; list it in replace: to put the new values in its place, or give the new column another name"
                    diagnostics.append(Diagnostic(message, origin: keyOrigin))
                }
            }
        }
        for key in AddedColumns.parameters(schema, format: "replaced-columns") {
            for (position, item) in (parameters[key]?.arrayValue ?? []).enumerated() {
                guard let name = item.stringValue, !added.contains(name) else { continue }
                let path = with.appending(key).appending(position)
                diagnostics.append(Diagnostic("\(path): \"\(name)\" is not one of the new columns (\(added.sorted().joined(separator: ", ")))"
                                              + Suggestion.hint(for: name, among: added.sorted()),
                                              origin: pipeline.sourceMap.valueOrigin(path)))
            }
        }
        for key in AddedColumns.parameters(schema, format: "dropped-columns") {
            for (position, item) in (parameters[key]?.arrayValue ?? []).enumerated() {
                guard let name = item.stringValue else { continue }
                let path = with.appending(key).appending(position)
                let origin = pipeline.sourceMap.valueOrigin(path)
                if added.contains(name) {
                    diagnostics.append(Diagnostic("\(path): \"\(name)\" is a new column of this step; drop leaves input columns out", origin: origin))
                } else if ColumnContracts.reserved.contains(name) || name.hasPrefix("_") {
                    diagnostics.append(Diagnostic("\(path): \"\(name)\" is the host's; it cannot be dropped", origin: origin))
                } else if let available, !available.contains(name) {
                    let list = available.isEmpty ? "none" : available.sorted().joined(separator: ", ")
                    diagnostics.append(Diagnostic("\(path): \"\(name)\" names a column no earlier step produces (available: \(list))"
                                                  + Suggestion.hint(for: name, among: available.sorted()), origin: origin))
                }
            }
        }
    }

    /// One spec: strings are templates, or expressions after a leading `=`;
    /// lists and mappings hold specs (a list's mappings have the same keys:
    /// a list's items have one type); anything else is a constant.
    private mutating func checkSpec(_ spec: JSONValue, path: JSONPath, step index: Int, available: Set<String>?,
                                    parents: [[Int]], produced: [Set<String>]) {
        switch spec {
        case .string(let text):
            checkSpecText(text, path: path, step: index, available: available, parents: parents, produced: produced)
        case .array(let items):
            var firstKeys: (index: Int, keys: [String])?
            for (position, item) in items.enumerated() {
                checkSpec(item, path: path.appending(position), step: index, available: available, parents: parents, produced: produced)
                guard let members = item.objectValue else { continue }
                let keys = members.keys.sorted()
                if let first = firstKeys, first.keys != keys {
                    diagnostics.append(Diagnostic(
                        "\(path.appending(position)): a mapping with the keys (\(keys.joined(separator: ", "))) where item \(first.index) has "
                            + "(\(first.keys.joined(separator: ", "))): the items of a list have one type, so their mappings have the same keys",
                        origin: pipeline.sourceMap.valueOrigin(path.appending(position))))
                } else if firstKeys == nil {
                    firstKeys = (position, keys)
                }
            }
        case .object(let members):
            if members.isEmpty {
                diagnostics.append(Diagnostic("\(path): an empty mapping makes no value; give it members, or write null",
                                              origin: pipeline.sourceMap.valueOrigin(path)))
            }
            for key in members.keys.sorted() {
                checkSpec(members[key] ?? .null, path: path.appending(key), step: index, available: available,
                          parents: parents, produced: produced)
            }
        default:
            break
        }
    }

    private mutating func checkSpecText(_ text: String, path: JSONPath, step index: Int, available: Set<String>?,
                                        parents: [[Int]], produced: [Set<String>]) {
        let origin = pipeline.sourceMap.valueOrigin(path) ?? .file(steps[index].location)
        let source = self.source
        func at(_ line: Int, _ column: Int) -> SourceOrigin? {
            TemplateCheck.origin(origin, line: line, column: column, text: text, source: source)
        }
        var names: [(name: String, line: Int, column: Int)] = []
        var legacy = false
        if text.hasPrefix("=") {
            // An expression; positions count the `=`, as written.
            let body = String(text.dropFirst())
            let expression: Expression
            do throws(TemplateError) { expression = try Expression(parsing: body) } catch {
                diagnostics.append(Diagnostic("\(path): \(error.message)",
                                              origin: at(error.line, error.line == 1 ? error.column + 1 : error.column)))
                return
            }
            for name in expression.names {
                let position = Self.position(of: name, in: body) ?? (1, 1)
                names.append((name, position.line, position.line == 1 ? position.column + 1 : position.column))
            }
        } else {
            let template: Template
            do throws(TemplateError) { template = try Template(parsing: text) } catch {
                diagnostics.append(Diagnostic("\(path): \(error.message)", origin: at(error.line, error.column)))
                return
            }
            legacy = template.isLegacy
            for name in template.names {
                let position = template.namePositions[name]
                names.append((name, position?.line ?? 1, position?.column ?? 1))
            }
            if let available {
                for literal in template.literalPlaceholders where available.contains(literal.name) {
                    diagnostics.append(Diagnostic("\(path): {\(literal.name)} is literal text in a Jinja template (one with {{, {% or {#): "
                                                  + "write {{ \(literal.name) }} to insert the column",
                                                  origin: at(literal.position.line, literal.position.column)))
                }
            }
        }
        guard let available else { return }
        for name in names where !available.contains(name.name) && !ColumnContracts.reserved.contains(name.name) {
            let message = unknownColumn(name.name, shown: TemplateCheck.display(name.name, legacy: legacy), path: path,
                                        index: index, available: available, parents: parents, produced: produced)
            diagnostics.append(Diagnostic(message, origin: at(name.line, name.column)))
        }
    }
}
