// HTTP/1.1 over POSIX sockets: a loopback listener, one thread per
// connection, keep-alive, Content-Length and chunked request bodies,
// `Expect: 100-continue`. Only what an OpenAI client needs, but every
// malformed input ends in an error response or a closed socket, never a trap.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct HTTPRequest: Sendable {
    var method: String
    /// The path without the query string.
    var path: String
    /// The query string's parameters, percent-decoded, in order.
    var query: [(String, String)] = []
    /// Header names lowercased, in order.
    var headers: [(String, String)]
    var body: [UInt8]
    var keepAlive: Bool

    func header(_ name: String) -> String? {
        headers.last(where: { $0.0 == name })?.1
    }

    func queryValue(_ name: String) -> String? {
        query.last(where: { $0.0 == name })?.1
    }

    /// `a=1&b=x%20y` as pairs; `+` is a space (form encoding).
    static func parseQuery(_ text: Substring) -> [(String, String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let value = parts.count > 1 ? percentDecoded(parts[1]) : ""
            return (percentDecoded(parts[0]), value)
        }
    }

    private static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while let c = utf8.popFirst() {
            if c == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%"), utf8.count >= 2,
                      let high = hex(utf8[utf8.startIndex]), let low = hex(utf8[utf8.startIndex + 1]) {
                bytes.append(high << 4 | low)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

struct HTTPResponse: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8]
    var contentType = "application/json"
    var close = false

    static func json(_ status: Int, _ value: JSON, headers: [(String, String)] = []) -> HTTPResponse {
        var body = JSONWriter.encode(value)
        body.append(0x0a)
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// An OpenAI-style error response.
    static func error(_ status: Int, _ message: String, type: String = "invalid_request_error",
                      code: String? = nil, param: String? = nil, headers: [(String, String)] = []) -> HTTPResponse {
        json(status, errorBody(message, type: type, code: code, param: param), headers: headers)
    }

    /// An OpenAI-style error body: {"error": {message, type, param, code}}.
    static func errorBody(_ message: String, type: String = "invalid_request_error",
                          code: String? = nil, param: String? = nil) -> JSON {
        .object([("error", .object([
            ("message", .string(message)),
            ("type", .string(type)),
            ("param", param.map { JSON.string($0) } ?? .null),
            ("code", code.map { JSON.string($0) } ?? .null),
        ]))])
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 409: return "Conflict"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Payload Too Large"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return status < 500 ? "Client Error" : "Server Error"
        }
    }

    func serialized() -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\n"
        head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n"
        var bytes = Array(head.utf8)
        bytes.append(contentsOf: body)
        return bytes
    }
}

/// What the application does with a request.
enum HTTPAction: Sendable {
    case respond(HTTPResponse)
    /// Close the connection without answering.
    case drop
    /// Never answer; hold the connection until the client closes it.
    case hang
}

protocol HTTPHandler: Sendable {
    /// `inflight` is true when `finished()` must be called once the action is done.
    func handle(_ request: HTTPRequest) -> (action: HTTPAction, inflight: Bool)
    func finished()
    /// Every response written; `path` is nil when the request could not be read.
    func responded(status: Int, path: String?)
    func connectionOpened()
    func connectionClosed()
}

enum HTTPLimits {
    static let maxHeaderBytes = 64 * 1024
    /// Above the largest batch input file (--batch-max-bytes, 200 MiB by default).
    static let maxBodyBytes = 256 * 1024 * 1024
    /// Waiting for the next request on an idle keep-alive connection.
    static let idleTimeoutMs: Int32 = 300_000
    /// Waiting for the rest of a request that has started.
    static let requestTimeoutMs: Int32 = 60_000
    /// How long a hung request holds its connection at most.
    static let hangLimitMs = 3_600_000
    static let threadStackBytes = 2 * 1024 * 1024
}

struct ListenError: Error {
    let message: String
}

