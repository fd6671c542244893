import PipelineJSON
import PluginKit

/// LLM-as-judge. Pointwise: a 1-10 rating and a rationale for each answer,
/// on one aspect. Pairwise: answer A against answer B, asked twice with the
/// positions swapped, so a judge that prefers a position cancels out.
struct Judge: LLMTask {
    static let mode = Parameter("mode", default: "pointwise", .oneOf(["pointwise", "pairwise"]),
        description: "pointwise: a 1-10 rating and a rationale per answer; pairwise: A against B, asked in both orders.")
    static let instructionColumn = Parameter("instruction_column", default: "instruction", .minLength(1),
        description: "The instruction (prompt) the answers respond to.")
    static let answerColumn = Parameter("answer_column", default: "",
        description: "Pointwise: a utf8 column holding one answer per row (rating_column is float64, rationale_column utf8). Give it or answers_column; without either, answer_column is \"generation\".")
    static let answersColumn = Parameter("answers_column", default: "",
        description: "Pointwise: a list<utf8> column of several answers per row, each rated on its own (rating_column is list<float64>, rationale_column list<utf8>, aligned with the list).")
    static let answerA = Parameter("answer_a_column", default: "answer_a", .minLength(1),
        description: "Pairwise: the column of answer A.")
    static let answerB = Parameter("answer_b_column", default: "answer_b", .minLength(1),
        description: "Pairwise: the column of answer B.")
    static let aspect = Parameter("aspect", default: "overall",
        .oneOf(["overall", "helpfulness", "honesty", "instruction_following", "truthfulness"]),
        description: "What is judged: overall quality, or one of UltraFeedback's aspects (helpfulness, honesty, instruction_following, truthfulness).")
    static let structured = Parameter("structured", default: false,
        description: "Send response_format with a JSON Schema of the answer ({rating, rationale} or {verdict, rationale}; OpenAI's json_schema form), for servers that constrain output. Answers are parsed the same way either way.")
    static let ratingColumn = Parameter("rating_column", default: "rating", .minLength(1),
        description: "Pointwise: the column the rating goes to (float64, or list<float64> with answers_column).")
    static let rationaleColumn = Parameter("rationale_column", default: "rationale", .minLength(1),
        description: "The column the judge's rationale goes to (pairwise: list<utf8>, one per order).")
    static let verdictColumn = Parameter("verdict_column", default: "verdict", .minLength(1),
        description: "Pairwise: the column the verdict goes to: A, B, tie, or inconsistent (the two orders chose opposite answers).")
    static let ordersColumn = Parameter("orders_column", default: "verdict_orders", .minLength(1),
        description: "Pairwise: list<utf8> of what each order chose, in A/B terms: [A-first order, B-first order].")
    static let modelColumn = Parameter("model_name_column", default: "judge_model", .minLength(1),
        description: "The column the judge model's name goes to.")
    static let llm = GenerationParameters(systemTemplate: true, seed: "Passed to the server; makes requests cacheable.")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.judge", name: "judge", version: "1.0.0",
        description: """
            LLM-as-judge. pointwise: one request per answer asks for a 1-10 rating and a rationale on an aspect \
            (overall, or UltraFeedback's helpfulness, honesty, instruction_following, truthfulness); a single \
            answer column gives a float64 rating, a list column one rating per item. pairwise: answer A against \
            answer B, asked twice with the positions swapped; the verdict is A or B when both orders agree, tie \
            when both say tie or one does, inconsistent when the orders pick opposite answers (position bias). \
            The judgement is read from a JSON object anywhere in the answer, else from `Rating: n` / `Verdict: \
            1|2|tie` lines; structured: true also sends response_format with its JSON Schema. No readable \
            verdict, two different ones, or a rating outside 1-10 makes the row an error row quoting the raw \
            answer. Every input column passes through.
            """,
        inputs: [.init("instruction", "utf8", description: "The prompt the answers respond to.", nameParam: "instruction_column"),
                 .init("generation", "utf8", optional: true, description: "Pointwise: one answer per row.", nameParam: "answer_column"),
                 .init("answers", "list<utf8>", optional: true, description: "Pointwise: several answers per row.", nameParam: "answers_column"),
                 .init("answer_a", "utf8", optional: true, description: "Pairwise: answer A.", nameParam: "answer_a_column"),
                 .init("answer_b", "utf8", optional: true, description: "Pairwise: answer B.", nameParam: "answer_b_column"),
                 .init("*", "any")],
        outputs: [.init("rating", "float64", optional: true, description: "Pointwise: the rating, 1-10 (list<float64> with answers_column).", nameParam: "rating_column"),
                  .init("rationale", "utf8", description: "The judge's rationale (list<utf8> with answers_column or in pairwise mode).", nameParam: "rationale_column"),
                  .init("verdict", "utf8", optional: true, description: "Pairwise: A, B, tie or inconsistent.", nameParam: "verdict_column"),
                  .init("verdict_orders", "list<utf8>", optional: true, description: "Pairwise: each order's choice in A/B terms.", nameParam: "orders_column"),
                  .init("judge_model", "utf8", description: "The judge model.", nameParam: "model_name_column"),
                  .init("*", "any")],
        parameters: [mode, instructionColumn, answerColumn, answersColumn, answerA, answerB, aspect, structured,
                     ratingColumn, rationaleColumn, verdictColumn, ordersColumn, modelColumn] + llm.parameters,
        deterministic: false, reentrant: true, usesLLM: true)

    enum Answers {
        case single(String)
        case list(String)
        case pair(a: String, b: String)
    }

    let answers: Answers
    let instructionColumn: String
    let aspect: String
    let ratingColumn: String
    let rationaleColumn: String
    let verdictColumn: String
    let ordersColumn: String
    let modelColumn: String
    let settings: GenerationSettings

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        let single = try parameters[Self.answerColumn]
        let list = try parameters[Self.answersColumn]
        if try parameters[Self.mode] == "pairwise" {
            guard single.isEmpty, list.isEmpty else {
                throw .invalidArgument("judge: answer_column and answers_column are for mode pointwise; pairwise reads answer_a_column and answer_b_column")
            }
            answers = .pair(a: try parameters[Self.answerA], b: try parameters[Self.answerB])
        } else {
            guard single.isEmpty || list.isEmpty else { throw .invalidArgument("judge: give answer_column or answers_column, not both") }
            answers = list.isEmpty ? .single(single.isEmpty ? "generation" : single) : .list(list)
        }
        instructionColumn = try parameters[Self.instructionColumn]
        aspect = try parameters[Self.aspect]
        ratingColumn = try parameters[Self.ratingColumn]
        rationaleColumn = try parameters[Self.rationaleColumn]
        verdictColumn = try parameters[Self.verdictColumn]
        ordersColumn = try parameters[Self.ordersColumn]
        modelColumn = try parameters[Self.modelColumn]
        var settings = try Self.llm.settings(parameters)
        if try parameters[Self.structured] {
            let isPair: Bool
            if case .pair = answers { isPair = true } else { isPair = false }
            let format = #"{"json_schema":{"name":"judgement","schema":\#(isPair ? JudgePrompts.verdictSchema : JudgePrompts.ratingSchema)},"type":"json_schema"}"#
            let member = "\"response_format\":" + format
            if let given = settings.optionsJSON, given.count > 2 {
                settings.optionsJSON = String(given.dropLast()) + "," + member + "}"
            } else {
                settings.optionsJSON = "{" + member + "}"
            }
        }
        self.settings = settings
    }

    var reads: [TaskInput] {
        var inputs: [TaskInput] = [.text(instructionColumn, parameter: "instruction_column")]
        switch answers {
        case .single(let name): inputs.append(.text(name, parameter: "answer_column"))
        case .list(let name): inputs.append(.textList(name, parameter: "answers_column"))
        case .pair(let a, let b):
            inputs.append(.text(a, parameter: "answer_a_column"))
            inputs.append(.text(b, parameter: "answer_b_column"))
        }
        let named = Set(inputs.map(\.name))
        return inputs + settings.systemPlaceholders.filter { !named.contains($0) }.map { name in
            TaskInput(name, .any, reason: "the system prompt reads it",
                      nulls: .rowErrorSaying("a column the system prompt reads is null in this row"))
        }
    }

    var writes: [TaskOutput] {
        switch answers {
        case .single:
            [TaskOutput(ratingColumn, .typed(.float64)), TaskOutput(rationaleColumn, .text),
             TaskOutput(modelColumn, .text, keptOnRowError: true)]
        case .list:
            [TaskOutput(ratingColumn, .numberList), TaskOutput(rationaleColumn, .textList),
             TaskOutput(modelColumn, .text, keptOnRowError: true)]
        case .pair:
            [TaskOutput(verdictColumn, .text), TaskOutput(ordersColumn, .textList), TaskOutput(rationaleColumn, .textList),
             TaskOutput(modelColumn, .text, keptOnRowError: true)]
        }
    }

    func requests(for row: TaskRow) throws(RowError) -> [TaskRequest] {
        guard let instruction = row.text(instructionColumn) else { throw RowError("the instruction is null") }
        switch answers {
        case .single(let name):
            guard let answer = row.text(name) else { throw RowError("the answer is null") }
            return [try settings.request(JudgePrompts.rating(instruction: instruction, answer: answer, aspect: aspect), row: row)]
        case .list(let name):
            guard let items = row.textList(name), !items.isEmpty else { throw RowError("\(name) is null or empty") }
            return try items.enumerated().map { (index, item) throws(RowError) in
                guard let item else { throw RowError("\(name) item \(index + 1) is null") }
                return try settings.request(JudgePrompts.rating(instruction: instruction, answer: item, aspect: aspect),
                                            row: row, label: "answer \(index + 1)")
            }
        case .pair(let a, let b):
            guard let first = row.text(a), let second = row.text(b) else { throw RowError("answer A or B is null") }
            return [try settings.request(JudgePrompts.pair(instruction: instruction, first: first, second: second, aspect: aspect),
                                         row: row, label: "A first"),
                    try settings.request(JudgePrompts.pair(instruction: instruction, first: second, second: first, aspect: aspect),
                                         row: row, label: "B first")]
        }
    }

    func values(for row: TaskRow, answers given: [TaskAnswer]) throws(RowError) -> [TaskValue] {
        let model = TaskValue.text(given.lazy.compactMap(\.model).first)
        switch answers {
        case .single, .list:
            var ratings: [Double] = []
            var rationales: [String] = []
            for (index, answer) in given.enumerated() {
                switch JudgeParsing.rating(answer.text) {
                case .success(let rating):
                    ratings.append(rating.value)
                    rationales.append(rating.rationale)
                case .failure(let error):
                    let which = given.count > 1 ? "answer \(index + 1): " : ""
                    throw RowError("\(which)\(error.message) (judge answer: \(Self.quoted(answer.text)))")
                }
            }
            if case .single = answers {
                return [.json(ratings.first.map { .number($0) }), .text(rationales.first), model]
            }
            return [.numberList(ratings), .textList(rationales), model]
        case .pair:
            var choices: [String] = []
            var rationales: [String] = []
            for (order, answer) in given.enumerated() {
                switch JudgeParsing.verdict(answer.text) {
                case .success(let verdict):
                    // Order 0 shows A first, order 1 shows B first.
                    switch verdict.choice {
                    case .tie: choices.append("tie")
                    case .first: choices.append(order == 0 ? "A" : "B")
                    case .second: choices.append(order == 0 ? "B" : "A")
                    }
                    rationales.append(verdict.rationale)
                case .failure(let error):
                    throw RowError("\(order == 0 ? "A first" : "B first"): \(error.message) (judge answer: \(Self.quoted(answer.text)))")
                }
            }
            return [.text(Self.combine(choices)), .textList(choices), .textList(rationales), model]
        }
    }

    /// Both orders agree: their choice; opposite answers: inconsistent; one
    /// tie: tie.
    static func combine(_ choices: [String]) -> String {
        guard choices.count == 2 else { return "inconsistent" }
        if choices[0] == choices[1] { return choices[0] }
        if choices.contains("tie") { return "tie" }
        return "inconsistent"
    }

    /// The answer as a JSON string, cut after 500 characters.
    static func quoted(_ text: String) -> String {
        var out = ""
        JSONValue.writeString(text.count > 500 ? String(text.prefix(500)) + "…" : text, to: &out)
        return out
    }
}
