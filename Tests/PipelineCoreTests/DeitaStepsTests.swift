import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON

/// The DEITA steps of the llm plugin (evol_instruct, complexity_scorer,
/// evol_quality, quality_scorer): their score and rewrite parsing, compiled
/// on its own (the plugin is not linked into the tests), and the steps end
/// to end, `pipeline run` against llm-test-server.
@Suite("DEITA steps", .serialized)
struct DeitaStepsTests {
    // MARK: - Parsing, unit level

    /// Plugins/llm/ScoreParsing.swift (Foundation only) with a driver that
    /// parses the cases of a JSON file, built once per test process.
    final class Parser: @unchecked Sendable {
        static let shared = Parser()
        private let lock = NSLock()
        private var built: Result<String, FixtureError>?

        func executable() throws -> String {
            lock.lock()
            defer { lock.unlock() }
            if let built { return try built.get() }
            let directory = try Fixtures.emptyDirectory("deita-parse")
            let driver = directory.appendingPathComponent("main.swift")
            try #"""
                import Foundation
                let data = try! Data(contentsOf: URL(fileURLWithPath: CommandLine.arguments[1]))
                let cases = try! JSONSerialization.jsonObject(with: data) as! [[String: Any]]
                var out: [[String: Any]] = []
                for c in cases {
                    if let text = c["text"] as? String {
                        let format = ScoreParsing.Format(rawValue: c["format"] as? String ?? "lines") ?? .lines
                        switch ScoreParsing.parse(text, count: c["count"] as! Int, format: format) {
                        case .success(let scores): out.append(["scores": scores])
                        case .failure(let error): out.append(["error": error.message])
                        }
                    } else {
                        let rewrite = RewriteParsing.afterMarker(c["answer"] as! String, markers: c["markers"] as! [String])
                        var row: [String: Any] = ["rewrite": rewrite]
                        if let problem = RewriteParsing.degenerate(rewrite, input: c["input"] as! String,
                                                                   markerWords: c["words"] as! [String]) {
                            row["error"] = problem
                        }
                        out.append(row)
                    }
                }
                print(String(decoding: try! JSONSerialization.data(withJSONObject: out), as: UTF8.self))
                """#.write(to: driver, atomically: true, encoding: .utf8)
            let output = directory.appendingPathComponent("parse").path
            // ScoreParsing reads JSON with PipelineJSON: its sources go in the same module.
            let json = Fixtures.packageRoot.appendingPathComponent("Sources/PipelineJSON")
            let jsonSources = try FileManager.default.contentsOfDirectory(atPath: json.path).filter { $0.hasSuffix(".swift") }
                .sorted().map { json.appendingPathComponent($0).path }
            let result = try Spawned("/usr/bin/env", ["swiftc", "-swift-version", "6", "-Onone", "-o", output,
                                                      Fixtures.packageRoot.appendingPathComponent("Plugins/llm/ScoreParsing.swift").path]
                                                     + jsonSources + [driver.path]).wait()
            built = result.status == 0 ? .success(output) : .failure(FixtureError(message: "swiftc failed:\n\(result.output)"))
            return try built!.get()
        }

        /// One result object per case.
        func run(_ cases: [[String: Any]]) throws -> [JSONValue] {
            let path = try executable()
            let file = try Fixtures.emptyDirectory("deita-cases").appendingPathComponent("cases.json")
            try JSONSerialization.data(withJSONObject: cases).write(to: file)
            let result = try Spawned(path, [file.path]).wait()
            try #require(result.status == 0, "\(result.output)")
            return try JSONValue(parsing: result.output).arrayValue ?? []
        }
    }

    private func scores(_ text: String, count: Int, format: String = "lines") throws -> (scores: [Double]?, error: String?) {
        let result = try Parser.shared.run([["text": text, "count": count, "format": format]])[0]
        return (result["scores"]?.arrayValue?.compactMap(\.doubleValue), result["error"]?.stringValue)
    }

    @Test func scoresAreFoundAnywhereAndMappedByTheirIndex() throws {
        // Plain.
        #expect(try scores("[1] Score: 2\n[2] Score: 3\n[3] Score: 1", count: 3).scores == [2, 3, 1])
        // A preamble does not shift anything (distilabel's anchored-regex fault).
        #expect(try scores("Sure! Here are my scores:\n[1] Score: 2\n[2] Score: 3\n[3] Score: 1", count: 3).scores == [2, 3, 1])
        // Reordered lines go by their bracket index.
        #expect(try scores("[3] Score: 1\n[1] Score: 2\n[2] Score: 3", count: 3).scores == [2, 3, 1])
        // Text after the scores, remarks after a score, other case, emphasis, decimals.
        let chatty = """
            After reading every item carefully, this is my ranking:
            [2] score: 3 - the most demanding one
            **[1] Score:** 2.5 (clear and specific)
            [3]  SCORE : 1, because it needs several steps
            Let me know if you want the reasoning behind each score.
            """
        #expect(try scores(chatty, count: 3).scores == [2.5, 3, 1])
        // n+1 is allowed (DEITA's "too complex" / "cannot be improved").
        #expect(try scores("[1] Score: 4\n[2] Score: 1\n[3] Score: 2", count: 3).scores == [4, 1, 2])
        // A bracket index outside the items is not an item.
        #expect(try scores("[1] Score: 1\n[2] Score: 2\n[7] Score: 5", count: 2).scores == [1, 2])
    }

    @Test func aMissingItemFailsTheRowAndIsNamed() throws {
        let result = try scores("Here is my evaluation.\n[1] Score: 2\n[3] Score: 1", count: 4)
        #expect(result.scores == nil)
        #expect(result.error?.contains("no score for items 2, 4 of 4") == true, "\(result.error ?? "")")
        let none = try scores("I cannot rank these.", count: 2)
        #expect(none.scores == nil)
        #expect(none.error?.contains("items 1, 2") == true)
    }

    @Test func anOutOfRangeOrContradictoryScoreFailsTheRow() throws {
        let high = try scores("[1] Score: 2\n[2] Score: 5\n[3] Score: 1", count: 3)
        #expect(high.scores == nil)
        #expect(high.error?.contains("item 2 scored 5, outside 1...4") == true, "\(high.error ?? "")")
        let zero = try scores("[1] Score: 0\n[2] Score: 1", count: 2)
        #expect(zero.error?.contains("item 1 scored 0") == true, "\(zero.error ?? "")")
        let negative = try scores("[1] Score: -1\n[2] Score: 1", count: 2)
        #expect(negative.error?.contains("item 1 scored -1") == true, "\(negative.error ?? "")")
        let twice = try scores("[1] Score: 1\n[2] Score: 2\n[1] Score: 3", count: 2)
        #expect(twice.error?.contains("item 1 scored both 1 and 3") == true, "\(twice.error ?? "")")
    }

    @Test func theJSONForm() throws {
        #expect(try scores(#"{"scores": [3, 1, 2]}"#, count: 3, format: "json").scores == [3, 1, 2])
        #expect(try scores("Here you go:\n```json\n{\"scores\": [2, 1]}\n```", count: 2, format: "json").scores == [2, 1])
        let short = try scores(#"{"scores": [2, 1]}"#, count: 3, format: "json")
        #expect(short.error?.contains("2 entries for 3 items") == true, "\(short.error ?? "")")
        let null = try scores(#"{"scores": [2, null, 1]}"#, count: 3, format: "json")
        #expect(null.error?.contains("no score for item 2 of 3") == true, "\(null.error ?? "")")
        let range = try scores(#"{"scores": [9, 1]}"#, count: 2, format: "json")
        #expect(range.error?.contains("item 1 scored 9") == true, "\(range.error ?? "")")
        // Without a JSON object, the lines still count.
        #expect(try scores("[1] Score: 1\n[2] Score: 2", count: 2, format: "json").scores == [1, 2])
    }

    @Test func rewritesAreReadAfterTheMarkerAndDegenerateOnesFail() throws {
        let markers = ["#Rewritten Instruction#:", "#Created Instruction#:"]
        let words = ["given instruction", "rewritten instruction", "created instruction"]
        let results = try Parser.shared.run([
            ["answer": "#Rewritten Instruction#:\n  Explain X in detail. \n", "markers": markers, "input": "Explain X.", "words": words],
            ["answer": "Explain X with an example.", "markers": markers, "input": "Explain X.", "words": words],
            ["answer": "#Rewritten Instruction#:   ", "markers": markers, "input": "Explain X.", "words": words],
            ["answer": "  Explain X. ", "markers": markers, "input": "Explain X.", "words": words],
            ["answer": "Rewrite the #Given Instruction# to be harder", "markers": markers, "input": "Explain X.", "words": words],
        ])
        #expect(results[0]["rewrite"]?.stringValue == "Explain X in detail.")
        #expect(results[0]["error"] == nil)
        #expect(results[1]["rewrite"]?.stringValue == "Explain X with an example.")
        #expect(results[1]["error"] == nil)
        #expect(results[2]["error"]?.stringValue == "the rewrite is empty")
        #expect(results[3]["error"]?.stringValue == "the rewrite is the input unchanged")
        #expect(results[4]["error"]?.stringValue?.contains("given instruction") == true)
    }

    // MARK: - End to end

    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func run(_ file: String, _ runDirectory: String) throws -> (status: Int32, output: String) {
        try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--log-format", "json", "--no-llm-cache"]).wait()
    }

    private func lines(_ path: String) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    private func instructionRows(_ count: Int) -> String {
        (0..<count).map { #"{instruction: "Explain how topic number \#($0) works in practice."}"# }.joined(separator: ", ")
    }

    /// load_inline → evol_instruct → complexity_scorer → write_jsonl.
    private func evolPipeline(_ directory: URL, server: LLMServiceTests.Server, rows: Int, k: Int,
                              batchSize: Int = 8, seed: Int = 42) throws -> String {
        let file = directory.appendingPathComponent("deita.yaml").path
        try """
            name: deita
            llms:
              teacher: {base_url: "\(server.url)/v1", model: test-model, max_concurrency: 8}
            steps:
              - name: load
                uses: load_inline
                with: {rows: [\(instructionRows(rows))]}
                batch_size: \(batchSize)
              - name: evolve
                uses: evol_instruct
                llm: teacher
                input: load
                with: {rounds: \(k), generate_answers: true, seed: \(seed)}
              - name: rank
                uses: complexity_scorer
                llm: teacher
                input: evolve
              - name: save
                uses: write_jsonl
                input: rank
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func checkEvolRows(_ rows: [JSONValue], count: Int, k: Int) {
        #expect(rows.count == count)
        for row in rows {
            let evolved = (row["evolved_instructions"]?.arrayValue ?? []).compactMap(\.stringValue)
            let answers = (row["answers"]?.arrayValue ?? []).compactMap(\.stringValue)
            let methods = (row["evol_instruct_methods"]?.arrayValue ?? []).compactMap(\.stringValue)
            let scores = (row["complexity_scores"]?.arrayValue ?? []).compactMap(\.doubleValue)
            #expect(evolved.count == k + 1)
            #expect(answers.count == k + 1)
            #expect(methods.count == k)
            #expect(scores.count == k + 1)
            #expect(evolved.first == row["instruction"]?.stringValue)
            #expect(evolved.allSatisfy { !$0.isEmpty } && answers.allSatisfy { !$0.isEmpty })
            #expect(Set(evolved).count == k + 1, "a round repeated its input: \(evolved)")
            #expect(scores.allSatisfy { $0 >= 1 && $0 <= Double(k + 2) })
        }
    }

    @Test func evolInstructThenComplexityScorerEndToEnd() throws {
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("deita-evol")
        let rows = 6, k = 2
        let file = try evolPipeline(directory, server: server, rows: rows, k: k)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        checkEvolRows(try lines(runDirectory + "/out.jsonl"), count: rows, k: k)
        #expect(try lines(runDirectory + "/errors.jsonl").isEmpty)
        // k evolutions + (k+1) answers + 1 ranking per row.
        let stats = try server.stats()
        #expect(stats["by_endpoint"]?["chat"]?.int64Value == Int64(rows * (k + (k + 1) + 1)), "\(stats)")
        // The server read every prompt as the kind it is (in-depth and in-breadth both count as evol_instruction).
        #expect(stats["by_kind"]?["evol_instruction"]?.int64Value == Int64(rows * k), "\(stats)")
        #expect(stats["by_kind"]?["answer"]?.int64Value == Int64(rows * (k + 1)), "\(stats)")
        #expect(stats["by_kind"]?["complexity_score"]?.int64Value == Int64(rows), "\(stats)")
    }

    @Test func junkScoreAnswersStillParse() throws {
        // Every scoring answer has a preamble, reordered lines, remarks and a closing line.
        let server = try LLMServiceTests.Server(["--junk-scores-rate", "1"])
        let directory = try Fixtures.emptyDirectory("deita-junk")
        let rows = 8, k = 2
        let file = try evolPipeline(directory, server: server, rows: rows, k: k)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        let out = try lines(runDirectory + "/out.jsonl")
        checkEvolRows(out, count: rows, k: k)
        // The server's scores are a permutation of 1...n: all of them, each once.
        for row in out {
            let scores = (row["complexity_scores"]?.arrayValue ?? []).compactMap(\.doubleValue)
            #expect(scores.sorted() == (1...(k + 1)).map(Double.init))
        }
        #expect(try lines(runDirectory + "/errors.jsonl").isEmpty)
        let stats = try server.stats()
        #expect(stats["faults"]?["junk_scores"]?.int64Value == Int64(rows), "\(stats)")
    }

    @Test func methodsDependOnSeedAndRowIdNotOnBatchSize() throws {
        let server = try LLMServiceTests.Server([])
        let rows = 10, k = 3
        func outputs(batchSize: Int, seed: Int) throws -> [String: [String]] {
            let directory = try Fixtures.emptyDirectory("deita-seed-\(batchSize)-\(seed)")
            let file = try evolPipeline(directory, server: server, rows: rows, k: k, batchSize: batchSize, seed: seed)
            let runDirectory = directory.appendingPathComponent("run").path
            let result = try run(file, runDirectory)
            #expect(result.status == 0, "\(result.output)")
            var byInstruction: [String: [String]] = [:]
            for row in try lines(runDirectory + "/out.jsonl") {
                let methods = (row["evol_instruct_methods"]?.arrayValue ?? []).compactMap(\.stringValue)
                let evolved = (row["evolved_instructions"]?.arrayValue ?? []).compactMap(\.stringValue)
                byInstruction[row["instruction"]?.stringValue ?? ""] = methods + evolved
            }
            #expect(byInstruction.count == rows)
            return byInstruction
        }
        let one = try outputs(batchSize: 1, seed: 42)
        let five = try outputs(batchSize: 5, seed: 42)
        #expect(one == five)
        // The draw varies across rows and rounds, depth and breadth both occur,
        // and another seed gives another sequence.
        let methods = one.values.flatMap { $0.prefix(k) }
        #expect(Set(methods).count >= 3, "\(methods)")
        #expect(methods.contains("breadth") && methods.contains { $0 != "breadth" })
        let other = try outputs(batchSize: 5, seed: 7)
        #expect(other != one)
    }

    @Test func evolQualityThenQualityScorerEndToEnd() throws {
        let server = try LLMServiceTests.Server(["--junk-scores-rate", "0.5"])
        let directory = try Fixtures.emptyDirectory("deita-quality")
        let rows = 5, k = 2
        let inline = (0..<rows).map { #"{instruction: "Explain topic \#($0).", response: "Topic \#($0) is about several things."}"# }
            .joined(separator: ", ")
        let file = directory.appendingPathComponent("quality.yaml").path
        try """
            name: quality
            llms:
              teacher: {base_url: "\(server.url)/v1", model: test-model, max_concurrency: 8}
            steps:
              - name: load
                uses: load_inline
                with: {rows: [\(inline)]}
                batch_size: 2
              - name: evolve
                uses: evol_quality
                llm: teacher
                input: load
                with: {rounds: \(k)}
              - name: score
                uses: quality_scorer
                llm: teacher
                input: evolve
              - name: save
                uses: write_jsonl
                input: score
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        let out = try lines(runDirectory + "/out.jsonl")
        #expect(out.count == rows)
        for row in out {
            let evolved = (row["evolved_responses"]?.arrayValue ?? []).compactMap(\.stringValue)
            let scores = (row["quality_scores"]?.arrayValue ?? []).compactMap(\.doubleValue)
            #expect(evolved.count == k + 1)
            #expect(evolved.first == row["response"]?.stringValue)
            #expect(Set(evolved).count == k + 1)
            #expect(scores.sorted() == (1...(k + 1)).map(Double.init))
            #expect((row["evol_quality_methods"]?.arrayValue ?? []).count == k)
        }
        let stats = try server.stats()
        #expect(stats["by_endpoint"]?["chat"]?.int64Value == Int64(rows * (k + 1)), "\(stats)")
        #expect(stats["by_kind"]?["evol_response"]?.int64Value == Int64(rows * k), "\(stats)")
        #expect(stats["by_kind"]?["quality_score"]?.int64Value == Int64(rows), "\(stats)")
    }
}
