#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A compact binary form of a record batch, for the run's state store.
///
/// Buffers are written as they are in memory (normalised to offset 0), so
/// encoding is a few memcpys per column and decoding allocates one buffer
/// per Arrow buffer. Little-endian, versioned by its magic:
///
///     "PLB3" u32 fieldCount u64 rows (field column)*
///     field  = str name, u8 nullable, u32 n, (str key, str value)* (metadata), type
///     type   = u8 tag [, u32 width (fixed-size list)] [, u32 n, field* (children)]
///     column = u64 length, u64 nullCount, u8 hasValidity, [bitmap], buffers…, children…
///
/// Not an interchange format (use Arrow IPC for that): only this build of
/// the host reads what it wrote, and the store says which version wrote it.
/// "PLB2" (no field metadata) is still read: a run stored before resumes.
public enum BatchCodec {
    static let magic: [UInt8] = Array("PLB3".utf8)
    static let magicWithoutMetadata: [UInt8] = Array("PLB2".utf8)

    public static func encode(_ batch: RecordBatch) -> [UInt8] {
        var writer = Writer()
        // A hint only, and capped: a struct without children may declare any
        // length with no memory behind it (found by the arrow fuzz target).
        writer.out.reserveCapacity(min(batch.columns.reduce(256) { $0 &+ $1.approximateBytes }, 1 << 26))
        writer.bytes(magic)
        writer.u32(UInt32(batch.fields.count))
        writer.u64(UInt64(batch.length))
        for (field, column) in zip(batch.fields, batch.columns) {
            writer.field(field)
            writer.column(column)
        }
        return writer.out
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(ArrowError) -> RecordBatch {
        var reader = Reader(bytes: bytes)
        let version = try reader.take(4)
        if version.elementsEqual(magicWithoutMetadata) {
            reader.hasMetadata = false
        } else if !version.elementsEqual(magic) {
            throw .malformed("not a stored batch (bad magic)", at: "")
        }
        let count = Int(try reader.u32())
        let rows = Int(try reader.u64())
        let owner = OwnedBuffers([])
        var fields: [ArrowField] = []
        var columns: [ArrowColumn] = []
        for _ in 0..<count {
            let field = try reader.field(depth: 0)
            fields.append(field)
            columns.append(try reader.column(field.type, owner: owner))
        }
        guard reader.offset == bytes.count else { throw .malformed("stored batch has trailing bytes", at: "") }
        return try RecordBatch(fields: fields, columns: columns, length: rows)
    }

    public static func decode(_ bytes: [UInt8]) throws(ArrowError) -> RecordBatch {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(ArrowError) -> RecordBatch in try decode(raw) }
        }
        return try result.get()
    }
}

// MARK: - Writing

private struct Writer {
    var out: [UInt8] = []

