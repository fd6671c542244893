#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The names of the columns the host owns.
public let rowIdColumn = "_row_id"
public let errorColumn = "_error"

/// A growable byte buffer on the C heap. The memory moves when it grows, so
/// hold `base` only while nothing is appended.
public final class ByteArena {
    public private(set) var base: UnsafeMutablePointer<UInt8>
    public private(set) var capacity: Int
    public var count = 0

    public init(capacity: Int = 4096) {
        let size = max(capacity, 16)
        guard let memory = malloc(size) else { fatalError("out of memory allocating \(size) bytes") }
        base = memory.assumingMemoryBound(to: UInt8.self)
        self.capacity = size
    }

    deinit { free(base) }

    /// Makes room for `extra` more bytes.
    @inlinable @inline(__always)
    public func reserve(_ extra: Int) {
        if count + extra > capacity { grow(count + extra) }
    }

    @usableFromInline
    func grow(_ needed: Int) {
        var size = capacity
        while size < needed { size = size < (1 << 40) ? size * 2 : needed }
        guard let memory = realloc(base, size) else { fatalError("out of memory growing a buffer to \(size) bytes") }
        base = memory.assumingMemoryBound(to: UInt8.self)
        capacity = size
    }

    @inlinable @inline(__always)
    public func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inlinable @inline(__always)
    public func append(_ bytes: UnsafePointer<UInt8>, count n: Int) {
        guard n > 0 else { return }
        reserve(n)
        (base + count).update(from: bytes, count: n)
        count += n
    }

    @inlinable
    public func append(_ string: StaticString) {
        append(string.utf8Start, count: string.utf8CodeUnitCount)
    }

    public func append(_ string: String) {
        var string = string
        string.withUTF8 { if let start = $0.baseAddress { append(start, count: $0.count) } }
    }

    /// The bytes `[start, start+length)` as a raw buffer (valid until the next append).
    @inlinable @inline(__always)
    public func bytes(_ start: Int, _ length: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + start, count: length)
    }

    /// Frees memory beyond `limit` bytes once a long batch or line is done.
    public func shrink(to limit: Int) {
        guard capacity > limit, count <= limit, let memory = realloc(base, limit) else { return }
        base = memory.assumingMemoryBound(to: UInt8.self)
        capacity = limit
    }
}
