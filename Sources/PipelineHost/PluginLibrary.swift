import CPipelineABI
import PipelineJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The kind of a step, as its descriptor declares it.
public enum StepKind: String, Sendable, CaseIterable {
    case generator, step, global
}

/// A column a step reads or writes, from its descriptor.
public struct ColumnSpec: Sendable, Hashable {
    public var name: String
    public var type: String
    public var optional: Bool
    public var description: String?
    /// The parameter whose value names the column (`name_param`), if any.
    public var nameParam: String?

    /// `*`: the step passes every input column through.
    public var isWildcard: Bool { name == "*" }

    /// The column's name for a step with these (validated) parameters.
    public func resolvedName(_ parameters: [String: JSONValue]) -> String {
        if let nameParam, case .string(let value)? = parameters[nameParam], !value.isEmpty { return value }
        return name
    }
}

/// One step a loaded plugin library offers.
public struct StepDescriptor: @unchecked Sendable {
    public let id: String
    public let name: String
    public let kind: StepKind
    public let flags: UInt64
    public let version: String
    public let summary: String
    public let inputs: [ColumnSpec]
    public let outputs: [ColumnSpec]
    /// The JSON Schema of the parameters, parsed, and as the plugin wrote it.
    public let parameterSchema: JSONValue
    public let parameterSchemaText: String
    /// The library that provides the step.
    public let libraryPath: String
    public let libraryName: String
    /// The C descriptor (lives as long as the process).
    let raw: UnsafePointer<pipeline_step_desc>
    /// The descriptor as this host's layout (fields past the plugin's
    /// struct_size zeroed): where the host reads the functions from. `raw`
    /// is what `create` receives, the plugin's own pointer.
    let table: UnsafePointer<pipeline_step_desc>

    public var isReentrant: Bool { flags & UInt64(PIPELINE_STEP_REENTRANT) != 0 }
    public var isDeterministic: Bool { flags & UInt64(PIPELINE_STEP_DETERMINISTIC) != 0 }
    public var usesLLM: Bool { flags & UInt64(PIPELINE_STEP_USES_LLM) != 0 }
    /// Sends requests with a host credential (PIPELINE_STEP_USES_CREDENTIAL, ABI 1.3).
    public var usesCredential: Bool { flags & UInt64(PIPELINE_STEP_USES_CREDENTIAL) != 0 }
    /// The credential may be left out (PIPELINE_STEP_CREDENTIAL_OPTIONAL): public data needs none.
    public var credentialOptional: Bool { usesCredential && flags & UInt64(PIPELINE_STEP_CREDENTIAL_OPTIONAL) != 0 }
    /// On resume the step is replayed from its first input (see
    /// PIPELINE_STEP_STATEFUL); generators and global steps always are.
    /// A step that keeps state across batches (PIPELINE_STEP_STATEFUL).
    public var isStateful: Bool { flags & UInt64(PIPELINE_STEP_STATEFUL) != 0 }
    /// A step that drops rows on purpose (PIPELINE_STEP_FILTERS).
    public var filtersRows: Bool { flags & UInt64(PIPELINE_STEP_FILTERS) != 0 }

    public var replaysOnResume: Bool {
        kind != .step || flags & UInt64(PIPELINE_STEP_STATEFUL) != 0
    }
}

/// A plugin library loaded into the process. Never unloaded.
public struct PluginLibrary: Sendable {
    public let path: String
    public let name: String
    public let version: String
    public let summary: String
    public let abiMajor: Int
    public let abiMinor: Int
    public let steps: [StepDescriptor]

