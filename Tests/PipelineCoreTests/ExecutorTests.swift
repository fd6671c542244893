import Foundation
import Logging
import PipelineArrow
import Synchronization
import Testing

@testable import PipelineCore
@testable import PipelineJSON
@testable import PipelineDefinition
@testable import PipelineHost
import PipelineStore

/// The executor with real plugins (C fixtures, dlopen'ed) on its worker
/// pool: fan-out, fan-in, a global step, re-batching, row ids, error rows,
/// and a failing step.
@Suite("Executor")
struct ExecutorTests {
    private func registry() throws -> PluginRegistry {
        let registry = PluginRegistry.load(PluginSearchPath(entries: [
            try Fixtures.library("Tests/Fixtures/plugins/generator.c"),
            try Fixtures.library("Tests/Fixtures/plugins/good.c"),
            try Fixtures.library("Tests/Fixtures/plugins/collect.c"),
            try Fixtures.library("Plugins/text_filter/text_filter.c"),
        ]))
        #expect(registry.problems.isEmpty, "\(registry.problems)")
        return registry
    }

    private func step(_ registry: PluginRegistry, _ name: String, uses: String, inputs: [String] = [],
                      parameters: [String: JSONValue] = [:], batchSize: Int = 1000) throws -> PlannedStep {
        PlannedStep(name: name, descriptor: try registry.step(uses), parameters: parameters, inputs: inputs,
                    batchSize: batchSize, llm: nil, location: SourceLocation(file: "test.yaml", line: 1, column: 1))
    }

    private func runDirectory() throws -> String { try Fixtures.emptyDirectory("run").path }

    @Test func fanOutFanInGlobalStepAndRowErrors() throws {
        let registry = try registry()
        let plan = PipelinePlan(name: "diamond", file: "test.yaml", steps: [
            try step(registry, "gen", uses: "count", parameters: ["rows": .number(100), "batch_size": .number(7)]),
            try step(registry, "a", uses: "passthrough", inputs: ["gen"], batchSize: 5),
            try step(registry, "b", uses: "flaky", inputs: ["gen"]),
            try step(registry, "c", uses: "collect", inputs: ["a", "b"]),
            try step(registry, "after", uses: "passthrough", inputs: ["c"]),
        ])
        let directory = try runDirectory()
        var options = ExecutorOptions(runDirectory: directory)
        options.queueCapacity = 2
        let summary = try Executor.run(plan, options: options, logger: Logger(label: "test"))
        #expect(summary.status == .succeeded, "\(summary.error ?? "")")
        let steps = Dictionary(uniqueKeysWithValues: summary.steps.map { ($0.name, $0) })
        #expect(steps["gen"]?.rowsOut == 100)
        #expect(steps["gen"]?.batchesOut == 15)
        // 14 batches of 7 cut into 5 + 2, and the last batch of 2.
        #expect(steps["a"]?.batchesIn == 29)
        #expect(steps["a"]?.rowsIn == 100 && steps["a"]?.rowsOut == 100)
        // n = 0, 3, ..., 99 fail in b: 34 rows, kept out of c.
        #expect(steps["b"]?.rowErrors == 34)
        #expect(steps["b"]?.rowsOut == 66)
        #expect(steps["c"]?.rowsIn == 166)
        #expect(steps["c"]?.rowsOut == 1)
        #expect(steps["after"]?.rowsIn == 1)
        #expect(summary.rowErrors == 34)

        // errors.jsonl: one line per failed row, with its step and host row id.
        let errors = try String(contentsOfFile: directory + "/errors.jsonl", encoding: .utf8)
            .split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(errors.count == 34)
        for error in errors {
            #expect(error["step"] == .string("b"))
            let n = try #require(error["row"]?["n"]?.int64Value)
            #expect(n % 3 == 0)
            // The generator is the first: its ids are its row numbers.
            #expect(error["row_id"]?.int64Value == n)
            #expect(error["row"]?["_row_id"] == nil && error["row"]?["_error"] == nil)
            #expect(error["error"]?.stringValue == "n=\(n) is a multiple of 3")
        }
        let written = try JSONValue(parsing: String(contentsOfFile: directory + "/summary.json", encoding: .utf8))
        #expect(written["status"] == .string("succeeded"))
        #expect(written["steps"]?.arrayValue?.count == 5)
    }

