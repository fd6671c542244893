import PluginKit

// Rows of JSON objects (load_jsonl, load_inline) become Arrow batches in
// two steps. First the columns are settled for the whole input: declared
// (load_jsonl's `columns:`), or inferred by JSONTypeInference from every
// line, keeping only per-key type state. Then JSONRowAccumulator collects
// the lines into batches that all carry exactly those columns, in that
// order, with those types: a key a line lacks is a null in that row.

// MARK: Column types

/// The type of a column of JSON rows, fixed for the whole input: which
/// values the column takes (null always) and its Arrow type.
enum JSONColumnType: Equatable, Sendable {
    /// Integers that fit Int64.
    case int64
    /// Numbers; an integer only if a double holds it exactly.
    case float64
    case bool
    /// Strings.
    case utf8
    /// Arrays of strings and nulls.
    case utf8List
    /// Arrays of numbers and nulls (integers only if a double holds them exactly).
    case float64List
    /// Arrays of integers and nulls.
    case int64List
    /// Objects and other arrays as Arrow structs and lists, nested to any
    /// depth (inferred; JSONShape.swift).
    case nested(ArrowType)
    /// Nested values as their exact compact JSON text, in a utf8 column of
    /// the `arrow.json` extension type, which writers write as JSON
    /// (inferred where a struct cannot say what the JSON said: see JSONShape.swift).
    case exactJSON
    /// Numbers as their text, every digit kept (inferred when
    /// inexact_numbers: text read a number of the column as text).
    case numberText
    /// Any value as its compact JSON text: a string with its quotes (declared).
    case json

    var arrowType: ArrowType {
        switch self {
        case .int64: .int64
        case .float64: .float64
        case .bool: .bool
        case .utf8List: .utf8List
        case .float64List: .float64List
        case .int64List: .list(ArrowField("item", .int64))
        case .nested(let type): type
        case .utf8, .exactJSON, .numberText, .json: .utf8
        }
    }

    /// The column's field metadata: the extension type of exact JSON text.
    var fieldMetadata: [String: String] {
        self == .exactJSON ? ArrowField.jsonExtensionMetadata : [:]
    }

    /// The names a `columns:` parameter gives types by.
    static let declarable: [(name: String, type: JSONColumnType)] = [
        ("int64", .int64), ("float64", .float64), ("bool", .bool), ("utf8", .utf8),
        ("list<utf8>", .utf8List), ("list<float64>", .float64List), ("list<int64>", .int64List),
        ("json", .json), ("any", .json),
    ]

    /// For messages.
    var name: String {
        switch self {
        case .int64: "int64"
        case .float64: "float64"
        case .bool: "bool"
        case .utf8: "utf8"
        case .utf8List: "list<utf8>"
        case .float64List: "list<float64>"
        case .int64List: "list<int64>"
        case .nested(let type): type.displayName
        case .exactJSON: "utf8 (exact JSON text, arrow.json)"
        case .numberText: "utf8 (numbers as their text)"
        case .json: "json"
        }
    }

    /// Whether `cell` goes in a column of this type, as far as its kind
    /// tells (`firstByte`, the first byte of its text, tells an object from
    /// an array). A nested value's inside is checked as it is built.
    func accepts(_ cell: Cell, firstByte: UInt8) -> Bool {
        if self == .json || self == .exactJSON { return true }
        switch cell.kind {
        case .null: return true
        case .int:
            return self == .int64 || self == .numberText
                || (self == .float64 && isExactDouble(Int64(bitPattern: cell.payload)))
        case .float: return self == .float64 || self == .numberText
        case .numberText: return self == .numberText
        case .bool: return self == .bool
        case .string, .decodedString: return self == .utf8
        case .stringArray: return self == .utf8List
        case .intArray: return self == .int64List || self == .float64List
        case .numberArray: return self == .float64List
        case .emptyArray:
            if self == .utf8List || self == .float64List || self == .int64List { return true }
            if case .nested(.list) = self { return true }
            return false
        case .json:
            switch self {
            case .nested(.list): return firstByte == UInt8(ascii: "[")
            case .nested(.structure): return firstByte == UInt8(ascii: "{")
            default: return false
            }
        }
    }
}

