import CCurl
import Foundation

/// HTTP/1.1 over plain TCP, on the HTTP engine's epoll loop: what the
/// engine uses for `http://` URLs (a local vLLM or llama.cpp server, the
/// test servers) when no proxy is configured. libcurl keeps everything else
/// (TLS, proxies, credentials in URLs).
///
/// Why: at thousands of requests a second, libcurl's per-request work (a
/// general state machine, header handling, the connection cache, a socket
/// callback and epoll_ctl per state change) was a third of the client's
/// CPU. Here a request on a kept-alive connection is one `send` and
/// usually one `recv`; the connection stays registered with epoll for
/// reading between requests, so nothing is re-registered.
///
/// What it does: keep-alive connections per host and port (reused LIFO);
/// Content-Length, chunked and read-until-close bodies; 1xx responses
/// skipped; a request whose reused connection turns out to be closed
/// before any byte of an answer is sent once more on a new connection,
/// unless it asked for a fresh connection (what libcurl does too); a
/// deadline per request. No redirects are followed (libcurl was not told
/// to either).
struct PlainHTTPTarget: Hashable {
    var host: String
    var port: UInt16
    /// Path and query, as sent on the request line.
    var path: String

    /// The target of an `http://` URL, or nil for anything this path does
    /// not take (another scheme, credentials in the URL, a bad port).
    init?(url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host = Substring(authority)
        var port: UInt16 = 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = UInt16(after.dropFirst()) else { return nil }
                port = value
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let value = UInt16(host[host.index(after: colon)...]) else { return nil }
            port = value
            host = host[..<colon]
        }
        guard !host.isEmpty else { return nil }
        self.host = String(host)
        self.port = port
        let path = rest[slash...]
        self.path = path.isEmpty ? "/" : String(path.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0])
    }

    /// The Host header's value.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? name : "\(name):\(port)"
    }
}

/// Where a host's connections go: resolved once per host and port.
final class PlainHTTPResolver: @unchecked Sendable {
    private let lock = NSLock()
    private var resolved: [String: [UInt8]?] = [:]

    /// The socket address of `host`:`port` (IPv4 preferred), or nil when it
    /// cannot be resolved (libcurl then reports the failure its own way).
    func address(host: String, port: UInt16) -> [UInt8]? {
        let key = "\(host)|\(port)"
        lock.lock()
        if let known = resolved[key] {
            lock.unlock()
            return known
        }
        lock.unlock()
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        var found: [UInt8]?
        if getaddrinfo(host, String(port), &hints, &list) == 0 {
            var candidates: [[UInt8]] = []
            var cursor = list
            while let entry = cursor {
                if let address = entry.pointee.ai_addr, entry.pointee.ai_family == AF_INET || entry.pointee.ai_family == AF_INET6 {
                    let bytes = Array(UnsafeRawBufferPointer(start: address, count: Int(entry.pointee.ai_addrlen)))
                    if entry.pointee.ai_family == AF_INET { candidates.insert(bytes, at: 0) } else { candidates.append(bytes) }
                }
                cursor = entry.pointee.ai_next
            }
            freeaddrinfo(list)
            found = candidates.first
        }
        lock.lock()
        resolved[key] = .some(found)
        lock.unlock()
        return found
    }
}

/// One request on the plain path.
final class PlainHTTPExchange {
    let target: PlainHTTPTarget
    let address: [UInt8]
    let request: HTTPRequest
    let completion: @Sendable (HTTPExchange) -> Void
    let deadline: UInt64
    /// The request as bytes on the wire: request line, headers, body.
    let wire: [UInt8]
    var done = false
    /// Sent once more already after its reused connection had closed.
    var resent = false

