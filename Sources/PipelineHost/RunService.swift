import CPipelineABI
import Foundation
import Synchronization
import PipelineSQLite
import PipelineStore

/// What the steps of one run share through "pipeline.run/1": the run's id,
/// the pipeline file with its secrets redacted, and the steps' durable
/// state (in the run store, or in memory for a run without one).
package final class RunContext: @unchecked Sendable {
    let runID: String
    let pipelineName: String
    let pipelineText: String
    private let store: RunStore?
    /// Makes everything the run queued for the store durable (the executor's
    /// StoreWriter.flush), before a step's state is written.
    private let flush: (@Sendable () throws(StoreError) -> Void)?
    private let memory = Mutex<[String: [UInt8]]>([:])
    /// The rows each step said it expects to emit in all (expect_rows).
    private let expected = Mutex<[String: Int]>([:])
    /// C copies of the strings above, for the lifetime of the context.
    let cRunID: UnsafeMutablePointer<CChar>
    let cPipelineName: UnsafeMutablePointer<CChar>
    let cPipelineText: UnsafeMutablePointer<CChar>

    package init(runID: String, pipelineName: String, pipelineText: String, store: RunStore? = nil,
         flush: (@Sendable () throws(StoreError) -> Void)? = nil) {
        self.runID = runID
        self.pipelineName = pipelineName
        self.pipelineText = PipelineRedaction.redact(pipelineText)
        self.store = store
        self.flush = flush
        cRunID = strdup(runID) ?? Self.emptyString()
        cPipelineName = strdup(pipelineName) ?? Self.emptyString()
        cPipelineText = strdup(self.pipelineText) ?? Self.emptyString()
    }

    deinit {
        free(cRunID)
        free(cPipelineName)
        free(cPipelineText)
    }

    private static func emptyString() -> UnsafeMutablePointer<CChar> {
        let empty = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        empty.initialize(to: 0)
        return empty
    }

    /// A context for an instance outside a run (`plugins try`, tests).
    static func ephemeral() -> RunContext {
        RunContext(runID: RunStore.newRunID(), pipelineName: "", pipelineText: "")
    }

    /// [thread-safe] How many rows each step expects to emit in all, by
    /// step label (its name in the pipeline file): the latest figure it
    /// gave through "pipeline.run/1" expect_rows (ABI 1.5), for progress and
    /// an ETA. A forecast: exact or an estimate as the step documents it
    /// (the built-in loaders: exact for load_inline and after a type pass,
    /// else estimated from the file's size and revised, exact at the end of
    /// the data). A step that gave none, or withdrew it, is absent.
    package func expectedRows() -> [String: Int] {
        expected.withLock { $0 }
    }

    /// Records a step's expect_rows; a negative count withdraws it.
    func expectRows(_ rows: Int64, step: String) {
        expected.withLock { $0[step] = rows < 0 ? nil : Int(clamping: rows) }
    }

    func value(step: String, key: String) throws(StoreError) -> [UInt8]? {
        if let store { return try store.stepState(step: step, key: key) }
        return memory.withLock { $0[step + "\u{0}" + key] }
    }

    func setValue(_ value: [UInt8], step: String, key: String) throws(StoreError) {
        if let store {
            try flush?()
            try store.setStepState(step: step, key: key, value: value)
        } else {
            memory.withLock { $0[step + "\u{0}" + key] = value }
        }
    }
}

/// Removes secrets from a pipeline file's text before it is published: the
/// value of every key that names a credential (api_key, token, password,
/// secret, authorization, credentials, ...) becomes "<redacted>", unless it
/// is only a reference to the environment (`${NAME}`), which tells nothing.
/// Works line by line on the text, so comments and layout survive; a flow
/// mapping (`{token: x}`) is handled too.
enum PipelineRedaction {
    static let placeholder = "\"<redacted>\""

