import CPipelineABI

/// A batch of rows: equally long named columns. The unit that crosses the
/// plugin ABI (as a C Data Interface struct array).
public struct RecordBatch: Sendable {
    public let fields: [ArrowField]
    public let columns: [ArrowColumn]
    /// Number of rows.
    public let length: Int

    /// Makes a batch from columns; all must have `length` rows and match
    /// their field's type.
    public init(fields: [ArrowField], columns: [ArrowColumn], length: Int? = nil) throws(ArrowError) {
        guard fields.count == columns.count else {
            throw .lengthMismatch("\(fields.count) fields but \(columns.count) columns")
        }
        let rows = length ?? columns.first?.length ?? 0
        for (field, column) in zip(fields, columns) {
            guard column.length == rows else {
                throw .lengthMismatch("column \"\(field.name)\" has \(column.length) rows, the batch \(rows)")
            }
            guard column.type == field.type else {
                throw .typeMismatch("column \"\(field.name)\" is \(column.type.displayName), its field says \(field.type.displayName)")
            }
        }
        self.fields = fields
        self.columns = columns
        self.length = rows
    }

    /// Convenience: a batch from (name, column) pairs, every column nullable.
    public init(_ pairs: [(String, ArrowColumn)]) throws(ArrowError) {
        try self.init(fields: pairs.map { ArrowField($0.0, $0.1.type) }, columns: pairs.map(\.1))
    }

    /// The batch a struct array describes: its children, sliced to the
    /// struct's own offset and length.
    init(fields: [ArrowField], structColumn root: ArrowColumn) throws(ArrowError) {
        let columns = root.children.map { child in
            root.offset == 0 && child.length == root.length
                ? child : child.slice(from: root.offset, count: root.length)
        }
        try self.init(fields: fields, columns: columns, length: root.length)
    }

    /// The index of the column called `name`.
    public func index(of name: String) -> Int? { fields.firstIndex { $0.name == name } }

    /// The column called `name`.
    public func column(_ name: String) -> ArrowColumn? { index(of: name).map { columns[$0] } }

    /// The batch type as a struct.
    public var type: ArrowType { .structure(fields) }
}

extension ArrowColumn {
    /// A view of rows `[start, start+count)` sharing the same buffers.
    public func slice(from start: Int, count: Int) -> ArrowColumn {
        precondition(start >= 0 && count >= 0 && start + count <= length, "slice out of bounds")
        let nulls: Int
        if nullCount == 0 {
            nulls = 0
        } else if let bitmap = validityBitmap {
            nulls = countNulls(bitmap, offset: offset + start, length: count)
        } else {
            nulls = 0
        }
        return ArrowColumn(type: type, length: count, offset: offset + start, nullCount: nulls,
                           buffers: buffers, children: children, owner: owner)
    }
}

extension ArrowColumn {
    /// True when the memory belongs to someone else for the duration of a
    /// call (a plugin's borrowed input): such a column must be copied
    /// before it outlives the call.
    public var isBorrowed: Bool { owner is BorrowedMemory }

    /// A copy of the column in memory of its own.
    public func copied() -> ArrowColumn {
        let builder = ColumnBuilder(type == .largeUtf8 ? .utf8 : type)
        for row in 0..<length { builder.append(from: self, row: row) }
        return builder.finish()
    }
}

extension RecordBatch {
    /// The batch with every borrowed column copied, safe to keep or export
    /// after the call that lent the memory returns.
    public func owningCopies() throws(ArrowError) -> RecordBatch {
        guard columns.contains(where: \.isBorrowed) else { return self }
        let owned = columns.map { $0.isBorrowed ? $0.copied() : $0 }
        return try RecordBatch(fields: zip(fields, owned).map { field, column in
                                   var copy = field
                                   copy.type = column.type
                                   return copy
                               },
                               columns: owned, length: length)
    }

    /// The rows at `indices`, in that order, as a new batch.
    public func take(_ indices: some Collection<Int>) throws(ArrowError) -> RecordBatch {
        let taken = columns.map { column in
            let builder = ColumnBuilder(column.type == .largeUtf8 ? .utf8 : column.type)
            for row in indices { builder.append(from: column, row: row) }
            return builder.finish()
        }
        return try RecordBatch(fields: zip(fields, taken).map { field, column in
                                   var copy = field
                                   copy.type = column.type
                                   return copy
                               },
                               columns: taken, length: indices.count)
    }
}

extension RecordBatch {
    /// Rows `[start, start+count)` as a batch sharing the same buffers.
    public func slice(from start: Int, count: Int) -> RecordBatch {
        let sliced = columns.map { $0.slice(from: start, count: count) }
        // Same fields, same column types, equal lengths: cannot fail.
        return (try? RecordBatch(fields: fields, columns: sliced, length: count)) ?? self
    }

    /// The batch with `column` added (or replaced, if a column has its name).
    public func setting(_ field: ArrowField, _ column: ArrowColumn) throws(ArrowError) -> RecordBatch {
        var fields = self.fields
        var columns = self.columns
        if let index = index(of: field.name) {
            fields[index] = field
            columns[index] = column
        } else {
            fields.append(field)
            columns.append(column)
        }
        return try RecordBatch(fields: fields, columns: columns, length: length)
    }

    /// The batch without the column called `name` (unchanged if absent).
    public func removing(_ name: String) -> RecordBatch {
        guard let index = index(of: name) else { return self }
        var fields = self.fields
        var columns = self.columns
        fields.remove(at: index)
        columns.remove(at: index)
        return (try? RecordBatch(fields: fields, columns: columns, length: length)) ?? self
    }
}
