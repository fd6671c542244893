import Foundation
import PipelineArrow
import PipelineHashing
import PipelineSQLite

/// What the store keeps of a batch it does not store: one a deterministic
/// generator, or a deterministic step fed only by such batches, makes
/// again when the run resumes (the executor's ReplayPlan). The rows are
/// not written at all, which is most of what checkpointing cost on
/// pipelines that only move data; the marker keeps the batch's number
/// and row count (in `batches`) and the digest of its encoding, so a
/// replay that makes different rows is an error, not a silent change.
///
///     "PLR1" u64 digest (little-endian)
///
/// Never a valid BatchCodec blob (those start with "PLB").
enum ReplayMarker {
    static let magic: [UInt8] = Array("PLR1".utf8)

    static func bytes(digest: UInt64) -> [UInt8] {
        var out = magic
        withUnsafeBytes(of: digest.littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// The digest, if `blob` is a marker.
    static func digest(_ blob: UnsafeRawBufferPointer) -> UInt64? {
        guard blob.count == 12, blob.prefix(4).elementsEqual(magic) else { return nil }
        return UInt64(littleEndian: blob.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
    }
}

extension RunStore {
    /// The digest of a batch, as a replay marker stores it.
    public static func replayDigest(_ batch: RecordBatch) -> UInt64 {
        Digest64.hash(BatchCodec.encode(batch))
    }

    /// The batches of `step` stored as replay markers: sequence number → digest.
    public func replayMarkers(step: String) throws(StoreError) -> [Int: UInt64] {
        access.lock()
        defer { access.unlock() }
        var markers: [Int: UInt64] = [:]
        try database.prepare("SELECT seq, data FROM batches WHERE step = ? AND length(data) = 12").query(.text(step)) { row in
            if let digest = ReplayMarker.digest(row.blob(1)) { markers[Int(row.int(0))] = digest }
        }
        return markers
    }

    /// Stores the rows of batches a replay made again, in place of their
    /// markers, in one transaction.
    public func fillReplayed(step: String, batches: [(seq: Int, batch: RecordBatch)]) throws(StoreError) {
        guard !batches.isEmpty else { return }
        access.lock()
        defer { access.unlock() }
        try database.transaction { () throws(StoreError) in try fill(step: step, batches: batches) }
    }

    /// In the caller's transaction, `access` held.
    func fill(step: String, batches: [(seq: Int, batch: RecordBatch)]) throws(StoreError) {
        let update = try database.prepare("UPDATE batches SET data = ?3 WHERE step = ?1 AND seq = ?2")
        for (seq, batch) in batches {
            try update.run([.text(step), .int(Int64(seq))], blob: BatchCodec.encode(batch))
        }
    }
}
