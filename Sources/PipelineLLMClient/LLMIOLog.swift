import Foundation
import PipelineJSON

/// Where an LLM call's log line goes: the run's log file, or the lines of
/// the plugin call that made the request.
package protocol IOLogSink: AnyObject, Sendable {
    func append(line: JSONBytes)
    /// A request of the call waits for a provider batch's answer: the call's
    /// results are not kept, and its input is given to the step again.
    func markWaitsForBatch()
}

extension IOLogSink {
    /// A sink that is no plugin call's (the run's log) has no call to hold.
    package func markWaitsForBatch() {}
}

/// The teacher I/O log, `llm-io.jsonl`: one JSON line per LLM call (each
/// attempt), with the request body, the answer or error, status, latency
/// and tokens. API keys are never part of it: they only travel in a
/// header. [thread-safe]
///
/// Users build training sets from it, so it holds every answer that
/// reached the store exactly once, across kills: the lines of a plugin call
/// are collected with the call (`IOLogLines`) and written by the control
/// thread just before the call's results are committed, with the log's new
/// length (`RunStore.Commit.ioLogBytes`). A resumed run cuts the file back
/// to the committed length, so the lines of calls that were in flight at
/// a kill are dropped, and logged again when those calls are made again.
///
/// Lines are written by `JSONBytes` (the request body is spliced in as the
/// bytes that were sent, not serialized a second time), keys sorted as
/// `JSONValue.serialized` sorts them.
package final class LLMIOLog: IOLogSink, @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    /// The file's length: where the next line goes.
    private var length: Int64

    /// Opens (or creates) the log at `path`; with `committedLength`, a
    /// longer file is cut back to it first.
    package init?(path: String, committedLength: Int64? = nil) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            return nil
        }
        length = Int64(info.st_size)
        if let committedLength, committedLength < length, ftruncate(fd, off_t(committedLength)) == 0 {
            length = committedLength
        }
    }

    deinit { close(fd) }

    /// The file's length after everything written so far.
    package var bytes: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return length
    }

    /// Appends one record (an object) and its newline, at once (a line
    /// outside any plugin call).
    package func append(line: JSONBytes) {
        var bytes = line.bytes
        bytes.append(0x0A)
        write(bytes)
    }

    /// Writes whole lines; returns the file's length after them.
    @discardableResult
    package func write(_ bytes: [UInt8]) -> Int64 {
        lock.lock()
        defer { lock.unlock() }
        bytes.withUnsafeBytes { buffer in
            guard var base = buffer.baseAddress else { return }
            var left = buffer.count
            while left > 0 {
                let written = Glibc.write(fd, base, left)
                if written < 0 && errno == EINTR { continue }
                // A full disk: the log misses lines, the run goes on (the
                // answers themselves are in the store and the outputs).
                guard written > 0 else { return }
                base += written
                left -= written
                length += Int64(written)
            }
        }
        return length
    }
}

/// The log lines of one plugin call, written to the log by the control
/// thread when the call's results are committed. [thread-safe]
package final class IOLogLines: IOLogSink, @unchecked Sendable {
    private let lock = NSLock()
    private var buffer: [UInt8] = []

    private var waiting = false

    package init() {}

    package func markWaitsForBatch() {
        lock.lock()
        waiting = true
        lock.unlock()
    }

    /// A request of the call is in a provider batch that has not answered.
    package var waitsForBatch: Bool {
        lock.lock()
        defer { lock.unlock() }
        return waiting
    }

    package func append(line: JSONBytes) {
        lock.lock()
        buffer.append(contentsOf: line.bytes)
        buffer.append(0x0A)
        lock.unlock()
    }

    /// The lines so far; empties the buffer.
    package func take() -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        let lines = buffer
        buffer = []
        return lines
    }
}

