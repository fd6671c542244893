import PluginKit

/// One scoring call per row over a list column, shared by
/// complexity_scorer and quality_scorer.
struct ListScorer {
    let step: String
    let listColumn: String
    let instructionColumn: String?
    let outputColumn: String
    let template: FilledTemplate
    let format: ScoreParsing.Format
    let system: String?
    let options: String?

    static let lineFormat = """
        Answer with one line per item, in this form:
        [1] Score: <score>
        [2] Score: <score>
        and so on, one line for each of the items.
        """
    static let jsonFormat = """
        Answer with a JSON object holding one score per item, in the items' order: {"scores": [<score of item 1>, <score of item 2>, ...]}
        """

    func process(_ batch: RecordBatch, context: StepContext) throws(StepError) -> RecordBatch {
        guard let list = batch.column(listColumn) else {
            throw .invalidData("\(step): no column \"\(listColumn)\"; the input has \(batch.fields.map(\.name).joined(separator: ", "))")
        }
        guard case .list(let item) = list.type, item.type == .utf8 || item.type == .largeUtf8 else {
            throw .invalidData("\(step): column \"\(listColumn)\" is \(list.type.displayName), not list<utf8>")
        }
        var instructions: ArrowColumn?
        if let instructionColumn {
            instructions = try DeitaSupport.stringColumn(batch, instructionColumn, step: step, param: "instruction_column")
        }
        var errors = [String?](repeating: nil, count: batch.length)
        var counts = [Int](repeating: 0, count: batch.length)
        var requests: [LLMRequest] = []
        var rowOf: [Int] = []
        for row in 0..<batch.length {
            guard let items = list.stringList(row), !items.isEmpty, !items.contains(where: { $0 == nil }) else {
                errors[row] = "\(step): \(listColumn) is null, empty or has a null item"
                continue
            }
            var values = ["count": String(items.count), "max": String(items.count + 1),
                          "format_instructions": format == .json ? Self.jsonFormat : Self.lineFormat,
                          "items": items.enumerated().map { "[\($0.offset + 1)] \($0.element ?? "")" }.joined(separator: "\n")]
            if let instructions {
                guard instructions.isValid(row), let text = instructions.string(row) else {
                    errors[row] = "\(step): the instruction is null"
                    continue
                }
                values["instruction"] = text
            }
            counts[row] = items.count
            requests.append(LLMRequest(prompt: template.render(values), system: system, optionsJSON: options))
            rowOf.append(row)
        }
        let responses = try context.complete(requests)
        var scores = [[Double]](repeating: [], count: batch.length)
        for (index, response) in responses.enumerated() {
            let row = rowOf[index]
            guard let text = response.text else {
                errors[row] = "\(step): \(response.error ?? "the request failed")"
                continue
            }
            switch ScoreParsing.parse(text, count: counts[row], format: format) {
            case .success(let values): scores[row] = values
            case .failure(let error):
                let excerpt = text.count > 200 ? String(text.prefix(200)) + "…" : text
                errors[row] = "\(step): \(error.message) (answer: \(excerpt.debugDescription))"
            }
        }
        let output = ColumnBuilder(.float64List)
        for row in 0..<batch.length {
            if errors[row] == nil { output.append(doubles: scores[row]) } else { output.appendNull() }
        }
        return try DeitaSupport.assemble(batch, outputs: [(ArrowField(outputColumn, .float64List), output.finish())], errors: errors)
    }
}

