/// Cuts normalised text into shingles (character or word n-grams), each
/// hashed to 64 bits. A text shorter than one n-gram is one shingle (all of
/// it); an empty text has none.
struct Shingler: Sendable {
    enum Unit: String, Sendable { case character, word }

    var unit: Unit
    var size: Int
    var normalization: TextNormalization

    /// The shingles' hashes, in text order, repeats included (enough for a
    /// MinHash signature). `scratch` and `units` are reused buffers.
    func hashes(_ text: UnsafeRawBufferPointer, scratch: inout [UInt8], units: inout [UInt64],
                into out: inout [UInt64]) {
        out.removeAll(keepingCapacity: true)
        units.removeAll(keepingCapacity: true)
        normalization.apply(text, into: &scratch)
        switch unit {
        case .character:
            // Unicode scalars of the normalised text.
            var iterator = scratch.makeIterator()
            var decoder = UTF8()
            decoding: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let scalar): units.append(UInt64(scalar.value))
                case .emptyInput: break decoding
                case .error: units.append(0xFFFD)
                }
            }
        case .word:
            scratch.withUnsafeBytes { bytes in
                var start = 0
                for index in 0...bytes.count where index == bytes.count || bytes[index] == 0x20 {
                    if index > start {
                        units.append(Hashing.bytes(UnsafeRawBufferPointer(rebasing: bytes[start..<index]), seed: 0x5851_F42D))
                    }
                    start = index + 1
                }
            }
        }
        guard !units.isEmpty else { return }
        let width = min(size, units.count)
        out.reserveCapacity(units.count - width + 1)
        for start in 0...(units.count - width) {
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(width)
            for offset in 0..<width { hash = (hash ^ units[start + offset]) &* 0x0000_0100_0000_01B3 }
            out.append(Hashing.mix(hash))
        }
    }

    /// The set of shingles, sorted, without repeats: what the exact
    /// Jaccard check compares.
    func set(_ text: UnsafeRawBufferPointer, scratch: inout [UInt8], units: inout [UInt64]) -> [UInt64] {
        var out: [UInt64] = []
        hashes(text, scratch: &scratch, units: &units, into: &out)
        out.sort()
        var unique = 0
        for value in out where unique == 0 || out[unique - 1] != value {
            out[unique] = value
            unique += 1
        }
        out.removeLast(out.count - unique)
        return out
    }

    /// |A ∩ B| / |A ∪ B| of two sorted sets; two empty sets are the same text (1).
    static func jaccard(_ a: [UInt64], _ b: [UInt64]) -> Double {
        if a.isEmpty && b.isEmpty { return 1 }
        var i = 0
        var j = 0
        var common = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] {
                common += 1
                i += 1
                j += 1
            } else if a[i] < b[j] {
                i += 1
            } else {
                j += 1
            }
        }
        return Double(common) / Double(a.count + b.count - common)
    }
}

/// MinHash signatures cut into LSH bands. Permutation i maps a shingle hash
/// x to the high 32 bits of a_i·x + b_i (mod 2^64, a_i odd): a
/// multiply-shift family, cheap and, on well-mixed 64-bit inputs, close
/// enough to min-wise independent for Jaccard estimates. Only the band keys
/// are kept: one 32-bit hash of each band's `rows` minima.
struct MinHasher: Sendable {
    let multipliers: [UInt64]
    let offsets: [UInt64]
    let bands: Int
    let rows: Int

    init(permutations: Int, bands: Int, rows: Int, seed: UInt64) {
        var state = seed
        func next() -> UInt64 {
            state = state &+ 0x9E37_79B9_7F4A_7C15
            return Hashing.mix(state)
        }
        multipliers = (0..<permutations).map { _ in next() | 1 }
        offsets = (0..<permutations).map { _ in next() }
        self.bands = bands
        self.rows = rows
    }

    /// The band keys of one row's shingles into `keys` (`bands` values).
    func bandKeys(_ shingles: [UInt64], signature: inout [UInt32], into keys: UnsafeMutableBufferPointer<UInt32>) {
        let count = multipliers.count
        signature.removeAll(keepingCapacity: true)
        signature.append(contentsOf: repeatElement(UInt32.max, count: count))
        signature.withUnsafeMutableBufferPointer { minima in
            multipliers.withUnsafeBufferPointer { a in
                offsets.withUnsafeBufferPointer { b in
                    for x in shingles {
                        for i in 0..<count {
                            let value = UInt32(truncatingIfNeeded: (a[i] &* x &+ b[i]) >> 32)
                            minima[i] = min(minima[i], value)
                        }
                    }
                }
            }
            for band in 0..<bands {
                var hash = UInt64(band) &* 0xD6E8_FEB8_6659_FD93
                for i in (band * rows)..<((band + 1) * rows) { hash = Hashing.mix(hash ^ UInt64(minima[i])) }
                keys[band] = UInt32(truncatingIfNeeded: hash >> 32)
            }
        }
    }
}

/// Union-find over row ranks whose root is always the smallest rank of its
/// set: with rows ranked by `_row_id`, the root is the set's first row.
struct UnionFind {
    var parent: [Int32]

    init(count: Int) { parent = (0..<count).map { Int32($0) } }

    mutating func find(_ x: Int) -> Int {
        var root = x
        while Int(parent[root]) != root { root = Int(parent[root]) }
        var node = x
        while Int(parent[node]) != root {
            let next = Int(parent[node])
            parent[node] = Int32(root)
            node = next
        }
        return root
    }

    /// Joins the sets of a and b; false when they were one already.
    @discardableResult
    mutating func union(_ a: Int, _ b: Int) -> Bool {
        let ra = find(a)
        let rb = find(b)
        if ra == rb { return false }
        if ra < rb { parent[rb] = Int32(ra) } else { parent[ra] = Int32(rb) }
        return true
    }
}
