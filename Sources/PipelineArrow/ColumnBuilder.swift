#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffers allocated by a builder; freed when the last column using them goes.
final class OwnedBuffers: @unchecked Sendable {
    private var pointers: [UnsafeMutableRawPointer]
    init(_ pointers: [UnsafeMutableRawPointer]) { self.pointers = pointers }
    /// Takes ownership of one more buffer (only while it is being built).
    func adopt(_ pointer: UnsafeMutableRawPointer) { pointers.append(pointer) }
    deinit { for pointer in pointers { free(pointer) } }
}

/// A growable byte buffer on the C heap, 64-byte aligned as Arrow recommends.
struct ByteBuffer {
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var count = 0
    private var capacity = 0

    mutating func reserve(_ extra: Int) {
        let needed = count + extra
        guard needed > capacity else { return }
        var newCapacity = max(64, capacity)
        while newCapacity < needed { newCapacity *= 2 }
        var fresh: UnsafeMutableRawPointer?
        guard posix_memalign(&fresh, 64, newCapacity) == 0, let fresh else {
            fatalError("out of memory growing an Arrow buffer to \(newCapacity) bytes")
        }
        if let base {
            fresh.copyMemory(from: base, byteCount: count)
            free(base)
        }
        base = fresh
        capacity = newCapacity
    }

    mutating func append<T>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        base!.storeBytes(of: value, toByteOffset: count, as: T.self)
        count += MemoryLayout<T>.size
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        (base! + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    /// Grows by `n` bytes that `fill` writes, all of them, in place.
    mutating func appendUninitialized<E: Error>(_ n: Int, _ fill: (UnsafeMutableRawBufferPointer) throws(E) -> Void) throws(E) {
        reserve(n)
        guard let base else { return }
        try fill(UnsafeMutableRawBufferPointer(start: base + count, count: n))
        count += n
    }

    mutating func appendZeros(_ n: Int) {
        reserve(n)
        (base! + count).initializeMemory(as: UInt8.self, repeating: 0, count: n)
        count += n
    }

    /// Sets bit `bit` (the buffer must already cover it).
    mutating func setBit(_ bit: Int) {
        base!.storeBytes(of: base!.load(fromByteOffset: bit >> 3, as: UInt8.self) | (1 << UInt8(bit & 7)),
                         toByteOffset: bit >> 3, as: UInt8.self)
    }

    /// Hands the memory to the caller; the buffer is empty afterwards.
    mutating func take() -> UnsafeMutableRawPointer {
        if base == nil { reserve(1) }
        defer { base = nil; count = 0; capacity = 0 }
        return base!
    }

    func release() { free(base) }
}

/// Builds one column of any supported type, row by row.
///
/// Not thread-safe; use one builder per thread. Appending a value of the
/// wrong type is a programming error and traps.
public final class ColumnBuilder {
    public let type: ArrowType
    public private(set) var length = 0
    private var nullCount = 0
    private var validity = ByteBuffer()   // allocated at the first null
    private var hasValidity = false
    private var values = ByteBuffer()     // values, bits, or offsets
    private var bytes = ByteBuffer()      // utf8 data
    private let child: ColumnBuilder?
    /// The builders of a struct's fields.
    private let fieldBuilders: [ColumnBuilder]

    public init(_ type: ArrowType) {
        self.type = type
        if case .structure(let fields) = type {
            fieldBuilders = fields.map { ColumnBuilder($0.type) }
        } else {
            fieldBuilders = []
        }
        switch type {
        case .utf8, .largeUtf8:
            child = nil
            if case .largeUtf8 = type { values.append(Int64(0)) } else { values.append(Int32(0)) }
        case .list(let item):
            child = ColumnBuilder(item.type)
            values.append(Int32(0))
        case .fixedSizeList(let item, _):
            child = ColumnBuilder(item.type)
        default:
            child = nil
        }
    }

    deinit {
        validity.release()
        values.release()
        bytes.release()
    }

    /// The builder of the items of a list or fixed-size list.
    public var items: ColumnBuilder {
        guard let child else { preconditionFailure("items of a \(type.displayName) builder") }
        return child
    }

    // MARK: Validity

    private func markValid() {
        if hasValidity {
            if length & 7 == 0 { validity.appendZeros(1) }
            validity.setBit(length)
        }
    }

