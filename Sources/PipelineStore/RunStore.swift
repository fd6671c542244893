import Foundation
import PipelineArrow
import PipelineJSON
import PipelineBase
import PipelineHashing
import PipelineSQLite

/// The durable state of one run directory (`state.db`, SQLite in WAL mode).
///
/// Every batch a step emits, the input batch it consumed and the step's
/// counters are committed in one transaction, so after a kill at any
/// instant the store holds a consistent prefix of the run: each batch
/// either fully there (and its input marked consumed) or not at all.
/// Resuming feeds every step what it has not consumed yet.
///
/// Used from the executor's control thread, and from its StoreWriter
/// thread for commits; `access` serialises the two.
public final class RunStore: @unchecked Sendable {
    public static let fileName = "state.db"
    /// Bumped when the schema or the batch encoding changes. 2: a batch a
    /// generator can replay may be stored as a replay marker (ReplayMarker).
    static let formatVersion = 2
    /// "PIPE": marks the file as ours (PRAGMA application_id).
    static let applicationID: Int32 = 0x5049_5045

    public enum Status: String, Sendable {
        case running, succeeded, failed, interrupted, waiting
    }

    /// What the store knows about one step when a run (re)starts.
    public struct StepState: Sendable {
        public var done = false
        /// Output batches committed: their sequence numbers are 0..<emitted.
        public var emitted = 0
        /// The next fresh row id counter of the step.
        public var nextID: UInt64 = 0
        /// Input batches consumed, in the order the step got them.
        public var consumed: [(parent: String, seq: Int)] = []
        public var counters = RunSummary.Step(name: "", uses: "")

        public init() {}
    }

    let database: SQLiteDatabase
    /// Serialises every use of `database` (StepState.swift uses it too).
    let access = NSLock()
    public let path: String
    private var insertBatch: Statement?
    private var insertConsumed: Statement?
    private var insertErrors: Statement?
    private var updateStep: Statement?
    private var selectBatch: Statement?
    /// RunAccounting's UPDATE, run with every commit: prepared once.
    var updateAttempt: Statement?
    /// What the current attempt has cost so far (RunAccounting.swift),
    /// written with every commit transaction. Set before the first commit.
    package var attemptProgress: (@Sendable () -> Attempt)?

