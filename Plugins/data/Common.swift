#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PluginKit
// ByteArena, JSONText, JSONLineWriter and the reserved column names, shared
// with the Hub plugin: visible in every file of this module.
@_exported import PluginJSONLines

// Helpers shared by the data steps: hashing, POSIX error text, and
// parameter checks.

/// SplitMix64 (Steele, Lea and Flood), as one pure function: the generator's
/// output for the state `x`, i.e. the state is advanced by the golden gamma
/// and then mixed. Used for row ids derived by expand_columns and for the
/// keep/drop decision of sample; both must never change, since they make
/// results reproducible across runs and batch splits.
@inline(__always)
func splitmix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// True if a double holds `value` exactly (every integer up to ±2^53, and
/// larger ones that happen to be a double's): a loader widens an integer to
/// float64 only then.
@inline(__always)
func isExactDouble(_ value: Int64) -> Bool {
    Int64(exactly: Double(value)) == value
}

/// The text of an errno value.
func systemError(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// The message `make` builds from the text of the current errno, read
/// before anything else can change it.
func describingErrno(_ make: (String) -> String) -> String {
    let reason = systemError(errno)
    return make(reason)
}

/// close(2), named so that types with their own `close` can call it.
func closeDescriptor(_ fd: Int32) { _ = close(fd) }

/// Checks shared by the loaders' parameters.
enum Check {
    static func batchSize(_ value: Int, step: String) throws(StepError) -> Int {
        guard value >= 1 else { throw .invalidArgument("\(step): batch_size must be at least 1 (got \(value))") }
        return value
    }

    static func onError(_ value: String, step: String) throws(StepError) -> Bool {
        switch value {
        case "fail": return false
        case "skip": return true
        default: throw .invalidArgument("\(step): on_error must be \"fail\" or \"skip\" (got \"\(value)\")")
        }
    }

    static func path(_ value: String, step: String) throws(StepError) -> String {
        guard !value.isEmpty else { throw .invalidArgument("\(step): path is empty") }
        guard !value.utf8.contains(0) else { throw .invalidArgument("\(step): path contains a NUL byte") }
        return value
    }
}

extension StepError {
    static func cancelled(_ step: String) -> StepError {
        StepError(status: pipeline_status(PIPELINE_CANCELLED), "\(step): cancelled")
    }
}

/// Text a loader puts in one batch before it closes the batch early: a
/// utf8 column holds at most 2 GiB (32-bit offsets), and a single line or
/// record may add up to 1 GiB more.
let maxBatchTextBytes = 512 << 20

/// `"a", "b", "c"` for messages.
func quotedList(_ names: [String]) -> String {
    names.map { "\"\($0)\"" }.joined(separator: ", ")
}
