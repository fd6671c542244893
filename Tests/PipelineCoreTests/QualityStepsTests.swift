import Foundation
import Testing

@testable import PipelineJSON

/// The quality plugin (libPipelineQuality.so) through the built binary:
/// quality_filter on ≥ 100 known-good code and markdown answers and on one
/// junk answer per rule, verify_answer, decontaminate, verify_http against
/// a verifier started here, and bad input for each.
@Suite("QualitySteps")
struct QualityStepsTests {
    struct Outcome {
        let status: Int32
        let output: String
        let rows: [JSONValue]
        let errors: [JSONValue]
    }

    /// Runs (or validates) a pipeline whose steps follow `name: e` in
    /// `directory`, writing `out.jsonl`.
    private func run(_ steps: String, in directory: URL? = nil, verb: String = "run") throws -> Outcome {
        try Fixtures.requireBuiltPipeline()
        let directory = try directory ?? Fixtures.emptyDirectory("quality")
        let file = directory.appendingPathComponent("p.yaml")
        try "name: e\nsteps:\n\(steps)".write(to: file, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run-\(UUID().uuidString)")
        let arguments = verb == "run" ? ["run", file.path, "--run-dir", run.path] : ["validate", file.path]
        let result = try Spawned(Fixtures.pipelineBinary, arguments).wait()
        func lines(_ name: String) throws -> [JSONValue] {
            let path = run.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path) else { return [] }
            return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        }
        return Outcome(status: result.status, output: result.output, rows: try lines("out.jsonl"), errors: try lines("errors.jsonl"))
    }

    /// good.jsonl and junk.jsonl from Tests/tools/quality_answers.py.
    private func answerSets() throws -> URL {
        let directory = try Fixtures.emptyDirectory("quality-sets")
        let script = Fixtures.packageRoot.appendingPathComponent("Tests/tools/quality_answers.py").path
        let made = try Spawned("/usr/bin/env", ["python3", script, directory.path]).wait()
        try #require(made.status == 0, "\(made.output)")
        return directory
    }

    private static func rejections(_ row: JSONValue) -> [String] {
        (row["quality_rejections"]?.arrayValue ?? []).compactMap(\.stringValue)
    }

    // MARK: quality_filter