    /// Counts `n` more non-null slots whose values are already written.
    private func addValid(_ n: Int) {
        if hasValidity {
            for _ in 0..<n { markValid(); length += 1 }
        } else {
            length += n
        }
    }

    private func startValidity() {
        hasValidity = true
        let bytesNeeded = (length + 8) / 8
        validity.appendZeros(bytesNeeded)
        for bit in 0..<length { validity.setBit(bit) }
    }

    /// Appends a null row.
    public func appendNull() {
        if !hasValidity { startValidity() } else if length & 7 == 0 { validity.appendZeros(1) }
        nullCount += 1
        switch type {
        case .utf8, .list: values.append(currentOffset32)
        case .largeUtf8: values.append(Int64(bytes.count))
        case .bool: if length & 7 == 0 { values.appendZeros(1) }
        case .fixedSizeList(_, let width): for _ in 0..<width { items.appendDefault() }
        case .structure: for builder in fieldBuilders { builder.appendNull() }
        default: values.appendZeros(type.valueWidth ?? 0)
        }
        length += 1
    }

    /// Appends a zero value (used for the items behind a null fixed-size row).
    private func appendDefault() {
        switch type {
        case .float32: append(Float(0))
        default: appendNull()
        }
    }

    private var currentOffset32: Int32 {
        if case .list = type { return Int32(items.length) }
        return Int32(truncatingIfNeeded: bytes.count)
    }

    // MARK: Values

    public func append(_ value: Int64) {
        precondition(type == .int64, "Int64 appended to a \(type.displayName) column")
        markValid(); values.append(value); length += 1
    }

    public func append(_ value: UInt64) {
        precondition(type == .uint64, "UInt64 appended to a \(type.displayName) column")
        markValid(); values.append(value); length += 1
    }

    public func append(_ value: Double) {
        precondition(type == .float64, "Double appended to a \(type.displayName) column")
        markValid(); values.append(value); length += 1
    }

    /// Makes room for `count` more values of a fixed-width column, so a
    /// builder that knows its size does not grow (and copy) step by step.
    public func reserve(_ count: Int) {
        switch type {
        case .int64, .uint64, .float64: values.reserve(count * 8)
        case .float32: values.reserve(count * 4)
        default: break
        }
    }

    /// Appends non-null float64 values in one copy (the items of a list).
    public func append(contentsOf values: UnsafeBufferPointer<Double>) {
        precondition(type == .float64, "Doubles appended to a \(type.displayName) column")
        self.values.append(UnsafeRawBufferPointer(values))
        addValid(values.count)
    }

    public func append(_ value: Float) {
        precondition(type == .float32, "Float appended to a \(type.displayName) column")
        markValid(); values.append(value); length += 1
    }

    public func append(_ value: Bool) {
        precondition(type == .bool, "Bool appended to a \(type.displayName) column")
        markValid()
        if length & 7 == 0 { values.appendZeros(1) }
        if value { values.setBit(length) }
        length += 1
    }

    /// Appends UTF-8 bytes to a text column.
    public func appendUTF8(_ utf8: UnsafeRawBufferPointer) {
        markValid()
        bytes.append(utf8)
        switch type {
        case .utf8:
            precondition(bytes.count <= Int(Int32.max), "utf8 column over 2 GiB; use large_utf8")
            values.append(Int32(bytes.count))
        case .largeUtf8:
            values.append(Int64(bytes.count))
        default:
            preconditionFailure("text appended to a \(type.displayName) column")
        }
        length += 1
    }

    public func append(_ value: String) {
        var value = value
        value.withUTF8 { appendUTF8(UnsafeRawBufferPointer($0)) }
    }

    /// Appends a text value or a null.
    public func append(_ value: String?) {
        if let value { append(value) } else { appendNull() }
    }

    /// Closes a list row whose items were appended to `items` since the
    /// previous row.
    public func endListRow() {
        guard case .list = type else { preconditionFailure("endListRow on a \(type.displayName) column") }
        markValid()
        values.append(Int32(items.length))
        length += 1
    }

    /// The builder of field `index` of a struct column.
    public func field(_ index: Int) -> ColumnBuilder {
        precondition(index >= 0 && index < fieldBuilders.count, "field \(index) of a \(type.displayName) builder")
        return fieldBuilders[index]
    }

