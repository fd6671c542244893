// The values of a column chunk's pages, decoded: PLAIN (Encodings.md
// "Plain"), dictionary indices resolved against the chunk's dictionary
// (RLE_DICTIONARY, and PLAIN_DICTIONARY read the same way), RLE booleans
// (v2 pages), DELTA_BINARY_PACKED integers and DELTA_LENGTH_BYTE_ARRAY
// byte arrays. Only non-null values are stored; the levels say where they go.

#if _endian(big)
#error("the Parquet reader copies PLAIN values into host memory: little-endian hosts only")
#endif

/// Byte-array values laid end to end: value i is `data[ends[i-1] ..< ends[i]]`.
public struct ByteArrays: Sendable {
    public var data: [UInt8] = []
    public var ends: [Int] = []

    public init() {}

    public var count: Int { ends.count }

    public func range(_ i: Int) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        data.append(contentsOf: bytes)
        ends.append(data.count)
    }

    /// Drops the first `n` values, keeping the capacity.
    mutating func removeFirst(_ n: Int) {
        guard n > 0 else { return }
        if n == ends.count {
            data.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
            return
        }
        let cut = ends[n - 1]
        data.removeFirst(cut)
        ends.removeFirst(n)
        for i in ends.indices { ends[i] -= cut }
    }
}

/// The decoded non-null values of a leaf column, by physical type.
public enum LeafValues: Sendable {
    case boolean([Bool])
    case int32([Int32])
    case int64([Int64])
    case float([Float])
    case double([Double])
    case byteArray(ByteArrays)

    /// An empty store for a physical type; `.unsupported` for the others.
    public init(for type: PhysicalType) throws(ParquetError) {
        switch type {
        case .boolean: self = .boolean([])
        case .int32: self = .int32([])
        case .int64: self = .int64([])
        case .float: self = .float([])
        case .double: self = .double([])
        case .byteArray: self = .byteArray(ByteArrays())
        default: throw .unsupported("the physical type \(type.name)")
        }
    }

    public var count: Int {
        switch self {
        case .boolean(let v): v.count
        case .int32(let v): v.count
        case .int64(let v): v.count
        case .float(let v): v.count
        case .double(let v): v.count
        case .byteArray(let v): v.count
        }
    }
}

extension LeafValues {
    /// Drops the first `n` values (those consumed), keeping the capacity.
    public mutating func removeFirst(_ n: Int) {
        func drop<T>(_ array: inout [T]) {
            if n == array.count { array.removeAll(keepingCapacity: true) } else { array.removeFirst(n) }
        }
        guard n > 0 else { return }
        switch self {
        case .boolean(var v): self = .int32([]); drop(&v); self = .boolean(v)
        case .int32(var v): self = .boolean([]); drop(&v); self = .int32(v)
        case .int64(var v): self = .boolean([]); drop(&v); self = .int64(v)
        case .float(var v): self = .boolean([]); drop(&v); self = .float(v)
        case .double(var v): self = .boolean([]); drop(&v); self = .double(v)
        case .byteArray(var v): self = .boolean([]); v.removeFirst(n); self = .byteArray(v)
        }
    }

    /// Makes room for about `count` values and, for byte arrays, `bytes`
    /// bytes of them, so decoding a chunk does not grow (and copy) its
    /// arrays step by step.
    public mutating func reserve(values count: Int, bytes: Int) {
        switch self {
        case .boolean(var v): self = .int32([]); v.reserveCapacity(count); self = .boolean(v)
        case .int32(var v): self = .boolean([]); v.reserveCapacity(count); self = .int32(v)
        case .int64(var v): self = .boolean([]); v.reserveCapacity(count); self = .int64(v)
        case .float(var v): self = .boolean([]); v.reserveCapacity(count); self = .float(v)
        case .double(var v): self = .boolean([]); v.reserveCapacity(count); self = .double(v)
        case .byteArray(var v):
            self = .boolean([])
            v.ends.reserveCapacity(count)
            v.data.reserveCapacity(bytes)
            self = .byteArray(v)
        }
    }

