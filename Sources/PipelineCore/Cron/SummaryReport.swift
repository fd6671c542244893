#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The machine-readable end of `pipeline run` (`--summary FILE`,
/// `--summary-json`): the run directory's `summary.json` plus `exit_code`.
/// A run that never started (invalid file, busy directory) still gets one,
/// with status `failed`, the reason in `error` and the exit code, so a file
/// a monitor reads never keeps the previous night's result.
public enum SummaryReport {
    /// `summary.json` of a run that happened, plus its exit code.
    public static func json(_ summary: RunSummary, exitCode: PipelineExitCode) -> JSONValue {
        guard case .object(var object) = summary.json else { return summary.json }
        object["exit_code"] = .number(Double(exitCode.rawValue))
        return .object(object)
    }

    /// For a run that did not start: what is known, why, and the exit code.
    public static func json(notStarted file: String, pipeline: String?, runDirectory: String?, error: String,
                            exitCode: PipelineExitCode, startedAt: Double) -> JSONValue {
        var object: [String: JSONValue] = [
            "file": .string(file), "status": .string("failed"), "error": .string(error),
            "exit_code": .number(Double(exitCode.rawValue)), "started_at": .number(startedAt),
            "seconds": .number(0), "row_errors": .number(0), "steps": .array([]),
        ]
        if let pipeline { object["pipeline"] = .string(pipeline) }
        if let runDirectory { object["run_directory"] = .string(runDirectory) }
        return .object(object)
    }

    /// Writes `text` to `path` atomically: a temporary file in the same
    /// directory, flushed to disk, then renamed over `path`. A reader sees
    /// the old file or the new one, never a part.
    public static func writeAtomically(_ text: String, to path: String) throws(SummaryWriteError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = (directory.isEmpty ? "" : directory) + "/.\(name).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SummaryWriteError(path: path, operation: "create \(temporary)", code: errno) }
        var text = text
        var failure: Int32 = 0
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, base + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { failure = written < 0 ? errno : EIO; return }
                offset += written
            }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure == 0 && rename(temporary, path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw SummaryWriteError(path: path, operation: "write", code: failure)
        }
    }
}

/// A summary file could not be written.
public struct SummaryWriteError: Error, CustomStringConvertible, Sendable {
    public let path: String
    let operation: String
    let code: Int32

    public var description: String {
        "cannot write the summary to \(path): \(operation): \(String(cString: strerror(code)))"
    }
}
