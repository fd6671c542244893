#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain writes to stdout and stderr, unbuffered for stderr.
enum FileHandleOutput {
    static func standardOutput(_ line: String) { write(1, line + "\n") }
    static func standardError(_ line: String) { write(2, line + "\n") }

    static func write(_ descriptor: Int32, _ text: String) {
        var text = text
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, base + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// Keeps stdout for one document (`--summary-json`): the real stdout is
/// set aside and descriptor 1 points at stderr until the end, so whatever
/// else would print there (a chatty plugin) cannot corrupt the JSON.
struct ReservedStandardOutput {
    /// The real stdout (-1 if it could not be set aside).
    let descriptor: Int32

    init() {
        let saved = dup(1)
        if saved >= 0 {
            _ = fcntl(saved, F_SETFD, FD_CLOEXEC)
            _ = dup2(2, 1)
        }
        descriptor = saved
    }

    /// Writes the document to the real stdout.
    func write(_ line: String) {
        FileHandleOutput.write(descriptor >= 0 ? descriptor : 1, line + "\n")
    }
}

enum Environment {
    static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
