import Foundation
import Testing

@testable import PipelineJSON

/// The template language (PipelineTemplate) where the pipeline uses it:
/// `pipeline validate` reports a template's errors inside its text, and
/// text_generation renders Jinja prompts over a row's columns, printing a
/// null never as "None" but as a row error.
@Suite("TemplateLanguage", .serialized)
struct TemplateLanguageTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func validate(_ yaml: String, _ name: String) throws -> (status: Int32, output: String) {
        try Fixtures.requireBuiltPipeline()
        let file = try Fixtures.emptyDirectory(name).appendingPathComponent("p.yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        return try Spawned(binary, ["validate", file]).wait()
    }

    private func pipeline(_ with: String) -> String {
        """
        name: p
        llms:
          teacher: {base_url: "http://127.0.0.1:9/v1", model: m}
        steps:
          - {name: load, uses: load_inline, with: {rows: [{question: a, tags: [x, y], score: 1}]}}
          - {name: keep, uses: keep_columns, input: load, with: {columns: [question, tags, score]}}
          - name: generate
            uses: text_generation
            llm: teacher
            input: keep
            with:
        \(with)
          - {name: save, uses: write_jsonl, input: generate, with: {path: out.jsonl}}
        """
    }

    /// Syntax errors point into the template: a plain scalar, a quoted
    /// one, and a literal block's line.
    @Test func syntaxErrorsArePositionedInsideTheTemplate() throws {
        let result = try validate(pipeline("""
                  template: Q {{ question | nosuch }}
                  system_prompt: "{% if score > 1 %}high"
            """).replacingOccurrences(of: "      template: Q", with: "      template: Q"), "template-syntax")
        #expect(result.status == 2, "\(result.output)")
        // Line 12: `      template: Q {{ question | nosuch }}`: the filter's name at column 33.
        #expect(result.output.contains("p.yaml:12:33: error: steps[2].with.template: no filter named 'nosuch'"), "\(result.output)")
        // Line 13: the unclosed if, at its {% (column 23, after the quote).
        #expect(result.output.contains("p.yaml:13:23: error: steps[2].with.system_prompt: '{% if %}' is not closed: expected '{% endif %}'"),
                "\(result.output)")

        let block = try validate(pipeline("""
                  template: |
                    {% for t in tags %}
                    - {{ t ~ }}
                    {% endfor %}
            """), "template-block")
        #expect(block.status == 2, "\(block.output)")
        // Template line 2, `- {{ t ~ }}`: the }} where an operand was expected.
        #expect(block.output.contains("p.yaml:14:18: error: steps[2].with.template: expected an expression, found '}}'"), "\(block.output)")
    }

    /// A Jinja template's names are checked against the columns like the
    /// legacy placeholders, at the name; a `{column}` left in a Jinja
    /// template (one that gained a `{{`) is reported as literal text.
    @Test func unknownNamesAndLeftoverLegacyPlaceholders() throws {
        let result = try validate(pipeline("""
                  template: "{% for t in tags %}{{ t }}{% endfor %} {{ questoin }} {{ loop_var | default('') }}"
                  system_prompt: "Score {score}: answer in {{ '{' }}plain{{ '}' }} words"
            """), "template-names")
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains(#"p.yaml:12:60: error: steps[2].with.template: "questoin" names a column no earlier step produces (available: question, score, tags)"#),
                "\(result.output)")
        #expect(result.output.contains("did you mean"), "\(result.output)")
        #expect(result.output.contains(#""loop_var" names a column"#), "\(result.output)")
        #expect(!result.output.contains(#""t" names"#), "\(result.output)")
        #expect(result.output.contains("p.yaml:13:29: error: steps[2].with.system_prompt: {score} is literal text in a Jinja template"),
                "\(result.output)")

        let good = try validate(pipeline("""
                  template: "{% for t in tags %}{{ loop.index }}. {{ t | upper }}\\n{% endfor %}{{ question }} ({{ score * 2 }})"
                  system_prompt: "Answer {{ '{' }}briefly{{ '}' }}."
            """), "template-good")
        #expect(good.status == 0, "\(good.output)")
    }

    /// text_generation with a Jinja prompt over a list column and a number:
    /// what reaches the server is the rendered text; a null the template
    /// prints makes the row an error row, never "None" in a prompt.
    @Test func jinjaPromptsRenderRowsAndRefuseToPrintNull() throws {
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("template-run")
        let file = directory.appendingPathComponent("gen.yaml").path
        try """
            name: gen
            llms:
              teacher: {base_url: "\(server.url)/v1", model: test-model, retries: 0}
            steps:
              - name: load
                uses: load_inline
                with:
                  rows:
                    - {id: 1, tags: [red, green], score: 4, note: "be brief"}
                    - {id: 2, tags: [], score: 2.5, note: ok}
                    - {id: 3, tags: [blue], score: 1, note: null}
              - name: generate
                uses: text_generation
                llm: teacher
                input: load
                with:
                  template: "{% for t in tags %}{{ loop.index }}={{ t }};{% else %}no tags;{% endfor %} x{{ score * 2 }}{% if note is not none %} ({{ note }}){% endif %}{% if id == 3 %} {{ note }}{% endif %}"
              - {name: save, uses: write_jsonl, input: generate, with: {path: out.jsonl}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--no-llm-cache"]).wait()
        #expect(result.status == 3, "\(result.output)")
        let log = try String(contentsOfFile: runDirectory + "/llm-io.jsonl", encoding: .utf8)
        // score is float64 (4, 2.5, 1): 4 * 2 prints as Python prints 8.0.
        #expect(log.contains("1=red;2=green; x8.0 (be brief)"), "\(log)")
        #expect(log.contains("no tags; x5.0 (ok)"), "\(log)")
        #expect(!log.contains("None"), "\(log)")
        let errors = try String(contentsOfFile: runDirectory + "/errors.jsonl", encoding: .utf8)
            .split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        try #require(errors.count == 1, "\(errors)")
        #expect(errors[0]["row"]?["id"]?.int64Value == 3)
        let message = errors[0]["error"]?.stringValue ?? ""
        #expect(message.contains("null"), "\(message)")
    }
}
