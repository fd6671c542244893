import Foundation
import Testing

@testable import PipelineJSON
@testable import PipelineLLMClient

/// LLM requests that name their input row (ABI 1.5): under `cache: always`
/// a sampled answer (no temperature 0, no seed) is cached per step and row,
/// a deterministic one under the key it always had.
@Suite("LLM row keys", .serialized)
struct RowKeyTests {
    private var binary: String { Fixtures.pipelineBinary }

    /// A client whose server never answers (nothing listens on port 9): an
    /// answer can only come from the cache.
    private func offlineClient(cache policy: String, in directory: URL) throws -> (LLMClient, LLMCache) {
        let cache = try LLMCache(path: directory.appendingPathComponent("cache.db").path)
        let settings: JSONValue = .object(["base_url": .string("http://127.0.0.1:9/v1"), "model": .string("m"),
                                           "cache": .string(policy), "retries": .number(0)])
        let config = try LLMConfig(name: "teacher", settings: settings, environment: [:])
        return (LLMClient(config: config, cache: cache, log: nil), cache)
    }

    private static let storedAnswer = #"{"choices":[{"message":{"role":"assistant","content":"stored"},"finish_reason":"stop"}],"model":"m"}"#

    @Test func aDeterministicRequestKeepsTheKeyCachesHaveWhateverItsRow() throws {
        let (client, cache) = try offlineClient(cache: "always", in: try Fixtures.emptyDirectory("rowkey-det"))
        // The key of {"messages":[{"content":"hi","role":"user"}],"model":"m","temperature":0}
        // at generation 0, as every release before rows wrote it.
        cache.put("15f4e69b82ba206ea053de3d68678e38", Self.storedAnswer)
        let requests = [ChatRequest(prompt: "hi", options: ["temperature": .number(0)], row: 7),
                        ChatRequest(prompt: "hi", options: ["temperature": .number(0)], row: 8),
                        ChatRequest(prompt: "hi", options: ["temperature": .number(0)])]
        for (index, answer) in client.complete(requests, step: "s").enumerated() {
            #expect(answer.text == "stored" && answer.cached, "request \(index): \(answer.error ?? "")")
        }
    }

    @Test func aSampleIsCachedForItsStepAndRow() throws {
        let (client, cache) = try offlineClient(cache: "always", in: try Fixtures.emptyDirectory("rowkey-sample"))
        // temperature 0.7, step "s": row 7, and no row (a plugin older than 1.5).
        cache.put("8fcd95b34bf9bd5be44074a088add48a", Self.storedAnswer)
        cache.put("c7114d8398f843a4ee9ed4cedb6750a2", Self.storedAnswer.replacingOccurrences(of: "stored", with: "shared"))
        let sample = ["temperature": JSONValue.number(0.7)]
        let answers = client.complete([ChatRequest(prompt: "hi", options: sample, row: 7),
                                       ChatRequest(prompt: "hi", options: sample, row: 8),
                                       ChatRequest(prompt: "hi", options: sample)], step: "s")
        #expect(answers[0].text == "stored" && answers[0].cached)
        #expect(answers[1].text == nil && !answers[1].cached, "row 8 has no answer of its own: the server is asked")
        #expect(answers[2].text == "shared" && answers[2].cached)
        let otherStep = client.complete([ChatRequest(prompt: "hi", options: sample, row: 7)], step: "t")
        #expect(otherStep[0].text == nil, "another step's sample is not this step's")
    }

