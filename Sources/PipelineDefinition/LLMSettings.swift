import PipelineJSON

/// Settings of an entry of `llms:`.
package enum LLMSettings {
    package static let schema: JSONValue = {
        let text = """
            {"type": "object", "additionalProperties": false, "required": ["model"],
             "properties": {
               "base_url": {"type": "string", "pattern": "^https?://"},
               "model": {"type": "string", "minLength": 1},
               "api_key_env": {"type": "string", "minLength": 1},
               "api_key_file": {"type": "string", "minLength": 1, "format": "input-path"},
               "max_concurrency": {"type": ["integer", "string", "object"], "minimum": 1, "default": 16,
                 "additionalProperties": false, "required": ["auto"],
                 "properties": {"auto": {"type": "object", "additionalProperties": false, "properties": {
                   "min": {"type": "integer", "minimum": 1}, "max": {"type": "integer", "minimum": 1},
                   "start": {"type": "integer", "minimum": 1}}}}},
               "requests_per_minute": {"type": "number", "exclusiveMinimum": 0},
               "tokens_per_minute": {"type": "number", "exclusiveMinimum": 0},
               "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 120},
               "retries": {"type": "integer", "minimum": 0, "default": 4},
               "cache": {"enum": ["auto", "always", "never"], "default": "auto"},
               "params": {"type": "object"},
               "price": {"type": "object", "additionalProperties": false, "minProperties": 1,
                 "properties": {"prompt_per_million": {"type": "number", "minimum": 0},
                                "completion_per_million": {"type": "number", "minimum": 0},
                                "batch_prompt_per_million": {"type": "number", "minimum": 0},
                                "batch_completion_per_million": {"type": "number", "minimum": 0}}},
               "latency_ms": {"type": "number", "minimum": 0},
               "serve": \(serveSchema),
               "batch": \(batchSchema)}}
            """
        return (try? JSONValue(parsing: text)) ?? .object([:])
    }()

    /// What is wrong with a schema-valid `max_concurrency` (an integer, the
    /// string "auto", or `{auto: {min, max, start}}`), if anything: a
    /// string other than "auto", or bounds out of order.
    package static func concurrencyProblem(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text) where text != "auto":
            return "must be an integer ≥ 1, \"auto\" or {auto: {min, max, start}}, got \"\(text)\""
        case .object(let object):
            let bounds = object["auto"]?.objectValue ?? [:]
            // A bound that is no integer ≥ 1 is the schema's to report.
            guard bounds.values.allSatisfy({ ($0.doubleValue ?? 0) >= 1 }) else { return nil }
            let min = bounds["min"]?.doubleValue ?? 1
            let start = bounds["start"]?.doubleValue
            if let max = bounds["max"]?.doubleValue, max < min {
                return "auto: max (\(Int(max))) is less than min (\(Int(min)))"
            }
            if let start, start < min { return "auto: start (\(Int(start))) is less than min (\(Int(min)))" }
            if let start, let max = bounds["max"]?.doubleValue, start > max {
                return "auto: start (\(Int(start))) is more than max (\(Int(max)))"
            }
            return nil
        default:
            return nil
        }
    }
    /// `batch:`: requests go to the provider's Batch API (`true` for the
    /// defaults, `false` for live calls).
    static let batchSchema = """
        {"type": ["boolean", "object"], "additionalProperties": false,
         "properties": {
           "completion_window": {"type": "string", "pattern": "^[0-9]+h$", "default": "24h"},
           "max_requests": {"type": "integer", "minimum": 1, "default": 50000},
           "max_bytes": {"type": "integer", "minimum": 1024, "default": 200000000},
           "poll_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 15},
           "max_poll_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 300},
           "resubmit": {"type": "integer", "minimum": 0, "default": 1},
           "cancel_on_stop": {"type": "boolean", "default": false}}}
        """

    /// `serve:`: a local server the host starts for the LLM (PipelineServe).
    /// `preset:` or `command:` (one of them: PipelineLoader checks it).
    static let serveSchema = """
        {"type": "object", "additionalProperties": false,
         "properties": {
           "preset": {"enum": ["llama-server", "llama-cpp-python", "vllm"]},
           "command": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
           "executable": {"type": "string", "minLength": 1},
           "model": {"type": "string", "minLength": 1},
           "args": {"type": "array", "items": {"type": "string"}},
           "gpus": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
           "gpu_memory": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
           "startup_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 600},
           "ready_path": {"type": "string", "pattern": "^/"},
           "env": {"type": "object", "additionalProperties": {"type": "string"}}}}
        """

    /// `[A-Za-z_][A-Za-z0-9_]*`.
    package static func isVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
    }
}
