import Foundation
import Testing

/// Runs Tests/conformance/arrow_roundtrip.py: pyarrow hands batches to
/// PipelineArrow (through libArrowConformance) and checks what comes back.
///
/// Needs the venv `<package>/.build/test-venv` with pyarrow (`make venv`)
/// and libArrowConformance built next to this test binary
/// (`swift build --product ArrowConformance`, same configuration and
/// scratch path). Without them the test is skipped, unless
/// PIPELINE_REQUIRE_PYARROW=1 (set by `make test`) makes it fail.
enum PyArrowConformance {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // PipelineArrowTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    static var python: URL { packageRoot.appendingPathComponent(".build/test-venv/bin/python") }
    static var script: URL { packageRoot.appendingPathComponent("Tests/conformance/arrow_roundtrip.py") }

    static var libraryName: String {
        #if canImport(Darwin)
        "libArrowConformance.dylib"
        #else
        "libArrowConformance.so"
        #endif
    }

    /// Directories that may hold the test binary, most reliable first.
    static var binaryDirectories: [URL] {
        var directories: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            directories.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        #if canImport(Darwin)
        // On macOS the tests run inside a host process; the .xctest bundle
        // sits in the build directory.
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        #endif
        if let first = CommandLine.arguments.first {
            let url = URL(fileURLWithPath: first).resolvingSymlinksInPath()
            directories.append(url.deletingLastPathComponent())
        }
        var seen = Set<String>()
        return directories.filter { seen.insert($0.standardizedFileURL.path).inserted }
    }

    static var library: URL? {
        binaryDirectories.lazy.map { $0.appendingPathComponent(libraryName) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }

    static var required: Bool { ProcessInfo.processInfo.environment["PIPELINE_REQUIRE_PYARROW"] == "1" }

    /// What is missing to run the script, empty when everything is there.
    static var missing: [String] {
        var missing: [String] = []
        if !FileManager.default.isExecutableFile(atPath: python.path) {
            missing.append("no Python venv at \(python.path) (make venv)")
        }
        if library == nil {
            let places = binaryDirectories.map(\.path).joined(separator: ", ")
            missing.append("no \(libraryName) next to the test binary in \(places) (swift build --product ArrowConformance)")
        }
        if !FileManager.default.fileExists(atPath: script.path) {
            missing.append("no script at \(script.path)")
        }
        return missing
    }

    /// Whether to run: always when required (the test then fails on what is
    /// missing), otherwise only when everything is there.
    static var shouldRun: Bool {
        if required { return true }
        let missing = self.missing
        if !missing.isEmpty {
            FileHandle.standardError.write(Data(
                "skipping the pyarrow conformance test: \(missing.joined(separator: "; ")); set PIPELINE_REQUIRE_PYARROW=1 to make this a failure\n".utf8))
        }
        return missing.isEmpty
    }
}

@Suite("pyarrow conformance")
struct PyArrowConformanceTests {
    @Test("pyarrow ⇄ PipelineArrow through the C Data Interface",
          .enabled(if: PyArrowConformance.shouldRun, "needs .build/test-venv with pyarrow and libArrowConformance"),
          .timeLimit(.minutes(5)))
    func arrowRoundtripScript() throws {
        let missing = PyArrowConformance.missing
        guard missing.isEmpty, let library = PyArrowConformance.library else {
            Issue.record("PIPELINE_REQUIRE_PYARROW=1 but: \(missing.joined(separator: "; "))")
            return
        }
        let process = Process()
        process.executableURL = PyArrowConformance.python
        process.arguments = ["-B", PyArrowConformance.script.path, library.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Read before waiting, so a full pipe cannot block the script.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)

        #expect(process.terminationReason == .exit, "the script was killed by a signal:\n\(text)")
        #expect(process.terminationStatus == 0, "arrow_roundtrip.py failed:\n\(text)")
        let summary = lines.last { $0.hasPrefix("arrow conformance: ") }
        let passed = summary.flatMap { line -> Int? in
            let words = line.split(separator: " ")
            return words.count == 6 && line.hasSuffix(" passed, 0 failed") ? Int(words[2]) : nil
        }
        #expect(passed != nil, "no \"arrow conformance: N passed, 0 failed\" line in:\n\(text)")
        #expect((passed ?? 0) >= 10, "only \(passed ?? 0) cases ran:\n\(text)")
        #expect(!lines.contains { $0.hasPrefix("FAIL") }, "\(text)")
    }
}
