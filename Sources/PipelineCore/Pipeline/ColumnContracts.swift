import PipelineJSON
import PipelineHost

/// Which columns each step of a pipeline can count on, from the steps'
/// declarations alone (no data is read).
enum ColumnContracts {
    /// Columns the host adds to every row; always available.
    static let reserved: Set<String> = ["_row_id", "_error"]

    /// The columns a step emits, or nil when they cannot be known: a
    /// generator's declared outputs (unknown if it declares "*" or nothing);
    /// any other step's declared outputs plus, when it declares "*" among
    /// its inputs or outputs, everything its parents emit.
    static func outputs(kind: StepKind, inputs: [ColumnSpec], outputs: [ColumnSpec], schema: JSONValue = .null,
                        parameters: [String: JSONValue], parents: [Set<String>?]) -> Set<String>? {
        if let named = namedColumns(schema: schema, parameters: parameters) { return named }
        // Declared outputs, and the properties of a "format": "json-schema" parameter.
        let declared = Set(outputs.filter { !$0.isWildcard }.map { $0.resolvedName(parameters) })
            .union(SchemaColumns.names(schema: schema, parameters: parameters))
            .union(AddedColumns.names(schema: schema, parameters: parameters))
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
        // "format": "dropped-columns": input columns the step leaves out (map's drop:).
        all.subtract(AddedColumns.listed("dropped-columns", schema: schema, parameters: parameters))
        // "format": "renamed-columns": an object's keys leave, its values come (rename_columns,
        // expand_columns' mapping form); a list renames nothing.
        for (key, property) in schema["properties"]?.objectValue ?? [:] where property["format"]?.stringValue == "renamed-columns" {
            guard case .object(let renames)? = parameters[key] else { continue }
            for (old, new) in renames {
                all.remove(old)
                if let new = new.stringValue { all.insert(new) }
            }
        }
        return all
    }

    /// The names of a `"format": "columns"` parameter that is set: a list
    /// of names, a list of one-entry objects, or an object's keys; or the
    /// keys of the objects of a `"format": "rows"` parameter (inline rows),
    /// the host's `_row_id` and `_error` aside.
    static func namedColumns(schema: JSONValue, parameters: [String: JSONValue]) -> Set<String>? {
        for (key, property) in schema["properties"]?.objectValue ?? [:] where property["format"]?.stringValue == "rows" {
            guard case .array(let rows)? = parameters[key] else { continue }
            var names = Set<String>()
            for row in rows {
                guard let object = row.objectValue else { return nil }
                names.formUnion(object.keys.filter { $0 != "_row_id" && $0 != "_error" })
            }
            return names
        }
        for (key, property) in schema["properties"]?.objectValue ?? [:] where property["format"]?.stringValue == "columns" {
            switch parameters[key] {
            case .object(let members)?: return Set(members.keys)
            case .array(let items)?:
                var names = Set<String>()
                for item in items {
                    if let name = item.stringValue { names.insert(name) } else if let object = item.objectValue, object.count == 1,
                                                                                  let name = object.keys.first { names.insert(name) }
                    else { return nil }
                }
                return names
            default: continue
            }
        }
        return nil
    }
}
