import PluginKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a 2-d float32 matrix from a NumPy `.npy` file (format 1.0–3.0,
/// little-endian `<f4`, C order) row block by row block, so large pools of
/// embeddings load without a JSON float in sight.
final class NPYMatrixReader {
    let path: String
    let rows: Int
    let columns: Int
    private let descriptor: Int32
    /// Where the matrix starts in the file.
    private let dataOffset: Int
    private(set) var rowsRead = 0

    init(path: String, step: String) throws(StepError) {
        self.path = path
        // Without blocking: open(2) of a named pipe waits for a writer.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .io("\(step): cannot open \(path): \(String(cString: strerror(errno)))")
        }
        let fail = { (message: String) -> StepError in
            close(descriptor)
            return .invalidData("\(step): \(path): \(message)")
        }
        var kind = stat()
        if fstat(descriptor, &kind) == 0, (kind.st_mode & S_IFMT) != S_IFREG {
            throw fail((kind.st_mode & S_IFMT) == S_IFDIR ? "it is a directory" : "not a regular file")
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        var prefix = [UInt8](repeating: 0, count: 12)
        guard Self.readFully(descriptor, &prefix, 10) == 10, prefix.prefix(6).elementsEqual([0x93] + Array("NUMPY".utf8)) else {
            throw fail("not a .npy file (bad magic)")
        }
        let major = prefix[6]
        var headerLength: Int
        if major == 1 {
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8
        } else if major == 2 || major == 3 {
            var more = [UInt8](repeating: 0, count: 2)
            guard Self.readFully(descriptor, &more, 2) == 2 else { throw fail("truncated header") }
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8 | Int(more[0]) << 16 | Int(more[1]) << 24
        } else {
            throw fail("unsupported .npy format version \(major)")
        }
        guard headerLength > 0, headerLength < 1 << 20 else { throw fail("implausible header length \(headerLength)") }
        var header = [UInt8](repeating: 0, count: headerLength)
        guard Self.readFully(descriptor, &header, headerLength) == headerLength else { throw fail("truncated header") }
        let text = String(decoding: header, as: UTF8.self)
        guard text.contains("'descr': '<f4'") || text.contains("'descr': '|f4'") || text.contains("\"descr\": \"<f4\"") else {
            let shown = text.trimmingCharacters(in: .whitespacesAndNewlines)
            throw fail("the matrix must be float32 little-endian ('<f4'); header: \(shown.count > 200 ? shown.prefix(200) + "…" : shown)")
        }
        guard text.contains("'fortran_order': False") else { throw fail("the matrix must be in C order (fortran_order False)") }
        guard let open = text.range(of: "'shape': ("), let close = text[open.upperBound...].firstIndex(of: ")") else {
            throw fail("no shape in the header")
        }
        let dims = text[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard dims.count == 2, dims[0] >= 0, dims[1] > 0 else {
            let shape = text[open.upperBound..<close]
            throw fail("the matrix must be 2-d (rows × dimensions), shape is (\(shape.count > 200 ? shape.prefix(200) + "…" : shape))")
        }
        // A row must fit an Arrow fixed-size list (an Int32 width), and
        // rows × width × 4 must not overflow below.
        guard dims[1] <= Int(Int32.max) else { throw fail("\(dims[1]) dimensions are more than a column can hold") }
        let (rows, columns) = (dims[0], dims[1])
        let dataOffset = (major == 1 ? 10 : 12) + headerLength
        // Checked before the stored properties are set: a throw after that
        // would run deinit, closing the descriptor `fail` already closed.
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw fail("cannot stat: \(String(cString: strerror(errno)))") }
        let (matrixBytes, overflow) = rows.multipliedReportingOverflow(by: columns * 4)
        guard !overflow, Int(info.st_size) - dataOffset >= matrixBytes else {
            throw fail("the file holds \(max(Int(info.st_size) - dataOffset, 0) / (4 * columns)) of its \(rows) rows (truncated?)")
        }
        self.rows = rows
        self.columns = columns
        self.descriptor = descriptor
        self.dataOffset = dataOffset
    }

    deinit { close(descriptor) }

    /// The next `count` rows as an embedding column over a read-only
    /// mapping of the file: no copy, and the pages are the page cache's.
    /// Each batch maps its own range and unmaps it when its last column
    /// goes, so memory stays that of the batches in flight. Nil where the
    /// file cannot be mapped (the caller then reads).
    func mappedRows(_ count: Int, step: String) throws(StepError) -> ArrowColumn? {
        #if os(Linux)
        let start = dataOffset + rowsRead * columns * 4
        guard count > 0, start % 4 == 0 else { return nil }
        guard count <= rows - rowsRead else {
            throw .invalidData("\(step): \(path) has \(rows) rows, fewer than the rows of the JSON Lines file")
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let aligned = start - start % page
        let length = start + count * columns * 4 - aligned
        guard let mapping = FileMapping(descriptor: descriptor, offset: aligned, length: length) else { return nil }
        rowsRead += count
        return ArrowColumn.embeddings(rows: count, width: columns, floats: mapping.base + (start - aligned), owner: mapping)
        #else
        return nil
        #endif
    }

    /// Reads the next `buffer.count / (4 × columns)` rows into `buffer`
    /// (the column's own memory: no copy on the way).
    func readRows(into buffer: UnsafeMutableRawBufferPointer, step: String) throws(StepError) {
        let take = buffer.count / (4 * columns)
        guard take > 0, let base = buffer.baseAddress else { return }
        guard take <= rows - rowsRead else {
            throw .invalidData("\(step): \(path) has \(rows) rows, fewer than the rows of the JSON Lines file")
        }
        guard Self.readFully(descriptor, base, buffer.count, at: dataOffset + rowsRead * columns * 4) == buffer.count else {
            throw .invalidData("\(step): \(path): the file ends before its \(rows) rows")
        }
        #if _endian(big)
        let words = buffer.bindMemory(to: UInt32.self)
        for index in words.indices { words[index] = UInt32(littleEndian: words[index]) }
        #endif
        rowsRead += take
    }

    /// pread until `count` bytes from `offset` are in (the matrix is read
    /// by position, so mapped and read batches can follow each other).
    private static func readFully(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, at offset: Int) -> Int {
        var done = 0
        while done < count {
            let n = pread(descriptor, buffer + done, count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        return done
    }

    private static func readFully(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        var done = 0
        while done < count {
            let n = read(descriptor, buffer + done, count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        return done
    }

    private static func readFully(_ descriptor: Int32, _ bytes: inout [UInt8], _ count: Int) -> Int {
        bytes.withUnsafeMutableBytes { readFully(descriptor, $0.baseAddress!, count) }
    }
}

/// A read-only, private mapping of part of a file, unmapped with the last
/// reference. Populated at once (MAP_POPULATE), so the pages are in place
/// before a consumer on another thread reads them.
private final class FileMapping {
    let base: UnsafeRawPointer
    private let length: Int

    init?(descriptor: Int32, offset: Int, length: Int) {
        #if os(Linux)
        let flags = MAP_PRIVATE | MAP_POPULATE
        #else
        let flags = MAP_PRIVATE
        #endif
        guard let address = mmap(nil, length, PROT_READ, flags, descriptor, off_t(offset)),
              address != MAP_FAILED else { return nil }
        base = UnsafeRawPointer(address)
        self.length = length
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), length) }
}

