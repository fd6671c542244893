import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineLLMClient
@testable import PipelineHost
@testable import PipelineSQLite

/// push_to_hub against the in-project Hub test double (Tests/hub), over real
/// HTTP, with the real binary: checkpoint commits, kill -9 and resume,
/// injected faults, the token kept out of every file, clear errors. The
/// official `huggingface_hub` + `datasets` read the result back when the
/// test venv has them (always under `make test`).
@Suite("Push to the Hub", .serialized)
struct HubPushTests {
    static let token = "hf_canaryTOKEN\(UInt32.random(in: 100_000...999_999))xyzzy"
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    /// One hub_test_server.py process on a free port.
    final class HubServer {
        let process: Spawned
        let port: Int
        var endpoint: String { "http://127.0.0.1:\(port)" }

        init(_ arguments: [String] = []) throws {
            let script = Fixtures.packageRoot.appendingPathComponent("Tests/hub/hub_test_server.py").path
            process = try Spawned("/usr/bin/env", ["python3", "-u", script, "--port", "0"] + arguments)
            let prefix = "hub-test-server listening on http://127.0.0.1:"
            let deadline = Date().addingTimeInterval(15)
            var found: Int?
            while found == nil && Date() < deadline && process.isRunning {
                if let line = process.output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) {
                    found = Int(line.dropFirst(prefix.count).prefix { $0.isNumber })
                } else {
                    Thread.sleep(forTimeInterval: 0.05)
                }
            }
            guard let found else {
                process.kill()
                _ = process.wait()
                throw FixtureError(message: "hub_test_server.py did not start: \(process.output)")
            }
            port = found
        }

        deinit {
            process.kill(SIGTERM)
            _ = process.wait()
        }

        func get(_ path: String, token: String? = HubPushTests.token) throws -> (status: Int, body: [UInt8]) {
            var headers: [String] = []
            if let token { headers.append("Authorization: Bearer \(token)") }
            let answer = HTTPEngine.shared.perform(HTTPRequest(url: endpoint + path, headers: headers, body: [],
                                                               timeout: 30, method: "GET"))
            if let failure = answer.failure { throw FixtureError(message: "GET \(path): \(failure)") }
            return (answer.status, answer.body)
        }

