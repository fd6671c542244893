import PipelineJSON
import PluginKit

// best_of_n and preference_pairs: from a list of answers, a list of their
// ratings (a judge's) and optionally the models that wrote them, keep the
// best answer, or make a chosen/rejected pair.

/// One row's answers with their ratings, checked.
struct RatedAnswers {
    let answers: [String]
    let ratings: [Double]
    let models: [String?]

    /// The first index of the highest rating: ties go to the earlier answer.
    var best: Int {
        var best = 0
        for index in ratings.indices where ratings[index] > ratings[best] { best = index }
        return best
    }
}

/// The columns and the reading shared by both steps.
struct RatedColumns {
    static let answers = Parameter("answers_column", default: "generation", .minLength(1),
        description: "The list<utf8> column of answers (text_generation with num_generations > 1 writes one).")
    static let ratings = Parameter("ratings_column", default: "rating", .minLength(1),
        description: "The list of numbers (float64 or int64) rating each answer, aligned with answers_column (judge with answers_column writes one).")
    static let models = Parameter("models_column", default: "",
        description: "Optional: a list<utf8> column of the model that wrote each answer, aligned with answers_column, or a utf8 column naming one model for all of them.")

    let answers: String
    let ratings: String
    let models: String?

    init(_ parameters: ParameterValues) throws(StepError) {
        answers = try parameters[Self.answers]
        ratings = try parameters[Self.ratings]
        let models = try parameters[Self.models]
        self.models = models.isEmpty ? nil : models
    }

    struct Bound {
        let answers: ArrowColumn
        let ratings: ArrowColumn
        let models: ArrowColumn?
    }

    func bind(_ batch: RecordBatch, step: String) throws(StepError) -> Bound {
        Bound(answers: try RowMapping.column(batch, answers, parameter: "answers_column", step: step),
              ratings: try RowMapping.column(batch, ratings, parameter: "ratings_column", step: step),
              models: try models.map { (name) throws(StepError) in try RowMapping.column(batch, name, parameter: "models_column", step: step) })
    }

    /// The row's rated answers, or why they cannot be used.
    func read(_ bound: Bound, _ row: Int, step: String) throws(StepError) -> Result<RatedAnswers, RowReason> {
        guard let answers = try RowMapping.texts(bound.answers, row, name: self.answers, step: step) else {
            return .failure(RowReason("\(self.answers) is null"))
        }
        guard let ratings = try RowMapping.numbers(bound.ratings, row, name: self.ratings, step: step) else {
            return .failure(RowReason("\(self.ratings) is null"))
        }
        guard !answers.isEmpty else { return .failure(RowReason("\(self.answers) is empty")) }
        guard answers.count == ratings.count else {
            return .failure(RowReason("\(answers.count) answers but \(ratings.count) ratings"))
        }
        if let index = answers.firstIndex(where: { $0 == nil }) { return .failure(RowReason("answer \(index + 1) is null")) }
        if let index = ratings.firstIndex(where: { $0 == nil || !($0 ?? 0).isFinite }) {
            return .failure(RowReason("rating \(index + 1) is null or not a number"))
        }
        var models = [String?](repeating: nil, count: answers.count)
        if let column = bound.models, let name = self.models {
            if case .list = column.type {
                guard let list = try RowMapping.texts(column, row, name: name, step: step), list.count == answers.count else {
                    return .failure(RowReason("\(name) is null or not aligned with \(self.answers)"))
                }
                models = list
            } else {
                let model = try RowMapping.text(column, row, name: name, step: step)
                models = [String?](repeating: model, count: answers.count)
            }
        }
        return .success(RatedAnswers(answers: answers.map { $0 ?? "" }, ratings: ratings.map { $0 ?? 0 }, models: models))
    }
}

struct RowReason: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// What a row without a usable pair or answer becomes.
let onInvalidParameter = Parameter("on_invalid", default: "error", .oneOf(["error", "drop"]),
    description: "A row that cannot be used (null or misaligned lists): error makes it an error row with the reason; drop leaves it out, counted in the log.")

