#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// A Parquet file opened for reading: the footer (read from a 64 KiB tail,
// as pyarrow does, and a second read only for a larger footer), the schema
// tree rebuilt from its flattened list, and reads of column data by byte
// range (ColumnChunkReader reads a chunk a page at a time). The file is
// opened read-only.

/// A node of the schema tree: a group (children) or a leaf (a column).
public final class SchemaNode: Sendable {
    public let element: SchemaElement
    public let children: [SchemaNode]
    /// Names from below the root down to this node.
    public let path: [String]
    /// The definition level when this node is present: the non-REQUIRED
    /// nodes from below the root down to it, itself included.
    public let definitionLevel: Int
    /// The REPEATED nodes from below the root down to it, itself included.
    public let repetitionLevel: Int
    /// For a leaf: its column index (the order of `RowGroup.columns`).
    public let leafIndex: Int?
    /// The leaf columns under this node (itself, for a leaf), in order.
    public let leaves: [Int]

    init(element: SchemaElement, children: [SchemaNode], path: [String], definitionLevel: Int, repetitionLevel: Int,
         leafIndex: Int?, leaves: [Int]) {
        self.element = element
        self.children = children
        self.path = path
        self.definitionLevel = definitionLevel
        self.repetitionLevel = repetitionLevel
        self.leafIndex = leafIndex
        self.leaves = leaves
    }

    public var name: String { element.name }
    public var repetition: Repetition { element.repetition ?? .required }
    public var isLeaf: Bool { leafIndex != nil }
    public var dottedPath: String { path.joined(separator: ".") }
}

/// A leaf column's place in the schema.
public struct LeafColumn: Sendable {
    public let node: SchemaNode
    public let physicalType: PhysicalType
    public let maxDefinitionLevel: Int
    public let maxRepetitionLevel: Int
    public var dottedPath: String { node.dottedPath }
}

/// The file's footer and schema, and reads of its bytes.
public final class ParquetFileReader {
    public let path: String
    public let fileSize: Int64
    public let metadata: FileMetaData
    /// The root's children: the top-level columns.
    public let roots: [SchemaNode]
    public let leaves: [LeafColumn]
    private let fd: Int32
    /// Where the footer starts: column data lies before it.
    private let dataEnd: Int64

    /// The tail read at once, as pyarrow's `kDefaultFooterReadSize`.
    static let footerReadSize = 64 * 1024
    /// Schema trees deeper than this are refused (Arrow bounds nesting too).
    static let maxSchemaDepth = 64

