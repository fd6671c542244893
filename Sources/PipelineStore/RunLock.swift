import PipelineJSON
import PipelineBase

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The lock of one run directory: `<dir>/run.lock`, an exclusive `flock`
/// on an open descriptor held for the whole run.
///
/// The kernel drops a flock when the last descriptor of its open file
/// description closes, which includes the process dying by any signal
/// (SIGKILL too), so a stale lock is impossible; the file itself stays and
/// is never deleted (deleting a lock file races with a process that has
/// just opened it). While held, the file holds the holder's pid and start
/// time as one JSON object, for messages only: the lock is the flock.
///
/// The descriptor is close-on-exec, so a subprocess a plugin starts never
/// inherits the lock and cannot keep it alive after the run ends.
public final class RunLock: Sendable {
    public static let fileName = "run.lock"

    /// Who holds a lock, as written in the lock file.
    public struct Holder: Sendable, Equatable {
        public var pid: Int32
        /// Seconds since 1970.
        public var startedAt: Double

        public init(pid: Int32, startedAt: Double) {
            self.pid = pid
            self.startedAt = startedAt
        }

        /// `pid 123, started 2024-05-01 02:17:03` (local time).
        public var description: String { "pid \(pid), started \(TimeText.local(startedAt))" }
    }

    /// What a probe of a directory found.
    public enum State: Sendable, Equatable {
        /// No `run.lock` in the directory.
        case absent
        /// The file exists and nobody holds the lock.
        case free
        /// A process holds the lock (its pid and start time, when readable).
        case held(Holder?)
    }

    public let directory: String
    public let path: String
    public let holder: Holder
    private let descriptor: Mutex<Int32>

    private init(directory: String, path: String, descriptor: Int32, holder: Holder) {
        self.directory = directory
        self.path = path
        self.holder = holder
        self.descriptor = Mutex(descriptor)
    }

    deinit { release() }

    /// Takes the lock of `directory` (which must exist). If another process
    /// holds it: without `wait`, throws a `RunLockError` whose `holder`
    /// names that process; with `wait`, calls `waiting` once with the holder
    /// and blocks until the lock is free.
    public static func acquire(directory: String, wait: Bool = false,
                               waiting: ((Holder?) -> Void)? = nil) throws(RunLockError) -> RunLock {
        let path = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunLockError(.system(operation: "open", path: path, code: errno)) }
        var locked = tryLock(fd, LOCK_EX)
        if !locked {
            // A probe (`pipeline runs`) holds a shared lock for microseconds:
            // look again a few times before calling the directory busy.
            for _ in 0..<5 where !locked {
                usleep(20_000)
                locked = tryLock(fd, LOCK_EX)
            }
        }
        if !locked {
            let other = readHolder(path: path)
            guard wait else {
                close(fd)
                throw RunLockError(.held(directory: directory, holder: other))
            }
            waiting?(other)
            while flock(fd, LOCK_EX) != 0 {
                guard errno == EINTR else {
                    let code = errno
                    close(fd)
                    throw RunLockError(.system(operation: "flock", path: path, code: code))
                }
            }
        }
        // Milliseconds, as written: the holder read back equals this one.
        let holder = Holder(pid: getpid(), startedAt: (TimeText.now() * 1000).rounded() / 1000)
        // Overwrite, then cut: a reader never sees an empty file in between.
        let text = "{\"pid\":\(holder.pid),\"started_at\":\(TimeText.seconds3(holder.startedAt))}\n"
        let written = text.utf8CString.withUnsafeBufferPointer { buffer in
            pwrite(fd, buffer.baseAddress, buffer.count - 1, 0)
        }
        if written >= 0 { _ = ftruncate(fd, off_t(written)) }
        return RunLock(directory: directory, path: path, descriptor: fd, holder: holder)
    }

    /// Gives the lock up (idempotent; also done when the lock is freed or
    /// the process ends).
    public func release() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            _ = ftruncate(fd, 0)
            _ = flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    /// Whether some process holds the lock of `directory`, without creating
    /// anything: a shared lock is tried and released at once. A lock file
    /// that cannot be opened (permissions) counts as held: when in doubt,
    /// a run directory is treated as busy.
    public static func state(of directory: String) -> State {
        let path = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno == ENOENT ? .absent : .held(nil) }
        defer { close(fd) }
        if tryLock(fd, LOCK_SH) {
            _ = flock(fd, LOCK_UN)
            return .free
        }
        return .held(readHolder(path: path))
    }

    /// True when another open lock (in this or another process) holds `directory`.
    public static func isLocked(_ directory: String) -> Bool {
        if case .held = state(of: directory) { return true }
        return false
    }

    private static func tryLock(_ fd: Int32, _ operation: Int32) -> Bool {
        while true {
            if flock(fd, operation | LOCK_NB) == 0 { return true }
            if errno != EINTR { return false }
        }
    }

    /// The holder written in the lock file. The holder writes it just after
    /// locking, so an unreadable file is read again briefly.
    static func readHolder(path: String) -> Holder? {
        for attempt in 0..<5 {
            if attempt > 0 { usleep(10_000) }
            guard let text = readSmallFile(path), let value = try? JSONValue(parsing: text),
                  let pid = value["pid"]?.int64Value, let pid32 = Int32(exactly: pid),
                  let started = value["started_at"]?.doubleValue
            else { continue }
            return Holder(pid: pid32, startedAt: started)
        }
        return nil
    }
}

/// A run directory's lock could not be taken.
public struct RunLockError: Error, CustomStringConvertible, Sendable {
    enum Code: Sendable {
        case held(directory: String, holder: RunLock.Holder?)
        case system(operation: String, path: String, code: Int32)
    }

    let code: Code

    init(_ code: Code) { self.code = code }

    /// True when another process holds the lock (exit code 4); false for
    /// a system error (the lock file could not be opened or locked).
    public var isHeld: Bool {
        if case .held = code { return true }
        return false
    }

    /// The process holding the lock, when the lock file named it.
    public var holder: RunLock.Holder? {
        if case .held(_, let holder) = code { return holder }
        return nil
    }

    public var description: String {
        switch code {
        case .held(let directory, let holder?):
            return "another run (\(holder.description)) is using \(directory)"
        case .held(let directory, nil):
            return "another run is using \(directory)"
        case .system(let operation, let path, let code):
            return "cannot lock \(path): \(operation): \(String(cString: strerror(code)))"
        }
    }
}

/// Reads a file of at most 64 KiB as UTF-8 text; nil if it cannot.
package func readSmallFile(_ path: String, limit: Int = 1 << 16) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: limit)
    var count = 0
    while count < limit {
        let got = bytes.withUnsafeMutableBytes { buffer in
            read(fd, buffer.baseAddress.map { $0 + count }, limit - count)
        }
        if got < 0 { if errno == EINTR { continue }; return nil }
        if got == 0 { break }
        count += got
    }
    return String(validating: bytes[..<count], as: UTF8.self)
}
