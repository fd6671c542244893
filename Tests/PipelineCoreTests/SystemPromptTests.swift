import Foundation
import Testing

@testable import PipelineJSON

/// `system_prompt` is a `{column}` template on every LLM step: rendered per
/// row (what the server received is in llm-io.jsonl), a null in a column
/// it reads makes an error row, and `validate` refuses a column that no
/// earlier step produces.
@Suite("System prompts")
struct SystemPromptTests {
    private func lines(_ url: URL) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    private func pipeline(_ server: LLMServiceTests.Server, step: String) -> String {
        """
        name: system
        llms:
          teacher: {base_url: "\(server.url)/v1", model: test-model, retries: 0}
        steps:
          - name: load
            uses: load_inline
            with:
              rows:
                - {instruction: "Explain rain.", product: Umbrella, answers: ["It falls.", "Clouds drop water."]}
                - {instruction: "Explain snow.", product: null, answers: ["Cold rain."]}
          - {name: llm, input: load, llm: teacher, \(step)}
          - {name: save, uses: write_jsonl, input: llm, with: {path: out.jsonl}}
        """
    }

    @Test(arguments: [
        "uses: evol_instruct, with: {rounds: 1, system_prompt: \"You write about the {product}.\"}",
        "uses: evol_quality, with: {rounds: 1, response_column: instruction, system_prompt: \"You write about the {product}.\"}",
        "uses: complexity_scorer, with: {instructions: answers, system_prompt: \"You write about the {product}.\"}",
        "uses: quality_scorer, with: {responses: answers, system_prompt: \"You write about the {product}.\"}",
    ])
    func theSystemPromptOfADeitaStepIsRenderedPerRow(step: String) throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("system-prompt")
        let file = directory.appendingPathComponent("p.yaml")
        try pipeline(server, step: step).write(to: file, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run")
        let result = try Spawned(Fixtures.pipelineBinary, ["run", file.path, "--run-dir", run.path, "--no-llm-cache"]).wait()
        #expect(result.status == 3, "\(result.output)")
        let systems = try lines(run.appendingPathComponent("llm-io.jsonl")).compactMap { line in
            line["request"]?["messages"]?.arrayValue?.first { $0["role"]?.stringValue == "system" }?["content"]?.stringValue
        }
        #expect(!systems.isEmpty && systems.allSatisfy { $0 == "You write about the Umbrella." }, "\(systems)")
        let errors = try lines(run.appendingPathComponent("errors.jsonl"))
        #expect(errors.count == 1 && errors.first?["error"]?.stringValue?.contains("a column the system prompt reads is null") == true,
                "\(errors)")
    }

    @Test func aSystemPromptNamingAColumnNoStepProducesFailsValidation() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("system-prompt-validate")
        let file = directory.appendingPathComponent("p.yaml")
        try pipeline(server, step: "uses: evol_instruct, with: {rounds: 1, system_prompt: \"About the {prodcut}.\"}")
            .write(to: file, atomically: true, encoding: .utf8)
        let result = try Spawned(Fixtures.pipelineBinary, ["validate", file.path]).wait()
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("p.yaml:11:"), "\(result.output)")
        #expect(result.output.contains("prodcut"), "\(result.output)")
    }
}