        func stats() throws -> [String: Any] {
            let (status, body) = try get("/_stats", token: nil)
            guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
                throw FixtureError(message: "/_stats answered \(status)")
            }
            return object
        }

        /// The commits of a dataset repository, oldest first.
        func commits(_ repo: String) throws -> [[String: Any]] {
            let repos = try stats()["repos"] as? [String: Any]
            return (repos?["dataset/\(repo)"] as? [String: Any])?["commits"] as? [[String: Any]] ?? []
        }

        func counter(_ name: String) throws -> Int {
            (try stats()["counters"] as? [String: Any])?[name] as? Int ?? -1
        }

        /// Every line of every data file on the branch head.
        func rows(_ repo: String) throws -> [String] {
            let (status, body) = try get("/api/datasets/\(repo)/tree/main/data?recursive=true")
            guard status == 200, let entries = try JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]] else {
                throw FixtureError(message: "tree of \(repo): HTTP \(status)")
            }
            var lines: [String] = []
            for entry in entries where entry["type"] as? String == "file" {
                guard let path = entry["path"] as? String else { continue }
                let file = try get("/datasets/\(repo)/resolve/main/\(path)")
                guard file.status == 200 else { throw FixtureError(message: "\(path): HTTP \(file.status)") }
                lines += String(decoding: file.body, as: UTF8.self).split(separator: "\n").map(String.init)
            }
            return lines
        }

        func file(_ repo: String, _ path: String) throws -> String? {
            let answer = try get("/datasets/\(repo)/resolve/main/\(path)")
            return answer.status == 200 ? String(decoding: answer.body, as: UTF8.self) : nil
        }
    }

    /// The credential the pushes send: the token in HF_TOKEN, scoped to the
    /// test double (HF_ENDPOINT).
    static let credentials = """
        credentials:
          hf: {env: HF_TOKEN, host: "${HF_ENDPOINT}"}
        """

    /// A directory with `rows` seed rows and a pipeline: load → slow → push
    /// (and → write_jsonl, the local copy the repo must equal). `credential`
    /// and `credentials` are written as given (nil: none).
    private func setUp(_ label: String, rows: Int, push: String, delayMs: Int = 0, batchSize: Int = 100,
                       credential: String? = "hf", credentials: String = HubPushTests.credentials) throws -> (URL, String) {
        let directory = try Fixtures.emptyDirectory(label)
        var text = ""
        for n in 0..<rows { text += #"{"n":\#(n),"text":"row \#(n) \#(String(repeating: "é", count: n % 5))"}"# + "\n" }
        try text.write(to: directory.appendingPathComponent("seed.jsonl"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("push.yaml").path
        try """
            name: hubtest
            \(credentials)
            steps:
              - name: load
                uses: load_jsonl
                with: {path: seed.jsonl}
                batch_size: \(batchSize)
              - name: slow
                uses: slow
                input: load
                with: {delay_ms: \(delayMs)}
              - name: push
                uses: push_to_hub
                input: slow\(credential.map { "\n    credential: \($0)" } ?? "")
                with:
            \(push.split(separator: "\n").map { "          " + $0 }.joined(separator: "\n"))
              - name: save
                uses: write_jsonl
                input: slow
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return (directory, file)
    }

    private func environment(_ server: HubServer, repo: String, token: String? = HubPushTests.token) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["HF_ENDPOINT"] = server.endpoint
        environment["HF_REPO"] = repo
        environment["HF_TOKEN"] = token
        environment["NO_COLOR"] = "1"
        return environment
    }

    private func launch(_ file: String, runDirectory: String, environment: [String: String], extra: [String] = []) throws -> Spawned {
        let plugins = ["--plugin-path", try Fixtures.library("Tests/Fixtures/plugins/slow.c")]
        return try Spawned(binary, ["run", file, "--run-dir", runDirectory] + plugins + extra, environment: environment)
    }

    private func localRows(_ runDirectory: String) throws -> [String] {
        try String(contentsOfFile: runDirectory + "/out.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// Each data file appears in exactly one commit.
    private func expectEachFileCommittedOnce(_ commits: [[String: Any]]) {
        var seen: [String: Int] = [:]
        for commit in commits {
            for path in commit["added"] as? [String] ?? [] where path.hasPrefix("data/") { seen[path, default: 0] += 1 }
        }
        for (path, count) in seen { #expect(count == 1, "\(path) was committed \(count) times") }
    }

    @Test func tenThousandRowsEveryThousandMakeTenCommitsThatReadBackExactly() throws {
        let server = try HubServer()
        let repo = "team/ten-k"
        let (directory, file) = try setUp("hub-10k", rows: 10_000, push: "repo_id: ${HF_REPO}\nevery_rows: 1000")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try launch(file, runDirectory: runDirectory, environment: environment(server, repo: repo)).wait()
        try #require(result.status == 0, "run failed: \(result.output)")
        let commits = try server.commits(repo)
        let dataCommits = commits.filter { ($0["added"] as? [String] ?? []).contains { $0.hasPrefix("data/") } }
        #expect(dataCommits.count >= 10, "one commit per 1000 rows: \(dataCommits.count)")
        expectEachFileCommittedOnce(commits)
        let local = try localRows(runDirectory)
        #expect(local.count == 10_000)
        #expect(try server.rows(repo).sorted() == local.sorted())
        // The card lets `datasets` find the split; the pipeline file is there.
        let card = try #require(try server.file(repo, "README.md"))
        #expect(card.hasPrefix("---\nconfigs:\n- config_name: default\n"))
        // mode: replace (the default): the card reads this run's files alone.
        let runKey = try #require(card.split(separator: "\n").first { $0.hasPrefix("  id: ") }).dropFirst(6)
        #expect(card.contains("path: data/train-\(runKey)-*.jsonl"), "\(card)")
        #expect(try server.file(repo, "pipeline.yaml")?.contains("repo_id: ${HF_REPO}") == true)
        #expect(card.contains("- Format: plain rows (no training format recognised).\n- Columns: `n`, `text`."), "\(card)")
        try readBackWithTheOfficialClient(server: server, repo: repo, expected: runDirectory + "/out.jsonl")
    }

    /// The card says which training format the rows are in.
    @Test func theCardNamesTheTrainingFormat() throws {
        let server = try HubServer()
        let cases: [(String, String, String)] = [
            ("sft", "{messages: [{role: user, content: hi}, {role: assistant, content: hello}]}",
             "- Format: SFT, conversational: `messages`, a list of {role, content} turns, as TRL's SFTTrainer reads them."),
            ("dpo", "{prompt: [{role: user, content: hi}], chosen: [{role: assistant, content: a}], rejected: [{role: assistant, content: b}]}",
             "- Format: preference pairs for DPO, conversational with an explicit prompt"),
            ("completion", "{prompt: hi, completion: hello}", "- Format: prompt-completion, standard form"),
        ]
        for (name, row, expected) in cases {
            let directory = try Fixtures.emptyDirectory("hub-format-\(name)")
            let file = directory.appendingPathComponent("push.yaml").path
            try """
                name: \(name)
                \(Self.credentials)
                steps:
                  - {name: load, uses: load_inline, with: {rows: [\(row)]}}
                  - {name: push, uses: push_to_hub, input: load, credential: hf, with: {repo_id: "team/\(name)"}}
                """.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try Spawned(binary, ["run", file, "--run-dir", directory.appendingPathComponent("run").path],
                                     environment: environment(server, repo: "team/\(name)")).wait()
            try #require(result.status == 0, "\(result.output)")
            let card = try #require(try server.file("team/\(name)", "README.md"))
            #expect(card.contains(expected), "\(card)")
        }
    }

    /// The run key a card names in its front matter (`pipeline_run: id:`).
    private func cardRun(_ server: HubServer, _ repo: String) throws -> String? {
        try server.file(repo, "README.md")?.split(separator: "\n").first { $0.hasPrefix("  id: ") }.map { String($0.dropFirst(6)) }
    }

    /// The run keys of the data files on the branch head.
    private func dataRuns(_ server: HubServer, _ repo: String) throws -> Set<String> {
        let (status, body) = try server.get("/api/datasets/\(repo)/tree/main/data?recursive=true")
        guard status == 200, let entries = try JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]] else {
            throw FixtureError(message: "tree of \(repo): HTTP \(status)")
        }
        return Set(entries.compactMap { $0["path"] as? String }.compactMap { path in
            path.split(separator: "-").dropFirst().first.map(String.init)
        })
    }

    /// The nightly job over the same input: the second night must not
    /// double the dataset. It becomes the second night's rows in one commit
    /// that adds the card and deletes the first night's files.
    @Test func aSecondNightReplacesTheFirstInOneCommit() throws {
        let server = try HubServer()
        let repo = "team/nightly"
        let (directory, file) = try setUp("hub-replace", rows: 300, push: "repo_id: ${HF_REPO}\nevery_rows: 100")
        let env = environment(server, repo: repo)
        let first = directory.appendingPathComponent("night1").path
        try #require(try launch(file, runDirectory: first, environment: env).wait().status == 0)
        let firstRun = try #require(try cardRun(server, repo))
        let commitsBefore = try server.commits(repo).count
        let second = directory.appendingPathComponent("night2").path
        let result = try launch(file, runDirectory: second, environment: env).wait()
        try #require(result.status == 0, "\(result.output)")
        let secondRun = try #require(try cardRun(server, repo))
        #expect(secondRun != firstRun)
        #expect(try dataRuns(server, repo) == [secondRun], "only the second night's files are left")
        #expect(try server.rows(repo).sorted() == (try localRows(second)).sorted(), "300 rows, not 600")
        let commits = try server.commits(repo)
        // The second night's shard commits leave the card alone; the last commit switches.
        let last = try #require(commits.last)
        let deleted = last["deleted"] as? [String] ?? []
        #expect(deleted.count == 3 && deleted.allSatisfy { $0.hasPrefix("data/train-\(firstRun)-") }, "\(deleted)")
        #expect((last["added"] as? [String] ?? []).contains("README.md"))
        for commit in commits[commitsBefore..<(commits.count - 1)] {
            #expect(!(commit["added"] as? [String] ?? []).contains("README.md"), "the card changed before the run succeeded")
        }
        #expect(result.output.contains("3 files of earlier runs deleted"), "\(result.output)")
        try readBackWithTheOfficialClient(server: server, repo: repo, expected: second + "/out.jsonl")
    }

    /// format: parquet pushes Parquet shards the card points at, which
    /// `datasets.load_dataset` reads back as the rows written locally; a
    /// killed and resumed run still pushes every row exactly once.
    @Test func parquetShardsReadBackWithDatasets() throws {
        let server = try HubServer()
        let repo = "team/parquet"
        let (directory, file) = try setUp("hub-parquet", rows: 1_000, push: "repo_id: ${HF_REPO}\nevery_rows: 300\nformat: parquet",
                                          delayMs: 5, batchSize: 70)
        let runDirectory = directory.appendingPathComponent("run").path
        let env = environment(server, repo: repo)
        let killed = try launch(file, runDirectory: runDirectory, environment: env)
        let deadline = Date().addingTimeInterval(30)
        while killed.isRunning, Date() < deadline,
              try server.commits(repo).filter({ ($0["added"] as? [String] ?? []).contains { $0.hasPrefix("data/") } }).isEmpty {
            Thread.sleep(forTimeInterval: 0.02)
        }
        killed.kill(SIGKILL)
        _ = killed.wait()
        let result = try launch(file, runDirectory: runDirectory, environment: env).wait()
        try #require(result.status == 0, "\(result.output)")
        let commits = try server.commits(repo)
        expectEachFileCommittedOnce(commits)
        let dataFiles = commits.flatMap { $0["added"] as? [String] ?? [] }.filter { $0.hasPrefix("data/") }
        #expect(!dataFiles.isEmpty && dataFiles.allSatisfy { $0.hasSuffix(".parquet") }, "\(dataFiles)")
        let card = try #require(try server.file(repo, "README.md"))
        #expect(card.contains("-*.parquet") && card.contains("pushed as Parquet"), "\(card)")
        try readBackWithTheOfficialClient(server: server, repo: repo, expected: runDirectory + "/out.jsonl")
    }

    /// mode: append keeps every night's rows, and the card says so.
    @Test func appendKeepsEveryRunsRows() throws {
        let server = try HubServer()
        let repo = "team/appended"
        let (directory, file) = try setUp("hub-append", rows: 300, push: "repo_id: ${HF_REPO}\nevery_rows: 100\nmode: append")
        let env = environment(server, repo: repo)
        for night in ["night1", "night2"] {
            let result = try launch(file, runDirectory: directory.appendingPathComponent(night).path, environment: env).wait()
            try #require(result.status == 0, "\(result.output)")
        }
        #expect(try server.rows(repo).count == 600)
        #expect(try dataRuns(server, repo).count == 2)
        let card = try #require(try server.file(repo, "README.md"))
        #expect(card.contains("path: data/train-*.jsonl") && card.contains("mode: append"), "\(card)")
    }

    /// A night killed while pushing and resumed after the next night has
    /// finished must not put its older data, or its card, over the newer.
    @Test func aResumedOlderRunLeavesANewerRunsDataAndCard() throws {
        let server = try HubServer()
        let repo = "team/late-resume"
        let (directory, file) = try setUp("hub-late", rows: 400, push: "repo_id: ${HF_REPO}\nevery_rows: 50",
                                          delayMs: 30, batchSize: 50)
        let env = environment(server, repo: repo)
        let older = directory.appendingPathComponent("older").path
        let killed = try launch(file, runDirectory: older, environment: env)
        let deadline = Date().addingTimeInterval(30)
        while killed.isRunning, Date() < deadline,
              try server.commits(repo).filter({ ($0["added"] as? [String] ?? []).contains { $0.hasPrefix("data/") } }).isEmpty {
            Thread.sleep(forTimeInterval: 0.05)
        }
        try #require(killed.isRunning, "the older run ended before it could be killed: \(killed.output)")
        killed.kill(SIGKILL)
        _ = killed.wait()
        Thread.sleep(forTimeInterval: 1.1)  // the newer run starts at least a second later
        let newer = directory.appendingPathComponent("newer").path
        try #require(try launch(file, runDirectory: newer, environment: env).wait().status == 0)
        let newerRun = try #require(try cardRun(server, repo))
        let resumed = try launch(file, runDirectory: older, environment: env).wait()
        try #require(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("which started after this one"), "\(resumed.output)")
        #expect(try cardRun(server, repo) == newerRun, "the card still names the newer run")
        #expect(try server.file(repo, "README.md")?.contains("path: data/train-\(newerRun)-*.jsonl") == true)
        // The newer run's data is intact: every one of its rows, none of the older run's files deleted it.
        let newerFiles = try server.rows(repo)
        #expect(Set(try localRows(newer)).isSubset(of: Set(newerFiles)))
    }

    /// huggingface_hub + datasets (from the test venv) read what we pushed.
    private func readBackWithTheOfficialClient(server: HubServer, repo: String, expected: String) throws {
        let python = Fixtures.packageRoot.appendingPathComponent(".build/test-venv/bin/python").path
        let available = FileManager.default.isExecutableFile(atPath: python)
            && (try? Spawned(python, ["-c", "import huggingface_hub, datasets"]).wait().status) == 0
        if !available {
            #expect(ProcessInfo.processInfo.environment["PIPELINE_REQUIRE_PYARROW"] == nil,
                    "the test venv lacks huggingface_hub/datasets: run `make venv`")
            return
        }
        var environment = ProcessInfo.processInfo.environment
        environment["HUB_TEST_TOKEN"] = Self.token
        let script = Fixtures.packageRoot.appendingPathComponent("Tests/hub/conformance.py").path
        let result = try Spawned(python, [script, "--endpoint", server.endpoint, "--repo", repo,
                                          "--expect-jsonl", expected, "--token-env", "HUB_TEST_TOKEN"],
                                 environment: environment).wait()
        #expect(result.status == 0, "the official client disagrees: \(result.output)")
    }

    @Test func killedDuringPushesAndResumedHoldsEveryRowExactlyOnce() throws {
        // A slow Hub (40 ms per preupload and commit) and some commits whose
        // answer is lost, so many kills land in the middle of a push.
        let server = try HubServer(["--write-latency-ms", "40", "--commit-lost-response-rate", "0.1", "--seed", "11"])
        let repo = "team/killed"
        let rows = 6_000
        let (directory, file) = try setUp("hub-kill", rows: rows, push: "repo_id: ${HF_REPO}\nevery_rows: 150\nbackoff_seconds: 0.05",
                                          delayMs: 25, batchSize: 50)
        let runDirectory = directory.appendingPathComponent("run").path
        let env = environment(server, repo: repo)
        var seed: UInt64 = 0x5eed_2026_1130
        var landed = 0
        var attempts = 0
        var recovered = 0
        while landed < 12 && attempts < 40 {
            attempts += 1
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let delay = 150 + Int(seed >> 33) % 500
            let process = try launch(file, runDirectory: runDirectory, environment: env)
            Thread.sleep(forTimeInterval: Double(delay) / 1000)
            if process.isRunning {
                process.kill(SIGKILL)
                landed += 1
            }
            let (status, output) = process.wait()
            // Files found already committed: a lost commit answer, or a kill after the commit.
            recovered += output.components(separatedBy: "already on the Hub").count - 1
            if status == 0 { break }  // it finished before the kill
        }
        let last = try launch(file, runDirectory: runDirectory, environment: env).wait()
        try #require(last.status == 0, "the final resume failed: \(last.output)")
        #expect(landed >= 10, "at least 10 kills while running (got \(landed))")
        let commits = try server.commits(repo)
        expectEachFileCommittedOnce(commits)
        let pushed = try server.rows(repo)
        let local = try localRows(runDirectory)
        print("hub kill/resume: \(landed) kills, \(recovered) files found already committed (after a kill or a lost answer), \(commits.count) commits, \(pushed.count) rows pushed, \(local.count) local")
        #expect(local.count == rows)
        #expect(Set(pushed).count == pushed.count, "no row twice")
        #expect(pushed.sorted() == local.sorted(), "every row exactly once")
    }

    @Test func withThirtyPercentOfUploadsAndCommitsFailingTheRepoEqualsTheLocalOutput() throws {
        let server = try HubServer(["--fault-rate", "0.3", "--retry-after", "0", "--hang-seconds", "3", "--seed", "7",
                                    "--commit-lost-response-rate", "0.1", "--force-lfs"])
        let repo = "team/faulty"
        let (directory, file) = try setUp(
            "hub-faults", rows: 3_000,
            push: "repo_id: ${HF_REPO}\nevery_rows: 200\nbackoff_seconds: 0.05\ntimeout_seconds: 1\nmax_attempts: 30")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try launch(file, runDirectory: runDirectory, environment: environment(server, repo: repo)).wait()
        try #require(result.status == 0, "run failed: \(result.output)")
        let stats = try server.stats()
        let faults = (stats["faults_injected"] as? [String: Int] ?? [:]).values.reduce(0, +)
        #expect(faults >= 10, "faults were injected: \(stats["faults_injected"] ?? "?")")
        let commits = try server.commits(repo)
        expectEachFileCommittedOnce(commits)
        #expect(try server.rows(repo).sorted() == (try localRows(runDirectory)).sorted())
    }

    @Test func theTokenIsInNoFileLogOrDatabase() throws {
        let server = try HubServer()
        let repo = "team/canary"
        let (directory, file) = try setUp("hub-canary", rows: 500, push: "repo_id: ${HF_REPO}\nevery_rows: 100")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try launch(file, runDirectory: runDirectory, environment: environment(server, repo: repo),
                                extra: ["--summary", directory.path + "/summary-out.json"]).wait()
        try #require(result.status == 0, "run failed: \(result.output)")
        #expect(!result.output.contains(Self.token))
        let canary = Array(Self.token.utf8)
        for name in try FileManager.default.subpathsOfDirectory(atPath: directory.path) {
            let path = directory.path + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            #expect(!Array(data).contains(subsequence: canary), "the token is in \(name)")
        }
        for path in ["README.md", "pipeline.yaml"] {
            #expect(try server.file(repo, path)?.contains(Self.token) == false)
        }
        #expect(try !server.rows(repo).contains { $0.contains(Self.token) })
    }

    /// The push ledger as it was stored before the plugin wrote it with
    /// PipelineJSON: Foundation's `JSONEncoder().encode(ledger)` of the
    /// Codable `Ledger` (keys in declaration order, "/" escaped as "\/").
    private struct FoundationLedger: Codable {
        struct Shard: Codable {
            var path: String
            var start: Int
            var end: Int
            var committed: Bool
        }
        var runKey: String
        var shards: [Shard]
    }

    @Test func aLedgerStoredInTheFoundationFormatStillResumes() throws {
        let server = try HubServer()
        let repo = "team/old-ledger"
        let (directory, file) = try setUp("hub-old-ledger", rows: 300, push: "repo_id: ${HF_REPO}\nevery_rows: 100")
        let runDirectory = directory.appendingPathComponent("run").path
        let env = environment(server, repo: repo)
        let first = try launch(file, runDirectory: runDirectory, environment: env).wait()
        try #require(first.status == 0, "run failed: \(first.output)")
        let pushed = try server.rows(repo)
        #expect(pushed.count == 300)

        // Today's ledger, written again the way the plugin wrote it before.
        let database = try SQLiteDatabase(path: runDirectory + "/state.db", create: false)
        func storedLedger() throws -> [UInt8]? {
            var value: [UInt8]?
            try database.prepare("SELECT value FROM step_state WHERE step = 'push' AND key = 'ledger'")
                .query { row in value = Array(row.blob(0)) }
            return value
        }
        let current = try #require(try storedLedger())
        let ledger = try JSONDecoder().decode(FoundationLedger.self, from: Data(current))
        #expect(ledger.shards.count == 3 && ledger.shards.allSatisfy(\.committed) && ledger.shards.last?.end == 300)
        let old = try JSONEncoder().encode(ledger)
        let oldText = String(decoding: old, as: UTF8.self)
        // Such as {"runKey":"…","shards":[{"path":"data\/train-…-00000.jsonl","end":100,"committed":true,"start":0},…]}
        // (keys in an order that varies from run to run, "/" escaped).
        #expect(oldText.contains(#""runKey":"\#(ledger.runKey)""#) && oldText.contains(#""path":"data\/train-"#)
                && oldText.contains(#""committed":true"#), "\(oldText)")
        try database.prepare("INSERT OR REPLACE INTO step_state (step, key, value) VALUES ('push', 'ledger', ?)")
            .run([], blob: Array(old))
        // The push step did not finish: resuming creates it, and it reads the ledger.
        try database.execute("UPDATE steps SET done = 0 WHERE name = 'push'")
        database.close()

        let resumed = try launch(file, runDirectory: runDirectory, environment: env).wait()
        try #require(resumed.status == 0, "the resume failed: \(resumed.output)")
        #expect(!resumed.output.contains("ledger cannot be read"))
        // Nothing pushed twice: the old ledger said every row was committed.
        #expect(try server.rows(repo).sorted() == pushed.sorted())
        expectEachFileCommittedOnce(try server.commits(repo))
    }

    @Test func everySecondsPushesWhatHasComeWhileTheRunGoesOn() throws {
        let server = try HubServer()
        let repo = "team/timed"
        // 40 batches of 25 rows, 40 ms each: about 1.6 s, a push at least every 0.3 s.
        let (directory, file) = try setUp("hub-seconds", rows: 1_000, push: "repo_id: ${HF_REPO}\nevery_seconds: 0.3",
                                          delayMs: 40, batchSize: 25)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try launch(file, runDirectory: runDirectory, environment: environment(server, repo: repo)).wait()
        try #require(result.status == 0, "run failed: \(result.output)")
        let commits = try server.commits(repo)
        let dataCommits = commits.filter { ($0["added"] as? [String] ?? []).contains { $0.hasPrefix("data/") } }
        #expect(dataCommits.count >= 3, "pushed while running: \(dataCommits.count) data commits")
        expectEachFileCommittedOnce(commits)
        #expect(try server.rows(repo).sorted() == (try localRows(runDirectory)).sorted())
    }

    @Test func theBundledHubPipelineValidates() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["HF_REPO"] = "someone/answers"
        let file = Fixtures.packageRoot.appendingPathComponent("pipelines/textgen-hub.yaml").path
        let result = try Spawned(binary, ["validate", file], environment: environment).wait()
        #expect(result.status == 0, "\(result.output)")
    }

    // MARK: Clear errors, nothing pushed

    private func expectRefused(_ push: String, token: String?, server: HubServer, repo: String = "team/refused",
                               status: Int32, message: String, credential: String? = "hf",
                               credentials: String = HubPushTests.credentials) throws {
        let (directory, file) = try setUp("hub-refused", rows: 300, push: push, credential: credential,
                                          credentials: credentials)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try launch(file, runDirectory: runDirectory, environment: environment(server, repo: repo, token: token)).wait()
        #expect(result.status == status, "exit \(result.status): \(result.output)")
        #expect(result.output.contains(message), "expected \"\(message)\" in: \(result.output)")
        #expect(try server.counter("commit_ok") == 0, "nothing was committed")
        if let token { #expect(!result.output.contains(token)) }
    }

    @Test func aMissingTokenIsAClearErrorAndNothingIsPushed() throws {
        let server = try HubServer()
        try expectRefused("repo_id: ${HF_REPO}", token: nil, server: server, status: 1,
                          message: #"credential \"hf\": the environment variable HF_TOKEN (env:) is not set; nothing was sent"#)
        #expect(try server.counter("create") == 0)
    }

    // MARK: The token stays in the host

    @Test func theHostSendsExactlyTheCredentialsSecret() throws {
        // The double accepts this token only: every push gets through, so
        // the host added it to each of the plugin's requests.
        let server = try HubServer(["--token", Self.token])
        let repo = "team/exact"
        let (directory, file) = try setUp("hub-exact", rows: 250, push: "repo_id: ${HF_REPO}\nevery_rows: 100")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try launch(file, runDirectory: runDirectory, environment: environment(server, repo: repo)).wait()
        try #require(result.status == 0, "run failed: \(result.output)")
        #expect(try server.rows(repo).count == 250)
        #expect(!result.output.contains(Self.token))
    }

    @Test func aCredentialFromAFileIsSentToo() throws {
        let server = try HubServer(["--token", Self.token])
        let repo = "team/from-file"
        let secrets = try Fixtures.emptyDirectory("hub-token-file")
        let tokenFile = secrets.appendingPathComponent("hf_token").path
        try (Self.token + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let (directory, file) = try setUp("hub-file", rows: 120, push: "repo_id: ${HF_REPO}",
                                          credentials: "credentials:\n  hf: {file: \"\(tokenFile)\", host: \"${HF_ENDPOINT}\"}")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try launch(file, runDirectory: runDirectory, environment: environment(server, repo: repo, token: nil)).wait()
        try #require(result.status == 0, "run failed: \(result.output)")
        #expect(try server.rows(repo).count == 120)
    }

    @Test func aCredentialScopedToAnotherHostIsNeverSent() throws {
        // The endpoint is the double; the credential may only go to the real Hub.
        let server = try HubServer()
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 1,
                          message: #"credential \"hf\" (host: https://huggingface.co) is not sent to "#
                              + "\(server.endpoint)/api/repos/create: its host 127.0.0.1 is not huggingface.co",
                          credentials: "credentials:\n  hf: {env: HF_TOKEN, host: https://huggingface.co}")
        #expect(try server.counter("create") == 0, "the request never left the host")
        // Same host, another port: refused as well.
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 1,
                          message: "its port \(server.port) is not 1, the credential's port",
                          credentials: "credentials:\n  hf: {env: HF_TOKEN, host: \"127.0.0.1:1\"}")
        #expect(try server.counter("create") == 0)
    }

    @Test func aStepThatSendsACredentialMustNameOne() throws {
        let server = try HubServer()
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 2,
                          message: #"push.yaml:13:5: error: step \"push\" uses push_to_hub, which sends requests with a credential: name the entry of credentials: it sends with credential: (hf)"#,
                          credential: nil)
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 2,
                          message: "add a credentials: section", credential: nil, credentials: "")
    }

    @Test func anUnknownCredentialIsAValidationErrorAtItsPosition() throws {
        let server = try HubServer()
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 2,
                          message: #"push.yaml:16:17: error: no credential named \"hff\" in credentials:; did you mean \"hf\"?"#,
                          credential: "hff")
    }

    @Test func theOldTokenParametersSayHowToWriteCredentials() throws {
        let server = try HubServer()
        try expectRefused("repo_id: ${HF_REPO}\ntoken_env: MY_TOKEN", token: Self.token, server: server, status: 2,
                          message: "instead of token_env, add `credentials: {hf: {env: HF_TOKEN, host: https://huggingface.co}}` at the top level of the file and `credential: hf` to this step")
        try expectRefused("repo_id: ${HF_REPO}\ntoken_file: /run/secrets/hf", token: Self.token, server: server, status: 2,
                          message: "instead of token_file, add `credentials: {hf: {file: PATH")
    }

    @Test func credentialsAreCheckedWhereTheyAreWritten() throws {
        let server = try HubServer()
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 2,
                          message: "push.yaml:3:3: error: credentials.hf: give env: or file:, not both",
                          credentials: "credentials:\n  hf: {env: HF_TOKEN, file: /dev/null}")
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 2,
                          message: "credentials.hf: say where the secret is: env:",
                          credentials: "credentials:\n  hf: {host: huggingface.co}")
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 2,
                          message: "credentials.hf.env: must be the name of an environment variable",
                          credentials: "credentials:\n  hf: {env: \"\(Self.token)\"}")
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 2,
                          message: "credentials.hf.host: must be a host name, host:port or an http(s) URL",
                          credentials: "credentials:\n  hf: {env: HF_TOKEN, host: \"https://user@huggingface.co\"}")
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 2,
                          message: "a secret is never written in a pipeline file",
                          credentials: "credentials:\n  hf: {token: \"\(Self.token)\"}")
    }

    @Test func aCredentialOnAStepThatSendsNoneIsAnError() throws {
        let directory = try Fixtures.emptyDirectory("hub-credential-elsewhere")
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: elsewhere
            credentials:
              hf: {env: HF_TOKEN}
            steps:
              - {name: load, uses: load_inline, with: {rows: [{a: 1}]}}
              - {name: save, uses: write_jsonl, input: load, credential: hf, with: {path: out.jsonl}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Spawned(binary, ["validate", file]).wait()
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("p.yaml:6:50: error: step \"save\" uses write_jsonl, which sends no credential: remove credential: hf"),
                "\(result.output)")
    }

    @Test func aRepoIdThatIsNotOwnerSlashNameIsAValidationError() throws {
        let server = try HubServer()
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, repo: "just-a-name", status: 2,
                          message: "must match the pattern")
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, repo: "a/b/c", status: 2,
                          message: "push.yaml:")
    }

    @Test func aLiteralTokenInThePipelineFileIsAValidationError() throws {
        let server = try HubServer()
        try expectRefused("repo_id: ${HF_REPO}\ntoken: hf_literalLiteralLiteralLiteral", token: Self.token, server: server,
                          status: 2, message: "is not allowed: a token is never written in a pipeline file")
    }

    @Test func a401SaysTheTokenWasRefusedAndNothingIsPushed() throws {
        let server = try HubServer(["--token", "hf_theOnlyGoodTokenOfThisServer"])
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 1,
                          message: "401 Unauthorized")
    }

    @Test func a403SaysTheTokenMayNotWriteAndNothingIsPushed() throws {
        let server = try HubServer(["--read-only-token", Self.token])
        try expectRefused("repo_id: ${HF_REPO}", token: Self.token, server: server, status: 1,
                          message: "403 Forbidden: the token may not write to team/refused")
    }

    @Test func secretsAreRedactedFromThePublishedPipelineFile() {
        let text = """
            llms:
              teacher:
                api_key: sk-live-123   # a literal, redacted
                api_key_env: OPENAI_KEY
                token: "${HF_TOKEN}"
                password: 'hunter2'
            steps:
              - {name: push, uses: push_to_hub, with: {repo_id: a/b, secret: abc, every_rows: 5}}
            """
        let redacted = PipelineRedaction.redact(text)
        #expect(!redacted.contains("sk-live-123") && !redacted.contains("hunter2") && !redacted.contains("abc,"))
        #expect(redacted.contains("api_key: \"<redacted>\" # a literal, redacted"))
        #expect(redacted.contains("api_key_env: OPENAI_KEY"))
        #expect(redacted.contains("token: \"${HF_TOKEN}\""))
        #expect(redacted.contains("secret: \"<redacted>\", every_rows: 5}"))
    }
}

private extension Array where Element == UInt8 {
    func contains(subsequence: [UInt8]) -> Bool {
        guard !subsequence.isEmpty, subsequence.count <= count else { return false }
        let first = subsequence[0]
        var index = 0
        while index <= count - subsequence.count {
            if self[index] == first && Array(self[index..<(index + subsequence.count)]) == subsequence { return true }
            index += 1
        }
        return false
    }
}
