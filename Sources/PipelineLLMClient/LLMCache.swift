import Foundation
import PipelineSQLite

/// Answers of earlier LLM requests, shared by every run and resume that
/// uses the same cache file (SQLite, WAL). Keyed by a 128-bit hash of the
/// canonical request (server, endpoint, model, messages, parameters,
/// generation index). [thread-safe]
public final class LLMCache: @unchecked Sendable {
    private let database: SQLiteDatabase
    private let select: Statement
    private let insert: Statement
    private let lock = NSLock()

    package init(path: String) throws(StoreError) {
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        database = try SQLiteDatabase(path: path, create: true)
        try database.execute("""
            PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)
                WITHOUT ROWID;
            """)
        select = try database.prepare("SELECT value FROM responses WHERE key = ?")
        insert = try database.prepare("INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)")
    }

    func get(_ key: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        var value: String?
        try? select.query(.text(key)) { row in value = row.text(0) }
        return value
    }

    func put(_ key: String, _ value: String) {
        lock.lock()
        defer { lock.unlock() }
        try? insert.run(.text(key), .text(value), .double(Date().timeIntervalSince1970))
    }

    /// The default location: $XDG_CACHE_HOME/pipeline/llm-cache.db, else ~/.cache/pipeline/llm-cache.db.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) as NSString).appendingPathComponent(".cache")
        return ((base as NSString).appendingPathComponent("pipeline") as NSString).appendingPathComponent("llm-cache.db")
    }

    /// A 128-bit key: two independent 64-bit FNV-1a variants of the text.
    static func key(_ text: String) -> String { key(utf8: text.utf8) }

    /// The same key, from the text's UTF-8 bytes.
    static func key(utf8 text: some Sequence<UInt8>) -> String {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325
        var b: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in text {
            a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            b = (b &+ UInt64(byte) &+ 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9
            b ^= b >> 29
        }
        func hex(_ value: UInt64) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return hex(a) + hex(b)
    }
}
