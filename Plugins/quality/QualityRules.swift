// The rules of `quality_filter`, each a pure function of the answer (and
// the prompt and finish reason when the row has them) that returns the
// failure, the rule's name and the measured value, or nil.

struct QualityFailure: Equatable, Sendable {
    let rule: String
    let value: String

    var text: String { "\(rule) (\(value))" }
}

struct QualityRules: Sendable {
    var rejectFinishReasons: [String] = ["length"]
    var refusalPhrases: [String] = QualityRules.defaultRefusals
    var refusalWindow = 300
    var language = true
    var languageExemptions: [String] = QualityRules.defaultLanguageExemptions
    var unclosedThink = true
    var echoFraction = 0.8
    var loopNgram = 10
    var maxRepeatedNgramFraction = 0.3
    // Gopher (datatrove's GopherQualityFilter and GopherRepetitionFilter).
    var gopherMinWords = 20
    var minWords = 0
    var maxWords = 100_000
    var minMeanWordLength = 3.0
    var maxMeanWordLength = 10.0
    var maxSymbolWordRatio = 0.1
    var maxDuplicateLineFraction = 0.3
    var maxDuplicateParagraphFraction = 0.3
    var maxDuplicateLineCharFraction = 0.2
    var maxDuplicateParagraphCharFraction = 0.2
    var skipCode = true

    static let defaultRefusals = [
        "i'm sorry, but i can", "i am sorry, but i can", "i'm sorry, i can't", "i'm sorry, but as an ai",
        "as an ai language model", "as an ai, i", "i cannot help with", "i can't help with", "i cannot assist",
        "i can't assist", "i cannot provide", "i can't provide", "i'm unable to", "i am unable to",
        "i cannot comply", "i can't comply", "i won't be able to", "i must decline", "i'm not able to help",
    ]

    /// A prompt containing one of these (lowercased) asks for another
    /// language, so the language rule does not apply to it.
    static let defaultLanguageExemptions = [
        "translat", "tradu", "übersetz", "vertaal", "перев", "翻译", "翻訳", "번역",
        "in english", "in french", "in german", "in spanish", "in italian", "in portuguese", "in dutch",
        "in russian", "in chinese", "in japanese", "in korean", "in arabic", "in hindi",
    ]

    func asksForLanguage(_ prompt: String) -> Bool {
        let lower = prompt.lowercased()
        return languageExemptions.contains { TextMeasures.contains(lower, $0) }
    }

    func check(answer: String, prompt: String?, finishReason: String?) -> [QualityFailure] {
        var failures: [QualityFailure] = []
        func fail(_ rule: String, _ value: String) { failures.append(QualityFailure(rule: rule, value: value)) }

        if let finishReason, rejectFinishReasons.contains(finishReason) {
            fail("finish_reason", finishReason)
        }
        if let phrase = refusal(answer) { fail("refusal", "\"\(phrase)\"") }
        if unclosedThink {
            let open = TextMeasures.occurrences(of: "<think>", in: answer)
            let close = TextMeasures.occurrences(of: "</think>", in: answer)
            if open > close { fail("unclosed_think", "\(open) <think>, \(close) </think>") }
        }
        let prose = TextMeasures.withoutCode(answer)
        if let prompt {
            if language, !asksForLanguage(prompt), let asked = LanguageGuess.guess(TextMeasures.withoutCode(prompt)),
               let answered = LanguageGuess.guess(prose), asked != answered {
                fail("language", "prompt \(asked), answer \(answered)")
            }
            if echoFraction <= 1, let fraction = echo(answer: answer, prompt: prompt), fraction >= echoFraction {
                fail("echo", "the prompt is \(percent(fraction)) of the answer")
            }
        }
        if loopNgram > 0, let fraction = repeatedNgramFraction(answer), fraction > maxRepeatedNgramFraction {
            fail("repeated_ngrams", "\(percent(fraction)) of \(loopNgram)-grams repeat")
        }
        failures += gopher(skipCode ? prose : answer)
        return failures
    }

    func refusal(_ answer: String) -> String? {
        let head = String(answer.prefix(refusalWindow).lowercased().map { $0 == "’" ? "'" : $0 })
        return refusalPhrases.first { TextMeasures.contains(head, $0) }
    }

