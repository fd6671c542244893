import CCurl
import Foundation
import PipelineBase

/// One HTTP request: to an LLM server, or for a plugin (pipeline.http/1).
package struct HTTPRequest: Sendable {
    package var url: String
    package var headers: [String]
    package var body: [UInt8]
    /// Seconds for the whole transfer.
    package var timeout: Double
    /// "POST" unless said otherwise; "GET" and "HEAD" send no body.
    package var method = "POST"
    /// On a new connection, closed after: libcurl sends a request again by
    /// itself when a reused connection dies before any answer, which a
    /// request that must reach the server at most once cannot have.
    package var freshConnection = false

    package init(url: String, headers: [String], body: [UInt8], timeout: Double, method: String = "POST") {
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.method = method
    }
}

/// What came back: a response (any status), or no response at all.
package enum HTTPOutcome: Sendable {
    /// `headers`: the header block of the response ("Name: value\r\n" lines).
    case response(status: Int, headers: [UInt8], body: [UInt8])
    case failure(message: String, timedOut: Bool)
}

/// A response with its header lines, or no response at all.
package struct HTTPExchange: Sendable {
    package var status = 0
    /// The header block of the final response ("Name: value\r\n" lines).
    package var headers: [UInt8] = []
    package var body: [UInt8] = []
    /// Set when no response arrived.
    package var failure: String?
    package var timedOut = false

    /// The value of the first header `name` (any case) in a header block, trimmed.
    package static func header(_ name: String, in block: [UInt8]) -> String? {
        let wanted = Array(name.lowercased().utf8)
        for line in block.split(whereSeparator: { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon - line.startIndex == wanted.count,
                  zip(line[..<colon], wanted).allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0) == $1 })
            else { continue }
            var value = line[(colon + 1)...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            return String(decoding: value, as: UTF8.self)
        }
        return nil
    }
}