/// One column of JSON rows.
struct JSONColumn: Equatable, Sendable {
    var name: String
    var type: JSONColumnType
}

/// What a value is, for messages: "a string", "an object".
/// `firstByte` is the first byte of its text (tells an object from an array).
func describeJSONValue(_ kind: CellKind, firstByte: UInt8) -> String {
    switch kind {
    case .null: "null"
    case .bool: "a boolean"
    case .int, .float, .numberText: "a number"
    case .string, .decodedString: "a string"
    case .stringArray, .intArray, .numberArray, .emptyArray: "an array"
    case .json: firstByte == UInt8(ascii: "{") ? "an object" : "an array"
    }
}

// MARK: Keys

/// The key of a member as the scanner found it in the line.
typealias JSONKey = (start: Int, length: Int, escaped: Bool)

/// Finds the column of each key of a line: by name, or first by the column
/// the key at the same position of the previous line had (rows usually
/// repeat their keys in the same order, so one byte comparison finds it).
/// The host's reserved keys `_row_id` and `_error` are no columns:
/// `ignoredReserved` says which were met.
struct JSONKeyTable {
    enum Found {
        case column(Int)
        case reserved
        case unknown(String)
    }

    /// The column number of a member to skip (a reserved key).
    static let skip = -1

    private(set) var names: [String] = []
    private var nameBytes: [[UInt8]] = []
    private var index: [String: Int] = [:]
    private var predicted: [Int] = []
    private let scratch = ByteArena(capacity: 256)
    private(set) var ignoredReserved: Set<String> = []

    init(names: [String] = []) {
        for name in names { append(name) }
    }

    var count: Int { names.count }

    private mutating func append(_ name: String) {
        index[name] = names.count
        names.append(name)
        nameBytes.append(Array(name.utf8))
    }

    /// The column of `key` (in the scanner's line). A key not seen before
    /// gets the next column with `adding`, else it is `.unknown`.
    mutating func find(_ key: JSONKey, in s: JSONScanner, position: Int, adding: Bool) -> Found {
        var name = s.p + key.start
        var length = key.length
        if key.escaped {
            scratch.count = 0
            let text = s.decode(key.start, key.length)
            scratch.append(s.decoded.base + text.start, count: text.count)
            s.decoded.count = text.start
            name = UnsafePointer(scratch.base)
            length = text.count
        }
        if position < predicted.count {
            let guess = predicted[position]
            if guess >= 0 && guess < nameBytes.count && nameBytes[guess].count == length
                && nameBytes[guess].withUnsafeBufferPointer({ known in
                    known.baseAddress.map { memcmp($0, name, length) == 0 } ?? true
                }) {
                return .column(guess)
            }
        }
        let text = String(decoding: UnsafeBufferPointer(start: name, count: length), as: UTF8.self)
        let column: Int
        if let known = index[text] {
            column = known
        } else if text == rowIdColumn || text == errorColumn {
            ignoredReserved.insert(text)
            return .reserved
        } else if adding {
            column = names.count
            append(text)
        } else {
            return .unknown(text)
        }
        if position < predicted.count {
            predicted[position] = column
        } else if position == predicted.count {
            predicted.append(column)
        }
        return .column(column)
    }

    /// Forgets the columns from `count` on (added by a line that turned out bad).
    mutating func removeColumns(from count: Int) {
        guard names.count > count else { return }
        for name in names[count...] { index[name] = nil }
        names.removeLast(names.count - count)
        nameBytes.removeLast(nameBytes.count - count)
        predicted.removeAll(keepingCapacity: true)
    }
}

// MARK: Reading one object

