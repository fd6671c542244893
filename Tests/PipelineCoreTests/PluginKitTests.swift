import Foundation
import Testing

@testable import PipelineJSON

/// PluginKit's one-declaration parameters and its LLM-task loop, seen from
/// the host: the descriptors the built Swift plugins publish, and
/// text_generation (an `LLMTask`) run by `pipeline run` against
/// llm-test-server.
@Suite("PluginKit", .serialized)
struct PluginKitTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func lines(_ path: String) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    /// The schemas PluginKit writes from the steps' `Parameter`s are the
    /// ones the steps had written by hand, and the rest of each descriptor
    /// (ids, flags, columns) is unchanged. Tests/Fixtures/swift-step-descriptors.json
    /// holds `pipeline plugins inspect STEP --json` without `library`:
    /// update it when a step's descriptor changes on purpose.
    @Test func declaredParametersGiveTheDescriptorsTheStepsHad() throws {
        try Fixtures.requireBuiltPipeline()
        let fixture = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/swift-step-descriptors.json")
        let expected = try #require(try JSONValue(parsing: String(contentsOf: fixture, encoding: .utf8)).objectValue)
        #expect(expected.count >= 9, "the fixture lists every built-in Swift step")
        for (step, descriptor) in expected.sorted(by: { $0.key < $1.key }) {
            let result = try Spawned(binary, ["plugins", "inspect", step, "--json"]).wait()
            try #require(result.status == 0, "\(result.output)")
            guard case .object(var actual) = try JSONValue(parsing: result.output) else {
                Issue.record("\(step): not a JSON object: \(result.output)")
                continue
            }
            actual["library"] = nil
            #expect(JSONValue.object(actual) == descriptor, "\(step) now publishes \(JSONValue.object(actual).serialized)")
        }
    }

    /// `pipeline validate` of `yaml`, written as p.yaml in a fresh directory.
    private func validate(_ yaml: String, _ name: String) throws -> (status: Int32, output: String) {
        try Fixtures.requireBuiltPipeline()
        let file = try Fixtures.emptyDirectory(name).appendingPathComponent("p.yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        return try Spawned(binary, ["validate", file]).wait()
    }

    /// A required parameter (no default, not optional) is listed as
    /// required, and the host says so when it is missing.
    @Test func aParameterWithoutDefaultIsRequired() throws {
        let result = try validate("""
            name: p
            steps:
              - {name: load, uses: load_inline, with: {rows: [{a: 1}]}}
              - {name: keep, uses: keep_columns, input: load}
              - {name: save, uses: write_jsonl, input: keep, with: {path: out.jsonl}}
            """, "pluginkit-required")
        #expect(result.status != 0)
        #expect(result.output.contains("columns"), "\(result.output)")
    }

    private func textGeneration(_ directory: URL, server: LLMServiceTests.Server, rows: String, with: String,
                                model: String = "test-model") throws -> String {
        let file = directory.appendingPathComponent("gen.yaml").path
        try """
            name: gen
            llms:
              teacher: {base_url: "\(server.url)/v1", model: \(model), retries: 0, max_concurrency: 4}
            steps:
              - {name: load, uses: load_inline, with: {rows: [\(rows)]}}
              - {name: generate, uses: text_generation, llm: teacher, input: load, with: \(with)}
              - {name: save, uses: write_jsonl, input: generate, with: {path: out.jsonl}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func run(_ file: String, _ runDirectory: String) throws -> (status: Int32, output: String) {
        try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--log-format", "json", "--no-llm-cache"]).wait()
    }

    @Test func aColumnThePromptReadsThatTheInputLacksFailsTheStepNamingIt() throws {
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("pluginkit-missing")
        let file = try textGeneration(directory, server: server, rows: #"{instruction: "Say hi.", other: 1}"#,
                                      with: #"{template: "{instruction} {question}"}"#)
        let result = try run(file, directory.appendingPathComponent("run").path)
        // load_inline's columns are known, so validation catches it.
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains(#"gen.yaml:6:104: error: steps[1].with.template: {question} names a column no earlier step produces (available: instruction, other)"#),
                "\(result.output)")
    }

    /// Answers replace same-named input columns, every other column passes
    /// through, and a batch without a failed row has no _error.
    @Test func answersBecomeColumnsAndTheOtherColumnsPassThrough() throws {
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("pluginkit-pass")
        let file = try textGeneration(
            directory, server: server,
            rows: #"{instruction: "Say hi.", keep: 7, model_name: stale}, {instruction: "Say bye.", keep: 8, model_name: stale}"#,
            with: "{num_generations: 2, output_column: answers, model_name_column: model_name}")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        let rows = try lines(runDirectory + "/out.jsonl")
        #expect(rows.count == 2)
        #expect(rows.map { $0["keep"]?.int64Value } == [7, 8])
        #expect(rows.allSatisfy { $0["model_name"]?.stringValue == "test-model" })
        #expect(rows.allSatisfy { ($0["answers"]?.arrayValue ?? []).compactMap(\.stringValue).count == 2 })
        #expect(rows.allSatisfy { $0.objectValue?.keys.contains("_error") == false }, "\(rows)")
        #expect(try lines(runDirectory + "/errors.jsonl").isEmpty)
    }

    /// num_generations with a seed: each generation sends its own seed
    /// (the step's for the first, derived ones after), so a seeded server
    /// gives N different answers, the same ones on every run.
    @Test func seededGenerationsAreDistinctAndRepeatable() throws {
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("pluginkit-seeds")
        let file = try textGeneration(
            directory, server: server, rows: #"{instruction: "Say hi."}, {instruction: "Say bye."}"#,
            with: "{num_generations: 4, seed: 7, temperature: 0.9}")
        var answers: [[[String]]] = []
        for attempt in 0..<2 {
            let runDirectory = directory.appendingPathComponent("run\(attempt)").path
            let result = try run(file, runDirectory)
            #expect(result.status == 0, "\(result.output)")
            answers.append(try lines(runDirectory + "/out.jsonl").map { ($0["generation"]?.arrayValue ?? []).compactMap(\.stringValue) })
        }
        #expect(answers[0].count == 2)
        for row in answers[0] { #expect(Set(row).count == 4, "\(row)") }
        #expect(answers[0] == answers[1])
    }

    /// The system prompt is a template like the prompt: what reaches the
    /// server names the row's product (the teacher log holds the request).
    @Test func theSystemPromptIsATemplateOverTheRow() throws {
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("pluginkit-system")
        let file = try textGeneration(
            directory, server: server, rows: #"{instruction: "Reset my password.", product: Acme}, {instruction: "Hi.", product: null}"#,
            with: #"{system_prompt: "You support {{ product }} users; answer in {{ '{' }}plain{{ '}' }} words."}"#)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 3, "\(result.output)")
        let log = try String(contentsOfFile: runDirectory + "/llm-io.jsonl", encoding: .utf8)
        #expect(log.contains("You support Acme users; answer in {plain} words."), "\(log)")
        #expect(!log.contains("{product}"))
        let errors = try lines(runDirectory + "/errors.jsonl")
        // A Jinja template says where it printed the null.
        #expect(errors.first?["error"]?.stringValue?.contains("system prompt: template 1:16: this {{ }} prints null; test it with 'is none'") == true,
                "\(errors)")
    }

    /// A template naming a column the input cannot have is a validation
    /// error at the value, for the template and the system prompt alike.
    @Test func aTemplateColumnNoStepProducesIsAValidationError() throws {
        let result = try validate("""
            name: p
            llms:
              teacher: {base_url: "http://127.0.0.1:9/v1", model: m}
            steps:
              - {name: load, uses: load_inline, with: {rows: [{question: a, product: b}]}}
              - {name: keep, uses: keep_columns, input: load, with: {columns: [question, product]}}
              - name: generate
                uses: text_generation
                llm: teacher
                input: keep
                with:
                  template: "Q: {questoin}"
                  system_prompt: "For {prodcut} {"
              - {name: save, uses: write_jsonl, input: generate, with: {path: out.jsonl}}
            """, "pluginkit-template-columns")
        #expect(result.status == 2, "\(result.output)")
        // Positions point into the template: the placeholder, the lone brace.
        #expect(result.output.contains("p.yaml:12:21: error: steps[2].with.template: {questoin}"), "\(result.output)")
        #expect(result.output.contains("p.yaml:13:37: error: steps[2].with.system_prompt:"), "\(result.output)")
        #expect(result.output.contains("steps[2].with.template: {questoin} names a column no earlier step produces"), "\(result.output)")
        #expect(result.output.contains("question"), "\(result.output)")
        #expect(result.output.contains(#"steps[2].with.system_prompt: "{" without a closing "}""#), "\(result.output)")
    }

    /// Two text_generation steps in a row: the second would overwrite the
    /// first's answers. A validation error naming both, until the second
    /// writes elsewhere (or says it replaces them on purpose).
    @Test func anOutputThatWouldOverwriteAnEarlierStepsColumnIsRefused() throws {
        func validate(_ second: String) throws -> (status: Int32, output: String) {
            try self.validate("""
                name: p
                llms:
                  teacher: {base_url: "http://127.0.0.1:9/v1", model: m}
                steps:
                  - {name: load, uses: load_inline, with: {rows: [{instruction: a}]}}
                  - {name: keep, uses: keep_columns, input: load, with: {columns: [instruction]}}
                  - {name: first, uses: text_generation, llm: teacher, input: keep}
                  - {name: second, uses: text_generation, llm: teacher, input: first\(second)}
                  - {name: save, uses: write_jsonl, input: second, with: {path: out.jsonl}}
                """, "pluginkit-collision")
        }
        let clash = try validate("")
        #expect(clash.status == 2, "\(clash.output)")
        #expect(clash.output.contains(#"p.yaml:8:"#), "\(clash.output)")
        #expect(clash.output.contains(#"step "second" would overwrite column "generation", which "first" produces; give it another name with `output_column:`"#),
                "\(clash.output)")
        #expect(clash.output.contains(#"step "second" would overwrite column "model_name", which "first" produces; give it another name with `model_name_column:`"#),
                "\(clash.output)")
        let renamed = try validate(", with: {output_column: critique, model_name_column: critic, finish_reason_column: critique_end, reasoning_column: critique_reasoning}")
        #expect(renamed.status == 0, "\(renamed.output)")
        let onPurpose = try validate(", with: {output_column: generation, model_name_column: model_name, finish_reason_column: finish_reason, reasoning_column: reasoning}")
        #expect(onPurpose.status == 0, "\(onPurpose.output)")
    }

    /// A reasoning model's trace (reasoning_content, or newer vLLM's
    /// reasoning) reaches the reasoning column through the ABI 1.4 answers;
    /// a model that sends none leaves it null ("" in a list).
    @Test func reasoningTracesAreKeptInAColumn() throws {
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("pluginkit-reasoning")
        for (model, with) in [("test-reasoner", "{}"), ("test-reasoner-v2", "{reasoning_column: thoughts}"),
                              ("test-reasoner", "{num_generations: 2, seed: 3}"), ("test-chat", "{}")] {
            let file = try textGeneration(directory, server: server, rows: #"{instruction: "Why is the sky blue?"}"#,
                                          with: with, model: model)
            let runDirectory = directory.appendingPathComponent("\(model)-\(with.count)").path
            let result = try run(file, runDirectory)
            #expect(result.status == 0, "\(model) \(with): \(result.output)")
            let row = try #require(try lines(runDirectory + "/out.jsonl").first)
            let expected = "the user asks \"Why is the sky blue?\""
            switch (model, with) {
            case ("test-chat", _):
                #expect(row["reasoning"] == .null, "\(row)")
            case (_, "{reasoning_column: thoughts}"):
                #expect(row["thoughts"]?.stringValue?.contains(expected) == true, "\(row)")
                #expect(row["reasoning"] == nil, "\(row)")
            case (_, "{}"):
                #expect(row["reasoning"]?.stringValue?.hasPrefix("Reasoning ") == true, "\(row)")
                #expect(row["reasoning"]?.stringValue?.contains(expected) == true, "\(row)")
            default:
                let traces = row["reasoning"]?.arrayValue?.compactMap(\.stringValue) ?? []
                #expect(traces.count == 2 && Set(traces).count == 2 && traces.allSatisfy { $0.contains(expected) }, "\(row)")
            }
        }
    }

    /// The finish reason is a column; with `truncated: error` an answer cut
    /// off by max_tokens makes its row an error row instead.
    @Test func truncatedAnswersAreMarkedOrSetAside() throws {
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("pluginkit-truncated")
        for (name, with, status) in [("keep", "{max_tokens: 2}", Int32(0)), ("error", "{max_tokens: 2, truncated: error}", 3),
                                     ("whole", "{max_tokens: 400}", 0)] {
            let file = try textGeneration(directory, server: server, rows: #"{instruction: "Explain tides in detail."}"#, with: with)
            let runDirectory = directory.appendingPathComponent(name).path
            let result = try run(file, runDirectory)
            #expect(result.status == status, "\(name): \(result.output)")
            let rows = try lines(runDirectory + "/out.jsonl")
            switch name {
            case "keep":
                #expect(rows.first?["finish_reason"] == .string("length"), "\(rows)")
            case "error":
                #expect(rows.isEmpty)
                let errors = try lines(runDirectory + "/errors.jsonl")
                #expect(errors.first?["error"]?.stringValue?.contains("cut off by max_tokens") == true, "\(errors)")
            default:
                #expect(rows.first?["finish_reason"] == .string("stop"), "\(rows)")
            }
        }
    }

    /// A null in a column the prompt reads and a failed request make error
    /// rows: their answer is null and _error says why; a column kept on a
    /// row error (model_name) keeps the model of the requests that came back.
    @Test func nullsAndFailedRequestsBecomeErrorRows() throws {
        // The first of two identical requests fails, the second is answered.
        let server = try LLMServiceTests.Server(["--error-rate", "1", "--error-status", "500", "--faults-first", "1"])
        let directory = try Fixtures.emptyDirectory("pluginkit-errors")
        let file = try textGeneration(directory, server: server,
                                      rows: #"{instruction: "Say hi.", keep: 1}, {instruction: null, keep: 2}"#,
                                      with: "{num_generations: 2}")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 3, "\(result.output)")
        #expect(try lines(runDirectory + "/out.jsonl").isEmpty)
        let errors = try lines(runDirectory + "/errors.jsonl").sorted { ($0["row"]?["keep"]?.int64Value ?? 0) < ($1["row"]?["keep"]?.int64Value ?? 0) }
        try #require(errors.count == 2, "\(errors)")
        #expect(errors[0]["error"]?.stringValue?.hasPrefix("text_generation: llm teacher: HTTP 500") == true, "\(errors[0])")
        #expect(errors[0]["row"]?["generation"] == .null)
        #expect(errors[0]["row"]?["model_name"]?.stringValue == "test-model")
        #expect(errors[1]["error"]?.stringValue == "text_generation: a column the template reads is null in this row")
        #expect(errors[1]["row"]?["generation"] == .null)
        #expect(errors[1]["row"]?["model_name"] == .null)
        #expect(errors.map { $0["row"]?["keep"]?.int64Value } == [1, 2])
    }
}
