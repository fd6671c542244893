import PluginKit

/// Collects JSON object lines into the rows of one batch, then infers each
/// column's type from that batch's values and builds Arrow columns.
///
/// Type rules (per batch, per column; nulls and missing keys never decide):
/// all strings → utf8; all integers (no fraction or exponent, fits Int64)
/// → int64; integers and other numbers → float64; all booleans → bool;
/// arrays of strings → list<utf8>; arrays of numbers → list<float64>
/// (arrays holding only nulls, or nothing, fit either list type); anything
/// else (objects, arrays of other or mixed items, a mix of kinds in one
/// column) → utf8 where a string stays its text and every other value
/// becomes its compact JSON text (the convention of `pipeline plugins try`).
/// A column with only nulls is utf8.
///
/// Columns keep the order in which their keys were first seen, and once
/// seen stay in every later batch (null where absent), so batches of one
/// file keep the same columns. A key that appears twice in one object:
/// the last value wins. The host's reserved keys `_row_id` and `_error` are
/// ignored (the host assigns row ids); `ignoredReservedKeys` says which.
struct JSONRowAccumulator {
    private struct Column {
        let name: String
        let nameBytes: [UInt8]
        var cells: [Cell] = []
    }

    private var columns: [Column] = []
    private var columnIndex: [String: Int] = [:]
    /// The column of the k-th key of the previous row: rows usually repeat
    /// their keys in the same order, so a byte comparison finds the column.
    private var predicted: [Int] = []
    private(set) var rowCount = 0
    /// Bytes of text held for the batch (a bound on any utf8 column's size).
    var textBytes: Int { lines.count + decoded.count }
    private let lines = ByteArena(capacity: 1 << 16)
    private let decoded = ByteArena(capacity: 1 << 12)
    private var items: [Cell] = []
    private var numbers: [Double] = []
    private let scratch = ByteArena(capacity: 256)
    private(set) var ignoredReservedKeys: Set<String> = []
    /// Numbers no Int64 or double holds unchanged become text instead of an error.
    var inexactNumbersAsText = false

    /// Marks a key to skip (a reserved column).
    private static let ignored = -1

    /// Adds one line holding one JSON object as a row. On error nothing of
    /// the line is kept.
    mutating func add(_ bytes: UnsafePointer<UInt8>, count: Int) throws(JSONSyntaxError) {
        let savedLines = lines.count, savedDecoded = decoded.count, savedItems = items.count
        let savedNumbers = numbers.count
        let savedColumns = columns.count
        lines.append(bytes, count: count)
        var scanner = JSONScanner(lines.base + savedLines, count: count, base: savedLines, decoded: decoded,
                                  items: items, numbers: numbers)
        scanner.inexactNumbersAsText = inexactNumbersAsText
        items = []
        numbers = []
        do throws(JSONSyntaxError) {
            try parseObject(&scanner)
            items = scanner.items
            numbers = scanner.numbers
            rowCount += 1
        } catch {
            items = scanner.items
            items.removeLast(items.count - savedItems)
            numbers = scanner.numbers
            numbers.removeLast(numbers.count - savedNumbers)
            lines.count = savedLines
            decoded.count = savedDecoded
            for index in columns.indices where columns[index].cells.count > rowCount {
                columns[index].cells.removeLast(columns[index].cells.count - rowCount)
            }
            if columns.count > savedColumns {
                for column in columns[savedColumns...] { columnIndex[column.name] = nil }
                columns.removeLast(columns.count - savedColumns)
                predicted.removeAll(keepingCapacity: true)
            }
            throw error
        }
    }

