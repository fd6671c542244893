import PluginKit

/// The k-round evolution loop shared by evol_instruct and evol_quality.
/// Round r rewrites the output of round r-1 by a method drawn from
/// (seed, _row_id, r); all rows of the batch are in flight together in each
/// round. A failed request or a degenerate rewrite makes the row an error
/// row; it sends nothing more.
struct EvolutionLoop {
    let step: String
    let rounds: Int
    let seed: Int64
    let methods: [String]
    let directives: [String: String]
    let templates: [String: FilledTemplate]
    /// The placeholder the evolving text goes into.
    let subject: String
    let markers: [String]
    let markerWords: [String]
    let system: String?
    let options: String?

    struct Outcome {
        var chains: [[String]]
        var methods: [[String]]
        var errors: [String?]
    }

    /// `starts[row]` is the original text (nil: the row is an error row
    /// with `errors[row]`); `extra[row]` are the other placeholders.
    func run(ids: ArrowColumn, starts: [String?], extra: [[String: String]], errors initial: [String?],
             context: StepContext) throws(StepError) -> Outcome {
        let count = starts.count
        var outcome = Outcome(chains: starts.map { $0.map { [$0] } ?? [] },
                              methods: Array(repeating: [], count: count), errors: initial)
        for round in 1...max(1, rounds) where rounds >= 1 {
            var requests: [LLMRequest] = []
            var rowOf: [Int] = []
            for row in 0..<count where outcome.errors[row] == nil {
                guard let current = outcome.chains[row].last else { continue }
                let method = methods[SplitMix64.choice(seed: seed, row: ids.uint64(row), round: round, count: methods.count)]
                guard let template = templates[method] else { throw .internal("\(step): no template for \(method)") }
                var values = extra[row]
                values[subject] = current
                values["method"] = directives[method] ?? method
                requests.append(LLMRequest(prompt: template.render(values), system: system, optionsJSON: options))
                rowOf.append(row)
                outcome.methods[row].append(method)
            }
            if requests.isEmpty { break }
            let responses = try context.complete(requests)
            for (index, response) in responses.enumerated() {
                let row = rowOf[index]
                guard let text = response.text else {
                    outcome.errors[row] = "\(step): round \(round) (\(outcome.methods[row].last ?? "?")): \(response.error ?? "the request failed")"
                    continue
                }
                let rewrite = DeitaSupport.afterMarker(text, markers: markers)
                if let problem = DeitaSupport.degenerate(rewrite, input: outcome.chains[row].last ?? "", markerWords: markerWords) {
                    outcome.errors[row] = "\(step): round \(round) (\(outcome.methods[row].last ?? "?")): \(problem)"
                    continue
                }
                outcome.chains[row].append(rewrite)
            }
        }
        return outcome
    }
}
