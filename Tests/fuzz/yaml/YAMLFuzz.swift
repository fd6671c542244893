// libFuzzer target: reading a pipeline file (Sources/PipelineDefinition):
// libyaml events to YAMLNode (YAMLNode.swift), the pipeline decoder
// (PipelineFile.swift), ${VAR} expansion and the source map (SourceMap.swift),
// --param overrides, and the JSON Schema subset plugins declare
// (SchemaValidator.swift), applied to every step's `with:` and every llms:
// entry. A schema can also come from the file (the first step's
// `with: {schema: ...}`), so the validator sees schemas the fuzzer writes.
//
// Input: byte 0 = flags (bit 0: the last line is a --param argument); the
// rest is the file.
@testable import PipelineDefinition
@testable import PipelineJSON

private let environment = [
    "HOME": "/home/fuzz", "N": "3", "EMPTY": "", "LIST": "[1, 2]", "API_KEY": "secret", "MODEL": "m",
]

/// Every keyword the validator knows, in one schema.
private let fixedSchema: JSONValue = {
    let text = """
        {"type": "object", "additionalProperties": {"type": ["string", "number", "null"]},
         "required": ["path"],
         "properties": {
           "path": {"type": "string", "format": "input-path", "minLength": 1},
           "batch_size": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1000},
           "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
           "old": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": true},
           "mode": {"enum": ["fail", "skip", 3, null], "default": "fail"},
           "fixed": {"const": {"a": [1, "b"]}},
           "name": {"type": "string", "maxLength": 8, "pattern": "^[a-z_][a-z0-9_]*$"},
           "token": {"not": {}, "description": "a literal token is never accepted"},
           "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4},
           "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false},
           "tuple": {"type": "array", "items": [{"type": "boolean"}], "additionalItems": {"type": "null"}},
           "nested": {"type": "object", "properties": {"x": {"type": "integer", "default": 0}},
                      "additionalProperties": false, "required": ["y"]},
           "anything": true,
           "nothing": false}}
        """
    return (try? JSONValue(parsing: text)) ?? .bool(true)
}()

/// A schema from the fuzzer's own file, without `pattern` (a regex the
/// fuzzer writes only finds the regex engine's slow cases).
private func withoutPatterns(_ value: JSONValue) -> JSONValue {
    switch value {
    case .object(let object):
        var result: [String: JSONValue] = [:]
        for (key, member) in object where key != "pattern" { result[key] = withoutPatterns(member) }
        return .object(result)
    case .array(let items):
        return .array(items.map(withoutPatterns))
    default:
        return value
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    var bytes = input.rest()
    var overrides: [ParamOverride] = []
    if flags & 1 == 1, let newline = bytes.lastIndex(of: UInt8(ascii: "\n")) {
        let argument = String(decoding: bytes[(newline + 1)...], as: UTF8.self)
        bytes.removeSubrange(newline...)
        do throws(Diagnostic) {
            overrides.append(try ParamOverride.parse(argument))
        } catch {
            _ = error.description
        }
    }

    let (file, diagnostics) = PipelineFile.read(bytes, file: "fuzz.yaml", environment: environment, overrides: overrides)
    for diagnostic in diagnostics { _ = diagnostic.description }
    guard let file else { return 0 }

    var schemas = [fixedSchema]
    if let custom = file.steps.first?.parameters["schema"] { schemas.append(withoutPatterns(custom)) }
    for step in file.steps {
        let path = step.path.appending("with")
        for schema in schemas {
            var validator = SchemaValidator(sourceMap: file.sourceMap, noun: "parameter", rootPath: path) { value, _ in
                value.hasPrefix("/") ? value : "/base/" + value
            }
            let result = validator.validate(.object(step.parameters), schema: schema, path: path)
            _ = result.serialized
            for diagnostic in validator.diagnostics { _ = diagnostic.description }
        }
    }
    for llm in file.llms {
        let path = JSONPath([.key("llms"), .key(llm.name)])
        var validator = SchemaValidator(sourceMap: file.sourceMap, noun: "key", rootPath: path)
        _ = validator.validate(llm.settings, schema: LLMSettings.schema, path: path)
        for diagnostic in validator.diagnostics { _ = diagnostic.description }
    }
    return 0
}