/// Reads the vectors out of an OpenAI-style /embeddings answer without
/// building a JSONValue tree: `{"data": [{"index": i, "embedding": [...]}, ...], ...}`.
/// Numbers are read as Double (correctly rounded, as the JSON parser does),
/// then narrowed to Float. Malformed JSON in the parts it reads gives nil.
struct EmbeddingsReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// The widest vector so far: the next one reserves as much.
    private var width = 16
    /// Open objects and arrays: deeper than JSONValue's 256 levels is
    /// refused (the reader recurses; a server's answer must not overflow
    /// the stack).
    private var depth = 0

    /// The `count` vectors of the answer in index order, or nil when the
    /// answer is malformed or has another number of items.
    static func vectors(_ body: [UInt8], count: Int) -> [[Float]]? {
        body.withUnsafeBufferPointer { buffer in
            var reader = EmbeddingsReader(bytes: buffer)
            return reader.document(count: count)
        }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private mutating func document(count: Int) -> [[Float]]? {
        var vectors: [[Float]]?
        guard object({ reader, key in
            if key == "data" {
                guard let found = reader.data(count: count) else { return false }
                vectors = found
                return true
            }
            return reader.skipValue()
        }) else { return nil }
        skipSpace()
        guard index == bytes.count else { return nil }
        return vectors
    }

    private mutating func data(count: Int) -> [[Float]]? {
        skipSpace()
        guard peek == UInt8(ascii: "[") else { return nil }
        var vectors = [[Float]](repeating: [], count: count)
        var position = 0
        var malformed = false
        let parsed = array { reader in
            var itemIndex: Int?
            var embedding: [Float]?
            let ok = reader.object { reader, key in
                switch key {
                case "index":
                    guard let number = reader.number() else { return false }
                    itemIndex = number.rounded() == number && abs(number) < 9.0e15 ? Int(number) : -1
                    return true
                case "embedding":
                    guard let values = reader.floats() else { return false }
                    embedding = values
                    return true
                default:
                    return reader.skipValue()
                }
            }
            guard ok else { return false }
            let slot = itemIndex ?? position
            position += 1
            guard slot >= 0, slot < count, let embedding else { malformed = true; return true }
            vectors[slot] = embedding
            return true
        }
        guard parsed, !malformed, position == count else { return nil }
        return vectors
    }

    /// An array of numbers; other values in it are skipped (as before).
    private mutating func floats() -> [Float]? {
        skipSpace()
        guard peek == UInt8(ascii: "[") else { return nil }
        var values: [Float] = []
        values.reserveCapacity(width)
        let ok = array { reader in
            reader.skipSpace()
            if let byte = reader.peek, byte == UInt8(ascii: "-") || (byte >= 0x30 && byte <= 0x39) {
                guard let number = reader.number() else { return false }
                values.append(Float(number))
                return true
            }
            return reader.skipValue()
        }
        width = max(width, values.count)
        return ok ? values : nil
    }

    // MARK: JSON structure

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8) -> Bool {
        skipSpace()
        guard peek == byte else { return false }
        index += 1
        return true
    }

    /// `{ "key": value, ... }`; `member` reads the value after the colon.
    private mutating func object(_ member: (inout EmbeddingsReader, String) -> Bool) -> Bool {
        guard depth < 256, expect(UInt8(ascii: "{")) else { return false }
        depth += 1
        defer { depth -= 1 }
        if expect(UInt8(ascii: "}")) { return true }
        while true {
            skipSpace()
            guard let key = string(), expect(UInt8(ascii: ":")), member(&self, key) else { return false }
            if expect(UInt8(ascii: ",")) { continue }
            return expect(UInt8(ascii: "}"))
        }
    }

    /// `[ value, ... ]`; `element` reads one value.
    private mutating func array(_ element: (inout EmbeddingsReader) -> Bool) -> Bool {
        guard depth < 256, expect(UInt8(ascii: "[")) else { return false }
        depth += 1
        defer { depth -= 1 }
        if expect(UInt8(ascii: "]")) { return true }
        while true {
            guard element(&self) else { return false }
            if expect(UInt8(ascii: ",")) { continue }
            return expect(UInt8(ascii: "]"))
        }
    }

    /// A string token, decoded (escapes through the full JSON parser).
    private mutating func string() -> String? {
        guard peek == UInt8(ascii: "\"") else { return nil }
        let start = index
        index += 1
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 2
                continue
            }
            if byte < 0x20 { return nil }
            index += 1
            if byte == UInt8(ascii: "\"") {
                let token = UnsafeBufferPointer(rebasing: bytes[start..<index])
                if !escaped { return String(validating: token.dropFirst().dropLast(), as: UTF8.self) }
                guard let text = String(validating: token, as: UTF8.self) else { return nil }
                return (try? JSONValue(parsing: text))?.stringValue
            }
        }
        return nil
    }

    private mutating func skipValue() -> Bool {
        skipSpace()
        guard let byte = peek else { return false }
        switch byte {
        case UInt8(ascii: "\""): return string() != nil
        case UInt8(ascii: "{"): return object { reader, _ in reader.skipValue() }
        case UInt8(ascii: "["): return array { reader in reader.skipValue() }
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number() != nil
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
        index += count
        return true
    }

    private mutating func number() -> Double? {
        skipSpace()
        return JSONNumber.read(bytes, at: &index)
    }
}
