import Foundation
import Testing

@testable import PipelineLLMClient

/// The plain HTTP/1.1 path of the HTTP engine: URLs it takes, responses
/// read in any split, and what it does on a real loopback socket when the
/// server reuses, closes, stalls or refuses.
@Suite("Plain HTTP", .serialized)
struct PlainHTTPTests {
    @Test func urlsItTakesAndTheOnesItLeavesToLibcurl() throws {
        let local = try #require(PlainHTTPTarget(url: "http://127.0.0.1:8000/v1/chat/completions"))
        #expect(local.host == "127.0.0.1" && local.port == 8000 && local.path == "/v1/chat/completions")
        #expect(local.hostHeader == "127.0.0.1:8000")
        let v6 = try #require(PlainHTTPTarget(url: "http://[::1]:9/x?y=1#part"))
        #expect(v6.host == "::1" && v6.port == 9 && v6.path == "/x?y=1" && v6.hostHeader == "[::1]:9")
        let bare = try #require(PlainHTTPTarget(url: "http://gpu-box"))
        #expect(bare.port == 80 && bare.path == "/" && bare.hostHeader == "gpu-box")
        for url in ["https://api.example.com/v1", "http://user:secret@host/", "http://host:port/", "http://:80/", "ftp://x/", "http://[::1/"] {
            #expect(PlainHTTPTarget(url: url) == nil, "\(url)")
        }
    }

