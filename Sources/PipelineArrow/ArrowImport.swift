import CPipelineABI

/// Owns an imported `ArrowArray` and calls its `release` exactly once, when
/// the last column referring to it goes away.
final class ImportedArray: @unchecked Sendable {
    let array: UnsafeMutablePointer<ArrowArray>

    /// Moves `source` into a heap copy; `source` is left released.
    ///
    /// Not inlinable on purpose: with the initializer inlined into
    /// `RecordBatch.importing`, Swift 6.3's optimizer promoted the object to
    /// the stack although the columns it returns keep it (AddressSanitizer:
    /// stack-use-after-return in deinit; release builds crashed at random).
    @inline(never)
    init(moving source: UnsafeMutablePointer<ArrowArray>) {
        array = .allocate(capacity: 1)
        array.initialize(to: source.pointee)
        source.pointee.release = nil
    }

    deinit {
        if let release = array.pointee.release { release(array) }
        array.deallocate()
    }
}

extension ArrowField {
    /// Reads a schema node (format, name, flags, children) without taking it.
    /// Nesting deeper than the store's codec keeps (64 levels below the
    /// batch) is refused.
    static func read(_ schema: UnsafePointer<ArrowSchema>, path: String, depth: Int = 0) throws(ArrowError) -> ArrowField {
        guard depth <= 64 else { throw .malformed("schema nests deeper than 64 levels", at: path) }
        guard let formatPointer = schema.pointee.format else {
            throw .malformed("schema has no format", at: path)
        }
        let format = String(cString: formatPointer)
        let name = schema.pointee.name.map { String(cString: $0) } ?? ""
        let childCount = Int(schema.pointee.n_children)
        guard childCount >= 0, childCount <= 100_000, childCount == 0 || schema.pointee.children != nil else {
            throw .malformed("schema children are missing", at: path)
        }
        guard schema.pointee.dictionary == nil else {
            throw .unsupportedFormat("dictionary<\(format)>", at: path)
        }
        var children: [ArrowField] = []
        children.reserveCapacity(childCount)
        for index in 0..<childCount {
            guard let child = schema.pointee.children[index] else {
                throw .malformed("schema child \(index) is NULL", at: path)
            }
            let childName = child.pointee.name.map { String(cString: $0) } ?? "\(index)"
            children.append(try read(child, path: path.isEmpty ? childName : "\(path).\(childName)", depth: depth + 1))
        }
        let type = try ArrowType.parse(format: format, children: children, path: path)
        let metadata = try readMetadata(schema.pointee.metadata, path: path)
        return ArrowField(name, type, nullable: schema.pointee.flags & Int64(ARROW_FLAG_NULLABLE) != 0,
                          metadata: metadata)
    }

    /// Decodes the C Data Interface's metadata: an int32 count, then per
    /// pair an int32 length and the key's bytes, an int32 length and the
    /// value's (native byte order). The buffer's size is not passed along,
    /// so counts and lengths are bounded before anything is read; a repeated
    /// key keeps its last value.
    static func readMetadata(_ pointer: UnsafePointer<CChar>?, path: String) throws(ArrowError) -> [String: String] {
        guard let pointer else { return [:] }
        let raw = UnsafeRawPointer(pointer)
        var offset = 0
        var total = 0
        func int32() throws(ArrowError) -> Int {
            let value = Int(raw.loadUnaligned(fromByteOffset: offset, as: Int32.self))
            offset += 4
            guard value >= 0 else { throw .malformed("metadata has a negative count or length (\(value))", at: path) }
            return value
        }
        func text(_ length: Int) throws(ArrowError) -> String {
            total += length
            guard length <= 1 << 20, total <= 1 << 24 else {
                throw .malformed("metadata is too large (a length of \(length) bytes)", at: path)
            }
            defer { offset += length }
            return String(decoding: UnsafeRawBufferPointer(start: raw + offset, count: length), as: UTF8.self)
        }
        let count = try int32()
        guard count <= 4096 else { throw .malformed("metadata has \(count) entries (at most 4096 are read)", at: path) }
        var metadata: [String: String] = [:]
        for _ in 0..<count {
            let key = try text(try int32())
            metadata[key] = try text(try int32())
        }
        return metadata
    }
}

