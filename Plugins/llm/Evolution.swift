import PluginKit

/// The k-round evolution shared by evol_instruct and evol_quality. Round r
/// rewrites the output of round r-1 by a method drawn from (seed, _row_id,
/// r); all rows of the batch are in flight together in each round. With
/// `answerEach`, a last round answers every text of the chain. A failed
/// request or a degenerate rewrite makes the row an error row; it sends
/// nothing more.
struct Evolution: Sendable {
    let rounds: Int
    let seed: Int64
    let methods: [String]
    let directives: [String: String]
    let templates: [String: PromptTemplate]
    /// The placeholder the evolving text goes into.
    let subject: String
    let markers: [String]
    let markerWords: [String]
    let settings: GenerationSettings
    let answerEach: Bool

    /// A row's evolution.
    struct Work {
        let id: UInt64
        /// The system message of the row's requests (system_prompt rendered
        /// from its columns), nil for none.
        var system: String? = nil
        /// The template's other placeholders (evol_quality's instruction).
        let extra: [String: String]
        /// The original, then each round's rewrite.
        var chain: [String]
        var methods: [String] = []
        var answers: [String] = []
    }

    func requests(_ work: inout Work, round: Int) throws(RowError) -> [TaskRequest] {
        guard round < rounds else {
            guard answerEach, round == rounds else { return [] }
            return work.chain.enumerated().map { request($0.element, work, label: "answer \($0.offset + 1)") }
        }
        guard let current = work.chain.last else { return [] }
        let choice = SplitMix64.choice(seed: seed, row: work.id, round: round + 1, count: methods.count)
        guard methods.indices.contains(choice), let template = templates[methods[choice]] else {
            throw RowError("no template for method \(choice + 1) of \(methods.count)")
        }
        let method = methods[choice]
        var values = work.extra
        values[subject] = current
        values["method"] = directives[method] ?? method
        work.methods.append(method)
        return [request(template.render(values), work, label: "round \(round + 1) (\(method))")]
    }

    private func request(_ prompt: String, _ work: Work, label: String) -> TaskRequest {
        TaskRequest(LLMRequest(prompt: prompt, system: work.system ?? settings.system,
                               optionsJSON: settings.options(generation: 0)), label: label)
    }

    /// The row's system message: system_prompt rendered from its columns.
    func system(for row: TaskRow) throws(RowError) -> String? {
        guard let template = settings.systemTemplate else { return settings.system }
        do throws(RowError) { return try template.render(row: row) } catch {
            throw RowError("system prompt: \(error.message)")
        }
    }

    /// What the system prompt reads, for `reads` (nulls make error rows).
    var systemInputs: [TaskInput] {
        settings.systemPlaceholders.map { name in
            TaskInput(name, .any, reason: "the system prompt reads it",
                      nulls: .rowErrorSaying("a column the system prompt reads is null in this row"))
        }
    }

    func receive(_ answer: TaskAnswer, _ work: inout Work) throws(RowError) {
        guard answer.round < rounds else {
            let text = RewriteParsing.trimmed(answer.text)
            if text.isEmpty { throw RowError("answer \(work.answers.count + 1) is empty") }
            work.answers.append(text)
            return
        }
        let rewrite = RewriteParsing.afterMarker(answer.text, markers: markers)
        if let problem = RewriteParsing.degenerate(rewrite, input: work.chain.last ?? "", markerWords: markerWords) {
            throw RowError("round \(answer.round + 1) (\(work.methods.last ?? "?")): \(problem)")
        }
        work.chain.append(rewrite)
    }
}

/// evol_instruct and evol_quality: their rounds are `evolution`'s.
protocol EvolutionStep: LLMRoundsTask where Work == Evolution.Work {
    var evolution: Evolution { get }
}

extension EvolutionStep {
    func requests(_ work: inout Evolution.Work, round: Int) throws(RowError) -> [TaskRequest] {
        try evolution.requests(&work, round: round)
    }

    func receive(_ answer: TaskAnswer, _ work: inout Evolution.Work) throws(RowError) {
        try evolution.receive(answer, &work)
    }
}
