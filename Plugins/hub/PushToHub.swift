import Foundation
import PluginKit
import PipelineJSON
import PluginJSONLines
import PipelineRetry

/// Pushes the rows it receives to a dataset repository on the Hugging Face
/// Hub, as JSON Lines or Parquet files, while the run goes on (a sink: it emits no
/// rows).
///
/// Every `every_rows` rows (or `every_seconds`), the rows not yet pushed
/// become one new file `data/<split>-<run>-<n>.jsonl` in one commit; at
/// the end of the run the rest follows, with a dataset card (README.md)
/// and the pipeline file, secrets redacted.
///
/// Exactly once, across kills: the step is stateful, so a resumed run
/// replays its input in the same order. Before a file is pushed, the rows
/// it holds (a range of that input order) are written to the run's state
/// store (pipeline.run/1), which also makes every earlier input durable.
/// After a crash the same range gives the same bytes, and the Hub's answer
/// to preupload (the remote file's id) says whether the commit had landed.
struct PushToHub: PipelineStep {
    struct Parameters: Decodable {
        var repo_id: String
        var `private`: Bool?
        var revision: String?
        var split: String?
        var endpoint: String?
        var every_rows: Int?
        var every_seconds: Double?
        var commit_message: String?
        var mode: String?
        var format: String?
        var max_attempts: Int?
        var backoff_seconds: Double?
        var timeout_seconds: Double?
    }

