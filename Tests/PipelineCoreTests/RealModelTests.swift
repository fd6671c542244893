import Foundation
import Testing

@testable import PipelineJSON

/// Real-model tests (`make test-real`): a tiny random GGUF model (2 layers,
/// 64 wide, a byte-level BPE of 2048 tokens, ChatML; Tests/tools/make-tiny-gguf.py
/// --tokenizer bpe) served by llama-cpp-python through `serve:`, the host
/// starting and stopping the servers. textgen, embeddings and DEITA run
/// against it. The model's text is noise: what is checked is that every row
/// is answered or is a row error that says why, and that no server is left.
///
/// Runs when PIPELINE_LLAMA_PYTHON names a Python with llama-cpp-python[server],
/// gguf and tokenizers (the venv `make llama-venv` builds: about 10 minutes
/// the first time, llama.cpp is compiled).
@Suite("real model: tiny random GGUF served by llama-cpp-python", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["PIPELINE_LLAMA_PYTHON"] != nil,
                "set PIPELINE_LLAMA_PYTHON (make test-real)"))
struct RealModelTests {
    static let width = 64

    private var binary: String { Fixtures.pipelineBinary }

    /// A fresh directory with the model in it.
    private func setUp(_ label: String) throws -> (directory: URL, model: String, python: String) {
        try Fixtures.requireBuiltPipeline()
        let python = try #require(ProcessInfo.processInfo.environment["PIPELINE_LLAMA_PYTHON"])
        let directory = try Fixtures.emptyDirectory(label)
        let model = directory.appendingPathComponent("tiny-bpe.gguf").path
        let made = try Spawned(python, [Fixtures.packageRoot.appendingPathComponent("Tests/tools/make-tiny-gguf.py").path, model,
                                        "--tokenizer", "bpe"]).wait()
        try #require(made.status == 0, "\(made.output)")
        return (directory, model, python)
    }

    /// The `llms:` entries: a chat model and an embedding model, each served.
    private func llms(python: String, model: String) -> String {
        """
        llms:
          tiny:
            model: tiny
            max_concurrency: 1          # llama-cpp-python answers one request at a time
            timeout_seconds: 300
            params: {max_tokens: 24, temperature: 0.8}
            serve: {preset: llama-cpp-python, executable: "\(python)", model: "\(model)", args: ["--n_ctx", "2048"]}
          tiny_embed:
            model: tiny
            max_concurrency: 1
            timeout_seconds: 300
            serve: {preset: llama-cpp-python, executable: "\(python)", model: "\(model)", args: ["--embedding", "true"]}
        """
    }

    private func rows(_ count: Int) -> String {
        (0..<count).map { "{instruction: \"Write about topic number \($0).\"}" }.joined(separator: ", ")
    }

