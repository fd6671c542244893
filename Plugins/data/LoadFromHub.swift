import Foundation
import ParquetFormat
import PipelineJSON
import PipelineRetry
import PluginKit
import PluginParquet

/// Loads one split of a dataset repository on the Hugging Face Hub.
///
/// The revision is pinned to a commit first (and that commit kept in the
/// run's state, so a resumed run reads the same files even if the branch
/// moved). The files come from the Hub's own Parquet conversion
/// (`refs/convert/parquet`, `{config}/{split}/NNNN.parquet`) when it is
/// there, complete and not older than the commit; otherwise the split is
/// resolved as `datasets` does (HubSplits: the card's `configs:`, else the
/// file-name conventions). Files are downloaded into HubDownloadCache and
/// read in path order: Parquet through PluginParquet, JSON Lines and CSV
/// through load_jsonl's and load_csv's readers. Every file of a split must
/// have the same columns.
struct LoadFromHub: PipelineStep {
    struct Parameters: Decodable {
        var repo_id: String
        var revision: String?
        var config: String?
        var split: String?
        var endpoint: String?
        var cache_dir: String?
        var batch_size: Int?
        var parquet_conversion: String?
        var chunk_bytes: Int?
        var max_attempts: Int?
        var backoff_seconds: Double?
        var timeout_seconds: Double?
    }

    static let name = "load_from_hub"

