@_exported import CPipelineABI
@_exported import PipelineArrow

/// A step written in Swift. PluginKit turns it into a C descriptor.
///
/// Threads: `init` runs on the host's control thread; `process` and
/// `finish` on a host worker thread, one call at a time per instance
/// (blocking is fine there). Nothing may trap: throw a `StepError`.
public protocol PipelineStep {
    /// The parameters, decoded from the validated JSON object the host
    /// passes (defaults from the schema already filled in).
    associatedtype Parameters: Decodable

    /// What the host shows and checks before creating an instance.
    static var info: StepInfo { get }

    init(parameters: Parameters, context: StepContext) throws(StepError)

    /// One input batch (nil for a generator). Return nil for no output; a
    /// generator returns nil when it is exhausted. The input's memory is
    /// borrowed: PluginKit copies any input column the output keeps.
    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch?

    /// Called after the last input until it returns nil.
    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch?
}

extension PipelineStep {
    public mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? { nil }
}

/// The static description of a step (pipeline_step_desc).
public struct StepInfo: Sendable {
    public enum Kind: UInt32, Sendable {
        case generator = 1, step = 2, global = 3
    }

    public struct Column: Sendable {
        public var name: String
        public var type: String
        public var optional: Bool
        public var description: String
        /// The parameter whose value names this column (`name_param`).
        public var nameParam: String?

        public init(_ name: String, _ type: String, optional: Bool = false, description: String = "",
                    nameParam: String? = nil) {
            self.name = name
            self.type = type
            self.optional = optional
            self.description = description
            self.nameParam = nameParam
        }
    }

    public var kind: Kind
    public var id: String
    public var name: String
    public var version: String
    public var description: String
    public var inputs: [Column]
    public var outputs: [Column]
    /// The JSON Schema of the parameters, as JSON text.
    public var parameterSchema: String
    /// The parameters the schema was written from (`init(…parameters:…)`);
    /// nil when the step gave the schema as text.
    public var parameters: [any ParameterDeclaration]?
    /// Same input and parameters give the same output.
    public var deterministic: Bool
    /// `process` may run on several host workers at once for one instance
    /// (the step then guards its own state).
    public var reentrant: Bool
    /// The step calls a language model through the host.
    public var usesLLM: Bool
    /// The step drops rows on purpose (PIPELINE_STEP_FILTERS, ABI 1.3): no
    /// output for a non-empty input is then normal, not a warning. Set it
    /// with `filtering()`.
    public var filters = false

    /// This description with `filters` set.
    public func filtering() -> StepInfo {
        var info = self
        info.filters = true
        return info
    }

    /// The step keeps state across batches (PIPELINE_STEP_STATEFUL): a
    /// resumed run replays its input from the start to a fresh instance.
    public var stateful: Bool
    /// The step sends requests with a credential the host holds
    /// (PIPELINE_STEP_USES_CREDENTIAL, ABI 1.3; `StepContext.httpAuthenticated`):
    /// the pipeline file must name one for it with `credential:`.
    public var usesCredential: Bool
    /// With `usesCredential`: the pipeline file may leave `credential:` out
    /// (PIPELINE_STEP_CREDENTIAL_OPTIONAL); `httpAuthenticated` then sends
    /// the request without one. Set it with `credentialOptional()`.
    public var optionalCredential = false

    /// This description with `usesCredential` and `optionalCredential` set.
    public func credentialOptional() -> StepInfo {
        var info = self
        info.usesCredential = true
        info.optionalCredential = true
        return info
    }

    public init(kind: Kind, id: String, name: String, version: String, description: String,
                inputs: [Column] = [], outputs: [Column] = [], parameterSchema: String = #"{"type":"object"}"#,
                deterministic: Bool = true, reentrant: Bool = false, usesLLM: Bool = false, stateful: Bool = false,
                usesCredential: Bool = false) {
        self.kind = kind
        self.id = id
        self.name = name
        self.version = version
        self.description = description
        self.inputs = inputs
        self.outputs = outputs
        self.parameterSchema = parameterSchema
        self.deterministic = deterministic
        self.reentrant = reentrant
        self.usesLLM = usesLLM
        self.stateful = stateful
        self.usesCredential = usesCredential
    }

    /// A step whose parameters are declared with `Parameter`s: PluginKit
    /// writes the schema from them, and the step reads them from the
    /// `ParameterValues` its `init` gets.
    public init(kind: Kind, id: String, name: String, version: String, description: String,
                inputs: [Column] = [], outputs: [Column] = [], parameters: [any ParameterDeclaration],
                deterministic: Bool = true, reentrant: Bool = false, usesLLM: Bool = false, stateful: Bool = false,
                usesCredential: Bool = false) {
        self.init(kind: kind, id: id, name: name, version: version, description: description, inputs: inputs,
                  outputs: outputs, parameterSchema: parameterSchemaText(parameters), deterministic: deterministic,
                  reentrant: reentrant, usesLLM: usesLLM, stateful: stateful, usesCredential: usesCredential)
        self.parameters = parameters
    }
}

/// An error a step reports; becomes the status and message of the call.
public struct StepError: Error, CustomStringConvertible, Sendable {
    public let status: pipeline_status
    public let message: String

    public init(status: pipeline_status, _ message: String) {
        self.status = status
        self.message = message
    }

    public static func invalidArgument(_ message: String) -> StepError { StepError(status: pipeline_status(PIPELINE_INVALID_ARGUMENT), message) }
    public static func invalidData(_ message: String) -> StepError { StepError(status: pipeline_status(PIPELINE_INVALID_DATA), message) }
    public static func io(_ message: String) -> StepError { StepError(status: pipeline_status(PIPELINE_IO), message) }
    public static func `internal`(_ message: String) -> StepError { StepError(status: pipeline_status(PIPELINE_INTERNAL), message) }

    public var description: String { message }
}

/// The host as one call sees it: logging and cancellation.
public struct StepContext {
    let host: UnsafePointer<pipeline_host>
    let call: OpaquePointer?

    public enum Level: Int32 { case trace = 0, debug, info, warning, error }

    /// [thread-safe] A log line attributed to this step.
    public func log(_ level: Level, _ message: String) {
        var message = message
        message.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { host.pointee.log(call, level.rawValue, $0.baseAddress, $0.count) }
        }
    }

    /// [thread-safe] True once the host wants the run to stop.
    public var isCancelled: Bool { host.pointee.is_cancelled(call) }
}
