import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON

/// The judge step (llm plugin) and the preference and format steps
/// (columns plugin), end to end: `pipeline run` against llm-test-server,
/// which answers judge prompts deterministically, with faults on request.
@Suite("Judge and preference data", .serialized)
struct JudgePreferenceTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    /// Runs `steps` (YAML list items, indented by 2) after the llms block; returns status, log and run directory.
    private func run(_ label: String, server: LLMServiceTests.Server?, model: String = "test-model", llmExtra: String = "",
                     files: [String: String] = [:], _ steps: String) throws -> (status: Int32, output: String, run: String) {
        let directory = try Fixtures.emptyDirectory(label)
        for (name, text) in files { try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let llms = server.map { """
            llms:
              judge: {base_url: "\($0.url)/v1", model: \(model), max_concurrency: 8\(llmExtra)}

            """ } ?? ""
        let file = directory.appendingPathComponent("p.yaml").path
        try ("name: judge-test\n" + llms + "steps:\n" + steps).write(toFile: file, atomically: true, encoding: .utf8)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--log-format", "json", "--no-llm-cache"]).wait()
        return (result.status, result.output, runDirectory)
    }

    private func lines(_ path: String) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    private func numbers(_ value: JSONValue?) -> [Double] { (value?.arrayValue ?? []).compactMap(\.doubleValue) }
    private func strings(_ value: JSONValue?) -> [String] { (value?.arrayValue ?? []).compactMap(\.stringValue) }

    // MARK: - judge, pointwise

    @Test func pointwiseRatesOneAnswerOrEachOfAListAndQuotesUnreadableAnswers() throws {
        let server = try LLMServiceTests.Server([])
        let rows = (0..<6).map { n in
            #"{instruction: "Explain topic \#(n).", generation: "Topic \#(n) is explained here.", answers: ["First answer \#(n)", "Second answer \#(n)", "Third answer \#(n)"]}"#
        } + [
            #"{instruction: "Junk", generation: "An answer [judge-fault:junk]", answers: ["x [judge-fault:junk]"]}"#,
            #"{instruction: "Out of range", generation: "An answer [judge-fault:out-of-range]", answers: ["ok", "y [judge-fault:out-of-range]"]}"#,
            #"{instruction: "No verdict", generation: "An answer [judge-fault:no-verdict]", answers: ["z [judge-fault:no-verdict]"]}"#,
        ]
        let result = try run("judge-point", server: server, """
              - {name: load, uses: load_inline, with: {rows: [\(rows.joined(separator: ", "))]}, batch_size: 4}
              - {name: one, uses: judge, llm: judge, input: load, with: {aspect: helpfulness}}
              - {name: many, uses: judge, llm: judge, input: one, with: {answers_column: answers, rating_column: ratings, rationale_column: rationales, model_name_column: list_judge}}
              - {name: save, uses: write_jsonl, input: many, with: {path: out.jsonl}}
            """)
        #expect(result.status == 3, "\(result.output)")  // done, with row errors
        let out = try lines(result.run + "/out.jsonl")
        #expect(out.count == 7)  // the out-of-range and no-verdict rows fail in `one`
        for row in out {
            let rating = try #require(row["rating"]?.doubleValue)
            #expect(rating >= 1 && rating <= 10)
            #expect(row["rationale"]?.stringValue?.isEmpty == false)
            #expect(row["judge_model"]?.stringValue == "test-model")
            let ratings = numbers(row["ratings"])
            #expect(ratings.count == (row["answers"]?.arrayValue?.count ?? -1))
            #expect(ratings.allSatisfy { $0 >= 1 && $0 <= 10 && $0 == $0.rounded() })
            #expect(strings(row["rationales"]).count == ratings.count)
        }
        // The junk answer (chatter around "**Rating:** n/10") was read.
        #expect(out.contains { $0["instruction"]?.stringValue == "Junk" })
        let errors = try lines(result.run + "/errors.jsonl")
        #expect(errors.count == 2)
        let outOfRange = try #require(errors.first { $0["row"]?["instruction"]?.stringValue == "Out of range" })
        let message = outOfRange["error"]?.stringValue ?? ""
        #expect(message.contains("the rating 11 is outside 1...10"), "\(message)")
        #expect(message.contains(#"\"rating\": 11"#), "the raw answer is quoted: \(message)")
        let noVerdict = try #require(errors.first { $0["row"]?["instruction"]?.stringValue == "No verdict" })
        #expect(noVerdict["error"]?.stringValue?.contains("no rating found") == true)
        #expect(noVerdict["error"]?.stringValue?.contains("I would rather not put a number on it") == true)
        // The prompt asked about the chosen aspect.
        let log = try String(contentsOfFile: result.run + "/llm-io.jsonl", encoding: .utf8)
        #expect(log.contains("Rate the response below on helpfulness"))
    }

    @Test func chatterAroundEveryJudgementAndStructuredOutputStillParse() throws {
        let server = try LLMServiceTests.Server(["--junk-scores-rate", "1"])
        let rows = (0..<8).map { #"{instruction: "Q\#($0)", generation: "Answer \#($0)", answer_a: "A\#($0)", answer_b: "B\#($0)"}"# }
        let result = try run("judge-junk", server: server, """
              - {name: load, uses: load_inline, with: {rows: [\(rows.joined(separator: ", "))]}}
              - {name: rate, uses: judge, llm: judge, input: load}
              - {name: pair, uses: judge, llm: judge, input: rate, with: {mode: pairwise, rationale_column: pair_rationale, model_name_column: pair_judge}}
              - {name: strict, uses: judge, llm: judge, input: pair, with: {structured: true, rating_column: strict_rating, rationale_column: strict_rationale, model_name_column: strict_judge}}
              - {name: save, uses: write_jsonl, input: strict, with: {path: out.jsonl}}
            """)
        #expect(result.status == 0, "\(result.output)")
        let out = try lines(result.run + "/out.jsonl")
        #expect(out.count == 8)
        for row in out {
            #expect((1...10).contains(row["rating"]?.doubleValue ?? 0))
            #expect((1...10).contains(row["strict_rating"]?.doubleValue ?? 0))
            #expect(["A", "B"].contains(row["verdict"]?.stringValue ?? ""), "\(row)")
        }
        let log = try String(contentsOfFile: result.run + "/llm-io.jsonl", encoding: .utf8)
        #expect(log.contains(#""response_format""#) && log.contains("judgement"))
        #expect(log.contains("Sure! Here is my assessment"), "the server wrapped answers in chatter")
    }

    // MARK: - judge, pairwise

    private func pairRows() -> String {
        ((0..<10).map { #"{instruction: "Question \#($0)", answer_a: "Answer alpha \#($0)", answer_b: "Answer beta \#($0)"}"# }
            + [#"{instruction: "Same", answer_a: "Identical text", answer_b: "Identical text"}"#]).joined(separator: ", ")
    }

    @Test func pairwiseIsPositionFreeForAFairJudge() throws {
        let server = try LLMServiceTests.Server([])
        let result = try run("judge-pair", server: server, """
              - {name: load, uses: load_inline, with: {rows: [\(pairRows())]}}
              - {name: pair, uses: judge, llm: judge, input: load, with: {mode: pairwise, aspect: truthfulness}}
              - {name: save, uses: write_jsonl, input: pair, with: {path: out.jsonl}}
            """)
        #expect(result.status == 0, "\(result.output)")
        let out = try lines(result.run + "/out.jsonl")
        #expect(out.count == 11)
        for row in out {
            let orders = strings(row["verdict_orders"])
            #expect(orders.count == 2 && orders[0] == orders[1], "\(row)")
            #expect(strings(row["rationale"]).count == 2)
            if row["instruction"]?.stringValue == "Same" {
                #expect(row["verdict"]?.stringValue == "tie")
            } else {
                #expect(["A", "B"].contains(row["verdict"]?.stringValue ?? ""))
            }
        }
        // Both A and B win somewhere: the verdict follows the texts.
        let verdicts = Set(out.compactMap { $0["verdict"]?.stringValue })
        #expect(verdicts.isSuperset(of: ["A", "B"]), "\(verdicts)")
        // Two requests per row, both orders.
        let stats = try server.stats()
        #expect(stats["by_endpoint"]?["chat"]?.int64Value == 22)
        #expect(stats["by_kind"]?["judge"]?.int64Value == 22, "the server read every prompt as a judge prompt: \(stats)")
    }

    @Test func aJudgeThatAlwaysPrefersTheFirstPositionNeverDecides() throws {
        let server = try LLMServiceTests.Server([])
        let result = try run("judge-biased", server: server, model: "test-first-biased", """
              - {name: load, uses: load_inline, with: {rows: [\(pairRows())]}}
              - {name: pair, uses: judge, llm: judge, input: load, with: {mode: pairwise}}
              - {name: save, uses: write_jsonl, input: pair, with: {path: out.jsonl}}
            """)
        #expect(result.status == 0, "\(result.output)")
        let out = try lines(result.run + "/out.jsonl")
        #expect(out.count == 11)
        for row in out {
            #expect(["tie", "inconsistent"].contains(row["verdict"]?.stringValue ?? ""), "\(row)")
            #expect(strings(row["verdict_orders"]) == ["A", "B"], "\(row)")
        }
    }

    @Test func aPairwiseVerdictThatCannotBeReadIsARowErrorQuotingTheAnswer() throws {
        let server = try LLMServiceTests.Server([])
        let result = try run("judge-pair-bad", server: server, """
              - {name: load, uses: load_inline, with: {rows: [{instruction: "Q", answer_a: "fine", answer_b: "x [judge-fault:no-verdict]"}, {instruction: "R", answer_a: "fine", answer_b: "y [judge-fault:out-of-range]"}, {instruction: "S", answer_a: "one", answer_b: "two"}]}}
              - {name: pair, uses: judge, llm: judge, input: load, with: {mode: pairwise}}
              - {name: save, uses: write_jsonl, input: pair, with: {path: out.jsonl}}
            """)
        #expect(result.status == 3, "\(result.output)")
        #expect(try lines(result.run + "/out.jsonl").count == 1)
        let errors = try lines(result.run + "/errors.jsonl").compactMap { $0["error"]?.stringValue }.sorted()
        #expect(errors.count == 2)
        #expect(errors.contains { $0.contains("no verdict found") && $0.contains("judge answer:") }, "\(errors)")
        #expect(errors.contains { $0.contains(#"the verdict "3" is not 1, 2 or tie"#) }, "\(errors)")
    }

    // MARK: - best_of_n, preference_pairs

    private let rated = """
        {id: 1, instruction: "Q1", generation: ["a1", "b1", "c1"], rating: [3, 9, 9], models: ["m1", "m2", "m3"]},
        {id: 2, instruction: "Q2", generation: ["a2", "b2", "c2"], rating: [5, 5, 5], models: ["m1", "m2", "m3"]},
        {id: 3, instruction: "Q3", generation: ["a3", "b3"], rating: [7.5, 7], models: ["m1", "m2"]},
        {id: 4, instruction: "Q4", generation: ["a4", "b4", "c4", "d4"], rating: [2, 8, 1, 4], models: ["m1", "m2", "m3", "m4"]},
        {id: 5, instruction: "Q5", generation: ["a5", "b5"], rating: [1], models: ["m1", "m2"]}
        """

    @Test func bestOfNKeepsTheTopAnswerWithTiesToTheEarliest() throws {
        let result = try run("best-of-n", server: nil, """
              - {name: load, uses: load_inline, with: {rows: [\(rated)]}}
              - {name: best, uses: best_of_n, input: load, with: {models_column: models}}
              - {name: save, uses: write_jsonl, input: best, with: {path: out.jsonl}}
            """)
        #expect(result.status == 3, "\(result.output)")
        let out = try lines(result.run + "/out.jsonl")
        let best = Dictionary(uniqueKeysWithValues: out.map { ($0["id"]?.int64Value ?? 0, $0) })
        #expect(best[1]?["best"]?.stringValue == "b1" && best[1]?["best_model"]?.stringValue == "m2")
        #expect(best[1]?["best_index"]?.int64Value == 1 && best[1]?["best_rating"]?.doubleValue == 9)
        #expect(best[2]?["best"]?.stringValue == "a2")
        #expect(best[3]?["best"]?.stringValue == "a3")
        #expect(best[4]?["best"]?.stringValue == "b4")
        let errors = try lines(result.run + "/errors.jsonl")
        #expect(errors.count == 1 && errors[0]["error"]?.stringValue?.contains("2 answers but 1 ratings") == true, "\(errors)")
    }

    @Test func preferencePairsSkipTiesAndNarrowMarginsAndCountThem() throws {
        let result = try run("pairs", server: nil, """
              - {name: load, uses: load_inline, with: {rows: [\(rated)]}}
              - {name: pairs, uses: preference_pairs, input: load, with: {models_column: models, min_margin: 1, on_invalid: drop}}
              - {name: save, uses: write_jsonl, input: pairs, with: {path: out.jsonl}}
            """)
        #expect(result.status == 0, "\(result.output)")
        let out = try lines(result.run + "/out.jsonl")
        #expect(out.compactMap { $0["id"]?.int64Value } == [1, 4])
        #expect(out[0]["chosen"]?.stringValue == "b1" && out[0]["rejected"]?.stringValue == "a1")
        #expect(out[0]["chosen_model"]?.stringValue == "m2" && out[0]["rejected_model"]?.stringValue == "m1")
        #expect(out[1]["chosen"]?.stringValue == "b4" && out[1]["rejected"]?.stringValue == "c4")
        #expect(out[1]["chosen_rating"]?.doubleValue == 8 && out[1]["rejected_rating"]?.doubleValue == 1)
        // The tie (row 2) and the 0.5 margin (row 3) are skipped; the misaligned row 5 dropped; both counted.
        #expect(result.output.contains("skipped 2 row(s) with no pair"), "\(result.output)")
        #expect(result.output.contains("1 row(s) without usable answers and ratings were left out"), "\(result.output)")

        // on_no_pair: error makes them error rows naming the ratings.
        let strict = try run("pairs-strict", server: nil, """
              - {name: load, uses: load_inline, with: {rows: [\(rated)]}}
              - {name: pairs, uses: preference_pairs, input: load, with: {on_no_pair: error}}
              - {name: save, uses: write_jsonl, input: pairs, with: {path: out.jsonl}}
            """)
        #expect(strict.status == 3, "\(strict.output)")
        let errors = try lines(strict.run + "/errors.jsonl").compactMap { $0["error"]?.stringValue }
        #expect(errors.count == 3, "\(errors)")
        #expect(errors.contains { $0.contains("no pair: ratings 5, 5, 5") }, "\(errors)")
    }

    @Test func aRandomRejectedAnswerIsWorseAndTheSameOnEveryRun() throws {
        let rows = (0..<40).map { n in
            #"{instruction: "Q\#(n)", generation: ["a", "b", "c", "d", "e"], rating: [10, 2, 3, 4, 9.5]}"#
        }.joined(separator: ", ")
        var picks: [[String]] = []
        for batch in [3, 16] {
            let result = try run("pairs-random-\(batch)", server: nil, """
                  - {name: load, uses: load_inline, with: {rows: [\(rows)]}, batch_size: \(batch)}
                  - {name: pairs, uses: preference_pairs, input: load, with: {rejected: random, seed: 7, min_margin: 1}}
                  - {name: save, uses: write_jsonl, input: pairs, with: {path: out.jsonl}}
                """)
            #expect(result.status == 0, "\(result.output)")
            let out = try lines(result.run + "/out.jsonl")
            #expect(out.count == 40)
            #expect(out.allSatisfy { $0["chosen"]?.stringValue == "a" })
            picks.append(out.compactMap { $0["rejected"]?.stringValue })
        }
        #expect(picks[0] == picks[1])
        // Never the tied-close "e" (within the margin); more than one worse answer drawn.
        #expect(!picks[0].contains("e") && Set(picks[0]).count > 1, "\(picks[0])")
    }

    // MARK: - formats, checked against TRL's rules

    /// TRL's conversational rules (docs/source/dataset_formats.md; ../shared/research/distill.md §2.3):
    /// a message is {role, content} with a string content; SFT rows have `messages` ending with an
    /// assistant turn after a user turn, a system turn only first, and no `prompt` key (which would send
    /// the row to the prompt-completion branch); DPO rows with an explicit prompt have `prompt` (turns
    /// ending with a user turn) and `chosen`/`rejected` each assistant-only turns.
    static func trlProblems(_ row: JSONValue, format: String) -> [String] {
        var problems: [String] = []
        func turns(_ key: String) -> [(role: String, content: String)]? {
            guard let list = row[key]?.arrayValue, !list.isEmpty else { problems.append("\(key) is not a non-empty list"); return nil }
            var result: [(String, String)] = []
            for (index, item) in list.enumerated() {
                guard let object = item.objectValue, Set(object.keys) == ["role", "content"],
                      let role = object["role"]?.stringValue, let content = object["content"]?.stringValue else {
                    problems.append("\(key)[\(index)] is not {role, content} with strings"); continue
                }
                if !["system", "user", "assistant"].contains(role) { problems.append("\(key)[\(index)] has role \(role)") }
                if content.isEmpty { problems.append("\(key)[\(index)] is empty") }
                result.append((role, content))
            }
            return result
        }
        func systemOnlyFirst(_ key: String, _ list: [(role: String, content: String)]) {
            if list.dropFirst().contains(where: { $0.role == "system" }) { problems.append("\(key): a system turn after the first") }
        }
        switch format {
        case "sft":
            if row["prompt"] != nil || row["completion"] != nil || row["text"] != nil {
                problems.append("an SFT row with prompt/completion/text goes down another branch of SFTTrainer")
            }
            if let list = turns("messages") {
                systemOnlyFirst("messages", list)
                if list.last?.role != "assistant" { problems.append("messages does not end with an assistant turn") }
                if !list.contains(where: { $0.role == "user" }) { problems.append("messages has no user turn") }
            }
        case "dpo":
            if let prompt = turns("prompt") {
                systemOnlyFirst("prompt", prompt)
                if prompt.last?.role != "user" { problems.append("prompt does not end with a user turn") }
            }
            for key in ["chosen", "rejected"] {
                if let list = turns(key), list.contains(where: { $0.role != "assistant" }) {
                    problems.append("\(key) has a turn that is not the assistant's")
                }
            }
            if row["chosen"] == row["rejected"] { problems.append("chosen equals rejected") }
        default:  // standard prompt-completion
            if (row["prompt"]?.stringValue ?? "").isEmpty || (row["completion"]?.stringValue ?? "").isEmpty {
                problems.append("prompt and completion must be non-empty strings")
            }
            if row["messages"] != nil { problems.append("a messages column beside prompt/completion") }
        }
        return problems
    }

    @Test func generateJudgeSelectAndWriteTRLFormats() throws {
        let server = try LLMServiceTests.Server([])
        let rows = (0..<12).map { #"{instruction: "Explain how topic \#($0) works."}"# }.joined(separator: ", ")
        let result = try run("distill-formats", server: server, """
              - {name: load, uses: load_inline, with: {rows: [\(rows)]}, batch_size: 5}
              - {name: generate, uses: text_generation, llm: judge, input: load, with: {num_generations: 4, seed: 3}}
              - {name: rate, uses: judge, llm: judge, input: generate, with: {answers_column: generation}}
              - {name: best, uses: best_of_n, input: rate, with: {models_column: model_name}}
              - {name: sft, uses: format_sft, input: best, with: {response_column: best, system_prompt: "You are a helpful assistant."}}
              - {name: pairs, uses: preference_pairs, input: rate, with: {min_margin: 0}}
              - {name: dpo, uses: format_dpo, input: pairs}
              - {name: completion, uses: format_prompt_completion, input: best, with: {completion_column: best}}
              - {name: save_sft, uses: write_jsonl, input: sft, with: {path: sft.jsonl}}
              - {name: save_dpo, uses: write_jsonl, input: dpo, with: {path: dpo.jsonl}}
              - {name: save_pc, uses: write_jsonl, input: completion, with: {path: pc.jsonl}}
            """)
        #expect(result.status == 0, "\(result.output)")
        let sft = try lines(result.run + "/sft.jsonl")
        let dpo = try lines(result.run + "/dpo.jsonl")
        let completion = try lines(result.run + "/pc.jsonl")
        #expect(sft.count == 12 && completion.count == 12)
        #expect(dpo.count >= 10, "ties are rare with 4 ratings: \(dpo.count)")
        for row in sft {
            #expect(Self.trlProblems(row, format: "sft").isEmpty, "\(Self.trlProblems(row, format: "sft")): \(row)")
            let messages = row["messages"]?.arrayValue ?? []
            #expect(messages.first?["role"]?.stringValue == "system" && messages.count == 3)
            #expect(messages.last?["content"]?.stringValue == row["best"]?.stringValue)
        }
        for row in dpo {
            #expect(Self.trlProblems(row, format: "dpo").isEmpty, "\(Self.trlProblems(row, format: "dpo")): \(row)")
            #expect((row["chosen_rating"]?.doubleValue ?? 0) > (row["rejected_rating"]?.doubleValue ?? 0))
            #expect(row["prompt"]?.arrayValue?.first?["content"]?.stringValue == row["instruction"]?.stringValue)
        }
        for row in completion {
            #expect(Self.trlProblems(row, format: "prompt_completion").isEmpty, "\(row)")
        }
        // The same files through the Python checker (Tests/tools/check_trl_format.py).
        let checker = Fixtures.packageRoot.appendingPathComponent("Tests/tools/check_trl_format.py").path
        for (format, file, count) in [("sft", "sft.jsonl", 12), ("dpo", "dpo.jsonl", dpo.count), ("prompt_completion", "pc.jsonl", 12)] {
            let checked = try Spawned("/usr/bin/env", ["python3", checker, format, result.run + "/" + file]).wait()
            #expect(checked.status == 0 && checked.output.contains("\(count) rows, 0 bad"), "\(checked.output)")
        }
    }

    @Test func theTRLCheckerCatchesWhatTRLWouldMisread() {
        let good: JSONValue = ["messages": [["role": "user", "content": "q"], ["role": "assistant", "content": "a"]]]
        #expect(Self.trlProblems(good, format: "sft").isEmpty)
        let withPrompt: JSONValue = ["prompt": "q", "messages": [["role": "user", "content": "q"], ["role": "assistant", "content": "a"]]]
        #expect(!Self.trlProblems(withPrompt, format: "sft").isEmpty)
        let noAssistant: JSONValue = ["messages": [["role": "user", "content": "q"]]]
        #expect(!Self.trlProblems(noAssistant, format: "sft").isEmpty)
        let fullConversation: JSONValue = ["prompt": [["role": "user", "content": "q"]],
                                           "chosen": [["role": "user", "content": "q"], ["role": "assistant", "content": "a"]],
                                           "rejected": [["role": "assistant", "content": "b"]]]
        #expect(!Self.trlProblems(fullConversation, format: "dpo").isEmpty)
        let stringPrompt: JSONValue = ["prompt": "q", "chosen": [["role": "assistant", "content": "a"]],
                                       "rejected": [["role": "assistant", "content": "b"]]]
        #expect(!Self.trlProblems(stringPrompt, format: "dpo").isEmpty)
    }

    @Test func thePythonCheckerCatchesTheSameRows() throws {
        let directory = try Fixtures.emptyDirectory("trl-checker")
        let file = directory.appendingPathComponent("rows.jsonl")
        try """
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
            {"prompt": "q", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
            {"messages": [{"role": "user", "content": "q"}]}
            {"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}

            """.write(to: file, atomically: true, encoding: .utf8)
        let checker = Fixtures.packageRoot.appendingPathComponent("Tests/tools/check_trl_format.py").path
        let sft = try Spawned("/usr/bin/env", ["python3", checker, "sft", file.path]).wait()
        #expect(sft.status == 1 && sft.output.contains("4 rows, 3 bad"), "\(sft.output)")
        let dpoFile = directory.appendingPathComponent("dpo.jsonl")
        try """
            {"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}
            {"prompt": "q", "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}
            {"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}

            """.write(to: dpoFile, atomically: true, encoding: .utf8)
        let dpo = try Spawned("/usr/bin/env", ["python3", checker, "dpo", dpoFile.path]).wait()
        #expect(dpo.status == 1 && dpo.output.contains("3 rows, 2 bad"), "\(dpo.output)")
    }

    @Test func formatStepsMakeBadRowsErrorRows() throws {
        let result = try run("formats-bad", server: nil, """
              - {name: load, uses: load_inline, with: {rows: [{instruction: "Q", generation: "A", chosen: "c", rejected: "r", text: "old", prompt: "stale"}, {instruction: "  ", generation: "A", chosen: "c", rejected: "c"}, {instruction: "Q", generation: null, chosen: "c", rejected: null}]}}
              - {name: sft, uses: format_sft, input: load}
              - {name: keep, uses: keep_columns, input: load, with: {columns: [instruction, chosen, rejected]}}
              - {name: dpo, uses: format_dpo, input: keep}
              - {name: save_sft, uses: write_jsonl, input: sft, with: {path: sft.jsonl}}
              - {name: save_dpo, uses: write_jsonl, input: dpo, with: {path: dpo.jsonl}}
            """)
        #expect(result.status == 3, "\(result.output)")
        let sft = try lines(result.run + "/sft.jsonl")
        #expect(sft.count == 1)
        // The columns that would send the row down another branch of SFTTrainer are gone.
        #expect(sft.first.map { Self.trlProblems($0, format: "sft") } == [], "\(sft)")
        #expect(try lines(result.run + "/dpo.jsonl").count == 1)
        let errors = try lines(result.run + "/errors.jsonl").compactMap { $0["error"]?.stringValue }
        #expect(errors.contains("format_sft: instruction is empty"), "\(errors)")
        #expect(errors.contains("format_sft: generation is null"), "\(errors)")
        #expect(errors.contains("format_dpo: instruction is empty"), "\(errors)")
        #expect(errors.contains("format_dpo: rejected is null"), "\(errors)")
    }

    @Test func anEmptyInputGivesEmptyOutputsAndExitZero() throws {
        let server = try LLMServiceTests.Server([])
        let result = try run("judge-empty", server: server, files: ["empty.jsonl": ""], """
              - {name: load, uses: load_jsonl, with: {path: empty.jsonl}}
              - {name: rate, uses: judge, llm: judge, input: load, with: {answers_column: generation}}
              - {name: pairs, uses: preference_pairs, input: rate}
              - {name: dpo, uses: format_dpo, input: pairs}
              - {name: best, uses: best_of_n, input: rate}
              - {name: sft, uses: format_sft, input: best, with: {response_column: best}}
              - {name: save_dpo, uses: write_jsonl, input: dpo, with: {path: dpo.jsonl}}
              - {name: save_sft, uses: write_jsonl, input: sft, with: {path: sft.jsonl}}
            """)
        #expect(result.status == 0, "\(result.output)")
        #expect(try lines(result.run + "/dpo.jsonl").isEmpty && lines(result.run + "/sft.jsonl").isEmpty)
    }
}