    private func lines(_ path: String) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    /// Processes whose command line mentions `text` (the model's unique path).
    private func processes(mentioning text: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard pid != getpid(), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            if let close = stat.lastIndex(of: ")"), stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z") {
                return false
            }
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text)
        }
    }

    private func waitNone(mentioning text: String) -> Bool {
        for _ in 0..<600 {
            if processes(mentioning: text).isEmpty { return true }
            usleep(100_000)
        }
        return false
    }

    @Test func textgenThreeGenerationsEmbeddingsAndNoServerLeft() throws {
        let (directory, model, python) = try setUp("real-textgen")
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: real-textgen
            \(llms(python: python, model: model))
            steps:
              - name: load
                uses: load_inline
                with: {batch_size: 10, rows: [\(rows(40))]}
              - name: generate
                uses: text_generation
                llm: tiny
                input: load
                with: {num_generations: 3, seed: 5}
              - name: embed
                uses: embeddings
                llm: tiny_embed
                input: generate
                with: {column: instruction, dimensions: \(Self.width)}
              - name: save
                uses: write_jsonl
                input: embed
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run").path
        let result = try Spawned(binary, ["run", file, "--run-dir", run, "--log-format", "json", "--no-llm-cache"]).wait()
        // Every row answered, or a row error that says why.
        let output = try lines(run + "/out.jsonl")
        let errors = try lines(run + "/errors.jsonl")
        #expect(output.count + errors.count == 40, "\(result.output)")
        #expect(result.status == (errors.isEmpty ? 0 : 3), "\(result.output)")
        for error in errors { #expect(error["error"]?.stringValue?.isEmpty == false, "\(error.serialized)") }
        for row in output {
            let answers = try #require(row["generation"]?.arrayValue, "\(row.serialized)")
            #expect(answers.count == 3)
            #expect(row["embedding"]?.arrayValue?.count == Self.width, "\(row.serialized.prefix(300))")
        }
        // Three requests per row, none asking for n (llama.cpp ignores it).
        let chats = try lines(run + "/llm-io.jsonl").filter { $0["llm"]?.stringValue == "tiny" }
        #expect(chats.count == 120)
        #expect(chats.allSatisfy { $0["request"]?["n"] == nil })
        // Two servers (the embedding one has other settings), both gone.
        let summary = try JSONValue(parsing: String(contentsOfFile: run + "/summary.json", encoding: .utf8))
        let servers = try #require(summary["servers"]?.arrayValue)
        #expect(servers.count == 2)
        #expect(servers.allSatisfy { ($0["ready_seconds"]?.doubleValue ?? 0) > 0 })
        #expect(waitNone(mentioning: model), "\(processes(mentioning: model))")
    }

    @Test func deitaEndsWithRowErrorsThatSayWhyNotACrash() throws {
        let (directory, model, python) = try setUp("real-deita")
        let file = directory.appendingPathComponent("p.yaml").path
        // load_jsonl, as pipelines/deita.yaml (load_inline's columns do not
        // reach past expand_columns in validation).
        let seeds = directory.appendingPathComponent("seeds.jsonl").path
        try (0..<20).map { "{\"instruction\": \"Write about topic number \($0).\"}\n" }.joined()
            .write(toFile: seeds, atomically: true, encoding: .utf8)
        try """
            name: real-deita
            \(llms(python: python, model: model))
            steps:
              - name: load
                uses: load_jsonl
                with: {path: "\(seeds)"}
              - name: evolve_instructions
                uses: evol_instruct
                llm: tiny
                input: load
                with: {rounds: 2, generate_answers: true, temperature: 0.7, seed: 42}
              - name: score_complexity
                uses: complexity_scorer
                llm: tiny
                input: evolve_instructions
                with: {instructions: evolved_instructions, temperature: 0}
              - name: per_instruction
                uses: expand_columns
                input: score_complexity
                with:
                  columns: {evolved_instructions: evolved_instruction, answers: answer, complexity_scores: complexity_score}
              - name: evolve_responses
                uses: evol_quality
                llm: tiny
                input: per_instruction
                with: {instruction_column: evolved_instruction, response_column: answer, rounds: 2, temperature: 0.7, seed: 42}
              - name: score_quality
                uses: quality_scorer
                llm: tiny
                input: evolve_responses
                with: {instruction_column: evolved_instruction, responses: evolved_responses, temperature: 0}
              - name: candidates
                uses: expand_columns
                input: score_quality
                with:
                  columns: {evolved_responses: evolved_response, quality_scores: quality_score}
              - name: embed
                uses: embeddings
                llm: tiny_embed
                input: candidates
                with: {template: "{evolved_instruction}\\n\\n{evolved_response}", dimensions: \(Self.width)}
              - name: select
                uses: deita_filter
                input: embed
                with: {budget: 10, threshold: 0.1}
              - name: save
                uses: write_jsonl
                input: select
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run").path
        let result = try Spawned(binary, ["run", file, "--run-dir", run, "--log-format", "json", "--no-llm-cache"]).wait()
        // A random model's scores do not parse: row errors, exit 3, each
        // saying why; never a crash or a failed run.
        #expect(result.status == 3, "\(result.output)")
        let errors = try lines(run + "/errors.jsonl")
        #expect(!errors.isEmpty)
        for error in errors {
            // "complexity_scorer: no score for items 1, 2, 3 of 3 (answer: ...)"
            let why = error["error"]?.stringValue ?? ""
            #expect(why.contains("score") && error["step"]?.stringValue != nil, "\(error.serialized)")
        }
        #expect(waitNone(mentioning: model), "\(processes(mentioning: model))")
    }

    @Test func killMinus9OfTheHostLeavesNoLlamaServer() throws {
        let (directory, model, python) = try setUp("real-kill9")
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: real-kill
            \(llms(python: python, model: model))
            steps:
              - name: load
                uses: load_inline
                with: {batch_size: 1, rows: [\(rows(200))]}
              - name: generate
                uses: text_generation
                llm: tiny
                input: load
              - name: save
                uses: write_jsonl
                input: generate
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run").path
        let host = try Spawned(binary, ["run", file, "--run-dir", run, "--log-format", "json", "--no-llm-cache"])
        var answered = false
        for _ in 0..<3000 where host.isRunning {
            if ((try? lines(run + "/llm-io.jsonl")) ?? []).count >= 2 { answered = true; break }
            usleep(100_000)
        }
        #expect(answered, "\(host.output)")
        #expect(!processes(mentioning: model).isEmpty, "the servers run")
        host.kill(SIGKILL)
        _ = host.wait()
        #expect(waitNone(mentioning: model), "\(processes(mentioning: model))")
    }
}
