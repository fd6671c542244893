import PluginKit

/// DEITA's response evolution (EvolQuality): k rounds of improving a row's
/// response to its instruction, keeping the original and every round.
struct EvolQuality: EvolutionStep {
    static let allMethods = ["helpfulness", "relevance", "deepening", "creativity", "details"]

    static let directives: [String: String] = [
        "helpfulness": "Make the response more helpful to the user who asked.",
        "relevance": "Make the response more relevant to the instruction and, where it gives details, more accurate.",
        "deepening": "Make the response go deeper into the subject.",
        "creativity": "Make the response more creative.",
        "details": "Add more useful details to the response.",
    ]

    // Written from the DEITA paper's description of quality evolution: the
    // response is improved by one method per round, by a small step.
    static let template = """
        You are a response rewriter. Rewrite the response below to the given instruction into a better version.

        Method: {method}

        Rules:
        - The rewritten response still answers the instruction, naturally, as a reply would.
        - It adds at most 10 to 20 words to the given response.
        - Write only the rewritten response: do not mention the method, these rules, or the labels Given Response and Rewritten Response.

        #Given Instruction#:
        {instruction}

        #Given Response#:
        {response}

        #Rewritten Response#:

        """

    static let instructionColumn = Parameter("instruction_column", default: "instruction", .minLength(1),
        description: "The instruction column.")
    static let responseColumn = Parameter("response_column", default: "response", .minLength(1),
        description: "The response column.")
    static let rounds = Parameter("rounds", default: 3, .minimum(1), .maximum(32), description: "Evolution rounds (k).")
    static let seed = Parameter<Int64>("seed", default: 42, description: "Seeds the method choice, with the row id and round.")
    static let methods = Parameter("methods", default: allMethods, .minItems(1), .uniqueItems, .eachOneOf(allMethods),
        description: "The methods drawn from, uniformly.")
    static let templateFile = Parameter<String?>("template_file", .inputPath, description: """
        Replaces the prompt template: a JSON object of method -> template, or one text template for every method. \
        Placeholders {instruction}, {response} and {method}.
        """)
    static let llm = GenerationParameters(system: "An optional system message for every request, a template over the row's columns like `template`.", systemTemplate: true)

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.evol_quality", name: "evol_quality", version: "1.0.0",
        description: """
            DEITA's response evolution: `rounds` rounds per row, each improving the previous round's response \
            to the row's instruction by one method (helpfulness, relevance, deepening, creativity, details), \
            drawn with SplitMix64 from (seed, _row_id, round): independent of batch boundaries and resumes. \
            Writes the original and every rewrite to evolved_responses (rounds+1, original first) and the \
            methods to evol_quality_methods. A failed request or an empty or degenerate rewrite makes the row \
            an error row. Calls per row: rounds.
            """,
        inputs: [.init("instruction", "utf8", description: "The instruction the response answers.", nameParam: "instruction_column"),
                 .init("response", "utf8", description: "The response to evolve.", nameParam: "response_column"),
                 .init("*", "any")],
        outputs: [.init("evolved_responses", "list<utf8>", description: "The original response and each round's rewrite."),
                  .init("evol_quality_methods", "list<utf8>", description: "The method of each round."),
                  .init("*", "any")],
        parameters: [instructionColumn, responseColumn, rounds, seed, methods, templateFile] + llm.parameters,
        deterministic: false, reentrant: true, usesLLM: true)
        .planning(StepPlan(chat: "rounds", depth: "rounds", lists: [("'evolved_responses'", "rounds + 1"), ("'evol_quality_methods'", "rounds")]))

    let instructionColumn: String
    let responseColumn: String
    let evolution: Evolution

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        instructionColumn = try parameters[Self.instructionColumn]
        responseColumn = try parameters[Self.responseColumn]
        let methods = try parameters[Self.methods]
        for method in methods where !Self.allMethods.contains(method) {
            throw .invalidArgument("evol_quality: unknown method \"\(method)\"")
        }
        var defaults: [String: String] = [:]
        for method in Self.allMethods { defaults[method] = Self.template }
        let templates = try DeitaSupport.methodTemplates(file: parameters[Self.templateFile], defaults: defaults,
                                                         allowed: ["instruction", "response", "method"], step: "evol_quality")
        evolution = Evolution(
            rounds: try parameters[Self.rounds], seed: try parameters[Self.seed], methods: methods,
            directives: Self.directives, templates: templates, subject: "response",
            markers: ["#Rewritten Response#:", "#Rewritten Response#"],
            markerWords: ["given response", "rewritten response"],
            settings: try Self.llm.settings(parameters), answerEach: false)
    }

    static let unusable = "the instruction or the response is null, or the response is empty"

    var reads: [TaskInput] {
        [.rowID, .text(instructionColumn, parameter: "instruction_column", nulls: .rowErrorSaying(Self.unusable)),
         .text(responseColumn, parameter: "response_column", nulls: .rowErrorSaying(Self.unusable))]
            + evolution.systemInputs.filter { $0.name != instructionColumn && $0.name != responseColumn }
    }

    var writes: [TaskOutput] {
        [TaskOutput("evolved_responses", .textList), TaskOutput("evol_quality_methods", .textList)]
    }

    func start(_ row: TaskRow) throws(RowError) -> Evolution.Work {
        guard let instruction = row.text(instructionColumn), let response = row.text(responseColumn),
              !RewriteParsing.trimmed(response).isEmpty else { throw RowError(Self.unusable) }
        return Evolution.Work(id: row.id ?? 0, system: try evolution.system(for: row), extra: ["instruction": instruction],
                              chain: [response])
    }

    func values(_ work: Evolution.Work) -> [TaskValue] { [.textList(work.chain), .textList(work.methods)] }
}
