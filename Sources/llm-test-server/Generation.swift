// What the server answers: the last user message is classified as one of the
// DEITA prompt kinds, and an answer of the right shape is built from a seed.
// Nothing here depends on time, threads or process state.

import Foundation

enum PromptKind: String, Sendable {
    /// EvolInstruct in-depth rewrites (distilabel's "Prompt Rewriter", ours "Rewrite the instruction").
    case evolInstruction = "evol_instruction"
    /// EvolInstruct in-breadth ("Prompt Creator", "Create a new instruction").
    case evolInstructionBreadth = "evol_instruction_breadth"
    /// EvolQuality ("Response Rewriter", "Rewrite the response").
    case evolResponse = "evol_response"
    case complexityScore = "complexity_score"
    case qualityScore = "quality_score"
    /// The judge step: a 1-10 rating ("[Response to rate]") or a comparison ("[Response 1]", "[Response 2]");
    /// or distilabel's UltraFeedback, 1-5 ratings of "<text 1>" ... "<text N>".
    case judge
    /// Anything else: text generation, answers to instructions.
    case answer

    var isScoring: Bool { self == .complexityScore || self == .qualityScore || self == .judge }
    /// The name in `/stats` `by_kind` (both evol-instruction kinds count as
    /// `evol_instruction`, as in the peer benchmark's stub).
    var statsName: String { self == .evolInstructionBreadth ? "evol_instruction" : rawValue }
    /// Free text that `max_tokens` may cut short.
    var isFreeText: Bool { self == .answer || self == .evolResponse }
}

struct Classification: Sendable {
    let kind: PromptKind
    /// Items to score (scoring kinds only).
    let itemCount: Int
    /// The instruction to evolve (evol-instruction kinds only).
    let givenInstruction: String
    /// The judged responses (judge only).
    var judged: [String] = []
    /// Whose judge prompt (judge only).
    var judgeForm: JudgeForm = .judgeStep
}

enum Classifier {
    private static let responseMarkers = ["response rewriter", "rewrite the response", "#rewritten response#"]
    private static let breadthMarkers = ["prompt creator", "#created prompt#", "create a new instruction",
                                         "#created instruction#"]
    private static let rewriteMarkers = ["prompt rewriter", "#rewritten prompt#", "rewrite the instruction",
                                         "#rewritten instruction#"]

    static func classify(_ prompt: String) -> Classification {
        let lower = prompt.lowercased()
        func has(_ markers: [String]) -> Bool { markers.contains(where: { lower.contains($0) }) }

        if let judged = Judging.responses(prompt) {
            return Classification(kind: .judge, itemCount: 0, givenInstruction: "", judged: judged)
        }
        if let texts = Judging.ultraFeedbackTexts(prompt) {
            return Classification(kind: .judge, itemCount: 0, givenInstruction: "", judged: texts,
                                  judgeForm: .ultraFeedback(types: Judging.ultraFeedbackAsksTypes(prompt)))
        }
        if has(responseMarkers) {
            return Classification(kind: .evolResponse, itemCount: 0, givenInstruction: "")
        }
        if has(breadthMarkers) {
            return Classification(kind: .evolInstructionBreadth, itemCount: 0, givenInstruction: givenInstruction(prompt))
        }
        if has(rewriteMarkers) {
            return Classification(kind: .evolInstruction, itemCount: 0, givenInstruction: givenInstruction(prompt))
        }
        if let count = scoringItemCount(lower) {
            // Decided by the instructions before the items, which may say anything.
            let header = lower.range(of: "\n[1]").map { lower[..<$0.lowerBound] } ?? lower[...]
            let kind: PromptKind = header.contains("complexity") || header.contains("difficulty") ? .complexityScore : .qualityScore
            return Classification(kind: kind, itemCount: count, givenInstruction: "")
        }
        return Classification(kind: .answer, itemCount: 0, givenInstruction: "")
    }

