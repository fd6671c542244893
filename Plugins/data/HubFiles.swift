import Foundation
import PipelineJSON
import PipelineRetry
import PluginKit

/// One file of a dataset repository at one commit, as the tree listing
/// gives it.
struct HubEntry: Sendable {
    var path: String
    /// The real size (LFS files included).
    var size: Int
    /// What the Hub's resolve answers as its etag: the sha256 of an LFS
    /// file, the git blob sha1 of a regular one.
    var etag: String
}

/// The read side of the Hub's HTTP API for one dataset repository, over
/// the host's HTTP service, with the step's credential when the pipeline
/// file names one (the host adds it; public data needs none):
///
///     GET /api/datasets/{repo}/revision/{rev}         the commit a revision points at
///     GET /api/datasets/{repo}/tree/{sha}?recursive=true&expand=false   (paginated: Link rel="next")
///     GET /api/datasets/{repo}/refs                   branches and refs/convert/parquet
///     GET /datasets/{repo}/resolve/{sha}/{path}       with Range; LFS files may redirect (HubDownloadCache)
///
/// Transient failures (408, 429, 5xx, no answer) are retried with
/// PipelineRetry's policy; anything else is an error that says what exists.
struct HubRepository {
    let endpoint: String
    let repoID: String
    let step: String
    let retry: RetryPolicy
    let timeout: Double
    /// Valid during one call: set anew by the step for every call.
    var context: StepContext

    struct Commit {
        var sha: String
        /// The commit's date as the Hub writes it (ISO 8601), if it said.
        var date: String?
    }

