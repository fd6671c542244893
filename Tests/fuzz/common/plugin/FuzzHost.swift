// A stand-in for the host, for the harnesses that drive a Swift plugin's
// steps directly: logging goes nowhere, and "pipeline.http/1" answers each
// request with the next scripted response (see FuzzHost.script).
@testable import PluginKit
#if canImport(Glibc)
import Glibc
#endif

/// One scripted HTTP exchange: a response, or no response at all.
struct ScriptedResponse {
    var status: pipeline_status
    var httpStatus: Int32
    var headers: [UInt8]   // "Name: value\r\n" lines, no NUL
    var body: [UInt8]
}

enum FuzzHost {
    nonisolated(unsafe) static var script: [ScriptedResponse] = []
    nonisolated(unsafe) static var nextResponse = 0
    /// `is_cancelled` answers true from this call on (0: never).
    nonisolated(unsafe) static var cancelAtPoll = 0
    nonisolated(unsafe) static var polls = 0
    nonisolated(unsafe) static var requests = 0

    static func reset(_ responses: [ScriptedResponse] = [], cancelAtPoll: Int = 0) {
        script = responses
        nextResponse = 0
        polls = 0
        requests = 0
        self.cancelAtPoll = cancelAtPoll
    }

    /// perform and perform_authenticated alike: the next scripted answer
    /// (the credential is the host's business, not the plugin's).
    static func perform(_ response: UnsafeMutablePointer<pipeline_http_response>?) -> pipeline_status {
        guard let response else { return pipeline_status(PIPELINE_INVALID_ARGUMENT) }
        FuzzHost.requests += 1
        response.pointee = pipeline_http_response()
        guard FuzzHost.nextResponse < FuzzHost.script.count else {
            response.pointee.status = pipeline_status(PIPELINE_IO)
            response.pointee.error = UnsafePointer(strdup("connection refused (script exhausted)"))
            return response.pointee.status
        }
        let answer = FuzzHost.script[FuzzHost.nextResponse]
        FuzzHost.nextResponse += 1
        response.pointee.status = answer.status
        if answer.status != pipeline_status(PIPELINE_OK) {
            response.pointee.error = UnsafePointer(strdup("scripted failure"))
            return answer.status
        }
        response.pointee.http_status = answer.httpStatus
        let headers = UnsafeMutablePointer<CChar>.allocate(capacity: answer.headers.count + 1)
        for (i, byte) in answer.headers.enumerated() { headers[i] = CChar(bitPattern: byte) }
        headers[answer.headers.count] = 0
        response.pointee.headers = UnsafePointer(headers)
        let body = UnsafeMutablePointer<UInt8>.allocate(capacity: max(answer.body.count, 1))
        for (i, byte) in answer.body.enumerated() { body[i] = byte }
        response.pointee.body = UnsafePointer(body)
        response.pointee.body_len = answer.body.count
        return answer.status
    }

    nonisolated(unsafe) static var http = pipeline_http_ext(
        struct_size: UInt32(MemoryLayout<pipeline_http_ext>.size),
        perform: { _, _, response in FuzzHost.perform(response) },
        release: { response in
            guard let response else { return }
            if let headers = response.pointee.headers { UnsafeMutablePointer(mutating: headers).deallocate() }
            if let body = response.pointee.body { UnsafeMutablePointer(mutating: body).deallocate() }
            if let error = response.pointee.error { free(UnsafeMutableRawPointer(mutating: error)) }
            response.pointee = pipeline_http_response()
        },
        perform_authenticated: { _, _, response in FuzzHost.perform(response) })

    nonisolated(unsafe) static var table = pipeline_host(
        struct_size: UInt32(MemoryLayout<pipeline_host>.size),
        abi_major: UInt16(PIPELINE_ABI_MAJOR), abi_minor: UInt16(PIPELINE_ABI_MINOR),
        host_version: UnsafePointer(strdup("fuzz")),
        log: { _, _, _, _ in },
        set_error: { _, _, _, _ in },
        is_cancelled: { _ in
            FuzzHost.polls += 1
            return FuzzHost.cancelAtPoll > 0 && FuzzHost.polls >= FuzzHost.cancelAtPoll
        },
        get_extension: { _, id in
            guard let id, String(cString: id) == PIPELINE_EXT_HTTP else { return nil }
            return withUnsafePointer(to: &FuzzHost.http) { UnsafeRawPointer($0) }
        },
        log_plugin: { _, _, _, _ in },
        refuse: { _, _, _ in })

    /// A context for calls into a step; valid for the life of the process.
    nonisolated(unsafe) static let hostPointer: UnsafeMutablePointer<pipeline_host> = {
        let pointer = UnsafeMutablePointer<pipeline_host>.allocate(capacity: 1)
        pointer.initialize(to: table)
        return pointer
    }()

    static var context: StepContext { StepContext(host: hostPointer, call: nil) }
}

/// A scratch file per process for loaders that read a path.
enum ScratchFile {
    static let path: String = {
        let dir = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        return "\(dir)/pipeline-fuzz-\(getpid())"
    }()

    static func write(_ data: UnsafePointer<UInt8>, _ size: Int, suffix: String = "") -> String {
        let file = path + suffix
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { fatalError("cannot write \(file)") }
        var done = 0
        while done < size {
            let n = Glibc.write(fd, data + done, size - done)
            guard n > 0 else { fatalError("cannot write \(file)") }
            done += n
        }
        close(fd)
        return file
    }
}

/// Calls a generator step until it is exhausted or fails (at most `limit`
/// calls), reading every value of every batch. Returns the rows produced.
@discardableResult
func drain<S: PipelineStep>(_ step: inout S, limit: Int = 10_000) -> Int {
    var rows = 0
    do throws(StepError) {
        for _ in 0..<limit {
            guard let batch = try step.process(nil, context: FuzzHost.context) else { break }
            expect(batch.length > 0, "a generator emitted an empty batch")
            _ = touchEveryValue(batch)
            // What the host does with every batch: encode it for the store.
            let encoded = BatchCodec.encode(batch)
            guard let decoded = try? BatchCodec.decode(encoded) else { fatalError("a batch does not decode") }
            expect(decoded.length == batch.length && decoded.fields == batch.fields)
            rows += batch.length
        }
    } catch {
        expect(!error.message.isEmpty, "an error without a message")
    }
    return rows
}
