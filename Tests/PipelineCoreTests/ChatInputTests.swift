import Foundation
import Testing

@testable import PipelineJSON

/// text_generation with `messages_column`: an existing conversation is
/// continued (its last assistant turn generated again), through the built
/// binary against llm-test-server; the teacher I/O log shows what was sent.
@Suite("Chat input")
struct ChatInputTests {
    private func run(_ directory: URL, rows: String, with: String) throws -> (status: Int32, output: String, run: URL) {
        let server = try LLMServiceTests.Server([])
        let file = directory.appendingPathComponent("p.yaml")
        try """
            name: chat
            llms:
              teacher: {base_url: "\(server.url)/v1", model: test-model, retries: 0}
            steps:
              - {name: load, uses: load_inline, with: {rows: [\(rows)]}}
              - {name: regen, uses: text_generation, llm: teacher, input: load, with: \(with)}
              - {name: save, uses: write_jsonl, input: regen, with: {path: out.jsonl}}
            """.write(to: file, atomically: true, encoding: .utf8)
        let runDirectory = directory.appendingPathComponent("run")
        let result = try Spawned(Fixtures.pipelineBinary, ["run", file.path, "--run-dir", runDirectory.path,
                                                           "--no-llm-cache", "--log-format", "json"]).wait()
        return (result.status, result.output, runDirectory)
    }

    private func lines(_ url: URL) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    @Test func aConversationIsContinuedWithoutItsLastAssistantTurn() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("chat-input")
        let rows = """
            {product: Lamp, messages: [{role: user, content: "My lamp flickers."}, {role: assistant, content: "old answer"}]}, \
            {product: Kettle, messages: [{role: system, content: "Be brief."}, {role: user, content: "It leaks."}]}
            """
        let result = try run(directory, rows: rows,
                             with: #"{messages_column: messages, system_prompt: "You support the {product}."}"#)
        #expect(result.status == 0, "\(result.output)")
        let out = try lines(result.run.appendingPathComponent("out.jsonl"))
        #expect(out.count == 2)
        #expect(out.allSatisfy { ($0["generation"]?.stringValue?.isEmpty ?? true) == false && $0["generation"] != .string("old answer") }, "\(out)")
        let sent = try lines(result.run.appendingPathComponent("llm-io.jsonl")).compactMap { $0["request"]?["messages"] }
        #expect(sent.count == 2)
        let conversations = sent.map { $0.arrayValue?.map { "\($0["role"]?.stringValue ?? ""): \($0["content"]?.stringValue ?? "")" } ?? [] }
        #expect(conversations.contains(["system: You support the Lamp.", "user: My lamp flickers."]), "\(conversations)")
        // The conversation's own system message wins over system_prompt.
        #expect(conversations.contains(["system: Be brief.", "user: It leaks."]), "\(conversations)")
    }

    @Test func aBrokenConversationIsARowErrorThatSaysWhy() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("chat-input-bad")
        let rows = """
            {id: 1, messages: [{role: user, content: "Hi."}]}, \
            {id: 2, messages: [{role: wizard, content: "Abracadabra."}]}, \
            {id: 3, messages: [{role: assistant, content: "Only me."}]}, \
            {id: 4, messages: [{role: user, content: null}]}
            """
        let result = try run(directory, rows: rows, with: "{messages_column: messages}")
        #expect(result.status == 3, "\(result.output)")
        #expect(try lines(result.run.appendingPathComponent("out.jsonl")).compactMap { $0["id"]?.int64Value } == [1])
        let errors = try lines(result.run.appendingPathComponent("errors.jsonl"))
        let byID = Dictionary(uniqueKeysWithValues: errors.compactMap { error in
            error["row"]?["id"]?.int64Value.map { ($0, error["error"]?.stringValue ?? "") }
        })
        #expect(byID[2]?.contains("messages[0] has no role of assistant, developer, system, tool, user") == true, "\(errors)")
        #expect(byID[3]?.contains("holds no message to answer") == true, "\(errors)")
        #expect(byID[4]?.contains("messages[0] (user) has no text content") == true, "\(errors)")
    }

    /// A member some objects lack is absent from the others too, as the
    /// input had it: a Jinja prompt's `default` applies, no "None" appears.
    @Test func aMemberAnObjectLackedIsAbsentInAPrompt() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("chat-input-absent")
        let rows = #"{id: 1, messages: [{role: user, content: "Hi.", name: bob}]}, {id: 2, messages: [{role: user, content: "Yo."}]}"#
        let result = try run(directory, rows: rows,
                             with: #"{template: "{% for m in messages %}{{ m.name | default('anon') }} says {{ m.content }}{% endfor %}"}"#)
        #expect(result.status == 0, "\(result.output)")
        let prompts = try lines(result.run.appendingPathComponent("llm-io.jsonl")).compactMap {
            $0["request"]?["messages"]?.arrayValue?.last?["content"]?.stringValue
        }
        #expect(Set(prompts) == ["bob says Hi.", "anon says Yo."], "\(prompts)")
    }

    @Test func aMissingConversationColumnIsAValidationOrStepError() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("chat-input-missing")
        let result = try run(directory, rows: "{q: x}", with: "{messages_column: messages}")
        #expect(result.status != 0 && result.status != 3, "\(result.output)")
        #expect(result.output.contains("messages"), "\(result.output)")
    }
}