enum Listener {
    /// A listening socket on 127.0.0.1:port (0: the kernel picks), and the port.
    static func open(port: Int) throws(ListenError) -> (fd: Int32, port: Int) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw ListenError(message: "socket: \(errnoText())") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian  // 127.0.0.1
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let text = errnoText()
            close(fd)
            throw ListenError(message: "bind 127.0.0.1:\(port): \(text)")
        }
        guard listen(fd, 4096) == 0 else {
            let text = errnoText()
            close(fd)
            throw ListenError(message: "listen: \(text)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: actual.sin_port)))
    }

    /// Accepts forever, one detached thread per connection.
    static func serve(fd: Int32, handler: any HTTPHandler) -> Never {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                switch errno {
                case EINTR, ECONNABORTED: break
                default: usleep(10_000)  // EMFILE and friends: let connections close
                }
                continue
            }
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            handler.connectionOpened()
            let started = spawnDetachedThread {
                Connection(fd: client, handler: handler).run()
            }
            if !started {
                close(client)
                handler.connectionClosed()
            }
        }
    }
}

func errnoText() -> String {
    String(cString: strerror(errno))
}

private final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Starts a detached POSIX thread; false when the system refuses one.
func spawnDetachedThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, HTTPLimits.threadStackBytes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    #if canImport(Glibc)
    var thread = pthread_t()
    #else
    var thread: pthread_t?
    #endif
    let result = pthread_create(&thread, &attributes, { raw in
        guard let raw else { return nil }
        let box = Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue()
        box.body()
        return nil
    }, context)
    if result != 0 {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        return false
    }
    return true
}

/// One client connection, served on its own thread.
private final class Connection {
    let fd: Int32
    let handler: any HTTPHandler
    private var buffer: [UInt8] = []
    /// Bytes before `start` belong to requests already handled.
    private var start = 0
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

    init(fd: Int32, handler: any HTTPHandler) {
        self.fd = fd
        self.handler = handler
    }

    func run() {
        defer {
            close(fd)
            handler.connectionClosed()
        }
        while true {
            switch readRequest() {
            case .closed:
                return
            case .failure(let response):
                var response = response
                response.close = true
                handler.responded(status: response.status, path: nil)
                _ = send(response.serialized())
                return
            case .request(let request):
                let (action, inflight) = handler.handle(request)
                switch action {
                case .respond(var response):
                    if !request.keepAlive { response.close = true }
                    // Counted before sending, so a client that reads /stats
                    // right after this response sees it counted.
                    if inflight { handler.finished() }
                    handler.responded(status: response.status, path: request.path)
                    let sent = send(response.serialized())
                    if !sent || response.close { return }
                case .drop:
                    if inflight { handler.finished() }
                    return
                case .hang:
                    waitForPeerToClose()
                    if inflight { handler.finished() }
                    return
                }
            }
        }
    }

    // MARK: reading

    private enum ReadResult {
        case request(HTTPRequest)
        case closed
        case failure(HTTPResponse)
    }

