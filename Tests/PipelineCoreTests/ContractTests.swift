import Foundation
import PipelineJSON
import Testing

/// The run-time contract checks of ABI 1.3, through the built binary and a
/// C plugin that breaks them: rows that vanish without the step saying it
/// filters are reported and counted; a declared output column that is not
/// produced fails the step that lied, not a later one.
@Suite("Run-time contract checks")
struct ContractTests {
    private func run(_ step: String) throws -> (status: Int32, output: String, directory: URL) {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("contract-\(step)")
        let plugins = directory.appendingPathComponent("plugins")
        _ = try Fixtures.library("Tests/Fixtures/plugins/contract.c", in: plugins)
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: contract
            steps:
              - name: load
                uses: load_inline
                with:
                  rows: [{text: a}, {text: b}, {text: c}]
              - name: middle
                uses: \(step)
                input: load
              - name: save
                uses: write_jsonl
                input: middle
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Fixtures.run(Fixtures.pipelineBinary, [
            "run", file, "--run-dir", directory.appendingPathComponent("run").path, "--plugin-path", plugins.path])
        return (result.status, result.output, directory)
    }

    @Test func rowsThatVanishWithoutTheFilterFlagAreReportedAndCounted() throws {
        let (status, output, directory) = try run("drop_all")
        #expect(status == 0, "\(output)")
        #expect(output.contains("returned no rows for a batch of 3 and does not declare PIPELINE_STEP_FILTERS"), "\(output)")
        #expect(output.contains("org.test.contract"))
        let summary = try JSONValue(parsing: String(contentsOf: directory.appendingPathComponent("run/summary.json"), encoding: .utf8))
        let middle = summary["steps"]?.arrayValue?.first { $0["name"]?.stringValue == "middle" }
        #expect(middle?["batches_without_output"]?.int64Value == 1)
        #expect(middle?["rows_in"]?.int64Value == 3 && middle?["rows_out"]?.int64Value == 0)
    }

    @Test func aDeclaredOutputThatIsMissingFailsTheStepThatDeclaredIt() throws {
        let (status, output, _) = try run("lying_output")
        #expect(status == 1, "\(output)")
        #expect(output.contains("middle"))
        #expect(output.contains("the output lacks the declared column \\\"score\\\"") || output.contains("the output lacks the declared column \"score\""), "\(output)")
        #expect(output.contains("org.test.contract"))
    }
}