struct BestOfN: PipelineStep {
    static let output = Parameter("output_column", default: "best", .minLength(1),
        description: "The column the best answer goes to.")
    static let ratingOutput = Parameter("rating_output_column", default: "best_rating", .minLength(1),
        description: "The column the best answer's rating goes to.")
    static let modelOutput = Parameter("model_output_column", default: "best_model", .minLength(1),
        description: "The column the best answer's model goes to (null without models_column).")
    static let indexOutput = Parameter("index_output_column", default: "best_index", .minLength(1),
        description: "The column the best answer's 0-based position in the list goes to.")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.best_of_n", name: "best_of_n", version: "1.0.0",
        description: """
            Keeps the best of a row's answers: the one with the highest rating; on a tie, the earliest in the \
            list. Writes it with its rating, model and position. A row whose answers or ratings are null, \
            empty, misaligned or hold a null is an error row (or dropped and counted, on_invalid: drop). \
            Every input column passes through.
            """,
        inputs: [.init("generation", "list<utf8>", description: "The answers.", nameParam: "answers_column"),
                 .init("rating", "list<float64>", description: "Their ratings.", nameParam: "ratings_column"),
                 .init("*", "any")],
        outputs: [.init("best", "utf8", description: "The best answer.", nameParam: "output_column"),
                  .init("best_rating", "float64", description: "Its rating.", nameParam: "rating_output_column"),
                  .init("best_model", "utf8", description: "Its model (null without models_column).", nameParam: "model_output_column"),
                  .init("best_index", "int64", description: "Its 0-based position.", nameParam: "index_output_column"),
                  .init("*", "any")],
        parameters: [RatedColumns.answers, RatedColumns.ratings, RatedColumns.models, output, ratingOutput, modelOutput,
                     indexOutput, onInvalidParameter]
    ).filtering()
        .planning(StepPlan(atMost: true))

    let columns: RatedColumns
    let outputs: [ArrowField]
    let drop: Bool
    var dropped = 0

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        columns = try RatedColumns(parameters)
        outputs = [ArrowField(try parameters[Self.output], .utf8), ArrowField(try parameters[Self.ratingOutput], .float64),
                   ArrowField(try parameters[Self.modelOutput], .utf8), ArrowField(try parameters[Self.indexOutput], .int64)]
        drop = try parameters[onInvalidParameter] == "drop"
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let step = Self.info.name
        let bound = try columns.bind(batch, step: step)
        var dropped = 0
        let result = try RowMapping.map(batch, step: step, outputs: outputs) { (row) throws(StepError) in
            switch try columns.read(bound, row, step: step) {
            case .failure(let reason):
                if drop { dropped += 1; return .drop }
                return .error(reason.message)
            case .success(let rated):
                let best = rated.best
                return .values([.string(rated.answers[best]), .number(rated.ratings[best]),
                                rated.models[best].map { .string($0) } ?? .null, .number(Double(best))])
            }
        }
        self.dropped += dropped
        return result
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        if dropped > 0 { context.log(.warning, "best_of_n: \(dropped) row(s) without usable answers and ratings were left out (on_invalid: drop)") }
        return nil
    }
}

