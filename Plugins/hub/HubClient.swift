import Foundation
import PipelineHashing
import PluginKit
import PipelineJSON
import PipelineRetry

/// A file to put in a Hub repository.
struct HubFile {
    var path: String
    var bytes: [UInt8]
}

/// The Hugging Face Hub's upload protocol for one dataset repository, over
/// the host's HTTP service, every request but the presigned LFS upload
/// with the step's credential, which the host adds and the plugin never
/// sees (see docs/pushing-to-the-hub.md):
///
///     POST /api/repos/create                                  (once; 409 = exists)
///     GET  /api/datasets/{repo}/revision/{rev}                the parent commit
///     POST /api/datasets/{repo}/preupload/{rev}               regular or LFS, and the remote oid
///     POST /datasets/{repo}.git/info/lfs/objects/batch        LFS files only, then PUT and verify
///     POST /api/datasets/{repo}/commit/{rev}                  NDJSON, with parentCommit
///     GET  /api/datasets/{repo}/tree/{commit}/{dir}           files to delete (mode: replace), paginated
///     GET  /datasets/{repo}/resolve/{commit}/README.md        the card a newer run may have written
///
/// Every request but the commit is retried by `Settings.retry` (PipelineRetry:
/// 408, 429, 500, 502, 503, 504 and network errors, exponential backoff with
/// jitter, Retry-After or RateLimit as a floor). A commit is never repeated blindly: after
/// a failure whose outcome is unknown, the next attempt first asks the
/// server (preupload's remote oid) whether the files are already there.
struct HubClient {
    struct Settings {
        var endpoint: String
        var repoID: String
        var revision: String
        var isPrivate: Bool
        /// Which answers are retried, how often, after how long.
        var retry: RetryPolicy
        var timeout: Double
        var step: String
    }

    enum UploadMode { case regular, lfs }

    let settings: Settings
    /// The current call's context: set anew for every call (a context is
    /// valid only during the call it was made for).
    var context: StepContext

