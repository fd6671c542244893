import Foundation
import Testing

@testable import PipelineLLMClient

/// load_from_hub against the in-project Hub test double (Tests/hub), over
/// real HTTP with the real binary and plugins: repositories seeded by the
/// official client (Tests/hub/seed_dataset.py: `datasets` push_to_hub,
/// JSON Lines by the naming conventions, a card with configs:, the
/// refs/convert/parquet branch), every split compared row by row with what
/// `datasets.load_dataset` reads from the same double.
@Suite("Load from the Hub", .serialized)
struct LoadFromHubTests {
    typealias HubServer = HubPushTests.HubServer

    private static let python = Fixtures.packageRoot.appendingPathComponent(".build/test-venv/bin/python").path
    private static let seedScript = Fixtures.packageRoot.appendingPathComponent("Tests/hub/seed_dataset.py").path

    /// The test venv has huggingface_hub and datasets (`make venv`); without
    /// it the tests have nothing to seed with and return (they fail under
    /// PIPELINE_REQUIRE_PYARROW, as `make test` sets).
    private static let venvReady: Bool = {
        FileManager.default.isExecutableFile(atPath: python)
            && (try? Spawned(python, ["-c", "import huggingface_hub, datasets"]).wait().status) == 0
    }()

    private func requireVenv() -> Bool {
        if !Self.venvReady {
            #expect(ProcessInfo.processInfo.environment["PIPELINE_REQUIRE_PYARROW"] == nil,
                    "the test venv lacks huggingface_hub/datasets: run `make venv`")
        }
        return Self.venvReady
    }

    private func seed(_ server: HubServer, _ repo: String, _ layout: String, _ extra: [String] = []) throws {
        let result = try Spawned(Self.python, [Self.seedScript, "--endpoint", server.endpoint, "--repo", repo,
                                               "--token", HubPushTests.token, layout] + extra).wait()
        try #require(result.status == 0, "seeding \(repo) (\(layout)) failed: \(result.output)")
    }

    /// The split's rows as `datasets.load_dataset` reads them from the double.
    private func datasetsRows(_ server: HubServer, _ repo: String, split: String = "train", config: String? = nil,
                              directory: URL) throws -> [Any] {
        let out = directory.appendingPathComponent("datasets-\(config ?? "default")-\(split).jsonl").path
        var arguments = [Self.seedScript, "--endpoint", server.endpoint, "--repo", repo, "--token", HubPushTests.token,
                         "read", "--split", split, "--out", out]
        if let config { arguments += ["--config", config] }
        let result = try Spawned(Self.python, arguments).wait()
        try #require(result.status == 0, "datasets could not read \(repo) \(split): \(result.output)")
        return try jsonLines(out)
    }

    private func jsonLines(_ path: String) throws -> [Any] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8))
        }
    }

    struct Run {
        var status: Int32
        var output: String
        var directory: URL
        var rows: [Any]
    }

    /// A pipeline load_from_hub → write_jsonl; `with` is the step's flow mapping body.
    private func pipeline(_ directory: URL, with: String, credential: Bool = false) throws -> String {
        let file = directory.appendingPathComponent("hub.yaml").path
        try """
            name: fromhub
            \(credential ? "credentials:\n  hf: {env: HF_TOKEN, host: \"${HF_ENDPOINT}\"}" : "")
            steps:
              - name: load
                uses: load_from_hub
                with: {\(with), cache_dir: "\(directory.appendingPathComponent("cache").path)"}\(credential ? "\n    credential: hf" : "")
                batch_size: 37
              - name: save
                uses: write_jsonl
                input: load
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func environment(_ server: HubServer, token: String? = nil) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["HF_ENDPOINT"] = server.endpoint
        environment["HF_TOKEN"] = token
        environment["NO_COLOR"] = "1"
        return environment
    }

    private func launch(_ file: String, run: String, _ environment: [String: String], fresh: Bool = true) throws -> Spawned {
        try Spawned(Fixtures.pipelineBinary, ["run", file, "--run-dir", run, "--log-format", "json"] + (fresh ? ["--fresh"] : []),
                    environment: environment)
    }

    /// Waits until a `.parquet.part` file under `partial` holds at least
    /// `bytes`, then kills `process`; the size seen (0 if it ended first).
    private func kill(_ process: Spawned, whenPartialUnder partial: URL, reaches bytes: Int) -> Int {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning {
            let parts = (FileManager.default.enumerator(atPath: partial.path)?.allObjects as? [String] ?? [])
                .filter { $0.hasSuffix(".parquet.part") }
            if let part = parts.first,
               let size = try? FileManager.default.attributesOfItem(atPath: partial.appendingPathComponent(part).path)[.size] as? Int,
               size >= bytes {
                process.kill()
                _ = process.wait()
                return size
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        _ = process.wait()
        return 0
    }

    private func load(_ server: HubServer, _ directory: URL, with: String, credential: Bool = false,
                      token: String? = nil, label: String = "run") throws -> Run {
        let file = try pipeline(directory, with: with, credential: credential)
        let run = directory.appendingPathComponent(label)
        let result = try launch(file, run: run.path, environment(server, token: token)).wait()
        let out = run.appendingPathComponent("out.jsonl").path
        let rows = result.status == 0 ? try jsonLines(out) : []
        return Run(status: result.status, output: result.output, directory: run, rows: rows)
    }

    /// The resolve and storage GETs the double answered: path, Range, status, bytes.
    private func reads(_ server: HubServer) throws -> [[String: Any]] {
        try server.stats()["reads"] as? [[String: Any]] ?? []
    }

    private func rowsEqual(_ a: [Any], _ b: [Any]) -> Bool { (a as NSArray).isEqual(to: b) }

    /// The same rows in the same order; on a failure, the counts and the
    /// first row that differs (not both arrays).
    private func expectSameRows(_ actual: [Any], _ expected: [Any], _ what: String = "",
                                sourceLocation: SourceLocation = #_sourceLocation) {
        let same = rowsEqual(actual, expected)
        var detail = "\(what) \(actual.count) rows, expected \(expected.count)"
        if !same, let index = (0..<min(actual.count, expected.count)).first(where: { !([actual[$0]] as NSArray).isEqual(to: [expected[$0]]) }) {
            detail += "; row \(index): \(actual[index]) ≠ \(expected[index])"
        }
        #expect(same, Comment(rawValue: detail), sourceLocation: sourceLocation)
    }

    // MARK: Tests

    /// A dataset `datasets` pushed itself (Parquet through LFS, a card with
    /// configs:), listed through a paginated tree, its LFS files redirected
    /// to storage: every split equals what `datasets` reads.
    @Test func parquetPushedByDatasetsLoadsExactlyAsDatasetsReadsIt() throws {
        guard requireVenv() else { return }
        try Fixtures.requireBuiltPipeline()
        let server = try HubServer(["--tree-page-size", "2", "--lfs-redirect"])
        try seed(server, "team/pushed", "parquet", ["--rows", "300"])
        let directory = try Fixtures.emptyDirectory("hub-load-parquet")
        for split in ["train", "test"] {
            let run = try load(server, directory, with: "repo_id: team/pushed, split: \(split)", label: "run-\(split)")
            try #require(run.status == 0, "\(run.output)")
            let expected = try datasetsRows(server, "team/pushed", split: split, directory: directory)
            #expect(run.rows.count == (split == "train" ? 300 : 75))
            expectSameRows(run.rows, expected, "\(split): rows differ from datasets'")
        }
        #expect(try server.counter("tree") >= 3, "the listing was paginated")
        #expect(try server.counter("cdn_get") >= 2, "the Parquet files came from storage after the redirect")
        let dataReads = try reads(server).filter { ($0["path"] as? String)?.hasPrefix("data/train-") == true }
        #expect(dataReads.contains { $0["status"] as? Int == 302 }, "resolve redirected: \(dataReads)")
    }

    /// configs: from the card: the default config (default: true), two
    /// files of one split in order, a config with data_dir, an unknown
    /// config named with the ones that exist.
    @Test func configsComeFromTheCard() throws {
        guard requireVenv() else { return }
        try Fixtures.requireBuiltPipeline()
        let server = try HubServer()
        try seed(server, "team/cards", "configs", ["--rows", "40"])
        let directory = try Fixtures.emptyDirectory("hub-load-configs")
        let english = try load(server, directory, with: "repo_id: team/cards", label: "en")
        try #require(english.status == 0, "\(english.output)")
        #expect(english.rows.count == 40)
        expectSameRows(english.rows, try datasetsRows(server, "team/cards", config: "en", directory: directory))
        let test = try load(server, directory, with: "repo_id: team/cards, split: test", label: "en-test")
        expectSameRows(test.rows, try datasetsRows(server, "team/cards", split: "test", config: "en", directory: directory))
        let french = try load(server, directory, with: "repo_id: team/cards, config: fr", label: "fr")
        try #require(french.status == 0, "\(french.output)")
        #expect(french.rows.count == 40)
        expectSameRows(french.rows, try datasetsRows(server, "team/cards", config: "fr", directory: directory))
        let missing = try load(server, directory, with: "repo_id: team/cards, config: de", label: "de")
        #expect(missing.status != 0)
        #expect(missing.output.contains("team/cards has no config \\\"de\\\"; its configs: en, fr"), "\(missing.output)")
    }

    /// No card: JSON Lines by the naming conventions (split keywords in
    /// file names; sharded names), each split as `datasets` finds it.
    @Test func conventionsWithoutACard() throws {
        guard requireVenv() else { return }
        try Fixtures.requireBuiltPipeline()
        let server = try HubServer()
        try seed(server, "team/plain", "jsonl", ["--rows", "60"])
        try seed(server, "team/shards", "jsonl-sharded", ["--rows", "81"])
        try seed(server, "team/table", "csv", ["--rows", "25"])
        let directory = try Fixtures.emptyDirectory("hub-load-conventions")
        for (repo, split) in [("team/plain", "train"), ("team/plain", "test"), ("team/shards", "train"),
                              ("team/shards", "validation"), ("team/table", "train")] {
            let run = try load(server, directory, with: "repo_id: \(repo), split: \(split)", label: "\(repo.dropFirst(5))-\(split)")
            try #require(run.status == 0, "\(run.output)")
            #expect(!run.rows.isEmpty)
            expectSameRows(run.rows, try datasetsRows(server, repo, split: split, directory: directory), "\(repo) \(split)")
        }
        let missing = try load(server, directory, with: "repo_id: team/shards, split: test", label: "none")
        #expect(missing.status != 0)
        #expect(missing.output.contains("has no split \\\"test\\\"; its splits: train, validation"), "\(missing.output)")
    }

    /// refs/convert/parquet is read when it is complete for the split, the
    /// repository's own files when it is partial (or turned off).
    @Test func theParquetConversionIsPreferredWhenComplete() throws {
        guard requireVenv() else { return }
        try Fixtures.requireBuiltPipeline()
        let server = try HubServer()
        try seed(server, "team/converted", "convert-jsonl", ["--rows", "50"])
        try seed(server, "team/partial", "parquet", ["--rows", "50", "--convert-partial"])
        let directory = try Fixtures.emptyDirectory("hub-load-convert")
        let expected = try datasetsRows(server, "team/converted", directory: directory)
        var before = try reads(server).count

        let converted = try load(server, directory, with: "repo_id: team/converted", label: "converted")
        try #require(converted.status == 0, "\(converted.output)")
        expectSameRows(converted.rows, expected)
        #expect(converted.output.contains("from refs/convert/parquet"), "\(converted.output)")
        var paths = try reads(server).dropFirst(before).compactMap { $0["path"] as? String }
        #expect(paths.contains("default/train/0000.parquet") && !paths.contains("data/train.jsonl"), "\(paths)")

        before = try reads(server).count
        let own = try load(server, directory, with: "repo_id: team/converted, parquet_conversion: never", label: "own")
        expectSameRows(own.rows, expected)
        paths = try reads(server).dropFirst(before).compactMap { $0["path"] as? String }
        #expect(paths.contains("data/train.jsonl") && !paths.contains("default/train/0000.parquet"), "\(paths)")

        before = try reads(server).count
        let partial = try load(server, directory, with: "repo_id: team/partial", label: "partial")
        try #require(partial.status == 0, "\(partial.output)")
        #expect(partial.output.contains("its default/train is partial"), "\(partial.output)")
        expectSameRows(partial.rows, try datasetsRows(server, "team/partial", directory: directory))
        paths = try reads(server).dropFirst(before).compactMap { $0["path"] as? String }
        #expect(paths.contains { $0.hasPrefix("data/train-00000-of-00001") } && !paths.contains { $0.contains("partial-train") }, "\(paths)")
    }

    /// A private repository: without a credential, the Hub's 401 said
    /// clearly; with one (optional for this step), it loads.
    @Test func aPrivateRepositoryNeedsTheCredential() throws {
        guard requireVenv() else { return }
        try Fixtures.requireBuiltPipeline()
        let server = try HubServer()
        try seed(server, "team/secret", "jsonl", ["--rows", "10", "--private"])
        let directory = try Fixtures.emptyDirectory("hub-load-private")
        let refused = try load(server, directory, with: "repo_id: team/secret", label: "refused")
        #expect(refused.status != 0)
        #expect(refused.output.contains("401 Unauthorized"), "\(refused.output)")
        #expect(refused.output.contains("credential: hf"), "\(refused.output)")
        let missingRepo = try load(server, directory, with: "repo_id: team/absent", label: "absent")
        #expect(missingRepo.output.contains("the dataset repository team/absent does not exist"), "\(missingRepo.output)")
        let allowed = try load(server, directory, with: "repo_id: team/secret", credential: true,
                               token: HubPushTests.token, label: "allowed")
        try #require(allowed.status == 0, "\(allowed.output)")
        #expect(allowed.rows.count == 10)
        #expect(!allowed.output.contains(HubPushTests.token))
    }

    /// Two files of a split with other columns: an error naming both and the column.
    @Test func filesOfASplitMustHaveTheSameColumns() throws {
        guard requireVenv() else { return }
        try Fixtures.requireBuiltPipeline()
        let server = try HubServer()
        try seed(server, "team/mixed", "mismatch")
        let directory = try Fixtures.emptyDirectory("hub-load-mismatch")
        let run = try load(server, directory, with: "repo_id: team/mixed", label: "mixed")
        #expect(run.status != 0)
        #expect(run.output.contains("column \\\"b\\\" is utf8 in data/train-0.jsonl but int64 in data/train-1.jsonl"), "\(run.output)")
    }

    /// A second run downloads nothing (it lists the repository again); a
    /// download killed half-way resumes with a Range from the partial
    /// file's size, and the rows are still exactly `datasets'`.
    @Test func theCacheServesReRunsAndResumesAKilledDownload() throws {
        guard requireVenv() else { return }
        try Fixtures.requireBuiltPipeline()
        let server = try HubServer(["--read-latency-ms", "40"])
        try seed(server, "team/big", "parquet", ["--rows", "3000", "--test-rows", "10"])
        let directory = try Fixtures.emptyDirectory("hub-load-resume")
        let file = try pipeline(directory, with: "repo_id: team/big, chunk_bytes: 16384, parquet_conversion: never")
        let partial = directory.appendingPathComponent("cache/datasets/team/big/partial")
        let first = try launch(file, run: directory.appendingPathComponent("killed").path, environment(server))
        // Kill it once part of the Parquet file is on disk.
        let killedAt = kill(first, whenPartialUnder: partial, reaches: 3 * 16384)
        try #require(killedAt > 0, "the download ended before it could be killed: \(first.output)")
        let before = try reads(server).count
        let resumed = try launch(file, run: directory.appendingPathComponent("resumed").path, environment(server)).wait()
        try #require(resumed.status == 0, "\(resumed.output)")
        let after = try reads(server).dropFirst(before).filter { ($0["path"] as? String)?.hasSuffix(".parquet") == true }
        let firstRange = after.first?["range"] as? String
        // The partial file may have grown a chunk between the size check and the kill.
        let start = firstRange.flatMap { Int($0.dropFirst(6).prefix { $0.isNumber }) } ?? 0
        #expect(start >= killedAt, "the resumed download starts at \(firstRange ?? "no range"), the partial file had \(killedAt) bytes")
        #expect(resumed.output.contains("resuming team/big/data/train-00000-of-00001"), "\(resumed.output)")
        let parquetBytes = try reads(server).filter { ($0["path"] as? String)?.hasSuffix(".parquet") == true }
            .reduce(0) { $0 + ($1["bytes"] as? Int ?? 0) }
        let size = try #require(try FileManager.default.attributesOfItem(
            atPath: directory.appendingPathComponent("cache/datasets/team/big/files").path + "/" + finalParquet(directory))[.size] as? Int)
        #expect(parquetBytes - size <= 16384, "downloaded \(parquetBytes) bytes for a \(size)-byte file: a restart, not a resume")
        let rows = try jsonLines(directory.appendingPathComponent("resumed/out.jsonl").path)
        #expect(rows.count == 3000)
        expectSameRows(rows, try datasetsRows(server, "team/big", directory: directory))

        // A re-run: listed again, nothing downloaded.
        let gets = try server.counter("resolve_get")
        let again = try launch(file, run: directory.appendingPathComponent("again").path, environment(server)).wait()
        try #require(again.status == 0, "\(again.output)")
        #expect(try server.counter("resolve_get") == gets, "a warm re-run downloads nothing")
        #expect(again.output.contains("downloaded 0 bytes, 1 file(s) already in the cache"), "\(again.output)")
        expectSameRows(try jsonLines(directory.appendingPathComponent("again/out.jsonl").path), rows)
    }

    /// A run killed while it downloads, resumed after main moved on, reads
    /// the commit it started with: the rows are the old commit's.
    @Test func aResumedRunReadsTheCommitItStartedWith() throws {
        guard requireVenv() else { return }
        try Fixtures.requireBuiltPipeline()
        let server = try HubServer(["--read-latency-ms", "40"])
        try seed(server, "team/moving", "parquet", ["--rows", "3000", "--test-rows", "10"])
        let directory = try Fixtures.emptyDirectory("hub-load-pinned")
        let expected = try datasetsRows(server, "team/moving", directory: directory)
        let file = try pipeline(directory, with: "repo_id: team/moving, chunk_bytes: 16384, parquet_conversion: never")
        let run = directory.appendingPathComponent("run").path
        let first = try launch(file, run: run, environment(server))
        let killedAt = kill(first, whenPartialUnder: directory.appendingPathComponent("cache/datasets/team/moving/partial"),
                            reaches: 2 * 16384)
        try #require(killedAt > 0, "the download ended before it could be killed")
        try seed(server, "team/moving", "parquet", ["--rows", "50", "--test-rows", "10", "--seed", "2"])
        let moved = try datasetsRows(server, "team/moving", directory: directory)
        try #require(!rowsEqual(moved, expected), "main moved to other rows")
        let resumed = try launch(file, run: run, environment(server), fresh: false).wait()
        try #require(resumed.status == 0, "\(resumed.output)")
        let rows = try jsonLines(run + "/out.jsonl")
        #expect(rows.count == 3000)
        expectSameRows(rows, expected, "the resumed run read the commit it started with")
    }

    /// `{commit}/data/train-00000-of-00001-….parquet` under the cache's files/.
    private func finalParquet(_ directory: URL) throws -> String {
        let files = directory.appendingPathComponent("cache/datasets/team/big/files").path
        let all = FileManager.default.enumerator(atPath: files)?.allObjects as? [String] ?? []
        return try #require(all.first { $0.hasSuffix(".parquet") && $0.contains("/data/train-") })
    }
}
