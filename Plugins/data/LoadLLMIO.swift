import Foundation
import PipelineJSON
import PluginKit

/// Reads a run's teacher I/O log (`llm-io.jsonl`) back as rows: the
/// conversation sent, the answer, the model, the tokens. So past teacher
/// traffic becomes training data without paying for it again.
///
/// Only answered chat requests become rows: a failed attempt (an error, a
/// status other than 200) is a retry or a failure the run already
/// reported, and an embeddings request has no answer; both are counted in
/// the log, never silently. The whole log is projected at create (one
/// compact line per answer) so the columns are known for every batch, as
/// load_inline does.
struct LoadLLMIO: PipelineStep {
    struct Parameters: Decodable {
        var path: String
        var steps: [String]?
        var llms: [String]?
        var include_cached: Bool?
        var batch_size: Int?
    }

    static let name = "load_llm_io"

    static let info = StepInfo(
        kind: .generator, id: "org.pipeline.load_llm_io", name: name, version: "1.0.0",
        description: """
            Reads a teacher I/O log (a run directory's llm-io.jsonl) back as rows, one per answered chat \
            request: the messages sent, the answer, the model, the tokens, the step and LLM that asked, \
            and the input row's id when the step named it. Failed attempts and embeddings requests are \
            not rows (counted in the log). steps: and llms: keep only those; include_cached: false leaves \
            out answers the run took from the cache (they repeat earlier answers).
            """,
        inputs: [],
        outputs: [
            .init("messages", "list<struct<role: utf8, content: utf8>>", description: "The conversation sent (system, user, ... turns)."),
            .init("answer", "utf8", description: "The model's answer."),
            .init("model", "utf8", description: "The model the request named."),
            .init("llm", "utf8", description: "The pipeline's name for the LLM."),
            .init("step", "utf8", description: "The step that asked."),
            .init("source_row_id", "utf8", description: "The _row_id of the row the request was for, in decimal (a uint64 may not fit an int64); null when the step did not say."),
            .init("cached", "bool", description: "The run took the answer from the cache."),
            .init("prompt_tokens", "int64", description: "As the server counted them; null for a cached answer."),
            .init("completion_tokens", "int64", description: "As the server counted them; null for a cached answer."),
            .init("request_id", "utf8", description: "The log's id of the request."),
        ],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["path"],
             "properties":{
              "path":{"type":"string","format":"input-path","description":"The llm-io.jsonl to read (relative: to the pipeline file)."},
              "steps":{"type":"array","items":{"type":"string"},"description":"Only requests of these steps (default: all)."},
              "llms":{"type":"array","items":{"type":"string"},"description":"Only requests to these LLMs (default: all)."},
              "include_cached":{"type":"boolean","default":true,"description":"Also answers the run took from the cache."},
              "batch_size":{"type":"integer","minimum":1,"default":1000,"description":"Rows per emitted batch."}}}
            """)

    private var rows: InferredRows
    private let batchSize: Int

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        let path = try Check.path(parameters.path, step: Self.name)
        batchSize = try Check.batchSize(parameters.batch_size ?? 1000, step: Self.name)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .io("\(Self.name): cannot read \(path)")
        }
        let steps = parameters.steps.map(Set.init), llms = parameters.llms.map(Set.init)
        let includeCached = parameters.include_cached ?? true
        var skipped: [String: Int] = [:]
        rows = InferredRows { "\(path):\($0 + 1)" }
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, bytes) in lines.enumerated() where !bytes.isEmpty {
            let number = index + 1
            guard let line = String(bytes: bytes, encoding: .utf8), let record = try? JSONValue(parsing: line),
                  record.objectValue != nil else {
                // A run killed mid-write can leave its last line cut.
                if index == lines.count - 1 {
                    skipped["a cut last line", default: 0] += 1
                    continue
                }
                throw .invalidData("\(Self.name): \(path):\(number): not a JSON object (is this an llm-io.jsonl?)")
            }
            guard let projected = Self.row(record, rowID: Self.rowID(in: line), steps: steps, llms: llms,
                                           includeCached: includeCached, skipped: &skipped) else { continue }
            try rows.append(projected, number: index)
        }
        try rows.seal(step: Self.name)
        for (reason, count) in skipped.sorted(by: { $0.key < $1.key }) {
            context.log(.info, "\(Self.name): \(path): \(count) line\(count == 1 ? "" : "s") not read as rows: \(reason)")
        }
        context.expectRows(rows.count)
    }

    /// The row of one log line, or nil (and why, counted) when it is none.
    static func row(_ record: JSONValue, rowID: String?, steps: Set<String>?, llms: Set<String>?, includeCached: Bool,
                    skipped: inout [String: Int]) -> InlineJSON? {
        let step = record["step"]?.stringValue ?? "", llm = record["llm"]?.stringValue ?? ""
        if let steps, !steps.contains(step) { skipped["another step", default: 0] += 1; return nil }
        if let llms, !llms.contains(llm) { skipped["another LLM", default: 0] += 1; return nil }
        let cached = record["cached"]?.boolValue ?? false
        if cached && !includeCached { skipped["answered from the cache (include_cached: false)", default: 0] += 1; return nil }
        guard record["error"] == nil, (record["status"]?.int64Value ?? 200) == 200 else {
            skipped["a failed attempt", default: 0] += 1
            return nil
        }
        guard let request = record["request"], let messages = request["messages"]?.arrayValue else {
            skipped["no chat messages (an embeddings request)", default: 0] += 1
            return nil
        }
        guard let answer = record["response"]?.stringValue else {
            skipped["no answer", default: 0] += 1
            return nil
        }
        func text(_ value: JSONValue?) -> InlineJSON { value?.stringValue.map(InlineJSON.string) ?? .null }
        func int(_ value: JSONValue?) -> InlineJSON { value?.int64Value.map(InlineJSON.int) ?? .null }
        let turns: [InlineJSON] = messages.map { message in
            .object([("content", text(message["content"])), ("role", text(message["role"]))])
        }
        return .object([
            ("answer", .string(answer)), ("cached", .bool(cached)),
            ("completion_tokens", cached ? .null : int(record["completion_tokens"])),
            ("llm", .string(llm)), ("messages", .array(turns)), ("model", text(request["model"])),
            ("prompt_tokens", cached ? .null : int(record["prompt_tokens"])),
            ("request_id", text(record["request_id"])), ("source_row_id", rowID.map(InlineJSON.string) ?? .null),
            ("step", .string(step)),
        ])
    }

    /// The digits of the line's top-level `"row":` member, read from the
    /// text: a row id is a uint64, which a JSON number (a double) cannot
    /// always hold. The member comes after the request and the answer,
    /// whose own quotes are escaped, so it is the last unescaped one.
    static func rowID(in line: String) -> String? {
        let bytes = Array(line.utf8)
        let key = Array(#""row":"#.utf8)
        var index = bytes.count - key.count
        while index > 0 {
            if bytes[index] == UInt8(ascii: "\""), bytes[index - 1] != UInt8(ascii: "\\"),
               bytes[index..<(index + key.count)].elementsEqual(key) {
                let digits = bytes[(index + key.count)...].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
                return digits.isEmpty ? nil : String(decoding: digits, as: UTF8.self)
            }
            index -= 1
        }
        return nil
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        try rows.nextBatch(size: batchSize)
    }
}
