import Foundation
import Testing

@testable import PipelineJSON

/// `dedup_exact` and `dedup_minhash` (libPipelineDedup.so) through the built
/// binary: planted near duplicates scored against exact Jaccard computed
/// here, the normalisation options, which row is kept, mark mode, null
/// text, empty input, bad parameters, and a kill/resume.
@Suite("Dedup")
struct DedupTests {
    private var binary: String { Fixtures.pipelineBinary }

    /// Runs `steps` after a load_jsonl of `rows` (one JSON object each) and
    /// returns the exit status, the output and the rows of out.jsonl.
    private func run(_ rows: [String], _ steps: String, _ label: String)
        throws -> (status: Int32, output: String, out: [JSONValue], errors: [JSONValue]) {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory(label)
        let input = directory.appendingPathComponent("in.jsonl")
        try rows.joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("p.yaml")
        try """
            name: dedup
            steps:
              - {name: load, uses: load_jsonl, with: {path: \(input.path)}, batch_size: 100}
            \(steps)
              - {name: save, uses: write_jsonl, input: dedup, with: {path: out.jsonl}}
            """.write(to: file, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run")
        let result = try Spawned(binary, ["run", file.path, "--run-dir", run.path]).wait()
        func lines(_ name: String) throws -> [JSONValue] {
            let path = run.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path) else { return [] }
            return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        }
        return (result.status, result.output, try lines("out.jsonl"), try lines("errors.jsonl"))
    }

    private func row(_ id: Int, _ text: String?, score: Double? = nil) -> String {
        var object: [String: JSONValue] = ["id": .number(Double(id)), "text": text.map(JSONValue.string) ?? .null]
        if let score { object["score"] = .number(score) }
        return JSONValue.object(object).serialized
    }

    private func ids(_ rows: [JSONValue]) -> [Int] { rows.compactMap { $0["id"]?.int64Value.map(Int.init) } }

    // MARK: - Exact

    private static let variants = ["Hello, World!", "hello world", "  HELLO   world  ", "Hello World", "hello, world", "Goodbye"]

    @Test(arguments: [
        ("{}", [0, 1, 4, 5]),                    // case and white space ignored, punctuation counts
        ("{ignore_punctuation: true}", [0, 5]),
        ("{ignore_case: false}", [0, 1, 2, 3, 4, 5]),
        ("{ignore_whitespace: false, ignore_punctuation: true}", [0, 2, 5]),
        ("{ignore_case: false, ignore_whitespace: false}", [0, 1, 2, 3, 4, 5]),
    ])
    func exactNormalisationOptions(with: String, expected: [Int]) throws {
        let rows = Self.variants.enumerated().map { row($0.offset, $0.element) }
        let result = try run(rows, "  - {name: dedup, uses: dedup_exact, input: load, with: \(with)}", "dedup-exact")
        #expect(result.status == 0, "\(result.output)")
        #expect(ids(result.out) == expected.sorted(), "\(with): \(result.out)")
        let dropped = Self.variants.count - expected.count
        #expect(result.output.contains("dedup_exact: \(dropped) of 6 row(s) duplicated an earlier kept row"), "\(result.output)")
    }

    @Test func exactKeepsTheBestByScoreAndMarksInsteadOfDropping() throws {
        let rows = [row(0, "a b", score: 1), row(1, "A  B", score: 5), row(2, "c", score: 2), row(3, "a b", score: 5),
                    row(4, "c"), row(5, "x", score: 0)]
        let best = try run(rows, "  - {name: dedup, uses: dedup_exact, input: load, with: {keep: 'max:score'}}", "dedup-exact-max")
        #expect(best.status == 0, "\(best.output)")
        #expect(ids(best.out) == [1, 2, 5], "ties go to the first, a null score ranks lowest: \(best.out)")
        let mark = try run(rows, "  - {name: dedup, uses: dedup_exact, input: load, with: {mode: mark}}", "dedup-exact-mark")
        #expect(mark.status == 0, "\(mark.output)")
        #expect(ids(mark.out) == [0, 1, 2, 3, 4, 5])
        let marked = mark.out.map { $0["duplicate_of"] }
        #expect(marked[0] == .null && marked[2] == .null && marked[5] == .null, "\(mark.out)")
        #expect(marked[1] != .null && marked[1] == marked[3], "rows 1 and 3 point at row 0's _row_id: \(mark.out)")
        #expect(marked[4] != .null && marked[4] != marked[1], "\(mark.out)")
    }

