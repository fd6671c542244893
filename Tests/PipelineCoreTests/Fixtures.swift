import Foundation
import Testing

@testable import PipelineCore

/// Builds the C fixture plugins (and the built-in C plugins) with the
/// system C compiler into a temporary directory, once per test process.
enum Fixtures {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let includeDirectory = packageRoot.appendingPathComponent("Sources/CPipelineABI/include").path

    /// The directory the test executable runs from (.build/<config>/).
    static let buildDirectory: URL = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On Linux the test binary is .build/<config>/<name>.xctest itself.
        while url.pathExtension == "xctest" || url.lastPathComponent == "MacOS" || url.lastPathComponent == "Contents" {
            url.deleteLastPathComponent()
        }
        return url
    }()

    private static let cache = Cache()

    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var built: [String: String] = [:]
        let directory: URL = {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-fixtures-\(getpid())")
            try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }()
    }

    /// Compiles `source` (relative to the package root) into
    /// `<dir>/lib<name>.so` and returns the library path.
    static func library(_ source: String, name: String? = nil, in directory: URL? = nil) throws -> String {
        let base = name ?? URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
        let outputDirectory = directory ?? cache.directory
        let output = outputDirectory.appendingPathComponent("lib\(base).so").path
        let key = "\(source)->\(output)"
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if let path = cache.built[key] { return path }
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        let result = try run("/usr/bin/env", ["cc", "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-fPIC", "-shared",
                                              "-fvisibility=hidden", "-I", includeDirectory, "-o", output,
                                              packageRoot.appendingPathComponent(source).path])
        guard result.status == 0 else {
            throw FixtureError(message: "cc \(source) failed:\n\(result.output)")
        }
        cache.built[key] = output
        return output
    }

    /// The built `pipeline` binary.
    static var pipelineBinary: String { buildDirectory.appendingPathComponent("pipeline").path }

    /// Fails the test unless the binary and the built-in plugins are built.
    static func requireBuiltPipeline() throws {
        try #require(FileManager.default.fileExists(atPath: pipelineBinary), "\(pipelineBinary) is missing: run `make test`")
        let plugins = buildDirectory.appendingPathComponent("pipeline-plugins/libPipelineData.so").path
        try #require(FileManager.default.fileExists(atPath: plugins),
                     "\(plugins) is missing: run `make test`, which builds the plugins first")
    }

    /// A fresh, empty directory for one test.
    static func emptyDirectory(_ label: String) throws -> URL {
        let url = cache.directory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs a tool to its end: exit status and stdout + stderr. Through
    /// posix_spawn and waitpid (Spawned): Foundation's Process sometimes
    /// never reaps its child when other children come and go in the test
    /// runner, and waitUntilExit then hangs (seen with cc beside the Hub
    /// double).
    static func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try Spawned(tool, arguments).wait()
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A child process started with posix_spawn and reaped with waitpid.
/// (Foundation's Process sometimes fails to reap a child when several run
/// at once in the test runner, and waitUntilExit then hangs.)
struct Spawned {
    let pid: pid_t
    let outputPath: String

    /// Starts `path` with `arguments`; stdout and stderr go to a temp file.
    init(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("spawn-\(UUID().uuidString).log").path
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Children must not inherit the test runner's blocked signals.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0)=\($1)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in env { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, env)
        guard status == 0 else { throw FixtureError(message: "posix_spawn \(path): \(String(cString: strerror(status)))") }
        self.pid = pid
    }

    /// Waits for the exit; returns the exit status (128 + signal if killed) and the output.
    func wait() -> (status: Int32, output: String) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, output)
    }

    /// True while the process has not exited (checked without reaping it).
    var isRunning: Bool {
        var info = siginfo_t()
        return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._sigchld.si_pid == 0
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    func kill(_ signal: Int32 = SIGKILL) { _ = Glibc.kill(pid, signal) }
}
