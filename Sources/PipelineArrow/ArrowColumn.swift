/// One immutable Arrow array: a column of a batch or a nested child.
///
/// Buffers are never written after construction, so a column may be read
/// from any thread. Whatever memory the buffers live in (a plugin's output
/// that must be `release`d, or buffers a builder allocated) is kept alive by
/// `owner` for as long as any column refers to it.
public final class ArrowColumn: @unchecked Sendable {
    public let type: ArrowType
    /// Number of rows.
    public let length: Int
    /// Logical offset, in slots, into every buffer.
    public let offset: Int
    /// Number of null rows.
    public let nullCount: Int
    /// Buffers as the C Data Interface lays them out; [0] is validity.
    let buffers: [UnsafeRawPointer?]
    public let children: [ArrowColumn]
    let owner: AnyObject

    init(type: ArrowType, length: Int, offset: Int, nullCount: Int,
         buffers: [UnsafeRawPointer?], children: [ArrowColumn], owner: AnyObject) {
        self.type = type
        self.length = length
        self.offset = offset
        self.nullCount = nullCount
        self.buffers = buffers
        self.children = children
        self.owner = owner
    }

    /// A fixed_size_list<float32> column of `rows` vectors of `width`
    /// floats that lie, row after row, in memory the caller does not give
    /// up: `owner` keeps it alive (say, a mapping of a file, unmapped when
    /// the last column referring to it goes). No copy is made.
    public static func embeddings(rows: Int, width: Int, floats: UnsafeRawPointer, owner: AnyObject) -> ArrowColumn {
        let items = ArrowColumn(type: .float32, length: rows * width, offset: 0, nullCount: 0,
                                buffers: [nil, floats], children: [], owner: owner)
        return ArrowColumn(type: .embedding(width: width), length: rows, offset: 0, nullCount: 0,
                           buffers: [nil], children: [items], owner: owner)
    }

    // MARK: Validity

    /// True if row `i` holds a value (not null).
    @inlinable
    public func isValid(_ i: Int) -> Bool {
        guard nullCount != 0, let bitmap = validityBitmap else { return true }
        let bit = offset + i
        return (bitmap[bit >> 3] >> UInt8(bit & 7)) & 1 == 1
    }

    @usableFromInline
    var validityBitmap: UnsafePointer<UInt8>? {
        buffers[0]?.assumingMemoryBound(to: UInt8.self)
    }

    // MARK: Primitive values

    // Values under a null row are unspecified (builders write 0): check
    // isValid first.

    /// The value of an int64 column at row `i`.
    public func int64(_ i: Int) -> Int64 { value(i, as: Int64.self, .int64) }
    /// The value of a uint64 column at row `i`.
    public func uint64(_ i: Int) -> UInt64 { value(i, as: UInt64.self, .uint64) }
    /// The value of a float64 column at row `i`.
    public func float64(_ i: Int) -> Double { value(i, as: Double.self, .float64) }
    /// The value of a float32 column at row `i`.
    public func float32(_ i: Int) -> Float { value(i, as: Float.self, .float32) }

    /// The value of a bool column at row `i`.
    public func bool(_ i: Int) -> Bool {
        precondition(type == .bool, "bool(_:) on a \(type.displayName) column")
        precondition(i >= 0 && i < length, "row \(i) out of 0..<\(length)")
        guard let bits = buffers[1]?.assumingMemoryBound(to: UInt8.self) else { return false }
        let bit = offset + i
        return (bits[bit >> 3] >> UInt8(bit & 7)) & 1 == 1
    }

    @inline(__always)
    private func value<T>(_ i: Int, as: T.Type, _ expected: ArrowType) -> T {
        precondition(type == expected, "\(expected.displayName) read from a \(type.displayName) column")
        precondition(i >= 0 && i < length, "row \(i) out of 0..<\(length)")
        return buffers[1]!.load(fromByteOffset: (offset + i) * MemoryLayout<T>.stride, as: T.self)
    }

