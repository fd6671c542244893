// Answers to the `judge` step's prompts (Plugins/llm/JudgePrompts.swift),
// recognised by their section markers: "[Response to rate]" for a rating,
// "[Response 1]" and "[Response 2]" for a comparison.
//
// A rating is a seeded 1-10 with a rationale, as JSON. A comparison prefers
// the response whose text hashes higher, whatever its position (so both
// orders agree), and says tie for two equal texts; a model whose name ends
// in "-first-biased" always prefers the response shown first. Faults, asked
// for by a marker inside a judged response (so a test can put them in data):
//
//   [judge-fault:junk]          the judgement as text lines wrapped in chatter (still readable)
//   [judge-fault:no-verdict]    prose with no rating or verdict at all
//   [judge-fault:out-of-range]  a rating of 11 (a comparison: verdict "3")
//
// --junk-scores-rate wraps judgements in chatter as it does scores.
//
// distilabel's UltraFeedback prompt is recognised too: its output format
// ("#### Output for Text 1", ...) followed by the texts to rate, "<text 1>"
// to "<text N>", up to its closing "### Output". It gets, per text, the
// "#### Output for Text i" / "Rating: r" / "Rationale: ..." block that
// UltraFeedback.format_output reads (blocks split on blank lines), with a
// seeded 1-5 rating (after a "Type: k" line and its rationale when the
// format asks for one: the helpfulness and truthfulness aspects). The same
// fault markers apply: junk adds chatter (still readable), no-verdict
// answers prose, out-of-range rates the marked text 6.

enum JudgeFault: String, CaseIterable {
    case junk
    case noVerdict = "no-verdict"
    case outOfRange = "out-of-range"

    var marker: String { "[judge-fault:\(rawValue)]" }

    static func requested(in responses: [String]) -> JudgeFault? {
        allCases.first { fault in responses.contains { $0.contains(fault.marker) } }
    }
}

/// Which judge prompt: our judge step's, or distilabel's UltraFeedback
/// (`types`: its helpfulness and truthfulness aspects, whose blocks start
/// with a "Type: ..." line and its rationale).
enum JudgeForm: Sendable, Equatable {
    case judgeStep
    case ultraFeedback(types: Bool)
}

enum Judging {
    /// The judged responses of a judge prompt (one for a rating, two for a
    /// comparison), or nil when the prompt is not one.
    static func responses(_ prompt: String) -> [String]? {
        if let one = between(prompt, "[Response to rate]", "[End of response]") { return [one] }
        if let first = between(prompt, "[Response 1]", "[End of response 1]"),
           let second = between(prompt, "[Response 2]", "[End of response 2]") {
            return [first, second]
        }
        return nil
    }

    /// The texts an UltraFeedback prompt asks to rate, in order, or nil when
    /// the prompt is not one. The texts are looked for after the format's
    /// first "#### Output for Text 1" (the format also shows "<text k>"
    /// placeholders, before it); the last one ends at the closing "### Output".
    static func ultraFeedbackTexts(_ prompt: String) -> [String]? {
        guard let format = prompt.range(of: "#### Output for Text 1") else { return nil }
        var markers: [Range<String.Index>] = []
        var cursor = format.upperBound
        while let marker = prompt.range(of: "<text \(markers.count + 1)>", range: cursor..<prompt.endIndex) {
            markers.append(marker)
            cursor = marker.upperBound
        }
        guard !markers.isEmpty else { return nil }
        let end = prompt.range(of: "### Output", options: .backwards, range: cursor..<prompt.endIndex)?.lowerBound
            ?? prompt.endIndex
        return markers.indices.map { k in
            let stop = k + 1 < markers.count ? markers[k + 1].lowerBound : end
            return prompt[markers[k].upperBound..<stop].trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    private static func between(_ text: String, _ start: String, _ end: String) -> String? {
        guard let open = text.range(of: start),
              let close = text.range(of: end, range: open.upperBound..<text.endIndex) else { return nil }
        return text[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let remarks = [
        "The response addresses the instruction directly and stays on topic.",
        "The response is mostly accurate but leaves out a step the instruction asks for.",
        "The response is clear, although some sentences repeat each other.",
        "The response answers the question with a concrete example.",
        "The response is vague in places and could be more specific.",
    ]

    static func text(responses: [String], model: String, seed: UInt64, junk: Bool) -> String {
        var rng = SeededRandom(seed: seed)
        let fault = JudgeFault.requested(in: responses)
        let remark = rng.pick(remarks)
        if fault == .noVerdict {
            return "I have read both the instruction and the response carefully. " + remark
                + " I would rather not put a number on it."
        }
        let asText = junk || fault == .junk
        if responses.count == 1 {
            let rating = fault == .outOfRange ? 11 : rng.between(1, 10)
            if asText {
                return "Sure! Here is my assessment of the response.\n**Rating:** \(rating)/10\nRationale: \(remark)\nLet me know if you need more detail."
            }
            return #"{"rationale": "\#(remark)", "rating": \#(rating)}"#
        }
        let verdict: String
        if fault == .outOfRange {
            verdict = "3"
        } else if model.hasSuffix("-first-biased") {
            verdict = "1"
        } else {
            let first = quality(responses[0]), second = quality(responses[1])
            verdict = first == second ? "tie" : (first > second ? "1" : "2")
        }
        if asText {
            return "After comparing both responses:\nVerdict: \(verdict == "tie" ? "tie" : "Response " + verdict)\nExplanation: \(remark)"
        }
        return #"{"rationale": "\#(remark)", "verdict": "\#(verdict)"}"#
    }

    /// Whether an UltraFeedback prompt's format asks for a "Type:" line first.
    static func ultraFeedbackAsksTypes(_ prompt: String) -> Bool {
        prompt.contains("#### Output for Text 1\nType:")
    }

    /// An UltraFeedback annotation: for each text, "#### Output for Text i",
    /// ("Type: k" and "Rationale: ..." when `types`), "Rating: r" (seeded,
    /// 1-5) and "Rationale: ...", blocks apart by a blank line.
    static func ultraFeedbackText(texts: [String], types: Bool, seed: UInt64, junk: Bool) -> String {
        var rng = SeededRandom(seed: seed)
        let fault = JudgeFault.requested(in: texts)
        if fault == .noVerdict {
            return "I have read the instruction and the \(texts.count) texts carefully. " + rng.pick(remarks)
                + " I would rather not put a number on them."
        }
        let asText = junk || fault == .junk
        let blocks = texts.enumerated().map { index, text in
            let rating = fault == .outOfRange && text.contains(JudgeFault.outOfRange.marker) ? 6 : rng.between(1, 5)
            let type = types ? "Type: \(rng.between(1, 3))\nRationale: \(rng.pick(remarks))\n" : ""
            return "#### Output for Text \(index + 1)\n" + type
                + "Rating: \(rating)\(asText ? " out of 5" : "")\nRationale: \(rng.pick(remarks))"
        }
        guard asText else { return blocks.joined(separator: "\n\n") }
        // Chatter inside the first and last blocks, so each block still reads as one.
        return "Sure! Here is my annotation.\n" + blocks.joined(separator: "\n\n") + " Let me know if you need more detail."
    }

    /// A position-free stand-in for quality: a hash of the text (equal texts tie).
    static func quality(_ response: String) -> UInt64 {
        var hash = StableHash()
        hash.add(response)
        return hash.mixed
    }
}
