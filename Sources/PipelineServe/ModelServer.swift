import Foundation
import Logging
import CServeProcess
import PipelineLLMClient
#if canImport(Glibc)
import Glibc
#endif

/// One server the host runs for a run: started on a free loopback port,
/// checked for readiness, restarted when it dies (a bounded number of
/// times, with backoff), stopped at the end (SIGTERM to its process group,
/// SIGKILL after a grace period).
///
/// A dedicated thread forks the server and watches it for as long as it
/// runs: the server's parent-death signal fires when the thread that forked
/// it ends, so that thread must outlive the server.
final class ModelServer: ServedEndpoint, @unchecked Sendable {
    /// Restarts after the server died mid-run, at 1, 2 and 4 s.
    static let maxRestarts = 3
    /// Ports tried when the one picked was taken meanwhile.
    static let portAttempts = 3
    /// Between SIGTERM and SIGKILL.
    static let stopGrace = 10.0

    enum State: Equatable {
        case starting
        case ready
        /// Died; a restart is coming.
        case down
        case failed
        case stopped
    }

    let spec: ServeSpec
    let logPath: String
    let executable: String
    let environment: [String: String]
    private let logger: Logger
    /// Called (on the supervising thread) when the server is given up mid-run.
    var onGiveUp: (@Sendable () -> Void)?

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var state = State.starting
    private var current = 0
    private var why: String?
    private var wakers: [@Sendable () -> Void] = []
    private var stopRequested = false
    private var threadEnded = false
    private var _port = 0
    private var _readySeconds: Double?
    private var _restarts = 0
    /// Where it listens (0 before the first start).
    private(set) var port: Int {
        get { condition.withLock { _port } }
        set { condition.withLock { _port = newValue } }
    }
    /// Start to ready, the first time.
    private(set) var readySeconds: Double? {
        get { condition.withLock { _readySeconds } }
        set { condition.withLock { _readySeconds = newValue } }
    }
    /// Restarts after it died mid-run.
    private(set) var restarts: Int {
        get { condition.withLock { _restarts } }
        set { condition.withLock { _restarts = newValue } }
    }

    init(spec: ServeSpec, logPath: String, executable: String, environment: [String: String], logger: Logger) {
        self.spec = spec
        self.logPath = logPath
        self.executable = executable
        self.environment = environment
        self.logger = logger
    }

    var url: String { "http://127.0.0.1:\(port)/v1" }
    var baseURL: String { url }

    func start() {
        let thread = Thread { [self] in supervise() }
        thread.name = "pipeline.serve.\(spec.name)"
        thread.start()
    }

    var currentState: State { condition.withLock { state } }

    // MARK: ServedEndpoint

    var incarnation: Int { condition.withLock { current } }

    var failure: String? {
        condition.withLock { state == .failed || state == .stopped ? (why ?? "its server is stopped") : nil }
    }

    func whenReady(_ wake: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        switch state {
        case .ready: return true
        case .failed, .stopped: DispatchQueue.global().async(execute: wake)
        case .starting, .down: wakers.append(wake)
        }
        return false
    }

    func judge(failureAt incarnation: Int, _ verdict: @escaping @Sendable (Bool) -> Void) {
        judge(incarnation, verdict, checksLeft: 40)
    }

