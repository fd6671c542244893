// llm-test-server: a deterministic OpenAI-compatible server on loopback for
// tests, `make run` and the benchmarks. See Config.usage for the flags.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func closeInheritedDescriptors() {
    guard let directory = opendir("/proc/self/fd") else { return }
    let own = dirfd(directory)
    var strays: [Int32] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if let fd = Int32(name), fd > 2, fd != own { strays.append(fd) }
    }
    closedir(directory)
    for fd in strays { close(fd) }
}

func writeOut(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
        if n < 0, errno == EINTR { continue }
        guard n > 0 else { return }
        offset += n
    }
    bytes.removeAll()
}

// A parent such as a test runner may start us with signals blocked (the mask
// is inherited across exec) and with its own sockets open (descriptors
// without close-on-exec). Unblock the signals that stop us, and close the
// strays: a leaked copy of another connection's socket would keep that
// connection open after its owner closes it.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGTERM)
sigaddset(&stopSignals, SIGINT)
pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
closeInheritedDescriptors()

let parsed: Config?
do {
    parsed = try Config.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    writeOut(2, "llm-test-server: \(error.message)\n(run llm-test-server --help for the options)\n")
    exit(2)
}
guard let config = parsed else {
    writeOut(1, Config.usage + "\n")
    exit(0)
}

// SIGTERM and SIGINT end the process at once with 0: nothing needs saving.
signal(SIGTERM) { _ in _exit(0) }
signal(SIGINT) { _ in _exit(0) }
signal(SIGPIPE, SIG_IGN)

let listener: (fd: Int32, port: Int)
do {
    listener = try Listener.open(port: config.port)
} catch {
    writeOut(2, "llm-test-server: \(error.message)\n")
    exit(1)
}

if let portFile = config.portFile {
    do {
        try "\(listener.port)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
    } catch {
        writeOut(2, "llm-test-server: cannot write the port file \(portFile): \(error)\n")
        exit(1)
    }
}

writeOut(1, "llm-test-server listening on http://127.0.0.1:\(listener.port)\n")
Listener.serve(fd: listener.fd, handler: Server(config: config))