extension ArrowColumn {
    /// Wraps `array` (owned by `owner`) as a column of `type`, checking the
    /// structure the C Data Interface requires: buffer and child counts,
    /// present buffers, offsets in order and within their children.
    static func wrap(_ array: UnsafePointer<ArrowArray>, type: ArrowType, owner: AnyObject,
                     path: String) throws(ArrowError) -> ArrowColumn {
        let a = array.pointee
        let length = Int(a.length)
        let offset = Int(a.offset)
        guard length >= 0, offset >= 0 else {
            throw .malformed("negative length \(length) or offset \(offset)", at: path)
        }
        // Producer-supplied numbers: every sum and product below must fit.
        guard case (let end, false) = offset.addingReportingOverflow(length), end < Int(Int32.max) * 64 else {
            throw .malformed("offset \(offset) + length \(length) is out of range", at: path)
        }
        guard Int(a.n_buffers) == type.bufferCount else {
            throw .malformed("\(type.displayName) needs \(type.bufferCount) buffers, found \(a.n_buffers)", at: path)
        }
        guard Int(a.n_children) == type.children.count else {
            throw .malformed("\(type.displayName) needs \(type.children.count) children, found \(a.n_children)", at: path)
        }
        guard a.dictionary == nil else { throw .malformed("unexpected dictionary", at: path) }
        guard let rawBuffers = a.buffers else { throw .malformed("buffers pointer is NULL", at: path) }
        let buffers = (0..<type.bufferCount).map { rawBuffers[$0] }
        // Data buffers must exist once there are rows; validity may be absent,
        // and so may the bytes of a text column whose rows are all empty
        // (checked with the offsets below).
        if length > 0 {
            for index in 1..<type.bufferCount where buffers[index] == nil && index != 2 {
                throw .malformed("buffer \(index) is NULL with \(length) rows", at: path)
            }
        }
        // Values are read with aligned loads: a misaligned buffer from a
        // plugin is refused here rather than read (the header's rule).
        if type.bufferCount > 1, let data = buffers[1] {
            let alignment = type.valueWidth ?? (type == .largeUtf8 ? 8 : type == .bool ? 1 : 4)
            guard UInt(bitPattern: data) % UInt(alignment) == 0 else {
                throw .malformed("buffer 1 of \(type.displayName) is not aligned to \(alignment) bytes", at: path)
            }
        }
        var nullCount = Int(a.null_count)
        if let bitmap = buffers[0]?.assumingMemoryBound(to: UInt8.self) {
            if nullCount < 0 { nullCount = countNulls(bitmap, offset: offset, length: length) }
            guard nullCount <= length else {
                throw .malformed("null_count \(nullCount) exceeds the \(length) rows", at: path)
            }
        } else if nullCount > 0 {
            throw .malformed("null_count is \(nullCount) but there is no validity bitmap", at: path)
        } else {
            nullCount = 0
        }

        var children: [ArrowColumn] = []
        let fields = type.children
        if !fields.isEmpty {
            guard let rawChildren = a.children else { throw .malformed("children pointer is NULL", at: path) }
            for (index, field) in fields.enumerated() {
                guard let child = rawChildren[index] else { throw .malformed("child \(index) is NULL", at: path) }
                let childPath = path.isEmpty ? field.name : "\(path).\(field.name)"
                children.append(try wrap(UnsafePointer(child), type: field.type, owner: owner, path: childPath))
            }
        }

        switch type {
        case .utf8, .list, .largeUtf8:
            if length > 0 {
                try checkOffsets(buffers, type: type, offset: offset, length: length,
                                 limit: children.first?.length, path: path)
            }
        case .fixedSizeList(_, let width):
            guard case (let needed, false) = end.multipliedReportingOverflow(by: width) else {
                throw .malformed("fixed-size list width \(width) × \(end) rows is out of range", at: path)
            }
            guard children[0].length >= needed else {
                throw .malformed("fixed-size list of \(length) rows × \(width) needs \(needed) items, child has \(children[0].length)", at: path)
            }
        case .structure:
            for (index, child) in children.enumerated() where child.length < offset + length {
                throw .malformed("struct child \(fields[index].name) has \(child.length) rows, needs \(offset + length)", at: path)
            }
        default:
            break
        }
        return ArrowColumn(type: type, length: length, offset: offset, nullCount: nullCount,
                           buffers: buffers, children: children, owner: owner)
    }