struct PreferencePairs: PipelineStep {
    static let rejected = Parameter("rejected", default: "worst", .oneOf(["worst", "random"]),
        description: "Which answer is rejected: worst (the lowest rating; on a tie the latest in the list), or random (a seeded choice among the answers rated at least min_margin below the best).")
    static let minMargin = Parameter("min_margin", default: 1.0, .minimum(0),
        description: "The least rating difference between chosen and rejected. Whatever it is, equal ratings never make a pair.")
    static let seed = Parameter("seed", default: 0,
        description: "rejected: random draws from (seed, _row_id), so a rerun or another batch size picks the same answers.")
    static let noPair = Parameter("on_no_pair", default: "drop", .oneOf(["drop", "error"]),
        description: "A row whose answers are all tied, or within min_margin: drop leaves it out (counted in the log as skipped), error makes it an error row with the ratings.")
    static let chosenOutput = Parameter("chosen_column", default: "chosen", .minLength(1), description: "The column the chosen answer goes to.")
    static let rejectedOutput = Parameter("rejected_column", default: "rejected", .minLength(1), description: "The column the rejected answer goes to.")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.preference_pairs", name: "preference_pairs", version: "1.0.0",
        description: """
            Makes one preference pair per row from its rated answers: chosen is the best (highest rating, the \
            earliest on a tie), rejected the worst or a seeded random one rated at least min_margin lower. Writes \
            chosen, rejected, chosen_rating, rejected_rating, chosen_model, rejected_model (null without \
            models_column). A row with no pair (all tied, or within min_margin) is skipped and counted in the \
            log, or an error row (on_no_pair); a row whose lists are null, empty or misaligned is an error row \
            (or dropped and counted, on_invalid). Every input column passes through; format_dpo turns the pair \
            into TRL's conversational form.
            """,
        inputs: [.init("generation", "list<utf8>", description: "The answers.", nameParam: "answers_column"),
                 .init("rating", "list<float64>", description: "Their ratings.", nameParam: "ratings_column"),
                 .init("*", "any")],
        outputs: [.init("chosen", "utf8", description: "The chosen answer.", nameParam: "chosen_column"),
                  .init("rejected", "utf8", description: "The rejected answer.", nameParam: "rejected_column"),
                  .init("chosen_rating", "float64", description: "The chosen answer's rating."),
                  .init("rejected_rating", "float64", description: "The rejected answer's rating."),
                  .init("chosen_model", "utf8", description: "The chosen answer's model (null without models_column)."),
                  .init("rejected_model", "utf8", description: "The rejected answer's model (null without models_column)."),
                  .init("*", "any")],
        parameters: [RatedColumns.answers, RatedColumns.ratings, RatedColumns.models, rejected, minMargin, seed, noPair,
                     onInvalidParameter, chosenOutput, rejectedOutput]
    ).filtering()
        .planning(StepPlan(atMost: true))

    let columns: RatedColumns
    let random: Bool
    let minMargin: Double
    let seed: Int
    let noPairIsError: Bool
    let drop: Bool
    let outputs: [ArrowField]
    var skipped = 0
    var dropped = 0

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        columns = try RatedColumns(parameters)
        random = try parameters[Self.rejected] == "random"
        minMargin = try parameters[Self.minMargin]
        seed = try parameters[Self.seed]
        noPairIsError = try parameters[Self.noPair] == "error"
        drop = try parameters[onInvalidParameter] == "drop"
        outputs = [ArrowField(try parameters[Self.chosenOutput], .utf8), ArrowField(try parameters[Self.rejectedOutput], .utf8),
                   ArrowField("chosen_rating", .float64), ArrowField("rejected_rating", .float64),
                   ArrowField("chosen_model", .utf8), ArrowField("rejected_model", .utf8)]
    }

    /// The rejected answer's index, or nil when no answer is rated low enough.
    func rejectedIndex(_ rated: RatedAnswers, best: Int, rowID: UInt64) -> Int? {
        let top = rated.ratings[best]
        let eligible = rated.ratings.indices.filter { $0 != best && rated.ratings[$0] < top && top - rated.ratings[$0] >= minMargin }
        guard !eligible.isEmpty else { return nil }
        if random { return eligible[PairRandom.choice(seed: Int64(seed), row: rowID, count: eligible.count)] }
        var worst = eligible[0]
        for index in eligible where rated.ratings[index] <= rated.ratings[worst] { worst = index }
        return worst
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let step = Self.info.name
        let bound = try columns.bind(batch, step: step)
        let rowIDs = batch.column("_row_id").flatMap { $0.type == .uint64 ? $0 : nil }
        var skipped = 0, dropped = 0
        let result = try RowMapping.map(batch, step: step, outputs: outputs) { (row) throws(StepError) in
            switch try columns.read(bound, row, step: step) {
            case .failure(let reason):
                if drop { dropped += 1; return .drop }
                return .error(reason.message)
            case .success(let rated):
                let best = rated.best
                let id = rowIDs.map { $0.isValid(row) ? $0.uint64(row) : UInt64(row) } ?? UInt64(row)
                guard let worse = rejectedIndex(rated, best: best, rowID: id) else {
                    if noPairIsError {
                        return .error("no pair: ratings \(rated.ratings.map(PairRandom.show).joined(separator: ", ")) have no answer rated at least \(PairRandom.show(minMargin)) below the best and below it")
                    }
                    skipped += 1
                    return .drop
                }
                return .values([.string(rated.answers[best]), .string(rated.answers[worse]),
                                .number(rated.ratings[best]), .number(rated.ratings[worse]),
                                rated.models[best].map { .string($0) } ?? .null, rated.models[worse].map { .string($0) } ?? .null])
            }
        }
        self.skipped += skipped
        self.dropped += dropped
        return result
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        if skipped > 0 {
            context.log(.info, "preference_pairs: skipped \(skipped) row(s) with no pair (ratings tied or within min_margin \(PairRandom.show(minMargin)))")
        }
        if dropped > 0 {
            context.log(.warning, "preference_pairs: \(dropped) row(s) without usable answers and ratings were left out (on_invalid: drop)")
        }
        return nil
    }
}

enum PairRandom {
    /// SplitMix64 (Steele, Lea, Flood 2014) over (seed, row): a uniform index below `count`.
    static func choice(seed: Int64, row: UInt64, count: Int) -> Int {
        func mix(_ value: UInt64) -> UInt64 {
            var z = value &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let value = mix(mix(UInt64(bitPattern: seed)) ^ row)
        return Int(((value >> 32) &* UInt64(count)) >> 32)
    }

    static func show(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
