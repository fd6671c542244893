import Foundation
import Testing

@testable import PipelineJSON

/// `pipeline plugins try`: one step on JSON lines through the run's step
/// host (validated parameters, row ids, failed rows set aside), the LLM
/// steps against the in-project server.
@Suite("plugins try", .serialized)
struct PluginsTryTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private struct Result {
        var status: Int32
        var stdout: [JSONValue]
        var stderr: String
    }

    /// Runs `plugins try` on `rows` (JSON lines); stdout parsed as JSON lines.
    private func run(_ arguments: [String], rows: String) throws -> Result {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("try")
        let input = directory.appendingPathComponent("in.jsonl").path
        let output = directory.appendingPathComponent("out.jsonl").path
        let errors = directory.appendingPathComponent("err.txt").path
        try rows.write(toFile: input, atomically: true, encoding: .utf8)
        let quoted = ([binary, "plugins", "try"] + arguments + ["--input", input])
            .map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let status = try Fixtures.run("/bin/sh", ["-c", "\(quoted) >'\(output)' 2>'\(errors)'"]).status
        let text = try String(contentsOfFile: output, encoding: .utf8)
        return Result(status: status,
                      stdout: try text.split(separator: "\n").map { try JSONValue(parsing: String($0)) },
                      stderr: try String(contentsOfFile: errors, encoding: .utf8))
    }

    /// evol_instruct under try: its parameters validated and defaulted, the
    /// LLM given with --llm, every row numbered (the method of a round
    /// depends on the row id, so this failed before the step host).
    @Test func anLLMStepRunsWithRowIdsAndItsDefaults() throws {
        let server = try LLMServiceTests.Server([])
        let result = try run(["evol_instruct", "--with", "rounds=2", "--llm", "base_url=\(server.url)/v1",
                              "--llm", "model=test-model"],
                             rows: "{\"instruction\": \"Explain tides.\"}\n{\"instruction\": \"Name a prime.\"}\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.count == 2)
        #expect(result.stdout.map { $0["_row_id"]?.int64Value } == [0, 1])
        for row in result.stdout {
            #expect(row["evolved_instructions"]?.arrayValue?.count == 3, "\(row)")
            #expect(row["evol_instruct_methods"]?.arrayValue?.count == 2, "\(row)")
        }
        #expect(result.stderr.contains("2 rows out, 0 failed"), "\(result.stderr)")
    }

    /// The LLM of a pipeline file (--llm-from FILE or FILE#NAME), its keys
    /// replaced by --llm ones; an ambiguous or unknown entry is refused.
    @Test func anLLMStepTakesItsLLMFromAPipelineFile() throws {
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("try-llm-from")
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: p
            llms:
              teacher: {base_url: "\(server.url)/v1", model: test-reasoner}
              judge: {base_url: "http://127.0.0.1:9/v1", model: nobody}
            steps:
              - {name: load, uses: load_inline, with: {rows: [{instruction: x}]}}
              - {name: gen, uses: text_generation, llm: teacher, input: load}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let rows = "{\"instruction\": \"Why is the sea salty?\"}\n"
        let named = try run(["text_generation", "--llm-from", file + "#teacher"], rows: rows)
        #expect(named.status == 0, "\(named.stderr)")
        #expect(named.stdout.first?["model_name"] == .string("test-reasoner"), "\(named.stdout)")
        #expect(named.stdout.first?["reasoning"]?.stringValue?.contains("Why is the sea salty?") == true, "\(named.stdout)")
        let replaced = try run(["text_generation", "--llm-from", file + "#teacher", "--llm", "model=test-model"], rows: rows)
        #expect(replaced.stdout.first?["model_name"] == .string("test-model"), "\(replaced.stdout)")
        let ambiguous = try run(["text_generation", "--llm-from", file], rows: rows)
        #expect(ambiguous.status == 2)
        #expect(ambiguous.stderr.contains("several llms: entries (judge, teacher); write"), "\(ambiguous.stderr)")
        let unknown = try run(["text_generation", "--llm-from", file + "#teachr"], rows: rows)
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains(#"has no llms: entry "teachr" (it has judge, teacher)"#), "\(unknown.stderr)")
    }

    @Test func parametersAndLLMSettingsAreCheckedAgainstTheirSchemas() throws {
        let negative = try run(["evol_instruct", "--with", "rounds=-1", "--llm", "base_url=http://127.0.0.1:9/v1",
                                "--llm", "model=m"], rows: "{\"instruction\": \"x\"}\n")
        #expect(negative.status == 2)
        #expect(negative.stderr.contains("error: --with rounds: must be ≥"), "\(negative.stderr)")
        let unknown = try run(["text_filter", "--with", "min_chras=3"], rows: "{\"text\": \"x\"}\n")
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains(#"unknown parameter "min_chras""#) && unknown.stderr.contains("min_chars"),
                "\(unknown.stderr)")
        let noLLM = try run(["evol_instruct"], rows: "{\"instruction\": \"x\"}\n")
        #expect(noLLM.status == 2)
        #expect(noLLM.stderr.contains("uses an LLM: give its settings with --llm"), "\(noLLM.stderr)")
        let typo = try run(["evol_instruct", "--llm", "base_url=http://127.0.0.1:9/v1", "--llm", "modle=m"],
                           rows: "{\"instruction\": \"x\"}\n")
        #expect(typo.status == 2)
        #expect(typo.stderr.contains(#"--llm: missing required key "model""#), "\(typo.stderr)")
        #expect(noLLM.stdout.isEmpty && typo.stdout.isEmpty)
    }

    /// A failed row goes to stderr as errors.jsonl has it; the good rows to
    /// stdout; exit 3, as a run with row errors.
    @Test func failedRowsAreSetAsideInTheErrorsFormat() throws {
        let server = try LLMServiceTests.Server([])
        let result = try run(["text_generation", "--llm", "base_url=\(server.url)/v1", "--llm", "model=test-model"],
                             rows: "{\"instruction\": \"Say hi.\", \"step\": \"mine\"}\n{\"instruction\": null, \"step\": \"mine\"}\n")
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stdout.count == 1)
        #expect(result.stdout.first?["_row_id"]?.int64Value == 0)
        #expect(result.stdout.first?["_error"] == nil)
        #expect(result.stdout.first?["generation"]?.stringValue?.isEmpty == false)
        let record = try JSONValue(parsing: String(result.stderr.split(separator: "\n").first ?? ""))
        #expect(record["step"] == .string("text_generation"))
        #expect(record["row_id"]?.int64Value == 1)
        #expect(record["row"]?["step"] == .string("mine"))
        #expect(record["error"]?.stringValue?.contains("null") == true, "\(record)")
        #expect(result.stderr.contains("1 rows out, 1 failed"))
    }

    /// Row ids as given (exact above 2^53 on the way out); an integer the
    /// reader would round is refused, naming it.
    @Test func rowIdsAreKeptAndBigIntegersAreNeverRounded() throws {
        let given = try run(["text_filter"], rows: "{\"text\": \"a\", \"_row_id\": 41}\n{\"text\": \"b\"}\n")
        #expect(given.status == 0, "\(given.stderr)")
        #expect(given.stdout.map { $0["_row_id"]?.int64Value } == [41, 1])
        let big = try run(["text_filter"], rows: "{\"text\": \"a\", \"n\": 9007199254740993}\n")
        #expect(big.status == 2)
        #expect(big.stderr.contains(":1: the integer 9007199254740993"), "\(big.stderr)")
        #expect(big.stdout.isEmpty)
    }
}

