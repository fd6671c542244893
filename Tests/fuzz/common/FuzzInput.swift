/// Reads a fuzzer's bytes as a sequence of small decisions, then the rest
/// as payload. Running out of bytes gives zeros, never a trap.
struct FuzzInput {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    init(_ data: UnsafePointer<UInt8>, _ size: Int) {
        bytes = UnsafeBufferPointer(start: data, count: size)
    }

    var isAtEnd: Bool { position >= bytes.count }
    var remaining: Int { max(bytes.count - position, 0) }

    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u16() -> Int { Int(byte()) | Int(byte()) << 8 }

    mutating func u32() -> UInt32 { UInt32(u16()) | UInt32(u16()) << 16 }

    mutating func u64() -> UInt64 { UInt64(u32()) | UInt64(u32()) << 32 }

    mutating func bool() -> Bool { byte() & 1 == 1 }

    /// Up to `count` bytes (fewer at the end).
    mutating func take(_ count: Int) -> [UInt8] {
        let n = min(max(count, 0), remaining)
        defer { position += n }
        return Array(bytes[position..<position + n])
    }

    /// Everything not read yet.
    mutating func rest() -> [UInt8] { take(remaining) }
}

/// A harness's own check: unlike `precondition`, keeps its message in -O
/// builds, so a crash report says what went wrong.
func expect(_ condition: Bool, _ message: @autoclosure () -> String = "check failed",
            file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}