    /// Appends `count` PLAIN values read from `bytes`; returns the bytes they took.
    @discardableResult
    public mutating func appendPlain(_ bytes: UnsafeRawBufferPointer, count: Int) throws(ParquetError) -> Int {
        guard count > 0 else { return 0 }
        func fixed<T>(_ array: inout [T], _: T.Type) throws(ParquetError) -> Int {
            let size = MemoryLayout<T>.size
            guard count <= bytes.count / size else {
                throw .corrupt("a page with \(count) PLAIN values of \(size) bytes in \(bytes.count) bytes")
            }
            // One copy of the little-endian values (this module runs on little-endian hosts only).
            let source = UnsafeRawBufferPointer(rebasing: bytes[0..<count * size])
            array.append(contentsOf: [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
                initialized = count
            })
            return count * size
        }
        switch self {
        case .boolean(var values):
            self = .int32([])
            defer { self = .boolean(values) }
            guard (count + 7) / 8 <= bytes.count else {
                throw .corrupt("a page with \(count) PLAIN booleans in \(bytes.count) bytes")
            }
            values.reserveCapacity(values.count + count)
            for i in 0..<count { values.append((bytes[i >> 3] >> UInt8(i & 7)) & 1 == 1) }
            return (count + 7) / 8
        case .int32(var values):
            self = .boolean([])
            defer { self = .int32(values) }
            return try fixed(&values, Int32.self)
        case .int64(var values):
            self = .boolean([])
            defer { self = .int64(values) }
            return try fixed(&values, Int64.self)
        case .float(var values):
            self = .boolean([])
            defer { self = .float(values) }
            return try fixed(&values, Float.self)
        case .double(var values):
            self = .boolean([])
            defer { self = .double(values) }
            return try fixed(&values, Double.self)
        case .byteArray(var values):
            self = .boolean([])
            defer { self = .byteArray(values) }
            var position = 0
            values.ends.reserveCapacity(values.ends.count + count)
            for i in 0..<count {
                guard bytes.count - position >= 4 else {
                    throw .corrupt("a PLAIN byte array page ends at value \(i) of \(count) (no length)")
                }
                let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
                position += 4
                guard length <= bytes.count - position else {
                    throw .corrupt("a PLAIN byte array of \(length) bytes where \(bytes.count - position) are left")
                }
                values.append(UnsafeRawBufferPointer(rebasing: bytes[position..<position + length]))
                position += length
            }
            return position
        }
    }

    /// Appends `dictionary[index]` for each index; an index past the
    /// dictionary is `.corrupt`, naming it.
    public mutating func appendFromDictionary(_ dictionary: LeafValues, indices: [UInt32]) throws(ParquetError) {
        let size = dictionary.count
        for index in indices where Int(index) >= size {
            throw .corrupt("the dictionary index \(index) is past the dictionary of \(size) values")
        }
        switch (self, dictionary) {
        case (.boolean(var values), .boolean(let dict)):
            self = .int32([])
            values.reserveCapacity(values.count + indices.count)
            for index in indices { values.append(dict[Int(index)]) }
            self = .boolean(values)
        case (.int32(var values), .int32(let dict)):
            self = .boolean([])
            values.reserveCapacity(values.count + indices.count)
            for index in indices { values.append(dict[Int(index)]) }
            self = .int32(values)
        case (.int64(var values), .int64(let dict)):
            self = .boolean([])
            values.reserveCapacity(values.count + indices.count)
            for index in indices { values.append(dict[Int(index)]) }
            self = .int64(values)
        case (.float(var values), .float(let dict)):
            self = .boolean([])
            values.reserveCapacity(values.count + indices.count)
            for index in indices { values.append(dict[Int(index)]) }
            self = .float(values)
        case (.double(var values), .double(let dict)):
            self = .boolean([])
            values.reserveCapacity(values.count + indices.count)
            for index in indices { values.append(dict[Int(index)]) }
            self = .double(values)
        case (.byteArray(var values), .byteArray(let dict)):
            self = .boolean([])
            values.ends.reserveCapacity(values.ends.count + indices.count)
            dict.data.withUnsafeBytes { data in
                for index in indices {
                    values.append(UnsafeRawBufferPointer(rebasing: data[dict.range(Int(index))]))
                }
            }
            self = .byteArray(values)
        default:
            throw .corrupt("a dictionary of another physical type than its column")
        }
    }

    /// Appends `count` booleans stored RLE (a 4-byte length, then hybrid runs of width 1).
    public mutating func appendRLEBooleans(_ bytes: UnsafeRawBufferPointer, count: Int) throws(ParquetError) {
        guard case .boolean(var values) = self else {
            throw .unsupported("the RLE encoding for values of a non-boolean column")
        }
        guard count > 0 else { return }
        guard bytes.count >= 4 else { throw .corrupt("RLE booleans without their length") }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
        guard length <= bytes.count - 4 else {
            throw .corrupt("RLE booleans of \(length) bytes where \(bytes.count - 4) are left")
        }
        var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: bytes[4..<4 + length]), bitWidth: 1,
                                           what: "RLE booleans")
        let bits = try decoder.decode(count, as: UInt8.self, maxValue: 1)
        self = .int32([])
        values.append(contentsOf: bits.lazy.map { $0 == 1 })
        self = .boolean(values)
    }

    /// Appends `count` DELTA_BINARY_PACKED integers (INT32 or INT64 columns).
    @discardableResult
    public mutating func appendDeltaBinaryPacked(_ bytes: UnsafeRawBufferPointer, count: Int) throws(ParquetError) -> Int {
        var decoder = DeltaBinaryPackedDecoder(bytes)
        switch self {
        case .int32(var values):
            self = .boolean([])
            defer { self = .int32(values) }
            let decoded = try decoder.decode(count)
            values.reserveCapacity(values.count + count)
            for value in decoded { values.append(Int32(truncatingIfNeeded: value)) }
        case .int64(var values):
            self = .boolean([])
            defer { self = .int64(values) }
            values.append(contentsOf: try decoder.decode(count))
        default:
            throw .unsupported("DELTA_BINARY_PACKED for a column that is not INT32 or INT64")
        }
        return decoder.consumed
    }

    /// Appends `count` DELTA_LENGTH_BYTE_ARRAY values (the lengths, DELTA_BINARY_PACKED, then the bytes).
    public mutating func appendDeltaLengthByteArray(_ bytes: UnsafeRawBufferPointer, count: Int) throws(ParquetError) {
        guard case .byteArray(var values) = self else {
            throw .unsupported("DELTA_LENGTH_BYTE_ARRAY for a column that is not BYTE_ARRAY")
        }
        var decoder = DeltaBinaryPackedDecoder(bytes)
        let lengths = try decoder.decode(count)
        var position = decoder.consumed
        self = .boolean([])
        defer { self = .byteArray(values) }
        for (i, length) in lengths.enumerated() {
            guard length >= 0, length <= Int64(bytes.count - position) else {
                throw .corrupt("DELTA_LENGTH_BYTE_ARRAY value \(i) of \(length) bytes where \(bytes.count - position) are left")
            }
            let end = position + Int(length)
            values.append(UnsafeRawBufferPointer(rebasing: bytes[position..<end]))
            position = end
        }
    }
}

