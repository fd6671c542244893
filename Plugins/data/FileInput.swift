#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PluginKit

/// A file read through one buffer of fixed size (1 MiB by default) that
/// grows only when a single line or record does not fit, and never beyond
/// `limit` bytes. The loaders never hold the whole file.
///
/// The unread data is `base[start..<end]`. A UTF-8 byte order mark at the
/// start of the file is skipped.
final class FileInput {
    let path: String
    private var fd: Int32
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// The most the buffer may grow to.
    let limit: Int
    var start = 0
    private(set) var end = 0
    /// The file offset of `base[0]`.
    private(set) var baseOffset = 0
    private(set) var atEOF = false
    /// The file's size when it was opened (0 if it has none, like a pipe).
    private(set) var fileSize = 0
    private var checkedBOM = false
    private let initialCapacity: Int

    init(path: String, step: String, limit: Int, bufferSize: Int = 1 << 20) throws(StepError) {
        self.path = path
        self.limit = max(limit, 16)
        initialCapacity = min(bufferSize, self.limit)
        capacity = initialCapacity
        guard let memory = malloc(capacity) else { fatalError("out of memory allocating a read buffer") }
        base = memory.assumingMemoryBound(to: UInt8.self)
        // Every property is set from here on, so deinit runs (closing the
        // file, freeing the buffer) if init throws.
        // Without blocking: open(2) of a named pipe waits for a writer.
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .io(describingErrno { "\(step): cannot open \(path): \($0)" }) }
        var info = stat()
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw .io("\(step): cannot read \(path): it is a directory")
        }
        if (info.st_mode & S_IFMT) == S_IFIFO {
            // A resumed run reads its inputs again, which a pipe cannot give.
            throw .io("\(step): cannot read \(path): it is a named pipe (FIFO), not a file")
        }
        if (info.st_mode & S_IFMT) == S_IFREG { fileSize = Int(info.st_size) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    }

    deinit {
        if fd >= 0 { closeDescriptor(fd) }
        free(base)
    }

    /// The bytes of the file read and used so far (the offset of the first
    /// unread byte).
    var consumed: Int { baseOffset + start }

    /// Closes the file early (at the end of the data).
    func closeFile() {
        if fd >= 0 { closeDescriptor(fd) }
        fd = -1
    }

    /// Goes back to the start of the file, for another pass over it (the
    /// loaders read a file once for its column types, then for its rows).
    func rewind(step: String) throws(StepError) {
        guard fd >= 0 else { throw .internal("\(step): \(path) was closed before it was read again") }
        guard lseek(fd, 0, SEEK_SET) == 0 else {
            throw .io(describingErrno { "\(step): cannot go back to the start of \(path) to read it again: \($0)" })
        }
        start = 0
        end = 0
        baseOffset = 0
        atEOF = false
        checkedBOM = false
    }

    /// Reads more data after `end`, first moving the unread data to the
    /// front and, if the buffer is full, growing it (up to `limit`).
    /// Returns false if the buffer is full at its limit (nothing was read);
    /// at the end of the file sets `atEOF`.
    func fill(step: String) throws(StepError) -> Bool {
        if start > 0 {
            let pending = end - start
            if pending > 0 { memmove(base, base + start, pending) }
            baseOffset += start
            end = pending
            start = 0
        }
        if end == capacity {
            guard capacity < limit else { return false }
            let size = capacity > limit / 2 ? limit : capacity * 2
            guard let memory = realloc(base, size) else { fatalError("out of memory growing a read buffer to \(size) bytes") }
            base = memory.assumingMemoryBound(to: UInt8.self)
            capacity = size
        } else if end == 0 && capacity > initialCapacity, let memory = realloc(base, initialCapacity) {
            // A long line is behind us: give the memory back.
            base = memory.assumingMemoryBound(to: UInt8.self)
            capacity = initialCapacity
        }
        while true {
            guard fd >= 0 else {
                atEOF = true
                return true
            }
            let n = read(fd, base + end, capacity - end)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(describingErrno { "\(step): cannot read \(path): \($0)" })
            }
            if n == 0 { atEOF = true } else { end += n }
            break
        }
        if !checkedBOM && (end >= 3 || atEOF || baseOffset > 0) {
            checkedBOM = true
            // Only at the very start of the file.
            if baseOffset == 0 && start == 0 && end >= 3 && base[0] == 0xEF && base[1] == 0xBB && base[2] == 0xBF {
                start = 3
            }
        }
        return true
    }

    /// Drops the unread data and reads on until just after the next
    /// newline (or the end of the file), without keeping what it skips.
    func skipPastNewline(step: String) throws(StepError) {
        while true {
            if let newline = memchr(base + start, 0x0A, end - start) {
                start = UnsafeMutableRawPointer(newline).assumingMemoryBound(to: UInt8.self) - base + 1
                return
            }
            baseOffset += end
            start = 0
            end = 0
            if atEOF { return }
            _ = try fill(step: step)
        }
    }
}

