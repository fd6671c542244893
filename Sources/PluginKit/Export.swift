import Foundation
import PipelineJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds the C tables for a plugin's Swift steps. Call it from the one
/// `@_cdecl("pipeline_plugin_entry")` function of the library:
///
///     @_cdecl("pipeline_plugin_entry")
///     public func pipelinePluginEntry(_ host: UnsafePointer<pipeline_host>?) -> UnsafePointer<pipeline_plugin>? {
///         PluginExport.entry(host: host, name: "org.example.mine", version: "1.0.0",
///                            description: "…", steps: [MyStep.self])
///     }
public enum PluginExport {
    /// `abiMinor`: the lowest host ABI minor the plugin needs (1 to use the
    /// http and run services); the host refuses the library if it is older.
    public static func entry(host: UnsafePointer<pipeline_host>?, name: String, version: String, description: String,
                             abiMinor: UInt16 = 0,
                             steps: [any PipelineStep.Type]) -> UnsafePointer<pipeline_plugin>? {
        guard let host else { return nil }
        return Registry.shared.withLock { registry in
            if let plugin = registry.plugin { return plugin }
            guard host.pointee.abi_major == PIPELINE_ABI_MAJOR else {
                var message = "\(name) is built for plugin ABI \(PIPELINE_ABI_MAJOR).x; the host speaks \(host.pointee.abi_major).\(host.pointee.abi_minor)"
                message.withUTF8 { bytes in
                    bytes.withMemoryRebound(to: CChar.self) {
                        host.pointee.set_error(nil, pipeline_status(PIPELINE_INVALID_ARGUMENT), $0.baseAddress, $0.count)
                    }
                }
                return nil
            }
            for type in steps {
                let names = (type.info.parameters ?? []).map(\.name)
                if let twice = names.first(where: { candidate in names.filter { $0 == candidate }.count > 1 }) {
                    var message = "\(name): step \(type.info.name) declares parameter \"\(twice)\" twice"
                    message.withUTF8 { bytes in
                        bytes.withMemoryRebound(to: CChar.self) {
                            host.pointee.set_error(nil, pipeline_status(PIPELINE_INVALID_ARGUMENT), $0.baseAddress, $0.count)
                        }
                    }
                    return nil
                }
            }
            registry.host = host
            let table = UnsafeMutablePointer<UnsafePointer<pipeline_step_desc>?>.allocate(capacity: max(steps.count, 1))
            for (index, type) in steps.enumerated() {
                let descriptor = makeDescriptor(type.info)
                registry.types[UnsafeRawPointer(descriptor)] = type
                (table + index).initialize(to: descriptor)
            }
            let plugin = UnsafeMutablePointer<pipeline_plugin>.allocate(capacity: 1)
            plugin.initialize(to: pipeline_plugin(
                struct_size: UInt32(MemoryLayout<pipeline_plugin>.size),
                abi_major: UInt16(PIPELINE_ABI_MAJOR), abi_minor: abiMinor,
                name: permanent(name), version: permanent(version), description: permanent(description),
                step_count: UInt32(steps.count), steps: UnsafePointer(table)))
            registry.plugin = UnsafePointer(plugin)
            return registry.plugin
        }
    }

