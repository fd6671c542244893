#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import PipelineJSON
import PluginKit

/// Files downloaded from Hub repositories, keyed by repository, commit and
/// path, each with the etag it was downloaded for:
///
///     {root}/datasets/{owner}/{name}/files/{commit}/{path}        complete files
///     {root}/datasets/{owner}/{name}/etags/{commit}/{path}.json   {"etag","size"} of each
///     {root}/datasets/{owner}/{name}/partial/{commit}/{path}.part a download under way
///
/// A file is downloaded in ranges of `chunkBytes` (the host's HTTP service
/// holds a whole answer in memory), each appended to its `.part` file; a
/// download that was killed resumes from the `.part` file's size with
/// `Range: bytes=N-`. The `.part` file becomes the cached file (a rename)
/// once its size is the listing's and every range came with the listing's
/// etag; a file already cached with that etag and size is not downloaded
/// again. Two runs downloading the same file take turns (flock).
struct HubDownloadCache {
    let root: String
    let repoID: String
    let step: String
    let chunkBytes: Int

    /// `$PIPELINE_CACHE_DIR/hub`, else `$XDG_CACHE_HOME/pipeline/hub`, else `~/.cache/pipeline/hub`.
    static func defaultRoot(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let dir = environment["PIPELINE_CACHE_DIR"], !dir.isEmpty { return dir + "/hub" }
        if let dir = environment["XDG_CACHE_HOME"], !dir.isEmpty { return dir + "/pipeline/hub" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.cache/pipeline/hub"
    }

    private var repoRoot: String { "\(root)/datasets/\(repoID)" }

    func filePath(commit: String, path: String) -> String { "\(repoRoot)/files/\(commit)/\(path)" }
    private func etagPath(commit: String, path: String) -> String { "\(repoRoot)/etags/\(commit)/\(path).json" }
    private func partPath(commit: String, path: String) -> String { "\(repoRoot)/partial/\(commit)/\(path).part" }

    /// The result of `fetch`: where the file is and how many bytes came over the network.
    struct Fetched {
        var localPath: String
        var downloaded: Int
        var fromCache: Bool
    }

    /// The file `entry` of commit `commit` in the cache, downloading what is missing.
    func fetch(_ entry: HubEntry, commit: String, repository: HubRepository) throws(StepError) -> Fetched {
        let parts = entry.path.split(separator: "/", omittingEmptySubsequences: false)
        guard !entry.path.hasPrefix("/"), !parts.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }),
              !commit.contains("/"), !commit.isEmpty else {
            throw .invalidData("\(step): \(repoID): the Hub listed a file path this cache will not write: \"\(entry.path)\" at \"\(commit)\"")
        }
        let final = filePath(commit: commit, path: entry.path)
        if isCached(entry, commit: commit) { return Fetched(localPath: final, downloaded: 0, fromCache: true) }
        let part = partPath(commit: commit, path: entry.path)
        for directory in [parent(final), parent(part), parent(etagPath(commit: commit, path: entry.path))] {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .io("\(step): cannot create the cache directory \(directory): \(error.localizedDescription)")
            }
        }
        let fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(describingErrno { "\(step): cannot open \(part): \($0)" }) }
        defer { closeDescriptor(fd) }
        // Another run may be downloading the same file: wait for it, then look again.
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw .io(describingErrno { "\(step): cannot lock \(part): \($0)" }) }
        }
        if isCached(entry, commit: commit) { return Fetched(localPath: final, downloaded: 0, fromCache: true) }

        var offset = Int(fileSize(fd: fd))
        if offset > entry.size {
            context(repository).log(.warning, "\(step): \(part) is larger than \(entry.path) (\(offset) > \(entry.size) bytes): downloading it again")
            try truncate(fd, part)
            offset = 0
        } else if offset > 0 {
            context(repository).log(.info, "\(step): resuming \(repoID)/\(entry.path) at byte \(offset) of \(entry.size)")
        }
        let url = repository.resolveURL(revision: commit, path: entry.path)
        var downloaded = 0
        while offset < entry.size {
            if repository.context.isCancelled { throw .cancelled(step) }
            let last = min(offset + chunkBytes, entry.size) - 1
            let what = "downloading \(entry.path) bytes \(offset)-\(last) of \(entry.size)"
            let response = try rangeGet(url, from: offset, to: last, entry: entry, repository: repository, what: what)
            switch response.status {
            case 206:
                let range = response.header("Content-Range").flatMap(Self.contentRange)
                guard let range, range.start == offset, range.end - range.start + 1 == response.body.count,
                      range.total == nil || range.total == entry.size, !response.body.isEmpty else {
                    throw .io("\(step): \(what): the answer's range (\(response.header("Content-Range") ?? "no Content-Range"), \(response.body.count) bytes) is not the one asked for")
                }
                try write(fd, response.body, part)
                offset += response.body.count
            case 200:
                // The server sent the whole file: start over with it.
                guard response.body.count == entry.size else {
                    throw .io("\(step): \(what): the server sent the whole file (\(response.body.count) bytes) but the listing says \(entry.size)")
                }
                if offset > 0 { context(repository).log(.info, "\(step): \(entry.path): the server ignored the range; writing the whole file again") }
                try truncate(fd, part)
                try write(fd, response.body, part)
                offset = response.body.count
            default:
                throw repository.failure(response, what)
            }
            downloaded += response.body.count
        }
        guard fsync(fd) == 0 else { throw .io(describingErrno { "\(step): cannot sync \(part): \($0)" }) }
        let size = Int(fileSize(fd: fd))
        guard size == entry.size else {
            throw .io("\(step): \(entry.path): downloaded \(size) bytes but the listing says \(entry.size); the partial file \(part) is kept for the next run")
        }
        guard rename(part, final) == 0 else { throw .io(describingErrno { "\(step): cannot rename \(part) to \(final): \($0)" }) }
        try writeEtag(entry, commit: commit)
        return Fetched(localPath: final, downloaded: downloaded, fromCache: false)
    }

    private func context(_ repository: HubRepository) -> StepContext { repository.context }

    /// True if the file is there, with the etag and size of `entry`.
    func isCached(_ entry: HubEntry, commit: String) -> Bool {
        let final = filePath(commit: commit, path: entry.path)
        guard let data = FileManager.default.contents(atPath: etagPath(commit: commit, path: entry.path)),
              let meta = try? JSONValue(parsing: String(decoding: data, as: UTF8.self)),
              meta["etag"]?.stringValue == entry.etag, meta["size"]?.int64Value == Int64(entry.size) else { return false }
        var info = stat()
        return stat(final, &info) == 0 && Int(info.st_size) == entry.size
    }

    private func writeEtag(_ entry: HubEntry, commit: String) throws(StepError) {
        let path = etagPath(commit: commit, path: entry.path)
        let value: JSONValue = ["etag": .string(entry.etag), "size": .number(Double(entry.size))]
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(value.serialized.utf8)),
              rename(temporary, path) == 0 else {
            throw .io(describingErrno { "\(step): cannot write \(path): \($0)" })
        }
    }

    /// GET with a Range, following redirects (an LFS file's resolve URL
    /// answers with the storage's URL): the credential goes only to the Hub.
    private func rangeGet(_ url: String, from: Int, to: Int, entry: HubEntry, repository: HubRepository,
                          what: String) throws(StepError) -> HTTPResponse {
        var target = url
        var redirected = false
        for _ in 0..<6 {
            let request = HTTPRequest(method: "GET", url: target, headers: ["Range: bytes=\(from)-\(to)", "Accept-Encoding: identity"],
                                      timeout: repository.timeout)
            let response = try repository.send(request, what: what)
            if [301, 302, 303, 307, 308].contains(response.status), let location = response.header("Location") {
                try checkEtag(response, entry: entry, what: what)
                target = absolute(location, base: target)
                redirected = true
                continue
            }
            // Storage answers with etags of its own; the Hub's redirect carried the file's.
            if !redirected && (response.status == 200 || response.status == 206) {
                try checkEtag(response, entry: entry, what: what)
            }
            return response
        }
        throw .io("\(step): \(what): more than 5 redirects from \(url)")
    }

    /// The Hub's answer names the file's etag: it must be the listing's
    /// (the file is pinned to a commit, so anything else is not that file).
    private func checkEtag(_ response: HTTPResponse, entry: HubEntry, what: String) throws(StepError) {
        guard let raw = response.header("X-Linked-Etag") ?? response.header("ETag") else { return }
        var etag = Substring(raw)
        if etag.hasPrefix("W/") { etag = etag.dropFirst(2) }
        let value = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        guard value == entry.etag else {
            throw .io("\(step): \(what): the Hub answered with etag \(value), but the listing says \(entry.etag) (the repository changed?)")
        }
    }

    private func absolute(_ location: String, base: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        guard let url = URL(string: location, relativeTo: URL(string: base)) else { return location }
        return url.absoluteString
    }

    /// `bytes a-b/total` (total may be `*`).
    static func contentRange(_ value: String) -> (start: Int, end: Int, total: Int?)? {
        let text = value.trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("bytes ") else { return nil }
        let pieces = text.dropFirst(6).split(separator: "/", maxSplits: 1)
        let span = pieces.first?.split(separator: "-", maxSplits: 1) ?? []
        guard span.count == 2, let start = Int(span[0]), let end = Int(span[1]), end >= start else { return nil }
        return (start, end, pieces.count == 2 ? Int(pieces[1]) : nil)
    }

    private func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    private func fileSize(fd: Int32) -> off_t {
        var info = stat()
        return fstat(fd, &info) == 0 ? info.st_size : 0
    }

    private func truncate(_ fd: Int32, _ path: String) throws(StepError) {
        guard ftruncate(fd, 0) == 0 else { throw .io(describingErrno { "\(step): cannot truncate \(path): \($0)" }) }
    }

    private func write(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws(StepError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return posixWrite(fd, base + done, buffer.count - done)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(describingErrno { "\(step): cannot write \(path): \($0)" })
            }
            done += n
        }
    }
}

/// write(2), under a name the cache's own `write` does not hide.
private func posixWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, pointer, count) }