    public init(path: String) throws(ParquetError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io("cannot open \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .io("cannot stat \(path): \(reason)")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .io("\(path) is not a regular file")
        }
        self.fd = fd
        fileSize = Int64(info.st_size)
        do throws(ParquetError) {
            guard fileSize >= 12 else { throw .corrupt("a file of \(fileSize) bytes is too short for Parquet (at least 12)") }
            let tailSize = Int(min(Int64(Self.footerReadSize), fileSize))
            var tail = try Self.read(fd: fd, path: path, at: fileSize - Int64(tailSize), count: tailSize)
            let magic = Array(tail[(tailSize - 4)...])
            if magic == Array("PARE".utf8) { throw .unsupported("encryption (the file ends in PARE, an encrypted footer)") }
            guard magic == Array("PAR1".utf8) else { throw .corrupt("the file does not end in PAR1 (not a Parquet file?)") }
            let head = try Self.read(fd: fd, path: path, at: 0, count: 4)
            guard head == Array("PAR1".utf8) else { throw .corrupt("the file does not start with PAR1") }
            let length = Int64(tail[tailSize - 8]) | Int64(tail[tailSize - 7]) << 8 | Int64(tail[tailSize - 6]) << 16
                | Int64(tail[tailSize - 5]) << 24
            guard length > 0, length <= fileSize - 12 else {
                throw .corrupt("a footer of \(length) bytes in a file of \(fileSize)")
            }
            dataEnd = fileSize - 8 - length
            if Int(length) + 8 > tailSize {
                tail = try Self.read(fd: fd, path: path, at: dataEnd, count: Int(length))
            } else {
                tail = Array(tail[(tailSize - 8 - Int(length))..<(tailSize - 8)])
            }
            metadata = try withBytes(tail) { (bytes) throws(ParquetError) in try FileMetaData.decode(bytes) }
            (roots, leaves) = try Self.buildTree(metadata.schema)
            try checkRowGroups()
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Rebuilds the tree from the depth-first list (root first).
    private static func buildTree(_ schema: [SchemaElement]) throws(ParquetError) -> ([SchemaNode], [LeafColumn]) {
        guard let root = schema.first else { throw .corrupt("an empty schema") }
        guard let rootChildren = root.numChildren, rootChildren >= 0 else {
            throw .corrupt("the schema root \"\(root.name)\" has no num_children")
        }
        var next = 1
        var leaves: [LeafColumn] = []
        func node(parentPath: [String], def: Int, rep: Int, depth: Int) throws(ParquetError) -> SchemaNode {
            guard next < schema.count else { throw .corrupt("the schema list ends before its tree does") }
            guard depth <= maxSchemaDepth else { throw .corrupt("a schema nested deeper than \(maxSchemaDepth)") }
            let element = schema[next]
            next += 1
            let path = parentPath + [element.name]
            let repetition = element.repetition ?? .required
            let myDef = def + (repetition == .required ? 0 : 1)
            let myRep = rep + (repetition == .repeated ? 1 : 0)
            if let count = element.numChildren, element.type == nil || count > 0 {
                guard count > 0 else {
                    throw .corrupt("the group \(path.joined(separator: ".")) has \(count) children")
                }
                guard count <= schema.count - next else {
                    throw .corrupt("the group \(path.joined(separator: ".")) says \(count) children, the schema lists fewer")
                }
                var children: [SchemaNode] = []
                for _ in 0..<Int(count) {
                    children.append(try node(parentPath: path, def: myDef, rep: myRep, depth: depth + 1))
                }
                return SchemaNode(element: element, children: children, path: path, definitionLevel: myDef,
                                  repetitionLevel: myRep, leafIndex: nil, leaves: children.flatMap(\.leaves))
            }
            guard let type = element.type else {
                throw .corrupt("the schema element \(path.joined(separator: ".")) has neither a type nor children")
            }
            let index = leaves.count
            let leaf = SchemaNode(element: element, children: [], path: path, definitionLevel: myDef, repetitionLevel: myRep,
                                  leafIndex: index, leaves: [index])
            leaves.append(LeafColumn(node: leaf, physicalType: type, maxDefinitionLevel: myDef, maxRepetitionLevel: myRep))
            return leaf
        }
        var roots: [SchemaNode] = []
        for _ in 0..<Int(rootChildren) {
            roots.append(try node(parentPath: [], def: 0, rep: 0, depth: 1))
        }
        guard next == schema.count else {
            throw .corrupt("the schema lists \(schema.count) elements, its tree uses \(next)")
        }
        return (roots, leaves)
    }

    /// Every row group has one chunk per leaf, each naming its leaf.
    private func checkRowGroups() throws(ParquetError) {
        guard metadata.numRows >= 0 else { throw .corrupt("FileMetaData.num_rows is \(metadata.numRows)") }
        var total: Int64 = 0
        for (g, group) in metadata.rowGroups.enumerated() {
            guard group.numRows >= 0 else { throw .corrupt("row group \(g) has \(group.numRows) rows") }
            guard group.columns.count == leaves.count else {
                throw .corrupt("row group \(g) has \(group.columns.count) column chunks for \(leaves.count) leaf columns")
            }
            total = total &+ group.numRows
        }
        guard total == metadata.numRows else {
            throw .corrupt("the row groups hold \(total) rows, the footer says \(metadata.numRows)")
        }
    }

    /// The byte range of a column chunk, as pyarrow computes it
    /// (`ComputeColumnChunkRange`): from the dictionary page if it comes
    /// first, `total_compressed_size` long, inside the file's data.
    public func chunkRange(_ chunk: ColumnChunk) throws(ParquetError) -> (offset: Int64, count: Int) {
        if let external = chunk.filePath {
            throw .unsupported("column data in another file (ColumnChunk.file_path \"\(external)\")")
        }
        guard let meta = chunk.metaData else { throw .corrupt("a column chunk without meta_data") }
        var start = meta.dataPageOffset
        if let dictionary = meta.dictionaryPageOffset, dictionary > 0, dictionary < start { start = dictionary }
        let length = meta.totalCompressedSize
        guard start >= 4, length >= 0, start <= dataEnd, length <= dataEnd - start else {
            throw .corrupt("a column chunk at byte \(start), \(length) bytes long, outside the data (4..<\(dataEnd))")
        }
        return (start, Int(length))
    }

    /// Reads `count` bytes at `offset`.
    public func read(at offset: Int64, count: Int) throws(ParquetError) -> [UInt8] {
        try Self.read(fd: fd, path: path, at: offset, count: count)
    }

    /// Fills `buffer` with the bytes at `offset` (a page read into a buffer the reader keeps).
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(ParquetError) {
        try Self.read(fd: fd, path: path, at: offset, into: buffer)
    }

    private static func read(fd: Int32, path: String, at offset: Int64, count: Int) throws(ParquetError) -> [UInt8] {
        guard count > 0 else { return [] }
        var failure: ParquetError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(ParquetError) {
                try read(fd: fd, path: path, at: offset, into: UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
                buffer.initialize(repeating: 0)
            }
            initialized = count
        }
        if let failure { throw failure }
        return bytes
    }

    private static func read(fd: Int32, path: String, at offset: Int64, into buffer: UnsafeMutableRawBufferPointer)
        throws(ParquetError) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        var done = 0
        while done < count {
            let n = pread(fd, base + done, count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                throw .io("\(path) ended at byte \(offset + Int64(done)) while \(count) bytes were read at \(offset) (did it change?)")
            }
            done += n
        }
    }
}
