import ParquetFormat
import PluginKit

// The Parquet schema mapped to Arrow fields (the table in PluginParquet.swift),
// and the levels of a row group's leaves assembled back into Arrow columns.
//
// Each top-level column becomes a `ColumnShape`: a tree that mirrors the
// Arrow type and carries the levels that decide, entry by entry, what an
// Arrow slot is. A node is present when an entry's definition level reaches
// the node's; a list's slot exists when it reaches its repeated node's; a
// repetition level at a list's own level continues that list. A null or
// empty node covers exactly one entry of every leaf under it.

/// How a leaf's physical values become Arrow values.
enum LeafConversion: Sendable {
    case bool, int32, uint32, int64, uint64, float, double, utf8
}

/// A top-level column (or a nested part of it) as the assembler walks it.
indirect enum ColumnShape: Sendable {
    /// A value of leaf `leaf`: present when the definition level reaches `def`.
    case leaf(leaf: Int, def: Int, conversion: LeafConversion)
    /// A struct, present when the level reaches `def`; `leaves` are all the leaves under it.
    case structure(fields: [ColumnShape], def: Int, leaves: [Int])
    /// A list: null below `listDef`, empty at `listDef` when no slot exists
    /// (`slotDef`), elements continue at repetition level `rep`.
    case list(element: ColumnShape, listDef: Int, slotDef: Int, rep: Int, leaves: [Int])

    var leaves: [Int] {
        switch self {
        case .leaf(let leaf, _, _): [leaf]
        case .structure(_, _, let leaves), .list(_, _, _, _, let leaves): leaves
        }
    }
}

/// Maps schema nodes to Arrow fields and shapes; refuses, by name and
/// column path, what the table does not cover.
enum SchemaMapping {
    /// The Arrow field and shape of a top-level node.
    static func map(_ node: SchemaNode) throws(ParquetError) -> (ArrowField, ColumnShape) {
        try map(node, parentDef: 0)
    }

    private static func map(_ node: SchemaNode, parentDef: Int) throws(ParquetError) -> (ArrowField, ColumnShape) {
        if node.repetition == .repeated {
            // A repeated field outside a LIST group: a non-null list of required elements.
            let (item, element) = try mapIgnoringRepetition(node)
            return (ArrowField(node.name, .list(item), nullable: false),
                    .list(element: element, listDef: parentDef, slotDef: node.definitionLevel,
                          rep: node.repetitionLevel, leaves: node.leaves))
        }
        return try mapIgnoringRepetition(node)
    }

    /// The node as a value: its own repetition is its parent's business.
    private static func mapIgnoringRepetition(_ node: SchemaNode) throws(ParquetError) -> (ArrowField, ColumnShape) {
        let nullable = node.repetition == .optional
        if node.isLeaf {
            let (type, conversion, metadata) = try leafType(node)
            return (ArrowField(node.name, type, nullable: nullable, metadata: metadata),
                    .leaf(leaf: node.leaves[0], def: node.definitionLevel, conversion: conversion))
        }
        let element = node.element
        if element.logicalType == .map || element.convertedType == ConvertedType.map.rawValue
            || element.convertedType == ConvertedType.mapKeyValue.rawValue {
            throw .unsupported("maps (the MAP group \(node.dottedPath))")
        }
        if element.logicalType == .list || element.convertedType == ConvertedType.list.rawValue {
            return try mapList(node, nullable: nullable)
        }
        if let logical = element.logicalType {
            throw .unsupported("the logical type \(logical) on the group \(node.dottedPath)")
        }
        var fields: [ArrowField] = []
        var shapes: [ColumnShape] = []
        for child in node.children {
            let (field, shape) = try map(child, parentDef: node.definitionLevel)
            fields.append(field)
            shapes.append(shape)
        }
        return (ArrowField(node.name, .structure(fields), nullable: nullable),
                .structure(fields: shapes, def: node.definitionLevel, leaves: node.leaves))
    }

    /// A LIST group: three levels (list / element), or a legacy two-level
    /// form (LogicalTypes.md "Backward-compatibility rules").
    private static func mapList(_ node: SchemaNode, nullable: Bool) throws(ParquetError) -> (ArrowField, ColumnShape) {
        guard node.children.count == 1, let repeated = node.children.first, repeated.repetition == .repeated else {
            throw .unsupported("a LIST group whose only child is not repeated (\(node.dottedPath))")
        }
        let itemField: ArrowField
        let element: ColumnShape
        let isTwoLevel = repeated.isLeaf || repeated.children.count > 1 || repeated.name == "array"
            || repeated.name == node.name + "_tuple"
        if isTwoLevel {
            // The repeated node is the element, and elements are required.
            (itemField, element) = try mapIgnoringRepetition(repeated)
        } else {
            (itemField, element) = try map(repeated.children[0], parentDef: repeated.definitionLevel)
        }
        return (ArrowField(node.name, .list(itemField), nullable: nullable),
                .list(element: element, listDef: node.definitionLevel, slotDef: repeated.definitionLevel,
                      rep: repeated.repetitionLevel, leaves: node.leaves))
    }