    private mutating func parseObject(_ s: inout JSONScanner) throws(JSONSyntaxError) {
        s.skipSpace()
        guard s.peek() == UInt8(ascii: "{") else {
            throw s.fail("not a JSON object (found \(s.describeValue(at: s.pos)))", at: s.pos)
        }
        s.pos += 1
        s.skipSpace()
        if s.peek() == UInt8(ascii: "}") {
            s.pos += 1
        } else {
            var keyNumber = 0
            while true {
                s.skipSpace()
                guard s.peek() == UInt8(ascii: "\"") else { throw s.expected("a string key") }
                let key = try s.scanString()
                let column = self.column(for: key, in: s, position: keyNumber)
                keyNumber += 1
                s.skipSpace()
                guard s.peek() == UInt8(ascii: ":") else { throw s.expected("':' after the key") }
                s.pos += 1
                s.skipSpace()
                let cell = try s.value(depth: 1)
                if column != Self.ignored { store(cell, in: column) }
                s.skipSpace()
                guard let next = s.peek() else { throw s.expected("',' or '}'") }
                if next == UInt8(ascii: ",") {
                    s.pos += 1
                } else if next == UInt8(ascii: "}") {
                    s.pos += 1
                    break
                } else {
                    throw s.expected("',' or '}' after a value")
                }
            }
        }
        s.skipSpace()
        guard s.pos == s.end else {
            throw s.fail("unexpected \(describeByte(s.p[s.pos])) after the JSON object (one object per line)", at: s.pos)
        }
    }

    @inline(__always)
    private mutating func store(_ cell: Cell, in column: Int) {
        let have = columns[column].cells.count
        if have == rowCount + 1 {
            columns[column].cells[rowCount] = cell   // duplicate key: the last wins
            return
        }
        if have < rowCount {
            columns[column].cells.append(contentsOf: repeatElement(Cell.null, count: rowCount - have))
        }
        columns[column].cells.append(cell)
    }

    /// The column of a key (its content at `key` in the scanner's line).
    private mutating func column(for key: (start: Int, length: Int, escaped: Bool), in s: JSONScanner,
                                 position: Int) -> Int {
        var name = s.p + key.start
        var length = key.length
        if key.escaped {
            scratch.count = 0
            let text = s.decode(key.start, key.length)
            scratch.append(decoded.base + text.start, count: text.count)
            decoded.count = text.start
            name = UnsafePointer(scratch.base)
            length = text.count
        }
        if position < predicted.count {
            let guess = predicted[position]
            if guess >= 0 && guess < columns.count && columns[guess].nameBytes.count == length
                && columns[guess].nameBytes.withUnsafeBufferPointer({ known in
                    known.baseAddress.map { memcmp($0, name, length) == 0 } ?? true
                }) {
                return guess
            }
        }
        let text = String(decoding: UnsafeBufferPointer(start: name, count: length), as: UTF8.self)
        let index: Int
        if let known = columnIndex[text] {
            index = known
        } else if text == rowIdColumn || text == errorColumn {
            ignoredReservedKeys.insert(text)
            return Self.ignored
        } else {
            index = columns.count
            columns.append(Column(name: text, nameBytes: Array(UnsafeBufferPointer(start: name, count: length))))
            columnIndex[text] = index
        }
        if position < predicted.count {
            predicted[position] = index
        } else if position == predicted.count {
            predicted.append(index)
        }
        return index
    }

    // MARK: Building the batch

    private struct Kinds: OptionSet {
        let rawValue: UInt16
        static let string = Kinds(rawValue: 1 << 0)
        static let int = Kinds(rawValue: 1 << 1)
        static let float = Kinds(rawValue: 1 << 2)
        static let bool = Kinds(rawValue: 1 << 3)
        static let stringArray = Kinds(rawValue: 1 << 4)
        static let numberArray = Kinds(rawValue: 1 << 5)
        static let emptyArray = Kinds(rawValue: 1 << 6)
        static let json = Kinds(rawValue: 1 << 7)
    }

    private static func type(of cells: [Cell]) -> ArrowType {
        var kinds: Kinds = []
        for cell in cells {
            switch cell.kind {
            case .null: break
            case .bool: kinds.insert(.bool)
            case .int: kinds.insert(.int)
            case .float: kinds.insert(.float)
            case .string, .decodedString, .numberText: kinds.insert(.string)
            case .stringArray: kinds.insert(.stringArray)
            case .numberArray: kinds.insert(.numberArray)
            case .emptyArray: kinds.insert(.emptyArray)
            case .json: kinds.insert(.json)
            }
        }
        if kinds.isEmpty || kinds == .string { return .utf8 }
        if kinds == .int { return .int64 }
        if kinds.isSubset(of: [.int, .float]) { return .float64 }
        if kinds == .bool { return .bool }
        if kinds.isSubset(of: [.stringArray, .emptyArray]) { return .utf8List }
        if kinds.isSubset(of: [.numberArray, .emptyArray]) { return .float64List }
        return .utf8
    }

