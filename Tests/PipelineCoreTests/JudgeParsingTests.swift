import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON

/// Plugins/llm/JudgeParsing.swift at unit level: compiled on its own with
/// ScoreParsing.swift (ScoreError) and PipelineJSON's sources beside a
/// driver, as DeitaStepsTests does for the score parser (the plugin is not
/// linked into the tests).
@Suite("Judge answer parsing", .serialized)
struct JudgeParsingTests {
    final class Parser: @unchecked Sendable {
        static let shared = Parser()
        private let lock = NSLock()
        private var built: Result<String, FixtureError>?

        func executable() throws -> String {
            lock.lock()
            defer { lock.unlock() }
            if let built { return try built.get() }
            let directory = try Fixtures.emptyDirectory("judge-parse")
            let driver = directory.appendingPathComponent("main.swift")
            try #"""
                import Foundation
                let data = try! Data(contentsOf: URL(fileURLWithPath: CommandLine.arguments[1]))
                let cases = try! JSONSerialization.jsonObject(with: data) as! [[String: String]]
                var out: [[String: Any]] = []
                for c in cases {
                    let text = c["text"]!
                    if c["kind"] == "verdict" {
                        switch JudgeParsing.verdict(text) {
                        case .success(let verdict): out.append(["choice": verdict.choice.rawValue, "rationale": verdict.rationale])
                        case .failure(let error): out.append(["error": error.message])
                        }
                    } else {
                        switch JudgeParsing.rating(text) {
                        case .success(let rating): out.append(["rating": rating.value, "rationale": rating.rationale])
                        case .failure(let error): out.append(["error": error.message])
                        }
                    }
                }
                print(String(decoding: try! JSONSerialization.data(withJSONObject: out), as: UTF8.self))
                """#.write(to: driver, atomically: true, encoding: .utf8)
            let output = directory.appendingPathComponent("parse").path
            let json = Fixtures.packageRoot.appendingPathComponent("Sources/PipelineJSON")
            let jsonSources = try FileManager.default.contentsOfDirectory(atPath: json.path).filter { $0.hasSuffix(".swift") }
                .sorted().map { json.appendingPathComponent($0).path }
            let plugin = Fixtures.packageRoot.appendingPathComponent("Plugins/llm")
            let result = try Spawned("/usr/bin/env", ["swiftc", "-swift-version", "6", "-Onone", "-o", output,
                                                      plugin.appendingPathComponent("JudgeParsing.swift").path,
                                                      plugin.appendingPathComponent("ScoreParsing.swift").path]
                                                     + jsonSources + [driver.path]).wait()
            built = result.status == 0 ? .success(output) : .failure(FixtureError(message: "swiftc failed:\n\(result.output)"))
            return try built!.get()
        }

        func run(_ cases: [[String: String]]) throws -> [JSONValue] {
            let path = try executable()
            let file = try Fixtures.emptyDirectory("judge-cases").appendingPathComponent("cases.json")
            try JSONSerialization.data(withJSONObject: cases).write(to: file)
            let result = try Spawned(path, [file.path]).wait()
            try #require(result.status == 0, "\(result.output)")
            return try JSONValue(parsing: result.output).arrayValue ?? []
        }
    }

    @Test func ratingsAreReadFromJSONOrLabelledLines() throws {
        let cases: [(String, Double?, String?)] = [
            (#"{"rationale": "Clear.", "rating": 8}"#, 8, "Clear."),
            ("Sure, here it is:\n```json\n{\"rating\": 6, \"rationale\": \"Fine.\"}\n```\nAnything else?", 6, "Fine."),
            (#"{"Rating": "7"}"#, 7, nil),
            ("**Rating:** 9/10\nRationale: Thorough and correct.", 9, "Thorough and correct."),
            ("Rating (1-10): 7.5", 7.5, nil),
            ("Score = 4", 4, nil),
            ("My rating is 3 out of 10.", 3, nil),
            ("A preamble {not json} then {\"rating\": 2}", 2, nil),
            ("The overrating: 5 concern aside, Rating: 6", 6, nil),
            ("<think>Rating: 4? No, Rating: 7.</think>\nRating: 8", 8, nil),
        ]
        let results = try Parser.shared.run(cases.map { ["text": $0.0] })
        for (result, expected) in zip(results, cases) {
            #expect(result["rating"]?.doubleValue == expected.1, "\(expected.0) → \(result)")
            if let rationale = expected.2 { #expect(result["rationale"]?.stringValue == rationale, "\(result)") }
        }
    }

    @Test func aMissingContradictoryOrOutOfRangeRatingIsAnError() throws {
        let cases: [(String, String)] = [
            ("I liked it a lot.", "no rating found"),
            ("Rating: 7\nOn reflection, Rating: 9", "several ratings (7, 9)"),
            (#"{"rating": 11}"#, "the rating 11 is outside 1...10"),
            ("Rating: 0", "the rating 0 is outside 1...10"),
            (#"{"rating": "high"}"#, "no rating found"),
            (#"{"rating": null}"#, "is not a number"),
        ]
        let results = try Parser.shared.run(cases.map { ["text": $0.0] })
        for (result, expected) in zip(results, cases) {
            #expect(result["rating"] == nil, "\(expected.0) → \(result)")
            #expect(result["error"]?.stringValue?.contains(expected.1) == true, "\(expected.0) → \(result)")
        }
    }

    @Test func verdictsAreReadAndContradictionsRefused() throws {
        let cases: [(String, String?, String?)] = [
            (#"{"rationale": "Better.", "verdict": "2"}"#, "2", nil),
            (#"{"verdict": 1}"#, "1", nil),
            (#"{"verdict": "tie"}"#, "tie", nil),
            ("After comparing:\nVerdict: Response 1\nExplanation: More precise.", "1", nil),
            ("**Winner:** tie", "tie", nil),
            ("The better response is: 2", "2", nil),
            ("Verdict: [[2]]", "2", nil),
            ("Verdict: 1\nVerdict: 2", nil, "several verdicts"),
            (#"{"verdict": "3"}"#, nil, #"the verdict "3" is not 1, 2 or tie"#),
            ("Both are fine, really.", nil, "no verdict found"),
        ]
        let results = try Parser.shared.run(cases.map { ["text": $0.0, "kind": "verdict"] })
        for (result, expected) in zip(results, cases) {
            #expect(result["choice"]?.stringValue == expected.1, "\(expected.0) → \(result)")
            if let error = expected.2 { #expect(result["error"]?.stringValue?.contains(error) == true, "\(expected.0) → \(result)") }
        }
        #expect(results[3]["rationale"]?.stringValue == "More precise.")
    }
}
