import Foundation
import PipelineJSON
import PluginKit

// Evaluating a student against a teacher: rouge_l per row, win_rate over
// the whole run (a pairwise judge's verdicts, with a Wilson interval).

/// `rouge_l`: the ROUGE-L F-measure of a prediction against a reference:
/// the longest common subsequence of their words over the words of each.
struct RougeL: PipelineStep {
    static let prediction = Parameter("prediction_column", default: "generation", .minLength(1),
        description: "The text scored (e.g. the student's answer).")
    static let reference = Parameter("reference_column", default: "reference", .minLength(1),
        description: "The text it is compared with (e.g. the teacher's answer).")
    static let output = Parameter("output_column", default: "rouge_l", .minLength(1),
        description: "The column the F-measure (0 to 1) goes to.")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.rouge_l", name: "rouge_l", version: "1.0.0",
        description: """
            ROUGE-L of a prediction against a reference: with L the longest common subsequence of their \
            words (lower-cased runs of letters and digits), precision L/|prediction|, recall L/|reference| \
            and the F-measure 2PR/(P+R), 0 when either text has no word. A null text makes the row an error \
            row. Every input column passes through.
            """,
        inputs: [.init("generation", "utf8", description: "The prediction.", nameParam: "prediction_column"),
                 .init("reference", "utf8", description: "The reference.", nameParam: "reference_column"),
                 .init("*", "any")],
        outputs: [.init("rouge_l", "float64", description: "The F-measure, 0 to 1.", nameParam: "output_column"),
                  .init("*", "any")],
        parameters: [prediction, reference, output])
        .planning(StepPlan())

    let predictionName: String
    let referenceName: String
    let outputs: [ArrowField]

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        predictionName = try parameters[Self.prediction]
        referenceName = try parameters[Self.reference]
        outputs = [ArrowField(try parameters[Self.output], .float64)]
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let step = Self.info.name
        let predictions = try RowMapping.column(batch, predictionName, parameter: "prediction_column", step: step)
        let references = try RowMapping.column(batch, referenceName, parameter: "reference_column", step: step)
        return try RowMapping.map(batch, step: step, outputs: outputs) { (row) throws(StepError) in
            guard let prediction = try RowMapping.text(predictions, row, name: predictionName, step: step) else {
                return .error("\(predictionName) is null")
            }
            guard let reference = try RowMapping.text(references, row, name: referenceName, step: step) else {
                return .error("\(referenceName) is null")
            }
            return .values([.number(Self.fMeasure(prediction, reference))])
        }
    }

    /// Lower-cased runs of letters and digits.
    static func words(_ text: String) -> [Substring] {
        text.lowercased().split { !$0.isLetter && !$0.isNumber }
    }

    static func fMeasure(_ prediction: String, _ reference: String) -> Double {
        let a = words(prediction), b = words(reference)
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        // One row of the LCS table at a time: O(|a|·|b|) time, O(|b|) memory.
        var previous = [Int](repeating: 0, count: b.count + 1)
        var current = previous
        for word in a {
            for (j, other) in b.enumerated() {
                current[j + 1] = word == other ? previous[j] + 1 : max(previous[j + 1], current[j])
            }
            swap(&previous, &current)
        }
        let common = Double(previous[b.count])
        guard common > 0 else { return 0 }
        let precision = common / Double(a.count), recall = common / Double(b.count)
        return 2 * precision * recall / (precision + recall)
    }
}