    // MARK: URLs

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// A revision as one path segment: `refs/convert/parquet` → `refs%2Fconvert%2Fparquet`.
    static func quoteSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// A file path, each segment quoted, `/` kept.
    static func quotePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { quoteSegment(String($0)) }.joined(separator: "/")
    }

    func apiURL(_ tail: String) -> String { "\(endpoint)/api/datasets/\(repoID)\(tail)" }

    func resolveURL(revision: String, path: String) -> String {
        "\(endpoint)/datasets/\(repoID)/resolve/\(Self.quoteSegment(revision))/\(Self.quotePath(path))"
    }

    // MARK: Requests

    /// True if `url` goes to the Hub itself (the credential may go with it).
    func isHubURL(_ url: String) -> Bool { url == endpoint || url.hasPrefix(endpoint + "/") }

    /// One request, retried after transient failures; the last response
    /// whatever its status, or an error when none came.
    func send(_ request: HTTPRequest, what: String) throws(StepError) -> HTTPResponse {
        var attempt = 0
        while true {
            attempt += 1
            if context.isCancelled { throw .cancelled(step) }
            let wait: Double
            let result = isHubURL(request.url) ? try context.httpAuthenticated(request) : try context.http(request)
            switch result {
            case .success(let response):
                guard retry.isRetryable(status: response.status), retry.allowsRetry(afterAttempt: attempt) else { return response }
                wait = retry.delay(afterAttempt: attempt, serverDelay: Self.serverDelay(response))
                context.log(.warning, "\(step): \(what): HTTP \(response.status), retrying in \(Self.seconds(wait)) (attempt \(attempt) of \(retry.maxAttempts))")
            case .failure(.cancelled):
                throw .cancelled(step)
            case .failure(let failure):
                guard retry.allowsRetry(afterAttempt: attempt) else {
                    throw .io("\(step): \(what): \(failure.message) (\(endpoint), \(attempt) attempts)")
                }
                wait = retry.delay(afterAttempt: attempt)
                context.log(.warning, "\(step): \(what): \(failure.message), retrying in \(Self.seconds(wait)) (attempt \(attempt) of \(retry.maxAttempts))")
            }
            var left = wait
            while left > 0 {
                if context.isCancelled { throw .cancelled(step) }
                let slice = min(left, 0.2)
                usleep(UInt32(slice * 1_000_000))
                left -= slice
            }
        }
    }

    static func serverDelay(_ response: HTTPResponse) -> Double? {
        if let limit = response.header("RateLimit"), let seconds = RetryAfter.rateLimitDelay(limit) { return seconds }
        guard let value = response.header("Retry-After") else { return nil }
        return RetryAfter.delay(value, responseDate: response.header("Date"), now: Date().timeIntervalSince1970)
    }

    static func seconds(_ value: Double) -> String {
        value < 10 ? String(format: "%.1f s", value) : String(format: "%.0f s", value)
    }

    func get(_ url: String, what: String) throws(StepError) -> HTTPResponse {
        try send(HTTPRequest(method: "GET", url: url, headers: ["Accept-Encoding: identity"], timeout: timeout), what: what)
    }

    /// The error for an answer that is not the one wanted, with what the Hub said.
    func failure(_ response: HTTPResponse, _ what: String) -> StepError {
        let code = response.header("X-Error-Code")
        var detail = response.header("X-Error-Message")
            ?? (try? JSONValue(parsing: response.text))?["error"]?.stringValue ?? ""
        if detail.count > 300 { detail = String(detail.prefix(300)) + "…" }
        let said = detail.isEmpty ? "" : " (the Hub says: \(detail))"
        switch response.status {
        case 401:
            return .invalidArgument("\(step): \(what): 401 Unauthorized from \(endpoint): \(repoID) is private or gated, or the token was refused; a private dataset needs a token: add credentials: {hf: {env: HF_TOKEN, host: \"${HF_ENDPOINT:-https://huggingface.co}\"}} and credential: hf to this step\(said)")
        case 403:
            return .invalidArgument("\(step): \(what): 403 Forbidden from \(endpoint): the token may not read \(repoID) (a gated dataset whose terms were not accepted?)\(said)")
        case 404 where code == "RepoNotFound":
            return .invalidArgument("\(step): \(what): the dataset repository \(repoID) does not exist at \(endpoint) (or it is private and no token was sent)\(said)")
        default:
            return .io("\(step): \(what): HTTP \(response.status) from \(endpoint)\(code.map { " (\($0))" } ?? "")\(said)")
        }
    }

    // MARK: Listing

    /// The commit a revision (branch, tag or sha) points at. An unknown
    /// revision is an error that lists the branches.
    func commit(_ revision: String) throws(StepError) -> Commit {
        let what = "reading revision \"\(revision)\" of \(repoID)"
        let response = try get(apiURL("/revision/\(Self.quoteSegment(revision))"), what: what)
        if response.status == 404 && response.header("X-Error-Code") == "RevisionNotFound" {
            let known = (try? refs().branches) ?? []
            throw .invalidArgument("\(step): \(repoID) has no revision \"\(revision)\"; its branches: \(known.isEmpty ? "(none listed)" : known.joined(separator: ", "))")
        }
        guard response.status == 200 else { throw failure(response, what) }
        guard let object = try? JSONValue(parsing: response.text), let sha = object["sha"]?.stringValue, !sha.isEmpty else {
            throw .io("\(step): \(what): the Hub's answer has no commit id (sha)")
        }
        return Commit(sha: sha, date: object["lastModified"]?.stringValue)
    }

    struct Refs {
        var branches: [String]
        /// `refs/convert/parquet`'s commit, if the repository has one.
        var parquetConversion: String?
    }

    func refs() throws(StepError) -> Refs {
        let what = "listing the branches of \(repoID)"
        let response = try get(apiURL("/refs"), what: what)
        guard response.status == 200 else { throw failure(response, what) }
        guard let object = try? JSONValue(parsing: response.text) else { throw .io("\(step): \(what): the answer is not JSON") }
        let branches = (object["branches"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let conversion = (object["converts"]?.arrayValue ?? []).first {
            $0["ref"]?.stringValue == "refs/convert/parquet" || $0["name"]?.stringValue == "parquet"
        }?["targetCommit"]?.stringValue
        return Refs(branches: branches, parquetConversion: conversion)
    }

    /// Every file at `sha`, following the listing's `Link: <…>; rel="next"` pages.
    func files(at sha: String) throws(StepError) -> [HubEntry] {
        var url: String? = apiURL("/tree/\(Self.quoteSegment(sha))?recursive=true&expand=false")
        var entries: [HubEntry] = []
        var pages = 0
        while let next = url {
            pages += 1
            let what = "listing the files of \(repoID) at \(sha.prefix(12)) (page \(pages))"
            let response = try get(next, what: what)
            guard response.status == 200 else { throw failure(response, what) }
            guard let items = (try? JSONValue(parsing: response.text))?.arrayValue else {
                throw .io("\(step): \(what): the answer is not a JSON array")
            }
            for item in items where item["type"]?.stringValue == "file" {
                guard let path = item["path"]?.stringValue, let size = item["size"]?.int64Value,
                      let oid = item["lfs"]?["oid"]?.stringValue ?? item["oid"]?.stringValue else {
                    throw .io("\(step): \(what): a file entry lacks path, size or oid: \(item.serialized.prefix(200))")
                }
                entries.append(HubEntry(path: path, size: Int(size), etag: oid))
            }
            url = response.headerLines.lazy.filter { $0.name.lowercased() == "link" }
                .compactMap { Self.nextLink($0.value) }.first
            if let link = url, link.hasPrefix("/") { url = endpoint + link }
        }
        return entries.sorted { $0.path < $1.path }
    }

    /// The `rel="next"` target of a Link header value, if any.
    static func nextLink(_ value: String) -> String? {
        for part in value.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let target = pieces.first, target.hasPrefix("<"), target.hasSuffix(">") else { continue }
            let isNext = pieces.dropFirst().contains { piece in
                let compact = piece.replacingOccurrences(of: " ", with: "").lowercased()
                return compact == "rel=\"next\"" || compact == "rel=next"
            }
            if isNext { return String(target.dropFirst().dropLast()) }
        }
        return nil
    }
}