    private static func makeDescriptor(_ info: StepInfo) -> UnsafePointer<pipeline_step_desc> {
        func columns(_ list: [StepInfo.Column]) -> String {
            JSONValue.array(list.map { column in
                var object: [String: JSONValue] = ["name": .string(column.name), "type": .string(column.type),
                                                   "optional": .bool(column.optional),
                                                   "description": .string(column.description)]
                if let nameParam = column.nameParam { object["name_param"] = .string(nameParam) }
                return .object(object)
            }).serialized
        }
        let descriptor = UnsafeMutablePointer<pipeline_step_desc>.allocate(capacity: 1)
        descriptor.initialize(to: pipeline_step_desc(
            struct_size: UInt32(MemoryLayout<pipeline_step_desc>.size),
            kind: info.kind.rawValue,
            flags: (info.deterministic ? UInt64(PIPELINE_STEP_DETERMINISTIC) : 0)
                | (info.reentrant ? UInt64(PIPELINE_STEP_REENTRANT) : 0)
                | (info.usesLLM ? UInt64(PIPELINE_STEP_USES_LLM) : 0)
                | (info.stateful ? UInt64(PIPELINE_STEP_STATEFUL) : 0)
                | (info.usesCredential ? UInt64(PIPELINE_STEP_USES_CREDENTIAL) : 0),
            id: permanent(info.id), name: permanent(info.name), version: permanent(info.version),
            description: permanent(info.description),
            inputs_json: permanent(columns(info.inputs)), outputs_json: permanent(columns(info.outputs)),
            params_schema_json: permanent(info.parameterSchema),
            create: { call, step, params, state in trampolineCreate(call, step, params, state) },
            process: { call, state, inSchema, inArray, outSchema, outArray in
                trampolineProcess(call, state, inSchema, inArray, outSchema, outArray)
            },
            finish: { call, state, outSchema, outArray in trampolineFinish(call, state, outSchema, outArray) },
            interrupt: nil,
            destroy: { state in
                if let state { Unmanaged<StepBox>.fromOpaque(state).release() }
            }))
        if info.filters { descriptor.pointee.flags |= UInt64(PIPELINE_STEP_FILTERS) }
        if info.usesCredential && info.optionalCredential {
            descriptor.pointee.flags |= UInt64(PIPELINE_STEP_CREDENTIAL_OPTIONAL)
        }
        return UnsafePointer(descriptor)
    }

    /// A C string that lives as long as the process (descriptors do).
    private static func permanent(_ string: String) -> UnsafePointer<CChar> {
        UnsafePointer(strdup(string)!)
    }
}

/// The plugin's tables, built once per process.
private final class Registry: @unchecked Sendable {
    var host: UnsafePointer<pipeline_host>?
    var plugin: UnsafePointer<pipeline_plugin>?
    var types: [UnsafeRawPointer: any PipelineStep.Type] = [:]

    static let shared = Locked(Registry())
}

/// A minimal lock; PluginKit avoids depending on newer OS releases.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// One step instance behind the C `void *state`.
private final class StepBox {
    var step: any PipelineStep
    init(_ step: any PipelineStep) { self.step = step }
}

private func report(_ host: UnsafePointer<pipeline_host>, _ call: OpaquePointer?, _ error: StepError) -> pipeline_status {
    var message = error.message
    message.withUTF8 { bytes in
        bytes.withMemoryRebound(to: CChar.self) { host.pointee.set_error(call, error.status, $0.baseAddress, $0.count) }
    }
    return error.status
}

private func makeInstance<S: PipelineStep>(_ type: S.Type, json: Data, context: StepContext) throws(StepError) -> any PipelineStep {
    if S.Parameters.self == ParameterValues.self {
        guard let parameters = try ParameterValues(json: json, info: S.info) as? S.Parameters else {
            throw .internal("\(S.info.name): parameters cannot be passed to the step")
        }
        return try S(parameters: parameters, context: context)
    }
    let parameters: S.Parameters
    do {
        parameters = try JSONValueDecoder().decode(S.Parameters.self, from: String(decoding: json, as: UTF8.self))
    } catch let DecodingError.keyNotFound(key, _) {
        throw .invalidArgument("\(S.info.name): missing parameter \"\(key.stringValue)\"")
    } catch let DecodingError.typeMismatch(type, context) {
        throw .invalidArgument("\(S.info.name): parameter \(codingPath(context)) is not \(type)")
    } catch let DecodingError.valueNotFound(type, context) {
        throw .invalidArgument("\(S.info.name): parameter \(codingPath(context)) is null, expected \(type)")
    } catch {
        throw .invalidArgument("\(S.info.name): parameters cannot be read: \(error)")
    }
    return try S(parameters: parameters, context: context)
}

