import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineDefinition

/// The messages of the `pipeline` binary itself, in plain words: the
/// built binary and plugins, real files.
@Suite("CLI messages")
struct MessageTests {
    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func requireBuild() throws {
        try #require(FileManager.default.fileExists(atPath: binary), "\(binary) is missing: run `make plugins`")
        let plugins = Fixtures.buildDirectory.appendingPathComponent("pipeline-plugins/libPipelineData.so").path
        try #require(FileManager.default.fileExists(atPath: plugins), "\(plugins) is missing: run `make plugins`")
    }

    /// A pipeline that loads one row and writes it, in `directory`.
    private func writePipeline(in directory: URL) throws -> String {
        try "{\"prompt\": \"hi\"}\n".write(to: directory.appendingPathComponent("data.jsonl"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: p
            steps:
              - {name: load, uses: load_jsonl, with: {path: data.jsonl}}
              - {name: save, uses: write_jsonl, input: load, with: {path: out.jsonl}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func aCompressedPipelineFileIsNamedWithAPosition() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("gzip")
        let file = directory.appendingPathComponent("p.yaml.gz").path
        try Data([0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]).write(to: URL(fileURLWithPath: file))
        let result = try Fixtures.run(binary, ["validate", file])
        #expect(result.status == 2)
        #expect(result.output == """
            \(file):1:1: error: the file is gzip-compressed, not YAML text: decompress it first (gunzip)
            1 error in \(file)

            """)
    }

    @Test func invalidUTF8HasALineAndColumn() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("utf8")
        let file = directory.appendingPathComponent("p.yaml").path
        try Data(Array("name: p\nsteps: caf".utf8) + [0xE9, 0x0A]).write(to: URL(fileURLWithPath: file))
        let result = try Fixtures.run(binary, ["validate", file])
        #expect(result.status == 2)
        #expect(result.output.hasPrefix("\(file):2:11: error: invalid UTF-8: the character that byte 0xE9 starts is cut short by byte 0x0A"),
                "\(result.output)")
    }

    @Test func aHugeParamIsNotEchoedWhole() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("huge-param")
        let file = try writePipeline(in: directory)
        let value = String(repeating: "x", count: 100_000)
        let result = try Fixtures.run(binary, ["validate", file, "--param", "save.colour=" + value])
        #expect(result.status == 2)
        let shown = "--param save.colour=" + String(repeating: "x", count: 68) + "… (100012 bytes)"
        #expect(result.output == """
            error: \(shown): steps[1].with: unknown parameter "colour" (known: include_row_id, overwrite, path)
            1 error in \(file)

            """)
    }

    @Test func aRunDirectoryThatIsAFileIsSaidSo() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("run-dir-file")
        let file = try writePipeline(in: directory)
        let notADirectory = directory.appendingPathComponent("taken").path
        try "x".write(toFile: notADirectory, atomically: true, encoding: .utf8)
        let result = try Fixtures.run(binary, ["run", file, "--run-dir", notADirectory, "--log-format", "human"])
        #expect(result.status == 2)
        #expect(result.output.contains("error    --run-dir \(notADirectory) is a file, not a directory"), "\(result.output)")
        let below = try Fixtures.run(binary, ["run", file, "--run-dir", notADirectory + "/run", "--log-format", "human"])
        #expect(below.status == 2)
        #expect(below.output.contains("error    --run-dir \(notADirectory)/run cannot be a directory: \(notADirectory) is a file"),
                "\(below.output)")
    }

    @Test func aPluginPathWithoutSlashIsAFileInTheCurrentDirectory() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("plugin-path")
        let library = try Fixtures.library("Tests/Fixtures/plugins/good.c", name: "good", in: directory)
        let name = (library as NSString).lastPathComponent
        // dlopen("libgood.so") would search the library path, not the current directory.
        let result = try Fixtures.run("/bin/sh", ["-c", "cd '\(directory.path)' && '\(binary)' plugins list --plugin-path \(name)"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains(directory.appendingPathComponent(name).path), "\(result.output)")
        #expect(!result.output.contains("cannot open shared object file"), "\(result.output)")
    }

    @Test func aFailedStepSaysWhatHappenedInWords() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("step-failure")
        let file = try writePipeline(in: directory)
        let data = directory.appendingPathComponent("data.jsonl").path
        try "{\"prompt\": \"hi\"}\n{bad\n".write(toFile: data, atomically: true, encoding: .utf8)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try Fixtures.run(binary, ["run", file, "--run-dir", runDirectory, "--log-format", "human"])
        #expect(result.status == 1)
        #expect(result.output.contains("FAILED after"), "\(result.output)")
        #expect(result.output.contains(": step load: \(data):2:2: expected a string key"), "\(result.output)")
        #expect(!result.output.contains("INVALID_DATA") && !result.output.contains("failed with"), "\(result.output)")
    }

    @Test func aChangedPipelineNamesWhatChanged() throws {
        try requireBuild()
        let directory = try Fixtures.emptyDirectory("changed")
        let file = try writePipeline(in: directory)
        let runDirectory = directory.appendingPathComponent("run").path
        let first = try Fixtures.run(binary, ["run", file, "--run-dir", runDirectory])
        #expect(first.status == 0, "\(first.output)")
        let again = try Fixtures.run(binary, ["run", file, "--run-dir", runDirectory, "--log-format", "human",
                                              "--param", "save.include_row_id=true"])
        #expect(again.status == 2)
        #expect(again.output.contains(#"step "save" changed: with.include_row_id false → true. Resuming would mix"#),
                "\(again.output)")
    }
}
