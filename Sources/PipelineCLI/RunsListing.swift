import PipelineJSON
import PipelineBase
import PipelineStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One run directory as `pipeline runs` shows it.
public struct RunRecord: Sendable, Equatable {
    public var name: String
    public var path: String
    /// `running`, `succeeded`, `failed`, `interrupted`, `finished with row
    /// errors`, `stopped` (summary says running, or no summary, and nobody
    /// holds the lock: the process died), or an unknown status as written.
    public var state: String
    /// `summary.json`'s status as written, if there is one.
    public var status: String?
    public var startedAt: Double?
    public var seconds: Double?
    /// Rows the last step wrote: its rows out, or for a sink (which emits
    /// nothing) the rows it took in and did not fail.
    public var rows: Int?
    public var rowErrors: Int?
    /// The process holding the lock, for a running run.
    public var holder: RunLock.Holder?
    /// A waiting run's provider batches (summary.json's `provider_batches`).
    public var batches: [JSONValue] = []
    /// The reason a run failed, or why its summary could not be read.
    public var error: String?
    /// For a running run: where its working steps are (summary.json's
    /// live progress), by step name, in step order.
    public var progress: [(step: String, progress: StepProgress)] = []

    public static func == (a: RunRecord, b: RunRecord) -> Bool {
        a.name == b.name && a.path == b.path && a.state == b.state && a.status == b.status
            && a.startedAt == b.startedAt && a.seconds == b.seconds && a.rows == b.rows
            && a.rowErrors == b.rowErrors && a.holder == b.holder && a.error == b.error
            && a.progress.map(\.step) == b.progress.map(\.step) && a.progress.map(\.progress) == b.progress.map(\.progress)
            && a.batches == b.batches
    }

    /// The working steps' figures, as the status line shows them.
    public var progressText: String? {
        let parts = progress.compactMap { entry -> String? in
            let text = entry.progress.text
            return text.isEmpty ? nil : "\(entry.step) \(text)"
        }
        return parts.isEmpty ? batchesText : parts.joined(separator: "; ")
    }

    /// A waiting run's batches: `teacher batch_7f3 in_progress 2h13m (500 requests)`.
    public var batchesText: String? {
        guard !batches.isEmpty else { return nil }
        let now = TimeText.now()
        return batches.map { batch in
            let id = batch["batch_id"]?.stringValue ?? batch["chunk"]?.stringValue ?? "?"
            let age = batch["created"]?.doubleValue.map { TimeText.duration(max(0, now - $0)) } ?? "?"
            let requests = batch["requests"]?.int64Value ?? 0
            return "\(batch["llm"]?.stringValue ?? "?") \(id) \(batch["status"]?.stringValue ?? "?") \(age) (\(requests) requests)"
        }.joined(separator: "; ")
    }

    public var json: JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map { .number($0) } ?? .null }
        var object: [String: JSONValue] = [
            "name": .string(name), "path": .string(path), "state": .string(state),
            "status": status.map { .string($0) } ?? .null,
            "started_at": number(startedAt), "seconds": number(seconds.map { ($0 * 1000).rounded() / 1000 }),
            "rows": number(rows.map(Double.init)), "row_errors": number(rowErrors.map(Double.init)),
        ]
        if let holder { object["pid"] = .number(Double(holder.pid)) }
        if let error { object["error"] = .string(error) }
        if !batches.isEmpty { object["provider_batches"] = .array(batches) }
        if !progress.isEmpty {
            object["progress"] = .array(progress.map { entry in
                var item = entry.progress.json.objectValue ?? [:]
                item["step"] = .string(entry.step)
                return .object(item)
            })
        }
        return .object(object)
    }
}

/// Finds and describes the run directories under a directory.
public enum RunsListing {
    /// Files whose presence makes a directory a run directory.
    public static let markers = ["summary.json", "state.db", RunLock.fileName]

