// Stable hashing and a small seeded random generator.
//
// Every answer, embedding and fault decision is derived from these, so they
// must give the same values in every process and on every machine (Swift's
// Hasher is randomly seeded per process and cannot be used).

/// FNV-1a, 64 bits, fed with bytes, strings and integers.
struct StableHash {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    init() {}

    init(_ parts: String...) {
        for part in parts { add(part); separator() }
    }

    mutating func add(byte: UInt8) {
        value ^= UInt64(byte)
        value &*= 0x0000_0100_0000_01b3
    }

    mutating func add(_ bytes: UnsafeBufferPointer<UInt8>) {
        var v = value
        for byte in bytes {
            v ^= UInt64(byte)
            v &*= 0x0000_0100_0000_01b3
        }
        value = v
    }

    mutating func add(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { add($0) }
    }

    mutating func add(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBufferPointer { add($0) }
    }

    mutating func add(_ string: String) {
        var string = string
        string.withUTF8 { add($0) }
    }

    /// Separates fields, so ("ab", "c") and ("a", "bc") differ.
    mutating func separator(_ tag: UInt8 = 0) {
        add(byte: 0xff)
        add(byte: tag)
    }

    mutating func add(_ number: UInt64) {
        var n = number
        for _ in 0..<8 {
            add(byte: UInt8(truncatingIfNeeded: n))
            n >>= 8
        }
    }

    /// The hash, passed through a finaliser so every bit depends on every input bit.
    var mixed: UInt64 { mix64(value) }
}

/// SplitMix64's finaliser.
func mix64(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
}

/// SplitMix64: small, fast, and good enough for text and vectors.
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return mix64(state)
    }

    /// Uniform in 0..<bound (bound > 0); the modulo bias is negligible for small bounds.
    mutating func below(_ bound: Int) -> Int {
        guard bound > 1 else { return 0 }
        return Int(next() % UInt64(bound))
    }

    /// Uniform in lower...upper.
    mutating func between(_ lower: Int, _ upper: Int) -> Int {
        lower + below(upper - lower + 1)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    mutating func pick<T>(_ items: [T]) -> T {
        items[below(items.count)]
    }

    mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, below(i + 1))
        }
    }
}

extension UInt64 {
    /// 16 lowercase hex digits.
    var hex16: String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