    /// A scoring prompt says `Score 1-N` or shows the `[1] Score: 1` answer
    /// format. N comes from `Score 1-N`, else from the numbered items
    /// (`[k] text` lines that are not `[k] Score:` lines).
    static func scoringItemCount(_ lower: String) -> Int? {
        var declared: Int?
        if let range = lower.range(of: "score 1-") {
            let digits = lower[range.upperBound...].prefix(while: { $0.isASCII && $0.isNumber })
            if let n = Int(digits), n >= 1, n <= 1000 { declared = n }
        }
        var sawScoreLine = false
        var highestItem = 0
        for line in lower.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            guard trimmed.first == "[" else { continue }
            let afterBracket = trimmed.dropFirst()
            let digits = afterBracket.prefix(while: { $0.isASCII && $0.isNumber })
            guard let k = Int(digits), afterBracket.dropFirst(digits.count).first == "]" else { continue }
            let rest = afterBracket.dropFirst(digits.count + 1).drop(while: { $0 == " " })
            if rest.hasPrefix("score:") {
                sawScoreLine = true
            } else if k <= 1000 {
                highestItem = max(highestItem, k)
            }
        }
        if let declared { return declared }
        guard sawScoreLine else { return nil }
        return max(1, highestItem)
    }

    private static let givenStarts = ["#the given prompt#:", "#given prompt#:", "#the given instruction#:",
                                      "#given instruction#:", "#instruction#:"]
    private static let givenEnds = ["#rewritten prompt#", "#created prompt#", "#rewritten instruction#",
                                    "#created instruction#"]

    /// The instruction quoted in an evolution prompt: the text after the last
    /// "#Given Prompt#:"-style marker (templates also mention the marker in
    /// their prose) up to the "#Rewritten …#"/"#Created …#" marker.
    static func givenInstruction(_ prompt: String) -> String {
        var best: Range<String.Index>?
        for marker in givenStarts {
            if let r = prompt.range(of: marker, options: [.caseInsensitive, .backwards]),
               best.map({ r.lowerBound > $0.lowerBound }) ?? true {
                best = r
            }
        }
        guard let start = best else { return "" }
        var end = prompt.endIndex
        for marker in givenEnds {
            if let r = prompt.range(of: marker, options: .caseInsensitive, range: start.upperBound..<prompt.endIndex),
               r.lowerBound < end {
                end = r.lowerBound
            }
        }
        return cleanQuoted(String(prompt[start.upperBound..<end]))
    }

    /// Strips whitespace and literal `\n` sequences (distilabel's templates
    /// contain a backslash-n before every real newline).
    static func cleanQuoted(_ text: String) -> String {
        var s = Substring(text)
        while true {
            let before = s.count
            s = s.drop(while: { $0.isWhitespace })
            while s.last?.isWhitespace == true { s = s.dropLast() }
            if s.hasPrefix("\\n") { s = s.dropFirst(2) }
            if s.hasSuffix("\\n") { s = s.dropLast(2) }
            if s.count == before { break }
        }
        return String(s)
    }
}