/// What takes the members of a line's object as `readObject` scans it.
protocol JSONMemberSink {
    /// The column of `key`, or `JSONKeyTable.skip` for a member not to take.
    mutating func column(for key: JSONKey, in s: JSONScanner, position: Int) -> Int
    /// Whether a number no Int64 or double holds is read as its text (else it fails the line).
    func keepsNumberText(in column: Int) -> Bool
    /// The value of a member of `column`, found at `offset` in the line.
    mutating func take(_ cell: Cell, column: Int, in s: JSONScanner, at offset: Int)
}

extension JSONMemberSink {
    /// Scans the line, which must hold one JSON object and nothing else.
    mutating func readObject(_ s: inout JSONScanner) throws(JSONSyntaxError) {
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
                s.inexactNumbersAsText = keepsNumberText(in: column)
                let offset = s.pos
                let cell = try s.value(depth: 1)
                if column != JSONKeyTable.skip { take(cell, column: column, in: s, at: offset) }
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
}

// MARK: Inferring the columns

/// Two values of one key that no column type holds both of.
struct JSONTypeConflict: Error {
    enum Reason: Sendable {
        /// Values of different kinds: a number and a string, say.
        case kinds
        /// An integer a double does not hold exactly, in a column that also
        /// has numbers with a fraction or an exponent (float64).
        case inexactInteger(Int64)
    }

    /// The column's key, or the place inside its nested values
    /// (`messages[].content`: the members `content` of the objects in the
    /// arrays of `messages`).
    let key: String
    /// Where the first value was and what it is ("a number").
    let first: (line: Int, what: String)
    let second: (line: Int, what: String)
    let reason: Reason

    /// The conflict in words; `place` names a line ("line 3", "rows[2]").
    func message(place: (Int) -> String) -> String {
        let (a, b) = first.line <= second.line ? (first, second) : (second, first)
        let both = "the key \"\(key)\" is \(a.what) on \(place(a.line)) and \(b.what) on \(place(b.line))"
        switch reason {
        case .kinds: return "\(both): a column holds values of one type"
        case .inexactInteger: return "\(both): a float64 column cannot hold that integer exactly"
        }
    }
}

/// The columns of JSON object lines, from every line, in one pass that
/// keeps only per-key type state (never the rows).
///
/// Rules (nulls and missing keys never decide): strings → utf8; integers
/// → int64; integers and other numbers → float64, unless an integer is one
/// a double does not hold exactly (beyond ±2^53): a conflict; numbers of
/// which inexact_numbers: text read one as text → utf8, every number as its
/// text; booleans → bool; arrays and objects → Arrow lists and structs,
/// typed over all their values at every depth (JSONShape): arrays of
/// strings are list<utf8>, of integers list<int64>, of numbers
/// list<float64>, of objects list<struct<…>>, and so on; an empty or
/// all-null array fits any list. Where a struct cannot keep what the JSON
/// said (a member missing from some objects and null in others), or a
/// nested number was read as text, the column is exact JSON text instead.
/// A key whose values are of two kinds (number, string, boolean, array,
/// object), at the top or at any place inside, is a conflict. A key only
/// ever null is a utf8 column. Columns come in the order their keys first
/// appear. A duplicate key in a line: the last value counts, as it is the
/// one read.
struct JSONTypeInference: JSONMemberSink {
    private struct Kinds: OptionSet {
        let rawValue: UInt8
        static let int = Kinds(rawValue: 1 << 0)
        static let float = Kinds(rawValue: 1 << 1)
        static let numberText = Kinds(rawValue: 1 << 2)

        init(rawValue: UInt8) { self.rawValue = rawValue }

        init(_ kind: CellKind) {
            switch kind {
            case .int: self = .int
            case .float: self = .float
            case .numberText: self = .numberText
            default: self = []
            }
        }
    }

    /// Kinds of values that share a column; two of them do not.
    private enum Family {
        case number, string, bool, list, object