    init(target: PlainHTTPTarget, address: [UInt8], request: HTTPRequest, userAgent: String,
         completion: @escaping @Sendable (HTTPExchange) -> Void) {
        self.target = target
        self.address = address
        self.request = request
        self.completion = completion
        deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0.001, request.timeout) * 1e9)
        var head = "\(request.method) \(target.path) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nUser-Agent: \(userAgent)\r\n"
        var hasContentType = false
        for header in request.headers {
            head += header
            head += "\r\n"
            if header.utf8.count >= 13, header.utf8.prefix(13).elementsEqual("content-type:".utf8, by: {
                ($0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0) == $1
            }) { hasContentType = true }
        }
        let sendsBody = request.method != "GET" && request.method != "HEAD"
        if sendsBody {
            // What libcurl sends for a POST without one.
            if !hasContentType { head += "Content-Type: application/x-www-form-urlencoded\r\n" }
            head += "Content-Length: \(request.body.count)\r\n"
        }
        if request.freshConnection { head += "Connection: close\r\n" }
        head += "\r\n"
        var wire = Array(head.utf8)
        if sendsBody { wire.append(contentsOf: request.body) }
        self.wire = wire
    }
}

/// A TCP connection to one host and port, busy with one exchange or idle.
final class PlainHTTPConnection {
    enum Phase { case connecting, sending, receiving, idle }

    let fd: Int32
    let key: String
    var phase = Phase.connecting
    var exchange: PlainHTTPExchange?
    /// Bytes of the request sent so far.
    var sent = 0
    /// Served an earlier request (a failure before any answer byte may just
    /// be the server having closed it meanwhile).
    var reused = false
    var received: [UInt8] = []
    var response = ResponseParser()
    /// epoll is told to report writability.
    var watchingWrites = false

    init(fd: Int32, key: String) {
        self.fd = fd
        self.key = key
    }

    func start(_ exchange: PlainHTTPExchange) {
        self.exchange = exchange
        sent = 0
        received.removeAll(keepingCapacity: true)
        response = ResponseParser(head: exchange.request.method == "HEAD")
    }
}

/// An HTTP/1.1 response read incrementally from the bytes received.
struct ResponseParser {
    enum Framing { case length(Int), chunked, untilClose, none }
    enum Outcome { case needMore, complete(keepAlive: Bool), malformed(String) }

    private let head: Bool
    private(set) var status = 0
    private(set) var headers: [UInt8] = []
    private(set) var body: [UInt8] = []
    private var framing: Framing?
    private var keepAlive = true
    /// Where parsing stands in the received bytes.
    private var offset = 0
    /// In a chunked body: bytes of the current chunk still to read (nil: a size line is next).
    private var chunkLeft: Int?
    private var inTrailers = false

    init(head: Bool = false) { self.head = head }

    /// Bytes of the response seen so far.
    var started: Bool { offset > 0 || status != 0 }

