// A Parquet file written row group by row group: `PAR1`, the column chunks
// of each row group in schema order (pages buffered per column while the
// row group fills, so memory holds one row group, not the file), then the
// footer, its length and `PAR1`. Pages are v1 data pages with RLE levels,
// PLAIN or RLE_DICTIONARY values; see ColumnChunkWriter.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the file's bytes go, in order.
public typealias ParquetSink = (UnsafeRawBufferPointer) throws(ParquetError) -> Void

public final class FileWriter {
    /// The leaf writers, in schema order: the shredder appends into them.
    public let columns: [ColumnChunkWriter]
    private let schema: [SchemaElement]
    private let options: ColumnWriterOptions
    private let createdBy: String
    private let sink: ParquetSink
    private var position: Int64 = 0
    private var rowGroups: [RowGroup] = []
    /// Rows appended to the row group being filled.
    public private(set) var rowsInGroup = 0
    private var totalRows: Int64 = 0
    private var finished = false

    /// Writes the leading magic. `schema` is the flattened tree, root
    /// first; `leaves` its leaves in the same order.
    public init(schema: [SchemaElement], leaves: [OutputLeaf], options: ColumnWriterOptions,
                createdBy: String, sink: @escaping ParquetSink) throws(ParquetError) {
        var writers: [ColumnChunkWriter] = []
        for leaf in leaves { writers.append(try ColumnChunkWriter(leaf: leaf, options: options)) }
        columns = writers
        self.schema = schema
        self.options = options
        self.createdBy = createdBy
        self.sink = sink
        try emit(Self.magic)
    }

    static let magic: [UInt8] = Array("PAR1".utf8)

    private func emit(_ bytes: [UInt8]) throws(ParquetError) {
        let sink = self.sink
        try bytes.withUnsafeBytes { raw in Result { () throws(ParquetError) in try sink(raw) } }.get()
        position += Int64(bytes.count)
    }

    /// Counts `n` more rows appended to every column.
    public func addRows(_ n: Int) {
        rowsInGroup += n
    }

    /// Encodes the full pages of every column (call after each slice of rows).
    public func cutPages() throws(ParquetError) {
        for column in columns {
            do throws(ParquetError) { try column.cutPages(all: false) } catch { throw .at("column \(column.leaf.dottedPath)", error) }
        }
    }

    /// Bytes held for the row group being filled.
    public var bufferedBytes: Int { columns.reduce(0) { $0 + $1.bufferedBytes } }

    /// Writes the row group being filled, if it has rows.
    public func flushRowGroup() throws(ParquetError) {
        guard rowsInGroup > 0 else { return }
        let groupStart = position
        var chunks: [ColumnChunk] = []
        var totalUncompressed: Int64 = 0
        for column in columns {
            let chunk: ColumnChunkWriter.Chunk
            do throws(ParquetError) { chunk = try column.finishChunk() } catch { throw .at("column \(column.leaf.dottedPath)", error) }
            let start = position
            for piece in chunk.dictionaryPage { try emit(piece) }
            let dataStart = position
            for piece in chunk.dataPages { try emit(piece) }
            let metaData = ColumnMetaData(
                type: column.leaf.type, encodings: chunk.encodings, pathInSchema: column.leaf.path, codec: options.codec,
                numValues: chunk.numValues, totalUncompressedSize: chunk.totalUncompressedSize,
                totalCompressedSize: position - start, dataPageOffset: dataStart,
                dictionaryPageOffset: chunk.dictionaryPage.isEmpty ? nil : start, statistics: chunk.statistics)
            chunks.append(ColumnChunk(fileOffset: 0, metaData: metaData))
            totalUncompressed += chunk.totalUncompressedSize
        }
        rowGroups.append(RowGroup(columns: chunks, totalByteSize: totalUncompressed, numRows: Int64(rowsInGroup),
                                  fileOffset: groupStart, totalCompressedSize: position - groupStart))
        totalRows += Int64(rowsInGroup)
        rowsInGroup = 0
    }

    /// Writes the last row group and the footer. The file is complete when
    /// this returns; the sink is not closed.
    public func finish() throws(ParquetError) {
        guard !finished else { return }
        try flushRowGroup()
        let footer = FileMetaData(version: 1, schema: schema, numRows: totalRows, rowGroups: rowGroups,
                                  createdBy: createdBy, columnOrderCount: options.statistics ? columns.count : 0).encoded()
        try emit(footer)
        let length = UInt32(footer.count)
        try emit([UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)])
        try emit(Self.magic)
        finished = true
    }

    /// A sink that writes to a file descriptor (at its current offset),
    /// retrying short writes and EINTR.
    public static func fileDescriptorSink(_ fd: Int32, name: String) -> ParquetSink {
        return { (bytes: UnsafeRawBufferPointer) throws(ParquetError) in
            guard let base = bytes.baseAddress else { return }
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, base + offset, bytes.count - offset)
                if n < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    throw .io("cannot write \(name): \(String(cString: strerror(code)))")
                }
                offset += n
            }
        }
    }
}
