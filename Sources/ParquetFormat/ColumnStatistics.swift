// Chunk statistics as pyarrow reads them (parquet.thrift Statistics and
// ColumnOrder): null_count, and min_value/max_value PLAIN-encoded in the
// type-defined order: signed for INT64, unsigned for INTEGER(64, unsigned),
// numeric for FLOAT/DOUBLE with NaN left out and a zero min written -0.0
// and a zero max +0.0, unsigned byte-wise for BYTE_ARRAY, false < true.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct ValueStatistics {
    let type: PhysicalType
    let unsigned: Bool
    private(set) var valueCount: Int64 = 0
    private var hasMinMax = false
    private var minBits: UInt64 = 0
    private var maxBits: UInt64 = 0
    private var minBytes: [UInt8] = []
    private var maxBytes: [UInt8] = []

    init(type: PhysicalType, unsigned: Bool) {
        self.type = type
        self.unsigned = unsigned
    }

    /// A BOOLEAN (0/1), INT64, FLOAT or DOUBLE value by its bits.
    @inline(__always)
    mutating func update(fixed bits: UInt64) {
        valueCount += 1
        switch type {
        case .double where Double(bitPattern: bits).isNaN: return
        case .float where Float(bitPattern: UInt32(truncatingIfNeeded: bits)).isNaN: return
        default: break
        }
        guard hasMinMax else {
            hasMinMax = true
            minBits = bits
            maxBits = bits
            return
        }
        if less(bits, minBits) { minBits = bits }
        if less(maxBits, bits) { maxBits = bits }
    }

    @inline(__always)
    private func less(_ a: UInt64, _ b: UInt64) -> Bool {
        switch type {
        case .double: Double(bitPattern: a) < Double(bitPattern: b)
        case .float: Float(bitPattern: UInt32(truncatingIfNeeded: a)) < Float(bitPattern: UInt32(truncatingIfNeeded: b))
        case .int64: unsigned ? a < b : Int64(bitPattern: a) < Int64(bitPattern: b)
        default: a < b
        }
    }

    mutating func update(bytes value: UnsafeRawBufferPointer) {
        valueCount += 1
        guard hasMinMax else {
            hasMinMax = true
            minBytes = Array(value)
            maxBytes = minBytes
            return
        }
        if Self.compare(value, minBytes) < 0 { minBytes = Array(value) }
        if Self.compare(value, maxBytes) > 0 { maxBytes = Array(value) }
    }

    /// Unsigned byte-wise order, a prefix first.
    static func compare(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Int {
        let common = min(a.count, b.count)
        if common > 0, let pa = a.baseAddress {
            let c = b.withUnsafeBytes { pb in pb.baseAddress.map { memcmp(pa, $0, common) } ?? 0 }
            if c != 0 { return Int(c) }
        }
        return a.count - b.count
    }

    func statistics(nullCount: Int64, maxBytes limit: Int) -> Statistics {
        var result = Statistics(nullCount: nullCount)
        guard hasMinMax else { return result }
        switch type {
        case .byteArray:
            guard minBytes.count <= limit && maxBytes.count <= limit else { return result }
            result.minValue = minBytes
            result.maxValue = maxBytes
        case .boolean:
            result.minValue = [UInt8(minBits)]
            result.maxValue = [UInt8(maxBits)]
        case .float:
            var low = Float(bitPattern: UInt32(truncatingIfNeeded: minBits))
            var high = Float(bitPattern: UInt32(truncatingIfNeeded: maxBits))
            if low == 0 { low = -0.0 }
            if high == 0 { high = 0.0 }
            result.minValue = Self.littleEndian(low.bitPattern)
            result.maxValue = Self.littleEndian(high.bitPattern)
        case .double:
            var low = Double(bitPattern: minBits)
            var high = Double(bitPattern: maxBits)
            if low == 0 { low = -0.0 }
            if high == 0 { high = 0.0 }
            result.minValue = Self.littleEndian(low.bitPattern)
            result.maxValue = Self.littleEndian(high.bitPattern)
        default:
            result.minValue = Self.littleEndian(minBits)
            result.maxValue = Self.littleEndian(maxBits)
        }
        return result
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