// MARK: - Configs and splits

/// One config of a dataset: its splits and their files.
struct HubConfig {
    var name: String
    /// Split name → file patterns (relative to the repository root), or nil
    /// for the automatic patterns under `dataDir`.
    var dataFiles: [(split: String, patterns: [String])]?
    var dataDir: String?
    var isDefault: Bool
}

/// How `datasets` maps a repository to configs and splits (huggingface/datasets
/// load.py, data_files.py, utils/metadata.py), the subset a loader needs:
/// the `configs:` of the card's YAML front matter, else the file-name
/// conventions. Files and directories starting with `.` (and directories
/// starting with `__`) are skipped unless a pattern names them.
enum HubSplits {
    static let ignoredNames: Set<String> = ["README.md", "config.json", "dataset_info.json", "dataset_infos.json",
                                            "dummy_data.zip", "dataset_dict.json"]
    static let keywords: [(split: String, words: [String])] = [
        ("train", ["train", "training"]), ("validation", ["validation", "valid", "dev", "val"]),
        ("test", ["test", "testing", "eval", "evaluation"]),
    ]
    /// Extensions `datasets` reads; a file with another one is not data.
    static let dataExtensions: Set<String> = ["parquet", "jsonl", "json", "ndjson", "csv", "tsv", "txt", "arrow",
                                              "geoparquet", "gz", "zst", "bz2", "xz", "zip", "lz4", "tar", "lance",
                                              "npz", "npy", "h5", "hdf5", "webdataset", "xml", "sql", "mp3", "wav",
                                              "flac", "png", "jpg", "jpeg", "pdf", "mp4", "eval"]

    /// The configs the card declares, or one config "default" with the
    /// automatic patterns.
    static func configs(card: String?, step: String) throws(StepError) -> [HubConfig] {
        guard let card, let block = CardYAML.configsBlock(card) else {
            return [HubConfig(name: "default", dataFiles: nil, dataDir: nil, isDefault: true)]
        }
        let node: CardYAML.Node
        do throws(CardYAML.Failure) { node = try CardYAML.parse(block) } catch {
            throw .invalidData("\(step): README.md: the configs: block of the card's YAML: \(error.message)")
        }
        guard case .list(let items) = node["configs"] ?? .null else {
            throw .invalidData("\(step): README.md: configs: must be a list of configs")
        }
        var configs: [HubConfig] = []
        for (index, item) in items.enumerated() {
            let place = "README.md: configs[\(index)]"
            guard let name = item["config_name"]?.text, !name.isEmpty else {
                throw .invalidData("\(step): \(place): config_name is missing")
            }
            var config = HubConfig(name: name, dataFiles: nil, dataDir: item["data_dir"]?.text,
                                   isDefault: item["default"]?.text?.lowercased() == "true")
            if let files = item["data_files"] {
                config.dataFiles = try dataFiles(files, place: "\(place) (\(name)).data_files", step: step)
            }
            configs.append(config)
        }
        guard !configs.isEmpty else { throw .invalidData("\(step): README.md: configs: is empty") }
        return configs
    }

