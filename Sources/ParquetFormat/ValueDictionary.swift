// The dictionary of one column chunk: each distinct value once, in order of
// first appearance, looked up by its exact bits (so NaN payloads, -0.0 and
// +0.0 stay distinct values, and a float is never "equal" to another one).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct ValueDictionary {
    let type: PhysicalType
    private(set) var count = 0
    /// PLAIN size of the entries: what the dictionary page will hold.
    private(set) var byteSize = 0

    // Fixed-width values (INT64, DOUBLE bits, FLOAT bits).
    private var fixedIndex: [UInt64: UInt32] = [:]
    private var fixedValues: [UInt64] = []

    // Byte arrays: the entries back to back, and an open-addressing table
    // of entry numbers (-1 free) keyed by a hash of the bytes.
    private var data: [UInt8] = []
    private var offsets: [Int] = [0]
    private var hashes: [UInt64] = []
    private var slots: [Int32] = []

    init(type: PhysicalType) {
        self.type = type
    }

    mutating func index(ofFixed bits: UInt64) -> UInt32 {
        if let found = fixedIndex[bits] { return found }
        let index = UInt32(count)
        fixedIndex[bits] = index
        fixedValues.append(bits)
        count += 1
        byteSize += type == .float ? 4 : 8
        return index
    }

    mutating func index(ofBytes value: UnsafeRawBufferPointer) -> UInt32 {
        if slots.isEmpty { slots = [Int32](repeating: -1, count: 1024) }
        let hash = Self.hash(value)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = Int(slots[slot])
            if entry < 0 { break }
            if hashes[entry] == hash && equals(entry, value) { return UInt32(entry) }
            slot = (slot + 1) & mask
        }
        let index = count
        slots[slot] = Int32(index)
        hashes.append(hash)
        data.append(contentsOf: value)
        offsets.append(data.count)
        count += 1
        byteSize += 4 + value.count
        if count * 2 > slots.count { rehash() }
        return UInt32(index)
    }

    private func equals(_ entry: Int, _ value: UnsafeRawBufferPointer) -> Bool {
        let start = offsets[entry], end = offsets[entry + 1]
        guard end - start == value.count else { return false }
        guard let other = value.baseAddress else { return true }   // both empty
        return data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return false }
            return memcmp(base + start, other, value.count) == 0
        }
    }

    private mutating func rehash() {
        var table = [Int32](repeating: -1, count: slots.count * 2)
        let mask = table.count - 1
        for entry in 0..<count {
            var slot = Int(truncatingIfNeeded: hashes[entry]) & mask
            while table[slot] >= 0 { slot = (slot + 1) & mask }
            table[slot] = Int32(entry)
        }
        slots = table
    }

    /// A 64-bit hash, 8 bytes at a time.
    static func hash(_ value: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(value.count)
        var k = 0
        let n = value.count
        while k + 8 <= n {
            h = (h ^ value.loadUnaligned(fromByteOffset: k, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            k += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while k < n {
            tail |= UInt64(value[k]) << shift
            shift += 8
            k += 1
        }
        h = (h ^ tail) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 31
        return h
    }

    /// The dictionary page body: the entries, PLAIN.
    func encodePlain(into body: inout [UInt8]) {
        body.reserveCapacity(byteSize)
        switch type {
        case .byteArray:
            ColumnChunkWriter.plainByteArrays(data, offsets, 0..<count, into: &body)
        case .float:
            for bits in fixedValues { withUnsafeBytes(of: UInt32(truncatingIfNeeded: bits).littleEndian) { body.append(contentsOf: $0) } }
        default:
            fixedValues.withUnsafeBytes { body.append(contentsOf: $0) }
        }
    }
}

