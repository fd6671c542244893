import Dispatch
import PluginKit

/// `dedup_minhash`: near duplicates by MinHash and LSH, each candidate pair
/// checked by its exact Jaccard similarity, clusters by union-find.
///
/// A global step: it has to see every row before it knows which row of a
/// cluster is kept, so it keeps the input batches (as `deita_filter` does)
/// and answers from `finish`. Per row it adds only the band keys (4 bytes a
/// band), the row id, its rank and a union-find parent: no signature, no
/// shingle set. The Jaccard check recomputes the two rows' shingle sets
/// from the texts the step holds anyway: CPU per candidate pair instead of
/// memory per row (docs/pipelines.md, "Deduplication", has the figures).
struct MinHashDedup: PipelineStep {
    static let column = Parameter("column", default: "text", .minLength(1),
        description: "The utf8 column compared. A null there makes the row an error row.")
    static let unit = Parameter("ngram", default: "character", .oneOf(["character", "word"]),
        description: "What a shingle is made of: characters (Unicode scalars) or words (split at white space).")
    static let size = Parameter("ngram_size", default: 5, .minimum(1), .maximum(64),
        description: "Characters or words per shingle. A text shorter than that is one shingle.")
    static let permutations = Parameter("permutations", default: 100, .minimum(1), .maximum(1024),
        description: "MinHash permutations (the signature's length); must equal bands × rows_per_band.")
    static let bands = Parameter("bands", default: 20, .minimum(1), .maximum(1024),
        description: "LSH bands: two rows are a candidate pair when all the values of one band agree.")
    static let rowsPerBand = Parameter("rows_per_band", default: 5, .minimum(1), .maximum(1024),
        description: "Signature values per band. The candidate threshold is about (1/bands)^(1/rows_per_band): 0.55 for 20 × 5.")
    static let threshold = Parameter("threshold", default: 0.8, .exclusiveMinimum(0), .maximum(1),
        description: "Two rows are duplicates when the exact Jaccard similarity of their shingle sets is at least this.")
    static let ignoreCase = Parameter("ignore_case", default: true,
        description: "Lower-case the text before cutting it into shingles.")
    static let ignorePunctuation = Parameter("ignore_punctuation", default: true,
        description: "Remove punctuation and symbols (Unicode categories P and S) before cutting. White space is always collapsed.")
    static let keep = Parameter("keep", default: "first", .pattern("^(first|max:.+)$"),
        description: KeepRule.parameterDescription + " Input order here is the order of _row_id (a loader's rows: file order).")
    static let mode = Parameter("mode", default: "drop", .oneOf(["drop", "mark"]),
        description: DuplicateMode.parameterDescription)
    static let seed = Parameter<Int64>("seed", default: 1, description: "Seeds the permutations.")
    static let threads = Parameter("threads", default: 2, .minimum(1), .maximum(64),
        description: "Threads computing signatures.")

    static let info = StepInfo(
        kind: .global, id: "org.pipeline.dedup_minhash", name: "dedup_minhash", version: "1.0.0",
        description: """
            Drops (or marks) near-duplicate rows: MinHash signatures of character or word n-grams, LSH bands \
            to find candidate pairs, then the exact Jaccard similarity of each candidate pair's shingle sets \
            (a pair below threshold is not a duplicate, whatever the signatures say). Duplicates are clustered \
            with union-find; each cluster keeps its first row by _row_id, or the best by a score column \
            (keep: max:<column>). A global step: rows come out when the input ends, in input order.
            """,
        inputs: [.init("text", "utf8", description: "the text compared", nameParam: "column"),
                 .init("*", "any", description: "passed through")],
        outputs: [.init("duplicate_of", "int64", optional: true,
                        description: "mode: mark only: the _row_id of the row kept for the cluster; null on kept rows"),
                  .init("*", "any", description: "the input columns, kept rows (every row with mode: mark)")],
        parameters: [column, unit, size, permutations, bands, rowsPerBand, threshold, ignoreCase, ignorePunctuation,
                     keep, mode, seed, threads]
    ).filtering()
        .planning(StepPlan(atMost: true))

    let column: String
    let shingler: Shingler
    let hasher: MinHasher
    let threshold: Double
    let keepRule: KeepRule
    let mode: DuplicateMode
    let threads: Int

    /// The input batches (owned copies), and where each starts in arrival numbering.
    var held: [RecordBatch] = []
    var starts: [Int] = []
    /// Per row in arrival numbering: band keys (bands each), row id, score, usable.
    var keys: [UInt32] = []
    var ids: [UInt64] = []
    var scores: [Double] = []
    var valid: [Bool] = []
    var errors: [[Int: String]] = []
    /// Set in finish: row rank (by _row_id) per arrival index, and the verdicts.
    var keptID: [UInt64?] = []
    var emitted = 0
    var stats = Stats()