    static func redact(_ text: String) -> String {
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lines.append(redactLine(String(line)))
        }
        return lines.joined(separator: "\n")
    }

    /// Is `key` the name of a credential? Lower-cased, separators ignored.
    static func isSecretKey(_ key: String) -> Bool {
        let name = key.lowercased().filter { $0.isLetter || $0.isNumber }
        // env / file / api_key_env name where a secret is, not the secret.
        if name.hasSuffix("env") || name.hasSuffix("file") || name.hasSuffix("path") { return false }
        for word in ["apikey", "token", "password", "passwd", "secret", "authorization", "credential", "bearer",
                     "privatekey", "accesskey"] where name.contains(word) {
            return true
        }
        return false
    }

    private static func redactLine(_ line: String) -> String {
        let characters = Array(line)
        var output = ""
        var index = 0
        var quote: Character?
        while index < characters.count {
            let character = characters[index]
            if let open = quote {
                output.append(character)
                if character == open { quote = nil }
                index += 1
                continue
            }
            if character == "#" && (index == 0 || characters[index - 1] == " ") {
                output.append(contentsOf: characters[index...])
                break
            }
            if character == "\"" || character == "'" { quote = character }
            output.append(character)
            index += 1
            // After "key:" followed by a space or the end: a key/value pair.
            guard character == ":", index == characters.count || characters[index] == " " else { continue }
            let key = keyBefore(characters, colon: index - 1)
            guard isSecretKey(key) else { continue }
            // The value: up to the end of line, a comment, or (in a flow map) , or }.
            var end = index
            while end < characters.count && characters[end] == " " { end += 1 }
            let valueStart = end
            var inQuote: Character?
            while end < characters.count {
                let c = characters[end]
                if let open = inQuote {
                    if c == open { inQuote = nil }
                } else if c == "\"" || c == "'" {
                    inQuote = c
                } else if c == "," || c == "}" || (c == "#" && characters[end - 1] == " ") {
                    break
                }
                end += 1
            }
            let value = String(characters[valueStart..<end]).trimmingCharacters(in: .whitespaces)
            if value.isEmpty || isEnvironmentReference(value) { continue }
            output.append(" " + placeholder)
            // Keep the separator's spacing before a comment or a flow delimiter.
            if end < characters.count && characters[end] == "#" { output.append(" ") }
            index = end
        }
        return output
    }

    private static func keyBefore(_ characters: [Character], colon: Int) -> String {
        var start = colon
        while start > 0 {
            let c = characters[start - 1]
            if c == " " || c == "{" || c == "," || c == "-" || c == "\t" { break }
            start -= 1
        }
        return String(characters[start..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
    }

    private static func isEnvironmentReference(_ value: String) -> Bool {
        var text = value
        if let first = text.first, first == "\"" || first == "'", text.count >= 2, text.last == first {
            text = String(text.dropFirst().dropLast())
        }
        return text.hasPrefix("${") && text.hasSuffix("}") && !text.dropFirst(2).contains("$")
    }
}

// MARK: Service "pipeline.run/1"

private func runContext(_ call: OpaquePointer?) -> (RunContext, InstanceContext)? {
    guard let instance = CallContext.from(call)?.instance else { return nil }
    return (instance.run, instance)
}

private func fail(_ call: OpaquePointer?, _ status: Int32, _ message: String) -> Int32 {
    CallContext.from(call)?.setError(status: status, message: message)
    return status
}

private func stateGet(_ call: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                      _ length: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let (run, instance) = runContext(call), let key, let value, let length else {
        return Int32(PIPELINE_INVALID_ARGUMENT)
    }
    do {
        guard let stored = try run.value(step: instance.stepLabel, key: String(cString: key)) else {
            return Int32(PIPELINE_NOT_IMPLEMENTED)
        }
        guard let copy = malloc(max(stored.count, 1)) else { return Int32(PIPELINE_OUT_OF_MEMORY) }
        stored.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(copy), byteCount: $0.count) }
        value.pointee = copy
        length.pointee = stored.count
        return Int32(PIPELINE_OK)
    } catch {
        return fail(call, Int32(PIPELINE_IO), "cannot read the step's state: \(error.message)")
    }
}

private func statePut(_ call: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafeRawPointer?,
                      _ length: Int) -> Int32 {
    guard let (run, instance) = runContext(call), let key, value != nil || length == 0 else {
        return Int32(PIPELINE_INVALID_ARGUMENT)
    }
    let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
    do {
        try run.setValue(bytes, step: instance.stepLabel, key: String(cString: key))
        return Int32(PIPELINE_OK)
    } catch {
        return fail(call, Int32(PIPELINE_IO), "cannot store the step's state: \(error.message)")
    }
}

enum RunService {
    nonisolated(unsafe) static let table: UnsafePointer<pipeline_run_ext> = {
        let table = UnsafeMutablePointer<pipeline_run_ext>.allocate(capacity: 1)
        // Field by field over zeroes: what a later header appends stays NULL.
        var service = pipeline_run_ext()
        service.struct_size = UInt32(MemoryLayout<pipeline_run_ext>.size)
        service.state_get = { stateGet($0, $1, $2, $3) }
        service.state_put = { statePut($0, $1, $2, $3) }
        service.release_value = { free($0) }
        service.run_id = { call in UnsafePointer(runContext(call)?.0.cRunID) }
        service.pipeline_name = { call in UnsafePointer(runContext(call)?.0.cPipelineName) }
        service.pipeline_text = { call in UnsafePointer(runContext(call)?.0.cPipelineText) }
        service.input_index = { call in CallContext.from(call)?.inputIndex ?? -1 }
        service.input_count = { call in Int32(clamping: runContext(call)?.1.inputNames.count ?? 0) }
        service.input_name = { call, index in
            guard let names = runContext(call)?.1.inputNames, index >= 0, Int(index) < names.count else { return nil }
            return UnsafePointer(names[Int(index)])
        }
        service.expect_rows = { call, rows in
            guard let (run, instance) = runContext(call) else { return }
            run.expectRows(rows, step: instance.stepLabel)
        }
        table.initialize(to: service)
        return UnsafePointer(table)
    }()
}
