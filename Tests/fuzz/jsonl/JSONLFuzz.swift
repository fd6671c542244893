// libFuzzer target: the load_jsonl step (Plugins/data): the line reader
// (FileInput.swift), the JSON scanner (JSONScanner.swift, TextScanning.swift)
// and the row accumulator that infers column types and builds Arrow columns
// (JSONRows.swift), driven through LoadJSONL as the host drives it: the
// input is a file on disk, batches are read back value by value.
//
// Input: byte 0 = options (batch size, on_error, a small max_line_bytes,
// an .npy matrix of embeddings next to the file); the rest is the file.
@testable import PipelineData
@testable import PluginKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let options = input.byte()
    let matrixRows = Int(input.byte() % 8)
    let file = input.rest()
    let path = file.withUnsafeBufferPointer { ScratchFile.write($0.baseAddress ?? data, $0.count, suffix: ".jsonl") }

    var parameters = LoadJSONL.Parameters(path: path)
    parameters.batch_size = Int(options & 7) + 1
    parameters.on_error = options & 8 != 0 ? "skip" : "fail"
    if options & 16 != 0 { parameters.max_line_bytes = 24 }
    if options & 32 != 0, options & 8 == 0 {
        // A float32 matrix of matrixRows × 2, row-aligned with the lines.
        var npy: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(matrixRows), 2), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        npy += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8)
        for i in 0..<matrixRows * 2 { withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { npy += $0 } }
        parameters.embeddings = npy.withUnsafeBufferPointer { ScratchFile.write($0.baseAddress ?? data, $0.count, suffix: ".npy") }
        parameters.embedding_column = options & 64 != 0 ? "vector" : nil
    }

    do throws(StepError) {
        var step = try LoadJSONL(parameters: parameters, context: FuzzHost.context)
        drain(&step)
    } catch {
        expect(!error.message.isEmpty)
    }
    return 0
}
