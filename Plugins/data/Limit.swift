import PluginKit

/// Passes the first `rows` rows it receives, in arrival order, then nothing.
struct Limit: PipelineStep {
    struct Parameters: Decodable {
        var rows: Int
    }

    static let name = "limit"

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.limit", name: name, version: "1.0.0",
        description: "Passes the first `rows` rows it receives, in arrival order, and drops the rest.",
        inputs: [.init("*", "any", description: "Passed through unchanged.")],
        outputs: [.init("*", "any", description: "The input columns.")],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["rows"],
             "properties":{"rows":{"type":"integer","minimum":0,"description":"How many rows to pass."}}}
            """,
        deterministic: false, stateful: true).filtering()
        .planning(StepPlan(atMost: true, cap: "rows"))

    private var remaining: Int

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        guard parameters.rows >= 0 else {
            throw .invalidArgument("\(Self.name): rows must be 0 or more (got \(parameters.rows))")
        }
        remaining = parameters.rows
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch, remaining > 0, batch.length > 0 else { return nil }
        if batch.length <= remaining {
            remaining -= batch.length
            return batch
        }
        let count = remaining
        remaining = 0
        do throws(ArrowError) {
            return try RecordBatch(fields: batch.fields, columns: batch.columns.map { $0.slice(from: 0, count: count) },
                                   length: count)
        } catch {
            throw .internal("\(Self.name): \(error.message)")
        }
    }
}