    /// The Arrow type of a leaf, from its physical type and annotation.
    private static func leafType(_ node: SchemaNode) throws(ParquetError) -> (ArrowType, LeafConversion, [String: String]) {
        let element = node.element
        let physical = element.type ?? .unknown(-1)
        let logical = element.logicalType
        let converted = element.convertedType
        func refuse(_ what: String) -> ParquetError {
            .unsupported("\(what) (\(physical.name) column \(node.dottedPath))")
        }
        if let logical {
            switch logical {
            case .string, .enumeration, .json, .integer: break
            case .decimal: throw refuse("decimals")
            case .date: throw refuse("dates")
            case .time: throw refuse("times")
            case .timestamp: throw refuse("timestamps")
            case .unknown: throw refuse("the null type (logical type UNKNOWN)")
            case .bson: throw refuse("BSON")
            case .uuid: throw refuse("UUIDs")
            case .float16: throw refuse("float16")
            case .map, .list: throw refuse("a \(logical) annotation on a leaf")
            case .other(let id): throw refuse("the logical type with id \(id)")
            }
        } else if let converted, let kind = ConvertedType(rawValue: converted) {
            switch kind {
            case .utf8, .enumeration, .json, .uint8, .uint16, .uint32, .uint64, .int8, .int16, .int32, .int64: break
            case .decimal: throw refuse("decimals")
            case .date: throw refuse("dates")
            case .timeMillis, .timeMicros: throw refuse("times")
            case .timestampMillis, .timestampMicros: throw refuse("timestamps")
            case .interval: throw refuse("intervals")
            case .bson: throw refuse("BSON")
            case .map, .mapKeyValue, .list: throw refuse("a \(kind) annotation on a leaf")
            }
        } else if let converted {
            throw refuse("the converted type \(converted)")
        }
        let isText = logical == .string || logical == .enumeration || logical == .json
            || (logical == nil && [ConvertedType.utf8, .enumeration, .json].contains { $0.rawValue == converted })
        let isJSON = logical == .json || (logical == nil && converted == ConvertedType.json.rawValue)
        var unsigned = false, width = 0
        if case .integer(let bits, let signed)? = logical {
            unsigned = !signed
            width = Int(bits)
        } else if logical == nil, let converted, let kind = ConvertedType(rawValue: converted) {
            switch kind {
            case .uint8: (unsigned, width) = (true, 8)
            case .uint16: (unsigned, width) = (true, 16)
            case .uint32: (unsigned, width) = (true, 32)
            case .uint64: (unsigned, width) = (true, 64)
            case .int8: width = 8
            case .int16: width = 16
            case .int32: width = 32
            case .int64: width = 64
            default: break
            }
        }
        switch physical {
        case .boolean:
            guard logical == nil && converted == nil else { throw refuse("an annotated BOOLEAN") }
            return (.bool, .bool, [:])
        case .int32:
            guard !isText, width <= 32 else { throw refuse("an INT32 annotated as \(logical.map { "\($0)" } ?? "\(converted ?? -1)")") }
            return (.int64, unsigned ? .uint32 : .int32, [:])
        case .int64:
            guard !isText, width == 0 || width == 64 else { throw refuse("an INT64 annotated as \(width)-bit") }
            return unsigned ? (.uint64, .uint64, [:]) : (.int64, .int64, [:])
        case .float:
            guard logical == nil && converted == nil else { throw refuse("an annotated FLOAT") }
            return (.float32, .float, [:])
        case .double:
            guard logical == nil && converted == nil else { throw refuse("an annotated DOUBLE") }
            return (.float64, .double, [:])
        case .byteArray:
            guard isText else { throw refuse("binary values (BYTE_ARRAY without the STRING annotation)") }
            return (.utf8, .utf8, isJSON ? ArrowField.jsonExtensionMetadata : [:])
        case .int96:
            throw refuse("INT96 (legacy timestamps)")
        case .fixedLenByteArray:
            throw refuse("FIXED_LEN_BYTE_ARRAY values")
        case .unknown(let n):
            throw refuse("the physical type \(n)")
        }
    }
}