    static let info = StepInfo(
        kind: .generator, id: "org.pipeline.load_from_hub", name: name, version: "1.0.0",
        description: """
            Loads one split of a Hugging Face Hub dataset (Parquet, JSON Lines or CSV files). The \
            revision is pinned to its commit for the whole run (a resumed run reads the same files). \
            It reads the Hub's Parquet conversion (refs/convert/parquet) when it exists, is complete \
            for the split and is not older than the commit; otherwise it finds the split's files as \
            the datasets library does: the configs: of the dataset card (README.md), else the file-name \
            conventions (data/train-00000-of-00001.parquet, train/…, test.jsonl, …). Files are downloaded \
            in ranges into a cache (cache_dir), keyed by repository, commit and path with their etag: a \
            download that was killed resumes where it stopped, and a file already there is not \
            downloaded again (the listing is still asked for). Rows come in file order; every file of \
            the split must have the same columns. A private or gated dataset needs a token: name an \
            entry of credentials: with credential: (optional for public data).
            """,
        inputs: [],
        outputs: [.init("*", "any", description: "The columns of the split's files.")],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["repo_id"],
             "properties":{
              "repo_id":{"type":"string","pattern":"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$","maxLength":200,
                "description":"The dataset repository, owner/name (e.g. HuggingFaceH4/ultrachat_200k)."},
              "revision":{"type":"string","default":"main","minLength":1,"description":"A branch, tag or commit id."},
              "config":{"type":"string","minLength":1,"description":"The config (subset); default: the card's default config, or the only one."},
              "split":{"type":"string","default":"train","minLength":1,"description":"The split to load."},
              "endpoint":{"type":"string","pattern":"^https?://","description":"The Hub's URL; default: $HF_ENDPOINT, else https://huggingface.co."},
              "cache_dir":{"type":"string","minLength":1,"description":"Where downloads are kept (an absolute path, or ~/…); default: $PIPELINE_CACHE_DIR/hub, else $XDG_CACHE_HOME/pipeline/hub, else ~/.cache/pipeline/hub."},
              "batch_size":{"type":"integer","minimum":1,"default":1000,"description":"Rows per emitted batch."},
              "parquet_conversion":{"type":"string","enum":["auto","never"],"default":"auto",
                "description":"auto: read refs/convert/parquet when it is complete for the split and not older than the revision's commit (which must be the head of main); never: always the repository's own files."},
              "chunk_bytes":{"type":"integer","minimum":4096,"maximum":268435456,"default":8388608,"description":"Bytes per range request while downloading."},
              "max_attempts":{"type":"integer","minimum":1,"default":8,"description":"Tries per request on 408, 429, 500, 502, 503, 504 and network errors."},
              "backoff_seconds":{"type":"number","minimum":0,"default":1,"description":"First wait between tries; doubles up to 8×, each drawn within ±50 %; at least what Retry-After says (up to 5 minutes)."},
              "timeout_seconds":{"type":"number","exclusiveMinimum":0,"default":300,"description":"Per request."}}}
            """,
        deterministic: true).credentialOptional()

    /// One file of the split, downloaded.
    private struct LocalFile {
        var repoPath: String
        var localPath: String
        var format: Format
    }

    enum Format: String {
        case parquet, jsonl, csv
    }

    /// The reader of the file being read.
    private enum Reader {
        case jsonl(LoadJSONL)
        case csv(LoadCSV)
        case parquet(ParquetBatchReader)
    }

    private let parameters: Parameters
    private let endpoint: String
    private let cacheRoot: String
    private let batchSize: Int
    private let retry: RetryPolicy
    private var files: [LocalFile]?
    private var index = 0
    private var reader: Reader?
    /// The first file's columns, and which file that is.
    private var firstFields: (fields: [ArrowField], file: String)?

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        let name = Self.name
        self.parameters = parameters
        var endpoint = parameters.endpoint ?? ProcessInfo.processInfo.environment["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "https://huggingface.co"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            throw .invalidArgument("\(name): the endpoint must be an http(s) URL (got \"\(endpoint)\")")
        }
        self.endpoint = endpoint
        let parts = parameters.repo_id.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !parts.contains(where: { $0 == "." || $0 == ".." }) else {
            throw .invalidArgument("\(name): repo_id must be owner/name (got \"\(parameters.repo_id)\")")
        }
        var root = parameters.cache_dir ?? HubDownloadCache.defaultRoot()
        if root.hasPrefix("~/") { root = NSHomeDirectory() + root.dropFirst(1) }
        guard root.hasPrefix("/") else {
            throw .invalidArgument("\(name): cache_dir must be an absolute path or start with ~/ (got \"\(root)\")")
        }
        cacheRoot = root
        batchSize = try Check.batchSize(parameters.batch_size ?? 1000, step: name)
        switch parameters.parquet_conversion ?? "auto" {
        case "auto", "never": break
        case let other: throw .invalidArgument("\(name): parquet_conversion must be \"auto\" or \"never\" (got \"\(other)\")")
        }
        let attempts = parameters.max_attempts ?? 8
        let backoff = parameters.backoff_seconds ?? 1
        guard attempts >= 1, backoff >= 0 else { throw .invalidArgument("\(name): max_attempts must be ≥ 1 and backoff_seconds ≥ 0") }
        retry = RetryPolicy(maxAttempts: attempts, initialDelay: backoff, maxDelay: max(backoff * 8, 0.001),
                            jitter: 0.5, maxServerDelay: 300, statuses: .transient)
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        if files == nil { files = try prepare(context: context) }
        guard let files else { return nil }
        while index < files.count {
            if context.isCancelled { throw .cancelled(Self.name) }
            let file = files[index]
            if reader == nil { reader = try open(file, context: context) }
            let next: RecordBatch?
            do throws(StepError) {
                switch reader {
                case .jsonl(var loader):
                    next = try loader.process(nil, context: context)
                    reader = .jsonl(loader)
                case .csv(var loader):
                    next = try loader.process(nil, context: context)
                    reader = .csv(loader)
                case .parquet(let loader):
                    do throws(ParquetError) {
                        next = try loader.next(maxRows: batchSize)
                    } catch {
                        throw Self.stepError(error)
                    }
                case nil:
                    next = nil
                }
            } catch {
                throw StepError(status: error.status, "\(Self.name): \(parameters.repo_id)/\(file.repoPath) (cached as \(file.localPath)): \(error.message)")
            }
            guard let next else {
                reader = nil
                index += 1
                continue
            }
            try checkColumns(next.fields, of: file)
            return next
        }
        return nil
    }

    private func open(_ file: LocalFile, context: StepContext) throws(StepError) -> Reader {
        switch file.format {
        case .jsonl:
            return .jsonl(try LoadJSONL(parameters: LoadJSONL.Parameters(path: file.localPath, batch_size: batchSize), context: context))
        case .csv:
            return .csv(try LoadCSV(parameters: LoadCSV.Parameters(path: file.localPath, batch_size: batchSize), context: context))
        case .parquet:
            do throws(ParquetError) {
                return .parquet(try LoadParquet.reader(file.localPath, columns: nil, step: Self.name, context: context))
            } catch {
                throw Self.stepError(error)
            }
        }
    }

    /// Every file of a split has the columns of the first, with the same types.
    private mutating func checkColumns(_ fields: [ArrowField], of file: LocalFile) throws(StepError) {
        guard let first = firstFields else {
            firstFields = (fields, file.repoPath)
            return
        }
        guard first.fields.map(\.name) != fields.map(\.name) || first.fields.map(\.type) != fields.map(\.type) else { return }
        let mine = Dictionary(fields.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        let theirs = Dictionary(first.fields.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        let problem: String
        if let missing = first.fields.first(where: { mine[$0.name] == nil }) {
            problem = "column \"\(missing.name)\" is in \(first.file) but not in \(file.repoPath)"
        } else if let extra = fields.first(where: { theirs[$0.name] == nil }) {
            problem = "column \"\(extra.name)\" is in \(file.repoPath) but not in \(first.file)"
        } else if let differing = fields.first(where: { theirs[$0.name] != $0.type }) {
            problem = "column \"\(differing.name)\" is \(theirs[differing.name].map { "\($0)" } ?? "?") in \(first.file) but \(differing.type) in \(file.repoPath)"
        } else {
            problem = "the columns are in another order in \(file.repoPath) than in \(first.file)"
        }
        throw .invalidData("\(Self.name): \(parameters.repo_id): the files of one split must have the same columns: \(problem)")
    }

    // MARK: Finding and downloading the split's files

    /// What the first run chose, kept in the run's state so a resumed run
    /// reads the same commit and files.
    private struct Pinned {
        var commit: String
        /// The refs/convert/parquet commit read instead, if any.
        var conversion: String?

        var json: JSONValue { ["commit": .string(commit), "conversion": conversion.map { .string($0) } ?? .null] }

        init(commit: String, conversion: String?) {
            self.commit = commit
            self.conversion = conversion
        }

        init?(_ bytes: [UInt8]?) {
            guard let bytes, let value = try? JSONValue(parsing: String(decoding: bytes, as: UTF8.self)),
                  let commit = value["commit"]?.stringValue else { return nil }
            self.commit = commit
            conversion = value["conversion"]?.stringValue
        }
    }

    private func prepare(context: StepContext) throws(StepError) -> [LocalFile] {
        let name = Self.name
        let repoID = parameters.repo_id
        let revision = parameters.revision ?? "main"
        let split = parameters.split ?? "train"
        let repository = HubRepository(endpoint: endpoint, repoID: repoID, step: name, retry: retry,
                                       timeout: parameters.timeout_seconds ?? 300, context: context)
        let cache = HubDownloadCache(root: cacheRoot, repoID: repoID, step: name, chunkBytes: parameters.chunk_bytes ?? 8 << 20)
        let stored = Pinned((try? context.state("source")) ?? nil)
        let commit: String
        if let stored { commit = stored.commit } else { commit = try repository.commit(revision).sha }
        let listing = try repository.files(at: commit)
        guard !listing.isEmpty else { throw .invalidData("\(name): \(repoID) has no files at \(revision) (\(commit.prefix(12)))") }

        var card: String?
        if let readme = listing.first(where: { $0.path == "README.md" }) {
            let fetched = try cache.fetch(readme, commit: commit, repository: repository)
            guard let data = FileManager.default.contents(atPath: fetched.localPath) else {
                throw .io("\(name): cannot read \(fetched.localPath)")
            }
            card = String(decoding: data, as: UTF8.self)
        }
        let config = try HubSplits.choose(try HubSplits.configs(card: card, step: name), wanted: parameters.config,
                                          repo: repoID, step: name)

        var chosen: (commit: String, files: [HubEntry], origin: String)?
        if let stored {
            if let conversion = stored.conversion {
                let picked = Self.conversionSplit(try repository.files(at: conversion), config: config.name, split: split)
                guard !picked.isEmpty else {
                    throw .invalidData("\(name): \(repoID): refs/convert/parquet (\(conversion.prefix(12))), which this run started reading, no longer has \(config.name)/\(split)")
                }
                chosen = (conversion, picked, "refs/convert/parquet at \(conversion.prefix(12))")
            }
        } else if let conversion = try conversionFiles(repository, config: config.name, split: split, commit: commit,
                                                       revision: revision, context: context) {
            chosen = (conversion.commit, conversion.files, "refs/convert/parquet at \(conversion.commit.prefix(12))")
        }
        if chosen == nil {
            let splits = try HubSplits.splits(of: config, files: listing, step: name)
            guard let files = splits.first(where: { $0.split == split })?.files, !files.isEmpty else {
                let known = splits.map(\.split)
                throw .invalidArgument("\(name): \(repoID) (config \"\(config.name)\") has no split \"\(split)\"; its splits: \(known.isEmpty ? "none (no data files found)" : known.joined(separator: ", "))")
            }
            chosen = (commit, files, "\(revision) at \(commit.prefix(12))")
        }
        guard let chosen else { return [] }
        if stored == nil {
            let pinned = Pinned(commit: commit, conversion: chosen.commit == commit ? nil : chosen.commit)
            try? context.setState("source", Array(pinned.json.serialized.utf8))
        }

        var result: [LocalFile] = []
        var downloaded = 0
        var cached = 0
        var total = 0
        for entry in chosen.files {
            let format = try Self.format(of: entry.path, repo: repoID)
            let fetched = try cache.fetch(entry, commit: chosen.commit, repository: repository)
            downloaded += fetched.downloaded
            total += entry.size
            if fetched.fromCache { cached += 1 }
            result.append(LocalFile(repoPath: entry.path, localPath: fetched.localPath, format: format))
        }
        if let mixed = result.first(where: { $0.format != result[0].format }) {
            throw .invalidData("\(name): \(repoID): split \"\(split)\" mixes formats: \(result[0].repoPath) is \(result[0].format.rawValue), \(mixed.repoPath) is \(mixed.format.rawValue)")
        }
        if result.first?.format == .parquet {
            // The exact count, from the footers, for progress.
            var rows: Int64 = 0
            for file in result {
                do throws(ParquetError) { rows += try ParquetBatchReader(path: file.localPath).rowCount } catch {
                    throw StepError(status: Self.stepError(error).status, "\(name): \(repoID)/\(file.repoPath): \(Self.stepError(error).message)")
                }
            }
            context.expectRows(Int(rows))
        }
        context.log(.info, "\(name): \(repoID) config \"\(config.name)\" split \"\(split)\" from \(chosen.origin): \(result.count) file(s), \(total) bytes; downloaded \(downloaded) bytes, \(cached) file(s) already in the cache (\(cacheRoot))")
        return result
    }

    /// The conversion's commit, if it may be read: `parquet_conversion`
    /// auto, the revision is the head of main, the conversion is not older
    /// than it, and it has the split complete (no `partial-` part).
    private func conversionFiles(_ repository: HubRepository, config: String, split: String, commit: String,
                                 revision: String, context: StepContext) throws(StepError) -> (commit: String, files: [HubEntry])? {
        guard (parameters.parquet_conversion ?? "auto") == "auto" else { return nil }
        let refs = try repository.refs()
        guard let conversion = refs.parquetConversion else { return nil }
        let why: String
        if revision != "main", (try repository.commit("main")).sha != commit {
            why = "the revision is not the head of main"
        } else {
            let source = try repository.commit(commit)
            let converted = try repository.commit(conversion)
            if let sourceDate = source.date, let convertedDate = converted.date, convertedDate < sourceDate {
                why = "it is older than \(commit.prefix(12)) (\(convertedDate) < \(sourceDate))"
            } else {
                let files = try repository.files(at: conversion)
                let picked = Self.conversionSplit(files, config: config, split: split)
                if files.contains(where: { $0.path.hasPrefix("\(config)/partial-\(split)/") }) {
                    why = "its \(config)/\(split) is partial"
                } else if picked.isEmpty {
                    why = "it has no \(config)/\(split)"
                } else {
                    return (conversion, picked)
                }
            }
        }
        context.log(.info, "\(Self.name): \(parameters.repo_id): not reading refs/convert/parquet: \(why)")
        return nil
    }

    /// `{config}/{split}/NNNN.parquet` and `{config}/{split}-partK/NNNN.parquet`, in order.
    private static func conversionSplit(_ files: [HubEntry], config: String, split: String) -> [HubEntry] {
        files.filter { entry in
            let parts = entry.path.split(separator: "/")
            guard parts.count == 3, parts[0] == config, entry.path.hasSuffix(".parquet") else { return false }
            let directory = parts[1]
            return directory == split
                || (directory.hasPrefix(split + "-part") && directory.dropFirst(split.count + 5).allSatisfy(\.isNumber))
        }.sorted { a, b in
            let (x, y) = (a.path.split(separator: "/")[1], b.path.split(separator: "/")[1])
            if x != y {
                func part(_ s: Substring) -> Int { s == split ? -1 : Int(s.dropFirst(split.count + 5)) ?? Int.max }
                return part(x) < part(y)
            }
            return a.path < b.path
        }
    }

    private static func stepError(_ error: ParquetError) -> StepError {
        switch error {
        case .io(let message): return .io(message)
        default: return .invalidData(error.description)
        }
    }

    static func format(of path: String, repo: String) throws(StepError) -> Format {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        switch HubSplits.extensions(of: name).last ?? "" {
        case "parquet": return .parquet
        case "jsonl", "ndjson", "json": return .jsonl
        case "csv": return .csv
        case let other:
            throw .invalidData("\(Self.name): \(repo)/\(path): files of type \"\(other.isEmpty ? name : "." + other)\" are not supported (Parquet, JSON Lines and CSV are)")
        }
    }
}
