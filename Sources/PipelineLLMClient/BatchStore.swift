import Foundation
import PipelineSQLite

/// Where a chunk of requests is on its way to being a provider batch. Each
/// state is stored before the action that leaves it is taken (record, then
/// act), so a process killed at any point knows what may have happened.
enum ChunkState: String, Sendable {
    /// Its requests and the sha256 of its file are stored; nothing uploaded yet
    /// (or an upload whose file id was never stored: harmless, re-uploaded).
    case recorded
    /// The file is uploaded (its id stored); no batch was asked for yet.
    case uploaded
    /// A create may have reached the provider: before any new create, the
    /// provider's batches are listed for this chunk's metadata.
    case creating
    /// The provider has the batch (its id stored).
    case open
    /// The batch ended and its lines are stored.
    case done
}

struct ChunkRecord: Sendable {
    var id: String
    var llm: String
    /// The run id the batch's metadata carries (the run that recorded it).
    var run: String
    var endpoint: String
    var state: ChunkState
    var sha256: String
    var bytes: Int
    var requests: Int
    var fileID: String?
    var batchID: String?
    var providerStatus: String?
    var recorded: Double
    var created: Double?
    var completed: Int
    var failed: Int
}

/// What a finished batch said about one of its requests.
enum LineOutcome: Sendable {
    /// Final: the status and body of the request's response.
    case answered(status: Int, body: [UInt8])
    /// Failed or expired: into a follow-up batch if resubmissions are left,
    /// else a final failure with this reason.
    case retry(reason: String)
    /// Not run because the batch was cancelled: back to the unsubmitted
    /// requests, without using a resubmission.
    case requeue
}

/// The batch state of a run (RUN_DIR/batches.db): the requests recorded
/// for provider batches, their answers, and the chunks they were submitted
/// in. SQLite in WAL mode; every LLM of the run shares the file. [thread-safe]
final class BatchStore: @unchecked Sendable {
    let path: String
    private let database: SQLiteDatabase
    private let lock = NSLock()
    private let selectRequest: Statement
    private let insertRequest: Statement

    static let schema = """
        PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
        CREATE TABLE IF NOT EXISTS batch_requests (
            seq INTEGER PRIMARY KEY, llm TEXT NOT NULL, custom_id TEXT NOT NULL, endpoint TEXT NOT NULL,
            body BLOB NOT NULL, chunk TEXT, submissions INTEGER NOT NULL DEFAULT 0,
            state INTEGER NOT NULL DEFAULT 0, status INTEGER, answer BLOB, error TEXT,
            UNIQUE (llm, custom_id));
        CREATE INDEX IF NOT EXISTS batch_requests_chunk ON batch_requests (llm, chunk, state);
        CREATE TABLE IF NOT EXISTS batch_chunks (
            id TEXT PRIMARY KEY, llm TEXT NOT NULL, run TEXT NOT NULL, endpoint TEXT NOT NULL, state TEXT NOT NULL,
            sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, requests INTEGER NOT NULL,
            file_id TEXT, batch_id TEXT, provider_status TEXT, recorded REAL NOT NULL, created REAL,
            completed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0);
        """

    /// Request states in `batch_requests.state`.
    static let pending: Int64 = 0, answered: Int64 = 1, failed: Int64 = 2