/// A leaf's entries held for assembly: the data page being read, its
/// values in flat buffers, and a cursor (next entry, next value). When
/// the assembler has used every entry held, the next page replaces them
/// (`available()`), so a leaf holds one page at a time, whatever the size
/// of its row group; a row whose levels continue on the next page simply
/// goes on there.
final class LeafState {
    let column: LeafColumn
    private let chunk: ColumnChunkReader
    private(set) var repetition: [UInt8] = []
    private(set) var definition: [UInt8] = []
    private(set) var entryCount = 0
    private(set) var valueCount = 0
    private(set) var bools: [Bool] = []
    private(set) var int32s: [Int32] = []
    private(set) var int64s: [Int64] = []
    private(set) var floats: [Float] = []
    private(set) var doubles: [Double] = []
    private(set) var bytes: ByteArrays = ByteArrays()
    var entry = 0
    var value = 0
    /// The most level entries held at once (for tests: one page's worth).
    private(set) var mostEntriesHeld = 0

    init(chunk: ColumnChunkReader) {
        self.chunk = chunk
        column = chunk.column
    }

    /// Data pages read so far.
    var pagesRead: Int { chunk.dataPagesRead }

    /// Entries of the chunk not yet used: those held and those of the pages not read.
    var entriesLeft: Int { entryCount - entry + chunk.entriesLeft }

    @inline(__always) func def() -> Int {
        definition.isEmpty ? column.maxDefinitionLevel : Int(definition[entry])
    }

    @inline(__always) func rep() -> Int {
        repetition.isEmpty ? 0 : Int(repetition[entry])
    }

    /// True if an entry is at hand: one held, or the next data page read
    /// in place of the used ones; false at the chunk's end.
    @inline(__always) func available() throws(ParquetError) -> Bool {
        if entry < entryCount { return true }
        return try readPage()
    }

    private func readPage() throws(ParquetError) -> Bool {
        while entry >= entryCount {
            guard chunk.entriesLeft > 0 else { return false }
            // The arrays move into a LeafData (no copy), lose the used prefix, take the page, and move back.
            var data = LeafData(values: takeValues())
            swap(&data.repetitionLevels, &repetition)
            swap(&data.definitionLevels, &definition)
            data.entryCount = entryCount
            data.removeFirst(entries: entry, values: value)
            entry = 0
            value = 0
            do throws(ParquetError) {
                try chunk.nextPage(into: &data)
            } catch {
                putValues(data.values)
                entryCount = 0
                valueCount = 0
                throw .at("column \(column.dottedPath)", error)
            }
            swap(&data.repetitionLevels, &repetition)
            swap(&data.definitionLevels, &definition)
            entryCount = data.entryCount
            putValues(data.values)
            mostEntriesHeld = max(mostEntriesHeld, entryCount)
        }
        return true
    }

    /// The typed values as a LeafValues, leaving the typed arrays empty.
    private func takeValues() -> LeafValues {
        switch column.physicalType {
        case .boolean: defer { bools = [] }; return .boolean(bools)
        case .int32: defer { int32s = [] }; return .int32(int32s)
        case .int64: defer { int64s = [] }; return .int64(int64s)
        case .float: defer { floats = [] }; return .float(floats)
        case .double: defer { doubles = [] }; return .double(doubles)
        default: defer { bytes = ByteArrays() }; return .byteArray(bytes)
        }
    }

    private func putValues(_ values: LeafValues) {
        valueCount = values.count
        switch values {
        case .boolean(let v): bools = v
        case .int32(let v): int32s = v
        case .int64(let v): int64s = v
        case .float(let v): floats = v
        case .double(let v): doubles = v
        case .byteArray(let v): bytes = v
        }
    }

    /// The range of byte-array value `i` in `bytes.data`.
    @inline(__always) func byteRange(_ i: Int) -> Range<Int> { bytes.range(i) }
}

/// Builds Arrow rows from leaf states, one top-level value at a time.
struct LevelAssembler {
    /// By leaf index; nil for the leaves not read.
    let states: [LeafState?]
    /// Bytes of text appended since the last reset (a batch ends early past a limit).
    var textBytes = 0

    private func state(_ leaf: Int) throws(ParquetError) -> LeafState {
        guard leaf < states.count, let state = states[leaf] else { throw .corrupt("leaf \(leaf) was not read") }
        guard try state.available() else {
            throw .at("column \(state.column.dottedPath)", .corrupt("fewer level entries than the row group's rows"))
        }
        return state
    }