    /// dlopens `path`, calls its entry, checks versions and descriptors.
    /// Must run on the control thread (entry functions are [control]).
    public static func load(path: String) throws(PluginError) -> PluginLibrary {
        // RTLD_LOCAL keeps each plugin's symbols to itself; RTLD_NOW fails
        // here, with the missing symbol named, rather than mid-run.
        // A crash in the library's initialisers or entry names the library.
        let crashSite = CrashSite(library: path)
        guard let handle = crashSite.during(.dlopen, { dlopen(path, RTLD_NOW | RTLD_LOCAL) }) else {
            throw .notLoadable(path, reason: dlerror().map { String(cString: $0) } ?? "unknown dlopen error")
        }
        // The handle is kept forever on purpose: descriptors and code must
        // outlive every instance, and unloading Swift or C++ code is unsafe.
        guard let symbol = dlsym(handle, PipelineABI.entrySymbol) else { throw .missingEntry(path) }
        let entry = unsafeBitCast(symbol, to: pipeline_plugin_entry_fn.self)
        // The library stays loaded: its own threads are named from here on.
        crashSite.registerCode(at: symbol)

        // The library's own host table: its log_plugin lines and refusal
        // name it, whichever thread they come from.
        let host = HostTable.make(for: path)
        let address = UInt(bitPattern: host)
        HostState.loading.withLock { $0 = (address, pthread_self()) }
        let entered = crashSite.during(.entry) { entry(host) }
        HostState.loading.withLock { $0 = nil }
        let refusal = HostTable.takeRefusal(host)
        guard let entered else { throw .refused(path, reason: refusal) }

        // The first three fields are frozen across every major version.
        // Read field by field: `pointee` would copy a whole struct of our
        // size, which may be more than the plugin has.
        let prefix = UnsafeRawPointer(entered)
        let major = Int(prefix.load(fromByteOffset: 4, as: UInt16.self))
        let minor = Int(prefix.load(fromByteOffset: 6, as: UInt16.self))
        guard major == PipelineABI.major, minor <= PipelineABI.minor else {
            // Past the frozen prefix, only a plugin of our major has a layout we know.
            let name = major == PipelineABI.major ? Self.grown(entered, minimum: PIPELINE_PLUGIN_SIZE_1_0)?
                .pointee.name.map { String(cString: $0) } : nil
            throw .incompatibleABI(path, plugin: name ?? "the library", major: major, minor: minor)
        }
        guard let plugin = Self.grown(entered, minimum: PIPELINE_PLUGIN_SIZE_1_0) else {
            let size = UnsafeRawPointer(entered).load(as: UInt32.self)
            throw .malformed(path, "pipeline_plugin.struct_size is \(size), ABI 1.0 needs at least \(PIPELINE_PLUGIN_SIZE_1_0)")
        }
        guard let namePointer = plugin.pointee.name, let versionPointer = plugin.pointee.version else {
            throw .malformed(path, "the plugin has no name or version")
        }
        let libraryName = String(cString: namePointer)
        var steps: [StepDescriptor] = []
        let count = Int(plugin.pointee.step_count)
        if count > 0 {
            guard let table = plugin.pointee.steps else { throw .malformed(path, "step_count is \(count) but steps is NULL") }
            for index in 0..<count {
                guard let raw = table[index] else { throw .malformed(path, "step \(index) is NULL") }
                steps.append(try readStep(raw, index: index, path: path, libraryName: libraryName))
            }
        }
        return PluginLibrary(
            path: path, name: libraryName, version: String(cString: versionPointer),
            summary: plugin.pointee.description.map { String(cString: $0) } ?? "",
            abiMajor: major, abiMinor: minor, steps: steps)
    }