    /// The rows collected so far as a batch; the accumulator is empty after.
    mutating func makeBatch() throws(StepError) -> RecordBatch {
        var fields: [ArrowField] = []
        var arrays: [ArrowColumn] = []
        fields.reserveCapacity(columns.count)
        for index in columns.indices {
            let have = columns[index].cells.count
            if have < rowCount {
                columns[index].cells.append(contentsOf: repeatElement(Cell.null, count: rowCount - have))
            }
            let type = Self.type(of: columns[index].cells)
            fields.append(ArrowField(columns[index].name, type))
            arrays.append(build(columns[index].cells, as: type))
            columns[index].cells.removeAll(keepingCapacity: true)
        }
        let rows = rowCount
        rowCount = 0
        lines.count = 0
        decoded.count = 0
        items.removeAll(keepingCapacity: true)
        numbers.removeAll(keepingCapacity: true)
        lines.shrink(to: 1 << 24)
        decoded.shrink(to: 1 << 24)
        do throws(ArrowError) {
            return try RecordBatch(fields: fields, columns: arrays, length: rows)
        } catch {
            throw .internal("building a batch: \(error.message)")
        }
    }

    @inline(__always)
    private func text(of cell: Cell) -> UnsafeRawBufferPointer {
        cell.kind == .decodedString
            ? decoded.bytes(Int(cell.payload), Int(cell.count))
            : lines.bytes(cell.start, Int(cell.length))
    }

    /// The items of a list<float64> row: runs of numbers in one copy each
    /// (an embedding is hundreds of them), nulls between runs.
    private func appendNumbers(_ first: Int, _ count: Int, to builder: ColumnBuilder) {
        numbers.withUnsafeBufferPointer { all in
            var runStart = first
            for index in first..<first + count
            where all[index].bitPattern == JSONScanner.nullNumber.bitPattern {
                builder.append(contentsOf: UnsafeBufferPointer(rebasing: all[runStart..<index]))
                builder.appendNull()
                runStart = index + 1
            }
            builder.append(contentsOf: UnsafeBufferPointer(rebasing: all[runStart..<first + count]))
        }
    }

    private func build(_ cells: [Cell], as type: ArrowType) -> ArrowColumn {
        let builder = ColumnBuilder(type)
        switch type {
        case .int64:
            for cell in cells {
                if cell.kind == .null { builder.appendNull() } else { builder.append(Int64(bitPattern: cell.payload)) }
            }
        case .float64:
            for cell in cells {
                switch cell.kind {
                case .int: builder.append(Double(Int64(bitPattern: cell.payload)))
                case .float: builder.append(Double(bitPattern: cell.payload))
                default: builder.appendNull()
                }
            }
        case .bool:
            for cell in cells {
                if cell.kind == .null { builder.appendNull() } else { builder.append(cell.payload != 0) }
            }
        case .list(let item):
            let itemBuilder = builder.items
            let strings = item.type == .utf8
            if !strings { itemBuilder.reserve(cells.reduce(0) { $0 + ($1.kind == .numberArray ? Int($1.count) : 0) }) }
            for cell in cells {
                guard cell.kind != .null else {
                    builder.appendNull()
                    continue
                }
                let first = Int(cell.payload)
                if cell.kind == .numberArray {
                    appendNumbers(first, Int(cell.count), to: itemBuilder)
                    builder.endListRow()
                    continue
                }
                // Strings and nulls (an all-null array holds only nulls).
                for k in first..<first + Int(cell.count) {
                    let entry = items[k]
                    if entry.kind == .null || !strings { itemBuilder.appendNull() } else { itemBuilder.appendUTF8(text(of: entry)) }
                }
                builder.endListRow()
            }
        default:
            // utf8: strings as their text, any other value as compact JSON.
            for cell in cells {
                switch cell.kind {
                case .null:
                    builder.appendNull()
                case .string, .decodedString:
                    builder.appendUTF8(text(of: cell))
                case .int, .float, .bool, .numberText:
                    builder.appendUTF8(lines.bytes(cell.start, Int(cell.length)))
                case .stringArray, .numberArray, .emptyArray, .json:
                    scratch.count = 0
                    appendCompactJSON(lines.base + cell.start, Int(cell.length), to: scratch)
                    builder.appendUTF8(scratch.bytes(0, scratch.count))
                }
            }
        }
        return builder.finish()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
