/// An error found while importing, exporting or building Arrow data.
///
/// A struct over a private code, so cases can be added without breaking
/// callers that switch on them.
public struct ArrowError: Error, CustomStringConvertible, Sendable, Equatable {
    private enum Code: Sendable, Equatable {
        case unsupportedFormat, malformed, lengthMismatch, typeMismatch
    }

    private let code: Code
    /// What is wrong, naming the column (as a path like `answers.item`) when known.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The format string names a type this project does not handle.
    public static func unsupportedFormat(_ format: String, at path: String) -> ArrowError {
        ArrowError(.unsupportedFormat, "\(path.isEmpty ? "batch" : "column \"\(path)\""): unsupported Arrow format \"\(format)\"")
    }

    /// The structure breaks the C Data Interface rules (buffers, offsets, children).
    public static func malformed(_ message: String, at path: String) -> ArrowError {
        ArrowError(.malformed, "\(path.isEmpty ? "batch" : "column \"\(path)\""): \(message)")
    }

    /// Columns of one batch disagree on their length.
    public static func lengthMismatch(_ message: String) -> ArrowError {
        ArrowError(.lengthMismatch, message)
    }

    /// A value of one type was given where another was expected.
    public static func typeMismatch(_ message: String) -> ArrowError {
        ArrowError(.typeMismatch, message)
    }

    public var isUnsupportedFormat: Bool { code == .unsupportedFormat }
    public var isMalformed: Bool { code == .malformed }
    public var description: String { message }
}