    private static func dataFiles(_ node: CardYAML.Node, place: String, step: String) throws(StepError) -> [(split: String, patterns: [String])] {
        func patterns(_ value: CardYAML.Node) throws(StepError) -> [String] {
            switch value {
            case .scalar(let text): return [text]
            case .list(let items):
                var out: [String] = []
                for item in items {
                    guard case .scalar(let text) = item else { throw .invalidData("\(step): \(place): a path must be a string") }
                    out.append(text)
                }
                return out
            default: throw .invalidData("\(step): \(place): path must be a string or a list of strings")
            }
        }
        switch node {
        case .scalar(let text): return [("train", [text])]
        case .map(let pairs):
            var out: [(split: String, patterns: [String])] = []
            for (key, value) in pairs { out.append((key, try patterns(value))) }
            return out
        case .list(let items):
            if items.allSatisfy({ if case .scalar = $0 { true } else { false } }) { return [("train", try patterns(node))] }
            var out: [(split: String, patterns: [String])] = []
            for item in items {
                guard let split = item["split"]?.text, let path = item["path"] else {
                    throw .invalidData("\(step): \(place): each entry needs split: and path:")
                }
                out.append((split, try patterns(path)))
            }
            return out
        case .null: throw .invalidData("\(step): \(place): is empty")
        }
    }

    /// The config `wanted` names, or the default one (the only one, else
    /// the one called "default", else the one marked `default: true`).
    static func choose(_ configs: [HubConfig], wanted: String?, repo: String, step: String) throws(StepError) -> HubConfig {
        let names = configs.map(\.name).joined(separator: ", ")
        if let wanted {
            guard let config = configs.first(where: { $0.name == wanted }) else {
                throw .invalidArgument("\(step): \(repo) has no config \"\(wanted)\"; its configs: \(names)")
            }
            return config
        }
        if configs.count == 1 { return configs[0] }
        if let config = configs.first(where: { $0.name == "default" }) { return config }
        let marked = configs.filter(\.isDefault)
        if marked.count == 1 { return marked[0] }
        throw .invalidArgument("\(step): \(repo) has several configs and \(marked.isEmpty ? "none is" : "more than one is") the default: name one with config: (\(names))")
    }

