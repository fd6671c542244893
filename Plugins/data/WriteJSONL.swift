#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PluginKit

/// Writes every input row as one compact JSON object per line (a sink: it
/// emits no rows).
///
/// The rows go to a temporary file of its own next to the final one
/// (`.<name>.<random>.tmp`, created exclusively), through a 1 MiB buffer. `finish` flushes, fsyncs
/// and renames it over the final path, so a reader never sees a half
/// written file; an instance destroyed without `finish` removes the
/// temporary file. With no input rows the result is an empty file.
struct WriteJSONL: PipelineStep {
    struct Parameters: Decodable {
        var path: String
        var include_row_id: Bool?
        var overwrite: Bool?
    }

    static let name = "write_jsonl"

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.write_jsonl", name: name, version: "1.1.0",
        description: """
            Writes each row as one compact JSON object line, columns in batch order (null values \
            written as null; floats in their shortest round-trip form, integral ones with ".0", \
            NaN and infinities as null; lists, nested to any depth, as arrays; structs as objects, \
            members in field order, a member marked pipeline.null_is_absent left out where it is null; \
            text of the arrow.json extension type as the JSON it holds, checked). The file appears, \
            complete, when the step finishes: it is written to a temporary file in the same directory \
            and renamed.
            """,
        inputs: [.init("*", "any", description: "Every column is written (_row_id only with include_row_id).")],
        outputs: [],
        parameterSchema: """
            {"type":"object","additionalProperties":false,"required":["path"],
             "properties":{
              "path":{"type":"string","format":"output-path","description":"The JSON Lines file to write; parent directories are created."},
              "include_row_id":{"type":"boolean","default":false,"description":"Also write the host's _row_id column."},
              "overwrite":{"type":"boolean","default":true,"description":"Replace an existing file; if false, an existing file makes the step fail before it runs."}}}
            """,
        deterministic: false, stateful: true)

    private let sink: OutputFile
    private let includeRowId: Bool
    private var rowsWritten = 0

    init(parameters: Parameters, context: StepContext) throws(StepError) {
        let path = try Check.path(parameters.path, step: Self.name)
        includeRowId = parameters.include_row_id ?? false
        sink = try OutputFile(path: path, overwrite: parameters.overwrite ?? true, step: Self.name)
    }

    mutating func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        if context.isCancelled { throw .cancelled(Self.name) }
        let line = JSONLineWriter(batch, includeRowId: includeRowId, step: Self.name)
        let out = sink.buffer
        for row in 0..<batch.length {
            try line.append(row, to: out)
            if out.count >= OutputFile.flushThreshold { try sink.flush() }
        }
        rowsWritten += batch.length
        return nil
    }

    mutating func finish(context: StepContext) throws(StepError) -> RecordBatch? {
        if try sink.commit() {
            context.log(.info, "\(Self.name): wrote \(rowsWritten) rows to \(sink.path)")
        }
        return nil
    }
}

/// A file written under a temporary name and renamed into place on commit.
final class OutputFile {
    static let flushThreshold = 1 << 20

    let path: String
    let temporaryPath: String
    let buffer = ByteArena(capacity: (1 << 20) + (1 << 16))
    private let step: String
    private let overwrite: Bool
    private var fd: Int32 = -1
    private var committed = false

