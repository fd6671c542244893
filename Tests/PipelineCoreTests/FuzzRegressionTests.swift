import Foundation
import PipelineArrow
import Testing

@testable import PipelineCore
@testable import PipelineLLMClient
@testable import PipelineHost

/// Inputs the fuzz targets of Tests/fuzz made crash, replayed through the
/// normal API (the same inputs are in Tests/fuzz/<target>/regressions/).
@Suite("Fuzzer regressions")
struct FuzzRegressionTests {
    /// Tests/fuzz/llm/regressions/embeddings-deep-nesting.json: the
    /// embeddings reader recursed once per open bracket, so an answer of
    /// 80,000 `[` overflowed the stack and took the host down.
    @Test func embeddingsAnswerNestedTooDeepIsMalformedNotACrash() {
        let deep = Array(#"{"data": [{"x": "#.utf8) + [UInt8](repeating: UInt8(ascii: "["), count: 200_000)
        #expect(LLMClient.parseEmbeddings(deep, count: 1) == nil)
        let closed = Array(#"{"data": [{"x": "#.utf8) + [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
            + [UInt8](repeating: UInt8(ascii: "]"), count: 100_000) + Array(#", "embedding": [1]}]}"#.utf8)
        #expect(LLMClient.parseEmbeddings(closed, count: 1) == nil)
        // Nesting as deep as JSONValue accepts is still read.
        let nested = String(repeating: "[", count: 250) + String(repeating: "]", count: 250)
        let fine = #"{"data": [{"index": 0, "x": \#(nested), "embedding": [1, 2]}]}"#
        #expect(LLMClient.parseEmbeddings(Array(fine.utf8), count: 1) == [[1, 2]])
    }

    /// Tests/fuzz/npy/regressions/shape-overflow.npy: rows × dimensions × 4
    /// overflowed Int (a trap) for a shape like (2305843009213693952, 4).
    @Test func npyShapeWhoseSizeOverflowsIsRefused() throws {
        let library = Fixtures.buildDirectory.appendingPathComponent("libPipelineData.so").path
        try #require(FileManager.default.fileExists(atPath: library), "\(library) is missing: run `make test`")
        let loader = try PluginRegistry.load(PluginSearchPath(entries: [library])).step("load_jsonl")
        let directory = try Fixtures.emptyDirectory("fuzz-npy")
        let rows = directory.appendingPathComponent("rows.jsonl")
        try "{\"id\": 1}\n".write(to: rows, atomically: true, encoding: .utf8)
        for (count, width) in [(2_305_843_009_213_693_952, 4), (1, 4_611_686_018_427_387_904), (0, 4_611_686_018_427_387_904)] {
            let matrix = directory.appendingPathComponent("vectors.npy")
            try NPYEmbeddingsTests.npy([0, 0, 0, 0], rows: count, dims: width).write(to: matrix)
            #expect(throws: PluginError.self) {
                let instance = try StepInstance(loader, parameters: [
                    "path": .string(rows.path), "embeddings": .string(matrix.path),
                ])
                while try instance.process(nil) != nil {}
            }
        }
    }
}
