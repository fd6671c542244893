import Foundation
import Testing

@testable import PipelineJSON

/// The `join` step (libPipelineColumns.so) run by the built binary: rows of
/// two branches of one source side by side, inner and left, collisions,
/// and bounded memory when one branch is 100 times slower than the other.
@Suite("Join")
struct JoinTests {
    private var binary: String { Fixtures.pipelineBinary }

    private func run(_ yaml: String, _ label: String) throws -> (status: Int32, output: String, directory: URL) {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory(label)
        let file = directory.appendingPathComponent("p.yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let slow = try Fixtures.library("Tests/Fixtures/plugins/slow.c")
        let result = try Fixtures.run(binary, [
            "run", file, "--run-dir", directory.appendingPathComponent("run").path,
            "--plugin-path", Fixtures.buildDirectory.appendingPathComponent("pipeline-plugins").path,
            "--plugin-path", slow, "--log-format", "json",
        ])
        return (result.status, result.output, directory)
    }

    private func lines(_ path: URL) throws -> [JSONValue] {
        try String(contentsOf: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    private func pipeline(rows: Int = 5, limit: Int = 5, join: String) -> String {
        let data = (1...rows).map { "{q: \"question \($0)\", n: \($0)}" }.joined(separator: ", ")
        return """
            name: join
            steps:
              - {name: load, uses: load_inline, with: {rows: [\(data)]}, batch_size: 2}
              - {name: a, uses: slow, input: load, with: {delay_ms: 0}}
              - {name: b, uses: limit, input: load, with: {rows: \(limit)}}
              - {name: both, uses: join, input: [a, b], with: \(join)}
              - {name: save, uses: write_jsonl, input: both, with: {path: out.jsonl}}
            """
    }

    @Test func prefixedColumnsOfBothBranchesInOneRowInInputOrder() throws {
        let result = try run(pipeline(join: "{prefixes: {a: a_, b: b_}}"), "join-prefixes")
        #expect(result.status == 0, "\(result.output)")
        let rows = try lines(result.directory.appendingPathComponent("run/out.jsonl"))
        #expect(rows.count == 5)
        for (index, row) in rows.enumerated() {
            #expect(row["a_n"] == .number(Double(index + 1)) && row["b_n"] == .number(Double(index + 1)), "\(row)")
            #expect(row["a_q"] == row["b_q"] && row["a_q"] == .string("question \(index + 1)"), "\(row)")
            #expect(row["q"] == nil && row["n"] == nil, "\(row)")
        }
    }

    @Test func sharedColumnsComeOnceAndACollisionNamesBothInputs() throws {
        let shared = try run(pipeline(join: "{shared_columns: [q], prefixes: {b: b_}}"), "join-shared")
        #expect(shared.status == 0, "\(shared.output)")
        let rows = try lines(shared.directory.appendingPathComponent("run/out.jsonl"))
        #expect(rows.map { $0["q"]?.stringValue ?? "" } == (1...5).map { "question \($0)" })
        #expect(rows.allSatisfy { $0["n"] == $0["b_n"] && $0["b_q"] == nil }, "\(rows)")

        let clash = try run(pipeline(join: "{}"), "join-clash")
        #expect(clash.status != 0)
        #expect(clash.output.contains(#"column \"n\" would come from both \"a\" and \"b\""#), "\(clash.output)")
        #expect(clash.output.contains("prefixes"), "\(clash.output)")
    }

    /// A branch that dropped rows: inner leaves those rows out and says how
    /// many; left keeps them with nulls for the branch.
    @Test func innerAndLeftOnRowsOneBranchDropped() throws {
        let inner = try run(pipeline(limit: 3, join: "{prefixes: {b: b_}}"), "join-inner")
        #expect(inner.status == 0, "\(inner.output)")
        let kept = try lines(inner.directory.appendingPathComponent("run/out.jsonl"))
        #expect(kept.compactMap { $0["n"]?.int64Value } == [1, 2, 3], "\(kept)")
        #expect(inner.output.contains(#"2 row(s) of input \"a\" had no partner"#)
                || inner.output.contains(#"2 row(s) of input "a" had no partner"#), "\(inner.output)")

        let left = try run(pipeline(limit: 3, join: "{how: left, prefixes: {b: b_}}"), "join-left")
        #expect(left.status == 0, "\(left.output)")
        let all = try lines(left.directory.appendingPathComponent("run/out.jsonl"))
        #expect(all.compactMap { $0["n"]?.int64Value } == [1, 2, 3, 4, 5], "\(all)")
        #expect(all.map { $0["b_n"] ?? .null } == [.number(1), .number(2), .number(3), .null, .null], "\(all)")
    }

    @Test func badParametersAreRefusedWithWhatToDo() throws {
        let one = try run("""
            name: join
            steps:
              - {name: load, uses: load_inline, with: {rows: [{q: x}]}}
              - {name: both, uses: join, input: load}
              - {name: save, uses: write_jsonl, input: both, with: {path: out.jsonl}}
            """, "join-one")
        #expect(one.status != 0)
        #expect(one.output.contains("it needs two or more inputs (input: [a, b]); it has 1"), "\(one.output)")
        let unknown = try run(pipeline(join: "{prefixes: {c: c_}}"), "join-unknown")
        #expect(unknown.status != 0)
        #expect(unknown.output.contains("prefixes names") && unknown.output.contains("not one of its inputs"), "\(unknown.output)")
    }

    /// Killed with SIGKILL several times and resumed, a join (STATEFUL: it
    /// is given every input batch again, each with its input index) writes
    /// exactly what an uninterrupted run writes.
    @Test func killedAndResumedJoinWritesTheSameFile() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("join-kill")
        let input = directory.appendingPathComponent("in.jsonl")
        try (0..<20_000).map { "{\"id\":\($0),\"text\":\"row \($0)\"}" }.joined(separator: "\n")
            .write(to: input, atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: join-kill
            steps:
              - {name: load, uses: load_jsonl, with: {path: \(input.path)}, batch_size: 500}
              - {name: fast, uses: slow, input: load, with: {delay_ms: 1}}
              - {name: lazy, uses: slow, input: load, with: {delay_ms: 30}}
              - {name: both, uses: join, input: [fast, lazy], with: {how: left, shared_columns: [id], prefixes: {lazy: lazy_}}}
              - {name: save, uses: write_jsonl, input: both, with: {path: out.jsonl}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let flags = ["--plugin-path", Fixtures.buildDirectory.appendingPathComponent("pipeline-plugins").path,
                     "--plugin-path", try Fixtures.library("Tests/Fixtures/plugins/slow.c")]
        let reference = directory.appendingPathComponent("reference").path
        let first = try Spawned(binary, ["run", file, "--run-dir", reference] + flags).wait()
        #expect(first.status == 0, "\(first.output)")
        let killed = directory.appendingPathComponent("killed").path
        var landed = 0
        for delay in [150, 420, 260, 610, 330] {
            let process = try Spawned(binary, ["run", file, "--run-dir", killed] + flags)
            Thread.sleep(forTimeInterval: Double(delay) / 1000)
            if process.isRunning {
                process.kill(SIGKILL)
                landed += 1
            }
            _ = process.wait()
        }
        let last = try Spawned(binary, ["run", file, "--run-dir", killed] + flags).wait()
        #expect(last.status == 0, "\(last.output)")
        #expect(landed >= 2, "most kills should land while the run is going")
        let expected = try String(contentsOfFile: reference + "/out.jsonl", encoding: .utf8)
        let got = try String(contentsOfFile: killed + "/out.jsonl", encoding: .utf8)
        #expect(expected.split(separator: "\n").count == 20_000)
        #expect(got == expected)
    }

    /// 100 000 rows, one branch 100 times slower per batch than the other:
    /// every row comes out once, in input order. (Its peak RSS, target
    /// 150 MB, is measured by `make bench` on a release build: a memory
    /// figure under a parallel debug test run says little.)
    @Test func aHundredTimesSlowerBranchKeepsMemoryBounded() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("join-memory")
        let input = directory.appendingPathComponent("in.jsonl")
        var text = ""
        text.reserveCapacity(100_000 * 80)
        for index in 0..<100_000 { text += "{\"id\":\(index),\"text\":\"row \(index) with a little text to carry along\"}\n" }
        try text.write(to: input, atomically: true, encoding: .utf8)
        let result = try run("""
            name: join-memory
            steps:
              - {name: load, uses: load_jsonl, with: {path: \(input.path)}, batch_size: 1000}
              - {name: fast, uses: slow, input: load, with: {delay_ms: 0}}
              - {name: lazy, uses: slow, input: load, with: {delay_ms: 20}}
              - {name: both, uses: join, input: [fast, lazy], with: {shared_columns: [id], prefixes: {lazy: lazy_}}}
              - {name: save, uses: write_jsonl, input: both, with: {path: out.jsonl}}
            """, "join-memory-run")
        #expect(result.status == 0, "\(result.output)")
        let out = try lines(result.directory.appendingPathComponent("run/out.jsonl"))
        #expect(out.count == 100_000)
        #expect(out.compactMap { $0["id"]?.int64Value } == Array(0..<100_000))
        #expect(out.allSatisfy { $0["text"] == $0["lazy_text"] })
    }
}