        init?(_ kind: CellKind, firstByte: UInt8) {
            switch kind {
            case .null: return nil
            case .int, .float, .numberText: self = .number
            case .string, .decodedString: self = .string
            case .bool: self = .bool
            case .stringArray, .intArray, .numberArray, .emptyArray: self = .list
            case .json: self = firstByte == UInt8(ascii: "{") ? .object : .list
            }
        }
    }

    private struct State {
        var family: Family?
        var kinds: Kinds = []
        /// The first value of the family: its line and what it is.
        var firstLine = 0
        var firstWhat = ""
        var firstFloatLine = 0
        var inexactInteger: (line: Int, value: Int64)?
        /// Arrays and objects: all of them, at every depth.
        var shape: JSONShape?
        /// The line (`token`) that last gave the key a value, and where
        /// that value is in `pending`.
        var token = 0
        var slot = 0
    }

    /// A value of the line being read, recorded once the line is whole.
    private struct Pending {
        var column: Int
        var cell: Cell
        /// The first byte of its text (tells an object from an array).
        var firstByte: UInt8
    }

    private var keys = JSONKeyTable()
    private var states: [State] = []
    private var pending: [Pending] = []
    private var token = 0
    private let decoded = ByteArena(capacity: 1 << 12)
    private var items: [Cell] = []
    private var numbers: [Double] = []
    private let inexactNumbersAsText: Bool
    /// The first conflict met; `add` records nothing more after it.
    private(set) var conflict: JSONTypeConflict?
    /// The host's reserved keys met (ignored).
    var ignoredReservedKeys: Set<String> { keys.ignoredReserved }

    init(inexactNumbersAsText: Bool) {
        self.inexactNumbersAsText = inexactNumbersAsText
    }

    /// Reads one line holding one JSON object. A line with a syntax error
    /// (thrown) counts for nothing. `line` names it in a conflict.
    mutating func add(_ bytes: UnsafePointer<UInt8>, count: Int, line: Int) throws(JSONSyntaxError) {
        guard conflict == nil else { return }
        let savedColumns = keys.count
        token += 1
        pending.removeAll(keepingCapacity: true)
        decoded.count = 0
        items.removeAll(keepingCapacity: true)
        numbers.removeAll(keepingCapacity: true)
        var scanner = JSONScanner(bytes, count: count, base: 0, decoded: decoded, items: items, numbers: numbers)
        items = []
        numbers = []
        do throws(JSONSyntaxError) {
            try readObject(&scanner)
        } catch {
            items = scanner.items
            numbers = scanner.numbers
            keys.removeColumns(from: savedColumns)
            states.removeLast(states.count - savedColumns)
            throw error
        }
        items = scanner.items
        numbers = scanner.numbers
        for value in pending where conflict == nil { record(value, line: line, bytes: bytes) }
        decoded.shrink(to: 1 << 24)
    }

    mutating func column(for key: JSONKey, in s: JSONScanner, position: Int) -> Int {
        guard case .column(let column) = keys.find(key, in: s, position: position, adding: true) else {
            return JSONKeyTable.skip
        }
        if column == states.count { states.append(State()) }
        return column
    }

    func keepsNumberText(in column: Int) -> Bool { inexactNumbersAsText }

    mutating func take(_ cell: Cell, column: Int, in s: JSONScanner, at offset: Int) {
        // Only the line's bytes tell an object from an array, should the
        // value start a family or conflict with one.
        let value = Pending(column: column, cell: cell, firstByte: s.p[offset])
        if states[column].token == token {
            pending[states[column].slot] = value   // a duplicate key: the last value wins
            return
        }
        states[column].token = token
        states[column].slot = pending.count
        pending.append(value)
    }