    private func read(_ text: String, head: Bool = false, closed: Bool = false) -> (ResponseParser, ResponseParser.Outcome) {
        let bytes = Array(text.utf8)
        var result: (ResponseParser, ResponseParser.Outcome)?
        for split in 0...bytes.count {
            var parser = ResponseParser(head: head)
            let first = parser.parse(Array(bytes[..<split]), closed: false)
            if case .malformed = first { return (parser, first) }
            let outcome = parser.parse(bytes, closed: closed)
            if let result {
                // Every split reads the same response.
                #expect(parser.status == result.0.status && parser.body == result.0.body && parser.headers == result.0.headers,
                        "split \(split)")
            } else {
                result = (parser, outcome)
            }
        }
        return result ?? (ResponseParser(), .needMore)
    }

    @Test func responsesReadTheSameWhereverTheBytesSplit() throws {
        let (plain, outcome) = read("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
        guard case .complete(let keepAlive) = outcome else { Issue.record("\(outcome)"); return }
        #expect(keepAlive && plain.status == 200 && String(decoding: plain.body, as: UTF8.self) == "{\"a\":1}")
        #expect(String(decoding: plain.headers, as: UTF8.self) == "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n")

        let (chunked, chunkedOutcome) = read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n")
        guard case .complete(true) = chunkedOutcome else { Issue.record("\(chunkedOutcome)"); return }
        #expect(String(decoding: chunked.body, as: UTF8.self) == "Wikipedia")

        let (continued, continuedOutcome) = read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
        guard case .complete(false) = continuedOutcome else { Issue.record("\(continuedOutcome)"); return }
        #expect(continued.status == 429 && HTTPExchange.header("Retry-After", in: continued.headers) == "3")

        let (head, headOutcome) = read("HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n", head: true)
        guard case .complete(true) = headOutcome else { Issue.record("\(headOutcome)"); return }
        #expect(head.body.isEmpty)

        let (untilClose, untilCloseOutcome) = read("HTTP/1.0 200 OK\r\n\r\nall of it", closed: true)
        guard case .complete(false) = untilCloseOutcome else { Issue.record("\(untilCloseOutcome)"); return }
        #expect(String(decoding: untilClose.body, as: UTF8.self) == "all of it")
    }

    @Test func brokenResponsesAreErrorsNotAnswers() {
        let broken: [(String, Bool)] = [
            ("", true),
            ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false),
            ("SMTP ready\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc", true),
        ]
        for (text, closed) in broken {
            var parser = ResponseParser()
            guard case .malformed = parser.parse(Array(text.utf8), closed: closed) else {
                Issue.record("not refused: \(text.debugDescription)")
                continue
            }
        }
    }

    // MARK: On a socket

    @Test func aKeptAliveConnectionServesTheNextRequest() throws {
        let server = try ScriptedServer { _, _ in .answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") }
        defer { server.stop() }
        for _ in 0..<3 {
            let exchange = HTTPEngine.shared.perform(HTTPRequest(url: server.url, headers: [], body: Array("x".utf8), timeout: 5))
            #expect(exchange.failure == nil && exchange.status == 200 && exchange.body == Array("ok".utf8), "\(exchange.failure ?? "")")
        }
        #expect(server.accepted == 1)
        #expect(server.requests.allSatisfy { $0.hasPrefix("POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1:") && $0.hasSuffix("\r\n\r\nx") })
    }

    /// The server closes a connection after answering without saying so:
    /// the next request finds it closed and goes again, once, on a new one.
    @Test func aConnectionTheServerClosedIsReplacedAndTheRequestSentOnce() throws {
        let server = try ScriptedServer { _, _ in .answerAndClose("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") }
        defer { server.stop() }
        for _ in 0..<3 {
            let exchange = HTTPEngine.shared.perform(HTTPRequest(url: server.url, headers: [], body: Array("x".utf8), timeout: 5))
            #expect(exchange.failure == nil && exchange.status == 200, "\(exchange.failure ?? "") \(exchange.status)")
        }
        #expect(server.accepted == 3 && server.requests.count == 3)
    }

    @Test func aStalledServerTimesOutAndARefusedPortFailsAtOnce() throws {
        let server = try ScriptedServer { _, _ in .silence }
        defer { server.stop() }
        let stalled = HTTPEngine.shared.perform(HTTPRequest(url: server.url, headers: [], body: [], timeout: 0.3))
        #expect(stalled.timedOut && stalled.failure?.contains("timed out") == true, "\(stalled.failure ?? "") \(stalled.status)")

        let port = server.port
        server.stop()
        let refused = HTTPEngine.shared.perform(HTTPRequest(url: "http://127.0.0.1:\(port)/v1/x", headers: [], body: [], timeout: 5))
        #expect(!refused.timedOut && refused.failure?.contains("Couldn't connect") == true, "\(refused.failure ?? "")")
    }

    /// A request that must reach the server at most once goes on its own
    /// connection, says so, and a connection lost on the way is not retried.
    @Test func aFreshConnectionRequestIsNeverSentTwice() throws {
        let server = try ScriptedServer { index, _ in index == 0 ? .close : .answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") }
        defer { server.stop() }
        var once = HTTPRequest(url: server.url, headers: ["Content-Type: application/json"], body: Array("{}".utf8), timeout: 5)
        once.freshConnection = true
        let lost = HTTPEngine.shared.perform(once)
        #expect(lost.failure != nil && server.requests.count == 1)
        let next = HTTPEngine.shared.perform(once)
        #expect(next.failure == nil && next.status == 200)
        #expect(server.requests.last?.contains("\r\nConnection: close\r\n") == true)
        #expect(server.requests.last?.contains("Content-Type: application/json\r\nContent-Length: 2\r\n") == true)
    }
}

/// A one-thread TCP server on loopback that answers each request as its
/// script says, counting connections and recording requests.
final class ScriptedServer: @unchecked Sendable {
    enum Reply { case answer(String), answerAndClose(String), close, silence }

    let port: UInt16
    var url: String { "http://127.0.0.1:\(port)/v1/x" }
    private let listener: Int32
    private let lock = NSLock()
    private var acceptedCount = 0
    private var received: [String] = []
    private var stopped = false
    private var open: [Int32] = []
    private let finished = DispatchSemaphore(value: 0)

    var accepted: Int { lock.withLock { acceptedCount } }
    var requests: [String] { lock.withLock { received } }

    init(script: @escaping @Sendable (Int, String) -> Reply) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve(script) }
        thread.start()
    }

    /// Returns once the server's thread has ended: nothing answers on its port after.
    func stop() {
        let first = lock.withLock { () -> Bool in
            guard !stopped else { return false }
            stopped = true
            shutdown(listener, Int32(SHUT_RDWR))
            for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
            return true
        }
        guard first else { return }
        finished.wait()
        Glibc.close(listener)
    }

    private func serve(_ script: @escaping @Sendable (Int, String) -> Reply) {
        defer { finished.signal() }
        var index = 0
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let stopping = lock.withLock { () -> Bool in
                acceptedCount += 1
                open.append(client)
                return stopped
            }
            if stopping {
                Glibc.close(client)
                return
            }
            var keep = true
            while keep {
                guard let request = readRequest(client) else { break }
                lock.withLock { received.append(request) }
                switch script(index, request) {
                case .answer(let text): _ = Array(text.utf8).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                case .answerAndClose(let text):
                    _ = Array(text.utf8).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    keep = false
                case .close: keep = false
                case .silence:
                    var byte: UInt8 = 0
                    _ = recv(client, &byte, 1, 0)  // until the client gives up
                    keep = false
                }
                index += 1
            }
            lock.withLock { open.removeAll { $0 == client } }
            Glibc.close(client)
        }
    }

    /// One request: headers, then Content-Length bytes of body.
    private func readRequest(_ fd: Int32) -> String? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let end = String(decoding: bytes, as: UTF8.self).range(of: "\r\n\r\n") {
                let head = String(decoding: bytes, as: UTF8.self)[..<end.lowerBound]
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                let headBytes = head.utf8.count + 4
                if bytes.count >= headBytes + length { return String(decoding: bytes[..<(headBytes + length)], as: UTF8.self) }
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }
            bytes.append(contentsOf: buffer[..<count])
        }
    }
}