    private var repoPath: String { "datasets/" + settings.repoID }
    /// The revision as one path segment ("refs/pr/1" → "refs%2Fpr%2F1"):
    /// everything but RFC 3986's unreserved ASCII is escaped.
    private var quotedRevision: String {
        settings.revision.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? settings.revision
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    // MARK: Requests

    /// A failed exchange: the status (0 without a response) and what it means.
    struct Failure: Error {
        var status: Int
        var message: String
    }

    private func url(_ path: String) -> String {
        var base = settings.endpoint
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }

    private func headers(contentType: String?) -> [String] {
        contentType.map { ["Content-Type: " + $0] } ?? []
    }

    /// One exchange: with the step's credential (the host adds the token:
    /// every request to the Hub), or without (a presigned upload URL).
    private func exchange(_ request: HTTPRequest, authenticated: Bool) throws(StepError) -> Result<HTTPResponse, HTTPFailure> {
        authenticated ? try context.httpAuthenticated(request) : try context.http(request)
    }

    /// Sends `request` (with the step's credential unless `authenticated`
    /// is false); with `retrying`, again after transient failures. Returns
    /// the response of the last attempt, whatever its status, or throws
    /// when no response came at all.
    func send(_ request: HTTPRequest, retrying: Bool, what: String,
              authenticated: Bool = true) throws(StepError) -> HTTPResponse {
        let policy = settings.retry
        var attempt = 0
        while true {
            attempt += 1
            if context.isCancelled { throw StepError(status: pipeline_status(PIPELINE_CANCELLED), "\(settings.step): cancelled") }
            let wait: Double
            switch try exchange(request, authenticated: authenticated) {
            case .success(let response):
                guard retrying, policy.isRetryable(status: response.status), policy.allowsRetry(afterAttempt: attempt)
                else { return response }
                wait = policy.delay(afterAttempt: attempt, serverDelay: Self.serverDelay(response))
                context.log(.warning, "\(settings.step): \(what): HTTP \(response.status), retrying in \(Self.seconds(wait)) (attempt \(attempt) of \(policy.maxAttempts))")
            case .failure(.cancelled):
                throw StepError(status: pipeline_status(PIPELINE_CANCELLED), "\(settings.step): cancelled")
            case .failure(let failure):
                guard retrying, policy.allowsRetry(afterAttempt: attempt) else {
                    throw .io("\(settings.step): \(what): \(failure.message) (\(settings.endpoint))")
                }
                wait = policy.delay(afterAttempt: attempt)
                context.log(.warning, "\(settings.step): \(what): \(failure.message), retrying in \(Self.seconds(wait)) (attempt \(attempt) of \(policy.maxAttempts))")
            }
            try sleep(wait)
        }
    }

    /// Seconds the server asks to wait, if it says: the reset of
    /// `RateLimit: "api";r=0;t=N`, else `Retry-After` (seconds, or an
    /// HTTP-date measured from the response's `Date`). The policy caps it.
    static func serverDelay(_ response: HTTPResponse, now: Double = Date().timeIntervalSince1970) -> Double? {
        if let limit = response.header("RateLimit"), let seconds = RetryAfter.rateLimitDelay(limit) { return seconds }
        guard let value = response.header("Retry-After") else { return nil }
        return RetryAfter.delay(value, responseDate: response.header("Date"), now: now)
    }

    static func seconds(_ value: Double) -> String {
        value < 10 ? String(format: "%.1f s", value) : String(format: "%.0f s", value)
    }

    /// Sleeps in short steps so a stopping run is not held up.
    func sleep(_ seconds: Double) throws(StepError) {
        var left = seconds
        while left > 0 {
            if context.isCancelled { throw StepError(status: pipeline_status(PIPELINE_CANCELLED), "\(settings.step): cancelled") }
            let step = min(left, 0.2)
            usleep(UInt32(step * 1_000_000))
            left -= step
        }
    }

    /// The error for an unexpected answer, saying what to do about it.
    func failure(_ response: HTTPResponse, _ what: String) -> StepError {
        let code = response.header("X-Error-Code")
        var detail = response.header("X-Error-Message") ?? Self.errorText(response.body) ?? ""
        if detail.count > 300 { detail = String(detail.prefix(300)) + "…" }
        let suffix = detail.isEmpty ? "" : ": \(detail)"
        switch response.status {
        case 401:
            return .invalidArgument("\(settings.step): \(what): 401 Unauthorized from \(settings.endpoint): the Hub token was refused (is it valid and unexpired?)\(suffix)")
        case 403:
            return .invalidArgument("\(settings.step): \(what): 403 Forbidden: the token may not write to \(settings.repoID) (it needs write access to that namespace)\(suffix)")
        case 404 where code == "RepoNotFound":
            return .invalidArgument("\(settings.step): \(what): the dataset repository \(settings.repoID) does not exist\(suffix)")
        case 404 where code == "RevisionNotFound":
            return .invalidArgument("\(settings.step): \(what): the branch \"\(settings.revision)\" does not exist in \(settings.repoID)\(suffix)")
        default:
            return .io("\(settings.step): \(what): HTTP \(response.status) from \(settings.endpoint)\(code.map { " (\($0))" } ?? "")\(suffix)")
        }
    }

    private static func errorText(_ body: [UInt8]) -> String? {
        jsonObject(body)?["error"]?.stringValue
    }

    /// A request body: compact JSON, sorted keys.
    private static func json(_ value: JSONValue) -> [UInt8] { Array(value.serialized.utf8) }

    /// An answer's JSON object, or nil when it is not one.
    private static func jsonObject(_ body: [UInt8]) -> JSONValue? {
        guard let value = try? JSONValue(parsing: String(decoding: body, as: UTF8.self)), value.objectValue != nil else { return nil }
        return value
    }

    // MARK: The protocol

    /// Creates the dataset repository if it does not exist.
    func createRepository() throws(StepError) {
        let parts = settings.repoID.split(separator: "/", maxSplits: 1).map(String.init)
        let body = Self.json(["name": .string(parts[1]), "organization": .string(parts[0]), "type": "dataset",
                              "private": .bool(settings.isPrivate)])
        let response = try send(HTTPRequest(method: "POST", url: url("/api/repos/create"),
                                            headers: headers(contentType: "application/json"), body: body,
                                            timeout: settings.timeout),
                                retrying: true, what: "creating \(settings.repoID)")
        switch response.status {
        case 200, 201:
            context.log(.info, "\(settings.step): created the dataset repository \(settings.repoID)\(settings.isPrivate ? " (private)" : "")")
        case 409:
            break  // it exists
        default:
            throw failure(response, "creating \(settings.repoID)")
        }
    }

    /// The commit the branch points at.
    func headCommit() throws(StepError) -> String {
        let response = try send(HTTPRequest(method: "GET", url: url("/api/\(repoPath)/revision/\(quotedRevision)"),
                                            headers: headers(contentType: nil), timeout: settings.timeout),
                                retrying: true, what: "reading the head of \(settings.repoID)")
        guard response.status == 200 else { throw failure(response, "reading the head of \(settings.repoID)") }
        guard let sha = Self.jsonObject(response.body)?["sha"]?.stringValue, !sha.isEmpty else {
            throw .io("\(settings.step): the Hub's answer about \(settings.repoID) has no commit id")
        }
        return sha
    }

    /// The paths of the files under `directory` at `commit`, every level
    /// down; none when the directory does not exist. Follows the listing's
    /// pages (`Link: <url>; rel="next"`).
    func listFiles(under directory: String, at commit: String) throws(StepError) -> [String] {
        var next: String? = url("/api/\(repoPath)/tree/\(commit)/\(Self.quotedPath(directory))?recursive=true&expand=false")
        var paths: [String] = []
        var pages = 0
        while let page = next {
            pages += 1
            guard pages <= 10_000 else { throw .io("\(settings.step): the file listing of \(settings.repoID) does not end") }
            let response = try send(HTTPRequest(method: "GET", url: page, headers: headers(contentType: nil), timeout: settings.timeout),
                                    retrying: true, what: "listing \(directory)/ in \(settings.repoID)")
            if response.status == 404, pages == 1, response.header("X-Error-Code") == "EntryNotFound" { return [] }
            guard response.status == 200 else { throw failure(response, "listing \(directory)/ in \(settings.repoID)") }
            guard let value = try? JSONValue(parsing: String(decoding: response.body, as: UTF8.self)),
                  let entries = value.arrayValue else {
                throw .io("\(settings.step): the Hub's listing of \(directory)/ is not a JSON array")
            }
            for entry in entries where entry["type"]?.stringValue == "file" {
                if let path = entry["path"]?.stringValue { paths.append(path) }
            }
            next = response.header("Link").flatMap(Self.nextLink)
        }
        return paths
    }

    /// The bytes of `path` at `commit`, nil when there is no such file.
    func readFile(_ path: String, at commit: String) throws(StepError) -> [UInt8]? {
        let response = try send(HTTPRequest(method: "GET", url: url("/\(repoPath)/resolve/\(commit)/\(Self.quotedPath(path))"),
                                            headers: headers(contentType: nil), timeout: settings.timeout),
                                retrying: true, what: "reading \(path) of \(settings.repoID)")
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw failure(response, "reading \(path) of \(settings.repoID)") }
        return response.body
    }