    /// Looks every 50 ms, for up to 2 s: a server killed mid-request closes
    /// its connections a moment before its supervisor sees it exit.
    private func judge(_ incarnation: Int, _ verdict: @escaping @Sendable (Bool) -> Void, checksLeft: Int) {
        condition.lock()
        let same = state == .ready && current == incarnation
        if !same {
            if state == .ready || state == .failed || state == .stopped {
                condition.unlock()
                DispatchQueue.global().async { verdict(true) }
            } else {
                wakers.append { verdict(true) }
                condition.unlock()
            }
            return
        }
        condition.unlock()
        guard checksLeft > 0 else { return verdict(false) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { [self] in
            judge(incarnation, verdict, checksLeft: checksLeft - 1)
        }
    }

    // MARK: Stopping

    /// [thread-safe] Stops the server (if running) and waits until it and
    /// its process group are gone.
    func stop() {
        condition.lock()
        stopRequested = true
        condition.broadcast()
        while !threadEnded { condition.wait() }
        condition.unlock()
    }

    // MARK: The supervising thread

    private struct Child {
        var pid: pid_t
        var lifeline: Int32
    }

    private enum Launch {
        case ready(Child)
        case failed(String)
        case stopped
    }

    private func set(_ new: State, why message: String? = nil, newIncarnation: Bool = false) {
        condition.lock()
        state = new
        if let message { why = message }
        if newIncarnation { current += 1 }
        let waiting = wakers
        if new != .starting && new != .down { wakers = [] }
        condition.broadcast()
        condition.unlock()
        if new != .starting && new != .down {
            for wake in waiting { DispatchQueue.global().async(execute: wake) }
        }
    }

    private func supervise() {
        defer {
            condition.lock()
            threadEnded = true
            if state != .failed { state = .stopped }
            let waiting = wakers
            wakers = []
            condition.broadcast()
            condition.unlock()
            for wake in waiting { DispatchQueue.global().async(execute: wake) }
        }
        var first = true
        while true {
            let began = ContinuousClock.now
            switch launch() {
            case .failed(let message):
                set(.failed, why: message)
                return
            case .stopped:
                return
            case .ready(let child):
                let seconds = (ContinuousClock.now - began) / .seconds(1)
                if first {
                    readySeconds = seconds
                    logger.info("serving \(spec.label): \(spec.kind.rawValue) at \(url), ready in \(String(format: "%.1f", seconds)) s (log: \(logPath))")
                } else {
                    logger.info("\(spec.label): server ready again at \(url) after \(String(format: "%.1f", seconds)) s")
                }
                first = false
                set(.ready, newIncarnation: true)
                guard let exit = watch(child) else { return }
                if restarts >= Self.maxRestarts {
                    let message = "its server (serve:) \(exit) and was already restarted \(restarts) times: giving up (log: \(logPath))"
                    logger.error("\(spec.label): \(message)")
                    set(.failed, why: message)
                    onGiveUp?()
                    return
                }
                restarts += 1
                let delay = Double(1 << (restarts - 1))
                logger.warning("\(spec.label): its server \(exit) mid-run; restart \(restarts) of \(Self.maxRestarts) in \(Int(delay)) s (log: \(logPath))")
                set(.down)
                if pause(delay) { return }
            }
        }
    }

    /// Waits `seconds`; true when a stop came meanwhile.
    private func pause(_ seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while !stopRequested, Date() < deadline { _ = condition.wait(until: deadline) }
        return stopRequested
    }

    private var stopping: Bool { condition.withLock { stopRequested } }

    /// Starts the server and waits until it is ready (or exits, or the
    /// startup timeout passes, or a stop comes).
    private func launch() -> Launch {
        // A restart takes the same port again if it can.
        let previous = port
        attempts: for attempt in 1...Self.portAttempts {
            let reuse = attempt == 1 && previous != 0 && !Loopback.isListening(port: previous)
            guard let port = reuse ? previous : Loopback.freePort() else { return .failed("\(spec.label): no free loopback port") }
            self.port = port
            let arguments = spec.arguments(port: port)
            let child: Child
            switch spawn(arguments) {
            case .failure(let error): return .failed(error.message)
            case .success(let started): child = started
            }
            let deadline = ContinuousClock.now + .milliseconds(Int(spec.startupTimeout * 1000))
            var lastStatus: Int?
            while true {
                if stopping {
                    terminate(child)
                    return .stopped
                }
                if let exit = exited(child) {
                    let taken = Loopback.isListening(port: port) || logMentionsPortInUse()
                    if taken, attempt < Self.portAttempts {
                        logger.warning("\(spec.label): port \(port) was taken before the server bound it; trying another")
                        continue attempts
                    }
                    let what = taken ? "could not bind port \(port) (taken by another process, \(attempt) ports tried)" : exit
                    return .failed("\(spec.label): its server (serve:) \(what) before it was ready; log: \(logPath)\(logTail())")
                }
                if let status = Loopback.status(port: port, path: spec.readyPath, timeout: 5) {
                    lastStatus = status
                    // Still ours: a process that took the port would answer
                    // while ours fails to bind and exits.
                    if status == 200, pauseBriefly(0.05), exited(child) == nil { return .ready(child) }
                }
                if ContinuousClock.now >= deadline {
                    terminate(child)
                    let seen = lastStatus.map { "GET \(spec.readyPath) answered \($0)" } ?? "nothing answered on port \(port)"
                    return .failed("\(spec.label): its server (serve:) was not ready after "
                                   + "\(Self.seconds(spec.startupTimeout)) s (startup_timeout_seconds; \(seen)); "
                                   + "log: \(logPath)\(logTail())")
                }
                _ = pauseBriefly(0.1)
            }
        }
        return .failed("\(spec.label): no port could be bound")
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// Sleeps up to `seconds` (less if a stop comes); always true.
    private func pauseBriefly(_ seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        if !stopRequested { _ = condition.wait(until: deadline) }
        condition.unlock()
        return true
    }

    private func spawn(_ arguments: [String]) -> Result<Child, ServeError> {
        let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            return .failure(ServeError("\(spec.label): cannot open the server log \(logPath): \(String(cString: strerror(errno)))"))
        }
        defer { close(fd) }
        let stamp = ISO8601DateFormatter().string(from: Date())
        let header = "== \(stamp) pipeline starts: \(arguments.map(Self.quoted).joined(separator: " "))\n"
        _ = header.withCString { write(fd, $0, strlen($0)) }
        let argv = ([executable] + arguments.dropFirst()).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        var lifeline: Int32 = -1
        let error = serve_spawn(executable, argv, envp, fd, Int32(Self.stopGrace), &pid, &lifeline)
        guard error == 0 else {
            return .failure(ServeError("\(spec.label): cannot start its server (serve:) \(executable): \(String(cString: strerror(error)))"))
        }
        return .success(Child(pid: pid, lifeline: lifeline))
    }

    private static func quoted(_ argument: String) -> String {
        argument.isEmpty || argument.contains(where: { $0 == " " || $0 == "\"" || $0 == "'" }) ? "'\(argument)'" : argument
    }

    /// How the child ended, if it has (it is reaped, its group killed).
    private func exited(_ child: Child) -> String? {
        var status: Int32 = 0
        let result = waitpid(child.pid, &status, WNOHANG)
        guard result == child.pid else { return nil }
        cleanUp(child)
        if (status & 0x7f) == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return "was killed by signal \(status & 0x7f)"
    }

    /// What is left of the group (the watchdog, processes the server
    /// started) is killed; the lifeline is closed.
    private func cleanUp(_ child: Child) {
        kill(-child.pid, SIGKILL)
        close(child.lifeline)
    }

    /// Watches a ready server; nil once it was stopped on request,
    /// otherwise how it ended by itself.
    private func watch(_ child: Child) -> String? {
        while true {
            condition.lock()
            if !stopRequested { _ = condition.wait(until: Date().addingTimeInterval(0.05)) }
            let stop = stopRequested
            condition.unlock()
            if stop {
                terminate(child)
                return nil
            }
            if let exit = exited(child) { return exit }
        }
    }

    /// SIGTERM to the group, SIGKILL after the grace period, reaped.
    private func terminate(_ child: Child) {
        kill(-child.pid, SIGTERM)
        let deadline = Date().addingTimeInterval(Self.stopGrace)
        var status: Int32 = 0
        while waitpid(child.pid, &status, WNOHANG) == 0 {
            if Date() >= deadline {
                logger.warning("\(spec.label): its server did not stop within \(Int(Self.stopGrace)) s of SIGTERM; SIGKILL")
                kill(-child.pid, SIGKILL)
                while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(20_000)
        }
        cleanUp(child)
    }

    private func logText(last bytes: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: logPath) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(bytes) ? size - UInt64(bytes) : 0)
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    private func logMentionsPortInUse() -> Bool {
        let text = logText(last: 4000).lowercased()
        return text.contains("address already in use") || text.contains("eaddrinuse") || text.contains("couldn't bind")
    }

    /// The last lines the server wrote, indented, for an error message.
    private func logTail() -> String {
        let lines = logText(last: 4000).split(separator: "\n", omittingEmptySubsequences: true).suffix(8)
        guard !lines.isEmpty else { return " (empty)" }
        return "; its last lines:\n" + lines.map { "    " + $0 }.joined(separator: "\n")
    }
}