    private mutating func record(_ value: Pending, line: Int, bytes: UnsafePointer<UInt8>) {
        let cell = value.cell
        guard let family = Family(cell.kind, firstByte: value.firstByte) else { return }
        let column = value.column
        if let known = states[column].family {
            if known != family {
                conflict = JSONTypeConflict(key: keys.names[column],
                                            first: (states[column].firstLine, states[column].firstWhat),
                                            second: (line, describeJSONValue(cell.kind, firstByte: value.firstByte)),
                                            reason: .kinds)
                return
            }
        } else {
            states[column].family = family
            states[column].firstLine = line
            states[column].firstWhat = describeJSONValue(cell.kind, firstByte: value.firstByte)
        }
        switch family {
        case .number:
            states[column].kinds.insert(Kinds(cell.kind))
            if cell.kind == .float {
                if states[column].firstFloatLine == 0 { states[column].firstFloatLine = line }
            } else if cell.kind == .int {
                let number = Int64(bitPattern: cell.payload)
                if states[column].inexactInteger == nil && !isExactDouble(number) {
                    states[column].inexactInteger = (line, number)
                }
            }
        case .list, .object:
            let shape = states[column].shape ?? JSONShape(path: keys.names[column])
            states[column].shape = shape
            do throws(JSONTypeConflict) {
                if cell.kind == .json {
                    // The value's text, read again into the column's shape.
                    var scanner = JSONScanner(bytes + cell.start, count: Int(cell.length), base: 0, decoded: decoded,
                                              items: [], numbers: [])
                    try scanner.unify(shape, line: line)
                } else {
                    try shape.unify(array: cell, items: items, numbers: numbers, line: line)
                }
            } catch {
                conflict = error
            }
        case .string, .bool:
            break
        }
    }

    /// The columns of all the lines added, in the order their keys first
    /// appeared. Throws the first conflict.
    func columns() throws(JSONTypeConflict) -> [JSONColumn] {
        if let conflict { throw conflict }
        var columns: [JSONColumn] = []
        columns.reserveCapacity(states.count)
        for (name, state) in zip(keys.names, states) {
            let type: JSONColumnType
            switch state.family {
            case nil, .string: type = .utf8
            case .bool: type = .bool
            case .number:
                if state.kinds.contains(.numberText) {
                    type = .numberText
                } else if state.kinds.contains(.float) {
                    if let inexact = state.inexactInteger {
                        throw JSONTypeConflict(key: name, first: (inexact.line, "the integer \(inexact.value)"),
                                               second: (state.firstFloatLine, "a number with a fraction or an exponent"),
                                               reason: .inexactInteger(inexact.value))
                    }
                    type = .float64
                } else {
                    type = .int64
                }
            case .list, .object:
                var exactJSON = false
                let arrow = try (state.shape ?? JSONShape(path: name)).arrowType(exactJSON: &exactJSON,
                                                                                 keepDigits: inexactNumbersAsText)
                if exactJSON {
                    type = .exactJSON
                } else if arrow == .utf8List {
                    type = .utf8List
                } else if arrow == .float64List {
                    type = .float64List
                } else if arrow == JSONColumnType.int64List.arrowType {
                    type = .int64List
                } else {
                    type = .nested(arrow)
                }
            }
            columns.append(JSONColumn(name: name, type: type))
        }
        return columns
    }
}

// MARK: Building batches

/// Collects JSON object lines into the rows of one batch with the given
/// columns: every batch carries all of them, in their order, with their
/// types; a key a line lacks is null in its row. A key that is no column,
/// or a value the column's type does not take, makes the line bad
/// (`notInSchema`). A key that appears twice in one object: the last value
/// wins. The host's reserved keys `_row_id` and `_error` are ignored (the
/// host assigns row ids); `ignoredReservedKeys` says which were met.
struct JSONRowAccumulator: JSONMemberSink {
    private struct Column {
        let name: String
        let type: JSONColumnType
        var cells: [Cell] = []
    }

