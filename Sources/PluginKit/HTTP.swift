#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One HTTP request through the host ("pipeline.http/1", ABI 1.1).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    /// "Name: value" lines.
    public var headers: [String]
    public var body: [UInt8]
    /// Seconds for the whole exchange.
    public var timeout: Double

    public init(method: String, url: String, headers: [String] = [], body: [UInt8] = [], timeout: Double = 300) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// A response, whatever its status code.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header lines of the response, names as the server sent them.
    public var headerLines: [(name: String, value: String)]
    public var body: [UInt8]

    /// The first header of that name (case-insensitive), trimmed.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headerLines.first { $0.name.lowercased() == wanted }?.value
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Why no response arrived.
public enum HTTPFailure: Error, Sendable {
    case connection(String)
    case timeout(String)
    case cancelled

    public var message: String {
        switch self {
        case .connection(let text): text
        case .timeout(let text): "timed out (\(text))"
        case .cancelled: "cancelled: the run is stopping"
        }
    }
}

extension StepContext {
    private var httpService: UnsafePointer<pipeline_http_ext>? {
        host.pointee.get_extension(host, PIPELINE_EXT_HTTP)?.assumingMemoryBound(to: pipeline_http_ext.self)
    }

    /// True if the host offers "pipeline.http/1".
    public var hasHTTP: Bool { httpService != nil }

    /// True if the host's "pipeline.http/1" has perform_authenticated (ABI 1.3).
    public var hasAuthenticatedHTTP: Bool { authenticatedPerform != nil }

    private var authenticatedPerform: Perform? {
        guard let service = httpService,
              let offset = MemoryLayout<pipeline_http_ext>.offset(of: \.perform_authenticated),
              Int(service.pointee.struct_size) >= offset + MemoryLayout<Perform?>.size else { return nil }
        return service.pointee.perform_authenticated
    }

    private typealias Perform = @convention(c) (OpaquePointer?, UnsafePointer<pipeline_http_request>?,
                                                UnsafeMutablePointer<pipeline_http_response>?) -> pipeline_status

    /// [worker] Sends one request and waits. The host does not retry.
    public func http(_ request: HTTPRequest) throws(StepError) -> Result<HTTPResponse, HTTPFailure> {
        guard let service = httpService else { throw .internal("this host offers no HTTP service (pipeline.http/1)") }
        return try exchange(request, service: service, perform: service.pointee.perform)
    }

    /// [worker] Sends one request with the step's credential and waits: the
    /// host adds the Authorization header for the entry of `credentials:`
    /// the pipeline file names with `credential:` (the step declares
    /// `usesCredential`), so the secret never enters the plugin. A request
    /// the credential may not go with (another host than its scope, plain
    /// http, an Authorization header of its own) throws the host's reason.
    public func httpAuthenticated(_ request: HTTPRequest) throws(StepError) -> Result<HTTPResponse, HTTPFailure> {
        guard let service = httpService, let perform = authenticatedPerform else {
            throw .internal("this host cannot send requests with a credential (pipeline.http/1 perform_authenticated, ABI 1.3)")
        }
        return try exchange(request, service: service, perform: perform)
    }

    private func exchange(_ request: HTTPRequest, service: UnsafePointer<pipeline_http_ext>,
                          perform: Perform?) throws(StepError) -> Result<HTTPResponse, HTTPFailure> {
        guard let perform else { throw .internal("the host's HTTP service has no perform function") }
        let headerCopies = request.headers.map { strdup($0) }
        defer { for pointer in headerCopies { free(pointer) } }
        let headerPointers = headerCopies.map { $0.map { UnsafePointer($0) } }
        var response = pipeline_http_response()
        let status: pipeline_status = request.method.withCString { method in
            request.url.withCString { url in
                headerPointers.withUnsafeBufferPointer { headers in
                    request.body.withUnsafeBytes { body in
                        var c = pipeline_http_request(
                            struct_size: UInt32(MemoryLayout<pipeline_http_request>.size), method: method, url: url,
                            headers: headers.baseAddress, header_count: headers.count, body: body.baseAddress,
                            body_len: body.count, timeout_seconds: request.timeout)
                        return perform(call, &c, &response)
                    }
                }
            }
        }
        defer { service.pointee.release(&response) }
        guard status == pipeline_status(PIPELINE_OK) else {
            let message = response.error.map { String(cString: $0) } ?? "no response"
            switch status {
            case pipeline_status(PIPELINE_TIMEOUT): return .failure(.timeout(message))
            case pipeline_status(PIPELINE_CANCELLED): return .failure(.cancelled)
            case pipeline_status(PIPELINE_IO): return .failure(.connection(message))
            default: throw StepError(status: status, message)
            }
        }
        var lines: [(String, String)] = []
        if let headers = response.headers {
            for line in String(cString: headers).split(whereSeparator: \.isNewline) { // "\r\n" is one Character
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = String(line[..<colon]).trimmingWhitespace()
                let value = String(line[line.index(after: colon)...]).trimmingWhitespace()
                lines.append((name, value))
            }
        }
        let body = response.body.map { Array(UnsafeBufferPointer(start: $0, count: response.body_len)) } ?? []
        return .success(HTTPResponse(status: Int(response.http_status), headerLines: lines, body: body))
    }
}

private extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
