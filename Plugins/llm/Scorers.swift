import PluginKit

/// One scoring request per row over a list column, shared by
/// complexity_scorer and quality_scorer.
struct ListScorer: Sendable {
    let listColumn: String
    /// The parameter that names `listColumn`.
    let listParameter: String
    let instructionColumn: String?
    let outputColumn: String
    let template: PromptTemplate
    let format: ScoreParsing.Format
    let settings: GenerationSettings

    static let format = Parameter("format", default: "lines", .oneOf(["lines", "json"]),
        description: #"lines: `[i] Score: s`; json: {"scores": [...]} (lines are still accepted)."#)
    static let outputDescription = "The list<float64> scores column."

    static let lineFormat = """
        Answer with one line per item, in this form:
        [1] Score: <score>
        [2] Score: <score>
        and so on, one line for each of the items.
        """
    static let jsonFormat = """
        Answer with a JSON object holding one score per item, in the items' order: {"scores": [<score of item 1>, <score of item 2>, ...]}
        """

    /// `template`: the step's own, unless template_file replaces it.
    init(_ parameters: ParameterValues, step: String, list: Parameter<String>, instruction: Parameter<String>?,
         output: Parameter<String>, templateFile: Parameter<String?>, template: String, placeholders: Set<String>,
         llm: GenerationParameters) throws(StepError) {
        listColumn = try parameters[list]
        listParameter = list.name
        instructionColumn = try instruction.map { (instruction) throws(StepError) in try parameters[instruction] }
        outputColumn = try parameters[output]
        let text = try parameters[templateFile].map { (path) throws(StepError) in try DeitaSupport.readFile(path, step: step) }
        self.template = try DeitaSupport.template(text ?? template, allowed: placeholders, step: step)
        format = ScoreParsing.Format(rawValue: try parameters[Self.format]) ?? .lines
        settings = try llm.settings(parameters)
    }
}

/// complexity_scorer and quality_scorer: their rows are `scorer`'s.
protocol ListScoringStep: LLMTask {
    var scorer: ListScorer { get }
}

extension ListScoringStep {
    var reads: [TaskInput] {
        [.textList(scorer.listColumn, parameter: scorer.listParameter, nulls: .allowed)]
            + (scorer.instructionColumn.map { [.text($0, parameter: "instruction_column", nulls: .allowed)] } ?? [])
            + scorer.settings.systemPlaceholders.filter { $0 != scorer.listColumn && $0 != scorer.instructionColumn }.map { name in
                TaskInput(name, .any, reason: "the system prompt reads it",
                          nulls: .rowErrorSaying("a column the system prompt reads is null in this row"))
            }
    }

    var writes: [TaskOutput] { [TaskOutput(scorer.outputColumn, .numberList)] }

    func requests(for row: TaskRow) throws(RowError) -> [TaskRequest] {
        guard let items = row.textList(scorer.listColumn), !items.isEmpty, !items.contains(where: { $0 == nil }) else {
            throw RowError("\(scorer.listColumn) is null, empty or has a null item")
        }
        var values = ["count": String(items.count), "max": String(items.count + 1),
                      "format_instructions": scorer.format == .json ? ListScorer.jsonFormat : ListScorer.lineFormat,
                      "items": items.enumerated().map { "[\($0.offset + 1)] \($0.element ?? "")" }.joined(separator: "\n")]
        if let column = scorer.instructionColumn {
            guard let text = row.text(column) else { throw RowError("the instruction is null") }
            values["instruction"] = text
        }
        return [try scorer.settings.request(scorer.template.render(values), row: row)]
    }

    func values(for row: TaskRow, answers: [TaskAnswer]) throws(RowError) -> [TaskValue] {
        guard let text = answers.first?.text else { return [.numberList(nil)] }
        switch ScoreParsing.parse(text, count: row.textList(scorer.listColumn)?.count ?? 0, format: scorer.format) {
        case .success(let scores): return [.numberList(scores)]
        case .failure(let error):
            let excerpt = text.count > 200 ? String(text.prefix(200)) + "…" : text
            throw RowError("\(error.message) (answer: \(excerpt.debugDescription))")
        }
    }
}

/// DEITA's complexity scorer: ranks a row's instructions by difficulty.
struct ComplexityScorer: ListScoringStep {
    static let instructions = Parameter("instructions", default: "evolved_instructions", .minLength(1),
        description: "The list<utf8> column to rank.")
    static let outputColumn = Parameter("output_column", default: "complexity_scores", .minLength(1),
        description: ListScorer.outputDescription)
    static let templateFile = Parameter<String?>("template_file", .inputPath,
        description: "Replaces the prompt template. Placeholders {items} ([i] lines), {count}, {max} (count+1), {format_instructions}.")
    static let llm = GenerationParameters(systemTemplate: true, topP: false, seed: "Passed to the server.")

