// A decoder of the Thrift compact protocol (apache/thrift,
// doc/specs/thrift-compact-protocol.md), enough for Parquet's footer and
// page headers: structs, lists, integers, binaries and bools, and the
// generic skipping of every field type a newer writer may add (sets, maps,
// doubles, uuids included). Every length is checked against the bytes
// left, container sizes and the nesting depth are bounded, so damaged
// bytes give `.corrupt`, never a trap or a huge allocation.

/// Reads compact-protocol values from a byte buffer that the caller keeps
/// alive for the reader's lifetime.
public struct ThriftCompactReader {
    /// The compact protocol's type nibbles.
    public enum ThriftType: UInt8, Sendable {
        case boolTrue = 1, boolFalse = 2, i8 = 3, i16 = 4, i32 = 5, i64 = 6, double = 7
        case binary = 8, list = 9, set = 10, map = 11, structure = 12, uuid = 13
    }

    private let bytes: UnsafeRawBufferPointer
    /// The next byte to read.
    public private(set) var position: Int
    /// The field id of the previous field, one per open struct.
    private var lastFieldIds: [Int16] = []
    /// The limits Arrow applies by default: containers of at most a million
    /// elements, strings of at most 100 MB; and a nesting bound of our own.
    public static let maxContainerSize = 1_000_000
    public static let maxStringSize = 100_000_000
    public static let maxDepth = 64

    public init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    /// Bytes not read yet.
    public var remaining: Int { bytes.count - position }

    // MARK: Primitives

    public mutating func readByte() throws(ParquetError) -> UInt8 {
        guard position < bytes.count else { throw .corrupt("Thrift data ends early (at byte \(position))") }
        let byte = bytes[position]
        position += 1
        return byte
    }

