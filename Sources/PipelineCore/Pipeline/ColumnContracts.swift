import CPipelineABI

/// A column a step declares, with the `name_param` that ColumnSpec does not
/// carry: the parameter whose value is the column's actual name.
struct DeclaredColumn: Sendable, Hashable {
    var name: String
    var optional: Bool
    var nameParam: String?

    var isWildcard: Bool { name == "*" }

    /// The column's name for a step with these (validated) parameters.
    func resolvedName(_ parameters: [String: JSONValue]) -> String {
        if let nameParam, case .string(let value)? = parameters[nameParam], !value.isEmpty { return value }
        return name
    }
}

/// Which columns each step of a pipeline can count on, from the steps'
/// declarations alone (no data is read).
enum ColumnContracts {
    /// The columns a descriptor declares. Read again from the C descriptor's
    /// JSON for `name_param` (the JSON was validated when the library loaded).
    static func declarations(_ descriptor: StepDescriptor) -> (inputs: [DeclaredColumn], outputs: [DeclaredColumn]) {
        func read(_ pointer: UnsafePointer<CChar>?, fallback: [ColumnSpec]) -> [DeclaredColumn] {
            let plain = fallback.map { DeclaredColumn(name: $0.name, optional: $0.optional, nameParam: nil) }
            guard let pointer, let parsed = try? JSONValue(parsing: String(cString: pointer)),
                  let items = parsed.arrayValue, items.count == fallback.count
            else { return plain }
            return zip(items, plain).map { item, column in
                var column = column
                column.nameParam = item["name_param"]?.stringValue
                return column
            }
        }
        let raw = descriptor.raw.pointee
        return (read(raw.inputs_json, fallback: descriptor.inputs), read(raw.outputs_json, fallback: descriptor.outputs))
    }

    /// Columns the host adds to every row; always available.
    static let reserved: Set<String> = ["_row_id", "_error"]

    /// The columns a step emits, or nil when they cannot be known: a
    /// generator's declared outputs (unknown if it declares "*" or nothing);
    /// any other step's declared outputs plus, when it declares "*" among
    /// its inputs or outputs, everything its parents emit.
    static func outputs(kind: StepKind, inputs: [DeclaredColumn], outputs: [DeclaredColumn],
                        parameters: [String: JSONValue], parents: [Set<String>?]) -> Set<String>? {
        let declared = Set(outputs.filter { !$0.isWildcard }.map { $0.resolvedName(parameters) })
        let passesThrough = inputs.contains(where: \.isWildcard) || outputs.contains(where: \.isWildcard)
        if kind == .generator {
            return outputs.isEmpty || passesThrough ? nil : declared
        }
        guard passesThrough else { return outputs.isEmpty ? nil : declared }
        var all = declared
        for parent in parents {
            guard let parent else { return nil }
            all.formUnion(parent)
        }
        return all
    }
}
