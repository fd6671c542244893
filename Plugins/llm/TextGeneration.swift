import PluginKit

/// One LLM answer (or several) per row, from a prompt template.
struct TextGeneration: LLMTask {
    static let template = Parameter<String?>("template", .template,
        description: "The user message, a template over the row's columns (docs/pipelines.md, Templates and expressions): {column}, or Jinja ({{ column }}, filters, {% if %}, {% for %}). Without it (and without messages_column): {instruction}.")
    static let messagesColumn = Parameter("messages_column", default: "",
        description: "Instead of the template: a column holding the conversation to continue, a list of {role, content} (an SFT file's messages, or JSON text of one). A trailing assistant turn is left out, so its answer is generated again; system_prompt goes first unless the conversation has a system message.")
    static let generations = Parameter("num_generations", default: 1, .minimum(1), .maximum(64),
        description: "Answers per row, each its own request and cache entry; with seed, generation i sends its own seed (seed itself for the first, then seeds derived from seed and i), so a seeded server gives num_generations different answers.")
    static let outputColumn = Parameter("output_column", default: "generation", .minLength(1),
        description: "The column the answer goes to.")
    static let modelColumn = Parameter("model_name_column", default: "model_name", .minLength(1),
        description: "The column the answering model's name goes to.")
    static let finishColumn = Parameter("finish_reason_column", default: "finish_reason", .minLength(1),
        description: "The column the server's finish_reason goes to (\"stop\", \"length\" when max_tokens cut the answer off, ...).")
    static let reasoningColumn = Parameter("reasoning_column", default: "reasoning", .minLength(1),
        description: "The column the model's reasoning trace goes to, as a reasoning model served by vLLM, SGLang or llama.cpp sends it beside the answer (reasoning_content or reasoning); null where the server sent none.")
    static let truncated = Parameter("truncated", default: "keep", .oneOf(["keep", "error"]),
        description: "An answer cut off by max_tokens (finish_reason \"length\"): keep it (its finish_reason says so), or make the row an error row so it never reaches a training set.")
    static let llm = GenerationParameters(systemTemplate: true, seed: "Passed to the server; makes requests cacheable.")

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
                  .init("model_name", "utf8", description: "The model that answered.", nameParam: "model_name_column"),
                  .init("finish_reason", "utf8", description: "Why the answer ended (list<utf8> when num_generations > 1); null (\"\" in a list) where the server does not say.",
                        nameParam: "finish_reason_column"),
                  .init("reasoning", "utf8", description: "The model's reasoning trace (list<utf8> when num_generations > 1); null (\"\" in a list) where the server sent none.",
                        nameParam: "reasoning_column"),
                  .init("*", "any")],
        parameters: [template, messagesColumn, generations, outputColumn, modelColumn, finishColumn, reasoningColumn, truncated]
            + llm.parameters,
        deterministic: false, reentrant: true, usesLLM: true)
        .planning(StepPlan(chat: "num_generations",
                           prompt: "(system_prompt | default('', true)) + (template | default('{instruction}', true)) if not messages_column else none"))

    let template: PromptTemplate
    /// The conversation column (messages_column), when it replaces the template.
    let messagesColumn: String?
    let generations: Int
    let outputColumn: String
    let modelColumn: String
    let finishColumn: String
    let reasoningColumn: String
    let truncatedIsError: Bool
    let settings: GenerationSettings

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        let text = try parameters[Self.template]
        let messages = try parameters[Self.messagesColumn]
        if text != nil && !messages.isEmpty {
            throw .invalidArgument("text_generation: give template or messages_column, not both")
        }
        template = try PromptTemplate(text ?? "{instruction}")
        messagesColumn = messages.isEmpty ? nil : messages
        generations = try parameters[Self.generations]
        outputColumn = try parameters[Self.outputColumn]
        modelColumn = try parameters[Self.modelColumn]
        finishColumn = try parameters[Self.finishColumn]
        reasoningColumn = try parameters[Self.reasoningColumn]
        truncatedIsError = try parameters[Self.truncated] == "error"
        settings = try Self.llm.settings(parameters)
    }

    var reads: [TaskInput] {
        if let messagesColumn {
            return [TaskInput(messagesColumn, .any, reason: "messages_column names it",
                              nulls: .rowErrorSaying("the conversation (messages_column) is null in this row"))]
                + settings.systemPlaceholders.filter { $0 != messagesColumn }.map { name in
                    TaskInput(name, .any, reason: "the system prompt reads it",
                              nulls: .rowErrorSaying("a column the system prompt reads is null in this row"))
                }
        }
        var names = template.placeholders
        let prompt = Set(names)
        names += settings.systemPlaceholders.filter { !prompt.contains($0) }
        return names.map { name in
            let why = prompt.contains(name) ? "the template" : "the system prompt"
            // A Jinja template may test a null (`x is none`); it says so itself if it prints one.
            let jinja = prompt.contains(name) ? template.isJinja : settings.systemTemplate?.isJinja == true
            return TaskInput(name, .any, reason: "\(why) reads it",
                             nulls: jinja ? .allowed : .rowErrorSaying("a column \(why) reads is null in this row"))
        }
    }

    var writes: [TaskOutput] {
        [TaskOutput(outputColumn, generations == 1 ? .text : .textList),
         TaskOutput(modelColumn, .text, keptOnRowError: true),
         TaskOutput(finishColumn, generations == 1 ? .text : .textList, keptOnRowError: true),
         TaskOutput(reasoningColumn, generations == 1 ? .text : .textList)]
    }

    func requests(for row: TaskRow) throws(RowError) -> [TaskRequest] {
        if let messagesColumn {
            let system = try settings.systemTemplate.map { (template) throws(RowError) in try template.render(row: row) }
                ?? settings.system
            let messages = try ChatMessages.json(row.promptText(messagesColumn), name: messagesColumn, system: system)
            return (0..<generations).map { generation in
                TaskRequest(LLMRequest(messagesJSON: messages, optionsJSON: settings.options(generation: generation),
                                       generation: generation))
            }
        }
        let prompt = try template.render(row: row)
        return try (0..<generations).map { generation throws(RowError) in
            try settings.request(prompt, row: row, generation: generation)
        }
    }

    func values(for row: TaskRow, answers: [TaskAnswer]) throws(RowError) -> [TaskValue] {
        if truncatedIsError, let cut = answers.firstIndex(where: { $0.finishReason == "length" }) {
            throw RowError("answer \(cut + 1) was cut off by max_tokens (finish_reason \"length\"; truncated: error)")
        }
        let model = TaskValue.text(answers.lazy.compactMap(\.model).first)
        if generations == 1 {
            return [.text(answers.first?.text), model, .text(answers.first?.finishReason), .text(answers.first?.reasoning)]
        }
        // A generation the server gave no reason or trace for reads "" in the lists.
        return [.textList(answers.map(\.text)), model, .textList(answers.map { $0.finishReason ?? "" }),
                .textList(answers.map { $0.reasoning ?? "" })]
    }
}