    private var columns: [Column]
    private var keys: JSONKeyTable
    /// The columns were declared (in `columns:`), not inferred: for messages.
    private let declared: Bool
    private(set) var rowCount = 0
    /// Bytes of text held for the batch (a bound on any utf8 column's size).
    var textBytes: Int { lines.count + decoded.count }
    private let lines = ByteArena(capacity: 1 << 16)
    private let decoded = ByteArena(capacity: 1 << 12)
    private var items: [Cell] = []
    private var numbers: [Double] = []
    private let scratch = ByteArena(capacity: 256)
    /// Strings with escapes inside nested values, decoded while a batch is built.
    private let nestedScratch = ByteArena(capacity: 256)
    /// The line (or row) number of each row of the batch, for messages.
    private var rowLines: [Int] = []
    /// The columns the line being read gave a value.
    private var touched: [Int] = []
    /// The line's first key that is no column: thrown once the whole line
    /// has been read, so that a line that is also not valid JSON is
    /// reported as that, as the first pass (which takes every key) saw it.
    private var unknownKey: JSONSyntaxError?
    var ignoredReservedKeys: Set<String> { keys.ignoredReserved }
    /// Numbers no Int64 or double holds become text instead of an error
    /// (json columns always keep them, as their text).
    let inexactNumbersAsText: Bool

    init(columns: [JSONColumn], declared: Bool, inexactNumbersAsText: Bool) {
        self.columns = columns.map { Column(name: $0.name, type: $0.type) }
        keys = JSONKeyTable(names: columns.map(\.name))
        self.declared = declared
        self.inexactNumbersAsText = inexactNumbersAsText
    }

    /// Adds one line holding one JSON object as a row. On error nothing of
    /// the line is kept. `line` names the row in messages.
    mutating func add(_ bytes: UnsafePointer<UInt8>, count: Int, line: Int) throws(JSONSyntaxError) {
        let savedLines = lines.count, savedDecoded = decoded.count, savedItems = items.count
        let savedNumbers = numbers.count
        lines.append(bytes, count: count)
        var scanner = JSONScanner(lines.base + savedLines, count: count, base: savedLines, decoded: decoded,
                                  items: items, numbers: numbers)
        items = []
        numbers = []
        touched.removeAll(keepingCapacity: true)
        unknownKey = nil
        do throws(JSONSyntaxError) {
            try readObject(&scanner)
            if let unknownKey { throw unknownKey }
            // The last value of each key is the one kept: check those.
            for column in touched {
                let cell = columns[column].cells[rowCount]
                let type = columns[column].type
                if !type.accepts(cell, firstByte: lines.base[cell.start]) {
                    throw mismatch(cell, in: column, lineStart: savedLines)
                }
                if type == .float64List && cell.kind == .intArray {
                    // Declared list<float64>: integers a double holds exactly only.
                    let first = Int(cell.payload)
                    for item in scanner.items[first..<first + Int(cell.count)] where item.kind == .int
                        && !isExactDouble(Int64(bitPattern: item.payload)) {
                        throw mismatch(item, in: column, lineStart: savedLines)
                    }
                }
            }
            items = scanner.items
            numbers = scanner.numbers
            rowLines.append(line)
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
            throw error
        }
    }

    mutating func column(for key: JSONKey, in s: JSONScanner, position: Int) -> Int {
        switch keys.find(key, in: s, position: position, adding: false) {
        case .column(let column):
            return column
        case .reserved:
            return JSONKeyTable.skip
        case .unknown(let name):
            if unknownKey == nil {
                var error = s.fail(declared ? "the key \"\(name)\" is not one of the columns declared in columns"
                                            : "the key \"\(name)\" was not in the file when its column types were read",
                                   at: key.start - 1)
                error.notInSchema = true
                unknownKey = error
            }
            return JSONKeyTable.skip
        }
    }

    func keepsNumberText(in column: Int) -> Bool {
        inexactNumbersAsText || (column >= 0 && columns[column].type == .json)
    }