    @Test func aNullTextIsAnErrorRowAndAnEmptyInputGivesAnEmptyOutput() throws {
        for step in ["dedup_exact", "dedup_minhash"] {
            let result = try run([row(0, "a"), row(1, nil), row(2, "a")],
                                 "  - {name: dedup, uses: \(step), input: load}", "dedup-null")
            #expect(result.status == 3, "\(result.output)")
            #expect(ids(result.out) == [0])
            #expect(result.errors.count == 1 && result.errors.first?["error"]?.stringValue == "\(step): \"text\" is null",
                    "\(result.errors)")
            let empty = try run([], "  - {name: dedup, uses: \(step), input: load}", "dedup-empty")
            #expect(empty.status == 0, "\(empty.output)")
            #expect(empty.out.isEmpty)
        }
    }

    @Test func badParametersAreRefused() throws {
        let bands = try run([row(0, "a")], "  - {name: dedup, uses: dedup_minhash, input: load, with: {permutations: 100, bands: 16, rows_per_band: 8}}", "dedup-bands")
        #expect(bands.status != 0 && bands.status != 3, "\(bands.output)")
        #expect(bands.output.contains("bands × rows_per_band must equal permutations: 16 × 8 = 128, permutations is 100"), "\(bands.output)")
        let keep = try run([row(0, "a")], "  - {name: dedup, uses: dedup_exact, input: load, with: {keep: best}}", "dedup-keep")
        #expect(keep.status == 2, "\(keep.output)")
        #expect(keep.output.contains("keep"), "\(keep.output)")
        let threshold = try run([row(0, "a")], "  - {name: dedup, uses: dedup_minhash, input: load, with: {threshold: 0}}", "dedup-threshold")
        #expect(threshold.status == 2, "\(threshold.output)")
        let column = try run([row(0, "a")], "  - {name: dedup, uses: dedup_minhash, input: load, with: {keep: 'max:nope'}}", "dedup-score")
        #expect(column.status != 0 && column.output.contains("max:nope names a column the input does not have"), "\(column.output)")
    }

    // MARK: - MinHash against exact Jaccard

    /// Character 5-gram sets of the text as dedup_minhash normalises it by
    /// default (lower case, no punctuation, white space collapsed), written
    /// independently of the plugin.
    private static func shingles(_ text: String) -> [Int] {
        let kept = text.lowercased().unicodeScalars.filter { !CharacterSet.punctuationCharacters.contains($0) && !CharacterSet.symbols.contains($0) }
        let words = String(String.UnicodeScalarView(kept)).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let characters = Array(words.unicodeScalars)
        guard characters.count >= 5 else { return characters.isEmpty ? [] : [String(String.UnicodeScalarView(characters)).hashValue] }
        return Set((0...(characters.count - 5)).map { String(String.UnicodeScalarView(characters[$0..<($0 + 5)])).hashValue }).sorted()
    }

    private static func jaccard(_ a: [Int], _ b: [Int]) -> Double {
        var i = 0, j = 0, common = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] { common += 1; i += 1; j += 1 } else if a[i] < b[j] { i += 1 } else { j += 1 }
        }
        return Double(common) / Double(a.count + b.count - common)
    }

    /// A corpus of random 25-word texts, with planted near duplicates (one
    /// or, for one in four, two words changed; case and punctuation changed:
    /// Jaccard about 0.8 to 0.9, some two-word ones just below 0.8)
    /// and planted hard negatives (six to nine words changed: Jaccard
    /// about 0.4 to 0.7), in shuffled order.
    private static func plantedCorpus() -> [String] {
        var state: UInt64 = 20
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        let vocabulary = (0..<3000).map { _ in String((0..<(3 + Int(next() % 7))).map { _ in letters[Int(next() % 26)] }) }
        func word() -> String { vocabulary[Int(next() % UInt64(vocabulary.count))] }
        func changed(_ words: [String], _ count: Int) -> [String] {
            var words = words
            for _ in 0..<count { words[Int(next() % UInt64(words.count))] = word() }
            return words
        }
        var texts: [String] = []
        for base in 0..<500 {
            let words = (0..<25).map { _ in word() }
            texts.append(words.joined(separator: " "))
            if base % 3 == 0 {
                var near = changed(words, next() % 4 == 0 ? 2 : 1)
                near[0] = near[0].capitalized
                near[5] += ","
                texts.append(near.joined(separator: " ") + ".")
            } else if base % 3 == 1 {
                texts.append(changed(words, 6 + Int(next() % 4)).joined(separator: " "))
            }
        }
        for index in stride(from: texts.count - 1, to: 0, by: -1) { texts.swapAt(index, Int(next() % UInt64(index + 1))) }
        return texts
    }

    @Test func plantedNearDuplicatesAreFoundWithRecallAndPrecisionAgainstExactJaccard() throws {
        let texts = Self.plantedCorpus()
        let sets = texts.map(Self.shingles)
        var truth: [(Int, Int)] = []
        var planted = 0
        for a in 0..<texts.count {
            for b in (a + 1)..<texts.count {
                let similarity = Self.jaccard(sets[a], sets[b])
                if similarity >= 0.8 { truth.append((a, b)) }
                if similarity > 0.3 { planted += 1 }
            }
        }
        #expect(truth.count >= 140, "the corpus plants about 167 near pairs, most at Jaccard ≥ 0.8; found \(truth.count)")
        #expect(planted - truth.count >= 150, "and about 167 hard negatives; found \(planted - truth.count)")
        let result = try run(texts.enumerated().map { row($0.offset, $0.element) },
                             "  - {name: dedup, uses: dedup_minhash, input: load, with: {mode: mark, threshold: 0.8}}", "dedup-planted")
        #expect(result.status == 0, "\(result.output)")
        try #require(result.out.count == texts.count, "\(result.output)")
        // _row_id of a load_jsonl row: the generator's ordinal << 48 | its line; the id column is the line.
        let byLine = result.out.map { ($0["id"]?.int64Value ?? -1, $0["duplicate_of"]?.int64Value) }
        let cluster = Dictionary(uniqueKeysWithValues: byLine.map { ($0.0, ($0.1 ?? $0.0) & 0xFFFF_FFFF_FFFF) })
        let found = truth.filter { cluster[Int64($0.0)] == cluster[Int64($0.1)] }.count
        let recall = Double(found) / Double(truth.count)
        let predicted = byLine.compactMap { line, kept in kept.map { (Int(line), Int($0 & 0xFFFF_FFFF_FFFF)) } }
        let correct = predicted.filter { Self.jaccard(sets[$0.0], sets[$0.1]) >= 0.8 }.count
        let precision = predicted.isEmpty ? 1 : Double(correct) / Double(predicted.count)
        print("dedup_minhash on the planted corpus: \(texts.count) rows, \(truth.count) pairs at Jaccard ≥ 0.8, recall \(recall), precision \(precision)")
        #expect(recall >= 0.95, "recall \(recall): \(found) of \(truth.count)")
        #expect(precision >= 0.99, "precision \(precision): \(correct) of \(predicted.count)")
        #expect(result.output.contains("rejected by the Jaccard check"), "\(result.output)")
    }

    @Test func minhashKeepsTheBestByScoreAndWordShinglesWork() throws {
        let base = "the quick brown fox jumps over the lazy dog near the river bank today"
        let rows = [row(0, base, score: 1), row(1, "something else entirely different here", score: 9),
                    row(2, base + "!", score: 3), row(3, base.uppercased(), score: 2)]
        let best = try run(rows, "  - {name: dedup, uses: dedup_minhash, input: load, with: {keep: 'max:score'}}", "dedup-minhash-max")
        #expect(best.status == 0, "\(best.output)")
        #expect(ids(best.out) == [1, 2], "\(best.out)")
        let words = try run(rows, "  - {name: dedup, uses: dedup_minhash, input: load, with: {ngram: word, ngram_size: 3}}", "dedup-minhash-words")
        #expect(words.status == 0, "\(words.output)")
        #expect(ids(words.out) == [0, 1], "\(words.out)")
    }

    // MARK: - Resume

    /// Killed with SIGKILL several times and resumed, dedup_exact (stateful:
    /// replayed from its first input) and dedup_minhash (global: replayed)
    /// write what an uninterrupted run writes.
    @Test func killedAndResumedDedupWritesTheSameFiles() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("dedup-kill")
        let input = directory.appendingPathComponent("in.jsonl")
        try (0..<20_000).map { "{\"id\":\($0),\"text\":\"row number \($0 % 7000) of the input\"}" }.joined(separator: "\n")
            .write(to: input, atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: dedup-kill
            steps:
              - {name: load, uses: load_jsonl, with: {path: \(input.path)}, batch_size: 500}
              - {name: lazy, uses: slow, input: load, with: {delay_ms: 25}}
              - {name: exact, uses: dedup_exact, input: lazy, with: {mode: mark}}
              - {name: near, uses: dedup_minhash, input: lazy, with: {ngram: word, ngram_size: 2, threshold: 0.9}}
              - {name: save_exact, uses: write_jsonl, input: exact, with: {path: exact.jsonl}}
              - {name: save_near, uses: write_jsonl, input: near, with: {path: near.jsonl}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let flags = ["--plugin-path", Fixtures.buildDirectory.appendingPathComponent("pipeline-plugins").path,
                     "--plugin-path", try Fixtures.library("Tests/Fixtures/plugins/slow.c")]
        let reference = directory.appendingPathComponent("reference").path
        let first = try Spawned(binary, ["run", file, "--run-dir", reference] + flags).wait()
        #expect(first.status == 0, "\(first.output)")
        let killed = directory.appendingPathComponent("killed").path
        var landed = 0
        for delay in [250, 520, 360, 710, 430] {
            let process = try Spawned(binary, ["run", file, "--run-dir", killed] + flags)
            Thread.sleep(forTimeInterval: Double(delay) / 1000)
            if process.isRunning {
                process.kill(SIGKILL)
                landed += 1
            }
            _ = process.wait()
        }
        let last = try Spawned(binary, ["run", file, "--run-dir", killed] + flags).wait()
        #expect(last.status == 0, "\(last.output)")
        #expect(landed >= 2, "most kills should land while the run is going")
        for name in ["exact.jsonl", "near.jsonl"] {
            let expected = try String(contentsOfFile: reference + "/" + name, encoding: .utf8)
            let got = try String(contentsOfFile: killed + "/" + name, encoding: .utf8)
            #expect(got == expected, "\(name)")
        }
        let exact = try String(contentsOfFile: reference + "/exact.jsonl", encoding: .utf8).split(separator: "\n")
        let near = try String(contentsOfFile: reference + "/near.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(exact.count == 20_000 && exact.filter { $0.contains("\"duplicate_of\":null") }.count == 7000)
        #expect(near.count == 7000, "only the same texts are within Jaccard 0.9 (word 2-grams): \(near.count)")
    }
}
