import PluginKit

/// DEITA's instruction evolution (Evol-Instruct): k rounds of in-depth or
/// in-breadth rewrites per row, keeping the original and every round.
struct EvolInstruct: PipelineStep {
    struct Parameters: Decodable {
        var column: String
        var rounds: Int
        var generate_answers: Bool
        var seed: Int64
        var methods: [String]
        var template_file: String?
        var system_prompt: String?
        var temperature: Double?
        var max_tokens: Int?
        var top_p: Double?
    }

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
        parameterSchema: """
            {"type":"object","additionalProperties":false,
             "properties":{
               "column":{"type":"string","minLength":1,"default":"instruction","description":"The instruction column."},
               "rounds":{"type":"integer","minimum":1,"maximum":32,"default":3,"description":"Evolution rounds (k); each rewrites the previous round's output."},
               "generate_answers":{"type":"boolean","default":false,"description":"Also answer each of the k+1 instructions (answers column)."},
               "seed":{"type":"integer","default":42,"description":"Seeds the method choice, with the row id and round."},
               "methods":{"type":"array","minItems":1,"uniqueItems":true,"items":{"enum":["constraints","deepening","concretizing","reasoning","breadth"]},
                          "default":["constraints","deepening","concretizing","reasoning","breadth"],"description":"The methods drawn from, uniformly."},
               "template_file":{"type":"string","format":"input-path","description":"Replaces the prompt templates: a JSON object of method -> template, or one text template for every method. Placeholders {instruction} and {method} (the method's directive)."},
               "system_prompt":{"type":"string","description":"An optional system message for every request."},
               "temperature":{"type":"number","minimum":0,"maximum":2,"description":"Overrides the LLM's default."},
               "max_tokens":{"type":"integer","minimum":1,"description":"Overrides the LLM's default."},
               "top_p":{"type":"number","exclusiveMinimum":0,"maximum":1,"description":"Overrides the LLM's default."}}}
            """,
        deterministic: false, reentrant: true, usesLLM: true)

    let column: String
    let generateAnswers: Bool
    let loop: EvolutionLoop

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        column = parameters.column
        generateAnswers = parameters.generate_answers
        for method in parameters.methods where !Self.allMethods.contains(method) {
            throw .invalidArgument("evol_instruct: unknown method \"\(method)\"")
        }
        var defaults: [String: String] = [:]
        for method in Self.allMethods { defaults[method] = method == "breadth" ? Self.breadthTemplate : Self.depthTemplate }
        let templates = try DeitaSupport.methodTemplates(file: parameters.template_file, defaults: defaults,
                                                         allowed: ["instruction", "method"], step: "evol_instruct")
        loop = EvolutionLoop(
            step: "evol_instruct", rounds: parameters.rounds, seed: parameters.seed, methods: parameters.methods,
            directives: Self.directives, templates: templates, subject: "instruction",
            markers: ["#Rewritten Instruction#:", "#Created Instruction#:", "#Rewritten Instruction#", "#Created Instruction#",
                      "#Rewritten Prompt#:", "#Created Prompt#:"],
            markerWords: ["given instruction", "rewritten instruction", "created instruction",
                          "#given prompt#", "#rewritten prompt#", "#created prompt#"],
            system: parameters.system_prompt,
            options: DeitaSupport.options(temperature: parameters.temperature, maxTokens: parameters.max_tokens,
                                          topP: parameters.top_p, seed: nil))
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let ids = try DeitaSupport.rowIDs(batch, step: "evol_instruct")
        let input = try DeitaSupport.stringColumn(batch, column, step: "evol_instruct", param: "column")
        var starts: [String?] = []
        var errors: [String?] = []
        for row in 0..<batch.length {
            let text = input.isValid(row) ? (input.string(row) ?? "") : nil
            if let text, !RewriteParsing.trimmed(text).isEmpty {
                starts.append(text)
                errors.append(nil)
            } else {
                starts.append(nil)
                errors.append("evol_instruct: the instruction is null or empty")
            }
        }
        var outcome = try loop.run(ids: ids, starts: starts, extra: Array(repeating: [:], count: batch.length),
                                   errors: errors, context: context)
        var answers = [[String]](repeating: [], count: batch.length)
        if generateAnswers {
            var requests: [LLMRequest] = []
            var rowOf: [Int] = []
            for row in 0..<batch.length where outcome.errors[row] == nil {
                for instruction in outcome.chains[row] {
                    requests.append(LLMRequest(prompt: instruction, system: loop.system, optionsJSON: loop.options))
                    rowOf.append(row)
                }
            }
            let responses = try context.complete(requests)
            for (index, response) in responses.enumerated() {
                let row = rowOf[index]
                guard outcome.errors[row] == nil else { continue }
                guard let text = response.text else {
                    outcome.errors[row] = "evol_instruct: answer \(answers[row].count + 1): \(response.error ?? "the request failed")"
                    continue
                }
                let answer = RewriteParsing.trimmed(text)
                if answer.isEmpty {
                    outcome.errors[row] = "evol_instruct: answer \(answers[row].count + 1) is empty"
                    continue
                }
                answers[row].append(answer)
            }
        }
        let evolved = ColumnBuilder(.utf8List)
        let methods = ColumnBuilder(.utf8List)
        let answerColumn = ColumnBuilder(.utf8List)
        for row in 0..<batch.length {
            if outcome.errors[row] == nil {
                evolved.append(strings: outcome.chains[row])
                methods.append(strings: outcome.methods[row])
                answerColumn.append(strings: answers[row])
            } else {
                evolved.appendNull()
                methods.appendNull()
                answerColumn.appendNull()
            }
        }
        var outputs = [(ArrowField("evolved_instructions", .utf8List), evolved.finish()),
                       (ArrowField("evol_instruct_methods", .utf8List), methods.finish())]
        if generateAnswers { outputs.append((ArrowField("answers", .utf8List), answerColumn.finish())) }
        return try DeitaSupport.assemble(batch, outputs: outputs, errors: outcome.errors)
    }
}