private func codingPath(_ context: DecodingError.Context) -> String {
    let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    return path.hasPrefix(".") ? String(path.dropFirst()) : path
}

private func trampolineCreate(_ call: OpaquePointer?, _ step: UnsafePointer<pipeline_step_desc>?,
                              _ params: UnsafePointer<CChar>?, _ state: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> pipeline_status {
    let (host, type) = Registry.shared.withLock { registry in
        (registry.host, step.flatMap { registry.types[UnsafeRawPointer($0)] })
    }
    guard let host else { return pipeline_status(PIPELINE_INTERNAL) }
    guard let type, let state else {
        return report(host, call, .internal("create called with an unknown step descriptor"))
    }
    let context = StepContext(host: host, call: call)
    do throws(StepError) {
        let json = Data((params.map { String(cString: $0) } ?? "{}").utf8)
        let instance = try makeInstance(type, json: json, context: context)
        state.pointee = Unmanaged.passRetained(StepBox(instance)).toOpaque()
        return pipeline_status(PIPELINE_OK)
    } catch {
        return report(host, call, error)
    }
}

private func run(_ call: OpaquePointer?, _ state: UnsafeMutableRawPointer?,
                 _ outSchema: UnsafeMutablePointer<ArrowSchema>?, _ outArray: UnsafeMutablePointer<ArrowArray>?,
                 _ body: (StepBox, StepContext) throws(StepError) -> RecordBatch?) -> pipeline_status {
    guard let host = Registry.shared.withLock({ $0.host }) else { return pipeline_status(PIPELINE_INTERNAL) }
    guard let state, let outSchema, let outArray else {
        return report(host, call, .internal("called without state or output pointers"))
    }
    let box = Unmanaged<StepBox>.fromOpaque(state).takeUnretainedValue()
    let context = StepContext(host: host, call: call)
    let output: RecordBatch?
    do throws(StepError) {
        output = try body(box, context)
    } catch {
        return report(host, call, error)
    }
    guard let output else { return pipeline_status(PIPELINE_OK) }
    // Input columns the output keeps are borrowed: copy them now.
    do throws(ArrowError) {
        try output.owningCopies().export(schema: outSchema, array: outArray)
    } catch {
        return report(host, call, .internal("output batch: \(error.message)"))
    }
    return pipeline_status(PIPELINE_OK)
}

private func trampolineProcess(_ call: OpaquePointer?, _ state: UnsafeMutableRawPointer?,
                               _ inSchema: UnsafePointer<ArrowSchema>?, _ inArray: UnsafePointer<ArrowArray>?,
                               _ outSchema: UnsafeMutablePointer<ArrowSchema>?, _ outArray: UnsafeMutablePointer<ArrowArray>?) -> pipeline_status {
    run(call, state, outSchema, outArray) { box, context throws(StepError) in
        var input: RecordBatch?
        if let inSchema, let inArray {
            do throws(ArrowError) { input = try RecordBatch.borrowing(schema: inSchema, array: inArray) } catch {
                throw .invalidData("input batch: \(error.message)")
            }
        }
        // A reentrant step runs on several workers at once: each call works on
        // its own copy of the step value (its state must be immutable).
        if type(of: box.step).info.reentrant {
            var step = box.step
            return try step.process(input, context: context)
        }
        return try box.step.process(input, context: context)
    }
}

private func trampolineFinish(_ call: OpaquePointer?, _ state: UnsafeMutableRawPointer?,
                              _ outSchema: UnsafeMutablePointer<ArrowSchema>?, _ outArray: UnsafeMutablePointer<ArrowArray>?) -> pipeline_status {
    run(call, state, outSchema, outArray) { box, context throws(StepError) in
        try box.step.finish(context: context)
    }
}
