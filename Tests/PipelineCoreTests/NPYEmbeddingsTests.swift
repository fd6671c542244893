import Foundation
import PipelineArrow
import Testing

@testable import PipelineCore
@testable import PipelineHost

/// load_jsonl with a row-aligned .npy float32 matrix as the embedding column.
@Suite("load_jsonl with .npy embeddings")
struct NPYEmbeddingsTests {
    /// A version 1.0 .npy file of a rows × dims float32 matrix.
    static func npy(_ values: [Float], rows: Int, dims: Int) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(dims)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    private func loader() throws -> StepDescriptor {
        let library = Fixtures.buildDirectory.appendingPathComponent("libPipelineData.so").path
        try #require(FileManager.default.fileExists(atPath: library), "\(library) is missing: run `make test`")
        return try PluginRegistry.load(PluginSearchPath(entries: [library])).step("load_jsonl")
    }

    @Test func rowNOfTheMatrixGoesWithRowNOfTheFile() throws {
        let directory = try Fixtures.emptyDirectory("npy")
        let rows = 7, dims = 3
        try (0..<rows).map { #"{"id": \#($0)}"# }.joined(separator: "\n")
            .write(to: directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
        let values = (0..<rows * dims).map { Float($0) / 2 }
        try Self.npy(values, rows: rows, dims: dims).write(to: directory.appendingPathComponent("vectors.npy"))
        let instance = try StepInstance(try loader(), parameters: [
            "path": .string(directory.appendingPathComponent("rows.jsonl").path),
            "embeddings": .string(directory.appendingPathComponent("vectors.npy").path),
            "batch_size": .number(3),
        ])
        var seen = 0
        while let batch = try instance.process(nil) {
            let ids = try #require(batch.column("id"))
            let vectors = try #require(batch.column("embedding"))
            #expect(vectors.type == .embedding(width: dims))
            for row in 0..<batch.length {
                let id = Int(ids.int64(row))
                #expect(Array(vectors.float32Vector(row)) == Array(values[id * dims..<(id + 1) * dims]))
            }
            seen += batch.length
        }
        #expect(seen == rows)
    }

    @Test func aMatrixWithOtherRowCountsIsAnError() throws {
        let directory = try Fixtures.emptyDirectory("npy-mismatch")
        try "{\"id\": 1}\n{\"id\": 2}\n".write(to: directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
        for rows in [1, 3] {
            try Self.npy([Float](repeating: 1, count: rows * 2), rows: rows, dims: 2)
                .write(to: directory.appendingPathComponent("vectors.npy"))
            let instance = try StepInstance(try loader(), parameters: [
                "path": .string(directory.appendingPathComponent("rows.jsonl").path),
                "embeddings": .string(directory.appendingPathComponent("vectors.npy").path),
            ])
            #expect(throws: PluginError.self) { while try instance.process(nil) != nil {} }
        }
        try Data("not numpy".utf8).write(to: directory.appendingPathComponent("bad.npy"))
        #expect(throws: PluginError.self) {
            _ = try StepInstance(try loader(), parameters: [
                "path": .string(directory.appendingPathComponent("rows.jsonl").path),
                "embeddings": .string(directory.appendingPathComponent("bad.npy").path),
            ])
        }
    }
}
