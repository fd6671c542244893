/// "Did you mean" hints for misspelt names.
package enum Suggestion {
    /// Common words for keys that have another name in pipeline files.
    static let synonyms: [String: String] = [
        "params": "with", "parameters": "with", "args": "with", "config": "with", "options": "with",
        "step": "uses", "plugin": "uses", "use": "uses", "type": "uses",
        "inputs": "input", "from": "input", "depends_on": "input", "needs": "input", "after": "input",
        "batch": "batch_size", "batchsize": "batch_size", "batchSize": "batch_size",
        "model_name": "model", "url": "base_url", "endpoint": "base_url",
    ]

    /// The candidate closest to `word`, if it is close enough to be a
    /// plausible typo (ties: the earlier candidate). Close enough: at most
    /// `limit` edits (default: 1 for words of up to 4 characters, else a
    /// third of the word, at least 2), or a shared start of 4 or more
    /// characters and at most 3 edits (`retry` → `retries`). A swap of two
    /// neighbouring characters is one edit.
    package static func closest(to word: String, among candidates: [String], limit: Int? = nil) -> String? {
        if let synonym = synonyms[word], candidates.contains(synonym) { return synonym }
        // A long word is no typo of a name (and its distance table would be huge).
        guard word.utf8.count <= 128 else { return nil }
        let limit = limit ?? (word.count <= 4 ? 1 : max(2, word.count / 3))
        var best: (candidate: String, distance: Int)?
        for candidate in candidates where candidate != word {
            let distance = typoDistance(candidate, word)
            let sharedStart = zip(candidate, word).prefix { $0 == $1 }.count
            guard distance <= limit || (sharedStart >= 4 && distance <= 3) else { continue }
            if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        return best?.candidate
    }

    /// Edit distance counting a transposition of neighbours as one edit
    /// (optimal string alignment).
    static func typoDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }

    /// `word` in double quotes; a long one (a 10 MiB key) as its first 60
    /// characters and its size, not whole.
    package static func quoted(_ word: String) -> String {
        guard word.utf8.count > 80 else { return "\"\(word)\"" }
        return "\"\(word.prefix(60))…\" (\(word.utf8.count) bytes)"
    }

    /// `; did you mean "x"?`, or nothing.
    package static func hint(for word: String, among candidates: [String], limit: Int? = nil) -> String {
        closest(to: word, among: candidates, limit: limit).map { "; did you mean \"\($0)\"?" } ?? ""
    }
}
