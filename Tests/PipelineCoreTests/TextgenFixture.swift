import Foundation

extension Fixtures {
    /// `rows.jsonl` in `directory`: rows `{"text": "question N"}`.
    static func writeQuestions(_ count: Int, in directory: URL) throws {
        var text = ""
        for n in 0..<count { text += #"{"text": "question \#(n)"}"# + "\n" }
        try text.write(to: directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
    }

    /// `textgen.yaml` in `directory` over `rows` questions: load_jsonl →
    /// text_generation (template `{text}`) → write_jsonl (out.jsonl), against
    /// `server`; returns the file's path.
    static func textgenPipeline(_ directory: URL, rows: Int, batchSize: Int, server: LLMServiceTests.Server,
                                maxConcurrency: Int, temperature: Double) throws -> String {
        try writeQuestions(rows, in: directory)
        let file = directory.appendingPathComponent("textgen.yaml").path
        try """
            name: textgen
            llms:
              teacher: {base_url: "\(server.url)/v1", model: stub-chat, max_concurrency: \(maxConcurrency)}
            steps:
              - name: load
                uses: load_jsonl
                with: {path: rows.jsonl}
                batch_size: \(batchSize)
              - name: generate
                uses: text_generation
                llm: teacher
                input: load
                with: {template: "{text}", temperature: \(temperature)}
              - name: save
                uses: write_jsonl
                input: generate
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}
