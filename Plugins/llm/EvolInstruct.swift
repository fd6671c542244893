import PluginKit

/// DEITA's instruction evolution (Evol-Instruct): k rounds of in-depth or
/// in-breadth rewrites per row, keeping the original and every round.
struct EvolInstruct: EvolutionStep {
    static let allMethods = ["constraints", "deepening", "concretizing", "reasoning", "breadth"]

    static let directives: [String: String] = [
        "constraints": "Add one more constraint or requirement that an answer has to satisfy.",
        "deepening": "Where the instruction touches a subject, ask about it in greater depth and breadth.",
        "concretizing": "Replace general concepts with more specific, concrete ones.",
        "reasoning": "If a few simple thinking steps would solve it, rewrite it so that it explicitly asks for reasoning in several steps.",
        "breadth": "Create a new, rarer instruction in the same domain.",
    ]

    // Written from the DEITA paper's description of Evol-Instruct (Liu et al.
    // 2023, after Xu et al.'s WizardLM): in-depth methods make the
    // instruction harder by a small step; in-breadth creates a new, rarer one.
    static let depthTemplate = """
        You are an instruction rewriter. Rewrite the instruction below into a more demanding version, one that a \
        capable AI assistant would find harder to handle well, while a person could still understand and answer it.

        Method: {method}

        Rules:
        - Keep every non-text part of the instruction (tables, code, formulas) unchanged.
        - The rewritten instruction adds at most 10 to 20 words and stays self-contained and answerable.
        - Write only the rewritten instruction: do not mention the method, these rules, or the labels Given Instruction and Rewritten Instruction.

        #Given Instruction#:
        {instruction}

        #Rewritten Instruction#:

        """

    static let breadthTemplate = """
        You are an instruction creator. Take the instruction below as inspiration and create a brand-new \
        instruction. It belongs to the same domain but is rarer, on a less common topic; it has a similar length \
        and difficulty, and a person can understand and answer it.

        Write only the new instruction: do not mention the labels Given Instruction and Created Instruction.

        #Given Instruction#:
        {instruction}

        #Created Instruction#:

        """

    static let column = Parameter("column", default: "instruction", .minLength(1), description: "The instruction column.")
    static let rounds = Parameter("rounds", default: 3, .minimum(1), .maximum(32),
        description: "Evolution rounds (k); each rewrites the previous round's output.")
    static let generateAnswers = Parameter("generate_answers", default: false,
        description: "Also answer each of the k+1 instructions (answers column).")
    static let seed = Parameter<Int64>("seed", default: 42, description: "Seeds the method choice, with the row id and round.")
    static let methods = Parameter("methods", default: allMethods, .minItems(1), .uniqueItems, .eachOneOf(allMethods),
        description: "The methods drawn from, uniformly.")
    static let templateFile = Parameter<String?>("template_file", .inputPath, description: """
        Replaces the prompt templates: a JSON object of method -> template, or one text template for every method. \
        Placeholders {instruction} and {method} (the method's directive).
        """)
    static let llm = GenerationParameters(system: "An optional system message for every request, a template over the row's columns like `template`.", systemTemplate: true)

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.evol_instruct", name: "evol_instruct", version: "1.0.0",
        description: """
            DEITA's instruction evolution: `rounds` rounds per row, each rewriting the previous round's \
            instruction in depth (constraints, deepening, concretizing, reasoning) or in breadth (a new, rarer \
            instruction of the same domain). The method of a row's round is drawn with SplitMix64 from \
            (seed, _row_id, round), so it never depends on batch boundaries and survives a resume. Writes the \
            original and every rewrite to evolved_instructions (rounds+1, original first), the methods used to \
            evol_instruct_methods and, with generate_answers, one answer per stored instruction to answers \
            (rounds+1). A failed request or an empty or degenerate rewrite (the input unchanged, or naming the \
            template's markers) makes the row an error row. Calls per row: rounds (+ rounds+1 with answers).
            """,
        inputs: [.init("instruction", "utf8", description: "The instruction to evolve.", nameParam: "column"),
                 .init("*", "any")],
        outputs: [.init("evolved_instructions", "list<utf8>", description: "The original and each round's rewrite."),
                  .init("evol_instruct_methods", "list<utf8>", description: "The method of each round."),
                  .init("answers", "list<utf8>", optional: true,
                        description: "With generate_answers: an answer to each evolved instruction, aligned."),
                  .init("*", "any")],
        parameters: [column, rounds, generateAnswers, seed, methods, templateFile] + llm.parameters,
        deterministic: false, reentrant: true, usesLLM: true)
        .planning(StepPlan(chat: "rounds + (rounds + 1 if generate_answers else 0)",
                           depth: "rounds + (1 if generate_answers else 0)",
                           lists: [("'evolved_instructions'", "rounds + 1"), ("'evol_instruct_methods'", "rounds"),
                                   ("'answers'", "rounds + 1")]))

    let column: String
    let evolution: Evolution

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        column = try parameters[Self.column]
        let methods = try parameters[Self.methods]
        for method in methods where !Self.allMethods.contains(method) {
            throw .invalidArgument("evol_instruct: unknown method \"\(method)\"")
        }
        var defaults: [String: String] = [:]
        for method in Self.allMethods { defaults[method] = method == "breadth" ? Self.breadthTemplate : Self.depthTemplate }
        let templates = try DeitaSupport.methodTemplates(file: parameters[Self.templateFile], defaults: defaults,
                                                         allowed: ["instruction", "method"], step: "evol_instruct")
        evolution = Evolution(
            rounds: try parameters[Self.rounds], seed: try parameters[Self.seed], methods: methods,
            directives: Self.directives, templates: templates, subject: "instruction",
            markers: ["#Rewritten Instruction#:", "#Created Instruction#:", "#Rewritten Instruction#", "#Created Instruction#",
                      "#Rewritten Prompt#:", "#Created Prompt#:"],
            markerWords: ["given instruction", "rewritten instruction", "created instruction",
                          "#given prompt#", "#rewritten prompt#", "#created prompt#"],
            settings: try Self.llm.settings(parameters), answerEach: try parameters[Self.generateAnswers])
    }

    var reads: [TaskInput] {
        [.rowID, .text(column, parameter: "column", nulls: .rowErrorSaying("the instruction is null or empty"))]
            + evolution.systemInputs.filter { $0.name != column }
    }

    var writes: [TaskOutput] {
        [TaskOutput("evolved_instructions", .textList), TaskOutput("evol_instruct_methods", .textList)]
            + (evolution.answerEach ? [TaskOutput("answers", .textList)] : [])
    }

    func start(_ row: TaskRow) throws(RowError) -> Evolution.Work {
        guard let text = row.text(column), !RewriteParsing.trimmed(text).isEmpty else {
            throw RowError("the instruction is null or empty")
        }
        return Evolution.Work(id: row.id ?? 0, system: try evolution.system(for: row), extra: [:], chain: [text])
    }

    func values(_ work: Evolution.Work) -> [TaskValue] {
        [.textList(work.chain), .textList(work.methods)] + (evolution.answerEach ? [.textList(work.answers)] : [])
    }
}
