import PipelineBase

/// The exit codes of `pipeline`, one table for every command, the README
/// and `--help`. A crontab wrapper or a scheduler can act on them without
/// reading any output.
///
/// Named `PipelineExitCode` (not `ExitCode`) so it never clashes with
/// ArgumentParser's `ExitCode` in the command-line module.
public enum PipelineExitCode: Int32, CaseIterable, Sendable {
    case success = 0
    case failed = 1
    case usage = 2
    case rowErrors = 3
    case locked = 4
    case interrupted = 5
    /// A fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT): the crash
    /// handler (`CrashGuard`) names the step and plugin, marks the summary
    /// failed and exits with this instead of 128 + the signal. State is kept
    /// as after a kill: the same command resumes.
    case crashed = 6
    /// `--batch-wait exit` (the default): everything the run can do before
    /// a provider batch answers is done and saved, the batches are
    /// submitted; the same command, run later (the next cron run),
    /// collects the answers and goes on.
    case waiting = 7

    /// One line (at most 74 characters, so `--help` does not wrap it).
    public var meaning: String {
        switch self {
        case .success: "success"
        case .failed: "failed: a step failed or the run could not proceed"
        case .usage: "usage or configuration error: bad flags, invalid pipeline file"
        case .rowErrors: "finished with row errors (errors.jsonl); every other row is in the outputs"
        case .locked: "another run holds the lock of this run directory"
        case .interrupted: "interrupted (SIGINT/SIGTERM); state is saved: the same command resumes"
        case .crashed: "a plugin (or the host) crashed: SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT"
        case .waiting: "waiting for a provider batch: run the same command later to collect it"
        }
    }

    /// The exit code a finished run ends with. Works from the status's raw
    /// value, so statuses added to `RunSummary.Status` later map sensibly
    /// (unknown ones are failures) without touching this switch.
    public init(summary: RunSummary) {
        self.init(status: summary.status.rawValue, rowErrors: summary.rowErrors)
    }

    /// The exit code for a summary status string (`summary.json`'s `status`).
    public init(status: String, rowErrors: Int) {
        switch status {
        case "succeeded": self = rowErrors > 0 ? .rowErrors : .success
        case "interrupted": self = .interrupted
        case "waiting": self = .waiting
        default: self = .failed
        }
    }

    /// The table as help text: `  0  success`, one line per code.
    public static var helpTable: String {
        allCases.map { "  \($0.rawValue)  \($0.meaning)" }.joined(separator: "\n")
    }
}
