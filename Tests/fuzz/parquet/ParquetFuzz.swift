// libFuzzer target: the Parquet reader (ParquetFormat, PluginParquet's
// ParquetBatchReader) on arbitrary bytes: the footer and its Thrift, the
// schema tree, column chunk ranges, page headers, decompression, levels,
// dictionary indices, PLAIN and DELTA values, and the assembly of levels
// into Arrow columns. Every outcome must be a batch whose values all read
// back, or a ParquetError with a message; never a trap.
//
// Input: byte 0 = batch size (1 + low 4 bits) and, bit 4, whether to read
// only the first top-level column; the rest is the file.
import ParquetFormat
import PipelineArrow
import PluginParquet

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let options = input.byte()
    let file = input.rest()
    let path = file.withUnsafeBufferPointer { ScratchFile.write($0.baseAddress ?? data, $0.count, suffix: ".parquet") }

    // The footer alone, as load_parquet reads it for `columns:`.
    let footer: ParquetFileReader
    do throws(ParquetError) {
        footer = try ParquetFileReader(path: path)
    } catch {
        expect(!error.description.isEmpty)
        return 0
    }
    // A footer may claim any number of values for a tiny chunk (RLE levels
    // hold millions in a few bytes, legitimately): keep the fuzzer's
    // memory small by reading data only when the claims are modest.
    var claimed: Int64 = 0
    for group in footer.metadata.rowGroups {
        claimed = claimed &+ max(group.numRows, 0)
        for chunk in group.columns { claimed = claimed &+ max(chunk.metaData?.numValues ?? 0, 0) }
    }
    guard claimed >= 0, claimed < 1 << 20 else { return 0 }

    let columns = options & 0x10 != 0 ? footer.roots.first.map { [$0.name] } : nil
    let reader: ParquetBatchReader
    do throws(ParquetError) {
        reader = try ParquetBatchReader(path: path, columns: columns)
    } catch {
        expect(!error.description.isEmpty)
        return 0
    }
    expect(reader.fields.count == (columns?.count ?? footer.roots.count))
    let maxRows = Int(options & 0x0F) + 1
    var rows: Int64 = 0
    var calls = 0
    do throws(ParquetError) {
        while calls < 4096, let batch = try reader.next(maxRows: maxRows) {
            calls += 1
            expect(batch.length <= maxRows && batch.length > 0, "a batch of \(batch.length) rows for \(maxRows)")
            expect(batch.fields == reader.fields)
            _ = touchEveryValue(batch)
            rows += Int64(batch.length)
        }
        if calls < 4096 { expect(rows == reader.rowCount, "\(rows) rows read, the footer says \(reader.rowCount)") }
    } catch {
        expect(!error.description.isEmpty)
    }
    return 0
}
