// Unsigned LEB128 varints inside encoded data (the RLE/bit-packed hybrid's
// run headers, DELTA_BINARY_PACKED's header and block values). The Thrift
// reader has its own, over its own byte source.

enum Varint {
    /// The varint at `position` in `bytes` (at most 64 bits), `position`
    /// moved past it; `ends` and `tooLong` are the errors for data that
    /// stops inside it and for one longer than 64 bits.
    static func read(_ bytes: UnsafeRawBufferPointer, at position: inout Int, ends: @autoclosure () -> String,
                     tooLong: @autoclosure () -> String) throws(ParquetError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else { throw .corrupt(ends()) }
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw .corrupt(tooLong()) }
        }
    }
}
