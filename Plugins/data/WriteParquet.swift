import ParquetFormat
import PluginKit
import PluginParquet

/// Writes every input row to one Parquet file (a sink: it emits no rows),
/// through PluginParquet's writer: the schema comes from the first batch,
/// row groups of `row_group_rows` rows, pages compressed with `compression`.
///
/// As write_jsonl: the file is written under a temporary name of its own
/// next to the final path (created exclusively), and `finish` syncs it and
/// renames it into place; an instance destroyed without `finish` (a failed
/// or cancelled run) removes it, so an earlier file at the path is kept.
struct WriteParquet: PipelineStep {
    struct Parameters: Decodable {
        var path: String
        var include_row_id: Bool?
        var overwrite: Bool?
        var compression: String?
        var row_group_rows: Int?
        var dictionary: Bool?
        var statistics: Bool?
    }

    static let name = "write_parquet"

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.write_parquet", name: name, version: "1.0.0",
        description: """
            Writes the rows to one Parquet file that pyarrow, pandas, DuckDB and Hugging Face datasets read. \
            Columns in batch order, every one OPTIONAL (nullable): bool as BOOLEAN; int64 as INT64; uint64 as \
            INT64 annotated INTEGER(64, unsigned) (values above 2^63-1 kept); float32/float64 as FLOAT/DOUBLE, \
            bit for bit (NaN, -0.0, infinities); utf8 and large_utf8 as BYTE_ARRAY STRING (arrow.json text is \
            written as its text, a string; field metadata is not kept); list<T> as the standard 3-level LIST \
            (list/element); fixed_size_list<T>[n] (embeddings) as a LIST too, which readers see as list<T>; \
            struct as a group. Nulls at every depth are kept: a null list, an empty list, a null element, a \
            null struct and a struct with a null member read back as they were. Pages are v1, \
            dictionary-encoded (PLAIN once a column chunk's dictionary passes 1 MiB), ~1 MiB before \
            compression; chunk statistics (null count, min/max) are written. Refused, naming the column: a \
            struct with no fields, and a batch whose columns differ from the first batch's. No row gives a \
            valid file with the schema and no row group. The file appears, complete, when the step finishes: \
            it is written to a temporary file in the same directory and renamed.
            """,
        inputs: [.init("*", "any", description: "Every column is written (_row_id only with include_row_id).")],
        outputs: [],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["path"],
             "properties":{
              "path":{"type":"string","format":"output-path","description":"The Parquet file to write; parent directories are created."},
              "include_row_id":{"type":"boolean","default":false,"description":"Also write the host's _row_id column (uint64)."},
              "overwrite":{"type":"boolean","default":true,"description":"Replace an existing file; if false, an existing file makes the step fail before it runs."},
              "compression":{"type":"string","enum":["snappy","zstd","none"],"default":"snappy","description":"Page compression: snappy (pyarrow's default), zstd (level 1) or none."},
              "row_group_rows":{"type":"integer","minimum":1,"default":100000,"description":"Rows per row group (a row group is also cut when its pages pass 128 MiB, to bound memory)."},
              "dictionary":{"type":"boolean","default":true,"description":"Dictionary-encode columns (not booleans), falling back to PLAIN when a chunk's dictionary passes 1 MiB."},
              "statistics":{"type":"boolean","default":true,"description":"Write column chunk statistics: null count, min and max."}}}
            """,
        deterministic: false, stateful: true)

    private let sink: OutputFile
    private let includeRowId: Bool
    private let options: ParquetWriteOptions
    private var writer: ParquetBatchWriter?

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        let path = try Check.path(parameters.path, step: Self.name)
        includeRowId = parameters.include_row_id ?? false
        var options = ParquetWriteOptions()
        switch parameters.compression ?? "snappy" {
        case "snappy": options.codec = .snappy
        case "zstd": options.codec = .zstd
        case "none": options.codec = .uncompressed
        case let other:
            throw .invalidArgument("\(Self.name): compression \"\(other)\" is not one of snappy, zstd, none")
        }
        if let rows = parameters.row_group_rows {
            guard rows >= 1 else { throw .invalidArgument("\(Self.name): row_group_rows must be at least 1, not \(rows)") }
            options.rowGroupRows = rows
        }
        options.dictionary = parameters.dictionary ?? true
        options.statistics = parameters.statistics ?? true
        self.options = options
        sink = try OutputFile(path: path, overwrite: parameters.overwrite ?? true, step: Self.name)
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        if context.isCancelled { throw .cancelled(Self.name) }
        let rows = includeRowId ? batch : batch.removing("_row_id")
        let writer: ParquetBatchWriter
        if let existing = self.writer { writer = existing } else { writer = try start(rows.fields) }
        do throws(ParquetError) {
            try writer.write(rows)
        } catch {
            throw Self.failure(error, sink.path)
        }
        return nil
    }

    /// The writer, made for the first batch's columns.
    private mutating func start(_ fields: [ArrowField]) throws(StepError) -> ParquetBatchWriter {
        let sink = self.sink
        do throws(ParquetError) {
            let writer = try ParquetBatchWriter(sink: { (bytes: UnsafeRawBufferPointer) throws(ParquetError) in
                try sink.append(bytes)
            }, fields: fields, options: options)
            self.writer = writer
            return writer
        } catch {
            throw Self.failure(error, sink.path)
        }
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        // No batch at all: the columns are unknown; a file with none.
        let writer: ParquetBatchWriter
        if let existing = self.writer {
            writer = existing
        } else {
            context.log(.warning, "\(Self.name): no batch came in, so \(sink.path) has no columns")
            writer = try start([])
        }
        do throws(ParquetError) {
            try writer.finish()
        } catch {
            throw Self.failure(error, sink.path)
        }
        if try sink.commit() {
            context.log(.info, "\(Self.name): wrote \(writer.rowsWritten) rows in \(writer.rowGroupsWritten) row group(s) to \(sink.path)")
        }
        return nil
    }

    private static func failure(_ error: ParquetError, _ path: String) -> StepError {
        switch error {
        case .io: .io("\(name): cannot write \(path): \(error)")
        default: .invalidData("\(name): cannot write \(path): \(error)")
        }
    }
}

extension OutputFile {
    /// Appends bytes through the buffer, written out as it fills.
    func append(_ bytes: UnsafeRawBufferPointer) throws(ParquetError) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, OutputFile.flushThreshold)
            buffer.append(base + offset, count: n)
            offset += n
            if buffer.count >= OutputFile.flushThreshold {
                do throws(StepError) { try flush() } catch { throw .io(error.message) }
            }
        }
    }
}