    private static func readStep(_ raw: UnsafePointer<pipeline_step_desc>, index: Int, path: String,
                                 libraryName: String) throws(PluginError) -> StepDescriptor {
        guard let table = Self.grown(raw, minimum: PIPELINE_STEP_DESC_SIZE_1_0) else {
            let size = UnsafeRawPointer(raw).load(as: UInt32.self)
            throw .malformed(path, "step \(index): struct_size is \(size), ABI 1.0 needs at least \(PIPELINE_STEP_DESC_SIZE_1_0)")
        }
        let d = table.pointee
        guard let idPointer = d.id, let namePointer = d.name else {
            throw .malformed(path, "step \(index) has no id or name")
        }
        let id = String(cString: idPointer)
        let label = "step \"\(id)\""
        guard isReverseDNS(id) else {
            throw .malformed(path, "\(label): id must be reverse-DNS like \"org.example.my_step\"")
        }
        let name = String(cString: namePointer)
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw .malformed(path, "\(label): name \"\(name)\" must be letters, digits, '_' or '-'")
        }
        let kind: StepKind
        switch d.kind {
        case UInt32(PIPELINE_STEP_KIND_GENERATOR.rawValue): kind = .generator
        case UInt32(PIPELINE_STEP_KIND_STEP.rawValue): kind = .step
        case UInt32(PIPELINE_STEP_KIND_GLOBAL.rawValue): kind = .global
        default: throw .malformed(path, "\(label): unknown kind \(d.kind)")
        }
        guard d.create != nil, d.process != nil, d.destroy != nil else {
            throw .malformed(path, "\(label): create, process and destroy are required")
        }
        func text(_ pointer: UnsafePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }
        func columns(_ pointer: UnsafePointer<CChar>?, _ what: String) throws(PluginError) -> [ColumnSpec] {
            let json = text(pointer)
            if json.isEmpty { return [] }
            let parsed: JSONValue
            do { parsed = try JSONValue(parsing: json) } catch {
                throw .malformed(path, "\(label): \(what) is not JSON (\(error.message))")
            }
            guard let array = parsed.arrayValue else { throw .malformed(path, "\(label): \(what) must be a JSON array") }
            var specs: [ColumnSpec] = []
            for item in array {
                guard let name = item["name"]?.stringValue, let type = item["type"]?.stringValue else {
                    throw .malformed(path, "\(label): every \(what) entry needs \"name\" and \"type\"")
                }
                specs.append(ColumnSpec(name: name, type: type, optional: item["optional"]?.boolValue ?? false,
                                        description: item["description"]?.stringValue,
                                        nameParam: item["name_param"]?.stringValue))
            }
            return specs
        }
        let schemaText = text(d.params_schema_json).isEmpty ? #"{"type":"object"}"# : text(d.params_schema_json)
        let schema: JSONValue
        do { schema = try JSONValue(parsing: schemaText) } catch {
            throw .malformed(path, "\(label): params_schema_json is not JSON (\(error.message))")
        }
        guard schema.objectValue != nil else { throw .malformed(path, "\(label): params_schema_json must be an object") }
        return StepDescriptor(
            id: id, name: name, kind: kind, flags: d.flags, version: text(d.version), summary: text(d.description),
            inputs: try columns(d.inputs_json, "inputs_json"), outputs: try columns(d.outputs_json, "outputs_json"),
            parameterSchema: schema, parameterSchemaText: schemaText, libraryPath: path, libraryName: libraryName,
            raw: raw, table: table)
    }

    /// The plugin's structure as this host's (larger or equal) layout, never
    /// read past its `struct_size`: nil below the frozen `minimum`; the
    /// plugin's own memory when it is at least as large as ours; otherwise
    /// a zeroed copy holding the plugin's bytes, so fields a later release
    /// appended read as absent. Copies live as long as the process, as the
    /// plugin's statics do.
    static func grown<T>(_ raw: UnsafePointer<T>, minimum: Int32) -> UnsafePointer<T>? {
        let size = Int(UnsafeRawPointer(raw).load(as: UInt32.self))
        guard size >= Int(minimum) else { return nil }
        guard size < MemoryLayout<T>.size else { return raw }
        let copy = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.stride, alignment: MemoryLayout<T>.alignment)
        copy.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.stride)
        copy.copyMemory(from: raw, byteCount: size)
        return UnsafePointer(copy.assumingMemoryBound(to: T.self))
    }

    static func isReverseDNS(_ id: String) -> Bool {
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 2 && parts.allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
        }
    }
}