    /// Split name → its files, in path order, for `config` among `files`.
    static func splits(of config: HubConfig, files: [HubEntry], step: String) throws(StepError) -> [(split: String, files: [HubEntry])] {
        let base = config.dataDir.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "/")) } ?? ""
        func under(_ pattern: String) -> String { base.isEmpty ? pattern : base + "/" + pattern }
        if let declared = config.dataFiles {
            var out: [(split: String, files: [HubEntry])] = []
            for (split, patterns) in declared {
                var matched: [HubEntry] = []
                for pattern in patterns {
                    guard !pattern.contains("://") else {
                        throw .invalidData("\(step): README.md: config \"\(config.name)\": a data file outside the repository (\(pattern)) is not supported")
                    }
                    let glob = Glob(under(pattern))
                    let hits = files.filter { glob.matches($0.path) && (glob.namesHidden || !isHidden($0.path)) }
                    guard !hits.isEmpty else {
                        throw .invalidData("\(step): README.md: config \"\(config.name)\", split \"\(split)\": no file matches \(under(pattern))")
                    }
                    matched += hits.filter { hit in !matched.contains { $0.path == hit.path } }
                }
                out.append((split, matched.sorted { $0.path < $1.path }))
            }
            return out
        }
        let candidates = files.filter { entry in
            let relative = base.isEmpty ? entry.path : (entry.path.hasPrefix(base + "/") ? String(entry.path.dropFirst(base.count + 1)) : "")
            guard !relative.isEmpty, !isHidden(relative) else { return false }
            let name = relative.split(separator: "/").last.map(String.init) ?? relative
            guard !ignoredNames.contains(name) else { return false }
            return dataExtensions.contains(Self.extensions(of: name).last ?? "")
        }
        return conventionalSplits(candidates, base: base)
    }

    private static func isHidden(_ path: String) -> Bool {
        let parts = path.split(separator: "/")
        return parts.contains { $0.hasPrefix(".") } || parts.dropLast().contains { $0.hasPrefix("__") }
    }

    /// `a.tar.gz` → ["tar", "gz"] (lowercased).
    static func extensions(of name: String) -> [String] {
        Array(name.lowercased().split(separator: ".", omittingEmptySubsequences: false).dropFirst().map(String.init))
    }

    /// The first rule that matches any file wins: sharded names
    /// (`data/{split}-00000-of-00001.*`), a split keyword in a directory
    /// name, in a file name, else everything is `train`.
    private static func conventionalSplits(_ files: [HubEntry], base: String) -> [(split: String, files: [HubEntry])] {
        let prefix = base.isEmpty ? "" : base + "/"
        func order(_ a: String, _ b: String) -> Bool {
            let known = ["train", "validation", "test"]
            switch (known.firstIndex(of: a), known.firstIndex(of: b)) {
            case let (x?, y?): return x < y
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a < b
            }
        }
        let sharded = Glob(prefix + "data/*-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]*.*")
        var bySplit: [String: [HubEntry]] = [:]
        for file in files where sharded.matches(file.path) {
            let name = String(file.path.dropFirst(prefix.count + 5))
            guard let range = name.range(of: #"-[0-9]{5}-of-[0-9]{5}"#, options: .regularExpression) else { continue }
            let split = String(name[..<range.lowerBound])
            guard split.range(of: #"^\w+(\.\w+)*$"#, options: .regularExpression) != nil else { continue }
            bySplit[split, default: []].append(file)
        }
        if !bySplit.isEmpty {
            return bySplit.keys.sorted(by: order).map { ($0, bySplit[$0] ?? []) }
        }
        let sep = "[-._ 0-9]"
        let rules: [[String]] = [
            ["**/{kw}/**", "**/{kw}\(sep)*/**", "**/*\(sep){kw}/**", "**/*\(sep){kw}\(sep)*/**"],
            ["**/{kw}\(sep)*", "**/*\(sep){kw}\(sep)*"],
        ]
        for rule in rules {
            var found: [(split: String, files: [HubEntry])] = []
            for (split, words) in keywords {
                let globs = words.flatMap { word in rule.map { Glob(prefix + $0.replacingOccurrences(of: "{kw}", with: word)) } }
                let hits = files.filter { file in globs.contains { $0.matches(file.path) } }
                if !hits.isEmpty { found.append((split, hits)) }
            }
            if !found.isEmpty { return found }
        }
        return files.isEmpty ? [] : [("train", files)]
    }
}

/// An fsspec-style glob over repository paths: `*` and `?` stay within a
/// path segment, `**` crosses them (`**/` also matches no directory),
/// `[...]` is a character class (`[!...]` negated).
struct Glob {
    let pattern: String
    private let regex: NSRegularExpression?
    /// The pattern itself names a hidden file or directory.
    let namesHidden: Bool

    init(_ pattern: String) {
        self.pattern = pattern
        namesHidden = pattern.split(separator: "/").contains { $0.hasPrefix(".") || $0.hasPrefix("__") }
        var out = "^"
        let chars = Array(pattern)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "*" {
                if i + 1 < chars.count && chars[i + 1] == "*" {
                    let atStart = i == 0 || chars[i - 1] == "/"
                    if atStart && i + 2 < chars.count && chars[i + 2] == "/" {
                        out += "(?:.*/)?"
                        i += 3
                    } else {
                        out += ".*"
                        i += 2
                    }
                    continue
                }
                out += "[^/]*"
            } else if c == "?" {
                out += "[^/]"
            } else if c == "[", let close = chars[(i + 1)...].firstIndex(of: "]"), close > i + 1 {
                var body = String(chars[(i + 1)..<close])
                if body.hasPrefix("!") { body = "^" + body.dropFirst() }
                out += "[" + body.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "[", with: "\\[") + "]"
                i = close + 1
                continue
            } else {
                out += NSRegularExpression.escapedPattern(for: String(c))
            }
            i += 1
        }
        out += "$"
        regex = try? NSRegularExpression(pattern: out)
    }

    func matches(_ path: String) -> Bool {
        guard let regex else { return path == pattern }
        return regex.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
    }
}

// MARK: - The card's YAML (the configs: block only)

