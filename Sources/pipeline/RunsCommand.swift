import ArgumentParser
import PipelineCore
import PipelineCLI

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the run directories under a directory and how each run went.",
        discussion: """
            A run directory is a directory holding summary.json, state.db or run.lock. \
            STATE is one of: running (a process holds the directory's lock; its pid is \
            shown), succeeded, failed, interrupted, finished with row errors, or stopped \
            (the summary says running, or there is none, but no process holds the lock: \
            the process died; run the same command to resume). ROWS counts the rows the \
            last step wrote, ERRORS the failed rows of every step. PROGRESS, for a running \
            run, is where its working steps are (from summary.json, rewritten every 5 s): \
            rows done of the rows in work, LLM requests done of expected, in flight, per \
            second, retries, failures and an ETA; --json has them as numbers. A run that \
            is waiting (exit 7) shows its provider batches there: LLM, batch id, the \
            provider's status when last polled, age and requests.

            Example: pipeline runs /srv/data/runs --json | jq 'select(.state != "succeeded")'
            """)

    @Argument(help: ArgumentHelp("The directory holding run directories.", valueName: "dir"))
    var directory = "runs"

    @Flag(help: "One JSON object per run directory instead of a table.") var json = false

    func run() throws {
        let records: [RunRecord]
        do {
            records = try RunsListing.scan(directory)
        } catch {
            FileHandleOutput.standardError("error: \(error)")
            throw ExitCode(.usage)
        }
        if json {
            for record in records { FileHandleOutput.standardOutput(record.json.serialized) }
        } else if records.isEmpty {
            FileHandleOutput.standardError("no run directories under \(directory)")
        } else {
            FileHandleOutput.standardOutput(RunsListing.table(records))
        }
    }
}
