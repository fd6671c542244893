import Foundation
import Testing

/// `"format": "renamed-columns"` (rename_columns, expand_columns' mapping
/// form): when a pipeline's columns are known (inline rows, keep_columns),
/// later steps may read the new names, and a step reading an old name is
/// refused at validation, through the real binary and built-in plugins.
@Suite("Renamed columns at validation")
struct RenamedColumnsTests {
    private func validate(_ yaml: String) throws -> (status: Int32, output: String) {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("renamed")
        let file = directory.appendingPathComponent("p.yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        return try Fixtures.run(Fixtures.pipelineBinary, ["validate", file])
    }

    @Test func newNamesReachLaterSteps() throws {
        let result = try validate("""
            name: renamed
            steps:
              - {name: load, uses: load_inline, with: {rows: [{a: x, items: [p, q], scores: [1, 2]}]}}
              - {name: r, uses: rename_columns, input: load, with: {columns: {a: prompt}}}
              - {name: e, uses: expand_columns, input: r, with: {columns: {items: item, scores: score}}}
              - {name: f, uses: filter, input: e, with: {where: "score > 1 and item != prompt"}}
            """)
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func anOldNameIsRefused() throws {
        let result = try validate("""
            name: renamed
            steps:
              - {name: load, uses: load_inline, with: {rows: [{a: x, items: [p, q]}]}}
              - {name: e, uses: expand_columns, input: load, with: {columns: {items: item}}}
              - {name: f, uses: filter, input: e, with: {where: "items != a"}}
            """)
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("items"), "\(result.output)")
    }
}