    /// A reentrant step's calls finish out of order (even batches sleep,
    /// odd ones overtake them): its output still goes on, and is recorded
    /// in the store, in input order, so a run writes the same file every
    /// time. (The step is deterministic and fed by a generator, so the
    /// store keeps each batch's digest, not its rows: ReplayPlan.)
    @Test func aReentrantStepsOutputKeepsTheInputOrder() throws {
        let registry = PluginRegistry.load(PluginSearchPath(entries: [
            try Fixtures.library("Tests/Fixtures/plugins/generator.c"),
            try Fixtures.library("Tests/Fixtures/plugins/slow.c"),
        ]))
        #expect(registry.problems.isEmpty, "\(registry.problems)")
        let shuffle = try registry.step("shuffle")
        try #require(shuffle.isReentrant)
        let plan = PipelinePlan(name: "order", file: "test.yaml", steps: [
            try step(registry, "gen", uses: "count", parameters: ["rows": .number(24), "batch_size": .number(1)]),
            try step(registry, "shuffle", uses: "shuffle", inputs: ["gen"], parameters: ["delay_ms": .number(40)]),
        ])
        let directory = try runDirectory()
        let seen = Mutex<[RecordBatch]>([])
        var options = ExecutorOptions(runDirectory: directory)
        options.onOutput = { step, batches, _ in
            if step == "shuffle" { seen.withLock { $0.append(contentsOf: batches) } }
        }
        let summary = try Executor.run(plan, options: options, logger: Logger(label: "test"))
        #expect(summary.status == .succeeded, "\(summary.error ?? "")")
        let batches = seen.withLock { $0 }
        let order = try batches.map { try #require($0.column("n")).int64(0) }
        #expect(order == (0..<24).map { Int64($0) })
        let markers = try RunStore(directory: directory).replayMarkers(step: "shuffle")
        #expect(markers.count == 24)
        for (seq, batch) in batches.enumerated() { #expect(markers[seq] == RunStore.replayDigest(batch)) }
    }

    @Test func theGlobalStepSeesEveryRowAndSumsThem() throws {
        let registry = try registry()
        let plan = PipelinePlan(name: "global", file: "test.yaml", steps: [
            try step(registry, "gen", uses: "count", parameters: ["rows": .number(1000), "batch_size": .number(64)]),
            try step(registry, "c", uses: "collect", inputs: ["gen"]),
            try step(registry, "keep", uses: "passthrough", inputs: ["c"]),
        ])
        let summary = try Executor.run(plan, options: ExecutorOptions(runDirectory: try runDirectory()),
                                   logger: Logger(label: "test"))
        #expect(summary.status == .succeeded)
        #expect(summary.steps[1].rowsIn == 1000)
        #expect(summary.steps[2].rowsIn == 1)
    }

    @Test func aFailingStepStopsTheRunAndSaysWhy() throws {
        let registry = try registry()
        let plan = PipelinePlan(name: "broken", file: "test.yaml", steps: [
            try step(registry, "gen", uses: "count", parameters: ["rows": .number(50)]),
            try step(registry, "filter", uses: "text_filter", inputs: ["gen"],
                     parameters: ["column": .string("missing")]),
        ])
        let directory = try runDirectory()
        let summary = try Executor.run(plan, options: ExecutorOptions(runDirectory: directory), logger: Logger(label: "test"))
        #expect(summary.status == .failed)
        let error = try #require(summary.error)
        #expect(error.contains("filter"))
        #expect(error.contains("missing"))
        let written = try JSONValue(parsing: String(contentsOfFile: directory + "/summary.json", encoding: .utf8))
        #expect(written["status"] == .string("failed"))
    }

    @Test func outputPathsResolveAgainstTheRunDirectory() {
        let schema = try! JSONValue(parsing: #"{"properties":{"path":{"type":"string","format":"output-path"},"other":{"type":"string"}}}"#)
        let resolved = Executor.resolvingOutputPaths(
            ["path": .string("out/x.jsonl"), "other": .string("rel")], schema: schema, runDirectory: "/runs/demo")
        #expect(resolved["path"] == .string("/runs/demo/out/x.jsonl"))
        #expect(resolved["other"] == .string("rel"))
        let absolute = Executor.resolvingOutputPaths(["path": .string("/abs/x")], schema: schema, runDirectory: "/r")
        #expect(absolute["path"] == .string("/abs/x"))
    }
}
