// The RLE / bit-packing hybrid (apache/parquet-format Encodings.md "RLE"):
// repetition and definition levels, dictionary indices and RLE booleans.
// Runs start with a varint header h: h & 1 = 1 is a bit-packed run of
// (h >> 1) groups of 8 values, `bitWidth` bytes per group, LSB first;
// h & 1 = 0 is (h >> 1) copies of one value stored in ceil(bitWidth / 8)
// little-endian bytes. The decoder stops after the values it was asked
// for and ignores the padding of the last group; data that ends before
// them is `.corrupt`.

public struct RLEHybridDecoder {
    private let bytes: UnsafeRawBufferPointer
    private var position: Int
    public let bitWidth: Int
    /// What the data is, for messages ("definition levels").
    private let what: String

    /// A decoder over `bytes` (no length prefix) of values `bitWidth` bits wide (0...32).
    public init(_ bytes: UnsafeRawBufferPointer, bitWidth: Int, what: String) throws(ParquetError) {
        guard bitWidth >= 0 && bitWidth <= 32 else {
            throw .corrupt("\(what) of bit width \(bitWidth) (at most 32)")
        }
        self.bytes = bytes
        self.position = 0
        self.bitWidth = bitWidth
        self.what = what
    }

    /// Bytes the runs read so far took.
    public var consumed: Int { position }

    private mutating func varint() throws(ParquetError) -> UInt64 {
        try Varint.read(bytes, at: &position, ends: "\(what) end inside a run header",
                        tooLong: "\(what): a run header longer than 64 bits")
    }

    /// Decodes `count` values into `out` (which must hold them), each
    /// checked to be at most `maxValue`.
    public mutating func decode<T: FixedWidthInteger>(_ count: Int, into out: UnsafeMutablePointer<T>, maxValue: UInt32) throws(ParquetError) {
        var filled = 0
        let width = bitWidth
        while filled < count {
            let header = try varint()
            let runLength: Int
            if header & 1 == 0 {
                guard header >> 1 <= UInt64(Int32.max), header >> 1 > 0 else {
                    throw .corrupt("\(what): an RLE run of \(header >> 1) values")
                }
                runLength = Int(header >> 1)
                let valueBytes = (width + 7) / 8
                guard valueBytes <= bytes.count - position else { throw .corrupt("\(what) end inside an RLE run") }
                var value: UInt32 = 0
                for i in 0..<valueBytes { value |= UInt32(bytes[position + i]) << UInt32(8 * i) }
                position += valueBytes
                guard value <= maxValue else { throw .corrupt("\(what): the value \(value) is above the maximum \(maxValue)") }
                let take = min(runLength, count - filled)
                (out + filled).initialize(repeating: T(truncatingIfNeeded: value), count: take)
                filled += take
            } else {
                guard header >> 1 <= UInt64(Int32.max) / 8, header >> 1 > 0 else {
                    throw .corrupt("\(what): a bit-packed run of \(header >> 1) groups")
                }
                runLength = Int(header >> 1) * 8
                let runBytes = Int(header >> 1) * width
                let take = min(runLength, count - filled)
                // Only the bytes of the values taken must be there (a last run may be cut short).
                let needed = (take * width + 7) / 8
                guard needed <= bytes.count - position else { throw .corrupt("\(what) end inside a bit-packed run") }
                if width == 0 {
                    (out + filled).initialize(repeating: 0, count: take)
                } else {
                    let base = bytes.baseAddress! + position
                    let available = bytes.count - position
                    let mask: UInt64 = (1 << UInt64(width)) - 1
                    for j in 0..<take {
                        let bit = j * width
                        let byte = bit >> 3
                        var word: UInt64 = 0
                        let span = min(8, available - byte)
                        if span == 8 {
                            word = base.loadUnaligned(fromByteOffset: byte, as: UInt64.self)
                        } else {
                            for k in 0..<span { word |= UInt64(base.load(fromByteOffset: byte + k, as: UInt8.self)) << UInt64(8 * k) }
                        }
                        let value = UInt32(truncatingIfNeeded: (UInt64(littleEndian: word) >> UInt64(bit & 7)) & mask)
                        guard value <= maxValue else {
                            throw .corrupt("\(what): the value \(value) is above the maximum \(maxValue)")
                        }
                        out[filled + j] = T(truncatingIfNeeded: value)
                    }
                }
                filled += take
                position += min(runBytes, bytes.count - position)
            }
        }
    }

    /// `count` values as an array.
    public mutating func decode<T: FixedWidthInteger>(_ count: Int, as: T.Type, maxValue: UInt32) throws(ParquetError) -> [T] {
        guard count > 0 else { return [] }
        var error: ParquetError?
        let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(ParquetError) {
                // swiftlint:disable:next force_unwrapping
                try decode(count, into: buffer.baseAddress!, maxValue: maxValue)
                initialized = count
            } catch let caught {
                error = caught
                buffer.baseAddress!.initialize(repeating: 0, count: count)
                initialized = count
            }
        }
        if let error { throw error }
        return values
    }
}

/// The number of bits needed to store values up to `maxValue`.
public func bitWidth(ofMax maxValue: Int) -> Int {
    maxValue <= 0 ? 0 : Int.bitWidth - maxValue.leadingZeroBitCount
}