enum Generator {
    static let vocabulary: [String] = """
        the a each every model system method result value measure approach design process structure \
        signal layer record sample source target output input stage step batch queue buffer cache \
        request answer question example detail context reason evidence claim trade-off limit budget \
        error failure retry timeout latency throughput memory storage network protocol interface \
        careful precise simple robust stable useful practical general specific common rare early late \
        usually often rarely clearly directly mostly therefore however because although while whereas \
        improves reduces increases balances explains compares measures checks shows keeps avoids needs \
        depends provides supports allows ensures describes verifies combines separates organizes \
        first second third finally next then also instead otherwise similarly overall \
        history economy biology chemistry physics geometry language culture climate energy transport
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)

    static let openers = [
        "Here is a short answer.",
        "Let me walk through it.",
        "That is a good question.",
        "Briefly:",
        "A few points matter here.",
        "The main idea is simple.",
        "To answer this, start from the basics.",
    ]

    static let requirements = [
        "Explain each step of the reasoning and say why it is needed.",
        "Keep the answer under three paragraphs and give one concrete example.",
        "Compare two alternative approaches and name the trade-offs between them.",
        "Point out one common misconception and correct it.",
        "Include a small table that summarises the main factors.",
        "Describe how the situation has changed over the last fifty years.",
        "Name the edge cases where the usual answer fails.",
        "Propose a simple experiment that would test the claim.",
        "Write for a reader with no background and avoid jargon.",
        "Give an approximate number for the effect and show how it was estimated.",
        "State the assumptions explicitly before answering.",
        "Finish with a one-sentence summary of the answer.",
    ]

    static let creationOpeners = [
        "Describe an unusual real-world situation that involves",
        "Design a thought experiment that links",
        "Write a short case study about a rare problem involving",
        "Explain a surprising application that combines",
        "Outline a debate between two experts about",
    ]

    static let scorePreambles = [
        "Sure! Here are my scores:",
        "After reading every item carefully, this is my ranking:",
        "Scores (higher is better):",
        "Here is my evaluation.",
    ]

    static let scoreRemarks = [
        " (clear and specific)",
        " - the most demanding one",
        ", because it needs several steps",
        " (somewhat vague)",
        " - solid but brief",
    ]

    /// ~`words` words in sentences of 8-16 words after an opener.
    static func answer(_ rng: inout SeededRandom, words: Int = 64) -> String {
        var parts = [rng.pick(openers)]
        var remaining = words
        while remaining > 0 {
            let length = min(remaining, rng.between(8, 16))
            remaining -= length
            var sentence = (0..<length).map { _ in rng.pick(vocabulary) }.joined(separator: " ")
            if let first = sentence.first {
                sentence = first.uppercased() + sentence.dropFirst()
            }
            parts.append(sentence + ".")
        }
        return parts.joined(separator: " ")
    }

    static func evolvedInstruction(given: String, _ rng: inout SeededRandom) -> String {
        let base = given.isEmpty ? "Explain the topic in detail." : given
        return base + " " + rng.pick(requirements)
    }

    static func createdInstruction(given: String, _ rng: inout SeededRandom) -> String {
        var seen = Set<String>()
        var words: [String] = []
        for raw in given.split(whereSeparator: { $0.isWhitespace }) {
            let word = raw.trimmingCharacters(in: CharacterSet.alphanumerics.inverted).lowercased()
            if !word.isEmpty, seen.insert(word).inserted { words.append(word) }
        }
        words.sort { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
        var chosen = Array(words.prefix(3))
        if chosen.isEmpty { chosen = ["everyday", "technology"] }
        let list: String
        if chosen.count == 1 {
            list = chosen[0]
        } else {
            list = chosen.dropLast().joined(separator: ", ") + " and " + (chosen.last ?? "")
        }
        return "\(rng.pick(creationOpeners)) \(list). \(rng.pick(requirements))"
    }

    /// A permutation of 1...count.
    static func scores(count: Int, _ rng: inout SeededRandom) -> [Int] {
        var scores = Array(1...max(1, count))
        rng.shuffle(&scores)
        return scores
    }

    static func scoreLines(_ scores: [Int]) -> String {
        scores.enumerated().map { "[\($0.offset + 1)] Score: \($0.element)" }.joined(separator: "\n")
    }

    /// The same scores wrapped in chatter: a preamble line, the lines in
    /// another order (when there are two or more), remarks after some
    /// scores, and a closing line.
    static func junkScoreLines(_ scores: [Int], _ rng: inout SeededRandom) -> String {
        var lines = scores.enumerated().map { "[\($0.offset + 1)] Score: \($0.element)" }
        if lines.count > 1 {
            let shift = rng.between(1, lines.count - 1)
            lines = Array(lines[shift...] + lines[..<shift])
        }
        for k in lines.indices where k == 0 || rng.below(2) == 0 {
            lines[k] += rng.pick(scoreRemarks)
        }
        return ([rng.pick(scorePreambles)] + lines + ["Let me know if you want the reasoning behind each score."])
            .joined(separator: "\n")
    }

    /// A text for one choice. `truncated` is set when `maxTokens` cut it.
    static func text(for classification: Classification, seed: UInt64, maxTokens: Int?, junkScores: Bool,
                     model: String = "") -> (text: String, truncated: Bool)
    {
        var rng = SeededRandom(seed: seed)
        var text: String
        switch classification.kind {
        case .evolInstruction:
            text = evolvedInstruction(given: classification.givenInstruction, &rng)
        case .evolInstructionBreadth:
            text = createdInstruction(given: classification.givenInstruction, &rng)
        case .complexityScore, .qualityScore:
            let scores = scores(count: classification.itemCount, &rng)
            text = junkScores ? junkScoreLines(scores, &rng) : scoreLines(scores)
        case .judge:
            if case .ultraFeedback(let types) = classification.judgeForm {
                text = Judging.ultraFeedbackText(texts: classification.judged, types: types, seed: seed, junk: junkScores)
            } else {
                text = Judging.text(responses: classification.judged, model: model, seed: seed, junk: junkScores)
            }
        case .evolResponse, .answer:
            text = answer(&rng)
        }
        var truncated = false
        if let maxTokens, classification.kind.isFreeText, Tokens.estimate(text) > maxTokens {
            let keep = max(1, maxTokens * 10 / 13)
            text = text.split(separator: " ").prefix(keep).joined(separator: " ")
            truncated = true
        }
        return (text, truncated)
    }
}

enum Tokens {
    /// Words × 1.3, rounded up; at least 1 for a non-empty text.
    static func estimate(_ text: String) -> Int {
        var words = 0
        var inWord = false
        for byte in text.utf8 {
            let space = byte == 0x20 || byte == 0x0a || byte == 0x09 || byte == 0x0d
            if !space && !inWord { words += 1 }
            inWord = !space
        }
        return (words * 13 + 9) / 10
    }
}
