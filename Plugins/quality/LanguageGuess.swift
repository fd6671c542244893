// A small language guess for the "answer in another language" rule: the
// writing system first (Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai,
// Hangul, kana, Han), then for Latin script the most frequent stop words
// of seven languages. It says nil when the text gives too little evidence
// (fewer than `minimumLetters` letters, or too few stop words), and the
// rule then passes: it only rejects two confident, different guesses.
// Limits: languages sharing a script are told apart only among en, fr,
// de, es, it, pt, nl; Chinese with no kana is "zh", with kana "ja".

enum LanguageGuess {
    static let minimumLetters = 12
    static let minimumStopWords = 2

    static let stopWords: [(language: String, words: Set<String>)] = [
        ("en", ["the", "and", "is", "are", "of", "to", "in", "that", "it", "with", "for", "this", "you", "was", "be", "on", "not", "have", "what", "how", "can", "which"]),
        ("fr", ["le", "la", "les", "et", "est", "des", "une", "un", "du", "que", "qui", "dans", "pour", "pas", "sur", "avec", "ce", "sont", "vous", "il", "elle", "nous"]),
        ("de", ["der", "die", "das", "und", "ist", "nicht", "ein", "eine", "zu", "den", "mit", "sich", "auf", "für", "von", "dem", "sie", "es", "wie", "ich", "auch", "wird"]),
        ("es", ["el", "los", "las", "y", "es", "del", "que", "una", "por", "con", "para", "como", "se", "su", "al", "lo", "está", "son", "pero", "muy", "qué", "cómo"]),
        ("it", ["il", "gli", "della", "che", "è", "di", "per", "una", "sono", "con", "non", "del", "nel", "alla", "anche", "come", "questo", "più", "ma", "lo"]),
        ("pt", ["os", "as", "e", "é", "do", "da", "dos", "das", "que", "um", "uma", "para", "com", "não", "em", "no", "na", "como", "mais", "são", "você"]),
        ("nl", ["de", "het", "een", "en", "is", "van", "dat", "niet", "op", "te", "zijn", "met", "voor", "er", "maar", "ook", "wat", "hoe", "je", "ik"]),
    ]

    static func guess(_ text: String) -> String? {
        var counts: [String: Int] = [:]
        var letters = 0
        for scalar in text.unicodeScalars where scalar.properties.isAlphabetic {
            letters += 1
            counts[script(scalar), default: 0] += 1
        }
        guard letters >= minimumLetters,
              let (top, count) = counts.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }),
              Double(count) >= 0.5 * Double(letters) else { return nil }
        switch top {
        case "han": return (counts["kana", default: 0] * 10 >= letters) ? "ja" : "zh"
        case "kana": return "ja"
        case "latin": return latinLanguage(text)
        default: return top
        }
    }

    private static func script(_ scalar: Unicode.Scalar) -> String {
        switch scalar.value {
        case 0x0041...0x024F, 0x1E00...0x1EFF: "latin"
        case 0x0370...0x03FF: "el"
        case 0x0400...0x04FF: "cyrillic"
        case 0x0590...0x05FF: "he"
        case 0x0600...0x06FF, 0x0750...0x077F: "ar"
        case 0x0900...0x097F: "hi"
        case 0x0E00...0x0E7F: "th"
        case 0x1100...0x11FF, 0xAC00...0xD7AF: "ko"
        case 0x3040...0x30FF: "kana"
        case 0x4E00...0x9FFF, 0x3400...0x4DBF: "han"
        default: "other"
        }
    }

    /// The Latin-script language whose stop words are most frequent, if
    /// it has at least `minimumStopWords` and clearly more than the next.
    private static func latinLanguage(_ text: String) -> String? {
        let words = TextMeasures.words(text.lowercased()).map(String.init)
        var scores: [(String, Int)] = []
        for (language, list) in stopWords {
            scores.append((language, words.reduce(0) { $0 + (list.contains($1) ? 1 : 0) }))
        }
        scores.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        guard let best = scores.first, best.1 >= minimumStopWords else { return nil }
        let second = scores.count > 1 ? scores[1].1 : 0
        return Double(best.1) >= 1.5 * Double(second) ? best.0 : nil
    }
}
