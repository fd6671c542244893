import CPipelineABI
import Logging
import Synchronization
import PipelineJSON
import PipelineLLMClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The host side of the ABI: the `pipeline_host` table every plugin receives,
// and the per-call context behind the opaque `pipeline_call *`.

/// What the host knows about one step instance: who it is (for logs and
/// errors) and its parameters (for the "pipeline.params/1" service).
final class InstanceContext: @unchecked Sendable {
    let stepLabel: String
    let logger: Logger
    let parameters: [String: JSONValue]
    /// C copies of string parameters, alive until the instance is destroyed.
    private let strings = Mutex<[String: UnsafeMutablePointer<CChar>]>([:])
    let cancelled: Atomic<Bool>
    /// The named LLM of the step (`llm:`), for the "pipeline.llm/1" service.
    let llm: LLMClient?
    /// The run the instance belongs to, for the "pipeline.run/1" service.
    let run: RunContext
    /// The step's credential (`credential:`), for perform_authenticated.
    let credential: HostCredential?
    /// Without a credential, perform_authenticated sends the request
    /// plainly (PIPELINE_STEP_CREDENTIAL_OPTIONAL).
    let credentialOptional: Bool
    /// The names of the step's inputs (parent steps), in `input:` order,
    /// as C strings for "pipeline.run/1" input_name.
    let inputNames: [UnsafeMutablePointer<CChar>]

    init(stepLabel: String, logger: Logger, parameters: [String: JSONValue], llm: LLMClient? = nil,
         run: RunContext? = nil, credential: HostCredential? = nil, credentialOptional: Bool = false,
         inputs: [String] = []) {
        self.inputNames = inputs.compactMap { strdup($0) }
        self.stepLabel = stepLabel
        self.logger = logger
        self.parameters = parameters
        self.cancelled = Atomic(false)
        self.llm = llm
        self.run = run ?? .ephemeral()
        self.credential = credential
        self.credentialOptional = credentialOptional
    }

    deinit {
        for pointer in inputNames { free(pointer) }
        strings.withLock { for (_, pointer) in $0 { free(pointer) } }
    }

    /// A stable C string for `value`, cached under `key`.
    func cString(_ value: String, key: String) -> UnsafeMutablePointer<CChar> {
        strings.withLock { cache in
            if let existing = cache[key] { return existing }
            let copy = strdup(value)!
            cache[key] = copy
            return copy
        }
    }
}

/// The context of one call into a plugin: the instance, plus the error the
/// plugin reports through set_error.
final class CallContext: @unchecked Sendable {
    let instance: InstanceContext?
    /// Where the call's LLM requests are logged (nil: straight to the log file).
    let ioLines: IOLogLines?
    private let error = Mutex<(status: Int32, message: String)?>(nil)
    /// C strings given to the plugin that live as long as the call
    /// (embed_with_errors' messages).
    private let kept = Mutex<[Int]>([])  // addresses of strdup copies

    /// Which input the call's batch comes from (-1: none, or unknown).
    let inputIndex: Int32

    init(instance: InstanceContext?, ioLines: IOLogLines? = nil, inputIndex: Int32 = -1) {
        self.instance = instance
        self.ioLines = ioLines
        self.inputIndex = inputIndex
    }

    deinit {
        kept.withLock { addresses in for address in addresses { free(UnsafeMutableRawPointer(bitPattern: address)) } }
    }

    /// A copy of `text` that stays valid until the call ends.
    func keep(_ text: String) -> UnsafePointer<CChar>? {
        guard let copy = strdup(text) else { return nil }
        let address = Int(bitPattern: copy)
        kept.withLock { $0.append(address) }
        return UnsafePointer(copy)
    }

    func setError(status: Int32, message: String) { error.withLock { $0 = (status, message) } }
    var errorMessage: String? { error.withLock { $0?.message } }

    /// Runs `body` with an opaque pointer the plugin sees as `pipeline_call *`.
    func withCall<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) {
            try body(OpaquePointer(Unmanaged.passUnretained(self).toOpaque()))
        }
    }

    static func from(_ call: OpaquePointer?) -> CallContext? {
        guard let call else { return nil }
        return Unmanaged<CallContext>.fromOpaque(UnsafeRawPointer(call)).takeUnretainedValue()
    }
}

/// Process-wide host state the C callbacks reach (they cannot capture).
enum HostState {
    static let logger = Mutex(Logger(label: "pipeline.plugin"))
    /// Set while pipeline_plugin_entry runs, for plugins older than 1.3
    /// that say who they are only through log(NULL)/set_error(NULL): the
    /// host table of the library being loaded and the thread its entry runs
    /// on. A NULL call from any other thread is not attributed to it.
    static let loading = Mutex<(table: UInt, thread: pthread_t)?>(nil)
    /// True once the whole run is stopping.
    static let runCancelled = Atomic(false)

    /// The host table of the library loading on this very thread, if any.
    static var tableLoadingHere: UnsafePointer<pipeline_host>? {
        loading.withLock { state in
            guard let state, pthread_equal(state.thread, pthread_self()) != 0 else { return nil }
            return UnsafePointer(bitPattern: state.table)
        }
    }
}