/// One line of a file, valid until the next call to `LineReader.next`.
struct Line {
    /// The bytes without the line end (`\n` or `\r\n`).
    var bytes: UnsafePointer<UInt8>
    var count: Int
    /// 1-based.
    var number: Int
    /// False for a last line that has no newline.
    var terminated: Bool
    /// Offset of the first byte in the file.
    var fileOffset: Int

    /// Empty, or only spaces and tabs.
    var isBlank: Bool {
        for i in 0..<count where bytes[i] != 0x20 && bytes[i] != 0x09 && bytes[i] != 0x0D { return false }
        return true
    }
}

/// Splits a file into lines of at most `maxLineBytes` bytes (line end
/// excluded). A longer line is reported as `.tooLong` and skipped without
/// being read into memory.
final class LineReader {
    enum Next {
        case line(Line)
        case tooLong(number: Int)
    }

    let input: FileInput
    let maxLineBytes: Int
    private var scanned = 0        // no newline in input[start..<scanned]
    private var lineNumber = 0

    init(path: String, step: String, maxLineBytes: Int) throws(StepError) {
        self.maxLineBytes = maxLineBytes
        // Room for the longest allowed line plus "\r\n".
        input = try FileInput(path: path, step: step, limit: maxLineBytes + 2)
    }

    var path: String { input.path }

    func next(step: String) throws(StepError) -> Next? {
        while true {
            let start = input.start, end = input.end, base = input.base
            if scanned < start { scanned = start }
            if let found = memchr(base + scanned, 0x0A, end - scanned) {
                let newline = UnsafeMutableRawPointer(found).assumingMemoryBound(to: UInt8.self) - base
                lineNumber += 1
                var count = newline - start
                if count > 0 && base[start + count - 1] == 0x0D { count -= 1 }
                let line = Line(bytes: base + start, count: count, number: lineNumber, terminated: true,
                                fileOffset: input.baseOffset + start)
                input.start = newline + 1
                scanned = newline + 1
                if count > maxLineBytes { return .tooLong(number: lineNumber) }
                return .line(line)
            }
            scanned = end
            if end - start > maxLineBytes + 1 {
                // Too long whatever comes next: skip to the next line.
                lineNumber += 1
                try input.skipPastNewline(step: step)
                scanned = input.start
                return .tooLong(number: lineNumber)
            }
            if input.atEOF {
                guard start < end else { return nil }
                lineNumber += 1
                var count = end - start
                if base[start + count - 1] == 0x0D { count -= 1 }
                let line = Line(bytes: base + start, count: count, number: lineNumber, terminated: false,
                                fileOffset: input.baseOffset + start)
                input.start = end
                scanned = end
                if count > maxLineBytes { return .tooLong(number: lineNumber) }
                return .line(line)
            }
            _ = try input.fill(step: step)
            // The pending bytes moved (and a byte order mark may have been
            // dropped): scan them again, it is at most one partial line.
            scanned = input.start
        }
    }

    func close() { input.closeFile() }

    /// Goes back to the first line.
    func rewind(step: String) throws(StepError) {
        try input.rewind(step: step)
        scanned = 0
        lineNumber = 0
    }
}
