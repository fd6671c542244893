// libFuzzer target: the load_csv step (Plugins/data/LoadCSV.swift, with
// FileInput.swift and TextScanning.swift): RFC 4180 records, quotes, CRLF,
// a byte order mark, header and given column names, type inference,
// on_error skip, max_record_bytes; batches are read back value by value.
//
// Input: byte 0 and 1 = options; the rest is the file.
@testable import PipelineData
@testable import PluginKit

private let delimiters = [",", ";", "\t", "|", " ", "\"", "ab", ""]
private let givenColumns: [[String]?] = [nil, ["a"], ["a", "b"], ["a", "b", "c"], ["x", "x"], [""], [], ["_row_id", "b"]]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let options = input.byte()
    let more = input.byte()
    let file = input.rest()
    let path = file.withUnsafeBufferPointer { ScratchFile.write($0.baseAddress ?? data, $0.count, suffix: ".csv") }

    var parameters = LoadCSV.Parameters(path: path)
    parameters.batch_size = Int(options & 7) + 1
    parameters.on_error = options & 8 != 0 ? "skip" : "fail"
    parameters.header = options & 16 == 0
    parameters.infer_types = options & 32 == 0
    if options & 64 != 0 { parameters.max_record_bytes = 16 }
    // Mostly a comma; sometimes another delimiter, or one the step refuses.
    parameters.delimiter = more & 0x80 != 0 ? delimiters[Int(more & 7)] : nil
    parameters.columns = givenColumns[Int((more >> 3) & 7)]

    do throws(StepError) {
        var step = try LoadCSV(parameters: parameters, context: FuzzHost.context)
        drain(&step)
    } catch {
        expect(!error.message.isEmpty)
    }
    return 0
}
