import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `llm-test-server`, started with `--port 0` and spoken to over
/// real HTTP with a small blocking socket client (no URLSession).
@Suite("LLM test server")
struct LLMTestServerTests {

    // MARK: chat

    @Test func chatAnswerHasTheOpenAIShapeAndIsDeterministic() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let request = chatBody(model: "test-chat", content: "Explain how a hash table works.")
        let first = try server.post("/v1/chat/completions", request)
        #expect(first.status == 200)
        #expect(first.header("content-type") == "application/json")
        let json = try first.object()
        #expect(json["object"] as? String == "chat.completion")
        #expect((json["id"] as? String)?.hasPrefix("chatcmpl-") == true)
        #expect(json["created"] as? Int != nil)
        #expect(json["model"] as? String == "test-chat")
        let choices = try #require(json["choices"] as? [[String: Any]])
        #expect(choices.count == 1)
        #expect(choices[0]["index"] as? Int == 0)
        #expect(choices[0]["finish_reason"] as? String == "stop")
        let message = try #require(choices[0]["message"] as? [String: Any])
        #expect(message["role"] as? String == "assistant")
        let content = try #require(message["content"] as? String)
        let words = content.split(separator: " ").count
        #expect(words >= 50 && words <= 90, "about 64 words, got \(words): \(content)")
        let usage = try #require(json["usage"] as? [String: Int])
        let prompt = try #require(usage["prompt_tokens"]), completion = try #require(usage["completion_tokens"])
        #expect(prompt > 0 && completion > 0)
        #expect(usage["total_tokens"] == prompt + completion)

        // Same request, same bytes; another server process, same bytes.
        let second = try server.post("/v1/chat/completions", request)
        #expect(second.body == first.body)
        let other = try RunningServer()
        defer { other.stop() }
        #expect(try other.post("/v1/chat/completions", request).body == first.body)

