import PluginKit

// `quality_filter`: rejects distillation junk (truncated, refusals, wrong
// language, unclosed <think>, echoed prompt, looping) and text that fails
// datatrove's Gopher rules, each rule with its parameter. A rejected row
// becomes an error row saying every rule it failed and the measured value
// (mode: error), or keeps going with the list in `quality_rejections`
// (mode: mark).

struct QualityFilter: PipelineStep {
    static let answerColumn = Parameter("answer_column", default: "generation", .minLength(1), description: "The answer the rules check.")
    static let promptColumn = Parameter<String?>("prompt_column", .minLength(1), description: """
        The prompt the answer replies to; the language and echo rules need it and are skipped without it.
        """)
    static let finishColumn = Parameter("finish_reason_column", default: "finish_reason", .minLength(1), description: """
        The column with the server's finish reason; the finish_reason rule is skipped when the input has no such column.
        """)
    static let mode = Parameter("mode", default: "error", .oneOf(["error", "mark"]), description: """
        error: a rejected row becomes an error row (errors.jsonl) whose reason names each failed rule and its value, \
        e.g. `quality_filter: refusal ("i'm sorry, but i can"); repeated_ngrams (62% of 10-grams repeat)`. \
        mark: every row passes, with the failures as a list of the same texts in quality_rejections (empty when it passed).
        """)
    static let finishReasons = Parameter("reject_finish_reasons", default: ["length"], description: """
        Finish reasons that reject the row ("length": truncated by max_tokens). [] turns the rule off.
        """)
    static let refusals = Parameter("refusal_phrases", default: QualityRules.defaultRefusals, description: """
        Phrases that mark a refusal when found (case-insensitive, ’ read as ') in the answer's first refusal_window \
        characters. [] turns the rule off.
        """)
    static let refusalWindow = Parameter("refusal_window", default: 300, .minimum(1), description: "How many leading characters of the answer the refusal phrases are looked for in.")
    static let language = Parameter("language", default: true, description: """
        Reject an answer whose guessed language differs from the prompt's (writing system, then stop words for \
        en/fr/de/es/it/pt/nl; code blocks left out). Only two confident guesses that differ reject.
        """)
    static let exemptions = Parameter("language_exemptions", default: QualityRules.defaultLanguageExemptions, description: """
        The language rule does not apply when the prompt contains one of these (case-insensitive): a prompt that \
        asks for a translation or an answer in a named language expects another language back.
        """)
    static let think = Parameter("unclosed_think", default: true, description: "Reject an answer with more <think> than </think> tags.")
    static let echo = Parameter("echo_fraction", default: 0.8, .minimum(0), description: """
        Reject an answer that contains the whole prompt (normalised: lowercase, whitespace runs as one space) when \
        the prompt makes up at least this fraction of it. Above 1 turns the rule off.
        """)
    static let loopNgram = Parameter("loop_ngram", default: 10, .minimum(0), description: """
        The n of the looping rule's word n-grams (whitespace-separated words, code included); 0 turns it off.
        """)
    static let loopFraction = Parameter("max_repeated_ngram_fraction", default: 0.3, .minimum(0), .maximum(1), description: """
        Reject when more than this fraction of the answer's loop_ngram-grams repeat an earlier one.
        """)
    static let skipCode = Parameter("skip_code", default: true, description: """
        The Gopher rules and the language guess measure the answer without its fenced code blocks and `inline code` \
        (web-text rules misfire on code).
        """)
    static let gopherMinWords = Parameter("gopher_min_words", default: 20, .minimum(0), description: """
        The Gopher ratio rules (mean word length, symbol ratio, duplicate lines and paragraphs) apply from this many \
        prose words on.
        """)
    static let minWords = Parameter("min_words", default: 0, .minimum(0), description: "Gopher: fewest prose words (datatrove's web default is 50; short answers are normal here).")
    static let maxWords = Parameter("max_words", default: 100_000, .minimum(0), description: "Gopher: most prose words.")
    static let minMean = Parameter("min_mean_word_length", default: 3.0, .minimum(0), description: "Gopher: shortest mean word length.")
    static let maxMean = Parameter("max_mean_word_length", default: 10.0, .minimum(0), description: "Gopher: longest mean word length.")
    static let symbolRatio = Parameter("max_symbol_word_ratio", default: 0.1, .minimum(0), description: """
        Gopher: most `#` per word, and most ellipses (... or …) per word, each checked on its own.
        """)
    static let dupLines = Parameter("max_duplicate_line_fraction", default: 0.3, .minimum(0), .maximum(1), description: "Gopher: most lines that repeat an earlier line, as a fraction of lines.")
    static let dupParagraphs = Parameter("max_duplicate_paragraph_fraction", default: 0.3, .minimum(0), .maximum(1), description: "Gopher: most paragraphs that repeat an earlier one, as a fraction of paragraphs.")
    static let dupLineChars = Parameter("max_duplicate_line_char_fraction", default: 0.2, .minimum(0), .maximum(1), description: "Gopher: most characters in repeated lines, as a fraction of the text's characters.")
    static let dupParagraphChars = Parameter("max_duplicate_paragraph_char_fraction", default: 0.2, .minimum(0), .maximum(1), description: "Gopher: most characters in repeated paragraphs, as a fraction of the text's characters.")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.quality_filter", name: "quality_filter", version: "1.0.0",
        description: """
            Rejects distilled answers that are junk: truncated (finish_reason), refusals, another language than the \
            prompt's, an unclosed <think>, the prompt echoed, looping (repeated n-grams); then datatrove's Gopher \
            rules on the prose (word-count bounds, mean word length, symbol-to-word ratio, duplicate line and \
            paragraph fractions). Each rule has its parameter; a rejected row says which rules failed and with what \
            value, as an error row or (mode: mark) in quality_rejections. A null answer is an error row.
            """,
        inputs: [.init("generation", "utf8", description: "The answer.", nameParam: "answer_column"),
                 .init("prompt", "utf8", optional: true, description: "The prompt (language and echo rules).", nameParam: "prompt_column"),
                 .init("*", "any")],
        outputs: [.init("quality_rejections", "list<utf8>", optional: true, description: "mode: mark only: the failed rules with their values."),
                  .init("*", "any")],
        parameters: [answerColumn, promptColumn, finishColumn, mode, finishReasons, refusals, refusalWindow, language, exemptions, think,
                     echo, loopNgram, loopFraction, skipCode, gopherMinWords, minWords, maxWords, minMean, maxMean,
                     symbolRatio, dupLines, dupParagraphs, dupLineChars, dupParagraphChars]
    ).filtering()
        .planning(StepPlan(atMost: true))

    let answer: String
    let prompt: String?
    let finish: String
    let marking: Bool
    let rules: QualityRules

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        answer = try parameters[Self.answerColumn]
        prompt = try parameters[Self.promptColumn]
        finish = try parameters[Self.finishColumn]
        marking = try parameters[Self.mode] == "mark"
        var rules = QualityRules()
        rules.rejectFinishReasons = try parameters[Self.finishReasons]
        rules.refusalPhrases = try parameters[Self.refusals].filter { !$0.isEmpty }.map { $0.lowercased() }
        rules.refusalWindow = try parameters[Self.refusalWindow]
        rules.language = try parameters[Self.language]
        rules.languageExemptions = try parameters[Self.exemptions].filter { !$0.isEmpty }.map { $0.lowercased() }
        rules.unclosedThink = try parameters[Self.think]
        rules.echoFraction = try parameters[Self.echo]
        rules.loopNgram = try parameters[Self.loopNgram]
        rules.maxRepeatedNgramFraction = try parameters[Self.loopFraction]
        rules.skipCode = try parameters[Self.skipCode]
        rules.gopherMinWords = try parameters[Self.gopherMinWords]
        rules.minWords = try parameters[Self.minWords]
        rules.maxWords = try parameters[Self.maxWords]
        rules.minMeanWordLength = try parameters[Self.minMean]
        rules.maxMeanWordLength = try parameters[Self.maxMean]
        rules.maxSymbolWordRatio = try parameters[Self.symbolRatio]
        rules.maxDuplicateLineFraction = try parameters[Self.dupLines]
        rules.maxDuplicateParagraphFraction = try parameters[Self.dupParagraphs]
        rules.maxDuplicateLineCharFraction = try parameters[Self.dupLineChars]
        rules.maxDuplicateParagraphCharFraction = try parameters[Self.dupParagraphChars]
        if rules.minWords > rules.maxWords {
            throw .invalidArgument("quality_filter: min_words (\(rules.minWords)) is above max_words (\(rules.maxWords))")
        }
        if rules.minMeanWordLength > rules.maxMeanWordLength {
            throw .invalidArgument("quality_filter: min_mean_word_length is above max_mean_word_length")
        }
        self.rules = rules
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let answers = try RowOutcome.column(batch, answer, step: "quality_filter", parameter: "answer_column")
        let prompts = try prompt.map { name throws(StepError) in
            try RowOutcome.column(batch, name, step: "quality_filter", parameter: "prompt_column")
        }
        let finishes = batch.column(finish)
        var kept: [Int] = []
        var failed: [Int: String] = [:]
        var marks: [Int: [String]] = [:]
        for row in 0..<batch.length {
            guard let text = answers.string(row) else {
                failed[row] = "quality_filter: the answer (\(answer)) is null"
                continue
            }
            let failures = rules.check(answer: text, prompt: prompts?.string(row), finishReason: finishes?.string(row))
            if failures.isEmpty || marking {
                kept.append(row)
                marks[row] = failures.map(\.text)
            } else {
                failed[row] = "quality_filter: " + failures.map(\.text).joined(separator: "; ")
            }
        }
        var added: [(ArrowField, (ColumnBuilder, Int) -> Void)] = []
        if marking {
            added.append((ArrowField("quality_rejections", .list(ArrowField("item", .utf8))), { builder, row in
                builder.append(strings: marks[row] ?? [])
            }))
        }
        return try RowOutcome.assemble(batch, kept: kept, failed: failed, added: added, step: "quality_filter")
    }
}