    /// An unsigned LEB128 varint of at most 64 bits.
    public mutating func readVarint() throws(ParquetError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            if shift == 63 && byte > 1 { throw .corrupt("a Thrift varint longer than 64 bits (at byte \(position - 1))") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .corrupt("a Thrift varint longer than 64 bits (at byte \(position - 1))") }
        }
    }

    public mutating func readI64() throws(ParquetError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func readI32() throws(ParquetError) -> Int32 {
        let value = try readI64()
        guard let narrow = Int32(exactly: value) else { throw .corrupt("a Thrift i32 out of range (\(value))") }
        return narrow
    }

    public mutating func readI16() throws(ParquetError) -> Int16 {
        let value = try readI64()
        guard let narrow = Int16(exactly: value) else { throw .corrupt("a Thrift i16 out of range (\(value))") }
        return narrow
    }

    /// The bytes of a binary field (length-checked).
    public mutating func readBinary() throws(ParquetError) -> [UInt8] {
        let length = try readLength(limit: Self.maxStringSize, what: "binary")
        let value = Array(bytes[position..<position + length])
        position += length
        return value
    }

    /// A string field; its bytes must be UTF-8.
    public mutating func readString() throws(ParquetError) -> String {
        let raw = try readBinary()
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw .corrupt("a Thrift string that is not UTF-8")
        }
        return text
    }

    private mutating func readLength(limit: Int, what: String) throws(ParquetError) -> Int {
        let raw = try readVarint()
        guard raw <= UInt64(limit) else { throw .corrupt("a Thrift \(what) of \(raw) bytes (the limit is \(limit))") }
        let length = Int(raw)
        guard length <= remaining else {
            throw .corrupt("a Thrift \(what) of \(length) bytes where \(remaining) are left")
        }
        return length
    }

    private mutating func skipBytes(_ n: Int) throws(ParquetError) {
        guard n <= remaining else { throw .corrupt("Thrift data ends early (\(n) bytes wanted, \(remaining) left)") }
        position += n
    }

    // MARK: Structs

    /// Enters a struct (its fields follow).
    public mutating func beginStruct() throws(ParquetError) {
        guard lastFieldIds.count < Self.maxDepth else {
            throw .corrupt("Thrift structs nested deeper than \(Self.maxDepth)")
        }
        lastFieldIds.append(0)
    }

    /// Leaves a struct whose stop byte was read.
    public mutating func endStruct() {
        _ = lastFieldIds.popLast()
    }

    /// The next field's id and type, or nil at the struct's stop byte.
    public mutating func readFieldHeader() throws(ParquetError) -> (id: Int16, type: ThriftType)? {
        let byte = try readByte()
        if byte == 0 { return nil }
        guard let type = ThriftType(rawValue: byte & 0x0F) else {
            throw .corrupt("an unknown Thrift type \(byte & 0x0F) (at byte \(position - 1))")
        }
        let delta = Int16(byte >> 4)
        let id: Int16
        if delta == 0 {
            id = try readI16()
        } else {
            let (sum, overflow) = (lastFieldIds.last ?? 0).addingReportingOverflow(delta)
            guard !overflow else { throw .corrupt("a Thrift field id past 32767") }
            id = sum
        }
        if !lastFieldIds.isEmpty { lastFieldIds[lastFieldIds.count - 1] = id }
        return (id, type)
    }

    /// A list (or set) header: the element type and the count.
    public mutating func readListHeader() throws(ParquetError) -> (type: ThriftType, count: Int) {
        let byte = try readByte()
        var count = Int(byte >> 4)
        if count == 15 {
            let raw = try readVarint()
            guard raw <= UInt64(Self.maxContainerSize) else {
                throw .corrupt("a Thrift list of \(raw) elements (the limit is \(Self.maxContainerSize))")
            }
            count = Int(raw)
        }
        guard let type = ThriftType(rawValue: byte & 0x0F) else {
            throw .corrupt("a Thrift list of the unknown type \(byte & 0x0F)")
        }
        // Every element takes at least one byte (bools too, in a list).
        guard count <= remaining else {
            throw .corrupt("a Thrift list of \(count) elements where \(remaining) bytes are left")
        }
        return (type, count)
    }

    /// The value of a bool field (its type nibble is its value).
    public func boolValue(_ type: ThriftType) throws(ParquetError) -> Bool {
        switch type {
        case .boolTrue: return true
        case .boolFalse: return false
        default: throw .corrupt("a Thrift bool field of type \(type)")
        }
    }

    /// Skips a value of `type` (a field's value or a container element;
    /// `inList`: a bool is then one byte).
    public mutating func skip(_ type: ThriftType, inList: Bool = false) throws(ParquetError) {
        switch type {
        case .boolTrue, .boolFalse:
            if inList { try skipBytes(1) }
        case .i8: try skipBytes(1)
        case .i16, .i32, .i64: _ = try readVarint()
        case .double: try skipBytes(8)
        case .uuid: try skipBytes(16)
        case .binary: try skipBytes(try readLength(limit: Self.maxStringSize, what: "binary"))
        case .list, .set:
            let (elementType, count) = try readListHeader()
            try nested { (reader: inout ThriftCompactReader) throws(ParquetError) in
                for _ in 0..<count { try reader.skip(elementType, inList: true) }
            }
        case .map:
            let raw = try readVarint()
            guard raw <= UInt64(Self.maxContainerSize) else { throw .corrupt("a Thrift map of \(raw) entries") }
            guard raw > 0 else { return }
            let types = try readByte()
            guard let keyType = ThriftType(rawValue: types >> 4), let valueType = ThriftType(rawValue: types & 0x0F) else {
                throw .corrupt("a Thrift map of unknown types (\(types))")
            }
            try nested { (reader: inout ThriftCompactReader) throws(ParquetError) in
                for _ in 0..<Int(raw) {
                    try reader.skip(keyType, inList: true)
                    try reader.skip(valueType, inList: true)
                }
            }
        case .structure:
            try beginStruct()
            while let field = try readFieldHeader() { try skip(field.type) }
            endStruct()
        }
    }

    /// Runs `body` one nesting level deeper (bounded like structs).
    private mutating func nested(_ body: (inout ThriftCompactReader) throws(ParquetError) -> Void) throws(ParquetError) {
        try beginStruct()
        try body(&self)
        endStruct()
    }

    /// Reads a struct: `field` is called with each field's id and type and
    /// must read its value (or call `skip`).
    public mutating func readStruct(_ field: (inout ThriftCompactReader, Int16, ThriftType) throws(ParquetError) -> Void) throws(ParquetError) {
        try beginStruct()
        while let header = try readFieldHeader() {
            try field(&self, header.id, header.type)
        }
        endStruct()
    }

    /// Reads a list whose elements `element` reads, checking their type.
    public mutating func readList<T>(of expected: ThriftType, what: String,
                                     _ element: (inout ThriftCompactReader) throws(ParquetError) -> T) throws(ParquetError) -> [T] {
        let (type, count) = try readListHeader()
        guard type == expected || (expected == .boolTrue && type == .boolFalse) else {
            throw .corrupt("\(what): a list of Thrift type \(type), expected \(expected)")
        }
        var values: [T] = []
        values.reserveCapacity(count)
        try beginStruct()
        for _ in 0..<count { values.append(try element(&self)) }
        endStruct()
        return values
    }
}