/// DELTA_BINARY_PACKED (Encodings.md "Delta Encoding"): a header (block
/// size, miniblocks per block, total count, zigzag first value), then
/// blocks of a zigzag minimum delta, one bit width per miniblock, and the
/// bit-packed miniblocks. Arithmetic wraps, as the specification says.
struct DeltaBinaryPackedDecoder {
    private let bytes: UnsafeRawBufferPointer
    private(set) var consumed = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private mutating func varint() throws(ParquetError) -> UInt64 {
        try Varint.read(bytes, at: &consumed, ends: "DELTA_BINARY_PACKED data ends inside a varint",
                        tooLong: "DELTA_BINARY_PACKED: a varint longer than 64 bits")
    }

    private mutating func zigzag() throws(ParquetError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// The first `count` values (the page may hold more: its header's total).
    mutating func decode(_ count: Int) throws(ParquetError) -> [Int64] {
        let blockSize = try varint()
        let miniblocks = try varint()
        let total = try varint()
        var last = try zigzag()
        guard blockSize > 0, blockSize % 128 == 0, blockSize <= 1 << 20, miniblocks > 0, miniblocks <= blockSize,
              blockSize % miniblocks == 0, (blockSize / miniblocks) % 32 == 0 else {
            throw .corrupt("DELTA_BINARY_PACKED: a block of \(blockSize) values in \(miniblocks) miniblocks")
        }
        guard total <= UInt64(Int32.max) else {
            throw .corrupt("DELTA_BINARY_PACKED says it holds \(total) values")
        }
        guard total >= UInt64(count) else {
            throw .corrupt("DELTA_BINARY_PACKED holds \(total) values where the page needs \(count)")
        }
        var values: [Int64] = []
        guard count > 0 else { return values }
        values.reserveCapacity(count)
        values.append(last)
        let perMiniblock = Int(blockSize / miniblocks)
        // Read every block the header's total needs (so `consumed` ends after them).
        var remainingDeltas = Int(total) - 1
        while remainingDeltas > 0 {
            let minDelta = try zigzag()
            guard Int(miniblocks) <= bytes.count - consumed else { throw .corrupt("DELTA_BINARY_PACKED: bit widths past the end") }
            let widthsStart = consumed
            consumed += Int(miniblocks)
            for m in 0..<Int(miniblocks) {
                guard remainingDeltas > 0 else { break }
                let width = Int(bytes[widthsStart + m])
                guard width <= 64 else { throw .corrupt("DELTA_BINARY_PACKED: a miniblock of bit width \(width)") }
                let miniBytes = perMiniblock * width / 8
                guard miniBytes <= bytes.count - consumed else {
                    // A writer may cut the last miniblock short: only the values wanted must be there.
                    let wanted = min(perMiniblock, remainingDeltas)
                    guard (wanted * width + 7) / 8 <= bytes.count - consumed else {
                        throw .corrupt("DELTA_BINARY_PACKED: a miniblock past the end")
                    }
                    try unpack(width: width, take: min(wanted, count - values.count), minDelta: minDelta, last: &last, into: &values)
                    consumed = bytes.count
                    remainingDeltas = 0
                    break
                }
                let take = min(perMiniblock, remainingDeltas)
                try unpack(width: width, take: min(take, max(0, count - values.count)), minDelta: minDelta, last: &last,
                           into: &values)
                consumed += miniBytes
                remainingDeltas -= take
            }
        }
        return values
    }

    private func unpack(width: Int, take: Int, minDelta: Int64, last: inout Int64, into values: inout [Int64]) throws(ParquetError) {
        guard take > 0 else { return }
        for j in 0..<take {
            var delta: UInt64 = 0
            if width > 0 {
                let bit = j * width
                for k in 0..<width {
                    let b = bit + k
                    let byte = bytes[consumed + (b >> 3)]
                    delta |= UInt64((byte >> UInt8(b & 7)) & 1) << UInt64(k)
                }
            }
            last = last &+ minDelta &+ Int64(bitPattern: delta)
            values.append(last)
        }
    }
}
