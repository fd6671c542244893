import ParquetFormat
import PluginJSONLines
import PluginKit
import PluginParquet

/// The rows push_to_hub has taken in but not pushed yet, and the bytes of
/// the file the first `count` of them make. The same rows always make the
/// same file, whatever batches they came in: a resumed run that pushes a
/// shard again finds it on the Hub already (its id is the same).
protocol PendingRows {
    /// The file name's extension: "jsonl", "parquet".
    static var fileExtension: String { get }
    /// Rows held.
    var count: Int { get }
    /// Takes in `batch`'s rows from `start` on.
    mutating func append(_ batch: RecordBatch, from start: Int, step: String) throws(StepError)
    /// The file the first `count` rows make.
    func file(rows count: Int, step: String) throws(StepError) -> [UInt8]
    /// Forgets the first `count` rows (pushed).
    mutating func removeFirst(_ count: Int)
}

/// Rows as JSON Lines, byte for byte what write_jsonl writes.
struct PendingJSONLines: PendingRows {
    static let fileExtension = "jsonl"
    private var bytes = ByteArena(capacity: 1 << 16)
    /// Where each row's line ends in `bytes`.
    private var lineEnds: [Int] = []

    var count: Int { lineEnds.count }

    mutating func append(_ batch: RecordBatch, from start: Int, step: String) throws(StepError) {
        let line = JSONLineWriter(batch, includeRowId: false, step: step)
        for row in start..<batch.length {
            try line.append(row, to: bytes)
            lineEnds.append(bytes.count)
        }
    }

    func file(rows count: Int, step: String) throws(StepError) -> [UInt8] {
        Array(UnsafeBufferPointer(start: bytes.base, count: count == 0 ? 0 : lineEnds[count - 1]))
    }

    mutating func removeFirst(_ count: Int) {
        let used = count == 0 ? 0 : lineEnds[count - 1]
        let rest = ByteArena(capacity: max(bytes.count - used, 1 << 16))
        rest.append(bytes.base + used, count: bytes.count - used)
        bytes = rest
        lineEnds = lineEnds.dropFirst(count).map { $0 - used }
    }
}

/// Rows as a Parquet file (snappy, dictionary pages, statistics; the
/// columns of the first batch, `_row_id` and `_error` left out), one row
/// group per file up to 100,000 rows.
struct PendingParquet: PendingRows {
    static let fileExtension = "parquet"
    /// Owned copies of the rows, in order.
    private var batches: [RecordBatch] = []
    private(set) var count = 0

    mutating func append(_ batch: RecordBatch, from start: Int, step: String) throws(StepError) {
        guard start < batch.length else { return }
        var rows = batch.removing("_row_id").removing("_error")
        if start > 0 { rows = rows.slice(from: start, count: rows.length - start) }
        do {
            batches.append(try rows.owningCopies())
        } catch {
            throw .invalidData("\(step): cannot keep the rows for the next push: \(error)")
        }
        count += rows.length
    }

    func file(rows count: Int, step: String) throws(StepError) -> [UInt8] {
        guard let fields = batches.first?.fields else { return [] }
        let rows = try combined(count, fields: fields, step: step)
        var bytes: [UInt8] = []
        do throws(ParquetError) {
            let writer = try ParquetBatchWriter(sink: { chunk in bytes.append(contentsOf: chunk) }, fields: rows.fields)
            try writer.write(rows)
            try writer.finish()
        } catch {
            throw .invalidData("\(step): the rows cannot be written as Parquet: \(error)")
        }
        return bytes
    }

    /// The first `count` rows as one batch, so the file (its pages and row
    /// groups) does not depend on how the rows were batched when they came.
    private func combined(_ count: Int, fields: [ArrowField], step: String) throws(StepError) -> RecordBatch {
        if let first = batches.first, first.length == count { return first }
        let builders = fields.map { ColumnBuilder($0.type == .largeUtf8 ? .utf8 : $0.type) }
        var left = count
        for batch in batches where left > 0 {
            guard batch.fields.map(\.name) == fields.map(\.name) else {
                throw .invalidData("\(step): a batch with other columns (\(batch.fields.map(\.name).joined(separator: ", "))) than the first (\(fields.map(\.name).joined(separator: ", "))) cannot go in one Parquet file")
            }
            let take = min(left, batch.length)
            for (builder, column) in zip(builders, batch.columns) {
                for row in 0..<take { builder.append(from: column, row: row) }
            }
            left -= take
        }
        let columns = builders.map { $0.finish() }
        do {
            return try RecordBatch(fields: zip(fields, columns).map { field, column in
                var copy = field
                copy.type = column.type
                return copy
            }, columns: columns, length: count)
        } catch {
            throw .invalidData("\(step): \(error)")
        }
    }

    mutating func removeFirst(_ count: Int) {
        var left = count
        while left > 0, let first = batches.first {
            if first.length <= left {
                left -= first.length
                batches.removeFirst()
            } else {
                batches[0] = first.slice(from: left, count: first.length - left)
                left = 0
            }
        }
        self.count -= count
    }
}
