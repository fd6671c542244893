import Foundation
import PipelineJSON
import PluginKit

// The evaluation set `decontaminate` checks prompts against: its items and
// the word n-grams of each, normalised as NeMo Curator's task
// decontamination does (lowercase, ASCII punctuation removed, split at
// whitespace; NeMo splits at spaces only, so there a newline joins two words). An item shorter than n words contributes itself whole when
// it has at least `minimum` words.

struct EvaluationSet: Sendable {
    struct Item: Sendable {
        let id: String
        let text: String
    }

    let items: [Item]
    let n: Int
    /// n-gram text → the items that have it.
    private(set) var grams: [String: [Int]] = [:]
    /// The lengths of the whole short items, each looked for as a k-gram.
    private(set) var shortLengths: Set<Int> = []

    static let punctuation = Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")

    static func words(_ text: String) -> [Substring] {
        let cleaned = String(text.lowercased().filter { !punctuation.contains($0) })
        return Substring(cleaned).split(whereSeparator: { $0.isWhitespace })
    }

    init(items: [Item], n: Int, minimum: Int) {
        self.items = items
        self.n = n
        for (index, item) in items.enumerated() {
            let words = Self.words(item.text)
            if words.count >= n {
                for start in 0...(words.count - n) {
                    let gram = words[start..<(start + n)].joined(separator: " ")
                    if grams[gram]?.last != index { grams[gram, default: []].append(index) }
                }
            } else if words.count >= minimum, words.count > 0 {
                let gram = words.joined(separator: " ")
                if grams[gram]?.last != index { grams[gram, default: []].append(index) }
                shortLengths.insert(words.count)
            }
        }
    }

    var gramCount: Int { grams.count }

    /// The items the text shares an n-gram (or a whole short item) with, in item order.
    func hits(_ text: String) -> [Int] {
        let words = Self.words(text)
        var found = Set<Int>()
        for length in shortLengths.union([n]) where words.count >= length {
            for start in 0...(words.count - length) {
                if let items = grams[words[start..<(start + length)].joined(separator: " ")] { found.formUnion(items) }
            }
        }
        return found.sorted()
    }

    /// Reads a JSON Lines file (the text in `field`, the id in `idField`
    /// or the line number) or, for any other extension, one item per non-empty line.
    static func load(path: String, field: String, idField: String?) throws(StepError) -> [Item] {
        let data: String
        do { data = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .io("decontaminate: cannot read the evaluation set \(path): \(error.localizedDescription)")
        }
        let json = path.hasSuffix(".jsonl") || path.hasSuffix(".json") || path.hasSuffix(".ndjson")
        var items: [Item] = []
        for (number, line) in data.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let lineNumber = number + 1
            guard json else { items.append(Item(id: "line \(lineNumber)", text: trimmed)); continue }
            let value: JSONValue
            do { value = try JSONValue(parsing: trimmed) } catch {
                throw .invalidData("decontaminate: \(path):\(lineNumber): not a JSON object: \(error)")
            }
            guard let text = value[field]?.stringValue else {
                throw .invalidData("decontaminate: \(path):\(lineNumber): no text field \"\(field)\"")
            }
            var id = "line \(lineNumber)"
            if let idField, let given = value[idField] {
                id = given.stringValue ?? given.int64Value.map { String($0) } ?? id
            }
            items.append(Item(id: id, text: text))
        }
        return items
    }
}
