import Foundation
import PipelineSQLite

// The "pipeline.run/1" state of the steps: small values a step keeps under
// its name across resumes (what a Hub pusher has pushed), and the run's id.
// A table of its own, created on demand, so stores written before it
// existed open unchanged.
extension RunStore {
    func createStepStateTable() throws(StoreError) {
        try database.execute("""
            CREATE TABLE IF NOT EXISTS step_state (
                step TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                PRIMARY KEY (step, key)) WITHOUT ROWID
            """)
    }

    /// The value `step` stored under `key`, or nil.
    package func stepState(step: String, key: String) throws(StoreError) -> [UInt8]? {
        access.lock()
        defer { access.unlock() }
        var value: [UInt8]?
        try database.prepare("SELECT value FROM step_state WHERE step = ? AND key = ?")
            .query(.text(step), .text(key)) { row in value = Array(row.blob(0)) }
        return value
    }

    /// Stores `value` in its own transaction: durable when this returns.
    package func setStepState(step: String, key: String, value: [UInt8]) throws(StoreError) {
        access.lock()
        defer { access.unlock() }
        try database.prepare("INSERT OR REPLACE INTO step_state (step, key, value) VALUES (?, ?, ?)")
            .run([.text(step), .text(key)], blob: value)
    }

    /// The run's id, made when first asked for and kept in `meta`.
    package func runID() throws(StoreError) -> String {
        access.lock()
        defer { access.unlock() }
        var stored: String?
        try database.prepare("SELECT value FROM meta WHERE key = 'run_id'").query { row in stored = row.text(0) }
        if let stored { return stored }
        let id = RunStore.newRunID()
        try database.prepare("INSERT INTO meta (key, value) VALUES ('run_id', ?)").run(.text(id))
        return id
    }
}

extension RunStore {
    /// 32 random lowercase hex digits.
    package static func newRunID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
