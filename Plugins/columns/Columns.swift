import PluginKit

// Column plumbing steps, written in Swift with PluginKit: the example a Swift
// plugin author starts from. One library, several steps: column plumbing
// here, best_of_n and preference_pairs in Preference.swift, the training
// formats in Formats.swift, rouge_l and win_rate in Evaluation.swift.

@_cdecl("pipeline_plugin_entry")
public func pipelinePluginEntry(_ host: UnsafePointer<pipeline_host>?) -> UnsafePointer<pipeline_plugin>? {
    PluginExport.entry(
        host: host, name: "org.pipeline.columns", version: "1.0.0",
        description: "Select, rename and join columns; pick the best answer, make preference pairs, write training formats.",
        steps: [KeepColumns.self, RenameColumns.self, Join.self, BestOfN.self, PreferencePairs.self,
                FormatSFT.self, FormatDPO.self, FormatPromptCompletion.self, RougeL.self, WinRate.self])
}

/// Columns the host owns travel with every row, whatever a step selects.
private let reservedColumns: Set<String> = ["_row_id", "_error"]

struct KeepColumns: PipelineStep {
    static let columns = Parameter<[String]>("columns", .minItems(1), .columns, description: "Names of the columns to keep, in output order.")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.keep_columns", name: "keep_columns", version: "1.0.0",
        description: "Keeps only the listed columns, in the listed order (plus the host's _row_id and _error). A listed column missing from the input is an error.",
        inputs: [.init("*", "any", description: "the columns to keep must be among them")],
        outputs: [.init("*", "any", description: "the listed columns")],
        parameters: [columns])
        .planning(StepPlan())

    let columns: [String]

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        columns = try parameters[Self.columns]
        guard !columns.isEmpty else { throw .invalidArgument("columns: list at least one column") }
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        var fields: [ArrowField] = []
        var kept: [ArrowColumn] = []
        for name in columns {
            guard let index = batch.index(of: name) else {
                throw .invalidData("keep_columns: no column \"\(name)\" in the input (it has \(batch.fields.map(\.name).joined(separator: ", ")))")
            }
            fields.append(batch.fields[index])
            kept.append(batch.columns[index])
        }
        for (index, field) in batch.fields.enumerated() where reservedColumns.contains(field.name) && !columns.contains(field.name) {
            fields.append(field)
            kept.append(batch.columns[index])
        }
        do { return try RecordBatch(fields: fields, columns: kept, length: batch.length) } catch {
            throw .internal(error.message)
        }
    }
}

struct RenameColumns: PipelineStep {
    static let columns = Parameter<[String: String]>("columns", ParameterRule(keyword: "format", value: .string("renamed-columns")),
                                                     description: "A map from old column name to new column name.")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.rename_columns", name: "rename_columns", version: "1.0.0",
        description: "Renames columns (old name → new name); the others pass through unchanged. Renaming a missing column, renaming onto an existing column, or renaming a reserved _ column is an error.",
        inputs: [.init("*", "any")],
        outputs: [.init("*", "any")],
        parameters: [columns])
        .planning(StepPlan())

    let renames: [String: String]

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        renames = try parameters[Self.columns]
        for (old, new) in renames where reservedColumns.contains(old) || reservedColumns.contains(new) || new.isEmpty {
            throw .invalidArgument("rename_columns: cannot rename \"\(old)\" to \"\(new)\"")
        }
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let names = Set(batch.fields.map(\.name))
        for old in renames.keys.sorted() where !names.contains(old) {
            throw .invalidData("rename_columns: no column \"\(old)\" in the input")
        }
        var fields = batch.fields
        for index in fields.indices {
            if let new = renames[fields[index].name] { fields[index].name = new }
        }
        var seen = Set<String>()
        for field in fields where !seen.insert(field.name).inserted {
            throw .invalidData("rename_columns: two columns would be called \"\(field.name)\"")
        }
        do { return try RecordBatch(fields: fields, columns: batch.columns, length: batch.length) } catch {
            throw .internal(error.message)
        }
    }
}
