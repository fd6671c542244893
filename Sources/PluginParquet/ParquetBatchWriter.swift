import ParquetFormat
import PluginKit

/// How `ParquetBatchWriter` writes.
public struct ParquetWriteOptions: Sendable {
    /// Page compression: `.snappy` (pyarrow's default), `.zstd` (level 1) or `.uncompressed`.
    public var codec: Codec
    /// Rows per row group. 100,000 rather than pyarrow's 1,048,576: a row
    /// group is held in memory (compressed pages) until it is complete, and
    /// LLM rows (a few KB of text and messages each) would make a million-row
    /// group several GB; 100,000 rows keeps groups near the ~100 MB that
    /// Hugging Face `datasets` aims at, which readers can fetch one at a time.
    public var rowGroupRows: Int
    /// Dictionary-encode every column but booleans, falling back to PLAIN
    /// pages once a chunk's dictionary passes 1 MiB (as pyarrow does).
    public var dictionary: Bool
    /// Chunk statistics: null_count, and min/max (with column orders).
    public var statistics: Bool
    /// Target size of a data page before compression.
    public var pageBytes: Int
    /// A row group is also cut when its buffered pages pass this many bytes
    /// (128 MiB), whatever `rowGroupRows` says, to bound memory.
    public var rowGroupBytes: Int

    public init(codec: Codec = .snappy, rowGroupRows: Int = 100_000, dictionary: Bool = true, statistics: Bool = true,
                pageBytes: Int = 1 << 20, rowGroupBytes: Int = 128 << 20) {
        self.codec = codec
        self.rowGroupRows = rowGroupRows
        self.dictionary = dictionary
        self.statistics = statistics
        self.pageBytes = pageBytes
        self.rowGroupBytes = rowGroupBytes
    }
}

/// Writes record batches as one Parquet file: every batch must have the
/// fields given at init (same names, same types). Row groups are cut every
/// `rowGroupRows` rows whatever the batch sizes; `finish` writes the last
/// one and the footer. A file with no rows is valid: the schema and no row
/// groups. Nothing is changed on the way: nulls at every depth, empty lists
/// and strings, float bits (NaN payloads, -0.0) and uint64 values as they are.
public final class ParquetBatchWriter {
    /// The `created_by` of every file written: this program, its version.
    public static let createdBy = "pipeline version 0.1.0"

    public let fields: [ArrowField]
    public private(set) var rowsWritten = 0
    public private(set) var rowGroupsWritten = 0
    private let options: ParquetWriteOptions
    private let file: FileWriter
    private let schema: ParquetSchema
    private let shredder: Shredder
    private var finished = false

    /// Rows shredded at a time before full pages are cut and the row
    /// group's size is checked (pyarrow checks its page size every 1024 values).
    static let sliceRows = 1024

    /// Writes to `sink` (the leading magic at once).
    public init(sink: @escaping ParquetSink, fields: [ArrowField], options: ParquetWriteOptions = .init()) throws(ParquetError) {
        switch options.codec {
        case .uncompressed, .snappy, .zstd: break
        default: throw .unsupported("writing with the compression codec \(options.codec.name) (supported: UNCOMPRESSED, SNAPPY, ZSTD)")
        }
        guard options.rowGroupRows > 0 else { throw .unsupported("row groups of \(options.rowGroupRows) rows (at least 1)") }
        guard options.pageBytes > 0 else { throw .unsupported("pages of \(options.pageBytes) bytes (at least 1)") }
        var seen = Set<String>()
        for field in fields where !seen.insert(field.name).inserted {
            throw .unsupported("two columns named \"\(field.name)\"")
        }
        self.fields = fields
        self.options = options
        schema = try ParquetSchema(fields: fields)
        let columnOptions = ColumnWriterOptions(codec: options.codec, dictionary: options.dictionary,
                                                statistics: options.statistics, pageBytes: options.pageBytes)
        file = try FileWriter(schema: schema.elements, leaves: schema.leaves, options: columnOptions,
                              createdBy: Self.createdBy, sink: sink)
        shredder = Shredder(writers: file.columns)
    }

    /// Writes to an open file descriptor, from its current offset; the
    /// caller closes it (and syncs and renames the file).
    public convenience init(fileDescriptor: Int32, name: String, fields: [ArrowField],
                            options: ParquetWriteOptions = .init()) throws(ParquetError) {
        try self.init(sink: FileWriter.fileDescriptorSink(fileDescriptor, name: name), fields: fields, options: options)
    }

    /// Appends the rows of `batch` (any number, zero included).
    public func write(_ batch: RecordBatch) throws(ParquetError) {
        guard !finished else { throw .io("write after finish") }
        try checkSchema(batch.fields)
        var start = 0
        while start < batch.length {
            let room = options.rowGroupRows - file.rowsInGroup
            let count = min(batch.length - start, room, Self.sliceRows)
            for (index, column) in batch.columns.enumerated() {
                do throws(ParquetError) {
                    try shredder.shred(column, schema.nodes[index], rows: start..<(start + count))
                } catch {
                    throw .at("column \(fields[index].name)", error)
                }
            }
            file.addRows(count)
            start += count
            try file.cutPages()
            if file.rowsInGroup >= options.rowGroupRows || file.bufferedBytes >= options.rowGroupBytes {
                try flushRowGroup()
            }
        }
        rowsWritten += batch.length
    }

    private func flushRowGroup() throws(ParquetError) {
        guard file.rowsInGroup > 0 else { return }
        try file.flushRowGroup()
        rowGroupsWritten += 1
    }

    /// Writes the last row group and the footer.
    public func finish() throws(ParquetError) {
        guard !finished else { return }
        try flushRowGroup()
        try file.finish()
        finished = true
    }

    /// The batch must carry the same columns, in the same order, with the
    /// same types (struct member names included; list item names may differ).
    private func checkSchema(_ batchFields: [ArrowField]) throws(ParquetError) {
        guard batchFields.count != fields.count || zip(batchFields, fields).contains(where: { !Self.sameShape($0.type, $1.type) || $0.name != $1.name }) else {
            return
        }
        for (index, field) in fields.enumerated() {
            guard index < batchFields.count else {
                throw .unsupported("a batch without the column \(field.name) that the file has (the schema of every batch must be the first one's)")
            }
            let other = batchFields[index]
            guard other.name == field.name else {
                throw .unsupported("a batch whose column \(index + 1) is \(other.name), not \(field.name) (the schema of every batch must be the first one's)")
            }
            guard Self.sameShape(other.type, field.type) else {
                throw .unsupported("a batch whose column \(field.name) is \(other.type.displayName), not \(field.type.displayName) as in the file")
            }
        }
        let extra = batchFields[fields.count]
        throw .unsupported("a batch with the column \(extra.name) that the file does not have (the schema of every batch must be the first one's)")
    }

    static func sameShape(_ a: ArrowType, _ b: ArrowType) -> Bool {
        switch (a, b) {
        case (.list(let x), .list(let y)): sameShape(x.type, y.type)
        case (.fixedSizeList(let x, let n), .fixedSizeList(let y, let m)): n == m && sameShape(x.type, y.type)
        case (.structure(let xs), .structure(let ys)):
            xs.count == ys.count && zip(xs, ys).allSatisfy { $0.name == $1.name && sameShape($0.type, $1.type) }
        // utf8 and large_utf8 are the same Parquet column.
        case (.utf8, .largeUtf8), (.largeUtf8, .utf8): true
        default: a == b
        }
    }
}