private func hostLog(_ call: OpaquePointer?, _ level: Int32, _ message: UnsafePointer<CChar>?, _ length: Int) {
    let text = text(message, length)
    let logLevel = logLevel(level)
    if let instance = CallContext.from(call)?.instance {
        instance.logger.log(level: logLevel, "\(text)", metadata: ["step": "\(instance.stepLabel)"])
    } else {
        logForLibrary(HostTable.library(of: HostState.tableLoadingHere)
                          ?? "a plugin (log with a NULL call; log_plugin names the library)",
                      level: logLevel, text)
    }
}

private func logLevel(_ level: Int32) -> Logger.Level {
    switch level {
    case Int32(PIPELINE_LOG_TRACE): .trace
    case Int32(PIPELINE_LOG_DEBUG): .debug
    case Int32(PIPELINE_LOG_INFO): .info
    case Int32(PIPELINE_LOG_WARNING): .warning
    default: .error
    }
}

private func logForLibrary(_ library: String, level: Logger.Level, _ text: String) {
    HostState.logger.withLock { $0 }.log(level: level, "\(text)", metadata: ["plugin": "\(library)"])
}

private func text(_ message: UnsafePointer<CChar>?, _ length: Int) -> String {
    message.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: length), as: UTF8.self) } ?? ""
}

private func hostSetError(_ call: OpaquePointer?, _ status: Int32, _ message: UnsafePointer<CChar>?, _ length: Int) {
    let text = message == nil ? "(no message)" : text(message, length)
    if let context = CallContext.from(call) {
        context.setError(status: status, message: text)
    } else if let table = HostState.tableLoadingHere {
        HostTable.refuse(table, text)
    }
}

private func hostIsCancelled(_ call: OpaquePointer?) -> Bool {
    if HostState.runCancelled.load(ordering: .relaxed) { return true }
    return CallContext.from(call)?.instance?.cancelled.load(ordering: .relaxed) ?? false
}

private func hostGetExtension(_ host: UnsafePointer<pipeline_host>?, _ id: UnsafePointer<CChar>?) -> UnsafeRawPointer? {
    guard let id else { return nil }
    switch String(cString: id) {
    case PIPELINE_EXT_PARAMS: return UnsafeRawPointer(ParamsService.table)
    case PIPELINE_EXT_LLM: return UnsafeRawPointer(LLMService.table)
    case PIPELINE_EXT_HTTP: return UnsafeRawPointer(HTTPService.table)
    case PIPELINE_EXT_RUN: return UnsafeRawPointer(RunService.table)
    default: return nil
    }
}

/// The `pipeline_host` tables: one per plugin library, the same functions
/// at a different address, so that log_plugin and refuse know whose line
/// or refusal it is from any thread (CLAP's per-plugin host idea). Never
/// freed: a library is never unloaded and may keep its pointer.
enum HostTable {
    private struct Owner {
        var library: String
        var refusal: String?
    }

    /// Each table's library, by the table's address.
    private static let owners = Mutex<[UInt: Owner]>([:])

    /// A new table for the library at `path`.
    static func make(for path: String) -> UnsafePointer<pipeline_host> {
        let table = UnsafeMutablePointer<pipeline_host>.allocate(capacity: 1)
        table.initialize(to: template)
        owners.withLock { $0[UInt(bitPattern: table)] = Owner(library: path) }
        return UnsafePointer(table)
    }

    /// The library a table was made for.
    static func library(of host: UnsafePointer<pipeline_host>?) -> String? {
        guard let host else { return nil }
        return owners.withLock { $0[UInt(bitPattern: host)]?.library }
    }

    /// Records why the library of `host` refuses to load (the last reason wins).
    static func refuse(_ host: UnsafePointer<pipeline_host>, _ reason: String) {
        owners.withLock { $0[UInt(bitPattern: host)]?.refusal = reason }
    }

    /// The reason the library of `host` gave for refusing, taken once.
    static func takeRefusal(_ host: UnsafePointer<pipeline_host>) -> String? {
        owners.withLock { owners in
            defer { owners[UInt(bitPattern: host)]?.refusal = nil }
            return owners[UInt(bitPattern: host)]?.refusal
        }
    }

    nonisolated(unsafe) private static let template: pipeline_host = {
        // Field by field over a zeroed table: fields a later header appends
        // stay absent (NULL) until this host fills them.
        var host = pipeline_host()
        host.struct_size = UInt32(MemoryLayout<pipeline_host>.size)
        host.abi_major = UInt16(PIPELINE_ABI_MAJOR)
        host.abi_minor = UInt16(PIPELINE_ABI_MINOR)
        host.host_version = UnsafePointer(strdup(PipelineABI.hostVersion))
        host.log = { hostLog($0, $1, $2, $3) }
        host.set_error = { hostSetError($0, $1, $2, $3) }
        host.is_cancelled = { hostIsCancelled($0) }
        host.get_extension = { hostGetExtension($0, $1) }
        host.log_plugin = { host, level, message, length in
            logForLibrary(HostTable.library(of: host) ?? "a plugin (log_plugin with a host table it was not given)",
                          level: logLevel(level), text(message, length))
        }
        host.refuse = { host, message, length in
            guard let host else { return }
            let reason = text(message, length)
            HostTable.refuse(host, reason.isEmpty ? "(no message)" : reason)
        }
        return host
    }()
}
