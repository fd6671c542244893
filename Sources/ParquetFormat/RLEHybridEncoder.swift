// The RLE / bit-packing hybrid of Parquet's Encodings.md, encoding side:
// for definition and repetition levels and for dictionary indices. A value
// repeated 8 or more times becomes an RLE run (a varint count << 1, then
// the value in ceil(width/8) little-endian bytes); everything else goes in
// bit-packed runs of groups of 8 values (a varint groups << 1 | 1, then
// `width` bytes per group, values LSB first). Only the last group of the
// whole sequence is padded, so a reader that stops at the count it expects
// reads exactly the values given.

public enum RLEHybridEncoder {
    /// The bits needed for values up to `maxValue` (0 for 0).
    public static func bitWidth(_ maxValue: UInt64) -> Int {
        maxValue == 0 ? 0 : 64 - maxValue.leadingZeroBitCount
    }

    /// Appends the runs for `values` (each < 2^width) to `out`, with no
    /// length prefix.
    public static func encode<T: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<T>, bitWidth width: Int, into out: inout [UInt8]
    ) {
        precondition(width >= 0 && width <= 32, "an RLE bit width of \(width)")
        let n = values.count
        guard n > 0 else { return }
        var literalStart = 0   // values[literalStart..<i] wait to be bit-packed
        var i = 0
        while i < n {
            let value = values[i]
            var j = i + 1
            while j < n && values[j] == value { j += 1 }
            if j - i >= 8 {
                // Complete the pending literal values to whole groups of 8
                // with the first values of the run; what is left of the run,
                // if still 8 or more, becomes an RLE run.
                let pending = i - literalStart
                let fill = (8 - pending % 8) % 8
                if j - (i + fill) >= 8 {
                    let runStart = i + fill
                    if runStart > literalStart {
                        bitPack(values, literalStart..<runStart, width: width, into: &out)
                    }
                    rleRun(UInt64(value), count: j - runStart, width: width, into: &out)
                    literalStart = j
                }
            }
            i = j
        }
        if literalStart < n {
            bitPack(values, literalStart..<n, width: width, into: &out)
        }
    }

    /// Convenience for an array.
    public static func encode<T: FixedWidthInteger & UnsignedInteger>(_ values: [T], bitWidth width: Int) -> [UInt8] {
        var out: [UInt8] = []
        values.withUnsafeBufferPointer { encode($0, bitWidth: width, into: &out) }
        return out
    }

    private static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func rleRun(_ value: UInt64, count: Int, width: Int, into out: inout [UInt8]) {
        // Run lengths are at most 2^31 - 1 each.
        var left = count
        while left > 0 {
            let run = min(left, Int(Int32.max))
            varint(UInt64(run) << 1, into: &out)
            var v = value
            for _ in 0..<((width + 7) / 8) {
                out.append(UInt8(truncatingIfNeeded: v))
                v >>= 8
            }
            left -= run
        }
    }

    /// Bit-packed runs for `range`, the last group padded with zeros.
    private static func bitPack<T: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<T>, _ range: Range<Int>, width: Int, into out: inout [UInt8]
    ) {
        let maxGroupsPerRun = 1 << 24
        var start = range.lowerBound
        while start < range.upperBound {
            let count = min(range.upperBound - start, maxGroupsPerRun * 8)
            let groups = (count + 7) / 8
            varint(UInt64(groups) << 1 | 1, into: &out)
            guard width > 0 else { start += count; continue }
            out.reserveCapacity(out.count + groups * width)
            var accumulator: UInt64 = 0
            var bits = 0
            for k in 0..<(groups * 8) {
                let index = start + k
                let v = index < start + count ? UInt64(values[index]) : 0
                accumulator |= v << UInt64(bits)
                bits += width
                while bits >= 8 {
                    out.append(UInt8(truncatingIfNeeded: accumulator))
                    accumulator >>= 8
                    bits -= 8
                }
            }
            // groups * 8 * width is a multiple of 8 bits: nothing is left.
            start += count
        }
    }

    /// PLAIN booleans: bit-packed LSB first, no header, the last byte padded.
    public static func packBooleans(_ values: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var byte: UInt8 = 0
        for (k, value) in values.enumerated() {
            if value != 0 { byte |= 1 << UInt8(k & 7) }
            if k & 7 == 7 {
                out.append(byte)
                byte = 0
            }
        }
        if values.count & 7 != 0 { out.append(byte) }
    }
}
