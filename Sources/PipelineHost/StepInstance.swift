import CPipelineABI
import Logging
import PipelineArrow
import PipelineJSON
import PipelineLLMClient

/// One instance of a plugin step: create → process* → finish* → destroy.
///
/// Calls run on the caller's thread; the executor calls `process` and
/// `finish` from its worker threads only, one at a time per instance
/// unless the step is reentrant. Destroyed when the last reference goes.
public final class StepInstance: @unchecked Sendable {
    public let descriptor: StepDescriptor
    private let context: InstanceContext
    private let state: UnsafeMutableRawPointer?
    /// The step's name in the pipeline (its descriptor's name by default).
    package let label: String
    /// Names the step to the crash handler while one of its calls runs.
    private let crashSite: CrashSite

    /// Creates an instance. `parameters` must already be validated; the
    /// schema's defaults are filled in for keys that are absent.
    public convenience init(_ descriptor: StepDescriptor, parameters: [String: JSONValue] = [:], label: String? = nil,
                logger: Logger = Logger(label: "pipeline.step")) throws(PluginError) {
        try self.init(descriptor, parameters: parameters, label: label, logger: logger, llm: nil)
    }

    package init(_ descriptor: StepDescriptor, parameters: [String: JSONValue], label: String?, logger: Logger,
         llm: LLMClient?, run: RunContext? = nil, credential: HostCredential? = nil,
         inputs: [String] = []) throws(PluginError) {
        self.descriptor = descriptor
        self.label = label ?? descriptor.name
        let filled = Self.applyingDefaults(parameters, schema: descriptor.parameterSchema)
        context = InstanceContext(stepLabel: self.label, logger: logger, parameters: filled, llm: llm, run: run,
                                  credential: credential, credentialOptional: descriptor.credentialOptional,
                                  inputs: inputs)
        let crashSite = CrashSite(step: self.label, descriptor: descriptor)
        self.crashSite = crashSite
        let call = CallContext(instance: context)
        var state: UnsafeMutableRawPointer?
        let json = JSONValue.object(filled).serialized
        let status = call.withCall { pointer in
            crashSite.during(.create) {
                json.withCString { descriptor.table.pointee.create(pointer, descriptor.raw, $0, &state) }
            }
        }
        guard status == PIPELINE_OK else {
            throw .callFailed(step: self.label, function: "create", status: PluginStatus(rawValue: status),
                              message: call.errorMessage, plugin: descriptor.name)
        }
        self.state = state
    }

    deinit {
        crashSite.during(.destroy) { descriptor.table.pointee.destroy(state) }
    }

    /// Sends one batch (nil for generators) and returns the step's output,
    /// or nil when the step emitted nothing (a generator: exhausted). The
    /// teacher I/O log lines of the call's LLM requests go to `ioLines`.
    public func process(_ batch: RecordBatch?) throws(PluginError) -> RecordBatch? {
        try process(batch, ioLines: nil)
    }

    package func process(_ batch: RecordBatch?, ioLines: IOLogLines?, inputIndex: Int = -1) throws(PluginError) -> RecordBatch? {
        let call = CallContext(instance: context, ioLines: ioLines, inputIndex: Int32(clamping: inputIndex))
        var inSchema = ArrowSchema()
        var inArray = ArrowArray()
        if let batch { batch.export(schema: &inSchema, array: &inArray) }
        defer {
            if let release = inSchema.release { release(&inSchema) }
            if let release = inArray.release { release(&inArray) }
        }
        var outSchema = ArrowSchema()
        var outArray = ArrowArray()
        let status = call.withCall { pointer in
            crashSite.during(.process) {
                if batch == nil {
                    return descriptor.table.pointee.process(pointer, state, nil, nil, &outSchema, &outArray)
                }
                return descriptor.table.pointee.process(pointer, state, &inSchema, &inArray, &outSchema, &outArray)
            }
        }
        return try takeOutput(status: status, call: call, function: "process", schema: &outSchema, array: &outArray)
    }

    /// Asks for buffered output after the last input; nil once there is none.
    public func finish() throws(PluginError) -> RecordBatch? {
        try finish(ioLines: nil)
    }

    package func finish(ioLines: IOLogLines?) throws(PluginError) -> RecordBatch? {
        guard let finish = descriptor.table.pointee.finish else { return nil }
        let call = CallContext(instance: context, ioLines: ioLines)
        var outSchema = ArrowSchema()
        var outArray = ArrowArray()
        let status = call.withCall { pointer in crashSite.during(.finish) { finish(pointer, state, &outSchema, &outArray) } }
        return try takeOutput(status: status, call: call, function: "finish", schema: &outSchema, array: &outArray)
    }

    /// [thread-safe] A warning in the step's log, from the host about the step.
    package func warn(_ message: String) {
        context.logger.warning("\(message)", metadata: ["step": "\(label)"])
    }

    /// [thread-safe] Asks a running call to stop.
    public func interrupt() {
        context.cancelled.store(true, ordering: .relaxed)
        crashSite.during(.interrupt) { descriptor.table.pointee.interrupt?(state) }
    }

    private func takeOutput(status: Int32, call: CallContext, function: String,
                            schema: inout ArrowSchema, array: inout ArrowArray) throws(PluginError) -> RecordBatch? {
        guard status == PIPELINE_OK else {
            // Whatever the plugin produced before failing is still ours to release.
            if let release = schema.release { release(&schema) }
            if let release = array.release { release(&array) }
            throw .callFailed(step: label, function: function, status: PluginStatus(rawValue: status),
                              message: call.errorMessage, plugin: descriptor.name)
        }
        switch (schema.release != nil, array.release != nil) {
        case (false, false):
            return nil
        case (true, true):
            do {
                return try RecordBatch.importing(schema: &schema, array: &array)
            } catch {
                throw .callFailed(step: label, function: function, status: .invalidData,
                                  message: "the output batch breaks the Arrow C Data Interface: \(error.message)")
            }
        default:
            if let release = schema.release { release(&schema) }
            if let release = array.release { release(&array) }
            throw .callFailed(step: label, function: function, status: .internal,
                              message: "the plugin filled only one of output_schema and output")
        }
    }

    /// Adds each schema property's `default` for keys the user left out.
    static func applyingDefaults(_ parameters: [String: JSONValue], schema: JSONValue) -> [String: JSONValue] {
        var filled = parameters
        for (key, property) in schema["properties"]?.objectValue ?? [:] where filled[key] == nil {
            if let value = property["default"] { filled[key] = value }
        }
        return filled
    }
}
