#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file replacement that a reader, a crash or a second writer cannot
/// see half done: the bytes go to a new file of this call's own in the same
/// directory (`.<name>.<random>.tmp`, created with O_EXCL, so two writers
/// never share one and no existing file is opened for writing), are synced,
/// and the file is renamed over `path`; the directory is synced too. On any
/// failure the temporary file is removed and `path` is left as it was.
/// Used for every file the host writes whole: summaries, errors.jsonl.
public enum AtomicFile {
    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws(AtomicFileError) {
        let slash = path.utf8.lastIndex(of: UInt8(ascii: "/"))
        let directory = slash.map { $0 == path.utf8.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.utf8.index(after: $0)...]) } ?? path
        guard !name.isEmpty else { throw AtomicFileError(path: path, operation: "write", code: EISDIR) }
        // At most 200 bytes of the name, cut before a whole character.
        let nameBytes = Array(name.utf8)
        var cut = min(nameBytes.count, 200)
        while cut > 0, cut < nameBytes.count, nameBytes[cut] & 0xC0 == 0x80 { cut -= 1 }
        let stem = nameBytes[..<cut]
        let prefix = (slash == nil ? "" : directory == "/" ? "/" : directory + "/") + "." + String(decoding: stem, as: UTF8.self) + "."
        var generator = SystemRandomNumberGenerator()
        var fd: Int32 = -1
        var temporary = ""
        for _ in 0..<100 where fd < 0 {
            temporary = prefix + String(generator.next() as UInt64, radix: 36) + ".tmp"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd < 0 && errno != EEXIST { break }
        }
        guard fd >= 0 else { throw AtomicFileError(path: path, operation: "create a file in \(directory)", code: errno) }
        var failure: Int32 = 0
        let contiguous = bytes.withContiguousStorageIfAvailable { write(fd, $0) } ?? write(fd, Array(bytes))
        if contiguous != 0 { failure = contiguous }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure == 0 && rename(temporary, path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw AtomicFileError(path: path, operation: "write", code: failure)
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }

    public static func write(_ text: String, to path: String) throws(AtomicFileError) {
        try write(text.utf8, to: path)
    }

    /// Writes everything; 0, or the errno.
    private static func write(_ fd: Int32, _ buffer: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard let base = buffer.baseAddress else { return 0 }
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(fd, base + offset, buffer.count - offset)
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return written < 0 ? errno : EIO }
            offset += written
        }
        return 0
    }

    private static func write(_ fd: Int32, _ array: [UInt8]) -> Int32 {
        array.withUnsafeBufferPointer { write(fd, $0) }
    }
}

/// A file could not be written whole; the previous file at `path` is intact.
public struct AtomicFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    let operation: String
    let code: Int32

    public var description: String {
        "cannot write \(path): \(operation): \(String(cString: strerror(code)))"
    }
}
