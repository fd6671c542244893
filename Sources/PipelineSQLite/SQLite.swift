import CSQLite

/// A thin, typed wrapper over one SQLite connection: the only code that
/// speaks to libsqlite3. Not thread-safe: the executor uses it from its
/// control thread only.
package final class SQLiteDatabase {
    package private(set) var handle: OpaquePointer?
    package let path: String

    /// Opens (creating if `create`) the database at `path`.
    package init(path: String, create: Bool) throws(StoreError) {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &db, flags, nil)
        handle = db
        guard status == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            handle = nil
            throw StoreError.sqlite(status, message, path: path)
        }
        sqlite3_busy_timeout(db, 5000)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { close() }

    package func close() {
        guard let handle else { return }
        sqlite3_close_v2(handle)
        self.handle = nil
    }

    package func error(_ status: Int32) -> StoreError {
        StoreError.sqlite(status, handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed", path: path)
    }

    /// Runs one or more statements without results.
    package func execute(_ sql: String) throws(StoreError) {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard status == SQLITE_OK else {
            throw StoreError.sqlite(status, message.map { String(cString: $0) } ?? "error", path: path)
        }
    }

    package func prepare(_ sql: String) throws(StoreError) -> Statement {
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw error(status) }
        return Statement(statement, database: self)
    }

    /// Runs `body` in one IMMEDIATE transaction: all of it is committed, or
    /// none of it (rolled back on any error, including a full disk).
    package func transaction<R>(_ body: () throws(StoreError) -> R) throws(StoreError) -> R {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// A prepared statement, reset after each use.
package final class Statement {
    private let statement: OpaquePointer
    private unowned let database: SQLiteDatabase

    package init(_ statement: OpaquePointer, database: SQLiteDatabase) {
        self.statement = statement
        self.database = database
    }

    deinit { sqlite3_finalize(statement) }

    package enum Value {
        case int(Int64)
        case double(Double)
        case text(String)
        case blob([UInt8])
        case null
    }

    private func bind(_ values: [Value]) throws(StoreError) {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .int(let v): status = sqlite3_bind_int64(statement, index, v)
            case .double(let v): status = sqlite3_bind_double(statement, index, v)
            case .text(let v): status = sqlite3_bind_text(statement, index, v, -1, sqliteTransient)
            case .blob(let v):
                status = v.withUnsafeBytes { sqlite3_bind_blob64(statement, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), UInt64($0.count), sqliteTransient) }
            case .null: status = sqlite3_bind_null(statement, index)
            }
            guard status == SQLITE_OK else { throw database.error(status) }
        }
    }

    /// Runs the statement to completion, ignoring rows.
    package func run(_ values: Value...) throws(StoreError) {
        try run(values)
    }

    /// Runs the statement with a large blob bound without a copy: the last
    /// parameter is `blob`, valid for the duration of the call.
    package func run(_ values: [Value], blob: [UInt8]) throws(StoreError) {
        let result = blob.withUnsafeBytes { bytes in
            Result { () throws(StoreError) in
                try bind(values)
                let status = sqlite3_bind_blob64(statement, Int32(values.count + 1),
                                                 bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                                 UInt64(bytes.count), nil)
                guard status == SQLITE_OK else { throw database.error(status) }
                try step()
            }
        }
        try result.get()
    }

    private func run(_ values: [Value]) throws(StoreError) {
        try bind(values)
        try step()
    }

    private func step() throws(StoreError) {
        defer { sqlite3_reset(statement) }
        var status = sqlite3_step(statement)
        while status == SQLITE_ROW { status = sqlite3_step(statement) }
        guard status == SQLITE_DONE else { throw database.error(status) }
    }

    /// Runs the statement and calls `row` for each result row.
    package func query(_ values: Value..., row: (Row) throws(StoreError) -> Void) throws(StoreError) {
        try bind(values)
        defer { sqlite3_reset(statement) }
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else { throw database.error(status) }
            try row(Row(statement: statement))
        }
    }

    package struct Row {
        package let statement: OpaquePointer
        package func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
        package func double(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
        package func text(_ column: Int32) -> String? {
            sqlite3_column_text(statement, column).map { String(cString: $0) }
        }
        /// The blob's bytes, valid until the next step of the statement.
        package func blob(_ column: Int32) -> UnsafeRawBufferPointer {
            let count = Int(sqlite3_column_bytes(statement, column))
            return UnsafeRawBufferPointer(start: sqlite3_column_blob(statement, column), count: count)
        }
    }
}

/// SQLITE_TRANSIENT: SQLite copies the bound value.
private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