        // Another model or other messages: another answer.
        let otherModel = try server.post("/v1/chat/completions", chatBody(model: "other", content: "Explain how a hash table works."))
        #expect(try otherModel.firstContent() != content)
        let otherPrompt = try server.post("/v1/chat/completions", chatBody(model: "test-chat", content: "Explain how a heap works."))
        #expect(try otherPrompt.firstContent() != content)
    }

    @Test func nChoicesDifferByIndexAndChoiceZeroMatchesASingleAnswer() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let single = try server.post("/v1/chat/completions", chatBody(content: "Name three sorting algorithms.")).firstContent()
        let response = try server.post("/v1/chat/completions", chatBody(content: "Name three sorting algorithms.", extra: #","n":3"#))
        #expect(response.status == 200)
        let choices = try #require(try response.object()["choices"] as? [[String: Any]])
        #expect(choices.map { $0["index"] as? Int } == [0, 1, 2])
        let contents = choices.compactMap { ($0["message"] as? [String: Any])?["content"] as? String }
        #expect(contents.count == 3)
        #expect(Set(contents).count == 3, "each choice index gives another answer")
        #expect(contents[0] == single)
    }

    @Test func maxTokensCutsAnswersShortWithFinishReasonLength() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let response = try server.post("/v1/chat/completions", chatBody(content: "Tell me about rivers.", extra: #","max_tokens":13"#))
        let choice = try #require((try response.object()["choices"] as? [[String: Any]])?.first)
        #expect(choice["finish_reason"] as? String == "length")
        let content = try #require((choice["message"] as? [String: Any])?["content"] as? String)
        #expect(content.split(separator: " ").count == 10)
    }

    // MARK: DEITA prompt kinds

    static let complexityPrompt = """
        Ranking the following questions according to the difficulty and complexity. Score 1-5.
        You can give a score of 6 if the question is too complex for you to answer it. You should
        respond with the format:
        [1] Score: 1
        [2] Score: 2
        ...

        [1] What is 2 + 2?
        [2] Explain general relativity to a physicist.
        [3] Write a haiku about difficulty.
        [4] Prove that there are infinitely many primes.
        [5] List the planets.
        """

    static let qualityPrompt = """
        Rank the following pair of instructions and responses according to their quality. Your evaluation should \
        consider factors such as helpfulness, relevance, accuracy, depth, creativity, and level of detail of the \
        response. Score 1-3.
        Score each response from 1 to 3, with 4 reserved for responses that are already very well written and \
        cannot be improved further. You should respond with the format:
        [1] Score: 1
        [2] Score: 2
        ...
        #Question#: How do tides work? Discuss the complexity.
        #Response List#:

        [1] The moon pulls the water.
        [2] Gravity of the moon and the sun, and the rotation of the earth.
        [3] Tides are waves.
        """

    /// No "Score 1-N": the items are counted.
    static let countedPrompt = """
        Rate each numbered answer by quality. Reply only with lines like
        [1] Score: 3

        [1] First answer.
        [2] Second answer.
        [3] Third answer.
        [4] Fourth answer.
        """

    @Test(arguments: [
        (complexityPrompt, 5, "complexity_score"),
        (qualityPrompt, 3, "quality_score"),
        (countedPrompt, 4, "quality_score"),
    ])
    func scoringPromptsGetOneScoreLinePerItem(prompt: String, items: Int, kind: String) throws {
        let server = try RunningServer()
        defer { server.stop() }
        for choice in 0..<2 {
            let response = try server.post("/v1/chat/completions", chatBody(content: prompt, extra: #","n":2"#))
            let choices = try #require(try response.object()["choices"] as? [[String: Any]])
            let content = try #require((choices[choice]["message"] as? [String: Any])?["content"] as? String)
            let scores = try Self.parseScores(content)
            #expect(scores.count == items, "\(content)")
            #expect(scores.sorted() == Array(1...items), "a permutation of 1...\(items): \(content)")
        }
        let stats = try server.stats()
        #expect((stats["by_kind"] as? [String: Int])?[kind] == 2)
    }

    /// distilabel's parse: the first N lines must each match `[i] Score: s`.
    static func parseScores(_ content: String) throws -> [Int] {
        let regex = try NSRegularExpression(pattern: #"^\[(\d+)\] Score: (\d+)$"#)
        var scores: [Int] = []
        for (k, line) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = String(line)
            guard let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
                  let indexRange = Range(match.range(at: 1), in: text), let scoreRange = Range(match.range(at: 2), in: text)
            else { throw FixtureError(message: "line \(k + 1) is not a score line: \(text)") }
            #expect(Int(text[indexRange]) == k + 1)
            scores.append(Int(text[scoreRange]) ?? -1)
        }
        return scores
    }

    @Test func evolutionPromptsGetEvolvedInstructionsAndResponses() throws {
        let server = try RunningServer()
        defer { server.stop() }
        // distilabel's rewriter template (with its literal "\n" before each newline).
        let rewriter = #"""
            I want you act as a Prompt Rewriter.\n
            Your rewriting cannot omit the non-text parts such as the table and code in #The Given Prompt#:. Also, please do not omit the input in #The Given Prompt#.\n
            #The Given Prompt#:\n
            Summarise the causes of the French Revolution.\n
            #Rewritten Prompt#:\n

            """#
        let evolved = try server.post("/v1/chat/completions", chatBody(content: rewriter)).firstContent()
        #expect(evolved.hasPrefix("Summarise the causes of the French Revolution. "), "\(evolved)")
        #expect(evolved.count > "Summarise the causes of the French Revolution.".count + 20)
        #expect(!evolved.contains("#"))

        let ours = """
            Rewrite the instruction below so that it is harder to answer, adding one requirement.
            #Given Instruction#:
            List three uses of graphite.
            #Rewritten Instruction#:
            """
        let evolvedOurs = try server.post("/v1/chat/completions", chatBody(content: ours)).firstContent()
        #expect(evolvedOurs.hasPrefix("List three uses of graphite. "), "\(evolvedOurs)")

        let creator = #"""
            I want you act as a Prompt Creator.\n
            #Given Prompt#:\n
            Describe photosynthesis in desert plants.\n
            #Created Prompt#:\n

            """#
        let created = try server.post("/v1/chat/completions", chatBody(content: creator)).firstContent()
        #expect(created.contains("photosynthesis"), "built from the longest words: \(created)")
        #expect(!created.hasPrefix("Describe photosynthesis in desert plants."))

        let responseRewriter = """
            I want you to act as a Response Rewriter.
            #Given Prompt#:
            What is 2 + 2?
            #Given Response#:
            4
            #Rewritten Response#:
            """
        let rewritten = try server.post("/v1/chat/completions", chatBody(content: responseRewriter)).firstContent()
        #expect(rewritten.split(separator: " ").count >= 50)

        let kinds = try #require(try server.stats()["by_kind"] as? [String: Int])
        #expect(kinds["evol_instruction"] == 3)
        #expect(kinds["evol_response"] == 1)
    }

    // MARK: embeddings

    @Test func embeddingsAreUnitVectorsOfTheRequestedSizeInBothEncodings() throws {
        let server = try RunningServer(["--embed-dim", "48"])
        defer { server.stop() }
        let floats = try server.post("/v1/embeddings", #"{"model":"test-embed","input":["alpha","beta","alpha"]}"#)
        #expect(floats.status == 200)
        let json = try floats.object()
        #expect(json["object"] as? String == "list")
        let data = try #require(json["data"] as? [[String: Any]])
        #expect(data.map { $0["index"] as? Int } == [0, 1, 2])
        let vectors = try data.map { try #require(($0["embedding"] as? [NSNumber])?.map(\.floatValue)) }
        for vector in vectors {
            #expect(vector.count == 48)
            let norm = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
        }
        #expect(vectors[0] == vectors[2], "same text, same vector")
        #expect(vectors[0] != vectors[1])

        let base64 = try server.post("/v1/embeddings",
                                     #"{"model":"test-embed","input":["alpha","beta","alpha"],"encoding_format":"base64"}"#)
        let encoded = try #require(try base64.object()["data"] as? [[String: Any]])
        for (k, item) in encoded.enumerated() {
            let text = try #require(item["embedding"] as? String)
            let bytes = try #require(Data(base64Encoded: text))
            #expect(bytes.count == 48 * 4)
            let decoded = stride(from: 0, to: bytes.count, by: 4).map { offset -> Float in
                let bits = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                    | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
                return Float(bitPattern: bits)
            }
            #expect(zip(decoded, vectors[k]).allSatisfy { abs($0 - $1) <= 1e-7 }, "base64 and float give the same vector")
        }

        let sized = try server.post("/v1/embeddings", #"{"model":"test-embed","input":"alpha","dimensions":7}"#)
        let sizedVector = try #require(((try sized.object()["data"] as? [[String: Any]])?.first?["embedding"] as? [NSNumber]))
        #expect(sizedVector.count == 7)
        let otherModel = try server.post("/v1/embeddings", #"{"model":"other","input":"alpha"}"#)
        let otherVector = try #require(((try otherModel.object()["data"] as? [[String: Any]])?.first?["embedding"] as? [NSNumber]))
        #expect(otherVector.map(\.floatValue) != vectors[0])

        let stats = try server.stats()
        #expect((stats["by_endpoint"] as? [String: Int])?["embeddings"] == 4)
        #expect(stats["embedding_inputs"] as? Int == 8)
    }

    // MARK: stats, models, health

    @Test func statsCountRequestsKindsTokensAndReset() throws {
        let server = try RunningServer()
        defer { server.stop() }
        #expect(try server.get("/health").status == 200)
        let models = try server.get("/v1/models")
        #expect(models.status == 200)
        #expect((try models.object()["data"] as? [[String: Any]])?.isEmpty == false)
        var promptTokens = 0, completionTokens = 0
        for k in 0..<3 {
            let response = try server.post("/v1/chat/completions", chatBody(content: "Question \(k)?"))
            let usage = try #require(try response.object()["usage"] as? [String: Int])
            promptTokens += usage["prompt_tokens"] ?? 0
            completionTokens += usage["completion_tokens"] ?? 0
        }
        _ = try server.post("/v1/chat/completions", chatBody(content: Self.complexityPrompt))
        _ = try server.post("/v1/chat/completions", "{not json")

        let stats = try server.stats()
        #expect(stats["requests"] as? Int == 5)
        let endpoints = try #require(stats["by_endpoint"] as? [String: Int])
        #expect(endpoints["chat"] == 5)
        #expect(endpoints["health"] == 1)
        #expect(endpoints["models"] == 1)
        #expect(stats["by_kind"] as? [String: Int] == ["answer": 3, "complexity_score": 1])
        let statuses = try #require(stats["by_status"] as? [String: Int])
        #expect(statuses["200"] == 6)
        #expect(statuses["400"] == 1)
        #expect((stats["prompt_tokens"] as? Int ?? 0) > promptTokens)
        #expect((stats["completion_tokens"] as? Int ?? 0) > completionTokens)
        #expect(stats["max_inflight"] as? Int == 1)
        #expect((stats["faults"] as? [String: Int])?.values.allSatisfy { $0 == 0 } == true)

        let reset = try server.post("/stats/reset", "")
        #expect(reset.status == 200)
        let after = try server.stats()
        #expect(after["requests"] as? Int == 0)
        #expect(after["total_tokens"] as? Int == 0)
    }

    // MARK: faults

    @Test func rateLimitOnTheFirstAttemptThenTheRetrySucceeds() throws {
        let server = try RunningServer(["--rate-limit-rate", "1", "--faults-first", "1", "--retry-after", "3"])
        defer { server.stop() }
        let request = chatBody(content: "Why is the sky blue?")
        let limited = try server.post("/v1/chat/completions", request)
        #expect(limited.status == 429)
        #expect(limited.header("retry-after") == "3")
        let error = try #require(try limited.object()["error"] as? [String: Any])
        #expect(error["code"] as? String == "rate_limit_exceeded")
        #expect((error["message"] as? String)?.isEmpty == false)

        let retried = try server.post("/v1/chat/completions", request)
        #expect(retried.status == 200)
        #expect(try retried.firstContent().isEmpty == false)
        // A different request is limited once too.
        #expect(try server.post("/v1/chat/completions", chatBody(content: "Why is grass green?")).status == 429)
        #expect((try server.stats()["faults"] as? [String: Int])?["rate_limit"] == 2)
    }

    @Test func otherFaultKinds() throws {
        let prompt = chatBody(content: "Say something.")
        do {
            let server = try RunningServer(["--error-rate", "1", "--error-status", "502"])
            defer { server.stop() }
            let response = try server.post("/v1/chat/completions", prompt)
            #expect(response.status == 502)
            #expect((try response.object()["error"] as? [String: Any])?["type"] as? String == "server_error")
        }
        do {
            let server = try RunningServer(["--unavailable-rate", "1"])
            defer { server.stop() }
            let response = try server.post("/v1/chat/completions", prompt)
            #expect(response.status == 503)
            #expect(response.header("retry-after") == "1")
        }
        do {
            let server = try RunningServer(["--malformed-rate", "1"])
            defer { server.stop() }
            let response = try server.post("/v1/chat/completions", prompt)
            #expect(response.status == 200)
            #expect(!response.body.isEmpty)
            #expect((try? JSONSerialization.jsonObject(with: response.body)) == nil, "the body is not valid JSON")
        }
        do {
            let server = try RunningServer(["--drop-rate", "1"])
            defer { server.stop() }
            #expect(throws: HTTPTestError.closedWithoutResponse) { try server.post("/v1/chat/completions", prompt) }
            #expect(try server.get("/health").status == 200, "only LLM requests are faulted")
        }
        do {
            let server = try RunningServer(["--hang-rate", "1"])
            defer { server.stop() }
            #expect(throws: HTTPTestError.timedOut) {
                try server.post("/v1/chat/completions", prompt, timeout: 0.3)
            }
            let stats = try server.stats()
            #expect((stats["faults"] as? [String: Int])?["hang"] == 1)
        }
        do {
            let server = try RunningServer(["--junk-scores-rate", "1"])
            defer { server.stop() }
            let content = try server.post("/v1/chat/completions", chatBody(content: Self.complexityPrompt)).firstContent()
            let lines = content.split(separator: "\n").map(String.init)
            #expect(lines.count > 5, "a preamble and a closing line around the scores: \(content)")
            #expect((try? Self.parseScores(content)) == nil, "distilabel's strict parse fails: \(content)")
            let scoreLines = lines.filter { $0.hasPrefix("[") }
            #expect(scoreLines.count == 5)
            #expect(scoreLines != scoreLines.sorted(), "another order")
            #expect(scoreLines.contains { $0.range(of: #"^\[\d+\] Score: \d+$"#, options: .regularExpression) == nil },
                    "a remark after a score")
            // Other prompts are not touched.
            let answer = try server.post("/v1/chat/completions", prompt).firstContent()
            #expect(!answer.contains("Score"))
        }
    }

    @Test func faultScheduleDependsOnlyOnSeedAndRequests() throws {
        func statuses(seed: String) throws -> [Int] {
            let server = try RunningServer(["--error-rate", "0.5", "--seed", seed])
            defer { server.stop() }
            return try (0..<24).map { try server.post("/v1/chat/completions", chatBody(content: "Item \($0 % 12)")).status }
        }
        let first = try statuses(seed: "7")
        #expect(try statuses(seed: "7") == first)
        #expect(first.contains(200) && first.contains(500))
        #expect(try statuses(seed: "8") != first)
    }

    // MARK: robustness

    @Test func malformedRequestsGetA400WithAJSONErrorAndTheServerLivesOn() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let bad: [(String, String)] = [
            ("not JSON", "{\"model\":"),
            ("empty", ""),
            ("not an object", "[1,2,3]"),
            ("no model", #"{"messages":[{"role":"user","content":"x"}]}"#),
            ("no messages", #"{"model":"m"}"#),
            ("empty messages", #"{"model":"m","messages":[]}"#),
            ("message without role", #"{"model":"m","messages":[{"content":"x"}]}"#),
            ("content a number", #"{"model":"m","messages":[{"role":"user","content":5}]}"#),
            ("n zero", #"{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}"#),
            ("n a string", #"{"model":"m","messages":[{"role":"user","content":"x"}],"n":"2"}"#),
            ("deep nesting", String(repeating: "[", count: 100_000)),
            ("trailing garbage", #"{"model":"m","messages":[{"role":"user","content":"x"}]} x"#),
            ("bad escape", #"{"model":"m","messages":[{"role":"user","content":"\q"}]}"#),
            ("lone surrogate then garbage", #"{"model":"m","messages":[{"role":"user","content":"\ud800"}]"#),
            ("huge number", #"{"model":"m","messages":[{"role":"user","content":"x"}],"n":1e400}"#),
        ]
        for (label, body) in bad {
            let response = try server.post("/v1/chat/completions", body)
            #expect(response.status == 400, "\(label)")
            let error = try? response.object()["error"] as? [String: Any]
            #expect((error?["message"] as? String)?.isEmpty == false, "\(label): an OpenAI-style error body")
        }
        // Invalid UTF-8 inside a string, and an embeddings request with a bad input.
        let invalidUTF8 = Data(#"{"model":"m","messages":[{"role":"user","content":""#.utf8) + Data([0xff, 0xfe]) + Data(#""}]}"#.utf8)
        #expect(try server.request("POST", "/v1/chat/completions", body: invalidUTF8).status == 200)
        #expect(try server.post("/v1/embeddings", #"{"model":"e","input":[]}"#).status == 400)
        #expect(try server.post("/v1/embeddings", #"{"model":"e","input":"x","encoding_format":"hex"}"#).status == 400)
        #expect(try server.post("/v1/embeddings", #"{"model":"e","input":"x","dimensions":0}"#).status == 400)
        #expect(try server.get("/v1/nothing").status == 404)
        #expect(try server.get("/v1/chat/completions").status == 405)

        // Garbage on the wire: an error response, then the connection closes.
        let connection = try HTTPTestConnection(port: server.port)
        try connection.write(Data("HELLO\r\n\r\n".utf8))
        #expect(try connection.readResponse().status == 400)
        #expect(try server.get("/health").status == 200)
        #expect(server.isRunning)
    }

    @Test func keepAliveChunkedBodiesAndExpectContinue() throws {
        let server = try RunningServer()
        defer { server.stop() }
        let connection = try HTTPTestConnection(port: server.port)
        let body = chatBody(content: "Keep the connection open.")
        let expected = try server.post("/v1/chat/completions", body).body

        // Three requests on one connection, one of them chunked with Expect: 100-continue.
        for _ in 0..<2 {
            try connection.write(HTTPTestConnection.requestBytes("POST", "/v1/chat/completions", body: Data(body.utf8)))
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.body == expected)
        }
        let bytes = Data(body.utf8)
        let split = bytes.count / 3
        var chunked = Data("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n".utf8)
        chunked += Data(String(split, radix: 16).utf8) + Data("\r\n".utf8) + bytes.prefix(split) + Data("\r\n".utf8)
        chunked += Data(String(bytes.count - split, radix: 16).utf8) + Data(";ext=1\r\n".utf8) + bytes.dropFirst(split) + Data("\r\n".utf8)
        chunked += Data("0\r\n\r\n".utf8)
        try connection.write(chunked)
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.body == expected)
        #expect((try server.stats()["connections"] as? [String: Int])?["max_open"] ?? 0 >= 1)
    }

    @Test func sixtyFourParallelRequestsOverlap() throws {
        let server = try RunningServer(["--latency-ms", "50"])
        defer { server.stop() }
        let count = 64
        let results = ResultBox(count: count)
        let group = DispatchGroup()
        let started = Date()
        for k in 0..<count {
            group.enter()
            let thread = Thread {
                let status = try? server.post("/v1/chat/completions", chatBody(content: "Parallel question \(k)")).status
                results.set(k, status ?? -1)
                group.leave()
            }
            thread.stackSize = 512 * 1024
            thread.start()
        }
        #expect(group.wait(timeout: .now() + 20) == .success)
        let elapsed = Date().timeIntervalSince(started)
        #expect(results.values.allSatisfy { $0 == 200 }, "\(results.values)")
        #expect(elapsed < 1.5, "64 requests at 50 ms each took \(elapsed) s: they did not run in parallel")
        let stats = try server.stats()
        #expect((stats["max_inflight"] as? Int ?? 0) >= 16)
        #expect(stats["inflight"] as? Int == 0)
    }

    /// `count` chat requests sent at once, each on its own connection.
    private func parallelChats(_ server: RunningServer, count: Int) -> [HTTPTestResponse?] {
        let results = ResponseBox(count: count)
        let group = DispatchGroup()
        for k in 0..<count {
            group.enter()
            let thread = Thread {
                results.set(k, try? server.post("/v1/chat/completions", chatBody(content: "Capacity question \(k)"), timeout: 30))
                group.leave()
            }
            thread.stackSize = 512 * 1024
            thread.start()
        }
        _ = group.wait(timeout: .now() + 60)
        return results.values
    }

    @Test func capacityQueuesTheRequestsBeyondK() throws {
        let server = try RunningServer(["--capacity", "2", "--latency-ms", "300"])
        defer { server.stop() }
        let responses = parallelChats(server, count: 6)
        #expect(responses.allSatisfy { $0?.status == 200 }, "\(responses.map { $0?.status })")
        let stats = try server.stats()
        let capacity = try #require(stats["capacity"] as? [String: Any])
        #expect(capacity["limit"] as? Int == 2)
        #expect(capacity["over_capacity"] as? String == "queue")
        #expect(capacity["max_in_service"] as? Int == 2, "\(capacity)")
        #expect((capacity["queued_total"] as? Int ?? 0) >= 1, "six requests for two slots: some waited")
        #expect(capacity["rejected"] as? Int == 0)
        #expect(capacity["in_service"] as? Int == 0 && capacity["queued"] as? Int == 0)
    }

    @Test func capacityRefusesTheRequestsBeyondKWith429() throws {
        let server = try RunningServer(["--capacity", "1", "--over-capacity", "429", "--latency-ms", "400", "--retry-after", "3"])
        defer { server.stop() }
        let responses = parallelChats(server, count: 5)
        let statuses = responses.map { $0?.status ?? -1 }
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 429 }, "\(statuses)")
        let refused = responses.compactMap { $0 }.filter { $0.status == 429 }
        #expect(!refused.isEmpty && statuses.contains(200), "\(statuses)")
        for response in refused {
            #expect(response.header("retry-after") == "3")
            let error = try #require(try response.object()["error"] as? [String: Any])
            #expect(error["code"] as? String == "over_capacity")
        }
        let capacity = try #require(try server.stats()["capacity"] as? [String: Any])
        #expect(capacity["max_in_service"] as? Int == 1)
        #expect(capacity["rejected"] as? Int == refused.count)
        #expect(capacity["queued_total"] as? Int == 0)
        // The slot is free again: the next request is served.
        let again = try server.post("/v1/chat/completions", chatBody(content: "Capacity question 0"))
        #expect(again.status == 200)
    }

    @Test func capacityFlagsAreChecked() throws {
        let binary = RunningServer.binary
        let zero = try ChildProcess.run(binary, ["--capacity", "0"])
        #expect(zero.status == 2 && zero.output.contains("--capacity"))
        let mode = try ChildProcess.run(binary, ["--capacity", "2", "--over-capacity", "drop"])
        #expect(mode.status == 2 && mode.output.contains("expected queue or 429"), "\(mode.output)")
        #expect(try ChildProcess.run(binary, ["--help"]).output.contains("--over-capacity"))
    }

    @Test func usageErrorsExitWithTwoAndThePortFileIsWritten() throws {
        let binary = RunningServer.binary
        let badFlag = try ChildProcess.run(binary, ["--no-such-flag"])
        #expect(badFlag.status == 2)
        #expect(badFlag.output.contains("unknown option"))
        let badRate = try ChildProcess.run(binary, ["--error-rate", "0.7", "--drop-rate", "0.7"])
        #expect(badRate.status == 2)
        #expect(try ChildProcess.run(binary, ["--help"]).status == 0)

        let directory = try Fixtures.emptyDirectory("llm-test-server")
        let portFile = directory.appendingPathComponent("port").path
        let server = try RunningServer(["--port-file", portFile])
        defer { server.stop() }
        let written = try String(contentsOfFile: portFile, encoding: .utf8)
        #expect(written.trimmingCharacters(in: .whitespacesAndNewlines) == String(server.port))
    }
}

// MARK: - helpers

func chatBody(model: String = "test-chat", content: String, extra: String = "") -> String {
    let data = (try? JSONSerialization.data(withJSONObject: content, options: [.fragmentsAllowed])) ?? Data("\"\"".utf8)
    let quoted = String(decoding: data, as: UTF8.self)
    return #"{"model":"\#(model)","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":\#(quoted)}],"temperature":0.7\#(extra)}"#
}

private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Int]
    init(count: Int) { storage = Array(repeating: 0, count: count) }
    func set(_ index: Int, _ value: Int) {
        lock.lock()
        storage[index] = value
        lock.unlock()
    }
    var values: [Int] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}

private final class ResponseBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [HTTPTestResponse?]
    init(count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: HTTPTestResponse?) {
        lock.lock()
        storage[index] = value
        lock.unlock()
    }
    var values: [HTTPTestResponse?] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}

enum HTTPTestError: Error, Equatable {
    case connectFailed(Int32)
    case closedWithoutResponse
    case timedOut
    case malformedResponse(String)
}

struct HTTPTestResponse {
    var status: Int
    var headers: [(String, String)]
    var body: Data

    func header(_ name: String) -> String? {
        headers.last(where: { $0.0 == name.lowercased() })?.1
    }

    func object() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw HTTPTestError.malformedResponse(String(decoding: body, as: UTF8.self))
        }
        return object
    }

    func firstContent() throws -> String {
        let choices = try object()["choices"] as? [[String: Any]]
        guard let content = (choices?.first?["message"] as? [String: Any])?["content"] as? String else {
            throw HTTPTestError.malformedResponse(String(decoding: body, as: UTF8.self))
        }
        return content
    }
}

/// A blocking HTTP/1.1 client over one loopback TCP connection.
final class HTTPTestConnection {
    let fd: Int32
    private var buffer = Data()

    init(port: Int, timeout: Double = 10) throws {
        #if canImport(Glibc)
        // Close-on-exec, so servers other tests start do not inherit it.
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw HTTPTestError.connectFailed(errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw HTTPTestError.connectFailed(code)
        }
        setTimeout(timeout)
    }

    deinit { close(fd) }

    func setTimeout(_ seconds: Double) {
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    static func requestBytes(_ method: String, _ path: String, body: Data?, close: Bool = false) -> Data {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        if close { head += "Connection: close\r\n" }
        head += "\r\n"
        return Data(head.utf8) + (body ?? Data())
    }

    func write(_ data: Data) throws {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < raw.count {
                guard let base = raw.baseAddress else { return }
                #if canImport(Glibc)
                let n = send(fd, base + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                #else
                let n = send(fd, base + offset, raw.count - offset, 0)
                #endif
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw HTTPTestError.closedWithoutResponse }
                offset += n
            }
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return
            }
            if n < 0, errno == EINTR { continue }
            if n < 0, errno == EAGAIN || errno == EWOULDBLOCK { throw HTTPTestError.timedOut }
            throw HTTPTestError.closedWithoutResponse
        }
    }

    /// Reads one final response (skipping `100 Continue`).
    func readResponse() throws -> HTTPTestResponse {
        while true {
            var headerEnd: Range<Data.Index>?
            while true {
                headerEnd = buffer.range(of: Data("\r\n\r\n".utf8))
                if headerEnd != nil { break }
                try fill()
            }
            guard let end = headerEnd else { throw HTTPTestError.malformedResponse("no header end") }
            let head = String(decoding: buffer[buffer.startIndex..<end.lowerBound], as: UTF8.self)
            buffer = Data(buffer[end.upperBound...])
            var lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
                throw HTTPTestError.malformedResponse(head)
            }
            if status == 100 { continue }
            let headers = lines.compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            let length = headers.last(where: { $0.0 == "content-length" }).flatMap { Int($0.1) } ?? 0
            while buffer.count < length { try fill() }
            let body = Data(buffer.prefix(length))
            buffer = Data(buffer.dropFirst(length))
            return HTTPTestResponse(status: status, headers: headers, body: body)
        }
    }
}

/// A child process started with posix_spawn and reaped with waitpid.
/// (Foundation's Process sometimes reports a child's exit only minutes late
/// when tests start processes in parallel, so it is not used here.)
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    /// Our end of the socket pair on the child's stdout (and stderr when merged).
    let output: Int32
    private let lock = NSLock()
    private var exitStatus: Int32?

    init(_ path: String, _ arguments: [String], mergeStderr: Bool) throws {
        var fds: [Int32] = [0, 0]
        // A socket pair rather than pipe(): close-on-exec is set atomically,
        // so processes other tests spawn meanwhile do not inherit it.
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw FixtureError(message: "socketpair: \(errno)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        if mergeStderr { posix_spawn_file_actions_adddup2(&actions, fds[1], 2) }
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child = pid_t()
        let result = posix_spawn(&child, path, &actions, nil, &argv, &envp)
        close(fds[1])
        guard result == 0 else {
            close(fds[0])
            throw FixtureError(message: "posix_spawn \(path): \(result)")
        }
        pid = child
        output = fds[0]
    }

    deinit {
        if status(wait: false) == nil {
            kill(pid, SIGKILL)
            _ = status(wait: true)
        }
        close(output)
    }

    /// The raw wait status once the child has exited (nil while it runs).
    @discardableResult
    func status(wait: Bool) -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, wait ? 0 : WNOHANG)
            if result == pid {
                exitStatus = status
                return status
            }
            if result < 0, errno == EINTR { continue }
            return nil
        }
    }

    /// Everything the child writes until it closes its output.
    func readAll() -> Data {
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return data }
            data.append(contentsOf: chunk[0..<n])
        }
    }

    /// The first line the child writes (without the newline).
    func readLine() -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(output, &byte, 1)
            if n < 0, errno == EINTR { continue }
            guard n == 1, byte != 0x0a else { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Exit code when the child exited normally, nil when a signal ended it.
    static func exitCode(_ status: Int32) -> Int32? {
        status & 0x7f == 0 ? (status >> 8) & 0xff : nil
    }

    /// Runs a command to its end: exit code (-1 for a signal) and stdout + stderr.
    static func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let child = try ChildProcess(path, arguments, mergeStderr: true)
        let output = child.readAll()
        let status = child.status(wait: true) ?? -1
        return (exitCode(status) ?? -1, String(decoding: output, as: UTF8.self))
    }
}

/// One `llm-test-server` process on a free port; `stop()` sends SIGTERM and
/// checks it exits with 0.
final class RunningServer: @unchecked Sendable {
    static var binary: String { Fixtures.buildDirectory.appendingPathComponent("llm-test-server").path }

    let child: ChildProcess
    let port: Int

    init(_ arguments: [String] = []) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw FixtureError(message: "\(Self.binary) is missing: build the llm-test-server product")
        }
        // Started with the test runner's signal mask and open descriptors,
        // which the server must cope with.
        child = try ChildProcess(Self.binary, ["--port", "0"] + arguments, mergeStderr: false)
        let line = child.readLine()
        let prefix = "llm-test-server listening on http://127.0.0.1:"
        guard line.hasPrefix(prefix), let port = Int(line.dropFirst(prefix.count)), port > 0 else {
            throw FixtureError(message: "unexpected first line from llm-test-server: '\(line)'")
        }
        self.port = port
    }

    var isRunning: Bool { child.status(wait: false) == nil }

    func stop() {
        guard isRunning else { return }
        kill(child.pid, SIGTERM)
        let status = child.status(wait: true) ?? -1
        #expect(ChildProcess.exitCode(status) == 0, "SIGTERM ends the server with 0 (wait status \(status))")
    }

    func request(_ method: String, _ path: String, body: Data? = nil, timeout: Double = 10) throws -> HTTPTestResponse {
        let connection = try HTTPTestConnection(port: port, timeout: timeout)
        try connection.write(HTTPTestConnection.requestBytes(method, path, body: body, close: true))
        return try connection.readResponse()
    }

    func post(_ path: String, _ body: String, timeout: Double = 10) throws -> HTTPTestResponse {
        try request("POST", path, body: Data(body.utf8), timeout: timeout)
    }

    func get(_ path: String) throws -> HTTPTestResponse {
        try request("GET", path)
    }

    func stats() throws -> [String: Any] {
        try get("/stats").object()
    }
}