    /// True if the next entry of the top-level column starts a row (repetition level 0).
    func startsRow(_ shape: ColumnShape) throws(ParquetError) -> Bool {
        try state(shape.leaves[0]).rep() == 0
    }

    /// Every leaf under a null or empty node takes one entry, with a level below `def`.
    private func skipOne(_ leaves: [Int], below def: Int) throws(ParquetError) {
        for leaf in leaves {
            let state = try state(leaf)
            guard state.def() < def else {
                throw .at("column \(state.column.dottedPath)",
                          .corrupt("entry \(state.entry) holds a value where a sibling column says its parent is null or empty"))
            }
            state.entry += 1
        }
    }

    /// Appends one value of `shape` to `builder`.
    mutating func append(_ shape: ColumnShape, to builder: ColumnBuilder) throws(ParquetError) {
        switch shape {
        case .leaf(let leaf, let def, let conversion):
            let state = try state(leaf)
            let level = state.def()
            if level < def {
                builder.appendNull()
                state.entry += 1
                return
            }
            guard state.value < state.valueCount else {
                throw .at("column \(state.column.dottedPath)", .corrupt("more non-null entries than values"))
            }
            let i = state.value
            switch conversion {
            case .bool: builder.append(state.bools[i])
            case .int32: builder.append(Int64(state.int32s[i]))
            case .uint32: builder.append(Int64(UInt32(bitPattern: state.int32s[i])))
            case .int64: builder.append(state.int64s[i])
            case .uint64: builder.append(UInt64(bitPattern: state.int64s[i]))
            case .float: builder.append(state.floats[i])
            case .double: builder.append(state.doubles[i])
            case .utf8:
                let range = state.byteRange(i)
                let valid = state.bytes.data.withUnsafeBytes { text -> Bool in
                    let value = UnsafeRawBufferPointer(rebasing: text[range])
                    guard value.isEmpty || validUTF8(value.baseAddress!, value.count) else { return false }
                    builder.appendUTF8(value)
                    return true
                }
                guard valid else {
                    throw .at("column \(state.column.dottedPath)",
                              .corrupt("value \(i) is not valid UTF-8 (a STRING column)"))
                }
                textBytes += range.count
            }
            state.value += 1
            state.entry += 1
        case .structure(let fields, let def, let leaves):
            let level = try state(leaves[0]).def()
            if level < def {
                try skipOne(leaves, below: def)
                builder.appendNull()
                return
            }
            for (index, field) in fields.enumerated() {
                try append(field, to: builder.field(index))
            }
            builder.endStructRow()
        case .list(let element, let listDef, let slotDef, let rep, let leaves):
            let first = try state(leaves[0])
            let level = first.def()
            if level < listDef {
                try skipOne(leaves, below: listDef)
                builder.appendNull()
                return
            }
            if level < slotDef {
                try skipOne(leaves, below: slotDef)
                builder.endListRow()
                return
            }
            let items = builder.items
            while true {
                try append(element, to: items)
                guard try first.available() else { break }
                let next = first.rep()
                if next < rep { break }
                guard next == rep else {
                    throw .at("column \(first.column.dottedPath)",
                              .corrupt("entry \(first.entry) has the repetition level \(next) where at most \(rep) continues"))
                }
            }
            builder.endListRow()
        }
    }

    /// After a row group: every leaf used all its entries and values.
    func checkFinished() throws(ParquetError) {
        for case let state? in states {
            guard state.entriesLeft == 0 else {
                throw .at("column \(state.column.dottedPath)",
                          .corrupt("\(state.entriesLeft) level entries past the row group's rows"))
            }
            guard state.value == state.valueCount else {
                throw .at("column \(state.column.dottedPath)",
                          .corrupt("\(state.valueCount - state.value) values past those the levels place"))
            }
        }
    }
}

/// True if the bytes are UTF-8 (Parquet STRING values must be).
@inline(__always)
func validUTF8(_ base: UnsafeRawPointer, _ count: Int) -> Bool {
    // ASCII fast path, 8 bytes at a time.
    var i = 0
    while i + 8 <= count {
        if base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { break }
        i += 8
    }
    while i < count && base.load(fromByteOffset: i, as: UInt8.self) < 0x80 { i += 1 }
    if i == count { return true }
    let rest = UnsafeRawBufferPointer(start: base + i, count: count - i)
    return String(validating: rest.bindMemory(to: UInt8.self), as: UTF8.self) != nil
}