    mutating func parse(_ bytes: [UInt8], closed: Bool) -> Outcome {
        while framing == nil {
            guard let end = Self.find(bytes, from: offset, "\r\n\r\n") else {
                return closed ? .malformed(offset == 0 && bytes.isEmpty ? "Empty reply from server" : "the server closed the connection in the response headers") : .needMore
            }
            let block = bytes[offset..<end + 2]
            offset = end + 4
            guard let lineEnd = Self.find(bytes, from: block.startIndex, "\r\n"), lineEnd <= block.endIndex else {
                return .malformed("no status line")
            }
            let statusLine = String(decoding: bytes[block.startIndex..<lineEnd], as: UTF8.self)
            let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]), (100...999).contains(code) else {
                return .malformed("malformed status line \"\(statusLine.prefix(80))\"")
            }
            if (100...199).contains(code) && code != 101 { continue }  // 100 Continue and the like: the answer follows
            status = code
            headers = Array(bytes[(lineEnd + 2)..<offset])
            keepAlive = parts[0] == "HTTP/1.1"
            var length: Int?
            var chunked = false
            for line in headers.split(separator: 0x0A) {
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
                let name = Self.trimmed(line[line.startIndex..<colon])
                let value = Self.trimmed(line[(colon + 1)...])
                if Self.equalsIgnoringCase(name, "content-length") {
                    guard let parsed = Int(String(decoding: value, as: UTF8.self)), parsed >= 0 else {
                        return .malformed("bad Content-Length \"\(String(decoding: value, as: UTF8.self))\"")
                    }
                    length = parsed
                } else if Self.equalsIgnoringCase(name, "transfer-encoding") {
                    let last = value.split(separator: UInt8(ascii: ",")).last.map { Self.trimmed($0) }
                    chunked = last.map { Self.equalsIgnoringCase($0, "chunked") } ?? false
                } else if Self.equalsIgnoringCase(name, "connection") {
                    for token in value.split(separator: UInt8(ascii: ",")).map({ Self.trimmed($0) }) {
                        if Self.equalsIgnoringCase(token, "close") { keepAlive = false }
                        if Self.equalsIgnoringCase(token, "keep-alive") { keepAlive = true }
                    }
                }
            }
            if head || status == 204 || status == 304 {
                framing = Framing.none
            } else if chunked {
                framing = .chunked
            } else if let length {
                framing = .length(length)
                body.reserveCapacity(length)
            } else {
                framing = .untilClose
                keepAlive = false
            }
        }
        switch framing {
        case .none?:
            return .complete(keepAlive: keepAlive && bytes.count == offset)
        case .length(let length)?:
            let available = min(bytes.count - offset, length - body.count)
            if available > 0 {
                body.append(contentsOf: bytes[offset..<offset + available])
                offset += available
            }
            if body.count == length { return .complete(keepAlive: keepAlive && bytes.count == offset) }
            return closed ? .malformed("the server closed the connection after \(body.count) of \(length) body bytes") : .needMore
        case .untilClose?:
            if offset < bytes.count {
                body.append(contentsOf: bytes[offset...])
                offset = bytes.count
            }
            return closed ? .complete(keepAlive: false) : .needMore
        case .chunked?:
            while true {
                if inTrailers {
                    guard let end = Self.find(bytes, from: offset, "\r\n") else { break }
                    let empty = end == offset
                    offset = end + 2
                    if empty { return .complete(keepAlive: keepAlive && bytes.count == offset) }
                    continue
                }
                if let left = chunkLeft {
                    if left > 0 {
                        let available = min(bytes.count - offset, left)
                        guard available > 0 else { break }
                        body.append(contentsOf: bytes[offset..<offset + available])
                        offset += available
                        chunkLeft = left - available
                        continue
                    }
                    guard bytes.count - offset >= 2 else { break }
                    guard bytes[offset] == 0x0D, bytes[offset + 1] == 0x0A else { return .malformed("bad chunk end") }
                    offset += 2
                    chunkLeft = nil
                    continue
                }
                guard let end = Self.find(bytes, from: offset, "\r\n") else { break }
                let line = String(decoding: bytes[offset..<end], as: UTF8.self)
                let digits = line.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
                    .trimmingCharacters(in: .whitespaces)
                guard let size = Int(digits, radix: 16), size >= 0 else { return .malformed("bad chunk size \"\(line.prefix(40))\"") }
                offset = end + 2
                if size == 0 { inTrailers = true } else { chunkLeft = size }
            }
            return closed ? .malformed("the server closed the connection in a chunked body") : .needMore
        case nil:
            return .needMore
        }
    }

    /// Without spaces, tabs and CR at either end.
    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 || first == 0x0D { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 || last == 0x0D { slice = slice.dropLast() }
        return slice
    }

    /// `bytes` equals the lowercase ASCII `word`, in any case.
    private static func equalsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        return word.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { ($0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0) == $1 }
        }
    }

    private static func find(_ bytes: [UInt8], from start: Int, _ pattern: StaticString) -> Int? {
        let count = pattern.utf8CodeUnitCount
        guard bytes.count >= count, start <= bytes.count - count else { return nil }
        return pattern.withUTF8Buffer { needle -> Int? in
            bytes.withUnsafeBufferPointer { haystack -> Int? in
                var index = start
                while index <= haystack.count - count {
                    if haystack[index] == needle[0] {
                        var match = true
                        for k in 1..<count where haystack[index + k] != needle[k] {
                            match = false
                            break
                        }
                        if match { return index }
                    }
                    index += 1
                }
                return nil
            }
        }
    }
}

/// The plain path's connections and deadlines, on the engine's thread only.
final class PlainHTTPPool {
    private let epoll: Int32
    private var connections: [Int32: PlainHTTPConnection] = [:]
    /// Idle connections per host and port, the most recently used last.
    private var idle: [String: [PlainHTTPConnection]] = [:]
    private var deadlines = DeadlineHeap()
    private var buffer = [UInt8](repeating: 0, count: 65536)
    private static let idleLimit = 512
    private static let connectTimeout: UInt64 = 10_000_000_000

