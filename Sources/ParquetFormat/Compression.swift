import CSnappy
import CZstd

/// Page bodies compressed and decompressed with the codecs this module
/// supports: none, SNAPPY (a raw snappy block, no framing) and ZSTD (one or
/// more standard frames). Any other codec is refused by name.
public enum PageCompression {
    /// The codecs `decompress` accepts.
    public static let supported: [Codec] = [.uncompressed, .snappy, .zstd]

    /// `body` decompressed to exactly `uncompressedSize` bytes. A body that
    /// does not decompress, or not to that size, is `.corrupt`.
    public static func decompress(_ body: UnsafeRawBufferPointer, codec: Codec, uncompressedSize: Int) throws(ParquetError) -> [UInt8] {
        guard uncompressedSize >= 0 else { throw .corrupt("a negative uncompressed page size \(uncompressedSize)") }
        switch codec {
        case .uncompressed:
            guard body.count == uncompressedSize else {
                throw .corrupt("an uncompressed page of \(body.count) bytes says it holds \(uncompressedSize)")
            }
            return Array(body)
        case .snappy:
            var expected = 0
            guard let base = body.baseAddress?.assumingMemoryBound(to: CChar.self),
                  snappy_uncompressed_length(base, body.count, &expected) == SNAPPY_OK else {
                throw .corrupt("a SNAPPY page that is not a snappy block")
            }
            guard expected == uncompressedSize else {
                throw .corrupt("a SNAPPY page of \(expected) bytes says it holds \(uncompressedSize)")
            }
            var out = [UInt8](repeating: 0, count: uncompressedSize)
            var length = uncompressedSize
            let status = out.withUnsafeMutableBytes { dst in
                snappy_uncompress(base, body.count, dst.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
            }
            guard status == SNAPPY_OK, length == uncompressedSize else {
                throw .corrupt("a SNAPPY page that does not decompress")
            }
            return out
        case .zstd:
            var out = [UInt8](repeating: 0, count: uncompressedSize)
            let written = out.withUnsafeMutableBytes { dst in
                ZSTD_decompress(dst.baseAddress, uncompressedSize, body.baseAddress, body.count)
            }
            guard ZSTD_isError(written) == 0 else {
                let reason = ZSTD_getErrorName(written).map { String(cString: $0) } ?? "unknown"
                throw .corrupt("a ZSTD page that does not decompress: \(reason)")
            }
            guard written == uncompressedSize else {
                throw .corrupt("a ZSTD page of \(written) bytes says it holds \(uncompressedSize)")
            }
            return out
        default:
            throw .unsupported("the compression codec \(codec.name) (supported: UNCOMPRESSED, SNAPPY, ZSTD)")
        }
    }

    /// `body` compressed with `codec` (`level` is ZSTD's, 1 by default as pyarrow's).
    public static func compress(_ body: UnsafeRawBufferPointer, codec: Codec, level: Int32 = 1) throws(ParquetError) -> [UInt8] {
        switch codec {
        case .uncompressed:
            return Array(body)
        case .snappy:
            var capacity = snappy_max_compressed_length(body.count)
            var out = [UInt8](repeating: 0, count: capacity)
            let status = withNonNullBase(body) { base in
                out.withUnsafeMutableBytes { dst in
                    snappy_compress(base, body.count, dst.baseAddress?.assumingMemoryBound(to: CChar.self), &capacity)
                }
            }
            guard status == SNAPPY_OK else { throw .io("snappy_compress failed (status \(status.rawValue))") }
            out.removeLast(out.count - capacity)
            return out
        case .zstd:
            let bound = ZSTD_compressBound(body.count)
            var out = [UInt8](repeating: 0, count: bound)
            let written = out.withUnsafeMutableBytes { dst in
                ZSTD_compress(dst.baseAddress, bound, body.baseAddress, body.count, level)
            }
            guard ZSTD_isError(written) == 0 else {
                let reason = ZSTD_getErrorName(written).map { String(cString: $0) } ?? "unknown"
                throw .io("ZSTD_compress failed: \(reason)")
            }
            out.removeLast(out.count - written)
            return out
        default:
            throw .unsupported("writing with the compression codec \(codec.name) (supported: UNCOMPRESSED, SNAPPY, ZSTD)")
        }
    }

    /// `body`'s base address, or one of an empty buffer's (the C APIs want non-null).
    private static func withNonNullBase<R>(_ body: UnsafeRawBufferPointer, _ run: (UnsafePointer<CChar>) -> R) -> R {
        if let base = body.baseAddress { return run(base.assumingMemoryBound(to: CChar.self)) }
        var empty: CChar = 0
        return withUnsafePointer(to: &empty) { run($0) }
    }
}
