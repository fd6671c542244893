import PluginKit

/// DEITA's response evolution (EvolQuality): k rounds of improving a row's
/// response to its instruction, keeping the original and every round.
struct EvolQuality: PipelineStep {
    struct Parameters: Decodable {
        var instruction_column: String
        var response_column: String
        var rounds: Int
        var seed: Int64
        var methods: [String]
        var template_file: String?
        var system_prompt: String?
        var temperature: Double?
        var max_tokens: Int?
        var top_p: Double?
    }

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
        parameterSchema: """
            {"type":"object","additionalProperties":false,
             "properties":{
               "instruction_column":{"type":"string","minLength":1,"default":"instruction","description":"The instruction column."},
               "response_column":{"type":"string","minLength":1,"default":"response","description":"The response column."},
               "rounds":{"type":"integer","minimum":1,"maximum":32,"default":3,"description":"Evolution rounds (k)."},
               "seed":{"type":"integer","default":42,"description":"Seeds the method choice, with the row id and round."},
               "methods":{"type":"array","minItems":1,"uniqueItems":true,"items":{"enum":["helpfulness","relevance","deepening","creativity","details"]},
                          "default":["helpfulness","relevance","deepening","creativity","details"],"description":"The methods drawn from, uniformly."},
               "template_file":{"type":"string","format":"input-path","description":"Replaces the prompt template: a JSON object of method -> template, or one text template for every method. Placeholders {instruction}, {response} and {method}."},
               "system_prompt":{"type":"string","description":"An optional system message for every request."},
               "temperature":{"type":"number","minimum":0,"maximum":2,"description":"Overrides the LLM's default."},
               "max_tokens":{"type":"integer","minimum":1,"description":"Overrides the LLM's default."},
               "top_p":{"type":"number","exclusiveMinimum":0,"maximum":1,"description":"Overrides the LLM's default."}}}
            """,
        deterministic: false, reentrant: true, usesLLM: true)

    let instructionColumn: String
    let responseColumn: String
    let loop: EvolutionLoop

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        instructionColumn = parameters.instruction_column
        responseColumn = parameters.response_column
        for method in parameters.methods where !Self.allMethods.contains(method) {
            throw .invalidArgument("evol_quality: unknown method \"\(method)\"")
        }
        var defaults: [String: String] = [:]
        for method in Self.allMethods { defaults[method] = Self.template }
        let templates = try DeitaSupport.methodTemplates(file: parameters.template_file, defaults: defaults,
                                                         allowed: ["instruction", "response", "method"], step: "evol_quality")
        loop = EvolutionLoop(
            step: "evol_quality", rounds: parameters.rounds, seed: parameters.seed, methods: parameters.methods,
            directives: Self.directives, templates: templates, subject: "response",
            markers: ["#Rewritten Response#:", "#Rewritten Response#"],
            markerWords: ["given response", "rewritten response"],
            system: parameters.system_prompt,
            options: DeitaSupport.options(temperature: parameters.temperature, maxTokens: parameters.max_tokens,
                                          topP: parameters.top_p, seed: nil))
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let ids = try DeitaSupport.rowIDs(batch, step: "evol_quality")
        let instructions = try DeitaSupport.stringColumn(batch, instructionColumn, step: "evol_quality", param: "instruction_column")
        let responses = try DeitaSupport.stringColumn(batch, responseColumn, step: "evol_quality", param: "response_column")
        var starts: [String?] = []
        var extra: [[String: String]] = []
        var errors: [String?] = []
        for row in 0..<batch.length {
            let instruction = instructions.isValid(row) ? instructions.string(row) : nil
            let response = responses.isValid(row) ? responses.string(row) : nil
            if let instruction, let response, !RewriteParsing.trimmed(response).isEmpty {
                starts.append(response)
                extra.append(["instruction": instruction])
                errors.append(nil)
            } else {
                starts.append(nil)
                extra.append([:])
                errors.append("evol_quality: the instruction or the response is null, or the response is empty")
            }
        }
        let outcome = try loop.run(ids: ids, starts: starts, extra: extra, errors: errors, context: context)
        let evolved = ColumnBuilder(.utf8List)
        let methods = ColumnBuilder(.utf8List)
        for row in 0..<batch.length {
            if outcome.errors[row] == nil {
                evolved.append(strings: outcome.chains[row])
                methods.append(strings: outcome.methods[row])
            } else {
                evolved.appendNull()
                methods.appendNull()
            }
        }
        return try DeitaSupport.assemble(batch, outputs: [(ArrowField("evolved_responses", .utf8List), evolved.finish()),
                                                          (ArrowField("evol_quality_methods", .utf8List), methods.finish())],
                                         errors: outcome.errors)
    }
}