    init(epoll: Int32) { self.epoll = epoll }

    /// The earliest deadline of a request in flight (monotonic nanoseconds).
    func nextDeadline() -> UInt64? { deadlines.first() }

    func start(_ exchange: PlainHTTPExchange) {
        deadlines.push(exchange.deadline, exchange)
        let key = "\(exchange.target.host)|\(exchange.target.port)"
        if !exchange.request.freshConnection, let connection = idle[key]?.popLast() {
            connection.reused = true
            connection.start(exchange)
            connection.phase = .sending
            send(connection)
            return
        }
        open(exchange, key: key)
    }

    /// Handles readiness of `fd`; false when it is not one of ours.
    func handle(fd: Int32, mask: Int32) -> Bool {
        guard let connection = connections[fd] else { return false }
        switch connection.phase {
        case .connecting:
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                failed(connection, "Couldn't connect to server (\(String(cString: strerror(error))))", beforeAnswer: true)
                return true
            }
            guard mask & Int32(CURL_CSELECT_OUT) != 0 else { return true }
            connection.phase = .sending
            send(connection)
        case .sending:
            if mask & Int32(CURL_CSELECT_OUT) != 0 { send(connection) }
            if connection.phase == .sending, mask & Int32(CURL_CSELECT_IN | CURL_CSELECT_ERR) != 0 { receive(connection) }
        case .receiving:
            receive(connection)
        case .idle:
            // The server closed it (or sent what nobody asked for): gone.
            close(connection)
        }
        return true
    }

    /// Fails requests whose deadline has passed.
    func expire(now: UInt64) {
        while let (_, exchange, connecting) = deadlines.popIfDue(now) {
            guard !exchange.done else { continue }
            if connecting {
                // Only a connection still being made is given up on here.
                guard let connection = connections.values.first(where: { $0.exchange === exchange }),
                      connection.phase == .connecting else { continue }
                close(connection)
                finish(exchange, HTTPExchange(failure: "Connection timed out after \(Self.connectTimeout / 1_000_000) milliseconds", timedOut: true))
                continue
            }
            if let connection = connections.values.first(where: { $0.exchange === exchange }) { close(connection) }
            let millis = Int((exchange.request.timeout * 1000).rounded())
            finish(exchange, HTTPExchange(failure: "Operation timed out after \(millis) milliseconds", timedOut: true))
        }
    }

    private func open(_ exchange: PlainHTTPExchange, key: String) {
        let family = exchange.address.withUnsafeBytes { $0.load(as: sa_family_t.self) }
        let fd = socket(Int32(family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            finish(exchange, HTTPExchange(failure: "Couldn't connect to server (socket: \(String(cString: strerror(errno))))"))
            return
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let connection = PlainHTTPConnection(fd: fd, key: key)
        connection.start(exchange)
        connections[fd] = connection
        let result = exchange.address.withUnsafeBytes { raw in
            connect(fd, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        if result == 0 {
            connection.phase = .sending
            _ = pipeline_epoll_set(epoll, EPOLL_CTL_ADD, fd, 1, 0)
            send(connection)
        } else if errno == EINPROGRESS {
            connection.phase = .connecting
            connection.watchingWrites = true
            _ = pipeline_epoll_set(epoll, EPOLL_CTL_ADD, fd, 1, 1)
            deadlines.push(min(exchange.deadline, DispatchTime.now().uptimeNanoseconds + Self.connectTimeout), exchange, connecting: true)
        } else {
            let message = String(cString: strerror(errno))
            connections[fd] = nil
            Glibc.close(fd)
            finish(exchange, HTTPExchange(failure: "Couldn't connect to server (\(message))"))
        }
    }

    private func send(_ connection: PlainHTTPConnection) {
        guard let exchange = connection.exchange else { return }
        while connection.sent < exchange.wire.count {
            let written = exchange.wire.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.send(connection.fd, base + connection.sent, raw.count - connection.sent, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                connection.sent += written
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if !connection.watchingWrites {
                    connection.watchingWrites = true
                    _ = pipeline_epoll_set(epoll, EPOLL_CTL_MOD, connection.fd, 1, 1)
                }
                return
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                failed(connection, "Send failure: \(String(cString: strerror(errno)))", beforeAnswer: true)
                return
            }
        }
        connection.phase = .receiving
        if connection.watchingWrites {
            connection.watchingWrites = false
            _ = pipeline_epoll_set(epoll, EPOLL_CTL_MOD, connection.fd, 1, 0)
        }
    }

    private func receive(_ connection: PlainHTTPConnection) {
        guard let exchange = connection.exchange else { return }
        var closed = false
        var failure: Int32 = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                connection.received.append(contentsOf: buffer[0..<count])
                if count < buffer.count { break }
            } else if count == 0 {
                closed = true
                break
            } else if errno == EINTR {
                continue
            } else {
                if errno != EAGAIN && errno != EWOULDBLOCK {
                    failure = errno
                    closed = true
                }
                break
            }
        }
        switch connection.response.parse(connection.received, closed: closed) {
        case .needMore:
            return
        case .complete(let keepAlive):
            let response = HTTPExchange(status: connection.response.status, headers: connection.response.headers,
                                        body: connection.response.body)
            connection.exchange = nil
            if keepAlive && !closed && !exchange.request.freshConnection && (idle[connection.key]?.count ?? 0) < Self.idleLimit {
                connection.phase = .idle
                connection.received.removeAll(keepingCapacity: true)
                idle[connection.key, default: []].append(connection)
            } else {
                close(connection)
            }
            finish(exchange, response)
        case .malformed(let message):
            let nothingYet = connection.received.isEmpty
            let detail = failure != 0 && nothingYet ? "Recv failure: \(String(cString: strerror(failure)))" : message
            failed(connection, nothingYet ? detail : "Failure when receiving data from the peer: \(detail)",
                   beforeAnswer: nothingYet)
        }
    }

    /// The connection broke. A reused one that broke before any byte of
    /// an answer most likely was closed by the server while idle: the
    /// request goes once more on a new connection.
    private func failed(_ connection: PlainHTTPConnection, _ message: String, beforeAnswer: Bool) {
        let exchange = connection.exchange
        let reused = connection.reused
        connection.exchange = nil
        close(connection)
        guard let exchange, !exchange.done else { return }
        if beforeAnswer && reused && !exchange.resent && !exchange.request.freshConnection {
            exchange.resent = true
            open(exchange, key: connection.key)
            return
        }
        finish(exchange, HTTPExchange(failure: message))
    }

    private func close(_ connection: PlainHTTPConnection) {
        guard connections.removeValue(forKey: connection.fd) != nil else { return }
        if connection.phase == .idle, var list = idle[connection.key], let index = list.firstIndex(where: { $0 === connection }) {
            list.remove(at: index)
            idle[connection.key] = list
        }
        _ = pipeline_epoll_set(epoll, EPOLL_CTL_DEL, connection.fd, 0, 0)
        Glibc.close(connection.fd)
    }

    private func finish(_ exchange: PlainHTTPExchange, _ result: HTTPExchange) {
        guard !exchange.done else { return }
        exchange.done = true
        exchange.completion(result)
    }
}

/// Request deadlines, earliest first (a binary heap; finished requests are
/// dropped when they come up).
struct DeadlineHeap {
    private var items: [(deadline: UInt64, exchange: PlainHTTPExchange, connecting: Bool)] = []

    mutating func first() -> UInt64? {
        while let top = items.first, top.exchange.done { pop() }
        return items.first?.deadline
    }

    mutating func push(_ deadline: UInt64, _ exchange: PlainHTTPExchange, connecting: Bool = false) {
        items.append((deadline, exchange, connecting))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popIfDue(_ now: UInt64) -> (UInt64, PlainHTTPExchange, Bool)? {
        guard let top = items.first, top.deadline <= now || top.exchange.done else { return nil }
        return pop()
    }

    @discardableResult
    private mutating func pop() -> (UInt64, PlainHTTPExchange, Bool)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left].deadline < items[smallest].deadline { smallest = left }
            if right < items.count, items[right].deadline < items[smallest].deadline { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
