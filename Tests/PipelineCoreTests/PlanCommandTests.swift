import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineHost
@testable import PipelineJSON

/// `pipeline plan`: its request counts against the counts of the run it
/// forecasts (textgen and DEITA on the in-project server), its token
/// estimate, its arithmetic, its JSON, and steps that declare nothing.
@Suite("pipeline plan", .serialized)
struct PlanCommandTests {
    private var binary: String { Fixtures.pipelineBinary }

    private func plan(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, json: JSONValue?, output: String) {
        try Fixtures.requireBuiltPipeline()
        let result = try Spawned(binary, ["plan"] + arguments, environment: environment).wait()
        // stdout and stderr share the file: the document is the line that starts with {.
        let line = result.output.split(separator: "\n").first { $0.hasPrefix("{") }
        return (result.status, line.flatMap { try? JSONValue(parsing: String($0)) }, result.output)
    }

    private func runSummary(_ file: String, _ arguments: [String], environment: [String: String]? = nil,
                            label: String) throws -> JSONValue {
        let directory = try Fixtures.emptyDirectory(label).path
        let result = try Spawned(binary, ["run", file, "--run-dir", directory, "--no-llm-cache", "--log-format", "json"] + arguments,
                                 environment: environment).wait()
        #expect(result.status == 0, "\(result.output)")
        return try JSONValue(parsing: String(contentsOfFile: directory + "/summary.json", encoding: .utf8))
    }

    private func step(_ document: JSONValue?, _ name: String) -> JSONValue? {
        document?["steps"]?.arrayValue?.first { $0["name"]?.stringValue == name }
    }

    /// |estimate - actual| <= 25% of actual.
    private func near(_ estimate: Double?, _ actual: Double?, _ what: String) {
        guard let estimate, let actual else {
            Issue.record("\(what): estimate \(String(describing: estimate)), actual \(String(describing: actual))")
            return
        }
        #expect(abs(estimate - actual) <= 0.25 * actual, "\(what): estimated \(estimate), the run had \(actual)")
    }

    @Test func textgenRequestsEqualTheRunsAndTokensComeWithinAQuarter() throws {
        let server = try LLMServiceTests.Server(["--latency-ms", "5"])
        let directory = try Fixtures.emptyDirectory("plan-textgen")
        let file = try Fixtures.textgenPipeline(directory, rows: 30, batchSize: 7, server: server, maxConcurrency: 4,
                                                temperature: 0.7)
        let parameters = ["--param", "generate.num_generations=3", "--param", "generate.max_tokens=64"]

        let estimated = try plan([file, "--json"] + parameters)
        #expect(estimated.status == 0, "\(estimated.output)")
        let probed = try plan([file, "--json", "--probe", "4"] + parameters)
        #expect(probed.status == 0, "\(probed.output)")
        let summary = try runSummary(file, parameters, label: "plan-textgen-run")
        let actual = try #require(summary["steps"]?.arrayValue?.first { $0["name"]?.stringValue == "generate" }?["llm"])

        for forecast in [estimated.json, probed.json] {
            #expect(step(forecast, "load")?["rows_out"]?.int64Value == 30)
            #expect(step(forecast, "generate")?["chat_requests"]?.int64Value == 90)
            #expect(step(forecast, "generate")?["chat_requests"]?.int64Value == actual["requests"]?.int64Value)
            #expect(forecast?["total"]?["chat_requests"]?.int64Value == 90)
        }
        // Without a probe: the prompt rendered over the rows read; completions at most max_tokens.
        #expect(step(estimated.json, "generate")?["prompt_source"]?.stringValue == "sample")
        near(step(estimated.json, "generate")?["prompt_tokens"]?.doubleValue, actual["prompt_tokens"]?.doubleValue, "prompt tokens (sample)")
        #expect(step(estimated.json, "generate")?["completion_tokens"]?.doubleValue == 5760)
        #expect(step(estimated.json, "generate")?["completion_upper_bound"]?.boolValue == true)
        // With a probe: measured, scaled.
        #expect(step(probed.json, "generate")?["prompt_source"]?.stringValue == "probe")
        near(step(probed.json, "generate")?["prompt_tokens"]?.doubleValue, actual["prompt_tokens"]?.doubleValue, "prompt tokens (probe)")
        near(step(probed.json, "generate")?["completion_tokens"]?.doubleValue, actual["completion_tokens"]?.doubleValue, "completion tokens (probe)")
        #expect(probed.json?["probe"]?["seed_rows"]?["load"]?.int64Value == 4)
        #expect((probed.json?["llms"]?["teacher"]?["latency_ms"]?.doubleValue ?? 0) >= 5)
        #expect(probed.json?["llms"]?["teacher"]?["latency_source"]?.stringValue == "probe")
    }