    /// The URL of `rel="next"` in a Link header.
    static func nextLink(_ header: String) -> String? {
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let target = pieces.first, target.hasPrefix("<"), target.hasSuffix(">"),
                  pieces.dropFirst().contains(where: { $0.replacingOccurrences(of: " ", with: "") == "rel=\"next\"" })
            else { continue }
            return String(target.dropFirst().dropLast())
        }
        return nil
    }

    /// A repository path for a URL: each segment escaped, `/` kept.
    static func quotedPath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { String($0).addingPercentEncoding(withAllowedCharacters: unreserved) ?? String($0) }
            .joined(separator: "/")
    }

    /// How each file must be uploaded, and the id of what the branch holds
    /// at its path now (nil if nothing).
    func preupload(_ files: [HubFile]) throws(StepError) -> [String: (mode: UploadMode, remoteOID: String?)] {
        let entries: [JSONValue] = files.map { file in
            ["path": .string(file.path), "size": .number(Double(file.bytes.count)),
             "sample": .string(Data(file.bytes.prefix(512)).base64EncodedString())]
        }
        let response = try send(HTTPRequest(method: "POST", url: url("/api/\(repoPath)/preupload/\(quotedRevision)"),
                                            headers: headers(contentType: "application/json"),
                                            body: Self.json(["files": .array(entries)]), timeout: settings.timeout),
                                retrying: true, what: "preupload")
        guard response.status == 200 else { throw failure(response, "preupload") }
        guard let answer = Self.jsonObject(response.body)?["files"]?.arrayValue else {
            throw .io("\(settings.step): the Hub's preupload answer is not what the protocol says")
        }
        var result: [String: (UploadMode, String?)] = [:]
        for entry in answer {
            guard let path = entry["path"]?.stringValue else { continue }
            let mode: UploadMode = entry["uploadMode"]?.stringValue == "lfs" ? .lfs : .regular
            result[path] = (mode, entry["oid"]?.stringValue)
        }
        for file in files where result[file.path] == nil {
            throw .io("\(settings.step): the Hub's preupload answer does not mention \(file.path)")
        }
        return result
    }

    /// Uploads one LFS object (batch API, PUT, verify). Idempotent.
    func uploadLFS(_ file: HubFile, oid: String) throws(StepError) {
        let lfsHeaders = headers(contentType: "application/vnd.git-lfs+json") + ["Accept: application/vnd.git-lfs+json"]
        let body: JSONValue = [
            "operation": "upload", "transfers": ["basic"], "hash_algo": "sha256",
            "objects": [["oid": .string(oid), "size": .number(Double(file.bytes.count))]],
            "ref": ["name": .string(settings.revision)],
        ]
        let batch = try send(HTTPRequest(method: "POST", url: url("/\(repoPath).git/info/lfs/objects/batch"),
                                         headers: lfsHeaders, body: Self.json(body), timeout: settings.timeout),
                             retrying: true, what: "LFS batch for \(file.path)")
        guard batch.status == 200 else { throw failure(batch, "LFS batch for \(file.path)") }
        guard let objects = Self.jsonObject(batch.body)?["objects"]?.arrayValue, let object = objects.first else {
            throw .io("\(settings.step): the LFS batch answer for \(file.path) lists no object")
        }
        if let error = object["error"], error.objectValue != nil {
            throw .io("\(settings.step): LFS refused \(file.path): \(error["message"]?.stringValue ?? "error \(error["code"]?.serialized ?? "?")")")
        }
        guard let actions = object["actions"], actions.objectValue != nil else { return }  // already stored
        if let upload = actions["upload"], let href = upload["href"]?.stringValue {
            // The upload URL is presigned: no Authorization, as the Hub's own client does.
            var extra: [String] = []
            if let header = upload["header"]?.objectValue {
                guard header["chunk_size"] == nil else {
                    throw .io("\(settings.step): the Hub asks for a multipart LFS upload of \(file.path), which this client does not do; keep data files under a few GB")
                }
                for (name, value) in header.sorted(by: { $0.key < $1.key }) {
                    extra.append("\(name): \(value.stringValue ?? value.serialized)")
                }
            }
            let put = try send(HTTPRequest(method: "PUT", url: href, headers: extra, body: file.bytes, timeout: settings.timeout),
                               retrying: true, what: "uploading \(file.path)", authenticated: false)
            guard (200..<300).contains(put.status) else { throw failure(put, "uploading \(file.path)") }
        }
        if let verify = actions["verify"], let href = verify["href"]?.stringValue {
            let check = try send(HTTPRequest(method: "POST", url: href, headers: lfsHeaders,
                                             body: Self.json(["oid": .string(oid), "size": .number(Double(file.bytes.count))]), timeout: settings.timeout),
                                 retrying: true, what: "verifying \(file.path)")
            guard (200..<300).contains(check.status) else { throw failure(check, "verifying \(file.path)") }
        }
    }

    /// What one commit attempt came to.
    enum CommitOutcome {
        case committed(String)
        /// The branch moved (412) or another commit was in progress (409).
        case conflict
        /// No answer, or a transient one: the commit may or may not have landed.
        case unknown(String)
    }

    /// Sends the commit once. Never retried here: see `push`.
    func commit(_ files: [(HubFile, UploadMode, String)], deleting deletions: [String] = [], summary: String,
                description: String, parent: String) throws(StepError) -> CommitOutcome {
        var lines: [JSONValue] = [["key": "header", "value": ["summary": .string(summary), "description": .string(description),
                                                              "parentCommit": .string(parent)]]]
        for (file, mode, oid) in files {
            switch mode {
            case .regular:
                lines.append(["key": "file", "value": ["path": .string(file.path), "encoding": "base64",
                                                       "content": .string(Data(file.bytes).base64EncodedString())]])
            case .lfs:
                lines.append(["key": "lfsFile", "value": ["path": .string(file.path), "algo": "sha256", "oid": .string(oid),
                                                          "size": .number(Double(file.bytes.count))]])
            }
        }
        for path in deletions {
            lines.append(["key": "deletedFile", "value": ["path": .string(path)]])
        }
        var body: [UInt8] = []
        for line in lines {
            body += Self.json(line)
            body.append(UInt8(ascii: "\n"))
        }
        let request = HTTPRequest(method: "POST", url: url("/api/\(repoPath)/commit/\(quotedRevision)"),
                                  headers: headers(contentType: "application/x-ndjson"), body: body,
                                  timeout: settings.timeout)
        let response: HTTPResponse
        switch try exchange(request, authenticated: true) {
        case .success(let answer): response = answer
        case .failure(.cancelled): throw StepError(status: pipeline_status(PIPELINE_CANCELLED), "\(settings.step): cancelled")
        case .failure(let failure): return .unknown(failure.message)
        }
        switch response.status {
        case 200, 201:
            let oid = Self.jsonObject(response.body)?["commitOid"]?.stringValue ?? "?"
            return .committed(oid)
        case 409, 412:
            return .conflict
        case let status where settings.retry.isRetryable(status: status):
            return .unknown("HTTP \(status)")
        default:
            throw failure(response, "commit")
        }
    }

    /// Puts `files` on the branch in one commit, exactly once, and returns
    /// the commit id; nil when the branch already holds every file as given.
    ///
    /// Each attempt reads the head, asks preupload what the branch holds,
    /// uploads LFS objects, and commits on top of that head. A commit with a
    /// stale parent is refused by the server (412), so two attempts can
    /// never both land; after a conflict or an unknown outcome the next
    /// attempt finds out from the remote oids whether the files are there.
    ///
    /// `plan`, called at each attempt with the head it builds on, may take
    /// files out (a card a newer run wrote is left alone) and names the
    /// files the same commit deletes, so a retried commit never deletes a
    /// file twice.
    func push(_ files: [HubFile], summary: String, description: String,
              plan: (_ parent: String) throws(StepError) -> (skip: Set<String>, delete: [String]) = { _ in ([], []) })
        throws(StepError) -> String?
    {
        var conflicts = 0
        var unknowns = 0
        while true {
            let parent = try headCommit()
            let planned = try plan(parent)
            let sending = files.filter { !planned.skip.contains($0.path) }
            let remote = sending.isEmpty ? [:] : try preupload(sending)
            var changed: [(HubFile, UploadMode, String)] = []
            for file in sending {
                guard let (mode, remoteOID) = remote[file.path] else { continue }
                let oid = mode == .lfs ? SHA.sha256Hex(file.bytes) : SHA.gitBlobID(file.bytes)
                if remoteOID == oid { continue }
                if mode == .lfs { try uploadLFS(file, oid: oid) }
                changed.append((file, mode, oid))
            }
            if changed.isEmpty && planned.delete.isEmpty { return nil }
            switch try commit(changed, deleting: planned.delete, summary: summary, description: description, parent: parent) {
            case .committed(let id):
                return id
            case .conflict:
                conflicts += 1
                guard conflicts < max(settings.retry.maxAttempts, 10) else {
                    throw .io("\(settings.step): \(settings.repoID) kept changing under the commit (\(conflicts) conflicts); is another writer pushing to \(settings.revision)?")
                }
                context.log(.info, "\(settings.step): the branch moved or was busy; re-reading its head (conflict \(conflicts))")
                try sleep(min(settings.retry.initialDelay * Double(conflicts), 30))
            case .unknown(let why):
                unknowns += 1
                guard settings.retry.allowsRetry(afterAttempt: unknowns) else {
                    throw .io("\(settings.step): commit to \(settings.repoID) failed \(unknowns) times, last: \(why)")
                }
                context.log(.warning, "\(settings.step): commit: \(why); checking whether it landed before trying again")
                try sleep(settings.retry.delay(afterAttempt: unknowns))
            }
        }
    }
}