    /// The values buffer of a fixed-width column, from its first row.
    /// Valid only while this column is alive (keep a reference).
    public func values<T>(as: T.Type) -> UnsafeBufferPointer<T> {
        let expected: [ArrowType] = T.self == Int64.self ? [.int64] : T.self == UInt64.self ? [.uint64]
            : T.self == Double.self ? [.float64] : T.self == Float.self ? [.float32] : []
        precondition(expected.contains(type), "\(T.self) read from a \(type.displayName) column")
        guard let base = buffers[1] else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: base.assumingMemoryBound(to: T.self) + offset, count: length)
    }

    // MARK: Text

    /// The bytes of a utf8 row (empty for a null row). Valid while the column lives.
    public func utf8Bytes(_ i: Int) -> UnsafeRawBufferPointer {
        let range = valueRange(i)
        guard let data = buffers[2] else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: data + range.lowerBound, count: range.count)
    }

    /// The text of row `i`, or nil for a null row. Invalid UTF-8 is repaired.
    public func string(_ i: Int) -> String? {
        guard isValid(i) else { return nil }
        return String(decoding: utf8Bytes(i), as: UTF8.self)
    }

    // MARK: Lists

    /// For utf8 and list columns: the range of bytes (utf8) or child rows
    /// (list) that row `i` spans. For fixed-size lists: the child rows.
    public func valueRange(_ i: Int) -> Range<Int> {
        precondition(i >= 0 && i < length, "row \(i) out of 0..<\(length)")
        switch type {
        case .utf8, .list:
            let offsets = buffers[1]!.assumingMemoryBound(to: Int32.self)
            return Int(offsets[offset + i])..<Int(offsets[offset + i + 1])
        case .largeUtf8:
            let offsets = buffers[1]!.assumingMemoryBound(to: Int64.self)
            return Int(offsets[offset + i])..<Int(offsets[offset + i + 1])
        case .fixedSizeList(_, let width):
            return (offset + i) * width..<(offset + i + 1) * width
        default:
            preconditionFailure("valueRange(_:) on a \(type.displayName) column")
        }
    }

    /// The item column of a list or fixed-size list.
    public var items: ArrowColumn {
        precondition(children.count == 1, "items on a \(type.displayName) column")
        return children[0]
    }

    /// The strings of a list<utf8> row (nil items stay nil).
    public func stringList(_ i: Int) -> [String?]? {
        guard isValid(i) else { return nil }
        let items = self.items
        return valueRange(i).map { items.string($0) }
    }

    /// The numbers of a list<float64> row.
    public func float64List(_ i: Int) -> [Double?]? {
        guard isValid(i) else { return nil }
        let items = self.items
        return valueRange(i).map { items.isValid($0) ? items.float64($0) : nil }
    }

    /// The vector of a fixed_size_list<float32> row, contiguous in memory.
    public func float32Vector(_ i: Int) -> UnsafeBufferPointer<Float> {
        let range = valueRange(i)
        let items = self.items
        guard case .float32 = items.type, let base = items.buffers[1] else {
            preconditionFailure("float32Vector(_:) on a \(type.displayName) column")
        }
        return UnsafeBufferPointer(
            start: base.assumingMemoryBound(to: Float.self) + items.offset + range.lowerBound,
            count: range.count)
    }
}

/// Counts the zero bits in `bitmap` over `[offset, offset+length)`.
func countNulls(_ bitmap: UnsafePointer<UInt8>, offset: Int, length: Int) -> Int {
    var valid = 0
    var bit = offset
    let end = offset + length
    while bit < end && bit & 7 != 0 {
        valid += Int((bitmap[bit >> 3] >> UInt8(bit & 7)) & 1)
        bit += 1
    }
    while bit + 64 <= end {
        valid += UnsafeRawPointer(bitmap + (bit >> 3)).loadUnaligned(as: UInt64.self).nonzeroBitCount
        bit += 64
    }
    while bit < end {
        valid += Int((bitmap[bit >> 3] >> UInt8(bit & 7)) & 1)
        bit += 1
    }
    return length - valid
}
