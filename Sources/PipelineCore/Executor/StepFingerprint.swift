import PipelineJSON
import PipelineStore

extension FingerprintParts {
    /// The parts of a planned step's fingerprint, secrets hidden.
    /// `files`: for each input-path parameter whose file exists, its size
    /// and modification time (seconds since 1970).
    /// `llm`: the settings of the step's LLM that decide its answers (its
    /// model and generation parameters; not where it is served or how fast).
    static func make(_ step: PlannedStep, files: [String: (size: Int64, modified: Double)], llm: JSONValue? = nil) -> JSONValue {
        var parameters: [String: JSONValue] = [:]
        for (key, value) in step.parameters {
            parameters[key] = isSecretName(key) || step.environmentParameters.contains(key) ? hidden : redacted(value)
        }
        var fileParts: [String: JSONValue] = [:]
        for (key, file) in files {
            fileParts[key] = .object(["size": .number(Double(file.size)), "modified": .number(file.modified)])
        }
        var object: [String: JSONValue] = [
            "plugin": .string(step.descriptor.id), "version": .string(step.descriptor.version),
            "parameters": .object(parameters), "inputs": .array(step.inputs.map { .string($0) }),
            "batch_size": .number(Double(step.batchSize)), "files": .object(fileParts),
        ]
        if let name = step.llm, let llm {
            object["llm"] = .object(["name": .string(name), "model": llm["model"] ?? .null,
                                     "params": redacted(llm["params"] ?? .object([:]))])
        }
        return .object(object)
    }
}
