import Foundation
import Testing

@testable import PipelineJSON
@testable import PipelineLLMClient

/// llm-test-server and distilabel's UltraFeedback prompt (the peer side of
/// Tests/bench/llm/distill-bench.py), over real HTTP: one "Rating: r" /
/// "Rationale: ..." block per text comes back, read here as
/// UltraFeedback.format_output reads it (sections split on blank lines).
@Suite("llm-test-server: UltraFeedback prompts")
struct UltraFeedbackTestServerTests {
    /// A prompt of UltraFeedback's shape: the output format, with `<text k>`
    /// placeholders before it, then the instruction and the texts to annotate.
    /// `types`: the helpfulness and truthfulness aspects' format, a "Type:" line and its rationale first.
    static func prompt(instruction: String, texts: [String], types: Bool = false) -> String {
        let placeholders = texts.indices.map { "<text \($0 + 1)> [Text \($0 + 1)]" }.joined(separator: "\n")
        let typeLines = types ? "Type: [List of types]\nRationale: [Rationale]\n" : ""
        let format = texts.indices.map { "#### Output for Text \($0 + 1)\n\(typeLines)Rating: [Rating]\nRationale: [Rationale]" }
            .joined(separator: "\n\n")
        let annotated = texts.enumerated().map { "<text \($0.offset + 1)> \($0.element)" }.joined(separator: "\n")
        return """
            # Text quality
            Rate each text from 1 to 5.

            ## Format:

            ### Input
            Instruction: [The instruction]

            Texts:
            \(placeholders)

            ### Output
            \(format)

            ---

            ## Annotation

            ### Input
            Instruction: \(instruction)

            Texts:
            \(annotated)

            ### Output


            """
    }

    /// The ratings and rationales of an answer, section by section, as distilabel parses them (nil: unreadable section).
    /// With `types`, the section must start "Type: ...", "Rationale: ..." as well.
    static func parse(_ answer: String, types: Bool = false) throws -> [(rating: Int, rationale: String)?] {
        let typed = types ? "Type: (.+?)\\nRationale: (.+?)\\n" : ""
        let pattern = try NSRegularExpression(pattern: typed + "Rating: (.+?)\\nRationale: (.+)", options: [.dotMatchesLineSeparators])
        let first = types ? 3 : 1
        let number = try NSRegularExpression(pattern: "\\b\\d+\\b")
        return answer.components(separatedBy: "\n\n").map { section in
            let whole = NSRange(section.startIndex..., in: section)
            guard let match = pattern.firstMatch(in: section, range: whole),
                  let ratingRange = Range(match.range(at: first), in: section),
                  let rationaleRange = Range(match.range(at: first + 1), in: section) else { return nil }
            let ratingText = String(section[ratingRange])
            guard let digits = number.firstMatch(in: ratingText, range: NSRange(ratingText.startIndex..., in: ratingText)),
                  let digitsRange = Range(digits.range, in: ratingText),
                  let rating = Int(ratingText[digitsRange]) else { return nil }
            return (rating, String(section[rationaleRange]))
        }
    }

    private func post(_ server: LLMServiceTests.Server, _ content: String) throws -> String {
        let body = try JSONSerialization.data(withJSONObject: [
            "model": "judge",
            "messages": [
                ["role": "system", "content": "Your role is to evaluate text quality based on given criteria."],
                ["role": "user", "content": content],
            ],
            "temperature": 0.0,
        ] as [String: Any])
        let answer = HTTPEngine.shared.perform(HTTPRequest(url: server.url + "/v1/chat/completions",
                                                           headers: ["Content-Type: application/json"],
                                                           body: Array(body), timeout: 30))
        if let failure = answer.failure { throw FixtureError(message: "POST: \(failure)") }
        try #require(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
        let json = try JSONValue(parsing: String(decoding: answer.body, as: UTF8.self))
        let content = json["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
        return try #require(content, "\(json)")
    }

    @Test(arguments: [1, 2, 4, 7])
    func everyTextGetsARatingFrom1To5AndARationale(count: Int) throws {
        let server = try LLMServiceTests.Server([])
        // Texts with blank lines, markdown headings and angle brackets of their own.
        let texts = (0..<count).map { k in
            k % 2 == 0 ? "Answer \(k): a hash table maps keys to buckets." : "### Answer \(k)\n\nFirst <b>step</b>.\n\nSecond step."
        }
        let prompt = Self.prompt(instruction: "Explain how a hash table works.", texts: texts)
        let answer = try post(server, prompt)
        let sections = try Self.parse(answer)
        #expect(sections.count == count, "\(answer)")
        for (k, section) in sections.enumerated() {
            let parsed = try #require(section, "section \(k + 1) unreadable: \(answer)")
            #expect((1...5).contains(parsed.rating), "\(answer)")
            #expect(!parsed.rationale.isEmpty)
        }
        let headings = answer.components(separatedBy: "\n").filter { $0.hasPrefix("#### Output for Text ") }
        #expect(headings == (1...count).map { "#### Output for Text \($0)" })
        // Deterministic: the same prompt, the same answer.
        #expect(try post(server, prompt) == answer)
        // Counted as a judge request.
        let byKind = try server.stats()["by_kind"]
        #expect(byKind?["judge"]?.doubleValue == 2, "\(String(describing: byKind))")
        #expect(byKind?["answer"]?.doubleValue == nil, "\(String(describing: byKind))")
    }

    @Test func chatterAroundTheAnnotationStillParsesAndFaultMarkersApply() throws {
        let junk = try LLMServiceTests.Server(["--junk-scores-rate", "1"])
        let texts = ["One answer.", "Another answer.", "A third answer."]
        let chatty = try post(junk, Self.prompt(instruction: "Say something.", texts: texts))
        #expect(chatty.contains("Sure!"), "\(chatty)")
        let sections = try Self.parse(chatty)
        #expect(sections.count == 3 && sections.allSatisfy { $0.map { (1...5).contains($0.rating) } ?? false }, "\(chatty)")

        let server = try LLMServiceTests.Server([])
        let outOfRange = try post(server, Self.prompt(instruction: "Q", texts: ["fine", "bad [judge-fault:out-of-range]"]))
        #expect(try Self.parse(outOfRange).map { $0?.rating }.last == 6, "\(outOfRange)")
        let noVerdict = try post(server, Self.prompt(instruction: "Q", texts: ["x [judge-fault:no-verdict]", "y"]))
        #expect(try Self.parse(noVerdict).allSatisfy { $0 == nil }, "\(noVerdict)")
    }

    @Test func helpfulnessAndTruthfulnessFormatsGetATypeLineFirst() throws {
        let server = try LLMServiceTests.Server([])
        let prompt = Self.prompt(instruction: "Explain recursion.", texts: ["A function calling itself.", "A loop."], types: true)
        let answer = try post(server, prompt)
        let sections = try Self.parse(answer, types: true)
        #expect(sections.count == 2 && sections.allSatisfy { $0.map { (1...5).contains($0.rating) } ?? false }, "\(answer)")
        // Without the Type lines in the format, none come back.
        #expect(!(try post(server, Self.prompt(instruction: "Explain recursion.", texts: ["A."])).contains("Type:")))
    }
}
