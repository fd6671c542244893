import Foundation
import PipelineArrow
import Testing

@testable import PipelineCore
@testable import PipelineJSON
@testable import PipelineHost

/// Batches through real plugins: C fixtures, the C text_filter plugin and
/// the Swift columns plugin, each dlopen'ed.
@Suite("Running steps")
struct StepInstanceTests {
    private func rows(_ objects: [[String: JSONValue]]) throws -> RecordBatch {
        try BatchJSON.batch(rows: objects)
    }

    private func step(_ source: String, _ id: String) throws -> StepDescriptor {
        let registry = PluginRegistry.load(PluginSearchPath(entries: [try Fixtures.library(source)]))
        #expect(registry.problems.isEmpty, "\(registry.problems)")
        return try registry.step(id)
    }

    @Test func passthroughReturnsTheSameRows() throws {
        let instance = try StepInstance(try step("Tests/Fixtures/plugins/good.c", "org.test.passthrough"))
        let input = try rows([
            ["text": .string("héllo wörld"), "n": .number(1), "tags": .array([.string("a"), .string("b")])],
            ["text": .null, "n": .number(2), "tags": .array([])],
            ["text": .string(""), "n": .null, "tags": .null],
        ])
        let output = try #require(try instance.process(input))
        #expect(BatchJSON.rows(output) == BatchJSON.rows(input))
        #expect(output.fields == input.fields)
    }

    @Test func generatorEmitsBatchesThenExhausts() throws {
        let instance = try StepInstance(try step("Tests/Fixtures/plugins/generator.c", "org.test.count"),
                                        parameters: ["rows": .number(10), "batch_size": .number(4)])
        var sizes: [Int] = []
        var numbers: [Int64] = []
        while let batch = try instance.process(nil) {
            sizes.append(batch.length)
            let column = try #require(batch.column("n"))
            numbers += (0..<batch.length).map { column.int64($0) }
            #expect(batch.column("text")?.string(0) == "row \(column.int64(0))")
        }
        #expect(sizes == [4, 4, 2])
        #expect(numbers == Array(0..<10))
    }

    @Test func textFilterKeepsMatchingRowsWithAllColumns() throws {
        let descriptor = try step("Plugins/text_filter/text_filter.c", "org.pipeline.text_filter")
        let input = try rows([
            ["text": .string("short"), "_row_id": .number(1), "score": .number(0.5)],
            ["text": .string("a much longer sentence"), "_row_id": .number(2), "score": .number(1.5)],
            ["text": .null, "_row_id": .number(3), "score": .number(2.5)],
            ["text": .string("日本語のテキスト"), "_row_id": .number(4), "score": .null],
        ])
        let longOnes = try StepInstance(descriptor, parameters: ["min_chars": .number(8)])
        let output = try #require(try longOnes.process(input))
        #expect(output.column("_row_id").map { c in (0..<output.length).map { c.uint64($0) } } == [2, 4])
        #expect(Set(output.fields.map(\.name)) == Set(input.fields.map(\.name)))
        #expect(output.column("score")?.isValid(1) == false)

        let containing = try StepInstance(descriptor, parameters: ["contains": .string("longer")])
        #expect(try containing.process(input)?.length == 1)

        let inverted = try StepInstance(descriptor, parameters: ["min_chars": .number(8), "invert": .bool(true)])
        let invertedOutput = try #require(try inverted.process(input))
        // invert keeps "short" only: a null text is never kept, inverted or not.
        #expect(invertedOutput.length == 1)
        #expect(invertedOutput.column("text")?.string(0) == "short")

        let none = try StepInstance(descriptor, parameters: ["min_chars": .number(1000)])
        #expect(try none.process(input) == nil)
    }

    @Test func textFilterReportsAMissingColumn() throws {
        let descriptor = try step("Plugins/text_filter/text_filter.c", "org.pipeline.text_filter")
        let instance = try StepInstance(descriptor, parameters: ["column": .string("prompt")])
        let input = try rows([["text": .string("x")]])
        #expect {
            try instance.process(input)
        } throws: { error in
            let text = "\(error)"
            return (error as? PluginError)?.status == .invalidData && text.contains("prompt")
        }
    }

    @Test func swiftPluginThroughTheABI() throws {
        let library = Fixtures.buildDirectory.appendingPathComponent("libPipelineColumns.so").path
        try #require(FileManager.default.fileExists(atPath: library),
                     "\(library) is missing: run `make test`, which builds the plugins first")
        let registry = PluginRegistry.load(PluginSearchPath(entries: [library]))
        #expect(registry.problems.isEmpty)
        let input = try rows([
            ["a": .number(1), "b": .string("x"), "_row_id": .number(7)],
            ["a": .number(2), "b": .string("y"), "_row_id": .number(8)],
        ])
        let keep = try StepInstance(try registry.step("keep_columns"), parameters: ["columns": .array([.string("b")])])
        let kept = try #require(try keep.process(input))
        #expect(kept.fields.map(\.name) == ["b", "_row_id"])
        #expect(BatchJSON.rows(kept) == [#"{"b":"x","_row_id":7}"#, #"{"b":"y","_row_id":8}"#])

        let rename = try StepInstance(try registry.step("rename_columns"),
                                      parameters: ["columns": .object(["b": .string("text")])])
        let renamed = try #require(try rename.process(input))
        #expect(renamed.fields.map(\.name).sorted() == ["_row_id", "a", "text"])

        let missing = try StepInstance(try registry.step("keep_columns"), parameters: ["columns": .array([.string("zz")])])
        #expect(throws: PluginError.self) { try missing.process(input) }
    }

    @Test func failedCallsSayWhatHappenedWithoutStatusCodes() {
        let withMessage = PluginError.callFailed(step: "load", function: "process", status: .invalidData,
                                                 message: "load_jsonl: /data/x.jsonl:2:2: expected a string key", plugin: "load_jsonl")
        #expect(withMessage.description == "step load: /data/x.jsonl:2:2: expected a string key")
        #expect(withMessage.status == .invalidData)
        // Another plugin's name stays: only the step's own plugin is dropped.
        let other = PluginError.callFailed(step: "load", function: "create", status: .io, message: "other: gone", plugin: "load_jsonl")
        #expect(other.description == "step load: other: gone")
        let silent = PluginError.callFailed(step: "save", function: "create", status: .io, message: nil, plugin: "write_jsonl")
        #expect(silent.description == "step save: write_jsonl could not start (a file or network error) and gave no reason")
        let finish = PluginError.callFailed(step: "pick", function: "finish", status: PluginStatus(rawValue: 42), message: " ",
                                            plugin: "deita_filter")
        #expect(finish.description == "step pick: deita_filter failed after its last input (unknown status 42) and gave no reason")
    }
}