/// All HTTP of the process on one thread, waiting on one epoll set.
/// Plain `http://` requests without a proxy go over PlainHTTP (our own
/// HTTP/1.1, a send and a recv per request on a kept connection); the rest
/// goes through libcurl's multi interface driven by events: libcurl names
/// the sockets it waits on (`CURLMOPT_SOCKETFUNCTION`) and its next timeout
/// (`CURLMOPT_TIMERFUNCTION`), and each ready socket is handed to
/// `curl_multi_socket_action`. The work per event is the same with 5 or 5000
/// requests in flight; `curl_multi_perform` + `curl_multi_poll` walked every
/// transfer and polled every socket on each wakeup, which at 500 in flight
/// was most of the client's CPU. Connections are kept alive and reused
/// between requests to the same server, easy handles too (reset, pooled).
/// Completions run on the engine's thread and must be quick.
package final class HTTPEngine: @unchecked Sendable {
    package static let shared = HTTPEngine()

    private let multi: UnsafeMutableRawPointer
    private let epoll: Int32
    private let wakeup: Int32
    private let lock = NSLock()
    private var incoming: [Transfer] = []
    private var incomingPlain: [PlainHTTPExchange] = []
    private var wakeupPending = false
    /// Plain `http://` requests go by PlainHTTP unless a proxy is set in
    /// the environment (libcurl honours it) or PIPELINE_HTTP_ENGINE=curl.
    private let plainAllowed: Bool
    private let resolver = PlainHTTPResolver()
    private let userAgentText = "pipeline/\(PipelineVersion.host)"

    // Engine thread only.
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private var watched: Set<Int32> = []
    private var deadline: UInt64?
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private static let idleHandleLimit = 1024
    private let plain: PlainHTTPPool

    private init() {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed") }
        self.multi = multi
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeup = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard epoll >= 0, wakeup >= 0, pipeline_epoll_set(epoll, EPOLL_CTL_ADD, wakeup, 1, 0) == 0 else {
            fatalError("HTTPEngine: epoll/eventfd unavailable (errno \(errno))")
        }
        pipeline_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 512)
        plain = PlainHTTPPool(epoll: epoll)
        let environment = ProcessInfo.processInfo.environment
        let proxied = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"].contains { !(environment[$0] ?? "").isEmpty }
        plainAllowed = !proxied && environment["PIPELINE_HTTP_ENGINE"] != "curl"
        let me = Unmanaged.passUnretained(self).toOpaque()
        pipeline_curl_multi_setopt_socket_fn(multi) { _, socket, what, user, _ in
            guard let user else { return 0 }
            Unmanaged<HTTPEngine>.fromOpaque(user).takeUnretainedValue().watch(socket, what: what)
            return 0
        }
        pipeline_curl_multi_setopt_pointer(multi, CURLMOPT_SOCKETDATA, me)
        pipeline_curl_multi_setopt_timer_fn(multi) { _, timeout, user in
            guard let user else { return 0 }
            let engine = Unmanaged<HTTPEngine>.fromOpaque(user).takeUnretainedValue()
            engine.deadline = timeout < 0 ? nil : DispatchTime.now().uptimeNanoseconds + UInt64(timeout) * 1_000_000
            return 0
        }
        pipeline_curl_multi_setopt_pointer(multi, CURLMOPT_TIMERDATA, me)
        let thread = Thread { [self] in loop() }
        thread.name = "pipeline.http"
        thread.start()
    }

    /// [thread-safe] Starts a request; `completion` runs once, on the engine thread.
    func start(_ request: HTTPRequest, completion: @escaping @Sendable (HTTPOutcome) -> Void) {
        exchange(request) { exchange in
            if let failure = exchange.failure {
                completion(.failure(message: failure, timedOut: exchange.timedOut))
            } else {
                completion(.response(status: exchange.status, headers: exchange.headers, body: exchange.body))
            }
        }
    }

    /// [thread-safe] Starts a request whose caller wants the response
    /// headers too; `completion` runs once, on the engine thread.
    func exchange(_ request: HTTPRequest, completion: @escaping @Sendable (HTTPExchange) -> Void) {
        if plainAllowed, let target = PlainHTTPTarget(url: request.url),
           let address = resolver.address(host: target.host, port: target.port) {
            let exchange = PlainHTTPExchange(target: target, address: address, request: request,
                                             userAgent: userAgentText, completion: completion)
            lock.lock()
            incomingPlain.append(exchange)
            let wake = !wakeupPending
            wakeupPending = true
            lock.unlock()
            if wake { signalWakeup() }
            return
        }
        enqueue(Transfer(request: request, completion: completion))
    }

    /// [thread-safe, never the engine's thread] Sends a request and waits
    /// for its response headers and body.
    package func perform(_ request: HTTPRequest) -> HTTPExchange {
        final class Box: @unchecked Sendable {
            var exchange = HTTPExchange()
            let done = DispatchSemaphore(value: 0)
        }
        let box = Box()
        exchange(request) { exchange in
            box.exchange = exchange
            box.done.signal()
        }
        box.done.wait()
        return box.exchange
    }

    /// One write to the eventfd per wakeup of the engine, however many
    /// requests are queued before it runs.
    private func enqueue(_ transfer: Transfer) {
        lock.lock()
        incoming.append(transfer)
        let wake = !wakeupPending
        wakeupPending = true
        lock.unlock()
        if wake { signalWakeup() }
    }

    private func signalWakeup() {
        var one: UInt64 = 1
        _ = write(wakeup, &one, 8)
    }

    /// libcurl's socket callback: what to wait for on `socket`.
    private func watch(_ socket: curl_socket_t, what: Int32) {
        if what == CURL_POLL_REMOVE {
            if watched.remove(socket) != nil { _ = pipeline_epoll_set(epoll, EPOLL_CTL_DEL, socket, 0, 0) }
            return
        }
        let readable: Int32 = what & CURL_POLL_IN != 0 ? 1 : 0
        let writable: Int32 = what & CURL_POLL_OUT != 0 ? 1 : 0
        if watched.insert(socket).inserted {
            if pipeline_epoll_set(epoll, EPOLL_CTL_ADD, socket, readable, writable) != 0, errno == EEXIST {
                _ = pipeline_epoll_set(epoll, EPOLL_CTL_MOD, socket, readable, writable)
            }
        } else if pipeline_epoll_set(epoll, EPOLL_CTL_MOD, socket, readable, writable) != 0, errno == ENOENT {
            // The descriptor was closed and its number reused without a REMOVE.
            _ = pipeline_epoll_set(epoll, EPOLL_CTL_ADD, socket, readable, writable)
        }
    }

    private func loop() {
        var running: Int32 = 0
        var fds = [Int32](repeating: 0, count: 256)
        var masks = [Int32](repeating: 0, count: 256)
        while true {
            startIncoming()
            let timeout: Int32
            let earliest = [deadline, plain.nextDeadline()].compactMap { $0 }.min()
            if let earliest {
                let now = DispatchTime.now().uptimeNanoseconds
                timeout = earliest <= now ? 0 : Int32(min((earliest - now + 999_999) / 1_000_000, 1000))
            } else {
                timeout = 1000
            }
            let count = pipeline_epoll_wait(epoll, &fds, &masks, 256, timeout)
            if count > 0 {
                for index in 0..<Int(count) {
                    if fds[index] == wakeup {
                        var value: UInt64 = 0
                        _ = read(wakeup, &value, 8)
                    } else if !plain.handle(fd: fds[index], mask: masks[index]) {
                        curl_multi_socket_action(multi, fds[index], masks[index], &running)
                    }
                }
            }
            let now = DispatchTime.now().uptimeNanoseconds
            if let deadline, deadline <= now {
                self.deadline = nil
                curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running)
            }
            plain.expire(now: now)
            finishDone()
        }
    }

    private func startIncoming() {
        lock.lock()
        let starting = incoming
        incoming.removeAll(keepingCapacity: true)
        let startingPlain = incomingPlain
        incomingPlain.removeAll(keepingCapacity: true)
        wakeupPending = false
        lock.unlock()
        for exchange in startingPlain { plain.start(exchange) }
        for transfer in starting {
            guard let easy = idleHandles.popLast() ?? curl_easy_init() else {
                transfer.completion(HTTPExchange(failure: "could not set up the request"))
                continue
            }
            transfer.prepare(easy)
            active[easy] = transfer
            curl_multi_add_handle(multi, easy)
        }
    }

    private func finishDone() {
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            curl_multi_remove_handle(multi, easy)
            guard let transfer = active.removeValue(forKey: easy) else { continue }
            transfer.complete(easy, code: code)
            if idleHandles.count < Self.idleHandleLimit {
                curl_easy_reset(easy)
                idleHandles.append(easy)
            } else {
                curl_easy_cleanup(easy)
            }
        }
    }
}