    /// Closes a struct row whose fields each got one value (appended to
    /// `field(i)`) since the previous row.
    public func endStructRow() {
        guard case .structure = type else { preconditionFailure("endStructRow on a \(type.displayName) column") }
        markValid()
        length += 1
    }

    /// Appends a list<utf8> row.
    public func append(strings: [String]) {
        for string in strings { items.append(string) }
        endListRow()
    }

    /// Appends a list<float64> row.
    public func append(doubles: [Double]) {
        for value in doubles { items.append(value) }
        endListRow()
    }

    /// Appends one fixed-size float32 row (its count must equal the width).
    public func append(vector: UnsafeBufferPointer<Float>) {
        guard case .fixedSizeList(let item, let width) = type, item.type == .float32, vector.count == width else {
            preconditionFailure("vector of \(vector.count) appended to a \(type.displayName) column")
        }
        markValid()
        items.appendFloats(vector)
        length += 1
    }

    /// Appends `rows` vectors to a fixed_size_list<float32> column; `fill`
    /// writes their floats (rows × width, as raw bytes) straight into the
    /// column's memory: how a loader moves a block of a binary matrix in
    /// without an intermediate copy.
    public func appendVectors<E: Error>(rows: Int, _ fill: (UnsafeMutableRawBufferPointer) throws(E) -> Void) throws(E) {
        guard case .fixedSizeList(let item, let width) = type, item.type == .float32 else {
            preconditionFailure("vectors appended to a \(type.displayName) column")
        }
        guard rows > 0 else { return }
        let items = self.items
        try items.values.appendUninitialized(rows * width * MemoryLayout<Float>.size, fill)
        items.addValid(rows * width)
        addValid(rows)
    }

    private func appendFloats(_ vector: UnsafeBufferPointer<Float>) {
        values.append(UnsafeRawBufferPointer(vector))
        addValid(vector.count)
    }

    /// Copies row `row` of `source` (same type) into this column.
    public func append(from source: ArrowColumn, row: Int) {
        precondition(source.type.hasSameLayout(as: type) || (type == .utf8 && source.type == .largeUtf8),
                     "\(source.type.displayName) row appended to a \(type.displayName) column")
        guard source.isValid(row) else { appendNull(); return }
        switch source.type {
        case .bool: append(source.bool(row))
        case .int64: append(source.int64(row))
        case .uint64: append(source.uint64(row))
        case .float32: append(source.float32(row))
        case .float64: append(source.float64(row))
        case .utf8, .largeUtf8: appendUTF8(source.utf8Bytes(row))
        case .list:
            let items = source.items
            for index in source.valueRange(row) { self.items.append(from: items, row: index) }
            endListRow()
        case .fixedSizeList:
            markValid()
            let items = source.items
            for index in source.valueRange(row) { self.items.append(from: items, row: index) }
            length += 1
        case .structure:
            markValid()
            // A struct's row i is row offset + i of each child.
            for (builder, child) in zip(fieldBuilders, source.children) {
                builder.append(from: child, row: source.offset + row)
            }
            length += 1
        }
    }

    /// Finishes the column; the builder is empty and reusable afterwards.
    public func finish() -> ArrowColumn {
        var owned: [UnsafeMutableRawPointer] = []
        func take(_ buffer: inout ByteBuffer) -> UnsafeRawPointer {
            let pointer = buffer.take()
            owned.append(pointer)
            return UnsafeRawPointer(pointer)
        }
        var buffers: [UnsafeRawPointer?] = [hasValidity ? take(&validity) : nil]
        var children: [ArrowColumn] = []
        switch type {
        case .fixedSizeList:
            children = [items.finish()]
        case .list:
            buffers.append(take(&values))
            children = [items.finish()]
        case .utf8, .largeUtf8:
            buffers.append(take(&values))
            buffers.append(take(&bytes))
        case .structure:
            children = fieldBuilders.map { $0.finish() }
        default:
            buffers.append(take(&values))
        }
        let column = ArrowColumn(type: type, length: length, offset: 0, nullCount: nullCount, buffers: buffers,
                                 children: children, owner: OwnedBuffers(owned))
        reset()
        return column
    }

    private func reset() {
        length = 0
        nullCount = 0
        hasValidity = false
        switch type {
        case .utf8, .list: values.append(Int32(0))
        case .largeUtf8: values.append(Int64(0))
        default: break
        }
    }
}