    /// How much of the answer the prompt makes up, when the answer contains it.
    func echo(answer: String, prompt: String) -> Double? {
        let a = TextMeasures.normalised(answer), p = TextMeasures.normalised(prompt)
        guard !p.isEmpty, !a.isEmpty, TextMeasures.contains(a, p) else { return nil }
        return Double(p.count) / Double(a.count)
    }

    /// The fraction of the answer's word n-grams that repeat an earlier one.
    func repeatedNgramFraction(_ answer: String) -> Double? {
        // Each word as its hash, each n-gram as the hash of its words' hashes:
        // no n-gram is built as text (a collision of 64-bit hashes is negligible).
        let words = TextMeasures.tokens(answer).map { $0.hashValue }
        guard words.count >= loopNgram * 2 else { return nil }
        var seen = Set<Int>()
        var repeats = 0
        let total = words.count - loopNgram + 1
        seen.reserveCapacity(total)
        for start in 0..<total {
            var hasher = Hasher()
            for index in start..<(start + loopNgram) { hasher.combine(words[index]) }
            if !seen.insert(hasher.finalize()).inserted { repeats += 1 }
        }
        return Double(repeats) / Double(total)
    }

    /// datatrove's Gopher rules over the prose: the word-count bounds always,
    /// the ratios from `gopherMinWords` words on (a ratio of a handful of
    /// words says nothing).
    func gopher(_ text: String) -> [QualityFailure] {
        var failures: [QualityFailure] = []
        let words = TextMeasures.words(text)
        if words.count < minWords { failures.append(.init(rule: "min_words", value: "\(words.count) words")) }
        if words.count > maxWords { failures.append(.init(rule: "max_words", value: "\(words.count) words")) }
        guard words.count >= max(gopherMinWords, 1) else { return failures }

        let mean = Double(words.reduce(0) { $0 + $1.count }) / Double(words.count)
        if mean < minMeanWordLength || mean > maxMeanWordLength {
            failures.append(.init(rule: "mean_word_length", value: format(mean)))
        }
        let hashes = Double(TextMeasures.hashesOutsideHeadings(text)) / Double(words.count)
        if hashes > maxSymbolWordRatio { failures.append(.init(rule: "symbol_word_ratio", value: "# \(format(hashes))")) }
        let ellipses = Double(TextMeasures.occurrences(of: "...", in: text) + TextMeasures.occurrences(of: "…", in: text))
            / Double(words.count)
        if ellipses > maxSymbolWordRatio {
            failures.append(.init(rule: "symbol_word_ratio", value: "ellipsis \(format(ellipses))"))
        }

        let lines = TextMeasures.lines(text)
        if !lines.isEmpty {
            let (count, characters) = TextMeasures.duplicates(lines)
            let fraction = Double(count) / Double(lines.count)
            if fraction > maxDuplicateLineFraction {
                failures.append(.init(rule: "duplicate_lines", value: format(fraction)))
            }
            let charFraction = Double(characters) / Double(max(text.count, 1))
            if charFraction > maxDuplicateLineCharFraction {
                failures.append(.init(rule: "duplicate_line_chars", value: format(charFraction)))
            }
        }
        let paragraphs = TextMeasures.paragraphs(text)
        if !paragraphs.isEmpty {
            let (count, characters) = TextMeasures.duplicates(paragraphs)
            let fraction = Double(count) / Double(paragraphs.count)
            if fraction > maxDuplicateParagraphFraction {
                failures.append(.init(rule: "duplicate_paragraphs", value: format(fraction)))
            }
            let charFraction = Double(characters) / Double(max(text.count, 1))
            if charFraction > maxDuplicateParagraphCharFraction {
                failures.append(.init(rule: "duplicate_paragraph_chars", value: format(charFraction)))
            }
        }
        return failures
    }

    private func format(_ value: Double) -> String {
        let scaled = (value * 1000).rounded() / 1000
        return "\(scaled)"
    }

    private func percent(_ value: Double) -> String { "\(Int((value * 100).rounded()))%" }
}
