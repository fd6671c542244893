import PipelineJSON
import PipelineBase
import PipelineCore

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

    /// Writes `text` to `path` atomically (AtomicFile): a reader sees the
    /// old file or the new one, never a part.
    public static func writeAtomically(_ text: String, to path: String) throws(AtomicFileError) {
        try AtomicFile.write(text, to: path)
    }
}
