import CPipelineABI
import Foundation
import PipelineLLMClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Service "pipeline.http/1": a plugin's HTTP request on the host's libcurl
// engine (one thread, shared keep-alive connections). No retries and no
// logging here: the plugin knows which of its requests may be repeated, and
// its headers may carry a credential. perform_authenticated (ABI 1.3) adds
// the step's credential (HostCredential) to requests its scope allows.

/// A malloc'd copy of `bytes` with a NUL after them (so headers read as a
/// C string; harmless after a body). Freed by `httpRelease`.
private func copyBytes(_ bytes: [UInt8]) -> UnsafeMutablePointer<UInt8>? {
    guard let memory = malloc(bytes.count + 1) else { return nil }
    let pointer = memory.assumingMemoryBound(to: UInt8.self)
    bytes.withUnsafeBufferPointer { source in
        if let base = source.baseAddress { pointer.update(from: base, count: source.count) }
    }
    pointer[bytes.count] = 0
    return pointer
}

private func httpPerform(_ call: OpaquePointer?, _ request: UnsafePointer<pipeline_http_request>?,
                         _ response: UnsafeMutablePointer<pipeline_http_response>?, authenticated: Bool = false) -> Int32 {
    guard let response else { return Int32(PIPELINE_INVALID_ARGUMENT) }
    response.pointee = pipeline_http_response()
    response.pointee.struct_size = UInt32(MemoryLayout<pipeline_http_response>.size)
    func failed(_ status: Int32, _ message: String) -> Int32 {
        response.pointee.status = status
        response.pointee.error = UnsafePointer(strdup(message))
        return status
    }
    guard let request, let method = request.pointee.method, let url = request.pointee.url else {
        return failed(Int32(PIPELINE_INVALID_ARGUMENT), "an HTTP request needs a method and a URL")
    }
    let r = request.pointee
    let urlText = String(cString: url)
    guard urlText.hasPrefix("http://") || urlText.hasPrefix("https://") else {
        return failed(Int32(PIPELINE_INVALID_ARGUMENT), "not an http(s) URL: \(urlText)")
    }
    if HostState.runCancelled.load(ordering: .relaxed) {
        return failed(Int32(PIPELINE_CANCELLED), "the run is stopping")
    }
    var headers: [String] = []
    if let list = r.headers {
        for index in 0..<r.header_count { if let line = list[index] { headers.append(String(cString: line)) } }
    }
    let instance = CallContext.from(call)?.instance
    if authenticated && !(instance?.credential == nil && instance?.credentialOptional == true) {
        guard let credential = instance?.credential else {
            return failed(Int32(PIPELINE_INVALID_ARGUMENT),
                          "the step has no credential: name an entry of credentials: with credential: in the pipeline file")
        }
        if headers.contains(where: { $0.drop(while: \.isWhitespace).lowercased().hasPrefix("authorization:") }) {
            return failed(Int32(PIPELINE_INVALID_ARGUMENT),
                          "the request has an Authorization header of its own; the host adds credential \"\(credential.name)\"'s")
        }
        switch credential.authorization(for: urlText) {
        case .success(let line): headers.append(line)
        case .failure(let refusal): return failed(Int32(PIPELINE_INVALID_ARGUMENT), refusal.message)
        }
    }
    // libcurl adds "Expect: 100-continue" to large bodies; not every server answers it.
    headers.append("Expect:")
    let body = r.body.map { Array(UnsafeRawBufferPointer(start: $0, count: r.body_len)) } ?? []
    let timeout = r.timeout_seconds > 0 ? r.timeout_seconds : 300
    let exchange = HTTPEngine.shared.perform(
        HTTPRequest(url: urlText, headers: headers, body: body, timeout: timeout, method: String(cString: method)))
    if let failure = exchange.failure {
        return failed(Int32(exchange.timedOut ? PIPELINE_TIMEOUT : PIPELINE_IO), failure)
    }
    response.pointee.status = Int32(PIPELINE_OK)
    response.pointee.http_status = Int32(clamping: exchange.status)
    response.pointee.headers = UnsafeRawPointer(copyBytes(exchange.headers))?
        .assumingMemoryBound(to: CChar.self)
    response.pointee.body = UnsafePointer(copyBytes(exchange.body))
    response.pointee.body_len = exchange.body.count
    return Int32(PIPELINE_OK)
}

private func httpRelease(_ response: UnsafeMutablePointer<pipeline_http_response>?) {
    guard let response else { return }
    free(UnsafeMutableRawPointer(mutating: response.pointee.headers))
    free(UnsafeMutableRawPointer(mutating: response.pointee.body))
    free(UnsafeMutableRawPointer(mutating: response.pointee.error))
    response.pointee.headers = nil
    response.pointee.body = nil
    response.pointee.error = nil
    response.pointee.body_len = 0
}

enum HTTPService {
    nonisolated(unsafe) static let table: UnsafePointer<pipeline_http_ext> = {
        // Field by field over a zeroed table: fields a later header appends
        // stay absent (NULL) until this host fills them.
        var http = pipeline_http_ext()
        http.struct_size = UInt32(MemoryLayout<pipeline_http_ext>.size)
        http.perform = { httpPerform($0, $1, $2) }
        http.release = { httpRelease($0) }
        http.perform_authenticated = { httpPerform($0, $1, $2, authenticated: true) }
        let table = UnsafeMutablePointer<pipeline_http_ext>.allocate(capacity: 1)
        table.initialize(to: http)
        return UnsafePointer(table)
    }()
}
