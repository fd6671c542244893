import PipelineTemplate
import PluginKit

// `filter`: keeps the rows for which an expression of the template
// language is true. Parsed once when the step is created (and by the host
// at validation, with line:column), evaluated per row over only the
// columns it names; nothing of the host is ever evaluated.

@_cdecl("pipeline_plugin_entry")
public func pipelinePluginEntry(_ host: UnsafePointer<pipeline_host>?) -> UnsafePointer<pipeline_plugin>? {
    PluginExport.entry(
        host: host, name: "org.pipeline.filter", version: "1.0.0",
        description: "Keep rows by a condition on their columns.",
        steps: [Filter.self])
}

struct Filter: PipelineStep {
    static let condition = Parameter<String>("where", .minLength(1), .expression, description: """
        The condition, an expression of the template language (docs/pipelines.md, Templates and expressions): \
        comparisons, and/or/not, `is none`/`is not none`, `in` (substring, list item, key), `is matching(...)` \
        (regex), `| length`, e.g. `rating >= 7 and finish_reason == "stop"`. A row is kept when the value is true; \
        a comparison with null is false, so a null never passes by accident.
        """)
    static let errors = Parameter("on_error", default: "row", .oneOf(["row", "drop", "fail"]), description: """
        When the condition cannot be evaluated for a row (a type mismatch such as "abc" > 3): row makes it an \
        error row (errors.jsonl, with the reason); drop leaves it out, counted in the log; fail stops the run.
        """)

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.filter", name: "filter", version: "1.0.0",
        description: """
            Keeps the rows for which `where` is true, in their order; every column passes through unchanged. \
            The condition is checked when the pipeline is validated: a syntax error, or a column no earlier \
            step produces, is an error at its line and column. A null compared with anything is false; test \
            it with `x is none`.
            """,
        inputs: [.init("*", "any", description: "the columns the condition names must be among them")],
        outputs: [.init("*", "any", description: "the input columns, rows that pass")],
        parameters: [condition, errors]
    ).filtering()
        .planning(StepPlan(atMost: true))

    let expression: Expression
    let onError: String
    var dropped = 0

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        let text = try parameters[Self.condition]
        do throws(TemplateError) { expression = try Expression(parsing: text) } catch {
            throw .invalidArgument("filter: where: \(error.line):\(error.column): \(error.message)")
        }
        onError = try parameters[Self.errors]
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        // Only the columns the condition names, looked up once per batch.
        var columns: [String: ArrowColumn] = [:]
        for name in expression.names {
            if let column = batch.column(name) { columns[name] = column }
        }
        var kept: [Int] = []
        kept.reserveCapacity(batch.length)
        var failed: [(row: Int, message: String)] = []
        for row in 0..<batch.length {
            let value: PipelineTemplate.Value
            do throws(TemplateError) {
                value = try expression.evaluate { name in columns[name].map { PromptTemplate.value($0, row) } }
            } catch {
                switch onError {
                case "fail": throw .invalidData("filter: row \(row) of the batch: \(error.message)")
                case "drop": dropped += 1
                default: failed.append((row, "filter: \(error.message)"))
                }
                continue
            }
            if value.isTruthy { kept.append(row) }
        }
        if failed.isEmpty {
            if kept.count == batch.length { return batch }
            do { return try batch.take(kept) } catch { throw .internal("filter: \(error.message)") }
        }
        return try withErrors(batch, kept: kept, failed: failed)
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        if dropped > 0 {
            context.log(.warning, "filter: \(dropped) row(s) whose condition could not be evaluated were left out (on_error: drop)")
            dropped = 0
        }
        return nil
    }

    /// The kept rows and the failed ones, in input order, the failed ones
    /// with their reason in `_error` (the host moves them to errors.jsonl).
    private func withErrors(_ batch: RecordBatch, kept: [Int], failed: [(row: Int, message: String)]) throws(StepError) -> RecordBatch {
        var reasons: [Int: String] = [:]
        for failure in failed { reasons[failure.row] = failure.message }
        let rows = (kept + failed.map(\.row)).sorted()
        do {
            let taken = try batch.take(rows)
            let errors = ColumnBuilder(.utf8)
            for row in rows { errors.append(reasons[row]) }
            return try taken.removing("_error").setting(ArrowField("_error", .utf8), errors.finish())
        } catch {
            throw .internal("filter: \(error.message)")
        }
    }
}
