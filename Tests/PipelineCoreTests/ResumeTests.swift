import Foundation
import Logging
import PipelineArrow
import Testing

@testable import PipelineCore
@testable import PipelineJSON
@testable import PipelineSQLite
@testable import PipelineStore
@testable import PipelineDefinition
@testable import PipelineHost

/// Durable runs in-process: a run stopped part-way (StopSignal, as SIGTERM
/// does) and resumed gives exactly the rows an uninterrupted run gives.
/// The kill -9 tests, with the binary, are in KillResumeTests.
@Suite("Resume")
struct ResumeTests {
    private func registry() throws -> PluginRegistry {
        let data = Fixtures.buildDirectory.appendingPathComponent("libPipelineData.so").path
        try #require(FileManager.default.fileExists(atPath: data), "\(data) is missing: run `make test`")
        let registry = PluginRegistry.load(PluginSearchPath(entries: [
            try Fixtures.library("Tests/Fixtures/plugins/generator.c"),
            try Fixtures.library("Tests/Fixtures/plugins/slow.c"),
            try Fixtures.library("Tests/Fixtures/plugins/collect.c"),
            data,
        ]))
        #expect(registry.problems.isEmpty, "\(registry.problems)")
        return registry
    }

    private func step(_ registry: PluginRegistry, _ name: String, uses: String, inputs: [String] = [],
                      parameters: [String: JSONValue] = [:], batchSize: Int = 1000) throws -> PlannedStep {
        PlannedStep(name: name, descriptor: try registry.step(uses), parameters: parameters, inputs: inputs,
                    batchSize: batchSize, llm: nil, location: SourceLocation(file: "test.yaml", line: 1, column: 1))
    }

    /// gen → slow → flaky (fails multiples of 3) → write_jsonl, and
    /// gen → collect (global, sums n) → write_jsonl.
    private func plan(_ registry: PluginRegistry, rows: Int = 300, every: Int = 3) throws -> PipelinePlan {
        PipelinePlan(name: "resumable", file: "test.yaml", steps: [
            try step(registry, "gen", uses: "count", parameters: ["rows": .number(Double(rows)), "batch_size": .number(10)]),
            try step(registry, "slow", uses: "slow", inputs: ["gen"], parameters: ["delay_ms": .number(3)]),
            try step(registry, "flaky", uses: "flaky", inputs: ["slow"], parameters: ["every": .number(Double(every))]),
            try step(registry, "save", uses: "write_jsonl", inputs: ["flaky"],
                     parameters: ["path": .string("rows.jsonl"), "include_row_id": .bool(true)]),
            try step(registry, "total", uses: "collect", inputs: ["gen"]),
            try step(registry, "save_total", uses: "write_jsonl", inputs: ["total"], parameters: ["path": .string("total.jsonl")]),
        ])
    }

    private func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    private func uninterrupted(_ registry: PluginRegistry) throws -> (rows: [String], total: [String], errors: [String]) {
        let directory = try Fixtures.emptyDirectory("reference").path
        let summary = try Executor.run(try plan(registry), options: ExecutorOptions(runDirectory: directory),
                                       logger: Logger(label: "test"))
        #expect(summary.status == .succeeded)
        return (try lines(directory + "/rows.jsonl").sorted(), try lines(directory + "/total.jsonl"),
                try lines(directory + "/errors.jsonl").sorted())
    }

    @Test func stoppedRunsResumeToTheSameRows() throws {
        let registry = try registry()
        let reference = try uninterrupted(registry)
        #expect(reference.rows.count == 200)
        #expect(reference.errors.count == 100)

        let directory = try Fixtures.emptyDirectory("resumed").path
        var stops = 0
        // Stop three times at different points, then let it finish.
        for threshold in [40, 120, 250] {
            let stop = StopSignal()
            var options = ExecutorOptions(runDirectory: directory)
            options.stop = stop
            options.progress = { summary in
                if summary.steps[1].rowsOut >= threshold { stop.request() }
            }
            let summary = try Executor.run(try plan(registry), options: options, logger: Logger(label: "test"))
            if summary.status == .interrupted { stops += 1 }
            #expect(summary.status == .interrupted || summary.status == .succeeded)
        }
        let final = try Executor.run(try plan(registry), options: ExecutorOptions(runDirectory: directory),
                                     logger: Logger(label: "test"))
        #expect(stops >= 2)
        #expect(final.status == .succeeded)
        #expect(try lines(directory + "/rows.jsonl").sorted() == reference.rows)
        #expect(try lines(directory + "/total.jsonl") == reference.total)
        #expect(try lines(directory + "/errors.jsonl").sorted() == reference.errors)
        // Counters add up across the runs: every row counted once.
        #expect(final.steps[0].rowsOut == 300)
        #expect(final.steps[1].rowsIn == 300)
        #expect(final.steps[2].rowErrors == 100)
        #expect(final.steps[3].rowsIn == 200)
    }

