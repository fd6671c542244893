import ParquetFormat
import PluginKit
import PluginParquet

/// Reads a Parquet file (ParquetBatchReader): the columns and their types
/// come from the file's footer, the rows row group by row group, only the
/// chunks of the columns asked for.
struct LoadParquet: PipelineStep {
    struct Parameters: Decodable {
        var path: String
        var batch_size: Int?
        var columns: [String]?
        var limit: Int?
    }

    static let name = "load_parquet"

    static let info = StepInfo(
        kind: .generator, id: "org.pipeline.load_parquet", name: name, version: "1.0.0",
        description: """
            Reads a Parquet file, one row per Parquet row, with the file's columns (or those named in \
            `columns:`) and the types its schema gives: strings → utf8, BOOLEAN → bool, INT32 and \
            INT64 → int64 (unsigned 64-bit → uint64), FLOAT → float32, DOUBLE → float64, lists → list<…> \
            (three-level and legacy two-level), groups → struct<…>; nulls at every level, empty lists and \
            null list elements are kept as they are. Pages v1 and v2, PLAIN and dictionary encodings \
            (also DELTA_BINARY_PACKED and DELTA_LENGTH_BYTE_ARRAY), SNAPPY, ZSTD or uncompressed. \
            Anything else (INT96, timestamps, dates, decimals, binary without the STRING annotation, \
            maps, DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT, other codecs, encryption) fails the step before \
            the first row, naming the feature, the column and the file; `columns:` can leave such a \
            column out. The file is read one row group at a time; it tells the host the exact row \
            count from the footer.
            """,
        inputs: [],
        outputs: [.init("*", "any", description: "The file's top-level columns (or those of `columns:`).")],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["path"],
             "properties":{
              "path":{"type":"string","format":"input-path","description":"The Parquet file to read."},
              "batch_size":{"type":"integer","minimum":1,"default":1000,"description":"Rows per emitted batch (a row group's end also ends a batch)."},
              "columns":{"type":"array","format":"columns","items":{"type":"string","minLength":1},"minItems":1,
                "description":"The top-level columns to read, in this order (by default all of them, in the file's order); only their column chunks are read. A name the file does not have fails the step, listing the file's columns. With it, `validate` knows the step's columns."},
              "limit":{"type":"integer","minimum":0,"description":"Read at most this many rows (the first ones)."}}}
            """)

    private let reader: ParquetBatchReader
    private let displayPath: String
    private let batchSize: Int
    private var left: Int
    private var forecast = RowForecast()
    private var announced = false

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        let name = Self.name
        displayPath = try Check.path(parameters.path, step: name)
        batchSize = try Check.batchSize(parameters.batch_size ?? 1000, step: name)
        if let limit = parameters.limit, limit < 0 {
            throw .invalidArgument("\(name): limit must be at least 0 (got \(limit))")
        }
        if let columns = parameters.columns {
            guard !columns.isEmpty else { throw .invalidArgument("\(name): columns is empty") }
            for column in columns where column == rowIdColumn || column == errorColumn {
                throw .invalidArgument("\(name): columns: \"\(column)\" names a column the host owns")
            }
        }
        if let columns = parameters.columns {
            // A name the file does not have is a mistake in the pipeline, not in the data.
            let names: [String]
            do throws(ParquetError) {
                names = try ParquetFileReader(path: displayPath).roots.map(\.name)
            } catch {
                throw Self.stepError(.at(displayPath, error))
            }
            for column in columns where !names.contains(column) {
                throw .invalidArgument("\(name): \(displayPath) has no column \"\(column)\" (its columns: \(quotedList(names)))")
            }
        }
        do throws(ParquetError) {
            reader = try Self.reader(displayPath, columns: parameters.columns, step: name, context: context)
        } catch {
            throw Self.stepError(error)
        }
        let rows = Int(clamping: reader.rowCount)
        left = min(rows, parameters.limit ?? Int.max)
    }

    /// A reader of `path` (only `columns`, when given) that leaves out the
    /// columns the host owns (`_row_id`, `_error`: a file this program wrote
    /// with `include_row_id`, say), with a warning for each.
    static func reader(_ path: String, columns: [String]?, step: String, context: StepContext) throws(ParquetError) -> ParquetBatchReader {
        let reader = try ParquetBatchReader(path: path, columns: columns)
        let reserved = reader.fields.map(\.name).filter { $0 == rowIdColumn || $0 == errorColumn }
        guard !reserved.isEmpty else { return reader }
        for column in reserved {
            context.log(.warning, "\(step): \(path): leaving out the column \"\(column)\": it names a column the host owns")
        }
        return try ParquetBatchReader(path: path, columns: reader.fields.map(\.name).filter { !reserved.contains($0) })
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        if context.isCancelled { throw .cancelled(Self.name) }
        if !announced {
            announced = true
            forecast.exactly(left, context: context)
        }
        guard left > 0 else { return nil }
        let next: RecordBatch?
        do throws(ParquetError) {
            next = try reader.next(maxRows: min(batchSize, left))
        } catch {
            throw Self.stepError(error)
        }
        guard let next else {
            throw .invalidData("\(Self.name): \(displayPath): the file ended \(left) rows before the row count its footer gives")
        }
        left -= next.length
        return next
    }

    /// The step error of a reader error: bad bytes and unsupported features
    /// are bad data, a failed read is I/O.
    static func stepError(_ error: ParquetError) -> StepError {
        var root = error
        while case .at(_, let inner) = root { root = inner }
        if case .io = root { return .io("\(name): \(error)") }
        return .invalidData("\(name): \(error)")
    }
}
