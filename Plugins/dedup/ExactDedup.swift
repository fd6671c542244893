import PluginKit

/// `dedup_exact`: rows whose text, normalised, hashes the same as an
/// earlier row's are duplicates. The hash is 128 bits (two independent
/// 64-bit hashes), so a false match is out of reach at any realistic size.
/// keep: first streams (each batch is answered at once, memory 16 bytes of
/// key and 8 of row id per distinct text); keep: max:<column> has to see
/// every row first, so it keeps the batches and answers in `finish`.
struct ExactDedup: PipelineStep {
    static let column = Parameter("column", default: "text", .minLength(1),
        description: "The utf8 column compared. A null there makes the row an error row.")
    static let ignoreCase = Parameter("ignore_case", default: true,
        description: "Compare lower-cased text (Unicode lower case).")
    static let ignoreWhitespace = Parameter("ignore_whitespace", default: true,
        description: "Treat every run of white space as one space, and ignore leading and trailing space.")
    static let ignorePunctuation = Parameter("ignore_punctuation", default: false,
        description: "Remove punctuation and symbols (Unicode categories P and S) before comparing.")
    static let keep = Parameter("keep", default: "first", .pattern("^(first|max:.+)$"),
        description: KeepRule.parameterDescription)
    static let mode = Parameter("mode", default: "drop", .oneOf(["drop", "mark"]),
        description: DuplicateMode.parameterDescription)

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.dedup_exact", name: "dedup_exact", version: "1.0.0",
        description: """
            Drops (or marks) rows whose text column is the same as an earlier row's after normalisation \
            (case, white space, punctuation: each a parameter), compared by a 128-bit hash. The row kept \
            for a group is the first in input order, or the one with the highest score (keep: max:<column>). \
            Duplicates are counted in the log; mode: mark keeps them with duplicate_of. A resumed run \
            replays the step's input (stateful), so it decides exactly as an uninterrupted run.
            """,
        inputs: [.init("text", "utf8", description: "the text compared", nameParam: "column"),
                 .init("*", "any", description: "passed through")],
        outputs: [.init("duplicate_of", "int64", optional: true,
                        description: "mode: mark only: the _row_id of the row kept for the group; null on kept rows"),
                  .init("*", "any", description: "the input columns, kept rows (every row with mode: mark)")],
        parameters: [column, ignoreCase, ignoreWhitespace, ignorePunctuation, keep, mode], stateful: true
    ).filtering()
        .planning(StepPlan(atMost: true))

    struct Key: Hashable {
        var a: UInt64
        var b: UInt64
    }

    let column: String
    let normalization: TextNormalization
    let keepRule: KeepRule
    let mode: DuplicateMode
    /// keep: first: the row id kept for each text seen.
    var kept: [Key: UInt64] = [:]
    /// keep: max: the batches, and per row its key and score (nil key: an error row).
    var held: [RecordBatch] = []
    var heldKeys: [[Key?]] = []
    var heldScores: [[Double]] = []
    var heldErrors: [[Int: String]] = []
    var emitted = 0
    var rows = 0
    var duplicates = 0
    var scratch: [UInt8] = []

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        column = try parameters[Self.column]
        normalization = TextNormalization(
            ignoreCase: try parameters[Self.ignoreCase], ignoreWhitespace: try parameters[Self.ignoreWhitespace],
            ignorePunctuation: try parameters[Self.ignorePunctuation])
        keepRule = try KeepRule(try parameters[Self.keep], step: "dedup_exact")
        guard let mode = DuplicateMode(rawValue: try parameters[Self.mode]) else {
            throw .invalidArgument("dedup_exact: mode must be drop or mark")
        }
        self.mode = mode
    }

    private mutating func key(_ text: ArrowColumn, _ row: Int) -> Key {
        normalization.apply(text.utf8Bytes(row), into: &scratch)
        return Key(a: Hashing.bytes(scratch, seed: 0x6A09_E667_F3BC_C908), b: Hashing.bytes(scratch, seed: 0xBB67_AE85_84CA_A73B))
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch, batch.length > 0 else { return nil }
        let text = try textColumn(batch, column, step: "dedup_exact")
        let ids = try rowIDs(batch, step: "dedup_exact")
        rows += batch.length
        if case .highest(let scoreColumn) = keepRule {
            var keys: [Key?] = []
            var errors: [Int: String] = [:]
            keys.reserveCapacity(batch.length)
            for row in 0..<batch.length {
                if text.isValid(row) { keys.append(key(text, row)) } else {
                    keys.append(nil)
                    errors[row] = "dedup_exact: \"\(column)\" is null"
                }
            }
            heldScores.append(try KeepRule.scores(batch, column: scoreColumn, step: "dedup_exact"))
            do { held.append(try batch.owningCopies()) } catch {
                throw .internal("dedup_exact: cannot keep the batch: \(error.message)")
            }
            heldKeys.append(keys)
            heldErrors.append(errors)
            return nil
        }
        var verdicts = BatchVerdicts()
        for row in 0..<batch.length {
            guard text.isValid(row) else {
                verdicts.errors[row] = "dedup_exact: \"\(column)\" is null"
                continue
            }
            let id = ids.uint64(row)
            let key = key(text, row)
            if let first = kept[key] {
                verdicts.duplicateOf[row] = first
                duplicates += 1
            } else {
                kept[key] = id
                verdicts.keep.append(row)
            }
        }
        return try verdicts.output(batch, mode: mode, step: "dedup_exact")
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        if case .highest = keepRule, emitted < held.count {
            if emitted == 0 { try chooseBest() }
            let index = emitted
            emitted += 1
            let out = try verdicts(index).output(held[index], mode: mode, step: "dedup_exact")
            held[index] = held[index].slice(from: 0, count: 0)
            if let out { return out }
            return try finish(context: context)
        }
        if rows > 0 {
            let what = mode == .drop ? "left out (mode: drop)" : "marked with duplicate_of (mode: mark)"
            context.log(.info, "dedup_exact: \(duplicates) of \(rows) row(s) duplicated an earlier kept row and were \(what)")
            rows = 0
        }
        return nil
    }

    /// keep: max: the best row of every key, over all batches.
    private var best: [Key: (score: Double, id: UInt64)] = [:]

    private mutating func chooseBest() throws(StepError) {
        for (index, batch) in held.enumerated() {
            let ids = try rowIDs(batch, step: "dedup_exact")
            for (row, key) in heldKeys[index].enumerated() {
                guard let key else { continue }
                let score = heldScores[index][row]
                if let current = best[key], current.score >= score { continue }
                best[key] = (score, ids.uint64(row))
            }
        }
    }

    private mutating func verdicts(_ index: Int) throws(StepError) -> BatchVerdicts {
        let ids = try rowIDs(held[index], step: "dedup_exact")
        var verdicts = BatchVerdicts()
        verdicts.errors = heldErrors[index]
        for (row, key) in heldKeys[index].enumerated() {
            guard let key, let winner = best[key] else { continue }
            if winner.id == ids.uint64(row) {
                verdicts.keep.append(row)
            } else {
                verdicts.duplicateOf[row] = winner.id
                duplicates += 1
            }
        }
        heldKeys[index] = []
        return verdicts
    }
}
