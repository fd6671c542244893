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

    static func callFailed(step: String, function: String, status: PluginStatus, message: String?) -> PluginError {
        PluginError(.callFailed, path: nil,
                    "step \(step): \(function) failed with \(status): \(message ?? "no message given")")
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
