import Foundation
import Testing

@testable import PipelineJSON

/// The student-against-teacher evaluation: rouge_l and win_rate on known
/// values, and pipelines/evaluate.yaml end to end (held-out prompts checked,
/// a position-biased judge neutralised).
@Suite("Evaluation")
struct EvaluationTests {
    private func run(_ yaml: String, _ name: String, environment: [String: String]? = nil) throws -> (status: Int32, output: String, directory: URL) {
        let directory = try Fixtures.emptyDirectory(name)
        let file = directory.appendingPathComponent("p.yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", directory.appendingPathComponent("run").path,
                                                           "--no-llm-cache", "--log-format", "json"], environment: environment).wait()
        return (result.status, result.output, directory.appendingPathComponent("run"))
    }

    private func rows(_ file: URL) throws -> [JSONValue] {
        try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    @Test func rougeLAndTheWilsonIntervalOnKnownValues() throws {
        try Fixtures.requireBuiltPipeline()
        // 50 A, 30 B, 10 tie, 10 inconsistent: 100 rows, rate (50 + 20/2) / 100 = 0.6.
        var rows: [String] = []
        for (verdict, count) in [("A", 50), ("B", 30), ("tie", 10), ("inconsistent", 10)] {
            for _ in 0..<count {
                rows.append(#"{verdict: \#(verdict), p: "The cat sat on the mat.", r: "the cat LAY on the mat"}"#)
            }
        }
        let result = try run("""
            name: eval
            steps:
              - {name: load, uses: load_inline, with: {rows: [\(rows.joined(separator: ", "))]}}
              - {name: overlap, uses: rouge_l, input: load, with: {prediction_column: p, reference_column: r}}
              - {name: summary, uses: win_rate, input: overlap, with: {mean_columns: [rouge_l]}}
              - {name: save, uses: write_jsonl, input: summary, with: {path: summary.jsonl}}
            """, "evaluation-known")
        #expect(result.status == 0, "\(result.output)")
        let summary = try #require(try self.rows(result.directory.appendingPathComponent("summary.jsonl")).first)
        #expect(summary["n"]?.int64Value == 100 && summary["a_wins"]?.int64Value == 50 && summary["b_wins"]?.int64Value == 30)
        #expect(summary["ties"]?.int64Value == 10 && summary["inconsistent"]?.int64Value == 10)
        #expect(summary["win_rate"]?.doubleValue == 0.6)
        // Wilson, p = 0.6, n = 100, z = 1.959964: [0.50200, 0.69066].
        #expect(abs((summary["ci_low"]?.doubleValue ?? 0) - 0.50200) < 1e-4, "\(summary)")
        #expect(abs((summary["ci_high"]?.doubleValue ?? 0) - 0.69066) < 1e-4, "\(summary)")
        // LCS of [the cat sat on the mat] and [the cat lay on the mat] is 5 words: F = 5/6.
        #expect(abs((summary["mean_rouge_l"]?.doubleValue ?? 0) - 5.0 / 6.0) < 1e-12, "\(summary)")
        #expect(result.output.contains("A win rate" + String(repeating: " ", count: 16) + "60.0%  [50.2%, 69.1%] Wilson"), "\(result.output)")
    }

    @Test func aVerdictOutsideTheFourFailsTheStepAndANullTextIsAnErrorRow() throws {
        try Fixtures.requireBuiltPipeline()
        let bad = try run("""
            name: eval
            steps:
              - {name: load, uses: load_inline, with: {rows: [{verdict: A}, {verdict: maybe}]}}
              - {name: summary, uses: win_rate, input: load}
              - {name: save, uses: write_jsonl, input: summary, with: {path: summary.jsonl}}
            """, "evaluation-bad-verdict")
        #expect(bad.status == 1, "\(bad.output)")
        #expect(bad.output.contains(#"verdict \"maybe\" is none of A, B, tie, inconsistent"#), "\(bad.output)")

        let null = try run("""
            name: eval
            steps:
              - {name: load, uses: load_inline, with: {rows: [{p: a b, r: a b}, {p: null, r: x}]}}
              - {name: overlap, uses: rouge_l, input: load, with: {prediction_column: p, reference_column: r}}
              - {name: save, uses: write_jsonl, input: overlap, with: {path: out.jsonl}}
            """, "evaluation-null")
        #expect(null.status == 3, "\(null.output)")
        #expect(try rows(null.directory.appendingPathComponent("out.jsonl")).first?["rouge_l"]?.doubleValue == 1)
        let errors = try String(contentsOf: null.directory.appendingPathComponent("errors.jsonl"), encoding: .utf8)
        #expect(errors.contains("rouge_l: p is null"), "\(errors)")
    }

    /// A column the file names for an input the step needs only in one mode
    /// (the judge's answer_a_column) is checked by `validate` like any input.
    @Test func aNamedColumnNoStepMakesIsAValidationError() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("evaluation-validate")
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: eval
            llms:
              judge: {base_url: "http://127.0.0.1:9/v1", model: judge}
            steps:
              - {name: load, uses: load_inline, with: {rows: [{instruction: q, answer_a: x, answer_b: y}]}}
              - name: compare
                uses: judge
                llm: judge
                input: load
                with: {mode: pairwise, answer_a_column: answer_a, answer_b_column: answer_c}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Spawned(Fixtures.pipelineBinary, ["validate", file]).wait()
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("p.yaml:10:72: error: steps[1].with.answer_b_column: no column \"answer_c\" reaches step \"compare\" (available: answer_a, answer_b, instruction)"),
                "\(result.output)")
        #expect(!result.output.contains("answer_a_column"), "\(result.output)")
    }

    @Test func theBundledEvaluationHoldsPromptsOutAndNeutralisesAPositionBiasedJudge() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--latency-ms", "2"])
        let pipeline = Fixtures.packageRoot.appendingPathComponent("pipelines/evaluate.yaml").path
        let prompts = try String(contentsOfFile: Fixtures.packageRoot.appendingPathComponent("pipelines/evaluate-prompts.jsonl").path,
                                 encoding: .utf8).split(separator: "\n").count
        for (judge, biased) in [("judge", false), ("judge-first-biased", true)] {
            var environment = ProcessInfo.processInfo.environment
            environment["LLM_BASE_URL"] = server.url + "/v1"
            environment["JUDGE_MODEL"] = judge
            let directory = try Fixtures.emptyDirectory("evaluate-\(judge)")
            let result = try Spawned(Fixtures.pipelineBinary, ["run", pipeline, "--run-dir", directory.path, "--no-llm-cache",
                                                               "--log-format", "json"], environment: environment).wait()
            #expect(result.status == 0, "\(result.output)")
            // The prompt that is also a training prompt is left out, and named.
            #expect(result.output.contains("Explain why the sky is blue."), "\(result.output)")
            let summary = try #require(try rows(directory.appendingPathComponent("summary-table.jsonl")).first)
            #expect(summary["n"]?.int64Value == Int64(prompts - 1), "\(summary)")
            let counted = ["a_wins", "b_wins", "ties", "inconsistent"].compactMap { summary[$0]?.int64Value }.reduce(0, +)
            #expect(counted == Int64(prompts - 1))
            let rate = try #require(summary["win_rate"]?.doubleValue)
            #expect((summary["ci_low"]?.doubleValue ?? 1) <= rate && rate <= (summary["ci_high"]?.doubleValue ?? 0))
            #expect((summary["mean_rouge_l"]?.doubleValue ?? -1) >= 0)
            if biased {
                // Preferring whichever answer comes first, it decides nothing.
                #expect(summary["a_wins"]?.int64Value == 0 && summary["b_wins"]?.int64Value == 0, "\(summary)")
                #expect(rate == 0.5)
            } else {
                #expect((summary["a_wins"]?.int64Value ?? 0) + (summary["b_wins"]?.int64Value ?? 0) > 0, "\(summary)")
            }
        }
    }
}