    mutating func bytes(_ bytes: some Sequence<UInt8>) { out.append(contentsOf: bytes) }
    mutating func raw(_ pointer: UnsafeRawPointer?, _ count: Int) {
        guard count > 0, let pointer else { return }
        out.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: count))
    }
    mutating func u8(_ value: UInt8) { out.append(value) }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
    mutating func string(_ value: String) {
        u32(UInt32(value.utf8.count))
        out.append(contentsOf: value.utf8)
    }

    mutating func field(_ field: ArrowField) {
        string(field.name)
        u8(field.nullable ? 1 : 0)
        u32(UInt32(field.metadata.count))
        for key in field.metadata.keys.sorted() {
            string(key)
            string(field.metadata[key] ?? "")
        }
        type(field.type)
    }

    mutating func type(_ type: ArrowType) {
        u8(Tag(type).rawValue)
        if case .fixedSizeList(_, let width) = type { u32(UInt32(width)) }
        let children = type.children
        if !children.isEmpty || type.isStructure {
            u32(UInt32(children.count))
            for child in children { field(child) }
        }
    }

    /// Bits [offset, offset+length) of `bits`, shifted to start at bit 0.
    mutating func bitmap(_ bits: UnsafeRawPointer, offset: Int, length: Int) {
        let byteCount = (length + 7) / 8
        if offset & 7 == 0 {
            raw(bits + offset / 8, byteCount)
            return
        }
        let source = bits.assumingMemoryBound(to: UInt8.self)
        for index in 0..<byteCount {
            var byte: UInt8 = 0
            for bit in 0..<8 where index * 8 + bit < length {
                let position = offset + index * 8 + bit
                byte |= ((source[position >> 3] >> UInt8(position & 7)) & 1) << UInt8(bit)
            }
            u8(byte)
        }
    }

    mutating func offsetBlock<T: FixedWidthInteger>(_ offsets: UnsafePointer<T>, count: Int, base: Int) {
        if base == 0 {
            raw(UnsafeRawPointer(offsets), count * MemoryLayout<T>.size)
            return
        }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: count * MemoryLayout<T>.size))
        out.withUnsafeMutableBytes { bytes in
            let target = (bytes.baseAddress! + start).assumingMemoryBound(to: T.self)
            let first = T(truncatingIfNeeded: base)
            for index in 0..<count { target[index] = (offsets[index] &- first).littleEndian }
        }
    }

    mutating func column(_ column: ArrowColumn) {
        let length = column.length, offset = column.offset
        u64(UInt64(length))
        u64(UInt64(column.nullCount))
        if column.nullCount > 0, let validity = column.buffers[0] {
            u8(1)
            bitmap(validity, offset: offset, length: length)
        } else {
            u8(0)
        }
        switch column.type {
        case .bool:
            if let bits = column.buffers[1] { bitmap(bits, offset: offset, length: length) } else { raw(nil, 0) }
        case .int64, .uint64, .float32, .float64:
            let width = column.type.valueWidth ?? 0
            raw(column.buffers[1].map { $0 + offset * width }, length * width)
        case .utf8, .largeUtf8, .list:
            // length + 1 offsets in the column's own width, rebased to 0
            // (a plain copy when they already start at 0), then the bytes
            // or items they span.
            let range = length == 0 ? 0..<0 : column.valueRange(0).lowerBound..<column.valueRange(length - 1).upperBound
            u64(UInt64(range.count))
            if length > 0, let offsets = column.buffers[1] {
                if column.type == .largeUtf8 {
                    offsetBlock(offsets.assumingMemoryBound(to: Int64.self) + offset, count: length + 1, base: range.lowerBound)
                } else {
                    offsetBlock(offsets.assumingMemoryBound(to: Int32.self) + offset, count: length + 1, base: range.lowerBound)
                }
            }
            if case .list = column.type {
                self.column(column.items.slice(from: range.lowerBound, count: range.count))
            } else {
                raw(column.buffers[2].map { $0 + range.lowerBound }, range.count)
            }
        case .fixedSizeList(_, let width):
            self.column(column.items.slice(from: offset * width, count: length * width))
        case .structure:
            for child in column.children { self.column(child.slice(from: offset, count: length)) }
        }
    }
}

private enum Tag: UInt8 {
    case bool = 0, int64, uint64, float32, float64, utf8, largeUtf8, list, fixedSizeList, structure

    init(_ type: ArrowType) {
        switch type {
        case .bool: self = .bool
        case .int64: self = .int64
        case .uint64: self = .uint64
        case .float32: self = .float32
        case .float64: self = .float64
        case .utf8: self = .utf8
        case .largeUtf8: self = .largeUtf8
        case .list: self = .list
        case .fixedSizeList: self = .fixedSizeList
        case .structure: self = .structure
        }
    }
}

extension ArrowColumn {
    /// Roughly the bytes this column's rows take, for sizing buffers.
    var approximateBytes: Int {
        let own: Int
        switch type {
        case .utf8, .largeUtf8:
            own = length * 8 + (length == 0 ? 0 : valueRange(length - 1).upperBound - valueRange(0).lowerBound)
        default:
            own = length * (type.valueWidth ?? 1) + length / 8 + 16
        }
        return own + children.reduce(0) { $0 + $1.approximateBytes }
    }
}

