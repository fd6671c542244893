import PluginKit

// `decontaminate`: drops (or marks) rows whose prompt shares a word n-gram
// with an evaluation set, so held-out prompts stay held out, and reports
// which evaluation items were hit and by how many rows.

struct Decontaminate: PipelineStep {
    static let evalFile = Parameter<String>("eval_file", .inputPath, .minLength(1), description: """
        The evaluation set: JSON Lines (.jsonl, .json, .ndjson; the text in eval_field) or any other file with one \
        item per non-empty line.
        """)
    static let evalField = Parameter("eval_field", default: "prompt", .minLength(1), description: "JSON Lines: the field holding an item's text.")
    static let evalID = Parameter<String?>("eval_id_field", .minLength(1), description: "JSON Lines: the field naming an item in the report (default: its line number).")
    static let promptColumn = Parameter("prompt_column", default: "instruction", .minLength(1), description: "The prompt checked against the evaluation set.")
    static let ngram = Parameter("ngram", default: 13, .minimum(1), .maximum(1000), description: """
        Words per n-gram (NeMo Curator's max_ngram_size). Words: lowercased, ASCII punctuation removed, split at whitespace.
        """)
    static let minNgram = Parameter("min_ngram", default: 8, .minimum(1), description: """
        An evaluation item shorter than ngram words is matched whole when it has at least this many words (NeMo \
        Curator's min_ngram_size); shorter items are not checked.
        """)
    static let mode = Parameter("mode", default: "drop", .oneOf(["drop", "mark"]), description: """
        drop: contaminated rows are left out; mark: every row passes with contaminated (bool) and contaminated_by \
        (the ids of the items hit).
        """)

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.decontaminate", name: "decontaminate", version: "1.0.0",
        description: """
            Task decontamination as NeMo Curator does it: a row whose prompt shares a word n-gram (13 by default) \
            with an item of an evaluation set is dropped (or marked). At the end the log says how many rows were \
            contaminated and, per evaluation item hit, its id, its first words and the number of rows. A null \
            prompt makes the row an error row.
            """,
        inputs: [.init("instruction", "utf8", description: "The prompt.", nameParam: "prompt_column"), .init("*", "any")],
        outputs: [.init("contaminated", "bool", optional: true, description: "mode: mark only."),
                  .init("contaminated_by", "list<utf8>", optional: true, description: "mode: mark only: the ids of the evaluation items hit."),
                  .init("*", "any")],
        parameters: [evalFile, evalField, evalID, promptColumn, ngram, minNgram, mode],
        stateful: true
    ).filtering()
        .planning(StepPlan(atMost: true))

    let set: EvaluationSet
    let prompt: String
    let marking: Bool
    var hitsPerItem: [Int: Int] = [:]
    var contaminatedRows = 0
    var rows = 0

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        let n = try parameters[Self.ngram]
        let minimum = try parameters[Self.minNgram]
        if minimum > n { throw .invalidArgument("decontaminate: min_ngram (\(minimum)) is above ngram (\(n))") }
        let items = try EvaluationSet.load(path: try parameters[Self.evalFile], field: try parameters[Self.evalField],
                                           idField: try parameters[Self.evalID])
        set = EvaluationSet(items: items, n: n, minimum: minimum)
        prompt = try parameters[Self.promptColumn]
        marking = try parameters[Self.mode] == "mark"
        context.log(.info, "decontaminate: \(items.count) evaluation item(s), \(set.gramCount) distinct \(n)-gram(s)")
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let prompts = try RowOutcome.column(batch, prompt, step: "decontaminate", parameter: "prompt_column")
        var kept: [Int] = []
        var failed: [Int: String] = [:]
        var found: [Int: [Int]] = [:]
        for row in 0..<batch.length {
            rows += 1
            guard let text = prompts.string(row) else { failed[row] = "decontaminate: the prompt (\(prompt)) is null"; continue }
            let hits = set.hits(text)
            if !hits.isEmpty {
                contaminatedRows += 1
                for item in hits { hitsPerItem[item, default: 0] += 1 }
                if !marking { continue }
            }
            kept.append(row)
            found[row] = hits
        }
        if kept.isEmpty && failed.isEmpty { return nil }
        var added: [(ArrowField, (ColumnBuilder, Int) -> Void)] = []
        if marking {
            let ids = set.items.map(\.id)
            added = [
                (ArrowField("contaminated", .bool), { builder, row in
                    if let hits = found[row] { builder.append(!hits.isEmpty) } else { builder.appendNull() } }),
                (ArrowField("contaminated_by", .list(ArrowField("item", .utf8))), { builder, row in
                    builder.append(strings: (found[row] ?? []).map { ids[$0] }) }),
            ]
        }
        return try RowOutcome.assemble(batch, kept: kept, failed: failed, added: added, step: "decontaminate")
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        let verb = marking ? "marked" : "dropped"
        context.log(contaminatedRows > 0 ? .warning : .info,
                    "decontaminate: \(contaminatedRows) of \(rows) row(s) share a \(set.n)-gram with the evaluation set (\(verb)); \(hitsPerItem.count) of \(set.items.count) evaluation item(s) hit")
        for (item, count) in hitsPerItem.sorted(by: { $0.key < $1.key }) {
            let entry = set.items[item]
            let head = entry.text.split(whereSeparator: { $0.isWhitespace }).prefix(8).joined(separator: " ")
            context.log(.warning, "decontaminate: evaluation item \(entry.id) (\"\(head)…\"): \(count) row(s)")
        }
        hitsPerItem = [:]
        contaminatedRows = 0
        rows = 0
        return nil
    }
}
