import PluginKit

// `verify_answer`: extracts a final answer from each row's text and
// matches it against the row's reference; writes the verdict and what was
// extracted. A null answer or reference is an error row.

struct VerifyAnswer: PipelineStep {
    static let answerColumn = Parameter("answer_column", default: "generation", .minLength(1), description: "The model's text to extract the final answer from.")
    static let referenceColumn = Parameter("reference_column", default: "reference", .minLength(1), description: "The correct answer (text or a number).")
    static let extract = Parameter("extract", default: "auto", .oneOf(AnswerExtraction.methods), description: """
        How the final answer is found: boxed (the last \\boxed{…}, braces balanced), answer_is (what follows the last \
        "answer is" or "answer:" on its line), number (the last number: 1,234.5, -3e2, 3/4), last_line (the last \
        non-empty line), whole (the text, trimmed); auto tries boxed, answer_is, then the last number when the \
        reference is a number, else the last line.
        """)
    static let match = Parameter("match", default: "auto", .oneOf(["auto", "exact", "numeric"]), description: """
        exact: equal after normalising (lowercase, no spaces, no $, \\text{}, \\left/\\right, final period); numeric: both \
        read as numbers (a/b, \\frac{a}{b}, 50%, thousands separators) and within tolerance; auto: numeric when both \
        read as numbers, else exact.
        """)
    static let tolerance = Parameter("tolerance", default: 1e-6, .minimum(0), description: """
        Numeric match: |answer - reference| ≤ tolerance × max(1, |reference|).
        """)
    static let verdictColumn = Parameter("verdict_column", default: "correct", .minLength(1), description: "The verdict column (bool; false when no answer could be extracted).")
    static let extractedColumn = Parameter("extracted_column", default: "extracted_answer", .minLength(1), description: "The extracted answer (null when none was found).")
    static let onMismatch = Parameter("on_mismatch", default: "mark", .oneOf(["mark", "drop"]), description: """
        mark: every row passes with its verdict; drop: rows whose answer does not match are left out (counted in the log).
        """)

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.verify_answer", name: "verify_answer", version: "1.0.0",
        description: """
            Checks a final answer against a ground truth: extracts it from answer_column (a \\boxed{…}, "the answer \
            is X", the last number or line) and matches it with reference_column, exactly after normalising or as \
            numbers within a tolerance. Writes the verdict and the extracted answer; on_mismatch: drop keeps only \
            correct rows. A null answer or reference makes the row an error row.
            """,
        inputs: [.init("generation", "utf8", description: "The model's answer.", nameParam: "answer_column"),
                 .init("reference", "any", description: "The correct answer (utf8, int64 or float64).", nameParam: "reference_column"),
                 .init("*", "any")],
        outputs: [.init("correct", "bool", description: "Whether the extracted answer matches the reference.", nameParam: "verdict_column"),
                  .init("extracted_answer", "utf8", description: "The extracted answer, null when none was found.", nameParam: "extracted_column"),
                  .init("*", "any")],
        parameters: [answerColumn, referenceColumn, extract, match, tolerance, verdictColumn, extractedColumn, onMismatch]
    ).filtering()
        .planning(StepPlan(atMost: true))

    let answer: String
    let reference: String
    let method: String
    let matching: String
    let tolerance: Double
    let verdict: String
    let extracted: String
    let dropping: Bool
    var dropped = 0

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        answer = try parameters[Self.answerColumn]
        reference = try parameters[Self.referenceColumn]
        method = try parameters[Self.extract]
        matching = try parameters[Self.match]
        tolerance = try parameters[Self.tolerance]
        verdict = try parameters[Self.verdictColumn]
        extracted = try parameters[Self.extractedColumn]
        dropping = try parameters[Self.onMismatch] == "drop"
        if verdict == extracted {
            throw .invalidArgument("verify_answer: verdict_column and extracted_column are both \"\(verdict)\"")
        }
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let answers = try RowOutcome.column(batch, answer, step: "verify_answer", parameter: "answer_column")
        guard let references = batch.column(reference) else {
            throw .invalidData("verify_answer: reference_column: the input has no column \"\(reference)\"")
        }
        var kept: [Int] = []
        var failed: [Int: String] = [:]
        var verdicts: [Int: Bool] = [:]
        var answersFound: [Int: String] = [:]
        for row in 0..<batch.length {
            guard let text = answers.string(row) else { failed[row] = "verify_answer: the answer (\(answer)) is null"; continue }
            let expected: String
            switch Self.text(references, row) {
            case .value(let value): expected = value
            case .null: failed[row] = "verify_answer: the reference (\(reference)) is null"; continue
            case .unsupported(let type):
                throw .invalidData("verify_answer: reference_column \"\(reference)\" is \(type); it must be text or a number")
            }
            let found = AnswerExtraction.extract(text, method: method, numericReference: AnswerExtraction.number(expected) != nil)
            let correct = found.map { AnswerExtraction.matches($0, expected, match: matching, tolerance: tolerance) } ?? false
            if dropping && !correct { dropped += 1; continue }
            kept.append(row)
            verdicts[row] = correct
            answersFound[row] = found
        }
        if kept.isEmpty && failed.isEmpty { return nil }
        return try RowOutcome.assemble(batch, kept: kept, failed: failed, added: [
            (ArrowField(verdict, .bool), { builder, row in
                if let value = verdicts[row] { builder.append(value) } else { builder.appendNull() } }),
            (ArrowField(extracted, .utf8), { builder, row in builder.append(answersFound[row]) }),
        ], step: "verify_answer")
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        if dropped > 0 {
            context.log(.info, "verify_answer: \(dropped) row(s) whose answer did not match the reference were left out (on_mismatch: drop)")
            dropped = 0
        }
        return nil
    }

    enum Cell { case value(String), null, unsupported(String) }

    static func text(_ column: ArrowColumn, _ row: Int) -> Cell {
        guard column.isValid(row) else { return .null }
        switch column.type {
        case .utf8, .largeUtf8: return column.string(row).map(Cell.value) ?? .null
        case .int64: return .value(String(column.int64(row)))
        case .float64: return .value(String(column.float64(row)))
        case .bool: return .value(column.bool(row) ? "true" : "false")
        default: return .unsupported("\(column.type)")
        }
    }
}