    init(path: String, overwrite: Bool, step: String) throws(StepError) {
        self.path = path
        self.step = step
        self.overwrite = overwrite
        guard !path.hasSuffix("/") else { throw .invalidArgument("\(step): path \(path) names a directory, not a file") }
        let (directory, name) = splitPath(path)
        guard name != "." && name != ".." else { throw .invalidArgument("\(step): path \(path) names a directory, not a file") }
        var info = stat()
        if lstat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR {
                throw .invalidArgument("\(step): \(path) is a directory")
            }
            // The file is renamed into place: over a named pipe, a device
            // (/dev/stdout) or a link to one, that would replace the node
            // itself with a regular file.
            var target = stat()
            let type = (info.st_mode & S_IFMT) == S_IFLNK && stat(path, &target) == 0 ? target.st_mode & S_IFMT : info.st_mode & S_IFMT
            if type != S_IFREG && type != S_IFLNK {
                let kind = type == S_IFIFO ? "a named pipe (FIFO)" : type == S_IFCHR ? "a character device"
                    : type == S_IFBLK ? "a block device" : type == S_IFSOCK ? "a socket" : type == S_IFDIR ? "a directory" : "not a file"
                let via = (info.st_mode & S_IFMT) == S_IFLNK ? "a symbolic link to " : ""
                throw .invalidArgument("\(step): \(path) is \(via)\(kind), not a regular file; write to a file")
            }
            if !overwrite {
                throw .invalidArgument("\(step): \(path) already exists and overwrite is false (remove it, or set overwrite: true)")
            }
        }
        try makeDirectories(directory, step: step)
        (fd, temporaryPath) = try Self.createTemporary(directory: directory, name: name, path: path, step: step)
    }

    /// A new file next to `path`, `.<name>.<random>.tmp`, created with
    /// O_EXCL: unique to this writer (two writers, or two runs, never share
    /// one), and never an existing file, so nothing is opened for writing
    /// that anyone else reads. Long names are shortened to fit NAME_MAX.
    private static func createTemporary(directory: String, name: String, path: String,
                                        step: String) throws(StepError) -> (Int32, String) {
        // At most 200 bytes of the name, cut before a whole character.
        let bytes = Array(name.utf8)
        var cut = min(bytes.count, 200)
        while cut > 0, cut < bytes.count, bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
        let stem = bytes[..<cut]
        let prefix = (directory == "." && !path.hasPrefix("./") ? "" : directory == "/" ? "/" : directory + "/")
            + "." + String(decoding: stem, as: UTF8.self) + "."
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let candidate = prefix + String(generator.next() as UInt64, radix: 36) + ".tmp"
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 { return (fd, candidate) }
            if errno != EEXIST {
                throw .io(describingErrno { "\(step): cannot write \(path): cannot create a file in \(directory): \($0)" })
            }
        }
        throw .io("\(step): cannot write \(path): no unused temporary name in \(directory)")
    }

    deinit {
        if fd >= 0 { closeDescriptor(fd) }
        if !committed { unlink(temporaryPath) }
    }

    /// Writes the buffer out.
    func flush() throws(StepError) {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.base + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(describingErrno { "\(step): cannot write \(path): \($0)" })
            }
            offset += n
        }
        buffer.count = 0
    }

    /// Flushes, syncs and moves the file into place. True the first time.
    func commit() throws(StepError) -> Bool {
        guard !committed else { return false }
        try flush()
        guard fsync(fd) == 0 else { throw .io(describingErrno { "\(step): cannot write \(path): sync failed: \($0)" }) }
        let closed = close(fd)
        fd = -1
        guard closed == 0 else { throw .io(describingErrno { "\(step): cannot write \(path): close failed: \($0)" }) }
        if overwrite {
            guard rename(temporaryPath, path) == 0 else {
                throw .io(describingErrno { "\(step): cannot put \(path) in place: \($0)" })
            }
        } else if link(temporaryPath, path) == 0 {
            // link() fails if the final path exists: no overwrite, no race.
            unlink(temporaryPath)
        } else {
            let code = errno
            if code == EEXIST {
                throw .io("\(step): \(path) appeared while the step ran and overwrite is false; the output is not written")
            }
            // No hard links on this file system: check, then rename.
            var info = stat()
            guard lstat(path, &info) != 0 else {
                throw .io("\(step): \(path) appeared while the step ran and overwrite is false; the output is not written")
            }
            guard rename(temporaryPath, path) == 0 else {
                throw .io(describingErrno { "\(step): cannot put \(path) in place: \($0)" })
            }
        }
        committed = true
        // Make the rename durable too (best effort).
        let directory = open(splitPath(path).directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            closeDescriptor(directory)
        }
        return true
    }
}

/// The directory and last component of a path (`.` if it has no slash).
func splitPath(_ path: String) -> (directory: String, name: String) {
    let bytes = Array(path.utf8)
    guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return (".", path) }
    let name = String(decoding: bytes[(slash + 1)...], as: UTF8.self)
    if slash == 0 { return ("/", name) }
    return (String(decoding: bytes[..<slash], as: UTF8.self), name)
}

/// mkdir -p.
func makeDirectories(_ path: String, step: String) throws(StepError) {
    var info = stat()
    if stat(path, &info) == 0 {
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .io("\(step): cannot create the directory \(path): a file is in the way")
        }
        return
    }
    let parent = splitPath(path).directory
    if parent != path && parent != "." && parent != "/" { try makeDirectories(parent, step: step) }
    if mkdir(path, 0o777) != 0 && errno != EEXIST {
        throw .io(describingErrno { "\(step): cannot create the directory \(path): \($0)" })
    }
}
