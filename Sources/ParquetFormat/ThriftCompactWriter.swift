// The Thrift compact protocol, writing side: what Parquet's footer and page
// headers need (apache/thrift doc/specs/thrift-compact-protocol.md).
// Integers are zigzag varints, a field header is one byte when the id grows
// by 1 to 15 over the previous field of the same struct, a bool field's
// value is its type nibble, and a struct ends with a stop byte.

/// The type nibbles of the compact protocol.
public enum CompactType: UInt8, Sendable {
    case boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7
    case binary = 8, list = 9, set = 10, map = 11, structure = 12
}

/// Appends compact-protocol values to a byte array. Fields of a struct must
/// be written between `beginStruct`/`beginStructElement` and `endStruct`;
/// the writer keeps the previous field id of every open struct.
public struct ThriftCompactWriter {
    public private(set) var bytes: [UInt8] = []
    /// The last field id written in each open struct, innermost last.
    private var lastIds: [Int16] = [0]

    public init() {}

    // MARK: Primitives

    /// An unsigned LEB128 varint.
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// A zigzag-mapped varint (i16, i32, i64).
    mutating func zigzag(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    private mutating func fieldHeader(_ id: Int16, _ type: CompactType) {
        let delta = Int(id) - Int(lastIds[lastIds.count - 1])
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            zigzag(Int64(id))
        }
        lastIds[lastIds.count - 1] = id
    }

    // MARK: Fields

    public mutating func field(_ id: Int16, i32 value: Int32) {
        fieldHeader(id, .i32)
        zigzag(Int64(value))
    }

    public mutating func field(_ id: Int16, i64 value: Int64) {
        fieldHeader(id, .i64)
        zigzag(value)
    }

    public mutating func field(_ id: Int16, i16 value: Int16) {
        fieldHeader(id, .i16)
        zigzag(Int64(value))
    }

    public mutating func field(_ id: Int16, i8 value: Int8) {
        fieldHeader(id, .byte)
        bytes.append(UInt8(bitPattern: value))
    }

    /// A bool field: the value is the header's type nibble, no byte follows.
    public mutating func field(_ id: Int16, bool value: Bool) {
        fieldHeader(id, value ? .boolTrue : .boolFalse)
    }

    public mutating func field(_ id: Int16, binary value: some Collection<UInt8>) {
        fieldHeader(id, .binary)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func field(_ id: Int16, string value: String) {
        field(id, binary: value.utf8)
    }

    /// Opens a struct (or union) field; close it with `endStruct`.
    public mutating func beginStruct(_ id: Int16) {
        fieldHeader(id, .structure)
        lastIds.append(0)
    }

    /// A list field's header: `count` elements of `elementType` follow,
    /// written with the `element` methods (structs with `beginStructElement`).
    public mutating func beginList(_ id: Int16, of elementType: CompactType, count: Int) {
        fieldHeader(id, .list)
        listHeader(elementType, count: count)
    }

    mutating func listHeader(_ elementType: CompactType, count: Int) {
        if count < 15 {
            bytes.append(UInt8(count) << 4 | elementType.rawValue)
        } else {
            bytes.append(0xF0 | elementType.rawValue)
            varint(UInt64(count))
        }
    }

    // MARK: List elements

    public mutating func element(i32 value: Int32) { zigzag(Int64(value)) }

    public mutating func element(binary value: some Collection<UInt8>) {
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func element(string value: String) { element(binary: value.utf8) }

    /// Opens a struct that is a list element (no field header).
    public mutating func beginStructElement() { lastIds.append(0) }

    /// Closes the innermost struct: its stop byte.
    public mutating func endStruct() {
        bytes.append(0)
        if lastIds.count > 1 { lastIds.removeLast() }
    }

    /// An empty struct as a field (the members of LogicalType and ColumnOrder).
    public mutating func emptyStruct(_ id: Int16) {
        beginStruct(id)
        endStruct()
    }
}
