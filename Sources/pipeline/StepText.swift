import PipelineCore
import PipelineJSON
import PipelineHost

/// Human and JSON renderings of step descriptors for `plugins list/inspect`.
enum StepText {
    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }.joined(separator: "\n")
    }

    static func json(_ step: StepDescriptor) -> JSONValue {
        func columns(_ specs: [ColumnSpec]) -> JSONValue {
            .array(specs.map { spec in
                var object: [String: JSONValue] = ["name": .string(spec.name), "type": .string(spec.type),
                                                   "optional": .bool(spec.optional)]
                if let description = spec.description { object["description"] = .string(description) }
                return .object(object)
            })
        }
        return .object([
            "id": .string(step.id), "name": .string(step.name), "kind": .string(step.kind.rawValue),
            "version": .string(step.version), "description": .string(step.summary),
            "flags": .array(flagNames(step).map { .string($0) }),
            "library": .string(step.libraryPath), "plugin": .string(step.libraryName),
            "inputs": columns(step.inputs), "outputs": columns(step.outputs),
            "parameters": step.parameterSchema,
        ])
    }

    static func flagNames(_ step: StepDescriptor) -> [String] {
        var names: [String] = []
        if step.isReentrant { names.append("reentrant") }
        if step.isDeterministic { names.append("deterministic") }
        if step.usesLLM { names.append("uses-llm") }
        if step.usesCredential { names.append(step.credentialOptional ? "uses-credential (optional)" : "uses-credential") }
        if step.kind == .step, step.isStateful { names.append("stateful") }
        if step.filtersRows { names.append("filters") }
        return names
    }

    static func detail(_ step: StepDescriptor) -> String {
        var lines: [String] = []
        lines.append("\(step.name)  (\(step.id) \(step.version))")
        let flags = flagNames(step)
        lines.append("  kind:     \(step.kind.rawValue)" + (flags.isEmpty ? "" : "  [\(flags.joined(separator: ", "))]"))
        lines.append("  library:  \(step.libraryPath)  (\(step.libraryName))")
        if !step.summary.isEmpty { lines.append(""); lines.append(wrap(step.summary, indent: "  ")) }
        for (title, specs) in [("inputs", step.inputs), ("outputs", step.outputs)] {
            lines.append("")
            lines.append("  \(title):" + (specs.isEmpty ? " none" : ""))
            let rows = specs.map { ["    " + $0.name, $0.type + ($0.optional ? " (optional)" : ""), $0.description ?? ""] }
            if !rows.isEmpty { lines.append(table(header: ["    COLUMN", "TYPE", "DESCRIPTION"], rows: rows)) }
        }
        lines.append("")
        let properties = step.parameterSchema["properties"]?.objectValue ?? [:]
        let required = Set((step.parameterSchema["required"]?.arrayValue ?? []).compactMap(\.stringValue))
        lines.append("  parameters:" + (properties.isEmpty ? " none" : ""))
        if !properties.isEmpty {
            let rows = properties.keys.sorted().map { key -> [String] in
                let property = properties[key] ?? .null
                var type = property["type"]?.stringValue
                    ?? (property["type"]?.arrayValue?.compactMap(\.stringValue).joined(separator: "|") ?? "any")
                if let items = property["items"]?["type"]?.stringValue { type += "<\(items)>" }
                var notes: [String] = []
                if required.contains(key) { notes.append("required") }
                if let value = property["default"] { notes.append("default \(value.serialized)") }
                if let value = property["minimum"] { notes.append("≥ \(value.serialized)") }
                if let value = property["maximum"] { notes.append("≤ \(value.serialized)") }
                if let values = property["enum"]?.arrayValue {
                    notes.append("one of \(values.map(\.serialized).joined(separator: ", "))")
                }
                let description = property["description"]?.stringValue ?? ""
                return ["    " + key, type, notes.joined(separator: ", "), description]
            }
            lines.append(table(header: ["    NAME", "TYPE", "CONSTRAINTS", "DESCRIPTION"], rows: rows))
        }
        lines.append("")
        lines.append("  plan (x-plan, per input row; see `pipeline plan`):" + (planLines(step).isEmpty ? " not declared" : ""))
        lines += planLines(step).map { "    " + $0 }
        lines.append("")
        lines.append("  parameter schema (JSON Schema):")
        lines.append("    " + step.parameterSchema.serialized)
        return lines.joined(separator: "\n")
    }

    /// The step's x-plan declaration, a line per figure.
    static func planLines(_ step: StepDescriptor) -> [String] {
        guard let plan = step.parameterSchema["x-plan"]?.objectValue else { return [] }
        var lines: [String] = []
        for (key, label) in [("rows", "rows out"), ("chat", "chat requests"), ("embeddings", "texts embedded"),
                             ("depth", "requests one after another"), ("cap", "rows in all, at most"), ("prompt", "prompt template")] {
            if let text = plan[key]?.stringValue { lines.append("\(label): \(text)") }
        }
        if plan["rows"] == nil, step.kind != .generator { lines.insert("rows out: 1", at: 0) }
        if plan["at_most"]?.boolValue == true, let first = lines.indices.first { lines[first] += " (at most)" }
        for entry in plan["lists"]?.arrayValue ?? [] {
            if let column = entry["column"]?.stringValue, let items = entry["items"]?.stringValue {
                lines.append("list \(column): \(items) items")
            }
        }
        return lines
    }

    static func wrap(_ text: String, indent: String, width: Int = 78) -> String {
        var lines: [String] = []
        var line = indent
        for word in text.split(separator: " ") {
            if line.count + word.count + 1 > width, line != indent {
                lines.append(line)
                line = indent
            }
            line += (line == indent ? "" : " ") + word
        }
        if line != indent { lines.append(line) }
        return lines.joined(separator: "\n")
    }
}
