import Foundation
import Testing

@testable import PipelineJSON

/// The `filter` step (libPipelineFilter.so) through the built binary:
/// which rows pass, null semantics, regex, list length, rows whose
/// condition cannot be evaluated, and the validation of the condition.
@Suite("Filter")
struct FilterTests {
    private static let rows = """
        {id: 1, rating: 8, finish_reason: stop, tags: [a, b], text: "How do tides work?"}, \
        {id: 2, rating: 9, finish_reason: length, tags: [], text: "Why is the sky blue?"}, \
        {id: 3, rating: null, finish_reason: stop, tags: [c], text: "How are you?"}, \
        {id: 4, rating: 5, finish_reason: stop, tags: [d, e, f], text: "Name a prime."}, \
        {id: 5, rating: 7.5, finish_reason: null, tags: null, text: null}
        """

    private func run(_ condition: String, extra: String = "", verb: String = "run", rows: String = rows)
        throws -> (status: Int32, output: String, kept: [Int64], errors: [JSONValue]) {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("filter")
        let file = directory.appendingPathComponent("p.yaml")
        try """
            name: filter
            steps:
              - {name: load, uses: load_inline, with: {rows: [\(rows)]}}
              - {name: keep, uses: filter, input: load, with: {where: '\(condition)'\(extra)}}
              - {name: save, uses: write_jsonl, input: keep, with: {path: out.jsonl}}
            """.write(to: file, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run")
        let arguments = verb == "run" ? ["run", file.path, "--run-dir", run.path] : ["validate", file.path]
        let result = try Spawned(Fixtures.pipelineBinary, arguments).wait()
        func lines(_ name: String) throws -> [JSONValue] {
            let path = run.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path) else { return [] }
            return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        }
        return (result.status, result.output, try lines("out.jsonl").compactMap { $0["id"]?.int64Value }, try lines("errors.jsonl"))
    }

    @Test(arguments: [
        (#"rating >= 7 and finish_reason == "stop""#, [Int64(1)]),
        (#"rating >= 7"#, [1, 2, 5]),                       // null >= 7 is false
        (#"not rating >= 7"#, [3, 4]),                      // ...so its negation is true
        (#"rating is none"#, [3]),
        (#"rating is not none and rating < 8"#, [4, 5]),
        (#"tags | length >= 2"#, [1, 4]),
        (#""a" in tags or "e" in tags"#, [1, 4]),
        (#"text is matching("^How")"#, [1, 3]),
        (#""sky" in text"#, [2]),
        (#"finish_reason != "stop""#, [2, 5]),
        (#"id in [2, 4]"#, [2, 4]),
    ])
    func rowsPassWhenTheConditionIsTrue(condition: String, expected: [Int64]) throws {
        let result = try run(condition)
        #expect(result.status == 0 || result.status == 3, "\(condition): \(result.output)")
        #expect(result.kept == expected, "\(condition): \(result.output)")
    }

    /// A condition that cannot be evaluated for a row: an error row saying
    /// why (default), left out and counted, or the run stops.
    @Test func aTypeMismatchIsARowErrorNotACrashOrASilentDrop() throws {
        let row = try run(#"text > 3"#)
        #expect(row.status == 3, "\(row.output)")
        #expect(row.kept.isEmpty)
        #expect(row.errors.count == 4, "\(row.errors)")  // the null text compares false
        #expect(row.errors.allSatisfy { $0["error"]?.stringValue?.hasPrefix("filter: ") == true }, "\(row.errors)")
        let drop = try run(#"text > 3"#, extra: ", on_error: drop")
        #expect(drop.status == 0 && drop.errors.isEmpty, "\(drop.output)")
        #expect(drop.output.contains("4 row(s) whose condition could not be evaluated were left out"), "\(drop.output)")
        let fail = try run(#"text > 3"#, extra: ", on_error: fail")
        #expect(fail.status == 1, "\(fail.output)")
    }

    @Test func theConditionIsValidatedWithItsPosition() throws {
        let syntax = try run(#"rating >= and x"#, verb: "validate")
        #expect(syntax.status == 2)
        #expect(syntax.output.contains("p.yaml:4:70: error: steps[1].with.where: expected an expression"), "\(syntax.output)")
        let unknown = try run(#"ratng >= 7"#, verb: "validate")
        #expect(unknown.status == 2)
        #expect(unknown.output.contains(#"p.yaml:4:60: error: steps[1].with.where: "ratng" names a column no earlier step produces"#),
                "\(unknown.output)")
        #expect(unknown.output.contains(#"did you mean "rating"?"#), "\(unknown.output)")
        let empty = try run("", verb: "validate")
        #expect(empty.status == 2, "\(empty.output)")
    }

    @Test func inspectExplainsTheStep() throws {
        try Fixtures.requireBuiltPipeline()
        let result = try Spawned(Fixtures.pipelineBinary, ["plugins", "inspect", "filter"]).wait()
        #expect(result.status == 0)
        #expect(result.output.contains("Keeps the rows for which `where` is true"), "\(result.output)")
        #expect(result.output.contains("on_error"), "\(result.output)")
    }
}
