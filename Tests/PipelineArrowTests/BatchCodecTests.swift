import PipelineArrow
import Testing

/// The state store's batch encoding: every type and null pattern, slices
/// (encoded from their offset), and damaged input that must not crash.
@Suite("BatchCodec")
struct BatchCodecTests {
    @Test(arguments: NullPattern.all)
    func everyTypeRoundTrips(nulls: NullPattern) throws {
        let batch = try allTypesBatch(nulls)
        let decoded = try BatchCodec.decode(BatchCodec.encode(batch))
        expectSameBatch(decoded, batch, "round trip")
        for (start, count) in sliceBounds(batch.length) {
            let slice = batch.slice(from: start, count: count)
            expectSameBatch(try BatchCodec.decode(BatchCodec.encode(slice)), slice, "slice \(start)+\(count)")
        }
    }

    @Test func emptyAndImportedBatchesRoundTrip() throws {
        let empty = try allTypesBatch(NullPattern.all[0]).slice(from: 0, count: 0)
        expectSameBatch(try BatchCodec.decode(BatchCodec.encode(empty)), empty, "empty")
        let imported = try exportAndImport(try allTypesBatch(NullPattern.all[8]))
        expectSameBatch(try BatchCodec.decode(BatchCodec.encode(imported)), imported, "imported")
    }

    @Test func damagedInputIsAnErrorNotACrash() throws {
        let bytes = BatchCodec.encode(try allTypesBatch(NullPattern.all[9]))
        // Every truncation.
        for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 300)) {
            #expect(throws: ArrowError.self) { try BatchCodec.decode(Array(bytes.prefix(length))) }
        }
        // Flipped bytes: either an error or a batch, never a trap.
        var random: UInt64 = 0x1234_5678
        for _ in 0..<500 {
            var damaged = bytes
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let index = Int(random >> 33) % damaged.count
            damaged[index] ^= UInt8(truncatingIfNeeded: random >> 17) | 1
            _ = try? BatchCodec.decode(damaged)
        }
        #expect(throws: ArrowError.self) { try BatchCodec.decode(Array("nope".utf8)) }
    }
}