    @inline(__always)
    mutating func take(_ cell: Cell, column: Int, in s: JSONScanner, at offset: Int) {
        let have = columns[column].cells.count
        if have == rowCount + 1 {
            columns[column].cells[rowCount] = cell   // duplicate key: the last wins
            if cell.kind != .null { touched.append(column) }
            return
        }
        if have < rowCount {
            columns[column].cells.append(contentsOf: repeatElement(Cell.null, count: rowCount - have))
        }
        columns[column].cells.append(cell)
        if cell.kind != .null { touched.append(column) }
    }

    /// The error for a value its column does not take.
    private func mismatch(_ cell: Cell, in column: Int, lineStart: Int) -> JSONSyntaxError {
        let name = columns[column].name, type = columns[column].type
        let what: String
        if cell.kind == .int && type == .float64 {
            what = "\"\(name)\" is the integer \(Int64(bitPattern: cell.payload)), which a float64 cannot hold exactly"
        } else if cell.kind == .int && type == .float64List {
            what = "\"\(name)\" has the integer \(Int64(bitPattern: cell.payload)), which a float64 cannot hold exactly"
        } else {
            what = "\"\(name)\" is \(describeJSONValue(cell.kind, firstByte: lines.base[cell.start]))"
        }
        let because = declared ? "columns declares it \(type.name)" : "the first pass over the file made it \(type.name)"
        // A plain string's cell starts after its opening quote.
        let offset = cell.start - lineStart - (cell.kind == .string ? 1 : 0)
        var error = JSONSyntaxError(message: "\(what), but \(because)", offset: max(offset, 0), atEnd: false)
        error.notInSchema = true
        return error
    }

    /// The rows collected so far as a batch; the accumulator is empty
    /// after. `place` names a row's line in a message: a nested value that
    /// no longer fits its column (the input changed between the passes).
    mutating func makeBatch(place: (Int) -> String) throws(StepError) -> RecordBatch {
        var fields: [ArrowField] = []
        var arrays: [ArrowColumn] = []
        fields.reserveCapacity(columns.count)
        defer {
            rowCount = 0
            rowLines.removeAll(keepingCapacity: true)
            lines.count = 0
            decoded.count = 0
            items.removeAll(keepingCapacity: true)
            numbers.removeAll(keepingCapacity: true)
            lines.shrink(to: 1 << 24)
            decoded.shrink(to: 1 << 24)
            for index in columns.indices { columns[index].cells.removeAll(keepingCapacity: true) }
        }
        for index in columns.indices {
            let have = columns[index].cells.count
            if have < rowCount {
                columns[index].cells.append(contentsOf: repeatElement(Cell.null, count: rowCount - have))
            }
            let type = columns[index].type
            fields.append(ArrowField(columns[index].name, type.arrowType, metadata: type.fieldMetadata))
            do throws(NestedRowMismatch) {
                arrays.append(try build(columns[index].cells, as: type))
            } catch {
                throw .invalidData("\(place(rowLines[error.row])): the value of \"\(columns[index].name)\" does not fit "
                                   + "its column (\(type.name)): \(error.mismatch.message), \(error.mismatch.offset + 1) "
                                   + "bytes into the value; the input changed while it was read")
            }
        }
        do throws(ArrowError) {
            return try RecordBatch(fields: fields, columns: arrays, length: rowCount)
        } catch {
            throw .internal("building a batch: \(error.message)")
        }
    }

    /// A nested value of row `row` that does not fit its column.
    private struct NestedRowMismatch: Error {
        let row: Int
        let mismatch: NestedMismatch
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

    /// Reads the text of a nested value again, straight into `builder`.
    private func appendParsed(_ cell: Cell, row: Int, _ plan: NestedPlan,
                              to builder: ColumnBuilder) throws(NestedRowMismatch) {
        var scanner = JSONScanner(lines.base + cell.start, count: Int(cell.length), base: cell.start,
                                  decoded: nestedScratch, items: [], numbers: [])
        do throws(NestedMismatch) {
            try scanner.appendNested(plan, to: builder)
            scanner.skipSpace()
            if scanner.pos != scanner.end { throw NestedMismatch(message: "more text after the value", offset: scanner.pos) }
        } catch {
            throw NestedRowMismatch(row: row, mismatch: error)
        }
        nestedScratch.count = 0
    }