extension ArrowType {
    var isStructure: Bool { if case .structure = self { true } else { false } }

    /// No bytes are stored per row: a struct of such fields (none at all,
    /// say), or a fixed-size list of such items (found by the arrow fuzz
    /// target: a struct column without fields of more rows than 8 × the
    /// stored bytes was written, then refused as "an absurd count").
    var storesNothingPerRow: Bool {
        switch self {
        case .structure(let fields): fields.allSatisfy { $0.type.storesNothingPerRow }
        case .fixedSizeList(let item, _): item.type.storesNothingPerRow
        default: false
        }
    }
}

// MARK: - Reading

private struct Reader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    /// Fields carry metadata (PLB3; PLB2 did not).
    var hasMetadata = true

    mutating func take(_ count: Int) throws(ArrowError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - offset else {
            throw .malformed("stored batch is truncated", at: "")
        }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
    }

    mutating func u8() throws(ArrowError) -> UInt8 { try take(1)[0] }
    mutating func u32() throws(ArrowError) -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws(ArrowError) -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }
    mutating func count() throws(ArrowError) -> Int {
        let value = try u64()
        guard value <= UInt64(bytes.count) * 8 + 64 else { throw .malformed("stored batch has an absurd count", at: "") }
        return Int(value)
    }
    /// The rows of a column that stores no bytes per row (a struct without
    /// fields): not bounded by the stored bytes, only by what import accepts.
    mutating func rowCount() throws(ArrowError) -> Int {
        let value = try u64()
        guard value < UInt64(Int32.max) * 64 else { throw .malformed("stored batch has an absurd row count", at: "") }
        return Int(value)
    }
    mutating func string() throws(ArrowError) -> String {
        String(decoding: try take(Int(try u32())), as: UTF8.self)
    }

    mutating func field(depth: Int) throws(ArrowError) -> ArrowField {
        guard depth < 64 else { throw .malformed("stored batch nests too deep", at: "") }
        let name = try string()
        let nullable = try u8() != 0
        var metadata: [String: String] = [:]
        if hasMetadata {
            let count = Int(try u32())
            // Each entry takes at least 8 bytes: a count beyond that is damage.
            guard count <= (bytes.count - offset) / 8 else { throw .malformed("stored batch has an absurd count", at: "") }
            for _ in 0..<count {
                let key = try string()
                metadata[key] = try string()
            }
        }
        return ArrowField(name, try type(depth: depth), nullable: nullable, metadata: metadata)
    }

    mutating func type(depth: Int) throws(ArrowError) -> ArrowType {
        guard let tag = Tag(rawValue: try u8()) else { throw .malformed("stored batch has an unknown type", at: "") }
        func children(_ reader: inout Reader) throws(ArrowError) -> [ArrowField] {
            let count = Int(try reader.u32())
            var fields: [ArrowField] = []
            for _ in 0..<count { fields.append(try reader.field(depth: depth + 1)) }
            return fields
        }
        switch tag {
        case .bool: return .bool
        case .int64: return .int64
        case .uint64: return .uint64
        case .float32: return .float32
        case .float64: return .float64
        case .utf8: return .utf8
        case .largeUtf8: return .largeUtf8
        case .list:
            let items = try children(&self)
            guard items.count == 1 else { throw .malformed("stored list has \(items.count) children", at: "") }
            return .list(items[0])
        case .fixedSizeList:
            let width = Int(try u32())
            let items = try children(&self)
            guard items.count == 1, width > 0 else { throw .malformed("stored fixed-size list is malformed", at: "") }
            return .fixedSizeList(items[0], width: width)
        case .structure:
            return .structure(try children(&self))
        }
    }

    /// Copies `count` bytes into a fresh 64-byte-aligned buffer owned by `owner`.
    mutating func buffer(_ count: Int, owner: OwnedBuffers) throws(ArrowError) -> UnsafeRawPointer {
        let source = try take(count)
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 64, max(count, 1)) == 0, let pointer else {
            throw .malformed("out of memory reading a stored batch", at: "")
        }
        owner.adopt(pointer)
        if count > 0, let base = source.baseAddress { pointer.copyMemory(from: base, byteCount: count) }
        return UnsafeRawPointer(pointer)
    }

    mutating func column(_ type: ArrowType, owner: OwnedBuffers) throws(ArrowError) -> ArrowColumn {
        let length = try type.storesNothingPerRow ? rowCount() : count()
        let nullCount = try count()
        guard nullCount <= length else { throw .malformed("stored column has more nulls than rows", at: "") }
        let validity: UnsafeRawPointer? = try u8() != 0 ? try buffer((length + 7) / 8, owner: owner) : nil
        var buffers: [UnsafeRawPointer?] = [validity]
        var children: [ArrowColumn] = []
        switch type {
        case .bool:
            buffers.append(try buffer((length + 7) / 8, owner: owner))
        case .int64, .uint64, .float32, .float64:
            buffers.append(try buffer(length * (type.valueWidth ?? 0), owner: owner))
        case .utf8, .largeUtf8, .list:
            let large = type == .largeUtf8
            var itemsStoreNothing = false
            if case .list(let item) = type { itemsStoreNothing = item.type.storesNothingPerRow }
            let total = try itemsStoreNothing ? rowCount() : count()
            if !large, total > Int(Int32.max) { throw .malformed("stored utf8 column over 2 GiB", at: "") }
            let offsetBuffer: UnsafeRawPointer
            if length == 0 {
                offsetBuffer = try Reader.offsetBuffer([0], large: large, owner: owner)
            } else {
                offsetBuffer = try buffer((length + 1) * (large ? 8 : 4), owner: owner)
                let valid = large
                    ? Reader.offsetsValid(offsetBuffer.assumingMemoryBound(to: Int64.self), count: length + 1, total: total)
                    : Reader.offsetsValid(offsetBuffer.assumingMemoryBound(to: Int32.self), count: length + 1, total: total)
                guard valid else { throw .malformed("stored offsets are out of order", at: "") }
            }
            buffers.append(offsetBuffer)
            if case .list(let item) = type {
                let items = try column(item.type, owner: owner)
                guard items.length == total else { throw .malformed("stored list items do not match offsets", at: "") }
                children = [items]
            } else {
                buffers.append(try buffer(total, owner: owner))
            }
        case .fixedSizeList(let item, let width):
            let items = try column(item.type, owner: owner)
            guard items.length == length * width else { throw .malformed("stored fixed-size list is short", at: "") }
            children = [items]
        case .structure(let fields):
            for field in fields {
                let child = try column(field.type, owner: owner)
                guard child.length == length else { throw .malformed("stored struct child is short", at: "") }
                children.append(child)
            }
        }
        return ArrowColumn(type: type, length: length, offset: 0, nullCount: nullCount, buffers: buffers,
                           children: children, owner: owner)
    }

    /// Offsets start at 0, never decrease, and end at `total`.
    static func offsetsValid<T: FixedWidthInteger>(_ offsets: UnsafePointer<T>, count: Int, total: Int) -> Bool {
        guard offsets[0] == 0, Int(offsets[count - 1]) == total else { return false }
        var previous = offsets[0]
        for index in 1..<count {
            guard offsets[index] >= previous else { return false }
            previous = offsets[index]
        }
        return true
    }

    static func offsetBuffer(_ offsets: [Int], large: Bool, owner: OwnedBuffers) throws(ArrowError) -> UnsafeRawPointer {
        let width = large ? 8 : 4
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 64, max(offsets.count * width, 1)) == 0, let pointer else {
            throw .malformed("out of memory reading a stored batch", at: "")
        }
        owner.adopt(pointer)
        for (index, value) in offsets.enumerated() {
            if large {
                pointer.storeBytes(of: Int64(value), toByteOffset: index * 8, as: Int64.self)
            } else {
                pointer.storeBytes(of: Int32(value), toByteOffset: index * 4, as: Int32.self)
            }
        }
        return UnsafeRawPointer(pointer)
    }
}