    @Test func keysOfSamplesNameStepAndRow() {
        let body = Array(#"{"messages":[],"model":"m","temperature":0.7}"#.utf8)
        func key(_ owner: LLMClient.SampleOwner?) -> String {
            LLMClient.cacheKey(url: "http://h/v1", endpoint: "chat", body: body, generation: 0, sample: owner)
        }
        let big = UInt64.max - 1
        #expect(key(.init(step: "s", row: big)) == LLMCache.key(
            #"{"body":{"messages":[],"model":"m","temperature":0.7},"endpoint":"chat","generation":0,"row":18446744073709551614,"step":"s","url":"http://h/v1"}"#))
        let keys = [key(nil), key(.init(step: "s", row: nil)), key(.init(step: "s", row: 1)), key(.init(step: "s", row: 2)),
                    key(.init(step: "t", row: 1))]
        #expect(Set(keys).count == keys.count)
    }

    // MARK: End to end

    private func pipeline(_ directory: URL, server: LLMServiceTests.Server, step: String) throws -> String {
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: rowkeys
            llms:
              teacher: {base_url: "\(server.url)/v1", model: test-model, cache: always, retries: 0, max_concurrency: 4}
            steps:
              - name: load
                uses: load_inline
                with: {rows: [{text: "Name a colour."}, {text: "Name a colour."}, {text: "Name a fruit."}]}
            \(step)
              - name: save
                uses: write_jsonl
                input: ask
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func run(_ file: String, _ directory: URL, fresh: Bool = false, plugins: String? = nil) throws -> (status: Int32, output: String) {
        var arguments = ["run", file, "--run-dir", directory.appendingPathComponent("run").path,
                         "--llm-cache", directory.appendingPathComponent("cache.db").path]
        if fresh { arguments.append("--fresh") }
        if let plugins { arguments += ["--plugin-path", plugins] }
        return try Spawned(binary, arguments).wait()
    }

    private func lines(_ url: URL) throws -> [JSONValue] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    private func chatRequests(_ server: LLMServiceTests.Server) throws -> Int64 {
        try server.stats()["by_endpoint"]?["chat"]?.int64Value ?? 0
    }

    /// Sampling at temperature 0.7 without a seed against a server that
    /// samples: the two rows with one prompt keep different answers, and a
    /// --fresh run asks nothing and writes the same file.
    @Test func twoRowsWithOnePromptKeepTheirSamplesAndAFreshRunGetsThemBack() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server(["--sample-unseeded"])
        let directory = try Fixtures.emptyDirectory("rowkey-run")
        let file = try pipeline(directory, server: server, step: """
              - name: ask
                uses: text_generation
                llm: teacher
                input: load
                with: {template: "{text}", temperature: 0.7}
            """)
        let first = try run(file, directory)
        #expect(first.status == 0, "\(first.output)")
        #expect(try chatRequests(server) == 3)
        let out = directory.appendingPathComponent("run/out.jsonl")
        let bytes = try Data(contentsOf: out)
        let rows = try lines(out)
        try #require(rows.count == 3)
        #expect(rows[0]["text"] == rows[1]["text"])
        #expect(rows[0]["generation"] != rows[1]["generation"], "one prompt, two rows, two samples: \(rows)")
        let log = try lines(directory.appendingPathComponent("run/llm-io.jsonl"))
        #expect(log.count == 3)
        #expect(Set(log.compactMap { $0["row"]?.int64Value }).count == 3, "every request names its row: \(log)")

        let again = try run(file, directory, fresh: true)
        #expect(again.status == 0, "\(again.output)")
        #expect(try chatRequests(server) == 3, "the fresh run asked the server again")
        #expect(try Data(contentsOf: out) == bytes, "the fresh run wrote other answers")
        let summary = try JSONValue(parsing: String(contentsOf: directory.appendingPathComponent("run/summary.json"),
                                                    encoding: .utf8))
        #expect(summary["llms"]?["teacher"]?["cached"]?.int64Value == 3)
        #expect(try lines(directory.appendingPathComponent("run/llm-io.jsonl")).allSatisfy { $0["cached"] == .bool(true) })
    }

    /// The compat suite's plugin built against the frozen 1.4 header, which
    /// cannot name rows: it still runs, and under `cache: always` its
    /// samples are cached per step, so a fresh run asks nothing again and
    /// rows with one prompt share that prompt's answer.
    @Test func aPluginOlderThanRowsIsCachedPerStep() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("rowkey-1.4")
        let plugin = directory.appendingPathComponent("plugin")
        try FileManager.default.createDirectory(at: plugin, withIntermediateDirectories: true)
        let built = try Fixtures.run("/usr/bin/env", [
            "cc", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-fvisibility=hidden",
            "-I", Fixtures.packageRoot.appendingPathComponent("Tests/abi/headers/1.4").path,
            "-o", plugin.appendingPathComponent("libcompat.so").path,
            Fixtures.packageRoot.appendingPathComponent("Tests/abi/compat_plugin.c").path])
        try #require(built.status == 0, "\(built.output)")
        let server = try LLMServiceTests.Server(["--sample-unseeded"])
        let file = try pipeline(directory, server: server, step: """
              - name: ask
                uses: compat_llm
                llm: teacher
                input: load
            """)
        let first = try run(file, directory, plugins: plugin.path)
        #expect(first.status == 0, "\(first.output)")
        #expect(try lines(directory.appendingPathComponent("run/out.jsonl")).allSatisfy { $0["answer"]?.stringValue != nil })
        let log = try lines(directory.appendingPathComponent("run/llm-io.jsonl"))
        #expect(log.count == 3 && log.allSatisfy { $0["row"] == nil }, "\(log)")
        let asked = try chatRequests(server)

        let again = try run(file, directory, fresh: true, plugins: plugin.path)
        #expect(again.status == 0, "\(again.output)")
        #expect(try chatRequests(server) == asked, "the fresh run asked the server again")
        let rows = try lines(directory.appendingPathComponent("run/out.jsonl"))
        try #require(rows.count == 3)
        #expect(rows[0]["answer"] == rows[1]["answer"], "one prompt, one step, no rows: one cached answer")
        #expect(rows[0]["answer"] != rows[2]["answer"])
    }
}