    /// The generator, and the deterministic steps fed only by it, leave a
    /// digest per batch in the store, not their rows (ReplayPlan); the
    /// global step's rows are stored. A resume makes the missing batches
    /// again (the test above checks the rows), and one that comes out
    /// different from what the interrupted run saw stops the run.
    @Test func replayedBatchesAreNotStoredAndADifferentReplayIsRefused() throws {
        let registry = try registry()
        let directory = try Fixtures.emptyDirectory("replay-digest").path
        let stop = StopSignal()
        var options = ExecutorOptions(runDirectory: directory)
        options.stop = stop
        options.progress = { summary in
            if summary.steps[1].rowsOut >= 120 { stop.request() }
        }
        let first = try Executor.run(try plan(registry), options: options, logger: Logger(label: "test"))
        try #require(first.status == .interrupted)
        let store = try RunStore(directory: directory)
        let states = try store.loadStates()
        for step in ["gen", "slow", "flaky"] {
            let markers = try store.replayMarkers(step: step)
            #expect(markers.count == states[step]?.emitted && !markers.isEmpty, "\(step): \(markers.count) markers")
        }
        #expect(try store.replayMarkers(step: "total").isEmpty)
        // The first batch of the generator, as if it had read other rows.
        try store.database.prepare("UPDATE batches SET data = ? WHERE step = 'gen' AND seq = 0")
            .run([], blob: ReplayMarker.bytes(digest: 42))
        var message = ""
        do {
            let resumed = try Executor.run(try plan(registry), options: ExecutorOptions(runDirectory: directory),
                                           logger: Logger(label: "test"))
            message = resumed.error ?? "status \(resumed.status)"
        } catch {
            message = "\(error)"
        }
        #expect(message.contains("step \"gen\" made different rows on resume than in the run it resumes (batch 0)"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/rows.jsonl"))
    }

    @Test func aFinishedRunIsNotRunAgain() throws {
        let registry = try registry()
        let directory = try Fixtures.emptyDirectory("finished").path
        let first = try Executor.run(try plan(registry, rows: 50), options: ExecutorOptions(runDirectory: directory),
                                     logger: Logger(label: "test"))
        #expect(first.status == .succeeded)
        let written = try FileManager.default.attributesOfItem(atPath: directory + "/rows.jsonl")[.modificationDate] as? Date
        let again = try Executor.run(try plan(registry, rows: 50), options: ExecutorOptions(runDirectory: directory),
                                     logger: Logger(label: "test"))
        #expect(again.status == .succeeded)
        #expect(again.steps.map(\.rowsOut) == first.steps.map(\.rowsOut))
        let rewritten = try FileManager.default.attributesOfItem(atPath: directory + "/rows.jsonl")[.modificationDate] as? Date
        #expect(written == rewritten)
    }