    /// Cells the column's type took (`add` checked) as an Arrow column.
    private func build(_ cells: [Cell], as type: JSONColumnType) throws(NestedRowMismatch) -> ArrowColumn {
        let builder = ColumnBuilder(type.arrowType)
        switch type {
        case .int64:
            for cell in cells {
                if cell.kind == .int { builder.append(Int64(bitPattern: cell.payload)) } else { builder.appendNull() }
            }
        case .float64:
            for cell in cells {
                switch cell.kind {
                case .int: builder.append(Double(Int64(bitPattern: cell.payload)))   // exact: add checked
                case .float: builder.append(Double(bitPattern: cell.payload))
                default: builder.appendNull()
                }
            }
        case .bool:
            for cell in cells {
                if cell.kind == .bool { builder.append(cell.payload != 0) } else { builder.appendNull() }
            }
        case .utf8List, .float64List, .int64List:
            let itemBuilder = builder.items
            var plan: NestedPlan?
            if type == .float64List {
                itemBuilder.reserve(cells.reduce(0) { $0 + ($1.kind == .numberArray ? Int($1.count) : 0) })
            }
            for (row, cell) in cells.enumerated() {
                switch cell.kind {
                case .numberArray:
                    appendNumbers(Int(cell.payload), Int(cell.count), to: itemBuilder)
                case .stringArray, .intArray, .emptyArray:
                    // Strings, integers and nulls, as the column's type takes them (add checked).
                    let first = Int(cell.payload)
                    for k in first..<first + Int(cell.count) {
                        let entry = items[k]
                        switch (entry.kind, type) {
                        case (.string, .utf8List), (.decodedString, .utf8List):
                            itemBuilder.appendUTF8(text(of: entry))
                        case (.int, .int64List):
                            itemBuilder.append(Int64(bitPattern: entry.payload))
                        case (.int, .float64List):
                            itemBuilder.append(Double(Int64(bitPattern: entry.payload)))   // exact: checked
                        default:
                            itemBuilder.appendNull()
                        }
                    }
                case .null:
                    builder.appendNull()
                    continue
                default:
                    // Not taken by add: read as any nested value is, to fail loudly if it does not fit.
                    let nested = plan ?? NestedPlan(type.arrowType)
                    plan = nested
                    try appendParsed(cell, row: row, nested, to: builder)
                    continue
                }
                builder.endListRow()
            }
        case .nested(let arrowType):
            let plan = NestedPlan(arrowType)
            for (row, cell) in cells.enumerated() {
                if cell.kind == .null { builder.appendNull() } else { try appendParsed(cell, row: row, plan, to: builder) }
            }
        case .utf8, .exactJSON, .numberText, .json:
            let quoted = type == .json || type == .exactJSON
            for cell in cells {
                switch cell.kind {
                case .null:
                    builder.appendNull()
                case .string where quoted:
                    // Its JSON text: the content has no escapes, so quotes suffice.
                    scratch.count = 0
                    scratch.append(UInt8(ascii: "\""))
                    scratch.append(lines.base + cell.start, count: Int(cell.length))
                    scratch.append(UInt8(ascii: "\""))
                    builder.appendUTF8(scratch.bytes(0, scratch.count))
                case .decodedString where quoted:
                    // The span is the string as written, quotes and escapes included.
                    builder.appendUTF8(lines.bytes(cell.start, Int(cell.length)))
                case .string, .decodedString:
                    builder.appendUTF8(text(of: cell))
                case .int, .float, .bool, .numberText:
                    builder.appendUTF8(lines.bytes(cell.start, Int(cell.length)))
                case .stringArray, .intArray, .numberArray, .emptyArray, .json:
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
