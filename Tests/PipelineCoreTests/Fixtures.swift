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

    /// A fresh, empty directory for one test.
    static func emptyDirectory(_ label: String) throws -> URL {
        let url = cache.directory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func run(_ tool: String, _ arguments: [String], stdin: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