    @Test func aChangedPipelineIsNotResumedSilently() throws {
        let registry = try registry()
        let directory = try Fixtures.emptyDirectory("changed").path
        _ = try Executor.run(try plan(registry, rows: 50), options: ExecutorOptions(runDirectory: directory),
                             logger: Logger(label: "test"))
        #expect {
            _ = try Executor.run(try plan(registry, rows: 50, every: 5), options: ExecutorOptions(runDirectory: directory),
                                 logger: Logger(label: "test"))
        } throws: { error in
            let text = "\(error)"
            return (error as? StoreError)?.kind == .changed && text.contains("step \"flaky\" changed")
                && text.contains("--fresh")
        }
        var fresh = ExecutorOptions(runDirectory: directory)
        fresh.fresh = true
        let summary = try Executor.run(try plan(registry, rows: 50, every: 5), options: fresh, logger: Logger(label: "test"))
        #expect(summary.status == .succeeded)
        #expect(summary.steps[2].rowErrors == 10)
    }

    private func changedError(_ directory: String, _ plan: PipelinePlan) -> String? {
        do {
            _ = try Executor.run(plan, options: ExecutorOptions(runDirectory: directory), logger: Logger(label: "test"))
            return nil
        } catch {
            return (error as? StoreError)?.kind == .changed ? "\(error)" : "unexpected: \(error)"
        }
    }

    @Test func aChangedPipelineSaysWhatChangedWithOldAndNewValues() throws {
        let registry = try registry()
        let directory = try Fixtures.emptyDirectory("changed-parts").path
        _ = try Executor.run(try plan(registry, rows: 50), options: ExecutorOptions(runDirectory: directory),
                             logger: Logger(label: "test"))
        var changed = try plan(registry, rows: 50, every: 5)
        changed.steps[1].batchSize = 20
        changed.steps[3].parameters["include_row_id"] = nil
        changed.steps[5].inputs = ["total", "gen"]
        let message = try #require(changedError(directory, changed))
        #expect(message.contains(#"step "slow" changed: batch_size 1000 → 20; step "flaky" changed: with.every 3 → 5; "#
                                 + #"step "save" changed: with.include_row_id true → (not set); "#
                                 + #"step "save_total" changed: input ["total"] → ["total","gen"]. Resuming"#), "\(message)")
        changed = try plan(registry, rows: 50)
        changed.steps[2] = try step(registry, "flaky", uses: "slow", inputs: ["slow"])
        let plugin = try #require(changedError(directory, changed))
        #expect(plugin.contains(#"step "flaky" changed: plugin org.test.flaky 1.0.0 → org.test.slow 1.0.0; with.every 3 → (not set). "#),
                "\(plugin)")
    }

    @Test func secretsAndEnvironmentValuesAreNeitherStoredNorShown() throws {
        let registry = try registry()
        let directory = try Fixtures.emptyDirectory("changed-secret").path
        var first = try plan(registry, rows: 20)
        first.steps[1].parameters["api_token"] = .string("sk-secret-one")
        first.steps[1].parameters["delay_ms"] = .number(1)
        first.steps[1].environmentParameters = ["delay_ms"]
        _ = try Executor.run(first, options: ExecutorOptions(runDirectory: directory), logger: Logger(label: "test"))
        for file in ["state.db", "state.db-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))) ?? Data()
            #expect(bytes.range(of: Data("sk-secret-one".utf8)) == nil, "\(file)")
        }
        var second = first
        second.steps[1].parameters["api_token"] = .string("sk-secret-two")
        second.steps[1].parameters["delay_ms"] = .number(2)
        let message = try #require(changedError(directory, second))
        #expect(message.contains(#"step "slow" changed: with.api_token or with.delay_ms (the value is not shown: a secret, or from the environment). "#),
                "\(message)")
        #expect(!message.contains("sk-secret"))
    }

    @Test func storesWithoutPartsStillResumeAndGetTheGenericMessage() throws {
        let registry = try registry()
        let directory = try Fixtures.emptyDirectory("changed-old-store").path
        _ = try Executor.run(try plan(registry, rows: 50), options: ExecutorOptions(runDirectory: directory),
                             logger: Logger(label: "test"))
        // A store as earlier versions wrote it: no parts column.
        do {
            let store = try RunStore(directory: directory)
            try store.database.execute("ALTER TABLE steps DROP COLUMN parts")
        }
        let message = try #require(changedError(directory, try plan(registry, rows: 50, every: 5)))
        #expect(message.contains(#"step "flaky" changed (its plugin, parameters, inputs, batch size or input file)"#), "\(message)")
        // The same pipeline resumes (here: is complete), and the parts are kept from then on.
        let again = try Executor.run(try plan(registry, rows: 50), options: ExecutorOptions(runDirectory: directory),
                                     logger: Logger(label: "test"))
        #expect(again.status == .succeeded)
        let detailed = try #require(changedError(directory, try plan(registry, rows: 50, every: 5)))
        #expect(detailed.contains(#"step "flaky" changed: with.every 3 → 5"#), "\(detailed)")
    }

    @Test func foreignAndNewerStoresAreRefusedWithoutTouchingThem() throws {
        let registry = try registry()
        let foreign = try Fixtures.emptyDirectory("foreign").path
        try Data("not a database at all".utf8).write(to: URL(fileURLWithPath: foreign + "/state.db"))
        #expect {
            _ = try Executor.run(try plan(registry, rows: 10), options: ExecutorOptions(runDirectory: foreign),
                                 logger: Logger(label: "test"))
        } throws: { error in
            let kind = (error as? StoreError)?.kind
            return kind == .damaged || kind == .foreign
        }
        #expect(try String(contentsOfFile: foreign + "/state.db", encoding: .utf8) == "not a database at all")

        let newer = try Fixtures.emptyDirectory("newer").path
        _ = try Executor.run(try plan(registry, rows: 10), options: ExecutorOptions(runDirectory: newer),
                             logger: Logger(label: "test"))
        let database = try SQLiteDatabase(path: newer + "/state.db", create: false)
        try database.execute("PRAGMA user_version = 99")
        database.close()
        #expect {
            _ = try Executor.run(try plan(registry, rows: 10), options: ExecutorOptions(runDirectory: newer),
                                 logger: Logger(label: "test"))
        } throws: { error in
            (error as? StoreError)?.kind == .newer && "\(error)".contains("newer pipeline")
        }
    }

    /// A kill between SQLite making the file and the schema's commit leaves
    /// an empty database (zero bytes, or WAL-mode pages with no table): the
    /// next run creates the schema and runs, where it used to refuse the run
    /// directory as "not a pipeline state database". A database with a table
    /// of someone else's is still refused, untouched.
    @Test func aStoreWhoseCreationWasCutShortIsCreatedAgain() throws {
        let registry = try registry()
        let empty = try Fixtures.emptyDirectory("cut-short-empty").path
        FileManager.default.createFile(atPath: empty + "/state.db", contents: Data())
        let walOnly = try Fixtures.emptyDirectory("cut-short-wal").path
        let started = try SQLiteDatabase(path: walOnly + "/state.db", create: true)
        try started.execute("PRAGMA page_size = 65536; PRAGMA journal_mode = WAL;")
        started.close()
        for directory in [empty, walOnly] {
            let summary = try Executor.run(try plan(registry, rows: 10), options: ExecutorOptions(runDirectory: directory),
                                           logger: Logger(label: "test"))
            #expect(summary.steps.first?.rowsOut == 10, "\(directory)")
        }

        let theirs = try Fixtures.emptyDirectory("cut-short-theirs").path
        let other = try SQLiteDatabase(path: theirs + "/state.db", create: true)
        try other.execute("CREATE TABLE notes (text TEXT)")
        other.close()
        #expect {
            _ = try Executor.run(try plan(registry, rows: 10), options: ExecutorOptions(runDirectory: theirs),
                                 logger: Logger(label: "test"))
        } throws: { error in
            (error as? StoreError)?.kind == .foreign
        }
    }

    @Test func aDamagedStoreIsRefusedAndLeftAsItIs() throws {
        let registry = try registry()
        let directory = try Fixtures.emptyDirectory("damaged").path
        _ = try Executor.run(try plan(registry, rows: 2_000), options: ExecutorOptions(runDirectory: directory),
                             logger: Logger(label: "test"))
        let path = directory + "/state.db"
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        let size = try handle.seekToEnd()
        try #require(size > 3 * 65_536)
        try handle.seek(toOffset: 65_536)  // the b-tree header of page 2
        handle.write(Data(repeating: 0xA5, count: 4096))
        try handle.close()
        let damaged = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect {
            _ = try Executor.run(try plan(registry, rows: 2_000), options: ExecutorOptions(runDirectory: directory),
                                 logger: Logger(label: "test"))
        } throws: { error in
            (error as? StoreError)?.kind == .damaged && "\(error)".contains("--fresh")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == damaged)
    }

    /// A full disk during a commit: the run fails saying so, what was
    /// committed stays, and after space is freed the same run resumes to
    /// the right result. Needs root (it mounts a small tmpfs).
    @Test(.enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
    func aFullDiskFailsCleanlyAndResumesOnceThereIsSpace() throws {
        let registry = try registry()
        let reference = try Fixtures.emptyDirectory("full-reference").path
        let rows = 20_000
        _ = try Executor.run(try plan(registry, rows: rows), options: ExecutorOptions(runDirectory: reference),
                             logger: Logger(label: "test"))
        let mountPoint = try Fixtures.emptyDirectory("full-disk").path
        let mounted = try Fixtures.run("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint])
        try #require(mounted.status == 0, "cannot mount a tmpfs: \(mounted.output)")
        defer { _ = try? Fixtures.run("/bin/umount", [mountPoint]) }
        let directory = mountPoint + "/run"

        let full = try Executor.run(try plan(registry, rows: rows), options: ExecutorOptions(runDirectory: directory),
                                    logger: Logger(label: "test"))
        #expect(full.status == .failed)
        // Whichever write meets the full disk first (a store commit, or a
        // writer's temporary file: it depends on timing) says so.
        let said = full.error ?? ""
        #expect(said.contains("disk is full") || said.contains("No space left on device"), "\(said)")

        let grown = try Fixtures.run("/bin/mount", ["-o", "remount,size=256m", mountPoint])
        try #require(grown.status == 0, "\(grown.output)")
        let resumed = try Executor.run(try plan(registry, rows: rows), options: ExecutorOptions(runDirectory: directory),
                                       logger: Logger(label: "test"))
        #expect(resumed.status == .succeeded, "\(resumed.error ?? "")")
        #expect(try lines(directory + "/rows.jsonl").sorted() == (try lines(reference + "/rows.jsonl").sorted()))
        #expect(try lines(directory + "/total.jsonl") == (try lines(reference + "/total.jsonl")))
        #expect(try lines(directory + "/errors.jsonl").sorted() == (try lines(reference + "/errors.jsonl").sorted()))
    }
}