    init(path: String) throws(BatchError) {
        self.path = path
        do {
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                     withIntermediateDirectories: true)
            database = try SQLiteDatabase(path: path, create: true)
            try database.execute(Self.schema)
            selectRequest = try database.prepare(
                "SELECT state, status, answer, error FROM batch_requests WHERE llm = ? AND custom_id = ?")
            insertRequest = try database.prepare(
                "INSERT OR IGNORE INTO batch_requests (llm, custom_id, endpoint, body) VALUES (?, ?, ?, ?)")
        } catch {
            throw BatchError(.store, "the batch state \(path): \(error)")
        }
    }

    private func locked<R>(_ body: () throws(StoreError) -> R) throws(BatchError) -> R {
        lock.lock()
        defer { lock.unlock() }
        do {
            return try body()
        } catch {
            throw BatchError(.store, "the batch state: \(error)")
        }
    }

    // MARK: Requests

    /// The request's answer, failure or nil while it has neither; records it when new.
    func answer(llm: String, customID: String, endpoint: String, body: [UInt8]) throws(BatchError) -> BatchAnswer {
        try locked { () throws(StoreError) in
            var found: BatchAnswer?
            try selectRequest.query(.text(llm), .text(customID)) { row in
                switch row.int(0) {
                case Self.answered: found = .response(status: Int(row.int(1)), body: Array(row.blob(2)))
                case Self.failed: found = .failed(row.text(3) ?? "failed")
                default: found = .pending
                }
            }
            if let found { return found }
            try insertRequest.run([.text(llm), .text(customID), .text(endpoint)], blob: body)
            return .pending
        }
    }

    /// The requests no batch holds, in the order they were recorded: their
    /// sequence number, custom id, endpoint and body length.
    func unsubmitted(llm: String) throws(BatchError) -> [(seq: Int64, customID: String, endpoint: String, bodyBytes: Int)] {
        try locked { () throws(StoreError) in
            var rows: [(seq: Int64, customID: String, endpoint: String, bodyBytes: Int)] = []
            let statement = try database.prepare("""
                SELECT seq, custom_id, endpoint, length(body) FROM batch_requests
                WHERE llm = ? AND chunk IS NULL AND state = 0 ORDER BY seq
                """)
            try statement.query(.text(llm)) { row in
                rows.append((row.int(0), row.text(1) ?? "", row.text(2) ?? "", Int(row.int(3))))
            }
            return rows
        }
    }

    /// The custom ids and bodies of requests, by sequence number, in that order.
    func bodies(seqs: [Int64]) throws(BatchError) -> [(customID: String, body: [UInt8])] {
        try locked { () throws(StoreError) in
            let statement = try database.prepare("SELECT custom_id, body FROM batch_requests WHERE seq = ?")
            var out: [(customID: String, body: [UInt8])] = []
            out.reserveCapacity(seqs.count)
            for seq in seqs {
                try statement.query(.int(seq)) { row in out.append((row.text(0) ?? "", Array(row.blob(1)))) }
            }
            return out
        }
    }

    /// The requests a chunk holds (pending ones), in the order they were recorded.
    func chunkRequests(chunk: String) throws(BatchError) -> [(seq: Int64, customID: String, body: [UInt8])] {
        try locked { () throws(StoreError) in
            var out: [(seq: Int64, customID: String, body: [UInt8])] = []
            let statement = try database.prepare(
                "SELECT seq, custom_id, body FROM batch_requests WHERE chunk = ? ORDER BY seq")
            try statement.query(.text(chunk)) { row in out.append((row.int(0), row.text(1) ?? "", Array(row.blob(2)))) }
            return out
        }
    }

    /// A request that can never be submitted: a final failure.
    func fail(seq: Int64, reason: String) throws(BatchError) {
        try locked { () throws(StoreError) in
            try database.prepare("UPDATE batch_requests SET state = 2, error = ? WHERE seq = ? AND state = 0")
                .run(.text(reason), .int(seq))
        }
    }

    // MARK: Chunks

    /// Stores a chunk (its file's hash) and puts its requests in it, in one transaction.
    func record(_ chunk: ChunkRecord, seqs: [Int64]) throws(BatchError) {
        try locked { () throws(StoreError) in
            try database.transaction { () throws(StoreError) in
                try database.prepare("""
                    INSERT INTO batch_chunks (id, llm, run, endpoint, state, sha256, bytes, requests, recorded)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).run(.text(chunk.id), .text(chunk.llm), .text(chunk.run), .text(chunk.endpoint),
                             .text(chunk.state.rawValue), .text(chunk.sha256), .int(Int64(chunk.bytes)),
                             .int(Int64(chunk.requests)), .double(chunk.recorded))
                let assign = try database.prepare(
                    "UPDATE batch_requests SET chunk = ?, submissions = submissions + 1 WHERE seq = ? AND chunk IS NULL")
                for seq in seqs { try assign.run(.text(chunk.id), .int(seq)) }
            }
        }
    }

    /// The chunks of `llm` in any of `states`, oldest first.
    func chunks(llm: String, states: [ChunkState]) throws(BatchError) -> [ChunkRecord] {
        try locked { () throws(StoreError) in try Self.chunks(database, llm: llm, states: states) }
    }

    static func chunks(_ database: SQLiteDatabase, llm: String?, states: [ChunkState]) throws(StoreError) -> [ChunkRecord] {
        let list = states.map { "'\($0.rawValue)'" }.joined(separator: ",")
        let statement = try database.prepare("""
            SELECT id, llm, run, endpoint, state, sha256, bytes, requests, file_id, batch_id, provider_status,
                   recorded, created, completed, failed
            FROM batch_chunks WHERE (?1 IS NULL OR llm = ?1) AND state IN (\(list)) ORDER BY recorded, id
            """)
        var out: [ChunkRecord] = []
        try statement.query(llm.map { .text($0) } ?? .null) { row in
            out.append(ChunkRecord(
                id: row.text(0) ?? "", llm: row.text(1) ?? "", run: row.text(2) ?? "", endpoint: row.text(3) ?? "",
                state: ChunkState(rawValue: row.text(4) ?? "") ?? .done, sha256: row.text(5) ?? "",
                bytes: Int(row.int(6)), requests: Int(row.int(7)), fileID: row.text(8), batchID: row.text(9),
                providerStatus: row.text(10), recorded: row.double(11),
                created: row.text(12) == nil ? nil : row.double(12), completed: Int(row.int(13)), failed: Int(row.int(14))))
        }
        return out
    }

    func setUploaded(chunk: String, fileID: String) throws(BatchError) {
        try locked { () throws(StoreError) in
            try database.prepare("UPDATE batch_chunks SET state = 'uploaded', file_id = ? WHERE id = ?")
                .run(.text(fileID), .text(chunk))
        }
    }

    func setState(chunk: String, _ state: ChunkState) throws(BatchError) {
        try locked { () throws(StoreError) in
            try database.prepare("UPDATE batch_chunks SET state = ? WHERE id = ?").run(.text(state.rawValue), .text(chunk))
        }
    }

    /// The provider has the chunk's batch.
    func setOpen(chunk: String, batchID: String, status: String, created: Double?) throws(BatchError) {
        try locked { () throws(StoreError) in
            try database.prepare(
                "UPDATE batch_chunks SET state = 'open', batch_id = ?, provider_status = ?, created = ? WHERE id = ?")
                .run(.text(batchID), .text(status), created.map { .double($0) } ?? .null, .text(chunk))
        }
    }

    func setProviderStatus(chunk: String, status: String, completed: Int, failed: Int) throws(BatchError) {
        try locked { () throws(StoreError) in
            try database.prepare("UPDATE batch_chunks SET provider_status = ?, completed = ?, failed = ? WHERE id = ?")
                .run(.text(status), .int(Int64(completed)), .int(Int64(failed)), .text(chunk))
        }
    }

    /// Stores what a finished batch said about each of the chunk's pending
    /// requests (`missing` for those it said nothing about) and closes the
    /// chunk, in one transaction. A `retry` with `submissions <= resubmit`
    /// goes back to the unsubmitted requests; past that it becomes a final
    /// failure whose message `final(reason, submissions)` makes.
    func finish(chunk: String, status: String, completed: Int, failed: Int, outcomes: [String: LineOutcome],
                missing: LineOutcome, resubmit: Int, final: (String, Int) -> String) throws(BatchError) -> (answered: Int, resubmitted: Int, failed: Int) {
        try locked { () throws(StoreError) in
            try database.transaction { () throws(StoreError) in
                var pending: [(seq: Int64, customID: String, submissions: Int)] = []
                try database.prepare(
                    "SELECT seq, custom_id, submissions FROM batch_requests WHERE chunk = ? AND state = 0")
                    .query(.text(chunk)) { row in pending.append((row.int(0), row.text(1) ?? "", Int(row.int(2)))) }
                let answer = try database.prepare(
                    "UPDATE batch_requests SET state = 1, error = NULL, status = ?2, answer = ?3 WHERE seq = ?1")
                let requeue = try database.prepare(
                    "UPDATE batch_requests SET chunk = NULL, error = ?, submissions = submissions + ? WHERE seq = ?")
                let fail = try database.prepare("UPDATE batch_requests SET state = 2, error = ? WHERE seq = ?")
                var counts = (answered: 0, resubmitted: 0, failed: 0)
                for request in pending {
                    switch outcomes[request.customID] ?? missing {
                    case .answered(let status, let body):
                        try answer.run([.int(request.seq), .int(Int64(status))], blob: body)
                        counts.answered += 1
                    case .retry(let reason):
                        if request.submissions <= resubmit {
                            try requeue.run(.text(reason), .int(0), .int(request.seq))
                            counts.resubmitted += 1
                        } else {
                            try fail.run(.text(final(reason, request.submissions)), .int(request.seq))
                            counts.failed += 1
                        }
                    case .requeue:
                        try requeue.run(.null, .int(-1), .int(request.seq))
                        counts.resubmitted += 1
                    }
                }
                try database.prepare(
                    "UPDATE batch_chunks SET state = 'done', provider_status = ?, completed = ?, failed = ? WHERE id = ?")
                    .run(.text(status), .int(Int64(completed)), .int(Int64(failed)), .text(chunk))
                return counts
            }
        }
    }

    // MARK: Counts

    func progress(llm: String) throws(BatchError) -> BatchProgress {
        try locked { () throws(StoreError) in try Self.progress(database, llm: llm) }
    }

    static func progress(_ database: SQLiteDatabase, llm: String) throws(StoreError) -> BatchProgress {
        var progress = BatchProgress(llm: llm)
        try database.prepare("""
            SELECT state, chunk IS NULL, count(*) FROM batch_requests WHERE llm = ? GROUP BY state, chunk IS NULL
            """).query(.text(llm)) { row in
            let count = Int(row.int(2))
            switch row.int(0) {
            case answered: progress.answered += count
            case failed: progress.failed += count
            default:
                progress.pending += count
                if row.int(1) != 0 { progress.unsubmitted += count }
            }
        }
        progress.open = try chunks(database, llm: llm, states: [.recorded, .uploaded, .creating, .open]).map(\.openBatch)
        return progress
    }

    /// The LLMs with requests in the file.
    static func llms(_ database: SQLiteDatabase) throws(StoreError) -> [String] {
        var names: [String] = []
        try database.prepare("SELECT DISTINCT llm FROM batch_requests ORDER BY llm").query { row in
            if let name = row.text(0) { names.append(name) }
        }
        return names
    }
}

extension ChunkRecord {
    var openBatch: OpenBatch {
        let status: String
        switch state {
        case .recorded: status = "recorded"
        case .uploaded: status = "uploaded"
        case .creating: status = "creating"
        case .open, .done: status = providerStatus ?? "unknown"
        }
        return OpenBatch(llm: llm, chunkID: id, batchID: batchID, status: status, recorded: recorded, created: created,
                         requests: requests, completed: completed, failed: failed)
    }
}
