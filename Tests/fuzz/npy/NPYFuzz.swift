// libFuzzer target: the .npy matrix reader (Plugins/data/NPY.swift): magic,
// versions 1-3, the header dict, the shape, the size check; then every row
// is read, in blocks, through the memory-mapped and the pread paths.
//
// Input: byte 0 = how many rows each read asks for, and which path; the
// rest is the .npy file.
@testable import PipelineData
@testable import PluginKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let options = input.byte()
    let file = input.rest()
    let path = file.withUnsafeBufferPointer { ScratchFile.write($0.baseAddress ?? data, $0.count, suffix: ".npy") }

    let reader: NPYMatrixReader
    do throws(StepError) {
        reader = try NPYMatrixReader(path: path, step: "fuzz")
    } catch {
        expect(!error.message.isEmpty)
        return 0
    }
    expect(reader.rows >= 0 && reader.columns > 0)
    // The reader promised the file holds rows × columns floats.
    expect(reader.rows == 0 || reader.columns <= file.count / 4, "\(reader.columns) columns in \(file.count) bytes")
    let block = Int(options & 7) + 1
    var sum: Float = 0
    var calls = 0
    do throws(StepError) {
        // One block more than the matrix holds: the last read must fail cleanly.
        while reader.rowsRead <= reader.rows, calls < 64 {
            calls += 1
            let count = min(block, reader.rows - reader.rowsRead + 1)
            // An empty matrix may claim any width: never allocate for it.
            let mapped = options & 8 != 0 || reader.rows == 0
            if mapped, let column = try reader.mappedRows(count, step: "fuzz") {
                expect(column.length == count)
                for row in 0..<count { sum += column.float32Vector(row).reduce(0, +) }
            } else if reader.rows > 0 {
                let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: count * reader.columns)
                defer { floats.deallocate() }
                try reader.readRows(into: UnsafeMutableRawBufferPointer(floats), step: "fuzz")
                sum += floats.reduce(0, +)
            } else {
                break
            }
        }
    } catch {
        expect(!error.message.isEmpty)
    }
    _ = sum
    return 0
}
