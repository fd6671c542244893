import PluginKit

/// Keeps each row with probability `fraction`, decided by its `_row_id`
/// alone: a row is kept iff `splitmix64(UInt64(bitPattern: seed) ^ _row_id)`
/// divided by 2^64 is below `fraction` (the top 53 bits of the hash are
/// used, so the ratio is exact and `fraction: 1` keeps every row). The same
/// rows are kept whatever the batch boundaries and on every run.
struct Sample: PipelineStep {
    struct Parameters: Decodable {
        var fraction: Double
        var seed: Int64?
    }

    static let name = "sample"

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.sample", name: name, version: "1.0.0",
        description: """
            Keeps a deterministic pseudo-random share of the rows: a row is kept iff \
            splitmix64(seed ^ _row_id) / 2^64 < fraction, so the choice depends only on the row's id \
            and the seed, never on batching.
            """,
        inputs: [.init(rowIdColumn, "uint64", description: "The host's row id decides."),
                 .init("*", "any", description: "Passed through unchanged.")],
        outputs: [.init("*", "any", description: "The input columns.")],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["fraction"],
             "properties":{
              "fraction":{"type":"number","exclusiveMinimum":0,"maximum":1,"description":"The share of rows to keep, in (0, 1]."},
              "seed":{"type":"integer","default":0,"description":"Another seed keeps another subset."}}}
            """).filtering()
        .planning(StepPlan(atMost: true))

    private let fraction: Double
    private let seed: UInt64

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        guard parameters.fraction > 0 && parameters.fraction <= 1 else {
            throw .invalidArgument("\(Self.name): fraction must be in (0, 1] (got \(parameters.fraction))")
        }
        fraction = parameters.fraction
        seed = UInt64(bitPattern: parameters.seed ?? 0)
    }

    /// True if the row with this id is kept.
    static func keeps(_ rowId: UInt64, seed: UInt64, fraction: Double) -> Bool {
        Double(splitmix64(seed ^ rowId) >> 11) * 0x1p-53 < fraction
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        guard let ids = batch.column(rowIdColumn) else {
            throw .invalidData("\(Self.name): the input has no \(rowIdColumn) column (the host's row ids decide which rows are kept)")
        }
        guard ids.type == .uint64 else {
            throw .invalidData("\(Self.name): \(rowIdColumn) is \(ids.type.displayName), expected uint64")
        }
        let values = ids.values(as: UInt64.self)
        var kept: [Int] = []
        kept.reserveCapacity(Int(Double(batch.length) * fraction) + 16)
        for row in 0..<batch.length {
            guard ids.isValid(row) else {
                throw .invalidData("\(Self.name): \(rowIdColumn) is null in row \(row + 1) of the batch")
            }
            if Self.keeps(values[row], seed: seed, fraction: fraction) { kept.append(row) }
        }
        if kept.isEmpty { return nil }
        if kept.count == batch.length { return batch }
        do throws(ArrowError) {
            return try batch.take(kept)
        } catch {
            throw .internal("\(Self.name): \(error.message)")
        }
    }
}
