import Foundation
import Logging
import PipelineArrow
import Testing

@testable import PipelineCore
@testable import PipelineJSON
@testable import PipelineHost

/// What the built-in loaders tell the host of the rows they will emit
/// (pipeline.run/1 expect_rows, ABI 1.5), as the executor reads it:
/// RunContext.expectedRows(), by step label.
@Suite("Expected rows")
struct ExpectedRowsTests {
    private static let registry: PluginRegistry? = {
        let library = Fixtures.buildDirectory.appendingPathComponent("libPipelineData.so").path
        guard FileManager.default.fileExists(atPath: library) else { return nil }
        return PluginRegistry.load(PluginSearchPath(entries: [library]))
    }()

    /// An instance of the loader `name` labelled "load" in `run`.
    private func loader(_ name: String, _ parameters: [String: JSONValue], run: RunContext) throws -> StepInstance {
        let registry = try #require(Self.registry,
                                    "libPipelineData.so is missing next to the tests: build the PipelineData product first")
        return try StepInstance(try registry.step(name), parameters: parameters, label: "load",
                                logger: Logger(label: "test"), llm: nil, run: run)
    }

    private func context() -> RunContext { RunContext(runID: "run", pipelineName: "p", pipelineText: "") }

    /// Emits every batch; returns the rows and what the run expected after each batch.
    private func drain(_ instance: StepInstance, _ run: RunContext) throws -> (rows: Int, expected: [Int?]) {
        var rows = 0
        var expected: [Int?] = []
        while let batch = try instance.process(nil) {
            rows += batch.length
            expected.append(run.expectedRows()["load"])
        }
        expected.append(run.expectedRows()["load"])
        return (rows, expected)
    }

    private func file(_ name: String, _ text: String) throws -> String {
        let path = try Fixtures.emptyDirectory("expected-rows").appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func loadInlineKnowsItsRowsWhenCreated() throws {
        let run = context()
        let rows: [JSONValue] = (0..<7).map { .object(["n": .number(Double($0))]) }
        let instance = try loader("load_inline", ["rows": .array(rows), "batch_size": .number(3)], run: run)
        #expect(run.expectedRows() == ["load": 7], "before any batch")
        let drained = try drain(instance, run)
        #expect(drained.rows == 7)
        #expect(drained.expected.allSatisfy { $0 == 7 })
    }

    /// The type pass reads the whole file anyway: it counts the rows (blank
    /// and skipped bad lines left out), known with the first batch.
    @Test func loadJSONLCountsInItsTypePass() throws {
        let run = context()
        var text = ""
        for n in 0..<25 { text += #"{"n": \#(n), "text": "row \#(n)"}"# + "\n" + (n == 10 ? "\n{bad\n" : "") }
        let path = try file("rows.jsonl", text)
        let instance = try loader("load_jsonl", ["path": .string(path), "batch_size": .number(4),
                                                 "on_error": .string("skip")], run: run)
        #expect(run.expectedRows()["load"] == nil, "nothing is known before the file is read")
        let drained = try drain(instance, run)
        #expect(drained.rows == 25)
        #expect(drained.expected.allSatisfy { $0 == 25 }, "\(drained.expected)")
    }

    /// With columns: there is no first pass: an estimate from the file's
    /// size after the first batch, revised, exact at the end.
    @Test func loadJSONLWithDeclaredColumnsEstimatesThenKnows() throws {
        let run = context()
        var text = ""
        // Lines of one length, so the estimate from the first batch is close.
        for n in 1000..<2000 { text += #"{"n": \#(n), "text": "row \#(n)"}"# + "\n" }
        let path = try file("rows.jsonl", text)
        let instance = try loader("load_jsonl", ["path": .string(path), "batch_size": .number(100),
                                                 "columns": .array([.object(["n": .string("int64")]),
                                                                    .object(["text": .string("utf8")])])], run: run)
        let drained = try drain(instance, run)
        #expect(drained.rows == 1000)
        let first = try #require(drained.expected.first ?? nil)
        #expect(abs(first - 1000) <= 20, "first estimate \(first)")
        #expect(drained.expected.last == 1000)
    }

    @Test func loadCSVCountsWhenItInfersTypesAndEstimatesWhenNot() throws {
        var text = "n,text\n"
        for n in 1000..<1500 { text += "\(n),word\(n)\n" }
        let path = try file("rows.csv", text)

        let counted = context()
        let typed = try drain(try loader("load_csv", ["path": .string(path), "batch_size": .number(50)], run: counted),
                              counted)
        #expect(typed.rows == 500)
        #expect(typed.expected.allSatisfy { $0 == 500 }, "\(typed.expected)")

        let estimated = context()
        let untyped = try drain(try loader("load_csv", ["path": .string(path), "batch_size": .number(50),
                                                        "infer_types": .bool(false)], run: estimated), estimated)
        #expect(untyped.rows == 500)
        let first = try #require(untyped.expected.first ?? nil)
        #expect(abs(first - 500) <= 25, "first estimate \(first) (the header counts as bytes of the first batch)")
        #expect(untyped.expected.last == 500)
    }

    /// A negative count withdraws the figure; the latest wins.
    @Test func theLatestFigureWins() {
        let run = context()
        run.expectRows(10, step: "a")
        run.expectRows(12, step: "a")
        run.expectRows(3, step: "b")
        #expect(run.expectedRows() == ["a": 12, "b": 3])
        run.expectRows(-1, step: "b")
        #expect(run.expectedRows() == ["a": 12])
    }
}
