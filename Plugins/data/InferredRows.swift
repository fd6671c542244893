import PluginJSONLines
import PluginKit

/// Rows held in memory as compact JSON lines, typed over all of them before
/// the first batch (load_jsonl's inference), so every batch has the same
/// columns. load_inline and load_llm_io make their rows at create and emit
/// them from here.
struct InferredRows {
    private let text = ByteArena()
    private var lineEnds: [Int] = []
    /// What each row is called in messages (its `number`).
    private var numbers: [Int] = []
    private var inference = JSONTypeInference(inexactNumbersAsText: false)
    private var rows: JSONRowAccumulator?
    private var next = 0
    /// Names row `i` in messages (`rows[3]`, `llm-io.jsonl:12`).
    private let label: (Int) -> String

    init(label: @escaping (Int) -> String) { self.label = label }

    var count: Int { lineEnds.count }

    /// Adds a row, typing it; `number` is what `label` names it by.
    mutating func append(_ row: InlineJSON, number: Int) throws(StepError) {
        let start = text.count
        row.write(to: text)
        lineEnds.append(text.count)
        numbers.append(number)
        do throws(JSONSyntaxError) {
            try inference.add(UnsafePointer(text.base + start), count: text.count - start, line: number)
        } catch {
            throw .internal("\(label(number)): \(error.message)")
        }
    }

    /// Ends the typing: a key whose values are of two kinds is an error
    /// naming both rows.
    mutating func seal(step: String) throws(StepError) {
        do throws(JSONTypeConflict) {
            rows = JSONRowAccumulator(columns: try inference.columns(), declared: false, inexactNumbersAsText: false)
        } catch {
            throw .invalidData("\(step): \(error.message(place: label))")
        }
    }

    /// The next batch of at most `size` rows; nil when all were emitted.
    mutating func nextBatch(size: Int) throws(StepError) -> RecordBatch? {
        guard var rows else { return nil }
        defer { self.rows = rows }
        while rows.rowCount < size && rows.textBytes < maxBatchTextBytes && next < lineEnds.count {
            let start = next == 0 ? 0 : lineEnds[next - 1]
            do throws(JSONSyntaxError) {
                try rows.add(UnsafePointer(text.base + start), count: lineEnds[next] - start, line: numbers[next])
            } catch {
                throw .internal("\(label(numbers[next])): \(error.message)")
            }
            next += 1
        }
        guard rows.rowCount > 0 else { return nil }
        return try rows.makeBatch(place: label)
    }
}