/// Just enough YAML for a dataset card's `configs:` block: block mappings
/// and sequences by indentation, `- key: value` items, flow `[…]` and
/// `{…}`, plain and quoted scalars, comments. The rest of the card's front
/// matter is never parsed (it may hold YAML this reader does not know).
enum CardYAML {
    indirect enum Node {
        case null
        case scalar(String)
        case list([Node])
        case map([(String, Node)])

        subscript(key: String) -> Node? {
            if case .map(let pairs) = self { return pairs.first { $0.0 == key }?.1 }
            return nil
        }

        var text: String? { if case .scalar(let s) = self { s } else { nil } }
    }

    struct Failure: Error {
        var message: String
    }

    /// The lines of the front matter (between a first line `---` and the
    /// next `---`) that make the top-level `configs:` key, or nil.
    static func configsBlock(_ card: String) -> String? {
        var lines = card.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        if lines.first?.hasPrefix("\u{FEFF}") == true { lines[0].removeFirst() }
        guard let first = lines.first, first.trimmingCharacters(in: .whitespaces) == "---" else { return nil }
        var block: [String] = []
        var inside = false
        for line in lines.dropFirst() {
            if line.hasPrefix("---") && line.dropFirst(3).allSatisfy({ $0 == " " || $0 == "\t" }) { break }
            if line.hasPrefix("configs:") {
                inside = true
            } else if inside, let c = line.first, c != " " && c != "-" && c != "#" && c != "\t" {
                inside = false
            }
            if inside { block.append(line) }
        }
        return block.isEmpty ? nil : block.joined(separator: "\n")
    }

    private struct Line {
        var indent: Int
        var text: String
        var number: Int
    }