    @Test func deitaRequestsEqualTheRunsAndTokensComeWithinAQuarter() throws {
        let server = try LLMServiceTests.Server(["--embed-dim", "32"])
        let directory = try Fixtures.emptyDirectory("plan-deita")
        let seeds = try String(contentsOf: Fixtures.packageRoot.appendingPathComponent("pipelines/deita-seed.jsonl"), encoding: .utf8)
            .split(separator: "\n").prefix(10).joined(separator: "\n") + "\n"
        let seedFile = directory.appendingPathComponent("seed.jsonl").path
        try seeds.write(toFile: seedFile, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["LLM_BASE_URL"] = server.url + "/v1"
        environment["DEITA_K"] = "2"
        environment["DEITA_BUDGET"] = "20"
        environment["DEITA_DIMENSIONS"] = "32"
        let file = Fixtures.packageRoot.appendingPathComponent("pipelines/deita.yaml").path
        let parameters = ["--param", "load.path=\(seedFile)"]

        let estimated = try plan([file, "--json"] + parameters, environment: environment)
        #expect(estimated.status == 0, "\(estimated.output)")
        let probed = try plan([file, "--json", "--probe", "2"] + parameters, environment: environment)
        #expect(probed.status == 0, "\(probed.output)")
        let before = try server.stats()
        let summary = try runSummary(file, parameters, environment: environment, label: "plan-deita-run")
        let after = try server.stats()
        let runSteps = summary["steps"]?.arrayValue ?? []

        // k = 2: (k+1)(k+3) = 15 chat calls and (k+1)^2 = 9 embedded texts per seed row.
        for forecast in [estimated.json, probed.json] {
            #expect(forecast?["total"]?["chat_requests"]?.int64Value == 150)
            let chat = (after["by_endpoint"]?["chat"]?.int64Value ?? 0) - (before["by_endpoint"]?["chat"]?.int64Value ?? 0)
            #expect(forecast?["total"]?["chat_requests"]?.int64Value == chat)
            let texts = (after["embedding_inputs"]?.int64Value ?? 0) - (before["embedding_inputs"]?.int64Value ?? 0)
            #expect(step(forecast, "embed")?["embedding_inputs"]?.int64Value == 90)
            #expect(step(forecast, "embed")?["embedding_inputs"]?.int64Value == texts)
            for actual in runSteps {
                let name = actual["name"]?.stringValue ?? ""
                let planned = step(forecast, name)
                if let llm = actual["llm"] {
                    let requests = (planned?["chat_requests"]?.int64Value ?? 0) + (planned?["embedding_requests"]?.int64Value ?? 0)
                    #expect(requests == llm["requests"]?.int64Value, "\(name)")
                }
                if planned?["sink"]?.boolValue != true {
                    #expect(planned?["rows_out"]?.int64Value == actual["rows_out"]?.int64Value, "\(name) rows out")
                }
            }
        }
        for actual in runSteps {
            guard let llm = actual["llm"], let name = actual["name"]?.stringValue, (llm["prompt_tokens"]?.int64Value ?? 0) > 0 else { continue }
            near(step(probed.json, name)?["prompt_tokens"]?.doubleValue, llm["prompt_tokens"]?.doubleValue, "\(name) prompt tokens")
            near(step(probed.json, name)?["completion_tokens"]?.doubleValue, llm["completion_tokens"]?.doubleValue, "\(name) completion tokens")
        }
        near(probed.json?["total"]?["prompt_tokens"]?.doubleValue, summary["llms"]?["teacher"]?["prompt_tokens"]?.doubleValue, "total prompt tokens")
        #expect(step(probed.json, "select")?["at_most"]?.boolValue == true)
        #expect(step(probed.json, "select")?["rows_out"]?.int64Value == 20)
    }

    /// Ten rows of 8-byte texts, two answers each of at most 100 tokens, at
    /// $0.15 / $0.60 per million, 200 ms per request, 4 at a time.
    private func pricedPipeline(_ label: String, llmExtra: String = "") throws -> String {
        let directory = try Fixtures.emptyDirectory(label)
        let rows = (0..<10).map { #"{text: "abcdefg\#($0)"}"# }.joined(separator: ", ")
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: priced
            llms:
              teacher:
                base_url: http://127.0.0.1:9/v1
                model: some-model
                max_concurrency: 4
                latency_ms: 200
                price: {prompt_per_million: 0.15, completion_per_million: 0.60}\(llmExtra)
            steps:
              - {name: load, uses: load_inline, with: {rows: [\(rows)]}, batch_size: 3}
              - {name: generate, uses: text_generation, llm: teacher, input: load,
                 with: {template: "{text}", num_generations: 2, max_tokens: 100}}
              - {name: save, uses: write_jsonl, input: generate, with: {path: out.jsonl}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func costAndTimeAreTheArithmeticOfTheirParts() throws {
        let file = try pricedPipeline("plan-priced")
        let result = try plan([file, "--json"])
        #expect(result.status == 0, "\(result.output)")
        let generate = try #require(step(result.json, "generate"))
        #expect(generate["chat_requests"]?.int64Value == 20)
        // "abcdefgN" is 8 bytes: 2 tokens a request.
        #expect(generate["prompt_tokens"]?.int64Value == 40)
        #expect(generate["completion_tokens"]?.int64Value == 2000)
        let cost = 40 * 0.15 / 1e6 + 2000 * 0.60 / 1e6
        #expect(abs((generate["cost"]?.doubleValue ?? 0) - cost) < 1e-9)
        #expect(abs((result.json?["llms"]?["teacher"]?["cost"]?.doubleValue ?? 0) - cost) < 1e-9)
        #expect(abs((result.json?["total"]?["cost"]?.doubleValue ?? 0) - cost) < 1e-9)
        // 20 requests, 4 at a time: 5 rounds of 200 ms.
        #expect(generate["seconds"]?.doubleValue == 1.0)
        #expect(result.json?["llms"]?["teacher"]?["latency_source"]?.stringValue == "latency_ms")
        // --latency-ms replaces the file's figure.
        let faster = try plan([file, "--json", "--latency-ms", "50"])
        #expect(step(faster.json, "generate")?["seconds"]?.doubleValue == 0.25)
        // --rows plans another input size: 100 rows, 200 requests.
        let more = try plan([file, "--json", "--rows", "100"])
        #expect(step(more.json, "generate")?["chat_requests"]?.int64Value == 200)
        #expect(abs((more.json?["total"]?["cost"]?.doubleValue ?? 0) - 10 * cost) < 1e-9)
        // The text form says the same.
        let text = try plan([file])
        #expect(text.status == 0)
        #expect(text.output.contains("$0.0012"), "\(text.output)")
        #expect(text.output.contains("≤2,000"), "\(text.output)")
    }

    /// What would be served, and where: a `serve:` entry (added to the
    /// schema by the serving work) is passed through as written, in
    /// process here since the schema may not take it yet; a concurrency
    /// that is no number (`auto`) leaves the time unknown.
    @Test func theServeSettingsAndAConcurrencyThatIsNoNumberAreShownAsWritten() throws {
        try Fixtures.requireBuiltPipeline()
        let plugins = Fixtures.buildDirectory.appendingPathComponent("pipeline-plugins").path
        let registry = PluginRegistry.load(PluginSearchPath(entries: [plugins]))
        var plan = try PipelineLoader.load(file: try pricedPipeline("plan-serve"), overrides: [], environment: [:],
                                           registry: registry)
        let serve = try JSONValue(parsing: #"{"preset": "llama-server", "model": "/models/tiny.gguf", "gpus": [0]}"#)
        guard case .object(var settings) = plan.llms["teacher"] ?? .null else {
            Issue.record("no teacher")
            return
        }
        settings["serve"] = serve
        settings["max_concurrency"] = .string("auto")
        plan.llms["teacher"] = .object(settings)
        let forecast = RunForecast(plan: plan, seedBatches: ["load": [3, 3, 3, 1]])
        #expect(forecast.json["llms"]?["teacher"]?["serve"] == serve)
        #expect(forecast.json["llms"]?["teacher"]?["max_concurrency"] == .null)
        #expect(forecast.json["llms"]?["teacher"]?["seconds"] == .null)
        #expect(forecast.steps.first { $0.name == "generate" }?.chatRequests == 20)
        // The batches decide nothing for chat requests, but they are what a step is called with.
        #expect(forecast.steps.first { $0.name == "generate" }?.rowsIn == 10)
    }

    @Test func inspectShowsAStepsPlan() throws {
        try Fixtures.requireBuiltPipeline()
        let result = try Spawned(binary, ["plugins", "inspect", "text_generation"]).wait()
        #expect(result.output.contains("chat requests: num_generations"), "\(result.output)")
        let undeclared = try Spawned(binary, ["plugins", "inspect", "structured_generation"]).wait()
        #expect(undeclared.output.contains("not declared"), "\(undeclared.output)")
    }

    @Test func theJSONHasTheDocumentedShape() throws {
        let file = try pricedPipeline("plan-shape")
        let result = try plan([file, "--json"])
        let document = try #require(result.json?.objectValue, "\(result.output)")
        #expect(Set(document.keys) == ["format", "pipeline", "file", "seed_rows", "probe", "steps", "llms", "total"])
        #expect(document["format"]?.stringValue == "pipeline-plan/1")
        let stepKeys: Set<String> = ["name", "uses", "llm", "declared", "sink", "rows_in", "rows_out", "rows_in_at_most", "at_most", "depth",
                                     "chat_requests", "embedding_inputs", "embedding_requests", "requests_from_probe",
                                     "prompt_tokens", "completion_tokens", "completion_upper_bound", "prompt_source",
                                     "completion_source", "seconds", "cost", "notes"]
        for step in document["steps"]?.arrayValue ?? [] { #expect(Set(step.objectValue?.keys ?? [:].keys) == stepKeys) }
        #expect(document["steps"]?.arrayValue?.map { $0["name"]?.stringValue ?? "" } == ["load", "generate", "save"])
        let llmKeys: Set<String> = ["model", "base_url", "serve", "max_concurrency", "latency_ms", "latency_source", "price",
                                    "chat_requests", "embedding_requests", "prompt_tokens", "completion_tokens",
                                    "completion_upper_bound", "seconds", "cost", "batch", "live_cost"]
        #expect(Set(document["llms"]?["teacher"]?.objectValue?.keys ?? [:].keys) == llmKeys)
        #expect(Set(document["total"]?.objectValue?.keys ?? [:].keys)
                == ["chat_requests", "embedding_requests", "prompt_tokens", "completion_tokens", "completion_upper_bound", "seconds", "cost"])
    }

    @Test func aStepThatDeclaresNothingIsUnknownUntilProbed() throws {
        let library = try Fixtures.library("Tests/Fixtures/plugins/good.c")
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("plan-third-party")
        let rows = (0..<12).map { #"{text: "question \#($0)"}"# }.joined(separator: ", ")
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: third
            llms:
              teacher: {base_url: "\(server.url)/v1", model: m, max_concurrency: 4}
            steps:
              - {name: load, uses: load_inline, with: {rows: [\(rows)]}}
              - {name: copy, uses: passthrough, input: load}
              - {name: generate, uses: text_generation, llm: teacher, input: copy, with: {template: "{text}", num_generations: 2}}
              - {name: save, uses: write_jsonl, input: generate, with: {path: out.jsonl}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let unknown = try plan([file, "--json", "--plugin-path", library])
        #expect(unknown.status == 0, "\(unknown.output)")
        #expect(step(unknown.json, "copy")?["declared"]?.boolValue == false)
        #expect(step(unknown.json, "copy")?["rows_out"] == .null)
        #expect(step(unknown.json, "generate")?["chat_requests"] == .null)
        #expect(unknown.json?["total"]?["chat_requests"] == .null)
        let text = try plan([file, "--plugin-path", library])
        #expect(text.output.contains("unknown"), "\(text.output)")
        #expect(text.output.contains("passthrough declares no plan"), "\(text.output)")

        // --probe without a number: 5 rows, measured and scaled to the 12.
        let probed = try plan([file, "--json", "--probe", "--plugin-path", library])
        #expect(probed.status == 0, "\(probed.output)")
        #expect(probed.json?["probe"]?["seed_rows"]?["load"]?.int64Value == 5)
        #expect(step(probed.json, "generate")?["chat_requests"]?.int64Value == 24)
        #expect(step(probed.json, "generate")?["requests_from_probe"]?.boolValue == true)
    }

    @Test func aBadFileGetsValidatesMessagesAndExitTwo() throws {
        let directory = try Fixtures.emptyDirectory("plan-bad")
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: bad
            llms:
              teacher: {model: m, price: {}, latency_ms: -1}
            steps:
              - {name: load, uses: load_inline, with: {rows: [{text: a}]}}
              - {name: generate, uses: text_generation, llm: teacher, input: load, with: {tempalte: "{text}"}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try plan([file])
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("\(file):3:"), "\(result.output)")
        #expect(result.output.contains("price"), "\(result.output)")
        #expect(result.output.contains("latency_ms"), "\(result.output)")
        #expect(result.output.contains("\(file):6:"), "\(result.output)")
        #expect(result.output.contains("template"), "did you mean: \(result.output)")
        let validate = try Spawned(binary, ["validate", file]).wait()
        #expect(validate.status == 2)
    }

    /// A probe that cannot reach its server fails the command (exit 1),
    /// naming the LLM.
    @Test func aProbeThatFailsSaysSoAndExitsOne() throws {
        let file = try pricedPipeline("plan-unreachable", llmExtra: "\n    retries: 0\n    timeout_seconds: 2")
        let result = try plan([file, "--probe", "1"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("teacher"), "\(result.output)")
    }
}
