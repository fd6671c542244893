import CSQLite

/// Why the run's state store cannot be used or written.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// SQLite said no (I/O, corruption, a full disk, ...).
        case sqlite
        /// The file is not a pipeline state store.
        case foreign
        /// Written by a newer version of pipeline.
        case newer
        /// The pipeline changed since the run started.
        case changed
        /// The stored data could not be decoded.
        case damaged
    }

    public let kind: Kind
    public let message: String
    /// SQLite's result code, for `.sqlite`.
    public let code: Int32

    package init(_ kind: Kind, _ message: String, code: Int32 = 0) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    package static func sqlite(_ code: Int32, _ detail: String, path: String) -> StoreError {
        let primary = code & 0xFF
        let advice: String
        switch primary {
        case SQLITE_FULL: advice = "the disk is full; free space and run the same command again (committed work is kept)"
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            advice = "the state database is damaged; move it aside (or run with --fresh) to start over"
        case SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN: advice = "check the run directory's permissions"
        case SQLITE_IOERR: advice = "an I/O error; check the disk"
        default: advice = "SQLite error \(code)"
        }
        let kind: Kind = primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ? .damaged : .sqlite
        return StoreError(kind, "\(path): \(detail) (\(advice))", code: code)
    }

    /// True when the failure was a full disk (the transaction was rolled back).
    public var isDiskFull: Bool { code & 0xFF == SQLITE_FULL }

    public var description: String { message }
}
