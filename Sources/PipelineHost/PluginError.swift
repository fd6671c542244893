import Foundation

/// Why a plugin library or one of its steps could not be used.
///
/// Every message names the file, and for version problems both versions,
/// so the user knows which library to rebuild.
public struct PluginError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable {
        case notLoadable, missingEntry, refused, incompatibleABI, malformedDescriptor, duplicateStep
        case notFound, callFailed
    }

    private let code: Code
    /// The library the problem is about, when there is one.
    public let path: String?
    public let message: String
    /// For a failed call: the status the plugin returned.
    public private(set) var status: PluginStatus?

    private init(_ code: Code, path: String?, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String {
        guard let path else { return message }
        return "plugin \"\(path)\": \(message)"
    }

    static func notLoadable(_ path: String, reason: String) -> PluginError {
        PluginError(.notLoadable, path: path, "not a loadable shared library: \(reason)")
    }

    static func missingEntry(_ path: String) -> PluginError {
        PluginError(.missingEntry, path: path,
                    "does not export \(PipelineABI.entrySymbol)(); is it a pipeline plugin, built with -fvisibility=hidden but without PIPELINE_PLUGIN_EXPORT on the entry?")
    }

    static func refused(_ path: String, reason: String?) -> PluginError {
        PluginError(.refused, path: path,
                    "\(PipelineABI.entrySymbol)() returned NULL: \(reason ?? "the plugin gave no reason")")
    }

    static func incompatibleABI(_ path: String, plugin: String, major: Int, minor: Int) -> PluginError {
        let what = major != PipelineABI.major
            ? "ABI major \(major) differs from the host's \(PipelineABI.major)"
            : "it needs minor \(minor), newer than the host's \(PipelineABI.minor)"
        return PluginError(.incompatibleABI, path: path,
                           "\(plugin) is built for plugin ABI \(major).\(minor); this host (pipeline \(PipelineABI.hostVersion)) supports ABI \(PipelineABI.supportedRange) (\(what))")
    }

    static func malformed(_ path: String, _ message: String) -> PluginError {
        PluginError(.malformedDescriptor, path: path, "malformed descriptor: \(message)")
    }

    static func duplicateStep(_ path: String, id: String, firstPath: String) -> PluginError {
        PluginError(.duplicateStep, path: path,
                    "step \"\(id)\" is already provided by \"\(firstPath)\" (earlier in the search path); this library is skipped")
    }

    static func notFound(_ query: String, suggestion: String?) -> PluginError {
        var message = "no plugin step named \"\(query)\""
        if let suggestion { message += "; did you mean \"\(suggestion)\"?" }
        return PluginError(.notFound, path: nil, message + " (see `pipeline plugins list`)")
    }

    /// A plugin call that returned an error status: `step load: <the
    /// plugin's message>`. The status code stays out of the text (the
    /// message says what happened); a leading `plugin_name: ` in the
    /// plugin's message is dropped, the step's name says where. Without a
    /// message, the call and the status in words.
    static func callFailed(step: String, function: String, status: PluginStatus, message: String?,
                           plugin: String? = nil) -> PluginError {
        var text = message?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if let plugin, text.hasPrefix(plugin + ": ") { text.removeFirst(plugin.count + 2) }
        if text.isEmpty {
            let call: String
            switch function {
            case "create": call = "could not start"
            case "process": call = "failed on a batch"
            case "finish": call = "failed after its last input"
            default: call = "failed in \(function)"
            }
            text = "\(plugin.map { "\($0) " } ?? "the plugin ")\(call) (\(status.meaning)) and gave no reason"
        }
        var error = PluginError(.callFailed, path: nil, "step \(step): \(text)")
        error.status = status
        return error
    }

    public var isIncompatibleABI: Bool { code == .incompatibleABI }
    public var isDuplicateStep: Bool { code == .duplicateStep }
    public var isMissingEntry: Bool { code == .missingEntry }
    public var isNotLoadable: Bool { code == .notLoadable }
    public var isRefused: Bool { code == .refused }
    public var isNotFound: Bool { code == .notFound }
}

/// A status code of the ABI (pipeline_status).
public struct PluginStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let ok = PluginStatus(rawValue: 0)
    public static let invalidArgument = PluginStatus(rawValue: 1)
    public static let invalidData = PluginStatus(rawValue: 2)
    public static let io = PluginStatus(rawValue: 3)
    public static let cancelled = PluginStatus(rawValue: 4)
    public static let timeout = PluginStatus(rawValue: 5)
    public static let retryable = PluginStatus(rawValue: 6)
    public static let `internal` = PluginStatus(rawValue: 7)
    public static let notImplemented = PluginStatus(rawValue: 8)
    public static let outOfMemory = PluginStatus(rawValue: 9)

    /// The status in words, for messages.
    public var meaning: String {
        switch rawValue {
        case 0: "no error"
        case 1: "invalid parameters or a misused call"
        case 2: "invalid data"
        case 3: "a file or network error"
        case 4: "cancelled"
        case 5: "timed out"
        case 6: "a temporary failure"
        case 7: "an internal error in the plugin"
        case 8: "not implemented"
        case 9: "out of memory"
        default: "unknown status \(rawValue)"
        }
    }

    public var description: String {
        switch rawValue {
        case 0: "OK"
        case 1: "INVALID_ARGUMENT"
        case 2: "INVALID_DATA"
        case 3: "IO"
        case 4: "CANCELLED"
        case 5: "TIMEOUT"
        case 6: "RETRYABLE"
        case 7: "INTERNAL"
        case 8: "NOT_IMPLEMENTED"
        case 9: "OUT_OF_MEMORY"
        default: "status \(rawValue)"
        }
    }
}