    struct Stats {
        var pairsChecked = 0
        var pairsJoined = 0
        var pairsRejected = 0
        var oversized = 0
        var duplicates = 0
        var clusters = 0
        /// Nanoseconds in signatures (process) and in clustering (finish).
        var signing: UInt64 = 0
        var clustering: UInt64 = 0
    }

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        column = try parameters[Self.column]
        let permutations = try parameters[Self.permutations]
        let bands = try parameters[Self.bands]
        let rows = try parameters[Self.rowsPerBand]
        guard bands * rows == permutations else {
            throw .invalidArgument("dedup_minhash: bands × rows_per_band must equal permutations: \(bands) × \(rows) = \(bands * rows), permutations is \(permutations)")
        }
        guard let unit = Shingler.Unit(rawValue: try parameters[Self.unit]) else {
            throw .invalidArgument("dedup_minhash: ngram must be character or word")
        }
        shingler = Shingler(unit: unit, size: try parameters[Self.size], normalization: TextNormalization(
            ignoreCase: try parameters[Self.ignoreCase], ignoreWhitespace: true,
            ignorePunctuation: try parameters[Self.ignorePunctuation]))
        hasher = MinHasher(permutations: permutations, bands: bands, rows: rows,
                           seed: UInt64(bitPattern: try parameters[Self.seed]))
        threshold = try parameters[Self.threshold]
        keepRule = try KeepRule(try parameters[Self.keep], step: "dedup_minhash")
        guard let mode = DuplicateMode(rawValue: try parameters[Self.mode]) else {
            throw .invalidArgument("dedup_minhash: mode must be drop or mark")
        }
        self.mode = mode
        threads = try parameters[Self.threads]
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch, batch.length > 0 else { return nil }
        let started = DispatchTime.now().uptimeNanoseconds
        defer { stats.signing += DispatchTime.now().uptimeNanoseconds - started }
        let text = try textColumn(batch, column, step: "dedup_minhash")
        let rowIDs = try rowIDs(batch, step: "dedup_minhash")
        let owned: RecordBatch
        do { owned = try batch.owningCopies() } catch {
            throw .internal("dedup_minhash: cannot keep the batch: \(error.message)")
        }
        if case .highest(let scoreColumn) = keepRule {
            scores.append(contentsOf: try KeepRule.scores(batch, column: scoreColumn, step: "dedup_minhash"))
        }
        let first = ids.count
        var batchErrors: [Int: String] = [:]
        for row in 0..<batch.length {
            ids.append(rowIDs.uint64(row))
            valid.append(text.isValid(row))
            if !text.isValid(row) { batchErrors[row] = "dedup_minhash: \"\(column)\" is null" }
        }
        starts.append(first)
        held.append(owned)
        errors.append(batchErrors)
        // Band keys, the rows split between the threads.
        let bands = hasher.bands
        keys.append(contentsOf: repeatElement(0, count: batch.length * bands))
        let ownedText = try textColumn(owned, column, step: "dedup_minhash")
        let shared = Unchecked((ownedText, shingler, hasher))
        let length = batch.length
        let workers = min(threads, max(1, length / 256))
        keys.withUnsafeMutableBufferPointer { all in
            let out = Unchecked(UnsafeMutableBufferPointer(rebasing: all[(first * bands)...]))
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let (text, shingler, hasher) = shared.value
                var scratch: [UInt8] = []
                var units: [UInt64] = []
                var shingles: [UInt64] = []
                var signature: [UInt32] = []
                let from = length * worker / workers
                let to = length * (worker + 1) / workers
                for row in from..<to where text.isValid(row) {
                    shingler.hashes(text.utf8Bytes(row), scratch: &scratch, units: &units, into: &shingles)
                    hasher.bandKeys(shingles, signature: &signature,
                                    into: UnsafeMutableBufferPointer(rebasing: out.value[(row * bands)..<((row + 1) * bands)]))
                }
            }
        }
        return nil
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        if emitted == 0 && !held.isEmpty && keptID.isEmpty {
            let started = DispatchTime.now().uptimeNanoseconds
            try cluster(context: context)
            stats.clustering = DispatchTime.now().uptimeNanoseconds - started
        }
        while emitted < held.count {
            let index = emitted
            emitted += 1
            let batch = held[index]
            held[index] = batch.slice(from: 0, count: 0)
            var verdicts = BatchVerdicts()
            verdicts.errors = errors[index]
            for row in 0..<batch.length {
                let arrival = starts[index] + row
                guard valid[arrival], let kept = keptID[arrival] else { continue }
                if kept == ids[arrival] { verdicts.keep.append(row) } else { verdicts.duplicateOf[row] = kept }
            }
            if let out = try verdicts.output(batch, mode: mode, step: "dedup_minhash") { return out }
        }
        if !ids.isEmpty {
            let what = mode == .drop ? "left out (mode: drop)" : "marked with duplicate_of (mode: mark)"
            context.log(.info, """
                dedup_minhash: \(stats.duplicates) of \(ids.count) row(s) were near duplicates and were \(what); \
                \(stats.clusters) cluster(s) of two or more; candidate pairs checked \(stats.pairsChecked), \
                confirmed \(stats.pairsJoined), rejected by the Jaccard check \(stats.pairsRejected); \
                \(Self.seconds(stats.signing)) s signing, \(Self.seconds(stats.clustering)) s finding and checking pairs
                """)
            if stats.oversized > 0 {
                context.log(.warning, "dedup_minhash: \(stats.oversized) row(s) in LSH buckets of more than \(Self.fullCheckLimit) rows were compared with only the first \(Self.representativeLimit) distinct clusters of their bucket")
            }
            ids = []
        }
        return nil
    }

    private static func seconds(_ nanoseconds: UInt64) -> String {
        let tenths = (nanoseconds + 50_000_000) / 100_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// A bucket up to this size has every pair of rows not yet in one cluster checked.
    static let fullCheckLimit = 256
    /// A larger bucket: each row is checked against its clusters' first rows, at most this many.
    static let representativeLimit = 256

    /// Candidate pairs from the bands, the Jaccard check, union-find, and the kept row of each cluster.
    private mutating func cluster(context: StepContext) throws(StepError) {
        let count = ids.count
        // Rank rows by _row_id: union-find roots are then each cluster's first row.
        let order = (0..<count).filter { valid[$0] }.sorted { ids[$0] < ids[$1] }
        var sets = UnionFind(count: order.count)
        var cache = ShingleCache(shingler: shingler)
        let bands = hasher.bands
        var packed = [UInt64](repeating: 0, count: order.count)
        for band in 0..<bands {
            if context.isCancelled { throw StepError(status: pipeline_status(PIPELINE_CANCELLED), "dedup_minhash: cancelled") }
            for (rank, arrival) in order.enumerated() {
                packed[rank] = UInt64(keys[arrival * bands + band]) << 32 | UInt64(rank)
            }
            packed.sort()
            var start = 0
            while start < packed.count {
                var end = start + 1
                while end < packed.count && packed[end] >> 32 == packed[start] >> 32 { end += 1 }
                if end - start > 1 {
                    let members = packed[start..<end].map { Int(UInt32(truncatingIfNeeded: $0)) }
                    try check(members, order: order, sets: &sets, cache: &cache)
                }
                start = end
            }
        }
        keys = []
        // The kept row of each cluster.
        var best = [Int](repeating: -1, count: order.count)
        for rank in 0..<order.count {
            let root = sets.find(rank)
            if best[root] < 0 { best[root] = rank; continue }
            if case .highest = keepRule, scores[order[rank]] > scores[order[best[root]]] { best[root] = rank }
        }
        keptID = [UInt64?](repeating: nil, count: count)
        var sizes = [Int32](repeating: 0, count: order.count)
        for rank in 0..<order.count {
            let root = sets.find(rank)
            sizes[root] += 1
            let kept = order[best[root]]
            keptID[order[rank]] = ids[kept]
            if kept != order[rank] { stats.duplicates += 1 }
        }
        stats.clusters = sizes.lazy.filter { $0 > 1 }.count
    }

    /// The rows of one LSH bucket (ranks, ascending): pairs not yet in one
    /// cluster are checked and joined when their Jaccard similarity is high enough.
    private mutating func check(_ members: [Int], order: [Int], sets: inout UnionFind, cache: inout ShingleCache) throws(StepError) {
        func text(_ rank: Int) -> UnsafeRawBufferPointer {
            let arrival = order[rank]
            var low = 0
            var high = starts.count - 1
            while low < high {
                let mid = (low + high + 1) / 2
                if starts[mid] <= arrival { low = mid } else { high = mid - 1 }
            }
            return held[low].column(column)?.utf8Bytes(arrival - starts[low]) ?? UnsafeRawBufferPointer(start: nil, count: 0)
        }
        let full = members.count <= Self.fullCheckLimit
        var representatives: [Int] = []
        for (position, member) in members.enumerated() {
            let earlier = full ? Array(members[..<position]) : representatives
            var joined = false
            for other in earlier where sets.find(other) != sets.find(member) {
                stats.pairsChecked += 1
                let similarity = Shingler.jaccard(cache.set(other, text(other)), cache.set(member, text(member)))
                if similarity >= threshold {
                    sets.union(other, member)
                    stats.pairsJoined += 1
                    joined = true
                } else {
                    stats.pairsRejected += 1
                }
            }
            if !full && !joined && sets.find(member) == member {
                if representatives.count < Self.representativeLimit { representatives.append(member) } else { stats.oversized += 1 }
            }
        }
        cache.clear()
    }
}

/// The shingle sets of one bucket's rows, computed once per bucket.
struct ShingleCache {
    let shingler: Shingler
    var sets: [Int: [UInt64]] = [:]
    var scratch: [UInt8] = []
    var units: [UInt64] = []

    init(shingler: Shingler) { self.shingler = shingler }

    mutating func set(_ rank: Int, _ text: UnsafeRawBufferPointer) -> [UInt64] {
        if let set = sets[rank] { return set }
        let set = shingler.set(text, scratch: &scratch, units: &units)
        sets[rank] = set
        return set
    }

    mutating func clear() { sets.removeAll(keepingCapacity: true) }
}

/// A value handed to the signature threads; each thread writes only its own rows.
struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