    /// Opens the store of `directory`, creating it if absent. With `fresh`,
    /// an existing store is deleted first.
    public init(directory: String, fresh: Bool = false) throws(StoreError) {
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        if fresh {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let existed = FileManager.default.fileExists(atPath: path)
        database = try SQLiteDatabase(path: path, create: true)
        // A file without a schema is one whose creation a kill cut short
        // (SQLite makes the file on open, the schema commits later): it
        // holds nothing, so it is created again rather than refused.
        var isNew = !existed
        if existed { isNew = try checkIdentity() == .empty }
        // Large pages: batches are blobs of tens to hundreds of KiB, and
        // fewer overflow pages make them much cheaper to write and read.
        // page_size only takes effect before the first table exists.
        // A small page cache (4 MiB): batches are written once and read
        // back once at most, so caching them only holds memory (16 MiB of
        // it with the default-sized cache of an earlier version).
        try database.execute("""
            PRAGMA page_size = 65536; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
            PRAGMA cache_size = -4096;
            """)
        if isNew { try createSchema() }
        // A store of format 1 is read as it is; from now on it may hold
        // replay markers, which a version reading only format 1 must refuse.
        try database.execute("PRAGMA user_version = \(Self.formatVersion)")
        try createStepStateTable()
        try createAccountingTable()
    }

    private enum Identity { case ours, empty }

    private func checkIdentity() throws(StoreError) -> Identity {
        var application: Int64 = 0
        var version: Int64 = 0
        var objects: Int64 = 0
        do {
            try database.prepare("PRAGMA application_id").query { row in application = row.int(0) }
            try database.prepare("PRAGMA user_version").query { row in version = row.int(0) }
            try database.prepare("SELECT count(*) FROM sqlite_master").query { row in objects = row.int(0) }
            if application == 0 && version == 0 && objects == 0 { return .empty }
            // A quick structural check: damage shows here rather than mid-run.
            var verdict = "ok"
            try database.prepare("PRAGMA quick_check").query { row in verdict = row.text(0) ?? "?" }
            guard verdict == "ok" else {
                throw StoreError(.damaged, "\(path): the state database is damaged (\(verdict)); move it aside (or run with --fresh) to start over")
            }
        }
        guard application == Int64(Self.applicationID) else {
            throw StoreError(.foreign, "\(path) is not a pipeline state database; move it aside, or choose another --run-dir")
        }
        guard version <= Int64(Self.formatVersion) else {
            throw StoreError(.newer, "\(path) was written by a newer pipeline (state format \(version); this one reads up to \(Self.formatVersion)); use that version, or another --run-dir")
        }
        return .ours
    }

    private func createSchema() throws(StoreError) {
        try database.transaction { () throws(StoreError) in
            try database.execute("""
                PRAGMA application_id = \(Self.applicationID);
                PRAGMA user_version = \(Self.formatVersion);
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                CREATE TABLE steps (
                    name TEXT PRIMARY KEY, position INTEGER NOT NULL, config TEXT NOT NULL,
                    done INTEGER NOT NULL DEFAULT 0, emitted INTEGER NOT NULL DEFAULT 0,
                    next_id INTEGER NOT NULL DEFAULT 0,
                    batches_in INTEGER NOT NULL DEFAULT 0, rows_in INTEGER NOT NULL DEFAULT 0,
                    batches_out INTEGER NOT NULL DEFAULT 0, rows_out INTEGER NOT NULL DEFAULT 0,
                    row_errors INTEGER NOT NULL DEFAULT 0, busy_seconds REAL NOT NULL DEFAULT 0);
                CREATE TABLE batches (
                    step TEXT NOT NULL, seq INTEGER NOT NULL, rows INTEGER NOT NULL, data BLOB NOT NULL,
                    PRIMARY KEY (step, seq)) WITHOUT ROWID;
                CREATE TABLE consumed (
                    step TEXT NOT NULL, ord INTEGER NOT NULL, parent TEXT NOT NULL, seq INTEGER NOT NULL,
                    PRIMARY KEY (step, ord), UNIQUE (step, parent, seq)) WITHOUT ROWID;
                CREATE TABLE error_rows (
                    step TEXT NOT NULL, ord INTEGER NOT NULL, data BLOB NOT NULL,
                    PRIMARY KEY (step, ord)) WITHOUT ROWID;
                """)
        }
    }

    // MARK: Starting or resuming

    /// One step's identity in the store: its name and a fingerprint of
    /// everything that determines its output.
    public struct Fingerprint: Sendable {
        public var name: String
        /// The hash of everything that determines the output.
        public var config: String
        /// What the hash is made of, secrets hidden (FingerprintParts),
        /// stored beside it so a refused resume can say what changed.
        public var parts: JSONValue?
        public init(name: String, config: String, parts: JSONValue? = nil) {
            self.name = name
            self.config = config
            self.parts = parts
        }

        /// The same step definition as `stored`: the same hash, and the same
        /// LLM model and parameters where the stored parts have them.
        func matches(stored: Fingerprint) -> Bool {
            guard config == stored.config else { return false }
            guard let llm = stored.parts?["llm"] else { return true }
            return parts?["llm"] == llm
        }
    }

    /// Records a new run, or checks that the stored one is the same
    /// pipeline, and returns every step's state (fresh: all empty).
    public func begin(pipeline: String, steps: [Fingerprint]) throws(StoreError) -> [String: StepState] {
        let stored = try storedFingerprints()
        if stored.isEmpty {
            try database.transaction { () throws(StoreError) in
                let insert = try database.prepare("INSERT INTO steps (name, position, config, parts) VALUES (?, ?, ?, ?)")
                for (position, step) in steps.enumerated() {
                    try insert.run(.text(step.name), .int(Int64(position)), .text(step.config),
                                   step.parts.map { .text($0.serialized) } ?? .null)
                }
                let meta = try database.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
                try meta.run(.text("pipeline"), .text(pipeline))
                try meta.run(.text("host_version"), .text(PipelineVersion.host))
                try meta.run(.text("created_at"), .text(String(Date().timeIntervalSince1970)))
                try meta.run(.text("status"), .text(Status.running.rawValue))
            }
            return Dictionary(uniqueKeysWithValues: steps.map { ($0.name, StepState()) })
        }
        try checkUnchanged(stored: stored, current: steps)
        // The current parts replace the stored ones (the same step: they
        // differ only in what older versions did not keep, such as the LLM).
        try updateParts(steps)
        return try loadStates()
    }

    /// The steps of the stored run, in their order (empty for a new store).
    func storedFingerprints() throws(StoreError) -> [Fingerprint] {
        try addPartsColumn()
        var stored: [Fingerprint] = []
        try database.prepare("SELECT name, config, parts FROM steps ORDER BY position").query { row in
            let parts = row.text(2).flatMap { try? JSONValue(parsing: $0) }
            stored.append(Fingerprint(name: row.text(0) ?? "", config: row.text(1) ?? "", parts: parts))
        }
        return stored
    }

    func updateParts(_ steps: [Fingerprint]) throws(StoreError) {
        let update = try database.prepare("UPDATE steps SET parts = ? WHERE name = ?")
        for step in steps {
            if let parts = step.parts { try update.run(.text(parts.serialized), .text(step.name)) }
        }
    }

    /// `steps.parts` (JSON, FingerprintParts), which stores written by
    /// earlier versions lack; older versions ignore it.
    private func addPartsColumn() throws(StoreError) {
        var columns: [String] = []
        try database.prepare("PRAGMA table_info(steps)").query { row in columns.append(row.text(1) ?? "") }
        if !columns.contains("parts") { try database.execute("ALTER TABLE steps ADD COLUMN parts TEXT") }
    }

    private func checkUnchanged(stored: [Fingerprint], current: [Fingerprint]) throws(StoreError) {
        let before = Dictionary(stored.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let now = Dictionary(current.map { ($0.name, $0.config) }, uniquingKeysWith: { first, _ in first })
        var changes: [String] = []
        for step in current {
            guard let old = before[step.name] else { changes.append("step \"\(step.name)\" was added"); continue }
            guard !step.matches(stored: old) else { continue }
            guard let oldParts = old.parts, let newParts = step.parts else {
                // Stored by a version that kept only the hash.
                changes.append("step \"\(step.name)\" changed (its plugin, parameters, inputs, batch size or input file)")
                continue
            }
            let what = FingerprintParts.changes(from: oldParts, to: newParts)
            if what.isEmpty {
                changes.append("step \"\(step.name)\" changed: a value that is not shown (a secret or from the environment)")
            } else {
                changes.append("step \"\(step.name)\" changed: " + what.joined(separator: "; "))
            }
        }
        for step in stored where now[step.name] == nil { changes.append("step \"\(step.name)\" was removed") }
        if changes.isEmpty, stored.map(\.name) != current.map(\.name) { changes.append("the steps were reordered") }
        guard changes.isEmpty else {
            throw StoreError(.changed, """
                the pipeline changed since the run in \((path as NSString).deletingLastPathComponent) started: \
                \(changes.joined(separator: "; ")). Resuming would mix results of two pipelines. \
                Run with --resume-changed to keep what did not change and redo the rest, with --fresh to start this run over, or use another --run-dir.
                """)
        }
    }

    func loadStates() throws(StoreError) -> [String: StepState] {
        var states: [String: StepState] = [:]
        try database.prepare("""
            SELECT name, done, emitted, next_id, batches_in, rows_in, batches_out, rows_out, row_errors, busy_seconds
            FROM steps
            """).query { row in
            var state = StepState()
            let name = row.text(0) ?? ""
            state.done = row.int(1) != 0
            state.emitted = Int(row.int(2))
            state.nextID = UInt64(bitPattern: row.int(3))
            state.counters = RunSummary.Step(name: name, uses: "")
            state.counters.batchesIn = Int(row.int(4))
            state.counters.rowsIn = Int(row.int(5))
            state.counters.batchesOut = Int(row.int(6))
            state.counters.rowsOut = Int(row.int(7))
            state.counters.rowErrors = Int(row.int(8))
            state.counters.busySeconds = row.double(9)
            states[name] = state
        }
        try database.prepare("SELECT step, parent, seq FROM consumed ORDER BY step, ord").query { row in
            states[row.text(0) ?? "", default: StepState()].consumed.append((row.text(1) ?? "", Int(row.int(2))))
        }
        return states
    }

    // MARK: During the run

    /// What one completed plugin call changes, committed atomically.
    public struct Commit {
        public var step: String
        /// Output batches, numbered from the step's `emitted` count on.
        public var outputs: [RecordBatch] = []
        public var firstSeq = 0
        /// Rows the step failed, for errors.jsonl.
        public var errorRows: [RecordBatch] = []
        /// The input batch the call consumed, with its place in the step's order.
        public var consumed: (parent: String, seq: Int, ord: Int)?
        public var counters: RunSummary.Step
        public var nextID: UInt64
        public var done = false
        /// The length of llm-io.jsonl once this call's lines are in it.
        public var ioLogBytes: Int64?
        /// The outputs can be made again on resume (ReplayPlan): only their
        /// digest is stored, not their rows.
        public var replayable = false
        /// Rows for batches of `step` stored as replay markers, which the
        /// run needs from the store after all (an input held for a provider
        /// batch). A commit with these changes nothing else.
        public var fills: [(seq: Int, batch: RecordBatch)] = []

        /// Stores `batches` of `step` in place of their replay markers.
        public static func fill(step: String, _ batches: [(seq: Int, batch: RecordBatch)]) -> Commit {
            var commit = Commit(step: step, counters: RunSummary.Step(name: step, uses: ""), nextID: 0)
            commit.fills = batches
            return commit
        }

        public init(step: String, counters: RunSummary.Step, nextID: UInt64) {
            self.step = step
            self.counters = counters
            self.nextID = nextID
        }
    }

    public func commit(_ commit: Commit) throws(StoreError) {
        try self.commit([commit])
    }

    /// Commits several calls' results in one transaction (group commit):
    /// all of them, or none.
    public func commit(_ commits: [Commit]) throws(StoreError) {
        access.lock()
        defer { access.unlock() }
        if insertBatch == nil {
            insertBatch = try database.prepare("INSERT INTO batches (step, seq, rows, data) VALUES (?, ?, ?, ?)")
            insertConsumed = try database.prepare("INSERT INTO consumed (step, ord, parent, seq) VALUES (?, ?, ?, ?)")
            insertErrors = try database.prepare("""
                INSERT INTO error_rows (step, ord, data)
                VALUES (?1, (SELECT COALESCE(MAX(ord), -1) + 1 FROM error_rows WHERE step = ?1), ?2)
                """)
            updateStep = try database.prepare("""
                UPDATE steps SET done = ?, emitted = ?, next_id = ?, batches_in = ?, rows_in = ?, batches_out = ?,
                    rows_out = ?, row_errors = ?, busy_seconds = ? WHERE name = ?
                """)
        }
        guard let insertBatch, let insertConsumed, let insertErrors, let updateStep else { return }
        try database.transaction { () throws(StoreError) in
          for commit in commits {
            if !commit.fills.isEmpty {
                try fill(step: commit.step, batches: commit.fills)
                continue
            }
            for (offset, batch) in commit.outputs.enumerated() {
                let encoded = BatchCodec.encode(batch)
                try insertBatch.run([.text(commit.step), .int(Int64(commit.firstSeq + offset)), .int(Int64(batch.length))],
                                    blob: commit.replayable ? ReplayMarker.bytes(digest: Digest64.hash(encoded)) : encoded)
            }
            for rows in commit.errorRows {
                try insertErrors.run([.text(commit.step)], blob: BatchCodec.encode(rows))
            }
            if let consumed = commit.consumed {
                try insertConsumed.run(.text(commit.step), .int(Int64(consumed.ord)), .text(consumed.parent),
                                       .int(Int64(consumed.seq)))
            }
            let c = commit.counters
            try updateStep.run(
                .int(commit.done ? 1 : 0), .int(Int64(commit.firstSeq + commit.outputs.count)),
                .int(Int64(bitPattern: commit.nextID)), .int(Int64(c.batchesIn)), .int(Int64(c.rowsIn)),
                .int(Int64(c.batchesOut)), .int(Int64(c.rowsOut)), .int(Int64(c.rowErrors)), .double(c.busySeconds),
                .text(commit.step))
          }
          if let bytes = commits.compactMap(\.ioLogBytes).max() { try writeIOLogBytes(bytes) }
          if let attemptProgress { try writeAttempt(attemptProgress()) }
        }
    }

    /// A batch a step emitted earlier.
    public func batch(step: String, seq: Int) throws(StoreError) -> RecordBatch {
        access.lock()
        defer { access.unlock() }
        if selectBatch == nil { selectBatch = try database.prepare("SELECT data FROM batches WHERE step = ? AND seq = ?") }
        guard let selectBatch else { throw StoreError(.damaged, "\(path): cannot read batches") }
        var result: Result<RecordBatch, ArrowError>?
        var replayOnly = false
        try selectBatch.query(.text(step), .int(Int64(seq))) { row in
            let bytes = row.blob(0)
            if ReplayMarker.digest(bytes) != nil {
                replayOnly = true
                return
            }
            result = Result { () throws(ArrowError) -> RecordBatch in try BatchCodec.decode(bytes) }
        }
        if replayOnly {
            throw StoreError(.damaged, "\(path): batch \(seq) of step \"\(step)\" is made again on resume, and was not (internal error); run with --fresh to start over")
        }
        switch result {
        case .success(let batch): return batch
        case .failure(let error):
            throw StoreError(.damaged, "\(path): batch \(seq) of step \"\(step)\" cannot be read (\(error.message)); run with --fresh to start over")
        case nil:
            throw StoreError(.damaged, "\(path): batch \(seq) of step \"\(step)\" is missing; run with --fresh to start over")
        }
    }

    /// Every failed row, step by step, in the order they failed.
    public func forEachErrorBatch(_ body: (String, RecordBatch) -> Void) throws(StoreError) {
        access.lock()
        defer { access.unlock() }
        try database.prepare("""
            SELECT e.step, e.data FROM error_rows e JOIN steps s ON s.name = e.step ORDER BY s.position, e.ord
            """).query { row in
            if let batch = try? BatchCodec.decode(row.blob(1)) { body(row.text(0) ?? "", batch) }
        }
    }

    public func setStatus(_ status: Status) throws(StoreError) {
        access.lock()
        defer { access.unlock() }
        try database.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('status', ?)").run(.text(status.rawValue))
    }

    public func status() throws(StoreError) -> Status? {
        var value: String?
        try database.prepare("SELECT value FROM meta WHERE key = 'status'").query { row in value = row.text(0) }
        return value.flatMap(Status.init(rawValue:))
    }
}