    /// Every run directory directly under `directory`, sorted by name.
    public static func scan(_ directory: String, now: Double = TimeText.now()) throws(RunsListingError) -> [RunRecord] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder) else {
            throw RunsListingError(directory: directory, reason: "no such directory")
        }
        guard isFolder.boolValue else { throw RunsListingError(directory: directory, reason: "not a directory") }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw RunsListingError(directory: directory, reason: (error as NSError).localizedDescription)
        }
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        return names.sorted().compactMap { name in
            let path = base + name
            guard isDirectory(path), markers.contains(where: { exists(path + "/" + $0) }) else { return nil }
            return record(path: path, name: name, now: now)
        }
    }

    /// What `path` holds: the lock decides whether it is running, then
    /// `summary.json` says how it ended.
    public static func record(path: String, name: String, now: Double = TimeText.now()) -> RunRecord {
        var record = RunRecord(name: name, path: path, state: "stopped")
        let lock = RunLock.state(of: path)
        if let text = readSmallFile(path + "/summary.json", limit: 16 << 20) {
            if let summary = try? JSONValue(parsing: text), summary.objectValue != nil {
                read(summary, into: &record)
            } else {
                record.state = "unknown"
                record.error = "summary.json is not a JSON object"
            }
        }
        if case .held(let holder) = lock {
            record.state = "running"
            record.holder = holder
            // The summary may be an earlier run's: time this one by its lock.
            if let holder, record.status != "running" || record.startedAt == nil {
                record.startedAt = holder.startedAt
            }
            if let started = record.startedAt { record.seconds = max(0, now - started) }
        } else {
            // A dead run's last figures are no progress.
            record.progress = []
        }
        return record
    }

    private static func read(_ summary: JSONValue, into record: inout RunRecord) {
        let status = summary["status"]?.stringValue
        record.status = status
        record.startedAt = summary["started_at"]?.doubleValue
        record.seconds = summary["seconds"]?.doubleValue
        record.error = summary["error"]?.stringValue
        record.batches = status == "waiting" ? summary["provider_batches"]?.arrayValue ?? [] : []
        let steps = summary["steps"]?.arrayValue ?? []
        let stepErrors = steps.compactMap { $0["row_errors"]?.int64Value }
        record.rowErrors = summary["row_errors"]?.int64Value.map(Int.init)
            ?? (stepErrors.isEmpty ? nil : Int(stepErrors.reduce(0, +)))
        record.progress = steps.compactMap { step in
            guard let name = step["name"]?.stringValue, let object = step["progress"],
                  let progress = StepProgress(json: object) else { return nil }
            return (name, progress)
        }
        if let last = steps.last {
            let rowsOut = last["rows_out"]?.int64Value ?? 0
            let rowsIn = last["rows_in"]?.int64Value ?? 0
            let failed = last["row_errors"]?.int64Value ?? 0
            record.rows = Int(rowsOut > 0 ? rowsOut : max(0, rowsIn - failed))
        }
        switch status {
        case "succeeded"?: record.state = (record.rowErrors ?? 0) > 0 ? "finished with row errors" : "succeeded"
        case "failed"?: record.state = "failed"
        case "interrupted"?: record.state = "interrupted"
        // Says running, but (unless the lock says otherwise) nobody is.
        case "running"?: record.state = "stopped"
        case let other?: record.state = other.isEmpty ? "unknown" : other
        case nil: record.state = "unknown"
        }
        // A summary written at the start says 0 s: unknown, not instant.
        if record.state == "stopped", record.seconds == 0 { record.seconds = nil }
    }

    /// A table for people, one line per run.
    public static func table(_ records: [RunRecord]) -> String {
        let header = ["NAME", "STATE", "STARTED", "DURATION", "ROWS", "ERRORS", "PROGRESS"]
        let rows = records.map { record -> [String] in
            var state = record.state
            if let holder = record.holder { state += " (pid \(holder.pid))" }
            return [record.name, state,
                    record.startedAt.map(TimeText.local) ?? "-",
                    record.seconds.map(TimeText.duration) ?? "-",
                    record.rows.map(TimeText.count) ?? "-",
                    record.rowErrors.map(TimeText.count) ?? "-",
                    record.progressText ?? ""]
        }
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        let rightAligned: Set<Int> = [3, 4, 5]
        return all.map { row in
            row.indices.map { column in
                let cell = row[column]
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                if rightAligned.contains(column) { return padding + cell }
                return column == row.count - 1 ? cell : cell + padding
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    private static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}

/// The directory to list could not be read.
public struct RunsListingError: Error, CustomStringConvertible, Sendable {
    public let directory: String
    let reason: String

    public var description: String { "cannot list \(directory): \(reason)" }
}