/// DEITA's complexity scorer: ranks a row's instructions by difficulty.
struct ComplexityScorer: PipelineStep {
    struct Parameters: Decodable {
        var instructions: String
        var output_column: String
        var format: String
        var template_file: String?
        var system_prompt: String?
        var temperature: Double?
        var max_tokens: Int?
        var seed: Int?
    }

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
        parameterSchema: """
            {"type":"object","additionalProperties":false,
             "properties":{
               "instructions":{"type":"string","minLength":1,"default":"evolved_instructions","description":"The list<utf8> column to rank."},
               "output_column":{"type":"string","minLength":1,"default":"complexity_scores","description":"The list<float64> scores column."},
               "format":{"enum":["lines","json"],"default":"lines","description":"lines: `[i] Score: s`; json: {\\"scores\\": [...]} (lines are still accepted)."},
               "template_file":{"type":"string","format":"input-path","description":"Replaces the prompt template. Placeholders {items} ([i] lines), {count}, {max} (count+1), {format_instructions}."},
               "system_prompt":{"type":"string","description":"An optional system message."},
               "temperature":{"type":"number","minimum":0,"maximum":2,"description":"Overrides the LLM's default."},
               "max_tokens":{"type":"integer","minimum":1,"description":"Overrides the LLM's default."},
               "seed":{"type":"integer","description":"Passed to the server."}}}
            """,
        deterministic: false, reentrant: true, usesLLM: true)

    let scorer: ListScorer

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        let text = try parameters.template_file.map { (path) throws(StepError) in try DeitaSupport.readFile(path, step: "complexity_scorer") }
            ?? Self.template
        scorer = ListScorer(
            step: "complexity_scorer", listColumn: parameters.instructions, instructionColumn: nil,
            outputColumn: parameters.output_column,
            template: try FilledTemplate(text, allowed: ["items", "count", "max", "format_instructions"], step: "complexity_scorer"),
            format: ScoreParsing.Format(rawValue: parameters.format) ?? .lines, system: parameters.system_prompt,
            options: DeitaSupport.options(temperature: parameters.temperature, maxTokens: parameters.max_tokens,
                                          topP: nil, seed: parameters.seed))
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        return try scorer.process(batch, context: context)
    }
}

/// DEITA's quality scorer: scores a row's responses to its instruction.
struct QualityScorer: PipelineStep {
    struct Parameters: Decodable {
        var responses: String
        var instruction_column: String
        var output_column: String
        var format: String
        var template_file: String?
        var system_prompt: String?
        var temperature: Double?
        var max_tokens: Int?
        var seed: Int?
    }

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
        parameterSchema: """
            {"type":"object","additionalProperties":false,
             "properties":{
               "responses":{"type":"string","minLength":1,"default":"evolved_responses","description":"The list<utf8> column to score."},
               "instruction_column":{"type":"string","minLength":1,"default":"instruction","description":"The instruction column."},
               "output_column":{"type":"string","minLength":1,"default":"quality_scores","description":"The list<float64> scores column."},
               "format":{"enum":["lines","json"],"default":"lines","description":"lines: `[i] Score: s`; json: {\\"scores\\": [...]} (lines are still accepted)."},
               "template_file":{"type":"string","format":"input-path","description":"Replaces the prompt template. Placeholders {instruction}, {items} ([i] lines), {count}, {max} (count+1), {format_instructions}."},
               "system_prompt":{"type":"string","description":"An optional system message."},
               "temperature":{"type":"number","minimum":0,"maximum":2,"description":"Overrides the LLM's default."},
               "max_tokens":{"type":"integer","minimum":1,"description":"Overrides the LLM's default."},
               "seed":{"type":"integer","description":"Passed to the server."}}}
            """,
        deterministic: false, reentrant: true, usesLLM: true)

    let scorer: ListScorer

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        let text = try parameters.template_file.map { (path) throws(StepError) in try DeitaSupport.readFile(path, step: "quality_scorer") }
            ?? Self.template
        scorer = ListScorer(
            step: "quality_scorer", listColumn: parameters.responses, instructionColumn: parameters.instruction_column,
            outputColumn: parameters.output_column,
            template: try FilledTemplate(text, allowed: ["instruction", "items", "count", "max", "format_instructions"],
                                         step: "quality_scorer"),
            format: ScoreParsing.Format(rawValue: parameters.format) ?? .lines, system: parameters.system_prompt,
            options: DeitaSupport.options(temperature: parameters.temperature, maxTokens: parameters.max_tokens,
                                          topP: nil, seed: parameters.seed))
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        return try scorer.process(batch, context: context)
    }
}
