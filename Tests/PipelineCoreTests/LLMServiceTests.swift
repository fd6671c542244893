import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineJSON

/// The host's LLM service end to end: `pipeline run` with text_generation
/// (dlopen'ed) against the in-project server over real HTTP on loopback,
/// with faults injected by the server.
@Suite("LLM service", .serialized)
struct LLMServiceTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    /// A running llm-test-server; stopped when released.
    final class Server {
        let process: Spawned
        let url: String
        init(_ arguments: [String]) throws {
            let path = Fixtures.buildDirectory.appendingPathComponent("llm-test-server").path
            try #require(FileManager.default.fileExists(atPath: path), "\(path) is missing: run `make test`")
            process = try Spawned(path, ["--port", "0"] + arguments)
            var found: String?
            for _ in 0..<200 {
                if let range = process.output.range(of: "http://") {
                    found = String(process.output[range.lowerBound...].prefix { !$0.isWhitespace })
                    break
                }
                usleep(20_000)
            }
            guard let found else { throw FixtureError(message: "server said: \(process.output)") }
            url = found
        }
        deinit {
            process.kill()
            _ = process.wait()
        }

        func stats() throws -> JSONValue {
            let result = try Spawned("/usr/bin/env", ["python3", "-c",
                "import urllib.request,sys;print(urllib.request.urlopen(sys.argv[1]+'/stats').read().decode())", url]).wait()
            return try JSONValue(parsing: result.output)
        }
    }

    private func writePipeline(_ directory: URL, rows: Int, server: Server, llm: String, step: String = "") throws -> String {
        var text = ""
        for n in 0..<rows { text += #"{"id": \#(n), "instruction": "Explain topic number \#(n) briefly."}"# + "\n" }
        try text.write(to: directory.appendingPathComponent("seed.jsonl"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("gen.yaml").path
        try """
            name: gen
            llms:
              teacher: {base_url: "\(server.url)/v1", model: test-model, api_key_env: PIPELINE_TEST_KEY, \(llm)}
            steps:
              - name: load
                uses: load_jsonl
                with: {path: seed.jsonl}
                batch_size: 8
              - name: generate
                uses: text_generation
                llm: teacher
                input: load
                with: {template: "Answer: {instruction}"\(step)}
              - name: save
                uses: write_jsonl
                input: generate
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func run(_ file: String, _ runDirectory: String, cache: String? = nil) throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["PIPELINE_TEST_KEY"] = canary
        let process = try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--log-format", "json"]
            + (cache.map { ["--llm-cache", $0] } ?? ["--no-llm-cache"]), environment: environment)
        return process.wait()
    }

    private let canary = "sk-canary-5f1c2e9d7b"

    private func lines(_ path: String) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    @Test func everyRowGetsAnAnswerAndTheKeyIsNowhere() throws {
        let server = try Server(["--latency-ms", "20"])
        let directory = try Fixtures.emptyDirectory("llm-basic")
        let file = try writePipeline(directory, rows: 40, server: server, llm: "max_concurrency: 8")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        let rows = try lines(runDirectory + "/out.jsonl")
        #expect(rows.count == 40)
        #expect(rows.allSatisfy { ($0["generation"]?.stringValue ?? "").count > 20 })
        #expect(rows.allSatisfy { $0["model_name"] == .string("test-model") })
        let log = try lines(runDirectory + "/llm-io.jsonl")
        #expect(log.count == 40)
        #expect(log.allSatisfy { $0["status"]?.int64Value == 200 && ($0["completion_tokens"]?.int64Value ?? 0) > 0 })
        let summary = try JSONValue(parsing: String(contentsOfFile: runDirectory + "/summary.json", encoding: .utf8))
        #expect(summary["llms"]?["teacher"]?["requests"]?.int64Value == 40)
        #expect((summary["llms"]?["teacher"]?["completion_tokens"]?.int64Value ?? 0) > 0)
        // The concurrency limit held, and was used.
        let peak = try server.stats()["max_inflight"]?.int64Value ?? -1
        #expect(peak <= 8 && peak >= 2, "peak in flight \(peak)")
        // The API key reached the server in a header only: no file of the run holds it.
        for name in try FileManager.default.contentsOfDirectory(atPath: runDirectory) {
            let data = try Data(contentsOf: URL(fileURLWithPath: runDirectory + "/" + name))
            #expect(data.range(of: Data(canary.utf8)) == nil, "\(name) contains the API key")
        }
        #expect(!result.output.contains(canary))
    }

    @Test func aFreshRunStartsItsOwnIOLogAndKeepsThePreviousOne() throws {
        let server = try Server([])
        let directory = try Fixtures.emptyDirectory("llm-fresh-log")
        let file = try writePipeline(directory, rows: 12, server: server, llm: "max_concurrency: 4")
        let runDirectory = directory.appendingPathComponent("run").path
        #expect(try run(file, runDirectory).status == 0)
        var environment = ProcessInfo.processInfo.environment
        environment["PIPELINE_TEST_KEY"] = canary
        let again = try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--fresh", "--no-llm-cache"],
                                environment: environment).wait()
        #expect(again.status == 0, "\(again.output)")
        #expect(try lines(runDirectory + "/llm-io.jsonl").count == 12, "this run's requests only")
        #expect(try lines(runDirectory + "/llm-io.previous.jsonl").count == 12, "the previous run's, kept")
    }

    @Test func transientFaultsAreRetriedUntilTheyPass() throws {
        // Every request first gets a 429 with Retry-After, then succeeds.
        let server = try Server(["--rate-limit-rate", "1", "--retry-after", "1", "--faults-first", "1"])
        let directory = try Fixtures.emptyDirectory("llm-retry")
        let file = try writePipeline(directory, rows: 10, server: server, llm: "max_concurrency: 10, retries: 3")
        let runDirectory = directory.appendingPathComponent("run").path
        let started = Date()
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        // Retry-After: 1 is a floor under the first backoff (0.125 to 0.375 s).
        #expect(Date().timeIntervalSince(started) >= 1, "the retries waited what the server asked")
        #expect(try lines(runDirectory + "/out.jsonl").count == 10)
        let log = try lines(runDirectory + "/llm-io.jsonl")
        #expect(log.filter { $0["status"]?.int64Value == 429 }.count == 10)
        #expect(log.filter { $0["status"]?.int64Value == 200 }.count == 10)
    }

    @Test func embeddingsAreUnitVectorsOfTheAskedWidth() throws {
        let server = try Server(["--embed-dim", "16"])
        let directory = try Fixtures.emptyDirectory("llm-embed")
        let file = directory.appendingPathComponent("embed.yaml").path
        try """
            name: embed
            llms:
              embedder: {base_url: "\(server.url)/v1", model: embed-model}
            steps:
              - name: load
                uses: load_inline
                with: {rows: [{text: alpha}, {text: beta}, {text: gamma}, {text: alpha}]}
              - name: embed
                uses: embeddings
                llm: embedder
                input: load
                with: {dimensions: 16}
              - name: save
                uses: write_jsonl
                input: embed
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        let rows = try lines(runDirectory + "/out.jsonl")
        #expect(rows.count == 4)
        let vectors = rows.map { ($0["embedding"]?.arrayValue ?? []).compactMap(\.doubleValue) }
        for vector in vectors {
            #expect(vector.count == 16)
            #expect(abs(vector.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4)
        }
        // Deterministic: the same text gets the same vector.
        #expect(vectors[0] == vectors[3])
        #expect(vectors[0] != vectors[1])
    }

    /// An embeddings pipeline of `rows` texts against `server`.
    private func writeEmbeddingPipeline(_ directory: URL, server: Server, rows: Int, dimensions: Int) throws -> String {
        let file = directory.appendingPathComponent("embed.yaml").path
        let texts = (0..<rows).map { "{text: t\($0)}" }.joined(separator: ", ")
        try """
            name: embed
            llms:
              embedder: {base_url: "\(server.url)/v1", model: embed-model, retries: 1}
            steps:
              - {name: load, uses: load_inline, with: {rows: [\(texts)]}}
              - {name: embed, uses: embeddings, llm: embedder, input: load, with: {dimensions: \(dimensions)}}
              - {name: save, uses: write_jsonl, input: embed, with: {path: out.jsonl}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func embeddingRowErrorsCarryTheCause() throws {
        let server = try Server(["--error-rate", "1", "--error-status", "500"])
        let directory = try Fixtures.emptyDirectory("llm-embed-fail")
        let file = try writeEmbeddingPipeline(directory, server: server, rows: 5, dimensions: 16)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 3, "\(result.output)")
        let errors = try lines(runDirectory + "/errors.jsonl").map { $0["error"]?.stringValue ?? "" }
        #expect(errors.count == 5)
        let cause = "embeddings: the LLM gave no 16-float vector for this text: llm embedder: HTTP 500"
        #expect(errors.allSatisfy { $0.hasPrefix(cause) && $0.hasSuffix("(after 2 attempts)") }, "\(errors)")
    }

    @Test func anEmbeddingOfAnotherWidthSaysItsWidth() throws {
        let server = try Server(["--embed-dim", "8"])
        let directory = try Fixtures.emptyDirectory("llm-embed-width")
        let file = try writeEmbeddingPipeline(directory, server: server, rows: 2, dimensions: 16)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 3, "\(result.output)")
        let errors = try lines(runDirectory + "/errors.jsonl").map { $0["error"]?.stringValue ?? "" }
        #expect(errors == Array(repeating: "embeddings: the LLM gave no 16-float vector for this text: llm embedder: the vector has 8 floats, not 16", count: 2))
    }

    @Test func mixedFaultsAllRecover() throws {
        // Dropped connections, malformed bodies and 503s on the first two
        // attempts of most requests: every row still gets its answer.
        let server = try Server(["--drop-rate", "0.3", "--malformed-rate", "0.3", "--unavailable-rate", "0.3",
                                 "--retry-after", "0", "--faults-first", "2", "--seed", "11"])
        let directory = try Fixtures.emptyDirectory("llm-mixed")
        let file = try writePipeline(directory, rows: 30, server: server, llm: "max_concurrency: 10, retries: 4")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        #expect(try lines(runDirectory + "/out.jsonl").count == 30)
        let faults = try server.stats()["faults"]
        #expect((faults?["drop"]?.int64Value ?? 0) > 0)
        #expect((faults?["malformed"]?.int64Value ?? 0) > 0)
        #expect((faults?["unavailable"]?.int64Value ?? 0) > 0)
    }

    @Test func aRequestThatKeepsFailingIsARowErrorNotACrash() throws {
        let server = try Server(["--error-rate", "1", "--error-status", "500"])
        let directory = try Fixtures.emptyDirectory("llm-fail")
        let file = try writePipeline(directory, rows: 6, server: server, llm: "retries: 1")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 3, "\(result.output)")
        let errors = try lines(runDirectory + "/errors.jsonl")
        #expect(errors.count == 6)
        #expect(errors.allSatisfy { ($0["error"]?.stringValue ?? "").contains("HTTP 500") })
        #expect(try lines(runDirectory + "/out.jsonl").isEmpty)
    }

    @Test func hangsTimeOutAndAreRetried() throws {
        let server = try Server(["--hang-rate", "1", "--faults-first", "1"])
        let directory = try Fixtures.emptyDirectory("llm-hang")
        let file = try writePipeline(directory, rows: 4, server: server, llm: "timeout_seconds: 0.5, retries: 2")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        #expect(try lines(runDirectory + "/out.jsonl").count == 4)
    }

    @Test func deterministicRequestsAreAnsweredFromTheCacheNextTime() throws {
        let server = try Server([])
        let directory = try Fixtures.emptyDirectory("llm-cache")
        let file = try writePipeline(directory, rows: 12, server: server, llm: "max_concurrency: 4",
                                     step: ", temperature: 0")
        let cache = directory.appendingPathComponent("cache.db").path
        let first = try run(file, directory.appendingPathComponent("run1").path, cache: cache)
        #expect(first.status == 0, "\(first.output)")
        let before = try server.stats()["by_endpoint"]?["chat"]?.int64Value ?? -1
        let second = try run(file, directory.appendingPathComponent("run2").path, cache: cache)
        #expect(second.status == 0, "\(second.output)")
        let after = try server.stats()["by_endpoint"]?["chat"]?.int64Value ?? -1
        #expect(before == 12)
        #expect(after == before, "the second run asked the server again")
        let summary = try JSONValue(parsing: String(contentsOfFile: directory.appendingPathComponent("run2/summary.json").path, encoding: .utf8))
        #expect(summary["llms"]?["teacher"]?["cached"]?.int64Value == 12)
        let one = try lines(directory.appendingPathComponent("run1/out.jsonl").path).map { $0["generation"] }
        let two = try lines(directory.appendingPathComponent("run2/out.jsonl").path).map { $0["generation"] }
        #expect(Set(one.compactMap { $0?.stringValue }) == Set(two.compactMap { $0?.stringValue }))
    }
}