/// JSONValueDecoder: what PluginKit decodes plugin parameters with.
@Suite("JSON value decoder")
struct JSONValueDecoderTests {
    struct Parameters: Decodable, Equatable {
        var path: String
        var limit: Int?
        var ratio: Double
        var tags: [String]
        var nested: Nested?
        struct Nested: Decodable, Equatable { var on: Bool }
    }

    @Test func decodesWhatTheHostPasses() throws {
        let decoded = try JSONValueDecoder().decode(
            Parameters.self, from: #"{"path":"a.jsonl","limit":3,"ratio":0.5,"tags":["x","y"],"nested":{"on":true}}"#)
        #expect(decoded == Parameters(path: "a.jsonl", limit: 3, ratio: 0.5, tags: ["x", "y"], nested: .init(on: true)))
        let sparse = try JSONValueDecoder().decode(Parameters.self, from: #"{"path":"p","ratio":1,"tags":[]}"#)
        #expect(sparse.limit == nil && sparse.nested == nil && sparse.ratio == 1)
    }

    @Test func errorsCarryTheirPath() {
        func error(_ text: String) -> DecodingError? {
            do { _ = try JSONValueDecoder().decode(Parameters.self, from: text) } catch { return error as? DecodingError }
            return nil
        }
        guard case .keyNotFound(let key, _)? = error(#"{"ratio":1,"tags":[]}"#) else { Issue.record("no keyNotFound"); return }
        #expect(key.stringValue == "path")
        // A fraction is never truncated into an integer.
        guard case .typeMismatch(_, let context)? = error(#"{"path":"p","limit":2.5,"ratio":1,"tags":[]}"#) else {
            Issue.record("no typeMismatch"); return
        }
        #expect(context.codingPath.map(\.stringValue) == ["limit"])
        guard case .typeMismatch(_, let inList)? = error(#"{"path":"p","ratio":1,"tags":["a",2]}"#) else {
            Issue.record("no typeMismatch in the list"); return
        }
        #expect(inList.codingPath.map(\.stringValue) == ["tags", "1"])
        guard case .valueNotFound? = error(#"{"path":null,"ratio":1,"tags":[]}"#) else { Issue.record("no valueNotFound"); return }
    }
}