/// `win_rate`: how often answer A beat answer B over the whole run, from a
/// pairwise judge's verdicts, with a Wilson score interval.
struct WinRate: PipelineStep {
    static let verdict = Parameter("verdict_column", default: "verdict", .minLength(1),
        description: "The pairwise verdicts: A, B, tie or inconsistent (judge's mode: pairwise).")
    static let nameA = Parameter("a_name", default: "A", .minLength(1), description: "What A is, for the table (e.g. student).")
    static let nameB = Parameter("b_name", default: "B", .minLength(1), description: "What B is, for the table (e.g. teacher).")
    static let inconsistent = Parameter("inconsistent", default: "tie", .oneOf(["tie", "exclude"]),
        description: "An inconsistent verdict (the two orders disagreed) counts as a tie (MT-Bench's rule), or is left out of n.")
    static let confidence = Parameter("confidence", default: 0.95, .exclusiveMinimum(0), .exclusiveMaximum(1),
        description: "The interval's confidence level.")
    static let means = Parameter<[String]>("mean_columns", default: [],
        description: "Numeric columns whose mean goes into the summary too (e.g. rouge_l).")

    static let info = StepInfo(
        kind: .global, id: "org.pipeline.win_rate", name: "win_rate", version: "1.0.0",
        description: """
            A's win rate against B over every row: (wins + ties / 2) / n, a tie counting as half a win, with \
            the Wilson score interval at the chosen confidence on that rate and n. Inconsistent verdicts count \
            as ties unless inconsistent: exclude. Emits one summary row when its input ends (counts, rate, \
            interval, means of mean_columns) and logs it as a table. A verdict that is none of A, B, tie, \
            inconsistent, or null, makes the step fail naming it.
            """,
        inputs: [.init("verdict", "utf8", description: "The verdicts.", nameParam: "verdict_column"), .init("*", "any")],
        outputs: [.init("n", "int64", description: "Rows counted."),
                  .init("a_wins", "int64", description: "Verdicts A."), .init("b_wins", "int64", description: "Verdicts B."),
                  .init("ties", "int64", description: "Verdicts tie."),
                  .init("inconsistent", "int64", description: "Verdicts inconsistent."),
                  .init("win_rate", "float64", description: "A's rate, ties as half a win."),
                  .init("ci_low", "float64", description: "The Wilson interval's lower bound."),
                  .init("ci_high", "float64", description: "The Wilson interval's upper bound."),
                  .init("*", "any", description: "mean_<column> for each of mean_columns.")],
        parameters: [verdict, nameA, nameB, inconsistent, confidence, means])