    // Written from the DEITA paper's description of complexity ranking: all
    // variants of one instruction are scored together, so the scores are
    // comparable within the group.
    static let template = """
        Rank the following {count} instructions by their complexity, that is, by how difficult each one is to \
        answer well. Give every instruction a score (Score 1-{count}): 1 for the simplest and {count} for the most \
        complex; {max} is allowed for an instruction too complex to answer at all.
        {format_instructions}

        Instructions:
        {items}

        """

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.complexity_scorer", name: "complexity_scorer", version: "1.0.0",
        description: """
            DEITA's complexity scorer: one request per row ranks the instructions of a list column by difficulty; \
            writes complexity_scores (list<float64>, aligned with the list). Scores are read from `[i] Score: s` \
            anywhere in the answer, by the bracket index (or {"scores": [...]} with format json); a missing, \
            contradictory or out-of-range (outside 1..n+1) score fails the whole row, naming the items — never a \
            shifted list or a null.
            """,
        inputs: [.init("evolved_instructions", "list<utf8>", description: "The instructions to rank.", nameParam: "instructions"),
                 .init("*", "any")],
        outputs: [.init("complexity_scores", "list<float64>", nameParam: "output_column"), .init("*", "any")],
        parameters: [instructions, outputColumn, ListScorer.format, templateFile] + llm.parameters,
        deterministic: false, reentrant: true, usesLLM: true)
        .planning(StepPlan(chat: "1", lists: [("output_column", "list_lengths[instructions]")]))

    let scorer: ListScorer

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        scorer = try ListScorer(parameters, step: "complexity_scorer", list: Self.instructions, instruction: nil,
                                output: Self.outputColumn, templateFile: Self.templateFile, template: Self.template,
                                placeholders: ["items", "count", "max", "format_instructions"], llm: Self.llm)
    }
}

/// DEITA's quality scorer: scores a row's responses to its instruction.
struct QualityScorer: ListScoringStep {
    static let responses = Parameter("responses", default: "evolved_responses", .minLength(1),
        description: "The list<utf8> column to score.")
    static let instructionColumn = Parameter("instruction_column", default: "instruction", .minLength(1),
        description: "The instruction column.")
    static let outputColumn = Parameter("output_column", default: "quality_scores", .minLength(1),
        description: ListScorer.outputDescription)
    static let templateFile = Parameter<String?>("template_file", .inputPath, description: """
        Replaces the prompt template. Placeholders {instruction}, {items} ([i] lines), {count}, {max} (count+1), \
        {format_instructions}.
        """)
    static let llm = GenerationParameters(systemTemplate: true, topP: false, seed: "Passed to the server.")

    // Written from the DEITA paper's description of quality ranking: all
    // variants of one response are scored together for their instruction.
    static let template = """
        Score the quality of each of the following {count} responses to the instruction below: how helpful, \
        relevant, accurate, deep, creative and detailed it is. Give every response a score (Score 1-{count}): \
        1 for the worst and {count} for the best; {max} is allowed for a response that cannot be improved.
        {format_instructions}

        #Instruction#:
        {instruction}

        #Responses#:
        {items}

        """

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.quality_scorer", name: "quality_scorer", version: "1.0.0",
        description: """
            DEITA's quality scorer: one request per row scores the responses of a list column for the row's \
            instruction; writes quality_scores (list<float64>, aligned with the list). Scores are read from \
            `[i] Score: s` anywhere in the answer, by the bracket index (or {"scores": [...]} with format json); \
            a missing, contradictory or out-of-range (outside 1..n+1) score fails the whole row, naming the items.
            """,
        inputs: [.init("evolved_responses", "list<utf8>", description: "The responses to score.", nameParam: "responses"),
                 .init("instruction", "utf8", description: "The instruction they answer.", nameParam: "instruction_column"),
                 .init("*", "any")],
        outputs: [.init("quality_scores", "list<float64>", nameParam: "output_column"), .init("*", "any")],
        parameters: [responses, instructionColumn, outputColumn, ListScorer.format, templateFile] + llm.parameters,
        deterministic: false, reentrant: true, usesLLM: true)
        .planning(StepPlan(chat: "1", lists: [("output_column", "list_lengths[responses]")]))

    let scorer: ListScorer

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        scorer = try ListScorer(parameters, step: "quality_scorer", list: Self.responses, instruction: Self.instructionColumn,
                                output: Self.outputColumn, templateFile: Self.templateFile, template: Self.template,
                                placeholders: ["instruction", "items", "count", "max", "format_instructions"], llm: Self.llm)
    }
}
