import Foundation
import Testing

@testable import PipelineJSON
@testable import PipelineJSONSchema

/// structured_generation against a real llama.cpp server: llama-cpp-python
/// (`python -m llama_cpp.server`) serving a tiny random GGUF model that
/// Tests/tools/make-tiny-gguf.py writes on the spot. The model is noise; the
/// server's grammar (built from the schema in response_format) is what
/// makes its answers schema-shaped, and the step still checks each one.
///
/// Runs when PIPELINE_LLAMA_PYTHON names a Python with llama-cpp-python and
/// gguf installed: `make test-llama` builds that venv (a clean install
/// compiles llama.cpp: about 8 minutes on 2 cores) and runs this suite.
@Suite("structured_generation against llama-cpp-python", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["PIPELINE_LLAMA_PYTHON"] != nil,
                "set PIPELINE_LLAMA_PYTHON (make test-llama)"))
struct LlamaStructuredTests {
    /// Only what llama-cpp-python's grammar enforces: enums, booleans,
    /// integers, lists of enums, a nested object. (A free string of this
    /// random model may hold a raw control character, which is not JSON;
    /// minimum and maximum are not enforced by that grammar.)
    static let schema = """
        {"type": "object", "required": ["verdict", "ok", "score", "tags", "detail"],
         "properties": {"verdict": {"enum": ["good", "bad", "unsure"]},
                        "ok": {"type": "boolean"},
                        "score": {"type": "integer"},
                        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3},
                        "detail": {"type": "object", "required": ["level", "flag"],
                                   "properties": {"level": {"enum": ["low", "high"]}, "flag": {"type": "boolean"}}}}}
        """

    final class LlamaServer {
        let process: Spawned
        let url: String

        init(python: String, model: String) throws {
            var environment = ProcessInfo.processInfo.environment
            // llama_cpp.server takes HOST and PORT over its flags.
            environment["HOST"] = nil
            environment["PORT"] = nil
            process = try Spawned(python, ["-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", "0",
                                           "--n_ctx", "2048", "--interrupt_requests", "false"], environment: environment)
            var found: String?
            for _ in 0..<1200 where process.isRunning {
                if let range = process.output.range(of: "running on http://") {
                    found = String(process.output[process.output.index(range.upperBound, offsetBy: -7)...].prefix { !$0.isWhitespace })
                    break
                }
                usleep(50_000)
            }
            guard let found else {
                process.kill()
                _ = process.wait()
                throw FixtureError(message: "llama_cpp.server did not start: \(process.output.suffix(2000))")
            }
            url = found
        }

        deinit {
            process.kill(SIGTERM)
            _ = process.wait()
        }
    }

    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func lines(_ path: String) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    private func pipeline(_ directory: URL, url: String, rows: Int, dialect: String) throws -> String {
        let file = directory.appendingPathComponent("p.yaml").path
        let instructions = (0..<rows).map { "{instruction: \"Rate item number \($0).\"}" }.joined(separator: ", ")
        try """
            name: llama
            llms:
              local: {base_url: "\(url)/v1", model: tiny, max_concurrency: 1, timeout_seconds: 120, retries: 0}
            steps:
              - name: load
                uses: load_inline
                with: {rows: [\(instructions)]}
              - name: rate
                uses: structured_generation
                llm: local
                input: load
                with:
                  dialect: \(dialect)
                  seed: 11
                  max_tokens: 160
                  json_schema: \(Self.schema)
              - name: save
                uses: write_jsonl
                input: rate
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func everyRowConformsAndTheOpenAIDialectIsRefusedByThisServer() throws {
        try Fixtures.requireBuiltPipeline()
        let python = try #require(ProcessInfo.processInfo.environment["PIPELINE_LLAMA_PYTHON"])
        let directory = try Fixtures.emptyDirectory("llama-structured")
        let model = directory.appendingPathComponent("tiny.gguf").path
        let made = try Spawned(python, [Fixtures.packageRoot.appendingPathComponent("Tests/tools/make-tiny-gguf.py").path, model]).wait()
        try #require(made.status == 0, "\(made.output)")
        let server = try LlamaServer(python: python, model: model)

        let rows = 8
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Spawned(binary, ["run", try pipeline(directory, url: server.url, rows: rows, dialect: "json_object_schema"),
                                          "--run-dir", runDirectory, "--log-format", "json", "--no-llm-cache"]).wait()
        #expect(result.status == 0, "\(result.output)")
        #expect(try lines(runDirectory + "/errors.jsonl").isEmpty)
        let output = try lines(runDirectory + "/out.jsonl")
        #expect(output.count == rows)
        let schema = try JSONSchema(try JSONValue(parsing: Self.schema))
        for row in output {
            // The raw answer conforms, and the typed columns hold its values.
            let raw = try #require(row["generation"]?.stringValue)
            guard case .success(let answer) = JSONAnswer.value(in: raw) else { Issue.record("not JSON: \(raw)"); continue }
            #expect(schema.violations(of: answer) == [], "\(raw)")
            var columns: [String: JSONValue] = [:]
            for name in ["verdict", "ok", "score", "tags", "detail"] { columns[name] = row[name] }
            #expect(schema.violations(of: .object(columns)) == [], "\(row.serialized)")
            #expect(row["score"] == answer["score"] && row["detail"] == answer["detail"])
        }
        // Sent in llama-cpp-python's dialect.
        for entry in try lines(runDirectory + "/llm-io.jsonl") {
            #expect(entry["request"]?["response_format"]?["type"]?.stringValue == "json_object")
            #expect(entry["request"]?["response_format"]?["schema"] == (try JSONValue(parsing: Self.schema)))
        }

        // The OpenAI form is an HTTP 500 from this server: each row fails with the server's reason.
        let openai = directory.appendingPathComponent("openai")
        try FileManager.default.createDirectory(at: openai, withIntermediateDirectories: true)
        let refused = try Spawned(binary, ["run", try pipeline(openai, url: server.url, rows: 1, dialect: "openai"),
                                           "--run-dir", openai.appendingPathComponent("run").path, "--log-format", "json",
                                           "--no-llm-cache"]).wait()
        #expect(refused.status == 3, "\(refused.output)")
        let errors = try lines(openai.appendingPathComponent("run/errors.jsonl").path)
        #expect(errors.count == 1)
        #expect(errors.first?["error"]?.stringValue?.contains("500") == true, "\(errors)")
    }
}