    static let name = "push_to_hub"

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.push_to_hub", name: name, version: "2.1.0",
        description: """
            Pushes every row to a Hugging Face Hub dataset repository as JSON Lines or Parquet files \
            (data/<split>-<run>-<n>.jsonl, the same bytes write_jsonl writes, or .parquet): a new file every \
            every_rows rows or every_seconds seconds while the run goes on, the rest at the end, then \
            a dataset card (README.md, so datasets.load_dataset finds the split) and the pipeline file \
            with secrets redacted. Creates the repository if needed. Nothing is pushed twice or lost \
            when a killed run resumes. The token is the host's: the step names an entry of the \
            pipeline's credentials: with credential:, and the host adds it to the step's requests \
            (the plugin never sees it).
            """,
        inputs: [.init("*", "any", description: "Every column is pushed (not _row_id).")],
        outputs: [],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["repo_id"],
             "properties":{
              "repo_id":{"type":"string","pattern":"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$","maxLength":200,
                "description":"The dataset repository, owner/name; best given at run time (${HF_REPO})."},
              "private":{"type":"boolean","default":true,"description":"Create the repository private (if it does not exist)."},
              "revision":{"type":"string","default":"main","minLength":1,"description":"The branch to commit to."},
              "split":{"type":"string","default":"train","pattern":"^[A-Za-z0-9_]+$","description":"The split the files belong to."},
              "token_env":{"not":{},"description":"the token is now the host's: instead of token_env, add `credentials: {hf: {env: HF_TOKEN, host: https://huggingface.co}}` at the top level of the file and `credential: hf` to this step (docs/pushing-to-the-hub.md)"},
              "token_file":{"not":{},"description":"the token is now the host's: instead of token_file, add `credentials: {hf: {file: PATH, host: https://huggingface.co}}` at the top level of the file and `credential: hf` to this step (docs/pushing-to-the-hub.md)"},
              "token":{"not":{},"description":"a token is never written in a pipeline file: add `credentials: {hf: {env: HF_TOKEN}}` at the top level (the variable that holds it) and `credential: hf` to this step"},
              "endpoint":{"type":"string","pattern":"^https?://","description":"The Hub's URL; default: $HF_ENDPOINT, else https://huggingface.co."},
              "every_rows":{"type":"integer","minimum":1,"description":"Push a file every this many rows."},
              "every_seconds":{"type":"number","exclusiveMinimum":0,"description":"Push what has come, at least this often."},
              "mode":{"enum":["replace","append"],"default":"replace",
                "description":"replace: when the run succeeds, one commit makes this run's files the split's data (the card reads only them) and deletes earlier runs' files of the split (they stay in the branch's history); until then the card and data of the last run stay as they were. append: every run adds its files and the card reads all of them."},
              "format":{"enum":["jsonl","parquet"],"default":"jsonl",
                "description":"jsonl: the bytes write_jsonl writes; parquet: Parquet files (snappy, dictionary, statistics; what write_parquet writes), which the Hub's viewer and datasets read without converting."},
              "commit_message":{"type":"string","default":"{pipeline}: rows {first}-{last} ({file})",
                "description":"Summary of each data commit; {pipeline}, {run}, {file}, {shard}, {rows}, {first}, {last} are filled in."},
              "max_attempts":{"type":"integer","minimum":1,"default":8,"description":"Tries per request on 408, 429, 500, 502, 503, 504 and network errors."},
              "backoff_seconds":{"type":"number","minimum":0,"default":1,"description":"First wait between tries; doubles up to 8×, each wait drawn within ±50 %; at least what Retry-After or RateLimit says (up to 5 minutes)."},
              "timeout_seconds":{"type":"number","exclusiveMinimum":0,"default":300,"description":"Per request."}}}
            """,
        deterministic: false, stateful: true, usesCredential: true)

    /// What has been pushed, kept in the run's state store under "ledger".
    struct Ledger: Decodable {
        struct Shard: Decodable {
            var path: String
            /// The rows it holds: [start, end) in the order the step got them.
            var start: Int
            var end: Int
            var committed: Bool
        }
        var runKey: String
        /// When this run's push began (seconds since 1970), kept across
        /// resumes: which run is newer is decided by it, not by which
        /// finished last. Nil in ledgers stored before 2.1.0.
        var started: Double?
        var shards: [Shard] = []

        var committedEnd: Int { shards.last(where: \.committed)?.end ?? 0 }

        /// The stored form (the keys of the Codable synthesis, so ledgers
        /// stored before stay readable).
        var json: JSONValue {
            ["runKey": .string(runKey), "started": started.map { .number($0) } ?? .null, "shards": .array(shards.map { shard in
                ["path": .string(shard.path), "start": .number(Double(shard.start)), "end": .number(Double(shard.end)),
                 "committed": .bool(shard.committed)]
            })]
        }
    }

    private var client: HubClient
    private let split: String
    private let everyRows: Int?
    private let everySeconds: Double?
    private let messageTemplate: String
    private let mode: Mode
    private var ledger: Ledger
    /// Rows seen so far, replayed ones included.
    private var rowsSeen = 0
    /// The rows from `ledger.committedEnd` on, not pushed yet.
    private var pending: any PendingRows
    /// The columns of the rows pushed (the first batch's), for the card.
    private var fields: [ArrowField]?
    private var repositoryReady = false
    private var lastPush = ContinuousClock.now

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        let step = Self.name
        guard context.hasAuthenticatedHTTP, !context.runID.isEmpty else {
            throw .invalidArgument("\(step): needs a host with plugin ABI 1.3 (pipeline.http/1 with perform_authenticated, and pipeline.run/1)")
        }
        try Self.checkRepoID(parameters.repo_id)
        let environment = ProcessInfo.processInfo.environment
        var endpoint = parameters.endpoint ?? environment["HF_ENDPOINT"] ?? "https://huggingface.co"
        if endpoint.isEmpty { endpoint = "https://huggingface.co" }
        guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            throw .invalidArgument("\(step): endpoint must be an http(s) URL, got \"\(endpoint)\"")
        }
        if let rows = parameters.every_rows, rows < 1 {
            throw .invalidArgument("\(step): every_rows must be at least 1 (got \(rows))")
        }
        client = HubClient(
            settings: .init(endpoint: endpoint, repoID: parameters.repo_id, revision: parameters.revision ?? "main",
                            isPrivate: parameters.private ?? true,
                            retry: Self.retryPolicy(attempts: parameters.max_attempts ?? 8,
                                                    backoff: parameters.backoff_seconds ?? 1),
                            timeout: parameters.timeout_seconds ?? 300, step: step),
            context: context)
        split = parameters.split ?? "train"
        everyRows = parameters.every_rows
        everySeconds = parameters.every_seconds
        messageTemplate = parameters.commit_message ?? "{pipeline}: rows {first}-{last} ({file})"
        switch parameters.format ?? "jsonl" {
        case "jsonl": pending = PendingJSONLines()
        case "parquet": pending = PendingParquet()
        case let other: throw .invalidArgument("\(step): format must be jsonl or parquet, got \"\(other)\"")
        }
        switch parameters.mode ?? "replace" {
        case "replace": mode = .replace
        case "append": mode = .append
        case let other: throw .invalidArgument("\(step): mode must be replace or append, got \"\(other)\"")
        }
        if let stored = try context.state("ledger") {
            do {
                ledger = try JSONValueDecoder().decode(Ledger.self, from: String(decoding: stored, as: UTF8.self))
            } catch {
                throw .internal("\(step): the stored push ledger cannot be read (\(error)); run with --fresh to start over")
            }
        } else {
            ledger = Ledger(runKey: String(context.runID.prefix(8)))
        }
        if ledger.started == nil {
            ledger.started = Date().timeIntervalSince1970
            try saveLedger(context: context)
        }
    }

    /// "jsonl" or "parquet".
    private var fileExtension: String { type(of: pending).fileExtension }

    /// How a run's files relate to earlier runs' (see the parameter).
    enum Mode: String {
        case replace, append
    }

    /// Tries per request on 408, 429, 500, 502, 503, 504 and network
    /// errors; waits from `backoff` doubling up to 8×, each drawn within
    /// ±50 % (jitter); the server's Retry-After or RateLimit as a floor,
    /// up to five minutes.
    static func retryPolicy(attempts: Int, backoff: Double) -> RetryPolicy {
        let first = max(backoff, 0)
        return RetryPolicy(maxAttempts: max(attempts, 1), initialDelay: first, multiplier: 2, maxDelay: first * 8,
                           jitter: 0.5, maxServerDelay: 300, statuses: .transient)
    }

    static func checkRepoID(_ id: String) throws(StepError) {
        let parts = id.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let valid = parts.count == 2 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 96 && part.allSatisfy(allowed.contains)
                && !part.hasPrefix("-") && !part.hasPrefix(".") && !part.hasSuffix(".") && !part.contains("--")
                && !part.contains("..")
        }
        guard valid else {
            throw .invalidArgument("\(name): repo_id must be owner/name (letters, digits, '-', '_', '.'), got \"\(id)\"")
        }
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        client.context = context
        if context.isCancelled { throw StepError(status: pipeline_status(PIPELINE_CANCELLED), "\(Self.name): cancelled") }
        try prepareRepository()
        // Only rows of earlier calls are pushed: writing the ledger makes
        // their consumption durable, so a resumed run replays them in the
        // same order. This call's rows wait for the next one.
        try pushDue(final: false, context: context)
        if fields == nil { fields = batch.fields.filter { $0.name != "_row_id" && $0.name != "_error" } }
        // Rows pushed before this run resumed are skipped.
        let skip = min(max(ledger.committedEnd - rowsSeen, 0), batch.length)
        try pending.append(batch, from: skip, step: Self.name)
        rowsSeen += batch.length
        return nil
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        client.context = context
        try prepareRepository()
        try pushDue(final: true, context: context)
        let card = HubFile(path: "README.md", bytes: Array(datasetCard(context: context, complete: true).utf8))
        var files = [card]
        let pipeline = context.pipelineText
        if !pipeline.isEmpty { files.append(HubFile(path: "pipeline.yaml", bytes: Array(pipeline.utf8))) }
        let summary = mode == .replace
            ? "\(context.pipelineName): run \(ledger.runKey) becomes the \(split) split (dataset card, pipeline file)"
            : "\(context.pipelineName): dataset card and pipeline file"
        var deleted: [String] = []
        var newer: RunStamp?
        let commit = try client.push(files, summary: summary, description: "run \(ledger.runKey)") { parent throws(StepError) in
            newer = try newerRun(at: parent)
            deleted = []
            if newer != nil { return (Set(files.map(\.path)), []) }
            if mode == .replace { deleted = try otherRunsFiles(at: parent) }
            return ([], deleted)
        }
        if let newer {
            context.log(.warning, "\(Self.name): \(client.settings.repoID) already holds the data of run \(newer.id), which started after this one (\(RunStamp.text(newer.started)) against \(RunStamp.text(ledger.started ?? 0))): its card is left as it is\(mode == .replace ? "; this run's files stay in data/ but the card does not read them" : "")")
        } else if let commit {
            context.log(.info, "\(Self.name): dataset card pushed to \(client.settings.repoID) (commit \(commit.prefix(12)))\(deleted.isEmpty ? "" : "; \(deleted.count) file\(deleted.count == 1 ? "" : "s") of earlier runs deleted")")
        }
        context.log(.info, "\(Self.name): \(ledger.committedEnd) rows in \(ledger.shards.count) file\(ledger.shards.count == 1 ? "" : "s") on \(client.settings.repoID)")
        return nil
    }

    private mutating func prepareRepository() throws(StepError) {
        guard !repositoryReady else { return }
        try client.createRepository()
        repositoryReady = true
    }

    /// Pushes the files that are due: first one a crashed run had begun,
    /// then new ones by every_rows / every_seconds, or (final) the rest.
    private mutating func pushDue(final: Bool, context: StepContext) throws(StepError) {
        while true {
            if let open = ledger.shards.last, !open.committed {
                // Begun before a crash: the same rows again, once replayed.
                guard pending.count >= open.end - open.start else { return }
                try pushOpenShard(context: context)
                continue
            }
            let available = pending.count
            var take = 0
            if let rows = everyRows, available >= rows {
                take = rows
            } else if let seconds = everySeconds, available > 0, ContinuousClock.now - lastPush >= .seconds(seconds) {
                take = available
            } else if final {
                take = available
            }
            guard take > 0 else { return }
            let start = ledger.committedEnd
            let path = "data/\(split)-\(ledger.runKey)-\(String(format: "%05d", ledger.shards.count)).\(fileExtension)"
            ledger.shards.append(.init(path: path, start: start, end: start + take, committed: false))
            try saveLedger(context: context)
            try pushOpenShard(context: context)
        }
    }

    /// Pushes the last shard of the ledger (recorded, not yet committed).
    private mutating func pushOpenShard(context: StepContext) throws(StepError) {
        guard let index = ledger.shards.indices.last else { return }
        let shard = ledger.shards[index]
        let count = shard.end - shard.start
        let bytes = try pending.file(rows: count, step: Self.name)
        let summary = commitMessage(shard: shard, number: index, context: context)
        var files = [HubFile(path: shard.path, bytes: bytes)]
        // append: the card reads every run's files, so it may say so now;
        // replace: the last run's card and data stay until this run succeeds.
        if mode == .append {
            files.append(HubFile(path: "README.md", bytes: Array(datasetCard(context: context, complete: false).utf8)))
        }
        let commit = try client.push(files, summary: summary,
                                     description: "run \(ledger.runKey), rows \(shard.start)..<\(shard.end)") { parent throws(StepError) in
            guard mode == .append, try newerRun(at: parent) != nil else { return ([], []) }
            return (["README.md"], [])
        }
        context.log(.info, "\(Self.name): \(commit == nil ? "already on the Hub" : "pushed") \(shard.path) (\(count) rows)\(commit.map { ", commit \($0.prefix(12))" } ?? "")")
        ledger.shards[index].committed = true
        try saveLedger(context: context)
        pending.removeFirst(count)
        lastPush = .now
    }

    private func saveLedger(context: StepContext) throws(StepError) {
        try context.setState("ledger", Array(ledger.json.serialized.utf8))
    }

    private func commitMessage(shard: Ledger.Shard, number: Int, context: StepContext) -> String {
        let values: [String: String] = [
            "pipeline": context.pipelineName.isEmpty ? "pipeline" : context.pipelineName, "run": ledger.runKey,
            "file": shard.path, "shard": String(number), "rows": String(shard.end - shard.start),
            "first": String(shard.start), "last": String(max(shard.end - 1, shard.start)),
        ]
        var message = messageTemplate
        for (key, value) in values { message = message.replacingOccurrences(of: "{\(key)}", with: value) }
        return message
    }

    /// README.md: YAML front matter that tells `datasets` where the split's
    /// files are, and a short account of the run.
    private func datasetCard(context: StepContext, complete: Bool) -> String {
        let pipeline = context.pipelineName.isEmpty ? "a pipeline" : "`\(context.pipelineName)`"
        let status = complete
            ? "complete: \(ledger.committedEnd) rows in \(ledger.shards.count) file\(ledger.shards.count == 1 ? "" : "s")"
            : "in progress (files are added as rows are made)"
        let started = RunStamp.text(ledger.started ?? 0)
        let files: String
        let runs: String
        switch mode {
        case .replace:
            files = "data/\(split)-\(ledger.runKey)-*.\(fileExtension)"
            runs = "- Run: `\(ledger.runKey)` (started \(started)), \(status). The \(split) split is this run's output alone (`mode: replace`): earlier runs' files were deleted in the commit that made it so, and stay in the repository's history."
        case .append:
            files = "data/\(split)-*.\(fileExtension)"
            runs = "- This card was written by run `\(ledger.runKey)` (started \(started)), \(status). The \(split) split reads the files of every run (`mode: append`)."
        }
        return """
            ---
            configs:
            - config_name: default
              data_files:
              - split: \(split)
                path: \(files)
            tags:
            - synthetic
            pipeline_run:
              id: \(ledger.runKey)
              started: \(started)
              mode: \(mode.rawValue)
            ---
            # \(client.settings.repoID)

            Rows made by \(pipeline) with [pipeline](https://example.invalid/pipeline) and pushed as \(fileExtension == "parquet" ? "Parquet" : "JSON Lines") \
            while it ran.

            \(runs)
            - Format: \(fields.map(DatasetFormat.describe) ?? "not known (no rows reached this run's push)").
            - Columns: \(fields.map { $0.isEmpty ? "none" : $0.map { "`\($0.name)`" }.joined(separator: ", ") } ?? "not known").
            - Files: `data/\(split)-<run>-<n>.\(fileExtension)`.
            - The pipeline file, secrets redacted: `pipeline.yaml`.

            """
    }

    /// The run whose card the branch holds at `parent`, if it is another
    /// run that started after this one (a resumed older run must not put
    /// its card, or its data, over a newer run's).
    private func newerRun(at parent: String) throws(StepError) -> RunStamp? {
        guard let ours = ledger.started, let bytes = try client.readFile("README.md", at: parent),
              let theirs = RunStamp(card: String(decoding: bytes, as: UTF8.self)),
              theirs.id != ledger.runKey, theirs.started > ours else { return nil }
        return theirs
    }

    /// The files of this split that earlier runs pushed (`data/<split>-<run>-<n>.<ext>`, another run's key).
    private func otherRunsFiles(at parent: String) throws(StepError) -> [String] {
        let prefix = "data/\(split)-"
        return try client.listFiles(under: "data", at: parent).filter { path in
            guard path.hasPrefix(prefix) else { return false }
            let rest = path.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-") else { return false }
            return rest[..<dash] != ledger.runKey
        }
    }
}

/// A run as a dataset card names it in its front matter (`pipeline_run:`).
struct RunStamp {
    var id: String
    var started: Double

    /// Reads `pipeline_run: {id, started}` from a card's front matter; nil
    /// when the card has none (a card of another tool, or of push_to_hub
    /// before 2.1.0).
    init?(card: String) {
        let lines = card.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard lines.first == "---", let end = lines.dropFirst().firstIndex(of: "---"),
              let block = lines[1..<end].firstIndex(of: "pipeline_run:") else { return nil }
        var id: String?
        var started: Double?
        for line in lines[(block + 1)..<end] {
            if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
            if line.hasPrefix("started: ") { started = Self.parse(String(line.dropFirst(9))) }
            if !line.hasPrefix("id: ") && !line.hasPrefix("started: ") && !line.hasPrefix("mode: ") { break }
        }
        guard let id, let started else { return nil }
        self.id = id
        self.started = started
    }

    /// UTC, to the second: 2026-12-05T18:00:00Z.
    static func text(_ seconds: Double) -> String {
        formatter().string(from: Date(timeIntervalSince1970: seconds.rounded(.down)))
    }

    static func parse(_ text: String) -> Double? {
        formatter().date(from: text)?.timeIntervalSince1970
    }

    private static func formatter() -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter
    }
}