    static func parse(_ text: String) throws(Failure) -> Node {
        var lines: [Line] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = stripComment(String(raw))
            let trimmed = content.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            if raw.contains("\t") && raw.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t") {
                throw Failure(message: "line \(index + 1): a tab in the indentation")
            }
            lines.append(Line(indent: content.prefix(while: { $0 == " " }).count, text: trimmed, number: index + 1))
        }
        var position = 0
        return try node(&lines, &position, indent: 0)
    }

    private static func node(_ lines: inout [Line], _ i: inout Int, indent: Int) throws(Failure) -> Node {
        guard i < lines.count, lines[i].indent >= indent else { return .null }
        let level = lines[i].indent
        if isItem(lines[i].text) {
            var items: [Node] = []
            while i < lines.count, lines[i].indent == level, isItem(lines[i].text) {
                let rest = String(lines[i].text.dropFirst(1)).trimmingCharacters(in: .whitespaces)
                if rest.isEmpty {
                    i += 1
                    items.append(try node(&lines, &i, indent: level + 1))
                } else {
                    // "- key: value": the item's content is a line of its own, two columns in.
                    lines[i] = Line(indent: level + 2, text: rest, number: lines[i].number)
                    items.append(try node(&lines, &i, indent: level + 1))
                }
            }
            return .list(items)
        }
        if try splitKey(lines[i]) != nil {
            var pairs: [(String, Node)] = []
            while i < lines.count, lines[i].indent == level, let pair = try splitKey(lines[i]) {
                let (key, value) = pair
                let line = lines[i]
                i += 1
                if value.isEmpty {
                    if i < lines.count, lines[i].indent > level {
                        pairs.append((key, try node(&lines, &i, indent: level + 1)))
                    } else if i < lines.count, lines[i].indent == level, isItem(lines[i].text) {
                        pairs.append((key, try node(&lines, &i, indent: level)))
                    } else {
                        pairs.append((key, .null))
                    }
                } else {
                    pairs.append((key, try scalarOrFlow(value, line: line.number)))
                }
            }
            if i < lines.count, lines[i].indent > level {
                throw Failure(message: "line \(lines[i].number): unexpected indentation")
            }
            return .map(pairs)
        }
        let line = lines[i]
        i += 1
        return try scalarOrFlow(line.text, line: line.number)
    }

    private static func isItem(_ text: String) -> Bool { text == "-" || text.hasPrefix("- ") }

    /// `key: value` (the key plain or quoted), or nil when the line is not one.
    private static func splitKey(_ line: Line) throws(Failure) -> (String, String)? {
        let text = line.text
        guard let first = text.first, first != "[", first != "{" else { return nil }
        if first == "\"" || first == "'" {
            guard let (key, end) = quoted(Array(text), from: 0) else { return nil }
            let rest = String(Array(text)[end...]).trimmingCharacters(in: .whitespaces)
            guard rest.hasPrefix(":") else { return nil }
            return (key, String(rest.dropFirst()).trimmingCharacters(in: .whitespaces))
        }
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == ":" {
                let after = text.index(after: index)
                if after == text.endIndex || text[after] == " " {
                    return (String(text[..<index]).trimmingCharacters(in: .whitespaces),
                            String(text[after...]).trimmingCharacters(in: .whitespaces))
                }
            }
            index = text.index(after: index)
        }
        return nil
    }

    private static func stripComment(_ line: String) -> String {
        var quote: Character?
        var previous: Character = " "
        for (offset, c) in line.enumerated() {
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "#" && (previous == " " || offset == 0) {
                return String(line.prefix(offset))
            }
            previous = c
        }
        return line
    }

    private static func scalarOrFlow(_ text: String, line: Int) throws(Failure) -> Node {
        if text.hasPrefix("|") || text.hasPrefix(">") {
            throw Failure(message: "line \(line): block scalars (| and >) are not supported in configs:")
        }
        if text.hasPrefix("&") || text.hasPrefix("*") || text.hasPrefix("!") {
            throw Failure(message: "line \(line): anchors, aliases and tags are not supported in configs:")
        }
        let chars = Array(text)
        var i = 0
        let node = try flow(chars, &i, line: line, inFlow: false)
        while i < chars.count && chars[i] == " " { i += 1 }
        guard i == chars.count else { throw Failure(message: "line \(line): unexpected text after a value: \(text)") }
        return node
    }

    private static func flow(_ c: [Character], _ i: inout Int, line: Int, inFlow: Bool) throws(Failure) -> Node {
        while i < c.count && c[i] == " " { i += 1 }
        guard i < c.count else { return .null }
        if c[i] == "[" {
            i += 1
            var items: [Node] = []
            while true {
                while i < c.count && c[i] == " " { i += 1 }
                guard i < c.count else { throw Failure(message: "line \(line): an unclosed [") }
                if c[i] == "]" { i += 1; return .list(items) }
                items.append(try flow(c, &i, line: line, inFlow: true))
                while i < c.count && c[i] == " " { i += 1 }
                if i < c.count && c[i] == "," { i += 1 }
            }
        }
        if c[i] == "{" {
            i += 1
            var pairs: [(String, Node)] = []
            while true {
                while i < c.count && c[i] == " " { i += 1 }
                guard i < c.count else { throw Failure(message: "line \(line): an unclosed {") }
                if c[i] == "}" { i += 1; return .map(pairs) }
                guard case .scalar(let key) = try flow(c, &i, line: line, inFlow: true), i < c.count, c[i] == ":" else {
                    throw Failure(message: "line \(line): a flow mapping entry needs key: value")
                }
                i += 1
                pairs.append((key, try flow(c, &i, line: line, inFlow: true)))
                while i < c.count && c[i] == " " { i += 1 }
                if i < c.count && c[i] == "," { i += 1 }
            }
        }
        if c[i] == "\"" || c[i] == "'" {
            guard let (text, end) = quoted(c, from: i) else { throw Failure(message: "line \(line): an unclosed quote") }
            i = end
            return .scalar(text)
        }
        let start = i
        while i < c.count {
            if inFlow && (c[i] == "," || c[i] == "]" || c[i] == "}") { break }
            if inFlow && c[i] == ":" && (i + 1 == c.count || c[i + 1] == " ") { break }
            i += 1
        }
        let text = String(c[start..<i]).trimmingCharacters(in: .whitespaces)
        if !inFlow && (text == "~" || text == "null") { return .null }
        return .scalar(text)
    }

    /// A quoted scalar starting at `from`: its text and the index after it.
    private static func quoted(_ c: [Character], from: Int) -> (String, Int)? {
        let q = c[from]
        var out = ""
        var i = from + 1
        while i < c.count {
            if c[i] == q {
                if q == "'" && i + 1 < c.count && c[i + 1] == "'" { out.append("'"); i += 2; continue }
                return (out, i + 1)
            }
            if q == "\"" && c[i] == "\\" && i + 1 < c.count {
                let e = c[i + 1]
                switch e {
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: out.append(e)
                }
                i += 2
                continue
            }
            out.append(c[i])
            i += 1
        }
        return nil
    }
}
