import ParquetFormat
import PluginKit

// Arrow fields as a Parquet schema, and Arrow columns shredded into the
// levels and values of its leaves (parquet-format README "Nested
// encoding"). Every node is OPTIONAL, so a null at any depth is kept:
//
//   null value / null list / null struct    one entry at the def level of its parent
//   empty list                              one entry at the list's own def level
//   list elements                           rep 0 for a row's first entry, then the list's rep level
//   value                                   def = the leaf's max level

/// How one Arrow node is shredded: a tree parallel to the Arrow type.
indirect enum ShredNode {
    /// A leaf: the index of its column writer and how to read the values.
    case leaf(column: Int, kind: LeafKind)
    /// A list (or fixed-size list): its repeated node's rep level and the
    /// leaves under it.
    case list(element: ShredNode, repLevel: UInt8, leaves: [Int])
    case structure(children: [ShredNode], leaves: [Int])

    var leaves: [Int] {
        switch self {
        case .leaf(let column, _): [column]
        case .list(_, _, let leaves), .structure(_, let leaves): leaves
        }
    }
}

enum LeafKind {
    case bool, int64, uint64, float32, float64, utf8, largeUtf8
}

/// The Parquet schema of a list of Arrow fields.
struct ParquetSchema {
    var elements: [SchemaElement]
    var leaves: [OutputLeaf]
    /// One per top-level field.
    var nodes: [ShredNode]

    init(fields: [ArrowField]) throws(ParquetError) {
        elements = [SchemaElement(repetition: .required, name: "schema", numChildren: Int32(fields.count))]
        leaves = []
        nodes = []
        for field in fields {
            nodes.append(try add(field.name, field.type, path: [], column: field.name, def: 0, rep: 0))
        }
    }

    /// Appends the elements of one OPTIONAL node named `name` (and its
    /// children), depth first. `def` and `rep` count the levels above it.
    private mutating func add(_ name: String, _ type: ArrowType, path: [String], column: String,
                              def: Int, rep: Int) throws(ParquetError) -> ShredNode {
        let path = path + [name]
        let here = def + 1
        func leaf(_ physical: PhysicalType, _ kind: LeafKind, logical: LogicalType? = nil,
                  converted: ConvertedType? = nil) -> ShredNode {
            elements.append(SchemaElement(type: physical, repetition: .optional, name: name,
                                          convertedType: converted?.rawValue, logicalType: logical))
            leaves.append(OutputLeaf(path: path, type: physical, maxDefinitionLevel: here, maxRepetitionLevel: rep,
                                     isUnsigned: kind == .uint64))
            return .leaf(column: leaves.count - 1, kind: kind)
        }
        switch type {
        case .bool: return leaf(.boolean, .bool)
        case .int64: return leaf(.int64, .int64)
        case .uint64: return leaf(.int64, .uint64, logical: .integer(bitWidth: 64, isSigned: false), converted: .uint64)
        case .float32: return leaf(.float, .float32)
        case .float64: return leaf(.double, .float64)
        case .utf8: return leaf(.byteArray, .utf8, logical: .string, converted: .utf8)
        case .largeUtf8: return leaf(.byteArray, .largeUtf8, logical: .string, converted: .utf8)
        case .list(let item), .fixedSizeList(let item, _):
            // <optional> group name (LIST) { repeated group list { optional element } }
            elements.append(SchemaElement(repetition: .optional, name: name, numChildren: 1,
                                          convertedType: ConvertedType.list.rawValue, logicalType: .list))
            elements.append(SchemaElement(repetition: .repeated, name: "list", numChildren: 1))
            let first = leaves.count
            let element = try add("element", item.type, path: path + ["list"], column: column, def: here + 1, rep: rep + 1)
            guard rep + 1 <= 255 && here + 2 <= 255 else {
                throw .unsupported("lists nested more than 255 levels deep (column \(column))")
            }
            return .list(element: element, repLevel: UInt8(rep + 1), leaves: Array(first..<leaves.count))
        case .structure(let members):
            guard !members.isEmpty else {
                throw .unsupported("a struct with no fields (column \(column)): Parquet has no empty groups")
            }
            elements.append(SchemaElement(repetition: .optional, name: name, numChildren: Int32(members.count)))
            let first = leaves.count
            var children: [ShredNode] = []
            for member in members {
                children.append(try add(member.name, member.type, path: path, column: column, def: here, rep: rep))
            }
            return .structure(children: children, leaves: Array(first..<leaves.count))
        }
    }
}

/// Appends rows of Arrow columns to the column writers.
struct Shredder {
    let writers: [ColumnChunkWriter]

    /// Rows `rows` of `column`, whose schema node is `node`.
    func shred(_ column: ArrowColumn, _ node: ShredNode, rows: Range<Int>) throws(ParquetError) {
        switch node {
        case .leaf(let index, let kind):
            // A top-level leaf: no repetition, def 0 or 1.
            let writer = writers[index]
            for i in rows {
                if column.isValid(i) { try value(column, i, kind, writer, rep: 0) } else { writer.appendNull(rep: 0, def: 0) }
            }
        default:
            for i in rows { try visit(node, column, i, def: 0, rep: 0) }
        }
    }

    /// Row (or item) `i` of `column`; `def` levels are present above it.
    private func visit(_ node: ShredNode, _ column: ArrowColumn, _ i: Int, def: UInt8, rep: UInt8) throws(ParquetError) {
        guard column.isValid(i) else {
            for leaf in node.leaves { writers[leaf].appendNull(rep: rep, def: def) }
            return
        }
        switch node {
        case .leaf(let index, let kind):
            try value(column, i, kind, writers[index], rep: rep)
        case .structure(let children, _):
            for (k, child) in children.enumerated() {
                try visit(child, column.children[k], column.offset + i, def: def + 1, rep: rep)
            }
        case .list(let element, let repLevel, let leaves):
            let range = column.valueRange(i)
            if range.isEmpty {
                for leaf in leaves { writers[leaf].appendNull(rep: rep, def: def + 1) }
                return
            }
            let items = column.items
            // Embeddings: non-null float items go in one call.
            if case .leaf(let index, .float32) = element, items.nullCount == 0 {
                let floats = items.values(as: Float.self)
                writers[index].append(floats: UnsafeBufferPointer(rebasing: floats[range]), firstRep: rep, nextRep: repLevel)
                return
            }
            var r = rep
            for j in range {
                try visit(element, items, j, def: def + 2, rep: r)
                r = repLevel
            }
        }
    }

    @inline(__always)
    private func value(_ column: ArrowColumn, _ i: Int, _ kind: LeafKind, _ writer: ColumnChunkWriter,
                       rep: UInt8) throws(ParquetError) {
        switch kind {
        case .bool: writer.append(bool: column.bool(i), rep: rep)
        case .int64: writer.append(int64: UInt64(bitPattern: column.int64(i)), rep: rep)
        case .uint64: writer.append(int64: column.uint64(i), rep: rep)
        case .float32: writer.append(floatBits: column.float32(i).bitPattern, rep: rep)
        case .float64: writer.append(doubleBits: column.float64(i).bitPattern, rep: rep)
        case .utf8, .largeUtf8:
            let bytes = column.utf8Bytes(i)
            guard bytes.count <= Int(Int32.max) else {
                throw .unsupported("a text value of \(bytes.count) bytes, over 2 GiB (column \(writer.leaf.dottedPath))")
            }
            writer.append(byteArray: bytes, rep: rep)
        }
    }
}
