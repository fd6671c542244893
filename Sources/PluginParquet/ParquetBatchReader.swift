import ParquetFormat
import PluginKit

/// Reads a Parquet file as record batches, row group by row group, each
/// selected column page by page: only the chunks of the selected columns
/// are read, and of each only the data page being assembled is held (with
/// its dictionary), so memory is bounded by the batch being built and one
/// page per column, whatever the size of a row group. The columns and their
/// Arrow types are known from the footer before the first batch; a column
/// of a type or encoding this reader does not support is refused when the
/// reader is made, naming the feature, the column and the file.
///
/// Errors read "file: row group N, column a.b.c: ..." (ParquetError.at).
public final class ParquetBatchReader {
    public let path: String
    private let file: ParquetFileReader
    private let shapes: [ColumnShape]
    public let fields: [ArrowField]
    private var group = -1
    private var assembler: LevelAssembler?
    private var rowsLeftInGroup = 0
    /// A batch ends early once its text reaches this (a utf8 column holds at most 2 GiB).
    static let maxBatchTextBytes = 512 << 20

    /// `columns`: top-level column names to read (all by default); a name
    /// the file does not have is an error listing the file's columns.
    public init(path: String, columns: [String]? = nil) throws(ParquetError) {
        self.path = path
        do throws(ParquetError) {
            file = try ParquetFileReader(path: path)
        } catch {
            throw .at(path, error)
        }
        let selected: [SchemaNode]
        if let columns {
            var nodes: [SchemaNode] = []
            var seen = Set<String>()
            for name in columns {
                guard let node = file.roots.first(where: { $0.name == name }) else {
                    let known = file.roots.map { "\"\($0.name)\"" }.joined(separator: ", ")
                    throw .at(path, .io("no column \"\(name)\" (the file's columns: \(known))"))
                }
                guard seen.insert(name).inserted else { continue }
                nodes.append(node)
            }
            selected = nodes
        } else {
            selected = file.roots
        }
        var fields: [ArrowField] = []
        var shapes: [ColumnShape] = []
        for node in selected {
            do throws(ParquetError) {
                let (field, shape) = try SchemaMapping.map(node)
                fields.append(field)
                shapes.append(shape)
            } catch {
                throw .at("\(path): column \(node.dottedPath)", error)
            }
        }
        self.fields = fields
        self.shapes = shapes
        // Every chunk to be read uses only what the reader supports: checked now, before any row.
        for (g, rowGroup) in file.metadata.rowGroups.enumerated() {
            for leaf in shapes.flatMap(\.leaves) {
                let column = file.leaves[leaf]
                do throws(ParquetError) {
                    guard let meta = rowGroup.columns[leaf].metaData else {
                        throw .corrupt("a column chunk without meta_data")
                    }
                    try ColumnChunkReader.check(meta, column: column)
                    _ = try file.chunkRange(rowGroup.columns[leaf])
                } catch {
                    throw .at("\(path): row group \(g), column \(column.dottedPath)", error)
                }
            }
        }
    }

    /// The rows the footer says the file holds.
    public var rowCount: Int64 { file.metadata.numRows }

    /// The number of row groups.
    public var rowGroupCount: Int { file.metadata.rowGroups.count }

    /// The file's key/value metadata (ARROW:schema, huggingface, ...).
    public var keyValueMetadata: [KeyValue] { file.metadata.keyValueMetadata }

    /// The next batch of at most `maxRows` rows (fewer at a row group's end,
    /// or when its text passes 512 MiB); nil at the end of the file.
    public func next(maxRows: Int) throws(ParquetError) -> RecordBatch? {
        precondition(maxRows > 0, "next(maxRows:) needs a positive count")
        while rowsLeftInGroup == 0 {
            if let finished = assembler {
                do throws(ParquetError) {
                    try finished.checkFinished()
                } catch {
                    throw placed(error)
                }
                finishedStates()
            }
            group += 1
            guard group < file.metadata.rowGroups.count else { return nil }
            try load(group)
        }
        guard var assembler else { return nil }
        let builders = fields.map { ColumnBuilder($0.type) }
        var rows = 0
        assembler.textBytes = 0
        do throws(ParquetError) {
            while rows < maxRows && rowsLeftInGroup > 0 && assembler.textBytes < Self.maxBatchTextBytes {
                for (shape, builder) in zip(shapes, builders) {
                    guard try assembler.startsRow(shape) else {
                        throw .corrupt("row \(rows) starts with a repetition level above 0")
                    }
                    try assembler.append(shape, to: builder)
                }
                rows += 1
                rowsLeftInGroup -= 1
            }
        } catch {
            throw placed(error)
        }
        self.assembler = assembler
        let columns = builders.map { $0.finish() }
        do {
            return try RecordBatch(fields: fields, columns: columns, length: rows)
        } catch {
            throw .at(path, .corrupt("the columns came out of different lengths: \(error)"))
        }
    }

    /// Starts row group `g`: a page reader per selected leaf (no page is read yet).
    private func load(_ g: Int) throws(ParquetError) {
        let rowGroup = file.metadata.rowGroups[g]
        var states: [LeafState?] = Array(repeating: nil, count: file.leaves.count)
        for leaf in shapes.flatMap(\.leaves) {
            do throws(ParquetError) {
                states[leaf] = LeafState(chunk: try ColumnChunkReader(file, rowGroup: g, leaf: leaf))
            } catch {
                throw .at("\(path): row group \(g), column \(file.leaves[leaf].dottedPath)", error)
            }
        }
        assembler = LevelAssembler(states: states)
        guard let rows = Int(exactly: rowGroup.numRows) else { throw .at(path, .corrupt("row group \(g) rows")) }
        rowsLeftInGroup = rows
    }

    /// The file and row group before an error from the assembler or a
    /// page: "file: row group N, column a.b: ...".
    private func placed(_ error: ParquetError) -> ParquetError {
        if case .at(let place, let inner) = error, place.hasPrefix("column ") {
            return .at("\(path): row group \(group), \(place)", inner)
        }
        return .at("\(path): row group \(group)", error)
    }

    // MARK: What is held (for tests)

    private var pagesReadBefore = 0
    private var mostEntriesHeldBefore: [String: Int] = [:]

    /// Data pages read so far, over all columns and row groups.
    public var pagesRead: Int {
        pagesReadBefore + (assembler?.states.reduce(0) { $0 + ($1?.pagesRead ?? 0) } ?? 0)
    }

    /// By leaf column (dotted path): the most level entries it held decoded
    /// at once, so far. At most one data page's, however large the row group.
    public var mostEntriesHeld: [String: Int] {
        var most = mostEntriesHeldBefore
        for case let state? in assembler?.states ?? [] {
            most[state.column.dottedPath] = max(most[state.column.dottedPath] ?? 0, state.mostEntriesHeld)
        }
        return most
    }

    /// Adds the finished row group's counts, and lets its pages go.
    private func finishedStates() {
        pagesReadBefore = pagesRead
        mostEntriesHeldBefore = mostEntriesHeld
        assembler = nil
    }
}