    private static func checkOffsets(_ buffers: [UnsafeRawPointer?], type: ArrowType, offset: Int, length: Int,
                                     limit: Int?, path: String) throws(ArrowError) {
        guard let raw = buffers[1] else { throw .malformed("offsets buffer is NULL", at: path) }
        func check<T: BinaryInteger>(_ o: UnsafePointer<T>) throws(ArrowError) {
            var previous = o[offset]
            guard previous >= 0 else { throw .malformed("first offset \(previous) is negative", at: path) }
            for i in (offset + 1)...(offset + length) {
                let current = o[i]
                guard current >= previous else {
                    throw .malformed("offsets decrease at row \(i - offset - 1) (\(previous) > \(current))", at: path)
                }
                previous = current
            }
            if let limit, Int(previous) > limit {
                throw .malformed("last offset \(previous) is past the \(limit) items of the child", at: path)
            }
            if limit == nil, buffers.count == 3, buffers[2] == nil, previous != o[offset] {
                throw .malformed("text bytes buffer is NULL but rows are not empty", at: path)
            }
        }
        if case .largeUtf8 = type {
            try check(raw.assumingMemoryBound(to: Int64.self))
        } else {
            try check(raw.assumingMemoryBound(to: Int32.self))
        }
    }
}

extension RecordBatch {
    /// Takes ownership of a record batch in the C Data Interface: a struct
    /// array and its schema. Both are moved: on return (success or error)
    /// `schema` and `array` are released, and the array's memory is
    /// released when the last column of the batch goes away.
    public static func importing(schema: UnsafeMutablePointer<ArrowSchema>,
                                 array: UnsafeMutablePointer<ArrowArray>) throws(ArrowError) -> RecordBatch {
        defer {
            if let release = schema.pointee.release { release(schema) }
        }
        guard array.pointee.release != nil else { throw .malformed("array is already released", at: "") }
        let owner = ImportedArray(moving: array)
        guard schema.pointee.release != nil else { throw .malformed("schema is already released", at: "") }
        let field = try ArrowField.read(schema, path: "")
        guard case .structure(let fields) = field.type else {
            throw .malformed("a batch must be a struct array (\"+s\"), got \"\(field.type.format)\"", at: "")
        }
        let root = try ArrowColumn.wrap(owner.array, type: field.type, owner: owner, path: "")
        guard root.nullCount == 0 else {
            throw .malformed("the batch's top-level struct has \(root.nullCount) null rows", at: "")
        }
        return try RecordBatch(fields: fields, structColumn: root)
    }

    /// Reads a borrowed batch (a plugin's input) without taking ownership.
    /// The result must not outlive the borrowed memory.
    public static func borrowing(schema: UnsafePointer<ArrowSchema>,
                                 array: UnsafePointer<ArrowArray>) throws(ArrowError) -> RecordBatch {
        let field = try ArrowField.read(schema, path: "")
        guard case .structure(let fields) = field.type else {
            throw .malformed("a batch must be a struct array (\"+s\"), got \"\(field.type.format)\"", at: "")
        }
        let root = try ArrowColumn.wrap(array, type: field.type, owner: BorrowedMemory.shared, path: "")
        guard root.nullCount == 0 else {
            throw .malformed("the batch's top-level struct has \(root.nullCount) null rows", at: "")
        }
        return try RecordBatch(fields: fields, structColumn: root)
    }
}

/// Owner of memory that someone else keeps alive (a borrowed input batch).
final class BorrowedMemory: Sendable {
    static let shared = BorrowedMemory()
}