    let verdictName: String
    let names: (a: String, b: String)
    let excludeInconsistent: Bool
    let z: Double
    let meanColumns: [String]
    var counts = (a: 0, b: 0, tie: 0, inconsistent: 0)
    var sums: [Double]
    var valueCounts: [Int]
    var done = false

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        verdictName = try parameters[Self.verdict]
        names = (try parameters[Self.nameA], try parameters[Self.nameB])
        excludeInconsistent = try parameters[Self.inconsistent] == "exclude"
        z = Self.normalQuantile(0.5 + (try parameters[Self.confidence]) / 2)
        meanColumns = try parameters[Self.means]
        sums = Array(repeating: 0, count: meanColumns.count)
        valueCounts = Array(repeating: 0, count: meanColumns.count)
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let step = Self.info.name
        let verdicts = try RowMapping.column(batch, verdictName, parameter: "verdict_column", step: step)
        for row in 0..<batch.length {
            switch try RowMapping.text(verdicts, row, name: verdictName, step: step) {
            case "A"?: counts.a += 1
            case "B"?: counts.b += 1
            case "tie"?: counts.tie += 1
            case "inconsistent"?: counts.inconsistent += 1
            case let other:
                throw .invalidData("\(step): row \(row) of a batch: verdict \(other.map { "\"\($0)\"" } ?? "null") is none of A, B, tie, inconsistent")
            }
        }
        for (index, name) in meanColumns.enumerated() {
            let column = try RowMapping.column(batch, name, parameter: "mean_columns", step: step)
            guard column.type == .float64 || column.type == .int64 else {
                throw .invalidData("\(step): mean_columns: \"\(name)\" is \(column.type.displayName), not a number")
            }
            for row in 0..<batch.length where column.isValid(row) {
                sums[index] += column.type == .float64 ? column.float64(row) : Double(column.int64(row))
                valueCounts[index] += 1
            }
        }
        return nil
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        guard !done else { return nil }
        done = true
        let ties = counts.tie + (excludeInconsistent ? 0 : counts.inconsistent)
        let n = counts.a + counts.b + ties
        let rate = n == 0 ? nil : (Double(counts.a) + Double(ties) / 2) / Double(n)
        let interval = rate.map { Self.wilson($0, n: n, z: z) }
        var fields = [ArrowField("n", .int64), ArrowField("a_wins", .int64), ArrowField("b_wins", .int64),
                      ArrowField("ties", .int64), ArrowField("inconsistent", .int64), ArrowField("win_rate", .float64),
                      ArrowField("ci_low", .float64), ArrowField("ci_high", .float64)]
        var values: [JSONValue] = [.number(Double(n)), .number(Double(counts.a)), .number(Double(counts.b)),
                                   .number(Double(counts.tie)), .number(Double(counts.inconsistent)),
                                   rate.map { .number($0) } ?? .null, interval.map { .number($0.low) } ?? .null,
                                   interval.map { .number($0.high) } ?? .null]
        var meanLines: [String] = []
        for (index, name) in meanColumns.enumerated() {
            let mean = valueCounts[index] == 0 ? nil : sums[index] / Double(valueCounts[index])
            fields.append(ArrowField("mean_\(name)", .float64))
            values.append(mean.map { .number($0) } ?? .null)
            meanLines.append("mean \(name)".padding(toLength: 26, withPad: " ", startingAt: 0) + (mean.map { Self.format($0) } ?? "-"))
        }
        let percent = { (value: Double) in Self.format(value * 100, places: 1) + "%" }
        let lines = [
            "win_rate: \(names.a) against \(names.b)",
            "rows".padding(toLength: 26, withPad: " ", startingAt: 0) + "\(n)" + (excludeInconsistent && counts.inconsistent > 0 ? " (\(counts.inconsistent) inconsistent left out)" : ""),
            "\(names.a) wins".padding(toLength: 26, withPad: " ", startingAt: 0) + "\(counts.a)",
            "\(names.b) wins".padding(toLength: 26, withPad: " ", startingAt: 0) + "\(counts.b)",
            "ties (inconsistent)".padding(toLength: 26, withPad: " ", startingAt: 0) + "\(counts.tie) (\(counts.inconsistent))",
            "\(names.a) win rate".padding(toLength: 26, withPad: " ", startingAt: 0)
                + (rate.map(percent) ?? "-")
                + (interval.map { "  [\(percent($0.low)), \(percent($0.high))] Wilson" } ?? ""),
        ] + meanLines
        context.log(.info, lines.joined(separator: "\n"))
        var columns: [ArrowColumn] = []
        for (field, value) in zip(fields, values) {
            let builder = ColumnBuilder(field.type)
            do throws(JSONColumnError) { try builder.append(json: value) } catch {
                throw .internal("win_rate: \(field.name): \(error.message)")
            }
            columns.append(builder.finish())
        }
        do {
            return try RecordBatch(fields: fields, columns: columns, length: 1)
        } catch {
            throw .internal("win_rate: \(error.message)")
        }
    }

    /// The Wilson score interval of a rate `p` over `n` trials at quantile `z`.
    static func wilson(_ p: Double, n: Int, z: Double) -> (low: Double, high: Double) {
        let n = Double(n), z2 = z * z
        let centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z / (1 + z2 / n) * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
        return (max(0, centre - half), min(1, centre + half))
    }

    /// The standard normal quantile (Acklam's rational approximation,
    /// relative error below 1.2e-9), for the interval's z.
    static func normalQuantile(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                 -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - low { return -normalQuantile(1 - p) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }

    static func format(_ value: Double, places: Int = 3) -> String { String(format: "%.\(places)f", value) }
}
