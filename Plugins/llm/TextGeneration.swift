import PluginKit

/// One LLM answer (or several) per row, from a prompt template.
struct TextGeneration: PipelineStep {
    struct Parameters: Decodable {
        var template: String
        var system_prompt: String?
        var num_generations: Int
        var output_column: String
        var temperature: Double?
        var max_tokens: Int?
        var top_p: Double?
        var seed: Int?
    }

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.text_generation", name: "text_generation", version: "1.0.0",
        description: """
            Asks the step's LLM one question per row, written from a template over the row's columns \
            ({instruction} by default), and adds the answer. With num_generations > 1 the answers form a \
            list. A request that still fails after the LLM's retries makes the row an error row (its \
            reason in _error), never an empty answer. Every input column passes through.
            """,
        inputs: [.init("instruction", "utf8", optional: true,
                       description: "Read when the template names it (the default template does)."),
                 .init("*", "any")],
        outputs: [.init("generation", "utf8", description: "The answer (list<utf8> when num_generations > 1).",
                        nameParam: "output_column"),
                  .init("model_name", "utf8", description: "The model that answered."),
                  .init("*", "any")],
        parameterSchema: """
            {"type":"object","additionalProperties":false,
             "properties":{
               "template":{"type":"string","default":"{instruction}","description":"The user message: {column} is replaced by the row's value; {{ and }} are literal braces."},
               "system_prompt":{"type":"string","description":"An optional system message."},
               "num_generations":{"type":"integer","minimum":1,"maximum":64,"default":1,"description":"Answers per row (each its own request and cache entry)."},
               "output_column":{"type":"string","minLength":1,"default":"generation","description":"The column the answer goes to."},
               "temperature":{"type":"number","minimum":0,"maximum":2,"description":"Overrides the LLM's default."},
               "max_tokens":{"type":"integer","minimum":1,"description":"Overrides the LLM's default."},
               "top_p":{"type":"number","exclusiveMinimum":0,"maximum":1,"description":"Overrides the LLM's default."},
               "seed":{"type":"integer","description":"Passed to the server; makes requests cacheable."}}}
            """,
        deterministic: false, reentrant: true, usesLLM: true)

    let template: PromptTemplate
    let system: String?
    let generations: Int
    let outputColumn: String
    let options: String?

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        template = try PromptTemplate(parameters.template)
        system = parameters.system_prompt
        generations = parameters.num_generations
        outputColumn = parameters.output_column
        var options: [String] = []
        if let value = parameters.temperature { options.append("\"temperature\":\(value)") }
        if let value = parameters.max_tokens { options.append("\"max_tokens\":\(value)") }
        if let value = parameters.top_p { options.append("\"top_p\":\(value)") }
        if let value = parameters.seed { options.append("\"seed\":\(value)") }
        self.options = options.isEmpty ? nil : "{" + options.joined(separator: ",") + "}"
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        var columns: [String: ArrowColumn] = [:]
        for name in template.columns {
            guard let column = batch.column(name) else {
                throw .invalidData("text_generation: the template reads column \"\(name)\", which the input does not have (it has \(batch.fields.map(\.name).joined(separator: ", ")))")
            }
            columns[name] = column
        }
        // Every request of the batch at once: the host keeps them in flight
        // together with other steps', up to the LLM's limit.
        var requests: [LLMRequest] = []
        var rowOf: [Int] = []
        var rowErrors = [String?](repeating: nil, count: batch.length)
        for row in 0..<batch.length {
            guard let prompt = template.render(batch, row: row, columns: columns) else {
                rowErrors[row] = "text_generation: a column the template reads is null in this row"
                continue
            }
            for generation in 0..<generations {
                requests.append(LLMRequest(prompt: prompt, system: system, optionsJSON: options, generation: generation))
                rowOf.append(row)
            }
        }
        let responses = try context.complete(requests)
        var answers = [[String]](repeating: [], count: batch.length)
        var models = [String?](repeating: nil, count: batch.length)
        for (index, response) in responses.enumerated() {
            let row = rowOf[index]
            if let text = response.text {
                answers[row].append(text)
                models[row] = models[row] ?? response.model
            } else if rowErrors[row] == nil {
                rowErrors[row] = "text_generation: \(response.error ?? "the request failed")"
            }
        }
        let output = ColumnBuilder(generations == 1 ? .utf8 : .utf8List)
        let model = ColumnBuilder(.utf8)
        let errors = ColumnBuilder(.utf8)
        for row in 0..<batch.length {
            if rowErrors[row] != nil || answers[row].count != generations {
                output.appendNull()
            } else if generations == 1 {
                output.append(answers[row][0])
            } else {
                output.append(strings: answers[row])
            }
            model.append(models[row])
            errors.append(rowErrors[row])
        }
        var fields = batch.fields.filter { $0.name != outputColumn && $0.name != "model_name" && $0.name != "_error" }
        var kept = fields.map { field in batch.columns[batch.index(of: field.name) ?? 0] }
        fields += [ArrowField(outputColumn, output.type), ArrowField("model_name", .utf8)]
        kept += [output.finish(), model.finish()]
        if rowErrors.contains(where: { $0 != nil }) {
            fields.append(ArrowField("_error", .utf8))
            kept.append(errors.finish())
        }
        do { return try RecordBatch(fields: fields, columns: kept, length: batch.length) } catch {
            throw .internal(error.message)
        }
    }
}