    /// Reads more bytes into the buffer: false on end of stream, error or timeout.
    private func fill(timeoutMs: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&descriptor, 1, timeoutMs)
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { return false }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return false }
            buffer.append(contentsOf: chunk[0..<count])
            return true
        }
    }

    private func compact() {
        if start >= buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        } else if start > 64 * 1024 {
            buffer.removeFirst(start)
            start = 0
        }
    }

    private func find(_ pattern: [UInt8], from: Int, to end: Int? = nil) -> Int? {
        let limit = (end ?? buffer.count) - pattern.count
        guard from <= limit else { return nil }
        return buffer.withUnsafeBufferPointer { bytes -> Int? in
            var i = from
            while i <= limit {
                if bytes[i] == pattern[0] {
                    var matched = true
                    for k in 1..<pattern.count where bytes[i + k] != pattern[k] {
                        matched = false
                        break
                    }
                    if matched { return i }
                }
                i += 1
            }
            return nil
        }
    }

    private static let crlf: [UInt8] = [13, 10]
    private static let crlfcrlf: [UInt8] = [13, 10, 13, 10]

    private func readRequest() -> ReadResult {
        compact()
        // Skip stray CRLFs between requests (allowed by RFC 9112).
        while start + 1 < buffer.count, buffer[start] == 13, buffer[start + 1] == 10 { start += 2 }

        var scanned = start
        var headerEnd: Int
        while true {
            if let end = find(Connection.crlfcrlf, from: max(start, scanned - 3)) {
                headerEnd = end
                break
            }
            scanned = buffer.count
            if buffer.count - start > HTTPLimits.maxHeaderBytes {
                return .failure(.error(431, "request headers are larger than \(HTTPLimits.maxHeaderBytes) bytes"))
            }
            let idle = buffer.count == start
            if !fill(timeoutMs: idle ? HTTPLimits.idleTimeoutMs : HTTPLimits.requestTimeoutMs) { return .closed }
        }
        if headerEnd - start > HTTPLimits.maxHeaderBytes {
            return .failure(.error(431, "request headers are larger than \(HTTPLimits.maxHeaderBytes) bytes"))
        }

        // Request line.
        guard let lineEnd = find(Connection.crlf, from: start, to: headerEnd + 2) else {
            return .failure(.error(400, "malformed request line"))
        }
        let requestLine = String(decoding: buffer[start..<lineEnd], as: UTF8.self)
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            return .failure(.error(400, "malformed request line"))
        }
        let method = String(parts[0])
        let version = parts[2]
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            return .failure(.error(505, "only HTTP/1.0 and HTTP/1.1 are supported"))
        }
        var target = Substring(parts[1])
        if target.hasPrefix("http://") || target.hasPrefix("https://") {
            // absolute-form: keep the path
            let afterScheme = target.drop(while: { $0 != "/" }).dropFirst(2)
            target = afterScheme.drop(while: { $0 != "/" })
        }
        guard target.first == "/" else { return .failure(.error(400, "malformed request target")) }
        let path = String(target.prefix(while: { $0 != "?" && $0 != "#" }))
        var query: [(String, String)] = []
        if let mark = target.firstIndex(of: "?") {
            let rest = target[target.index(after: mark)...]
            query = HTTPRequest.parseQuery(rest.prefix(while: { $0 != "#" }))
        }

        // Header fields.
        var headers: [(String, String)] = []
        var cursor = lineEnd + 2
        while cursor < headerEnd + 2 {
            guard let end = find(Connection.crlf, from: cursor, to: headerEnd + 2) else { break }
            if end == cursor { break }
            let line = String(decoding: buffer[cursor..<end], as: UTF8.self)
            cursor = end + 2
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  line.first != " ", line.first != "\t" else {
                return .failure(.error(400, "malformed header line"))
            }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingSpaces()
            headers.append((name, value))
        }
        let bodyStart = headerEnd + 4

        func header(_ name: String) -> [String] { headers.filter { $0.0 == name }.map(\.1) }
        let connection = header("connection").joined(separator: ",").lowercased()
        let keepAlive = version == "HTTP/1.1" ? !connection.contains("close") : connection.contains("keep-alive")

        var chunked = false
        let encodings = header("transfer-encoding").joined(separator: ",").lowercased()
            .split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        if !encodings.isEmpty {
            guard encodings.last == "chunked", encodings.allSatisfy({ $0 == "chunked" || $0 == "identity" }) else {
                return .failure(.error(501, "unsupported Transfer-Encoding '\(encodings.joined(separator: ", "))'"))
            }
            chunked = true
        }
        var contentLength = 0
        let lengths = Set(header("content-length").flatMap { $0.split(separator: ",").map { $0.trimmingSpaces() } })
        if !chunked, !lengths.isEmpty {
            guard lengths.count == 1, let text = lengths.first, !text.isEmpty, text.count <= 18,
                  text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(text) else {
                return .failure(.error(400, "invalid Content-Length"))
            }
            guard n <= HTTPLimits.maxBodyBytes else {
                return .failure(.error(413, "request body is larger than \(HTTPLimits.maxBodyBytes) bytes"))
            }
            contentLength = n
        }

        let expectsContinue = header("expect").contains { $0.lowercased() == "100-continue" }
        if expectsContinue, version == "HTTP/1.1", chunked || buffer.count - bodyStart < contentLength {
            guard send(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) else { return .closed }
        }

        var body: [UInt8]
        var end: Int
        if chunked {
            while true {
                switch decodeChunked(from: bodyStart) {
                case .complete(let decoded, let after):
                    body = decoded
                    end = after
                case .incomplete:
                    if !fill(timeoutMs: HTTPLimits.requestTimeoutMs) { return .closed }
                    continue
                case .invalid(let message):
                    return .failure(.error(400, message))
                case .tooLarge:
                    return .failure(.error(413, "request body is larger than \(HTTPLimits.maxBodyBytes) bytes"))
                }
                break
            }
        } else {
            while buffer.count - bodyStart < contentLength {
                if !fill(timeoutMs: HTTPLimits.requestTimeoutMs) { return .closed }
            }
            body = Array(buffer[bodyStart..<(bodyStart + contentLength)])
            end = bodyStart + contentLength
        }
        start = end
        return .request(HTTPRequest(method: method, path: path, query: query, headers: headers, body: body, keepAlive: keepAlive))
    }

    private enum ChunkedResult {
        case complete([UInt8], Int)
        case incomplete
        case invalid(String)
        case tooLarge
    }

    /// Decodes a whole chunked body starting at `from`, if it has all arrived.
    private func decodeChunked(from: Int) -> ChunkedResult {
        var body: [UInt8] = []
        var i = from
        while true {
            guard let lineEnd = find(Connection.crlf, from: i) else {
                return buffer.count - i > 4096 ? .invalid("malformed chunk size line") : .incomplete
            }
            var size = 0
            var digits = 0
            var k = i
            while k < lineEnd {
                let c = buffer[k]
                let digit: Int
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(c - UInt8(ascii: "a")) + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(c - UInt8(ascii: "A")) + 10
                default: digit = -1
                }
                if digit < 0 { break }
                size = size * 16 + digit
                digits += 1
                if size > HTTPLimits.maxBodyBytes { return .tooLarge }
                k += 1
            }
            guard digits > 0, k == lineEnd || buffer[k] == UInt8(ascii: ";") || buffer[k] == UInt8(ascii: " ")
                    || buffer[k] == UInt8(ascii: "\t") else {
                return .invalid("malformed chunk size line")
            }
            i = lineEnd + 2
            if size == 0 {
                // Trailer fields, then an empty line.
                while true {
                    guard let trailerEnd = find(Connection.crlf, from: i) else {
                        return buffer.count - i > HTTPLimits.maxHeaderBytes ? .invalid("trailers too large") : .incomplete
                    }
                    if trailerEnd == i { return .complete(body, i + 2) }
                    i = trailerEnd + 2
                }
            }
            guard body.count + size <= HTTPLimits.maxBodyBytes else { return .tooLarge }
            guard buffer.count >= i + size + 2 else { return .incomplete }
            guard buffer[i + size] == 13, buffer[i + size + 1] == 10 else { return .invalid("malformed chunk") }
            body.append(contentsOf: buffer[i..<(i + size)])
            i += size + 2
        }
    }

    // MARK: writing

    private func send(_ bytes: [UInt8]) -> Bool {
        #if canImport(Glibc)
        let flags = Int32(MSG_NOSIGNAL)
        #else
        let flags: Int32 = 0
        #endif
        return bytes.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                guard let base = raw.baseAddress else { return false }
                let n = socketSend(fd, base + offset, raw.count - offset, flags)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }

    /// Holds a hung request: reads and discards until the client closes
    /// (or the hang limit passes).
    private func waitForPeerToClose() {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var waited = 0
        while waited < HTTPLimits.hangLimitMs {
            let ready = poll(&descriptor, 1, 1000)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if ready == 0 {
                waited += 1000
                continue
            }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return }
        }
    }
}

/// The C `send`, under a name the method above does not shadow.
@inline(__always)
private func socketSend(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ flags: Int32) -> Int {
    send(fd, buffer, count, flags)
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
