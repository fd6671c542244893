import PipelineDefinition
import PipelineHost
import PipelineJSON
import PipelineJSONSchema

/// Parameters declared `"format": "json-schema"`: a JSON Schema whose
/// top-level properties become output columns of the step (the schema of a
/// structured answer). The host reads the schema with the plugin's own
/// reader (PipelineJSONSchema), so a bad schema is an error at its
/// line:col before anything runs, and later steps may read the columns.
enum SchemaColumns {
    /// The parameters of a step's schema that are JSON Schemas of columns.
    static func schemaParameters(_ schema: JSONValue) -> [String] {
        (schema["properties"]?.objectValue ?? [:]).filter { $0.value["format"]?.stringValue == "json-schema" }.keys.sorted()
    }

    /// The columns such a parameter adds, when it is set and readable.
    static func names(schema: JSONValue, parameters: [String: JSONValue]) -> Set<String> {
        var names = Set<String>()
        for key in schemaParameters(schema) {
            guard let value = parameters[key], value != .null, let read = try? JSONSchema(value) else { continue }
            for column in read.columns ?? [] { names.insert(column.name) }
        }
        return names
    }
}

extension PipelineChecker {
    /// Every `"format": "json-schema"` parameter of every step: readable,
    /// an object at the top, no property named like a reserved column or
    /// another output of the step. Reported at the offending part.
    mutating func checkSchemaParameters(descriptors: [StepDescriptor?], parameters: [[String: JSONValue]]) {
        for (index, step) in pipeline.steps.enumerated() {
            guard let descriptor = descriptors[index] else { continue }
            for key in SchemaColumns.schemaParameters(descriptor.parameterSchema) {
                // Not an object: the parameter's own schema said so.
                guard let value = parameters[index][key], value.objectValue != nil else { continue }
                let root = step.path.appending("with").appending(key)
                let schema: JSONSchema
                do {
                    schema = try JSONSchema(value)
                } catch {
                    for problem in error.problems { report(problem.message, at: root, problem.path) }
                    continue
                }
                guard let columns = schema.columns else {
                    report("the top level must be an object (\"type\": \"object\"): its properties become the columns", at: root, [.key("type")])
                    continue
                }
                let others = Set(descriptor.outputs.filter { !$0.isWildcard }.map { $0.resolvedName(parameters[index]) })
                for column in columns {
                    let at: [JSONSchemaPathComponent] = [.key("properties"), .key(column.name)]
                    if column.name.hasPrefix("_") {
                        report("\"\(column.name)\": a column name starting with _ is reserved for the host (_row_id, _error)", at: root, at)
                    } else if others.contains(column.name) {
                        report("\"\(column.name)\" is also the name of another output column of this step; rename the property or that column", at: root, at)
                    }
                }
            }
        }
    }

    private mutating func report(_ message: String, at root: JSONPath, _ path: [JSONSchemaPathComponent]) {
        var full = root
        for component in path {
            switch component {
            case .key(let key): full = full.appending(key)
            case .index(let index): full = full.appending(index)
            }
        }
        diagnostics.append(Diagnostic("\(full): \(message)", origin: pipeline.sourceMap.valueOrigin(full)))
    }
}

extension PipelineChecker {
    /// A schema property named like a column the input already has would
    /// replace that column's values: an error naming the producer, as for
    /// a declared output (checkCollisions).
    mutating func checkSchemaCollisions(of index: Int, descriptor: StepDescriptor, parameters: [String: JSONValue],
                                        available: Set<String>, parents: [[Int]], produced: [Set<String>]) {
        let step = pipeline.steps[index]
        for key in SchemaColumns.schemaParameters(descriptor.parameterSchema) {
            guard let value = parameters[key], value != .null, let schema = try? JSONSchema(value) else { continue }
            for column in schema.columns ?? [] where available.contains(column.name) && !ColumnContracts.reserved.contains(column.name) {
                let label = step.name ?? "steps[\(step.index)]"
                let source = nearestProducer(of: column.name, from: index, parents: parents, produced: produced)
                let path = step.path.appending("with").appending(key).appending("properties").appending(column.name)
                var message = "step \"\(label)\" would overwrite column \"\(column.name)\""
                message += source.map { ", which \"\($0)\" produces" } ?? ", which its input already has"
                message += ", with the answer's property of that name; rename the property, or the earlier column first (rename_columns, keep_columns)"
                diagnostics.append(Diagnostic(message, origin: pipeline.sourceMap.keyOrigin(path)))
            }
        }
    }
}
