/// A fast 64-bit digest of bytes: to notice that data replayed after a
/// crash differs from what a run saw before it (a stored batch's digest
/// against the recomputed batch's), not to defend against anyone. Four
/// independent multiply-rotate lanes over 32-byte blocks keep the CPU's
/// multipliers busy (several GB/s); the tail is folded in a byte at a time
/// and the result is avalanched with the splitmix64 finaliser, so any
/// changed, added or missing byte changes the digest with probability
/// 1 - 2^-64 for inputs that are not built to collide.
public enum Digest64 {
    private static let prime1: UInt64 = 0x9E37_79B9_7F4A_7C15
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let prime3: UInt64 = 0x1656_67B1_9E37_79F9

    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var lanes = (seed &+ prime1, seed &+ prime2, seed ^ prime3, seed &- prime1)
        let count = bytes.count
        var offset = 0
        if let base = bytes.baseAddress {
            @inline(__always) func mix(_ lane: UInt64, _ word: UInt64) -> UInt64 {
                let mixed = lane &+ word &* prime2
                return ((mixed << 29) | (mixed >> 35)) &* prime1
            }
            while offset + 32 <= count {
                lanes.0 = mix(lanes.0, base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                lanes.1 = mix(lanes.1, base.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                lanes.2 = mix(lanes.2, base.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
                lanes.3 = mix(lanes.3, base.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self))
                offset += 32
            }
        }
        var digest = UInt64(truncatingIfNeeded: count) &* prime3
        digest = finalise(digest ^ lanes.0)
        digest = finalise(digest ^ lanes.1)
        digest = finalise(digest ^ lanes.2)
        digest = finalise(digest ^ lanes.3)
        while offset < count {
            digest = finalise(digest ^ (UInt64(bytes[offset]) &* prime1))
            offset += 1
        }
        return digest
    }

    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    /// splitmix64's finaliser: every input bit flips each output bit with
    /// probability about one half.
    @inline(__always) private static func finalise(_ value: UInt64) -> UInt64 {
        var x = value
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 31)
    }
}