    @Test func knownGoodCodeAndMarkdownAnswersAreKept() throws {
        let sets = try answerSets()
        let result = try run("""
              - {name: load, uses: load_jsonl, with: {path: good.jsonl}}
              - {name: check, uses: quality_filter, input: load, with: {prompt_column: prompt, mode: mark}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, in: sets)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.rows.count >= 100, "\(result.rows.count) rows")
        let rejected = result.rows.filter { !Self.rejections($0).isEmpty }
        let rate = Double(rejected.count) / Double(max(result.rows.count, 1))
        #expect(rate <= 0.02, "\(rejected.count) of \(result.rows.count) good answers rejected: \(rejected.map { ($0["id"]?.int64Value ?? -1, Self.rejections($0)) })")
    }

    @Test func everyJunkAnswerIsCaughtByItsRule() throws {
        let sets = try answerSets()
        let marked = try run("""
              - {name: load, uses: load_jsonl, with: {path: junk.jsonl}}
              - {name: check, uses: quality_filter, input: load, with: {prompt_column: prompt, mode: mark}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, in: sets)
        #expect(marked.status == 0, "\(marked.output)")
        #expect(marked.rows.count == 11)
        for row in marked.rows {
            let expected = row["expect"]?.stringValue ?? "?"
            #expect(Self.rejections(row).contains { $0.hasPrefix(expected + " (") }, "\(expected): \(Self.rejections(row))")
        }
        // mode: error (the default): every junk row is an error row naming its rules.
        let errors = try run("""
              - {name: load, uses: load_jsonl, with: {path: junk.jsonl}}
              - {name: check, uses: quality_filter, input: load, with: {prompt_column: prompt}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, in: sets)
        #expect(errors.status == 3, "\(errors.output)")
        #expect(errors.rows.isEmpty)
        #expect(errors.errors.count == 11)
        let reasons = errors.errors.compactMap { $0["error"]?.stringValue }
        #expect(reasons.contains("quality_filter: finish_reason (length)"), "\(reasons)")
        #expect(reasons.contains("quality_filter: language (prompt en, answer fr)"), "\(reasons)")
        #expect(reasons.contains { $0.hasPrefix("quality_filter: refusal (\"i'm sorry, but i can\")") }, "\(reasons)")
    }

    @Test func rulesFollowTheirParameters() throws {
        let rows = """
              - name: load
                uses: load_inline
                with:
                  rows:
                    - {id: 1, prompt: "Say hi.", generation: "Sorry, I will not do that.", finish_reason: length}
            """
        let off = try run(rows + "\n" + """
              - {name: check, uses: quality_filter, input: load, with: {prompt_column: prompt, reject_finish_reasons: []}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """)
        #expect(off.status == 0 && off.rows.count == 1, "\(off.output)")
        let phrases = try run(rows + "\n" + """
              - {name: check, uses: quality_filter, input: load, with: {reject_finish_reasons: [], refusal_phrases: ["i will not"]}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """)
        #expect(phrases.errors.first?["error"]?.stringValue == "quality_filter: refusal (\"i will not\")", "\(phrases.errors)")
    }

    @Test func qualityFilterBadInput() throws {
        // A column no earlier step makes: a validation error at its line and column.
        let missing = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, text: hello}]}}
              - {name: check, uses: quality_filter, input: load, with: {answer_column: answer}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, verb: "validate")
        #expect(missing.status == 2, "\(missing.output)")
        #expect(missing.output.contains("p.yaml:4:"), "\(missing.output)")
        #expect(missing.output.contains("needs column \"answer\""), "\(missing.output)")
        let prompt = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, generation: hello}]}}
              - {name: check, uses: quality_filter, input: load, with: {prompt_column: question}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, verb: "validate")
        #expect(prompt.status == 2, "\(prompt.output)")
        #expect(prompt.output.contains("p.yaml:4:") && prompt.output.contains("prompt_column: no column \"question\""), "\(prompt.output)")
        // Bad parameters.
        let mode = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, generation: hello}]}}
              - {name: check, uses: quality_filter, input: load, with: {mode: keep}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, verb: "validate")
        #expect(mode.status == 2 && mode.output.contains("mode"), "\(mode.output)")
        let bounds = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, generation: hello}]}}
              - {name: check, uses: quality_filter, input: load, with: {min_words: 10, max_words: 5}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """)
        #expect(bounds.status != 0 && bounds.output.contains("min_words (10) is above max_words (5)"), "\(bounds.output)")
        // A null answer is an error row; an empty input an empty output.
        let null = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, generation: null}, {id: 2, generation: "Fine."}]}}
              - {name: check, uses: quality_filter, input: load}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """)
        #expect(null.status == 3 && null.rows.count == 1, "\(null.output)")
        #expect(null.errors.first?["error"]?.stringValue == "quality_filter: the answer (generation) is null")
    }

    @Test(arguments: ["quality_filter", "verify_answer", "decontaminate"])
    func anEmptyInputGivesAnEmptyOutput(step: String) throws {
        let directory = try Fixtures.emptyDirectory("quality-empty")
        try "".write(to: directory.appendingPathComponent("empty.jsonl"), atomically: true, encoding: .utf8)
        try "{\"prompt\": \"one two three four five six seven eight nine ten eleven twelve thirteen\"}\n"
            .write(to: directory.appendingPathComponent("eval.jsonl"), atomically: true, encoding: .utf8)
        let with = switch step {
        case "verify_answer": "{}"
        case "decontaminate": "{eval_file: eval.jsonl}"
        default: "{}"
        }
        let result = try run("""
              - {name: load, uses: load_jsonl, with: {path: empty.jsonl, columns: {instruction: utf8, generation: utf8, reference: utf8}}}
              - {name: check, uses: \(step), input: load, with: \(with)}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, in: directory)
        #expect(result.status == 0, "\(step): \(result.output)")
        #expect(result.rows.isEmpty && result.errors.isEmpty)
    }

    // MARK: verify_answer

    @Test func verifyAnswerExtractsAndMatches() throws {
        let steps = """
              - name: load
                uses: load_inline
                with:
                  rows:
                    - {id: 1, generation: "So the final answer is $\\\\boxed{\\\\frac{1}{2}}$.", reference: "0.5"}
                    - {id: 2, generation: "Adding them gives 1,234 apples in total.", reference: "1234"}
                    - {id: 3, generation: "The answer is Paris.", reference: "paris"}
                    - {id: 4, generation: "I think it is 7.", reference: "8"}
                    - {id: 5, generation: "no idea", reference: null}
                    - {id: 6, generation: "pi is about 3.14159", reference: "3.1416"}
                    - {id: 7, generation: "Thinking...\\nThe result:\\nx = {2, 3}", reference: "x = {2,3}"}
            """
        let marked = try run(steps + "\n" + """
              - {name: check, uses: verify_answer, input: load, with: {tolerance: 0.0001}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """)
        #expect(marked.status == 3, "\(marked.output)")
        let verdicts = Dictionary(uniqueKeysWithValues: marked.rows.map { ($0["id"]?.int64Value ?? -1, $0["correct"]?.boolValue) })
        #expect(verdicts == [1: true, 2: true, 3: true, 4: false, 6: true, 7: true], "\(marked.rows)")
        let extracted = marked.rows.compactMap { $0["extracted_answer"]?.stringValue }
        #expect(extracted == ["\\frac{1}{2}", "1,234", "Paris", "7", "3.14159", "x = {2, 3}"], "\(extracted)")
        #expect(marked.errors.first?["error"]?.stringValue == "verify_answer: the reference (reference) is null")
        // Tighter tolerance, and drop.
        let dropped = try run(steps + "\n" + """
              - {name: check, uses: verify_answer, input: load, with: {on_mismatch: drop, tolerance: 0}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """)
        #expect(dropped.rows.compactMap { $0["id"]?.int64Value } == [1, 2, 3, 7], "\(dropped.rows)")
        #expect(dropped.output.contains("2 row(s) whose answer did not match the reference were left out"), "\(dropped.output)")
        // A named extraction: the last number even where a sentence says "answer is".
        let number = try run(steps + "\n" + """
              - {name: check, uses: verify_answer, input: load, with: {extract: number, match: numeric}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """)
        #expect(number.rows.first { $0["id"]?.int64Value == 1 }?["extracted_answer"]?.stringValue == "2", "\(number.rows)")
    }

    @Test func verifyAnswerBadInput() throws {
        let missing = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, generation: "4"}]}}
              - {name: check, uses: verify_answer, input: load, with: {reference_column: truth}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, verb: "validate")
        #expect(missing.status == 2 && missing.output.contains("p.yaml:4:") && missing.output.contains("\"truth\""), "\(missing.output)")
        let same = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, generation: "4", reference: "4"}]}}
              - {name: check, uses: verify_answer, input: load, with: {verdict_column: x, extracted_column: x}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """)
        #expect(same.status != 0 && same.output.contains("verdict_column and extracted_column are both"), "\(same.output)")
        let extract = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, generation: "4", reference: "4"}]}}
              - {name: check, uses: verify_answer, input: load, with: {extract: magic}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, verb: "validate")
        #expect(extract.status == 2 && extract.output.contains("extract"), "\(extract.output)")
    }

    // MARK: decontaminate

    private static let evalSet = """
        {"id": "gsm-1", "prompt": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips to her friends in May. How many clips did Natalia sell altogether in April and May?"}
        {"id": "gsm-2", "prompt": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?"}
        {"id": "short", "prompt": "What is the capital city of the country of France?"}
        {"id": "tiny", "prompt": "Hello there."}

        """

    private static let contaminated = """
          - name: load
            uses: load_inline
            with:
              rows:
                - {id: 1, instruction: "NATALIA sold clips to 48 of her friends in April, and then she sold half as many clips to her friends in June!"}
                - {id: 2, instruction: "How do tides work?"}
                - {id: 3, instruction: "Quick: what is the capital city of the country of France? Answer briefly."}
                - {id: 4, instruction: "Weng earns 12 an hour for babysitting; she did 50 minutes of it."}
                - {id: 5, instruction: null}
                - {id: 6, instruction: "Hello there."}
                - {id: 7, instruction: "natalia sold clips to 48 of her friends in april and then she sold half as many clips to her"}
        """

    @Test func decontaminateDropsAndReports() throws {
        let directory = try Fixtures.emptyDirectory("decontaminate")
        try Self.evalSet.write(to: directory.appendingPathComponent("eval.jsonl"), atomically: true, encoding: .utf8)
        let dropped = try run(Self.contaminated + "\n" + """
              - {name: clean, uses: decontaminate, input: load, with: {eval_file: eval.jsonl, eval_id_field: id}}
              - {name: save, uses: write_jsonl, input: clean, with: {path: out.jsonl}}
            """, in: directory)
        #expect(dropped.status == 3, "\(dropped.output)")
        // 4 shares no 13 words in a row with gsm-2 ("$12" and the cut sentence); 6 matches an item below min_ngram.
        #expect(dropped.rows.compactMap { $0["id"]?.int64Value } == [2, 4, 6], "\(dropped.rows)")
        #expect(dropped.errors.first?["error"]?.stringValue == "decontaminate: the prompt (instruction) is null")
        #expect(dropped.output.contains("decontaminate: 3 of 7 row(s) share a 13-gram with the evaluation set (dropped); 2 of 4 evaluation item(s) hit"), "\(dropped.output)")
        #expect(dropped.output.contains("decontaminate: evaluation item gsm-1 (\\\"Natalia sold clips to 48 of her friends…\\\"): 2 row(s)"), "\(dropped.output)")
        #expect(dropped.output.contains("decontaminate: evaluation item short"), "\(dropped.output)")
        // mark, a smaller n and a text file: row 4 is caught by 6-grams.
        try Self.evalSet.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0))["prompt"]?.stringValue }
            .joined(separator: "\n").write(to: directory.appendingPathComponent("eval.txt"), atomically: true, encoding: .utf8)
        let marked = try run(Self.contaminated + "\n" + """
              - {name: clean, uses: decontaminate, input: load, with: {eval_file: eval.txt, ngram: 6, min_ngram: 2, mode: mark}}
              - {name: save, uses: write_jsonl, input: clean, with: {path: out.jsonl}}
            """, in: directory)
        let flags = marked.rows.map { ($0["id"]?.int64Value ?? -1, $0["contaminated"]?.boolValue ?? false) }
        #expect(flags.map(\.0) == [1, 2, 3, 4, 6, 7] && flags.map(\.1) == [true, false, true, true, true, true], "\(marked.rows)")
        let by = marked.rows.first { $0["id"]?.int64Value == 4 }?["contaminated_by"]?.arrayValue?.compactMap(\.stringValue)
        #expect(by == ["line 2"], "\(marked.rows)")
    }

    @Test func decontaminateBadInput() throws {
        let directory = try Fixtures.emptyDirectory("decontaminate-bad")
        try "{\"text\": \"no prompt here\"}\n".write(to: directory.appendingPathComponent("eval.jsonl"), atomically: true, encoding: .utf8)
        let field = try run(Self.contaminated + "\n" + """
              - {name: clean, uses: decontaminate, input: load, with: {eval_file: eval.jsonl}}
              - {name: save, uses: write_jsonl, input: clean, with: {path: out.jsonl}}
            """, in: directory)
        #expect(field.status != 0 && field.output.contains("eval.jsonl:1: no text field"), "\(field.output)")
        let absent = try run(Self.contaminated + "\n" + """
              - {name: clean, uses: decontaminate, input: load, with: {eval_file: nowhere.jsonl}}
              - {name: save, uses: write_jsonl, input: clean, with: {path: out.jsonl}}
            """, in: directory)
        #expect(absent.status != 0 && absent.output.contains("nowhere.jsonl"), "\(absent.output)")
        let sizes = try run(Self.contaminated + "\n" + """
              - {name: clean, uses: decontaminate, input: load, with: {eval_file: eval.jsonl, eval_field: text, ngram: 5, min_ngram: 6}}
              - {name: save, uses: write_jsonl, input: clean, with: {path: out.jsonl}}
            """, in: directory)
        #expect(sizes.status != 0 && sizes.output.contains("min_ngram (6) is above ngram (5)"), "\(sizes.output)")
        let missing = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, prompt: "x"}]}}
              - {name: clean, uses: decontaminate, input: load, with: {eval_file: eval.jsonl}}
              - {name: save, uses: write_jsonl, input: clean, with: {path: out.jsonl}}
            """, in: directory, verb: "validate")
        #expect(missing.status == 2 && missing.output.contains("p.yaml:4:") && missing.output.contains("\"instruction\""), "\(missing.output)")
    }

    // MARK: verify_http

    /// Tests/tools/verifier_server.py on a free port, its request log in `directory`.
    private func startVerifier(_ directory: URL) throws -> (Spawned, Int) {
        let script = Fixtures.packageRoot.appendingPathComponent("Tests/tools/verifier_server.py").path
        let server = try Spawned("/usr/bin/env", ["python3", script, directory.appendingPathComponent("requests.jsonl").path])
        for _ in 0..<100 {
            if let line = server.output.split(separator: "\n").first, let port = Int(line) { return (server, port) }
            usleep(50_000)
        }
        server.kill()
        throw FixtureError(message: "the verifier did not start: \(server.output)")
    }

    @Test func verifyHTTPKeepsTheVerdict() throws {
        let directory = try Fixtures.emptyDirectory("verify-http")
        let (server, port) = try startVerifier(directory)
        defer { server.kill(); _ = server.wait() }
        let rows = """
              - name: load
                uses: load_inline
                with:
                  rows:
                    - {id: 1, answer: "4", reference: "4", other: x}
                    - {id: 2, answer: "5", reference: "4", other: x}
                    - {id: 3, answer: "flaky", reference: "flaky", other: x}
                    - {id: 4, answer: "boom", reference: "x", other: x}
                    - {id: 5, answer: "notjson", reference: "x", other: x}
                    - {id: 6, answer: "noverdict", reference: "x", other: x}
                    - {id: 7, answer: "7", reference: "7", other: x}
                    - {id: 8, answer: "8", reference: "9", other: x}
                    - {id: 9, answer: "slow", reference: "slow", other: x}
            """
        let url = "http://127.0.0.1:\(port)/verify"
        let result = try run(rows + "\n" + """
              - {name: check, uses: verify_http, input: load, with: {url: "\(url)", columns: [answer, reference], concurrency: 4, max_attempts: 2, timeout: 2}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, in: directory)
        #expect(result.status == 3, "\(result.output)")
        let verdicts = Dictionary(uniqueKeysWithValues: result.rows.map { ($0["id"]?.int64Value ?? -1, $0["verdict"]?.boolValue) })
        #expect(verdicts == [1: true, 2: false, 3: true, 7: true, 8: false], "\(result.rows)")
        let reasons = Dictionary(uniqueKeysWithValues: result.errors.map {
            ($0["row"]?["id"]?.int64Value ?? -1, $0["error"]?.stringValue ?? "") })
        #expect(reasons[4] == "verify_http: \(url): HTTP 500 after 2 attempts: \"{\"error\": \"the runner crashed\"}\"", "\(reasons)")
        #expect(reasons[5] == "verify_http: the verifier's answer is not JSON: \"all good\"", "\(reasons)")
        #expect(reasons[6] == "verify_http: the verifier's answer has no \"verdict\": \"{}\"", "\(reasons)")
        #expect(reasons[9]?.contains("timed out") == true && reasons[9]?.contains("after 2 attempts") == true, "\(reasons)")
        // Only the chosen columns were sent, several at a time.
        let log = try String(contentsOf: directory.appendingPathComponent("requests.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        let bodies = log.compactMap { $0["body"]?.stringValue }.map { try? JSONValue(parsing: $0) }
        #expect(bodies.allSatisfy { $0?.objectValue.map { Set($0.keys) } == ["answer", "reference"] }, "\(bodies)")
        // At most 4 of ours in flight, plus the timed-out "slow" one the server still sleeps in.
        let peak = log.compactMap { $0["peak"]?.int64Value }.max() ?? 0
        #expect(peak >= 2 && peak <= 5, "peak \(peak)")
        // A score as float64.
        let score = try run(rows + "\n" + """
              - {name: pick, uses: filter, input: load, with: {where: 'id <= 2'}}
              - {name: check, uses: verify_http, input: pick, with: {url: "\(url)", columns: [answer, reference], verdict_field: score, verdict_type: float64, output_column: score}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, in: directory)
        #expect(score.rows.compactMap { $0["score"]?.doubleValue } == [1, 0], "\(score.output)")
    }

    @Test func verifyHTTPBadInput() throws {
        let bad = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, answer: "4"}]}}
              - {name: check, uses: verify_http, input: load, with: {url: "ftp://example.org", columns: [answer]}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """, verb: "validate")
        #expect(bad.status == 2 && bad.output.contains("url"), "\(bad.output)")
        let column = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, answer: "4"}]}}
              - {name: check, uses: verify_http, input: load, with: {url: "http://127.0.0.1:9/", columns: [answer, nope]}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """)
        #expect(column.status != 0 && column.output.contains("columns: the input has no column"), "\(column.output)")
        // Nobody listening: a row error after the attempts, not a crash.
        let refused = try run("""
              - {name: load, uses: load_inline, with: {rows: [{id: 1, answer: "4"}]}}
              - {name: check, uses: verify_http, input: load, with: {url: "http://127.0.0.1:9/", columns: [answer], max_attempts: 1}}
              - {name: save, uses: write_jsonl, input: check, with: {path: out.jsonl}}
            """)
        #expect(refused.status == 3 && refused.errors.count == 1, "\(refused.output)")
    }
}
