import CCrashGuard
import Foundation
import Synchronization
import PipelineJSON
import PipelineBase

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `pipeline` does when a plugin, or the host itself, dies of
/// SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT or SIGTRAP: one line naming
/// the step, plugin and call on stderr and in `run.log`, `summary.json` (and
/// `--summary FILE`, `--summary-json`) rewritten with status `failed`, then
/// the exit code the CLI gave `install` (6). The state store is as a kill
/// leaves it, so the same command resumes.
///
/// The handler (C, `CCrashGuard`) may only make async-signal-safe calls, so
/// everything it writes is prepared here: a `CrashSite` per step instance
/// and per plugin library, and the "failed" summaries, re-rendered each
/// time the executor writes `summary.json`.
public enum CrashGuard {
    /// Installs the handlers (the CLI, once, before anything else runs).
    /// `PIPELINE_CRASH_HANDLER=off` keeps the platform's behaviour instead
    /// (Swift's backtrace, a core dump where enabled, 128 + the signal).
    @discardableResult
    public static func install(environment: [String: String], exitCode: Int32) -> Bool {
        if environment["PIPELINE_CRASH_HANDLER"] == "off" { return false }
        return crash_guard_install(exitCode) == 0
    }

    static var isInstalled: Bool { crash_guard_installed() }

    /// An alternate signal stack for the calling thread, so a stack overflow
    /// is reported too (worker threads call this when they start).
    package static func prepareThread() {
        if isInstalled { _ = crash_guard_prepare_thread() }
    }

    /// Crash lines also go to `path` (the run's `run.log`), appended; nil: no more.
    public static func log(to path: String?) {
        let descriptor = path.map { open($0, O_WRONLY | O_APPEND | O_CLOEXEC) } ?? -1
        let previous = crash_guard_set_log_fd(descriptor)
        if previous >= 0 { close(previous) }
    }

    /// The crash line on stderr as a JSON record (the console's JSON format)
    /// or plain text, clearing a terminal's status line first.
    public static func console(json: Bool, clearsStatusLine: Bool) {
        crash_guard_set_console(json, clearsStatusLine)
    }

    /// Where the CLI sends the summary besides `summary.json`: a file
    /// (`--summary`) and a descriptor (`--summary-json`'s stdout), as
    /// `report` renders a crashed run's summary (with the CLI's exit code).
    public static func reportAlso(file: String?, descriptor: Int32?,
                                  report: @escaping @Sendable (RunSummary) -> JSONValue) {
        extraReports.withLock { $0 = (file, descriptor, report) }
    }

    private static let extraReports = Mutex<(file: String?, descriptor: Int32?,
                                             report: (@Sendable (RunSummary) -> JSONValue)?)>((nil, nil, nil))
    private static let placeholder = "@@pipeline-crash-message@@"
    /// Stands for the run's seconds (sorted keys: after "error").
    private static let secondsPlaceholder = 987_654_321.5

    /// Prepares the summaries a crash now writes: `summary` as failed, with
    /// the crash message as its error (and exit_code 6 in the CLI's reports).
    package static func arm(_ summary: RunSummary) {
        guard isInstalled, let reports = crash_guard_reports_new() else { return }
        var failed = summary
        failed.status = .failed
        failed.error = placeholder
        failed.seconds = secondsPlaceholder
        let directory = summary.runDirectory
        add(failed.json, path: (directory as NSString).appendingPathComponent("summary.json"), to: reports)
        let (file, descriptor, render) = extraReports.withLock { $0 }
        if let render, file != nil || descriptor != nil {
            let report = render(failed)
            if let file { add(report, path: file, to: reports) }
            if let descriptor { add(report, descriptor: descriptor, to: reports) }
        }
        crash_guard_reports_set_start(reports, summary.startedAt)
        crash_guard_reports_publish(reports)
    }

    /// A crash from now on rewrites no summary (the run has ended).
    package static func disarm() {
        if isInstalled { crash_guard_reports_publish(nil) }
    }

    private static func add(_ document: JSONValue, path: String? = nil, descriptor: Int32 = -1,
                            to reports: OpaquePointer) {
        let text = document.serialized
        let seconds = "\"seconds\":" + JSONValue.number(secondsPlaceholder).serialized
        guard let message = text.range(of: "\"error\":\"\(placeholder)\""),
              let time = text.range(of: seconds, range: message.upperBound..<text.endIndex)
        else { return }
        let prefix = String(text[..<message.lowerBound]) + "\"error\":\""
        let middle = "\"" + String(text[message.upperBound..<time.lowerBound]) + "\"seconds\":"
        let suffix = String(text[time.upperBound...])
        let temporary = path.map { path in
            let url = URL(fileURLWithPath: path)
            // Its own name (as AtomicFile's): created with O_EXCL at crash time.
            let unique = String(UInt64.random(in: 0...UInt64.max), radix: 36)
            return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(unique).crash-tmp").path
        }
        _ = crash_guard_reports_add(reports, path, temporary, descriptor, prefix, middle, suffix)
    }
}

/// What a thread is running, for the crash handler: a step instance or a
/// plugin library, named once; `during` marks the calling thread for the
/// length of one plugin call (two thread-local stores, no allocation).
final class CrashSite: @unchecked Sendable {
    enum Function: Int32 {
        case dlopen = 0, entry, create, process, finish, interrupt, destroy
    }

    private let pointer: OpaquePointer?
    /// Set once its code is registered: the handler may then read it at any time.
    private var keptForever = false

    /// A step instance: `step "name" (plugin /path/lib.so, step id org.x.y)`.
    convenience init(step name: String, descriptor: StepDescriptor) {
        let (name, path, id) = (Self.bounded(name), Self.bounded(descriptor.libraryPath), Self.bounded(descriptor.id))
        self.init(text: "step \"\(name)\" (plugin \(path), step id \(id))",
                  fields: [("plugin", path), ("step", name), ("step_id", id)])
    }

    /// A plugin library, while it loads, and afterwards for its own threads.
    convenience init(library path: String) {
        let path = Self.bounded(path)
        self.init(text: "plugin \(path)", fields: [("plugin", path)])
    }

    private init(text: String, fields: [(String, String)]) {
        let json = Self.escaped(text)
        let fieldText = fields.map { "\"\($0)\":\"\(Self.escaped($1))\"," }.joined()
        pointer = crash_guard_site_new(text, json, fieldText)
    }

    deinit {
        if !keptForever { crash_guard_site_free(pointer) }
    }

    @inline(__always)
    func during<R>(_ function: Function, _ body: () throws -> R) rethrows -> R {
        let previous = crash_guard_enter(pointer, function.rawValue)
        defer { crash_guard_leave(previous) }
        return try body()
    }

    /// Names the library containing `address` by this site when a thread of
    /// its own crashes (only with the handler installed).
    func registerCode(at address: UnsafeRawPointer) {
        guard CrashGuard.isInstalled, crash_guard_register_code(pointer, address) else { return }
        keptForever = true
    }

    /// At most 512 UTF-8 bytes: the handler's buffers are fixed.
    private static func bounded(_ text: String) -> String {
        guard text.utf8.count > 512 else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            guard out.utf8.count + String(scalar).utf8.count <= 509 else { break }
            out.unicodeScalars.append(scalar)
        }
        return out + "…"
    }

    /// JSON string contents, without the quotes.
    private static func escaped(_ text: String) -> String {
        var out = ""
        JSONValue.writeString(text, to: &out)
        return String(out.dropFirst().dropLast())
    }
}