/// One request in flight: the easy handle and the buffers it reads and writes.
private final class Transfer: @unchecked Sendable {
    let request: HTTPRequest
    let completion: @Sendable (HTTPExchange) -> Void
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var body: UnsafeMutableBufferPointer<UInt8>
    private var url: UnsafeMutablePointer<CChar>?
    private var method: UnsafeMutablePointer<CChar>?
    var response: [UInt8] = []
    var responseHeaders: [UInt8] = []

    init(request: HTTPRequest, completion: @escaping @Sendable (HTTPExchange) -> Void) {
        self.request = request
        self.completion = completion
        body = .allocate(capacity: max(request.body.count, 1))
        _ = body.initialize(from: request.body)
    }

    deinit {
        curl_slist_free_all(headerList)
        body.deallocate()
        free(url)
        free(method)
    }

    /// Sets `easy` (fresh or reset) up for this request; the transfer owns
    /// every buffer and list it points to until it completes.
    func prepare(_ easy: UnsafeMutableRawPointer) {
        url = strdup(request.url)
        for header in request.headers { headerList = curl_slist_append(headerList, header) }
        pipeline_curl_setopt_pointer(easy, CURLOPT_URL, url)
        pipeline_curl_setopt_pointer(easy, CURLOPT_HTTPHEADER, headerList)
        switch request.method {
        case "GET":
            pipeline_curl_setopt_long(easy, CURLOPT_HTTPGET, 1)
        case "HEAD":
            pipeline_curl_setopt_long(easy, CURLOPT_NOBODY, 1)
        default:
            pipeline_curl_setopt_long(easy, CURLOPT_POST, 1)
            pipeline_curl_setopt_pointer(easy, CURLOPT_POSTFIELDS, body.baseAddress)
            pipeline_curl_setopt_offset(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            if request.method != "POST" {
                method = strdup(request.method)
                pipeline_curl_setopt_pointer(easy, CURLOPT_CUSTOMREQUEST, method)
            }
        }
        if request.freshConnection {
            pipeline_curl_setopt_long(easy, CURLOPT_FRESH_CONNECT, 1)
            pipeline_curl_setopt_long(easy, CURLOPT_FORBID_REUSE, 1)
        }
        pipeline_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, max(1, Int(request.timeout * 1000)))
        pipeline_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, 10_000)
        pipeline_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        pipeline_curl_setopt_long(easy, CURLOPT_TCP_NODELAY, 1)
        pipeline_curl_setopt_pointer(easy, CURLOPT_USERAGENT, HTTPEngine.userAgent)
        pipeline_curl_setopt_write(easy, CURLOPT_WRITEFUNCTION) { data, size, count, user in
            guard let data, let user else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
            let bytes = size * count
            data.withMemoryRebound(to: UInt8.self, capacity: bytes) {
                transfer.response.append(contentsOf: UnsafeBufferPointer(start: $0, count: bytes))
            }
            return bytes
        }
        pipeline_curl_setopt_pointer(easy, CURLOPT_WRITEDATA, Unmanaged.passUnretained(self).toOpaque())
        pipeline_curl_setopt_write(easy, CURLOPT_HEADERFUNCTION) { data, size, count, user in
            guard let data, let user else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
            let bytes = size * count
            data.withMemoryRebound(to: UInt8.self, capacity: bytes) { line in
                // A status line starts the headers of a new response (after
                // a 100 Continue or a redirect): keep only the last one's.
                if bytes >= 5, line[0] == UInt8(ascii: "H"), line[1] == UInt8(ascii: "T"),
                   line[2] == UInt8(ascii: "T"), line[3] == UInt8(ascii: "P"), line[4] == UInt8(ascii: "/") {
                    transfer.responseHeaders.removeAll(keepingCapacity: true)
                    return
                }
                transfer.responseHeaders.append(contentsOf: UnsafeBufferPointer(start: line, count: bytes))
            }
            return bytes
        }
        pipeline_curl_setopt_pointer(easy, CURLOPT_HEADERDATA, Unmanaged.passUnretained(self).toOpaque())
    }

    func complete(_ easy: UnsafeMutableRawPointer, code: CURLcode) {
        guard code == CURLE_OK else {
            let message = String(cString: curl_easy_strerror(code))
            completion(HTTPExchange(failure: message, timedOut: code == CURLE_OPERATION_TIMEDOUT))
            return
        }
        var status = 0
        pipeline_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        completion(HTTPExchange(status: status, headers: responseHeaders, body: response))
    }
}

extension HTTPEngine {
    /// Static for the process: libcurl keeps the pointer.
    nonisolated(unsafe) static let userAgent: UnsafeMutablePointer<CChar>? = strdup("pipeline/\(PipelineVersion.host)")
}
