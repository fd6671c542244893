import PluginKit

/// One embedding per row, through the step's LLM (any OpenAI-compatible
/// /v1/embeddings), stored as fixed_size_list<float32>[dimensions].
struct Embeddings: PipelineStep {
    static let column = Parameter("column", default: "text", description: "The text column to embed (unless template is given).")
    static let template = Parameter<String?>("template", description: """
        Instead of column: the text to embed, written from the row's columns like a text_generation template: \
        {instruction} then {response}.
        """)
    static let outputColumn = Parameter("output_column", default: "embedding", .minLength(1), description: "The vector column.")
    static let dimensions = Parameter<Int>("dimensions", .minimum(1), .maximum(65536),
        description: "Floats per vector: the model's output width.")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.embeddings", name: "embeddings", version: "1.0.0",
        description: """
            Embeds a text column with the step's LLM, batched, into a fixed_size_list<float32> column \
            of `dimensions` floats. A text that fails (after the LLM's retries) or comes back with \
            another width makes its row an error row. Every input column passes through.
            """,
        // Optional: with `template` no column is read; a `column:` the file names is checked.
        inputs: [.init("text", "utf8", optional: true, description: "The text to embed (unless template is given).", nameParam: "column"),
                 .init("*", "any")],
        outputs: [.init("embedding", "fixed_size_list<float32>", nameParam: "output_column"), .init("*", "any")],
        parameters: [column, template, outputColumn, dimensions],
        deterministic: true, reentrant: true, usesLLM: true)
        .planning(StepPlan(embeddings: "1"))

    let column: String
    let template: PromptTemplate?
    let outputColumn: String
    let dimensions: Int

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        column = try parameters[Self.column]
        template = try parameters[Self.template].map { text throws(StepError) in try PromptTemplate(text) }
        outputColumn = try parameters[Self.outputColumn]
        dimensions = try parameters[Self.dimensions]
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        var texts = [String?](repeating: nil, count: batch.length)
        if let template {
            var columns: [String: ArrowColumn] = [:]
            for name in template.placeholders {
                guard let found = batch.column(name) else {
                    throw .invalidData("embeddings: the template reads column \"\(name)\", which the input does not have")
                }
                columns[name] = found
            }
            for row in 0..<batch.length { texts[row] = template.render(TaskRow(index: row, columns: columns)) }
        } else {
            guard let text = batch.column(column), text.type == .utf8 || text.type == .largeUtf8 else {
                throw .invalidData("embeddings: no utf8 column \"\(column)\" in the input")
            }
            for row in 0..<batch.length { texts[row] = text.string(row) }
        }
        let rows = (0..<batch.length).filter { texts[$0] != nil }
        let embedded = try context.embedding(rows.map { texts[$0] ?? "" }, dimension: dimensions)
        var byRow = [Embedding?](repeating: nil, count: batch.length)
        for (index, row) in rows.enumerated() { byRow[row] = embedded[index] }
        let output = ColumnBuilder(.embedding(width: dimensions))
        let errors = ColumnBuilder(.utf8)
        var failed = false
        for row in 0..<batch.length {
            if let vector = byRow[row]?.vector {
                vector.withUnsafeBufferPointer { output.append(vector: $0) }
                errors.appendNull()
            } else {
                output.appendNull()
                if texts[row] == nil {
                    errors.append("embeddings: the text is null")
                } else {
                    // The cause (HTTP status and message) when the host says it.
                    let cause = byRow[row]?.error.map { ": \($0)" } ?? ""
                    errors.append("embeddings: the LLM gave no \(dimensions)-float vector for this text\(cause)")
                }
                failed = true
            }
        }
        var fields = batch.fields.filter { $0.name != outputColumn && $0.name != "_error" }
        var kept = fields.compactMap { field in batch.column(field.name) }
        fields.append(ArrowField(outputColumn, .embedding(width: dimensions)))
        kept.append(output.finish())
        if failed {
            fields.append(ArrowField("_error", .utf8))
            kept.append(errors.finish())
        }
        do { return try RecordBatch(fields: fields, columns: kept, length: batch.length) } catch {
            throw .internal(error.message)
        }
    }
}
