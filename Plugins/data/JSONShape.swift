import PluginKit

// Nested JSON values (objects, and arrays of anything but strings or
// numbers) as Arrow list and struct columns.
//
// First pass: every nested value of a column is read into one JSONShape,
// the union of all its values: objects → struct (fields in the order they
// first appear, over all the objects at that place), arrays → list whose
// item is the union of every item of every array there, recursively;
// integers and other numbers → float64 when a double holds every integer
// exactly; null unifies with anything, an empty array with any list. Two
// kinds at one place (a string and an object) is a conflict, reported as a
// top-level one is, naming the place ("messages[].content") and both lines.
//
// Absent and null members: Arrow has only null. A struct field that some
// objects lack but none holds as null carries `pipeline.null_is_absent`,
// so writers leave it out where it is null; one that is null somewhere and
// never missing is written as null. One that is both missing somewhere and
// null elsewhere cannot be told apart in a struct: the whole column is kept
// as exact JSON text instead (utf8 with the `arrow.json` extension type,
// which writers write as JSON, not as a string). So is a column where
// inexact_numbers: text kept a nested number as its digits.
//
// Second pass: NestedPlan and JSONScanner.appendNested read each nested
// value again, straight into the column's ColumnBuilder.

/// What every value at one place of a column's nested values has been.
final class JSONShape {
    enum Kind: Equatable {
        case unknown, bool, number, string, list, object
    }

    /// The place, for messages: `messages[].content`.
    let path: String
    private(set) var kind = Kind.unknown
    /// The first value that gave the kind: its line and what it is.
    private var firstLine = 0
    private var firstWhat = ""

    // Numbers.
    var hasFloat = false
    var firstFloatLine = 0
    var inexactInteger: (line: Int, value: Int64)?
    /// A number kept as its digits (inexact_numbers: text).
    var hasNumberText = false

    // Lists: the union of their items.
    private(set) var itemShape: JSONShape?

    // Objects.
    struct Field {
        let name: String
        let bytes: [UInt8]
        let shape: JSONShape
        /// Some object at this place lacks it.
        var absent: Bool
        /// Some object has it as an explicit null.
        var explicitNull = false
        /// The object (its number) that last had it.
        var seen = 0
    }

    private(set) var fields: [Field] = []
    private var fieldIndex: [String: Int] = [:]
    /// Objects met at this place so far.
    private(set) var objects = 0

    init(path: String) {
        self.path = path
    }

    /// Records that a value of `kind` is here; a different kind than
    /// before (null aside) is a conflict.
    func meet(_ kind: Kind, line: Int) throws(JSONTypeConflict) {
        if self.kind == kind { return }
        let what = Self.describe(kind)
        guard self.kind == .unknown else {
            throw JSONTypeConflict(key: path, first: (firstLine, firstWhat), second: (line, what), reason: .kinds)
        }
        self.kind = kind
        firstLine = line
        firstWhat = what
    }

    static func describe(_ kind: Kind) -> String {
        switch kind {
        case .unknown: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .list: "an array"
        case .object: "an object"
        }
    }

    /// The shape of the items of the arrays here.
    var item: JSONShape {
        if let itemShape { return itemShape }
        let shape = JSONShape(path: path + "[]")
        itemShape = shape
        return shape
    }

    func number(_ value: Int64, line: Int) {
        if inexactInteger == nil && !isExactDouble(value) { inexactInteger = (line, value) }
    }

    func float(line: Int) {
        if !hasFloat { hasFloat = true; firstFloatLine = line }
    }

    /// Starts an object; returns its number, which `field` and `endObject` take.
    func beginObject() -> Int {
        objects += 1
        return objects
    }

    /// The field called `name` (bytes), found first at `position` (members
    /// usually come in one order); a new field is added, missing from every
    /// earlier object.
    func field(_ name: UnsafeRawBufferPointer, position: Int, object: Int) -> Int {
        let index: Int
        if position < fields.count, fields[position].bytes.elementsEqual(name) {
            index = position
        } else {
            let text = String(decoding: name, as: UTF8.self)
            if let known = fieldIndex[text] {
                index = known
            } else {
                index = fields.count
                fieldIndex[text] = index
                let separator = path.isEmpty ? "" : "."
                fields.append(Field(name: text, bytes: Array(name), shape: JSONShape(path: path + separator + text),
                                    absent: object > 1))
            }
        }
        fields[index].seen = object
        return index
    }

    func explicitNull(_ field: Int) { fields[field].explicitNull = true }

    /// Ends object `object`: the fields it lacked are absent somewhere.
    func endObject(_ object: Int) {
        for index in fields.indices where fields[index].seen != object { fields[index].absent = true }
    }

    /// The Arrow type of the values here. `exactJSON` becomes true where
    /// only exact JSON text keeps them (see the top of the file); with
    /// `keepDigits` (inexact_numbers: text) also where integers a double
    /// does not hold meet numbers with a fraction, else a conflict.
    func arrowType(exactJSON: inout Bool, keepDigits: Bool) throws(JSONTypeConflict) -> ArrowType {
        switch kind {
        case .unknown, .string: return .utf8
        case .bool: return .bool
        case .number:
            if hasNumberText { exactJSON = true }
            guard hasFloat else { return .int64 }
            if let inexact = inexactInteger {
                if keepDigits {
                    exactJSON = true
                    return .float64
                }
                throw JSONTypeConflict(key: path, first: (inexact.line, "the integer \(inexact.value)"),
                                       second: (firstFloatLine, "a number with a fraction or an exponent"),
                                       reason: .inexactInteger(inexact.value))
            }
            return .float64
        case .list:
            return .list(ArrowField("item", try item.arrowType(exactJSON: &exactJSON, keepDigits: keepDigits)))
        case .object:
            var children: [ArrowField] = []
            children.reserveCapacity(fields.count)
            for field in fields {
                if field.absent && field.explicitNull { exactJSON = true }
                let metadata = field.absent && !field.explicitNull ? [ArrowField.nullIsAbsentKey: "true"] : [:]
                children.append(ArrowField(field.name, try field.shape.arrowType(exactJSON: &exactJSON, keepDigits: keepDigits),
                                           metadata: metadata))
            }
            return .structure(children)
        }
    }
}

extension JSONScanner {
    /// Reads the value at `pos` (JSON the scanner has checked) into
    /// `shape`; `pos` ends after it. Throws the first conflict.
    mutating func unify(_ shape: JSONShape, line: Int) throws(JSONTypeConflict) {
        var conflict: JSONTypeConflict?
        unifyValue(shape, line: line, conflict: &conflict)
        if let conflict { throw conflict }
    }

    private mutating func unifyValue(_ shape: JSONShape, line: Int, conflict: inout JSONTypeConflict?) {
        func meet(_ kind: JSONShape.Kind) -> Bool {
            do throws(JSONTypeConflict) {
                try shape.meet(kind, line: line)
                return true
            } catch {
                if conflict == nil { conflict = error }
                return false
            }
        }
        guard conflict == nil, pos < end else { return }
        switch p[pos] {
        case UInt8(ascii: "\""):
            guard (try? scanString()) != nil else { pos = end; return }
            _ = meet(.string)
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            pos += p[pos] == UInt8(ascii: "t") ? 4 : 5
            _ = meet(.bool)
        case UInt8(ascii: "n"):
            pos += 4
        case UInt8(ascii: "["):
            guard meet(.list) else { return }
            let item = shape.item
            pos += 1
            skipSpace()
            if peek() == UInt8(ascii: "]") {
                pos += 1
                return
            }
            while conflict == nil {
                skipSpace()
                unifyValue(item, line: line, conflict: &conflict)
                guard conflict == nil, let done = try? endOfItem(UInt8(ascii: "]")) else { pos = end; return }
                if done { return }
            }
        case UInt8(ascii: "{"):
            guard meet(.object) else { return }
            let object = shape.beginObject()
            pos += 1
            skipSpace()
            if peek() == UInt8(ascii: "}") {
                pos += 1
                shape.endObject(object)
                return
            }
            var position = 0
            while conflict == nil {
                skipSpace()
                guard let key = try? scanString() else { pos = end; return }
                let field: Int
                if key.escaped {
                    let text = decode(key.start, key.length)
                    field = shape.field(decoded.bytes(text.start, text.count), position: position, object: object)
                    decoded.count = text.start
                } else {
                    field = shape.field(UnsafeRawBufferPointer(start: p + key.start, count: key.length),
                                        position: position, object: object)
                }
                position += 1
                skipSpace()
                pos += 1   // ':'
                skipSpace()
                if peek() == UInt8(ascii: "n") {
                    pos += 4
                    shape.explicitNull(field)
                } else {
                    unifyValue(shape.fields[field].shape, line: line, conflict: &conflict)
                }
                guard conflict == nil, let done = try? endOfItem(UInt8(ascii: "}")) else { pos = end; return }
                if done { break }
            }
            shape.endObject(object)
        default:
            // A number: read as the scanner reads one, but a number no
            // Int64 or double holds is its digits here, not an error.
            let saved = inexactNumbersAsText
            inexactNumbersAsText = true
            let cell = try? numberCell()
            inexactNumbersAsText = saved
            guard let cell, meet(.number) else { pos = end; return }
            switch cell.kind {
            case .int: shape.number(Int64(bitPattern: cell.payload), line: line)
            case .float: shape.float(line: line)
            default: shape.hasNumberText = true
            }
        }
    }
}

extension JSONShape {
    /// Adds a top-level array value the scanner recorded item by item
    /// (`.stringArray`, `.intArray`, `.numberArray`, `.emptyArray`):
    /// `items` and `numbers` are the line's.
    func unify(array cell: Cell, items: [Cell], numbers: [Double], line: Int) throws(JSONTypeConflict) {
        try meet(.list, line: line)
        let item = self.item
        let first = Int(cell.payload), count = Int(cell.count)
        switch cell.kind {
        case .stringArray:
            try item.meet(.string, line: line)
        case .intArray:
            try item.meet(.number, line: line)
            if item.inexactInteger == nil {
                for index in first..<first + count where items[index].kind == .int {
                    item.number(Int64(bitPattern: items[index].payload), line: line)
                }
            }
        case .numberArray:
            try item.meet(.number, line: line)
            item.float(line: line)
        default:
            break   // empty, or only nulls: any list
        }
    }
}

// MARK: Building

/// How to read nested values of one Arrow type into its builder: the
/// type, taken apart once per column (field names as bytes, a scratch row
/// of member positions per struct).
final class NestedPlan {
    enum Kind {
        case bool, int64, float64, utf8, list, structure, unsupported
    }

    let kind: Kind
    let type: ArrowType
    let item: NestedPlan?
    let names: [[UInt8]]
    let fields: [NestedPlan]
    private let index: [String: Int]
    /// Where each field's value starts in the object being read (-1: none).
    /// One object of a plan is read at a time: a type never contains itself.
    var slots: [Int]

    init(_ type: ArrowType) {
        self.type = type
        switch type {
        case .bool: kind = .bool
        case .int64: kind = .int64
        case .float64: kind = .float64
        case .utf8, .largeUtf8: kind = .utf8
        case .list: kind = .list
        case .structure: kind = .structure
        default: kind = .unsupported
        }
        if case .list(let item) = type { self.item = NestedPlan(item.type) } else { self.item = nil }
        if case .structure(let fields) = type {
            names = fields.map { Array($0.name.utf8) }
            self.fields = fields.map { NestedPlan($0.type) }
            var index: [String: Int] = [:]
            for (position, field) in fields.enumerated() where index[field.name] == nil { index[field.name] = position }
            self.index = index
            slots = Array(repeating: -1, count: fields.count)
        } else {
            names = []
            self.fields = []
            index = [:]
            slots = []
        }
    }

    /// The field called `name`, looked for first at `position`.
    func field(_ name: UnsafeRawBufferPointer, position: Int) -> Int? {
        if position < names.count, names[position].elementsEqual(name) { return position }
        return index[String(decoding: name, as: UTF8.self)]
    }
}

/// A nested value that does not fit the column's type (the file changed
/// between the passes): what was expected and found, and where.
struct NestedMismatch: Error {
    let message: String
    let offset: Int
}

extension JSONScanner {
    /// Appends the value at `pos` (checked JSON) to `builder`, whose type
    /// `plan` describes; `pos` ends after it. Strings with escapes are
    /// decoded in `decoded` (given back after each).
    mutating func appendNested(_ plan: NestedPlan, to builder: ColumnBuilder) throws(NestedMismatch) {
        guard pos < end else { throw NestedMismatch(message: "the value is cut off", offset: pos) }
        let b = p[pos]
        if b == UInt8(ascii: "n") {
            pos += 4
            builder.appendNull()
            return
        }
        func mismatch() -> NestedMismatch {
            NestedMismatch(message: "expected \(plan.type.displayName), found \(describeValue(at: pos))", offset: pos)
        }
        switch plan.kind {
        case .bool:
            guard b == UInt8(ascii: "t") || b == UInt8(ascii: "f") else { throw mismatch() }
            builder.append(b == UInt8(ascii: "t"))
            pos += b == UInt8(ascii: "t") ? 4 : 5
        case .int64, .float64:
            guard b == UInt8(ascii: "-") || (b &- 0x30) < 10 else { throw mismatch() }
            let start = pos
            guard let cell = try? numberCell() else {
                throw NestedMismatch(message: "a number no int64 or float64 holds unchanged", offset: start)
            }
            switch (plan.kind, cell.kind) {
            case (.int64, .int):
                builder.append(Int64(bitPattern: cell.payload))
            case (.float64, .int) where isExactDouble(Int64(bitPattern: cell.payload)):
                builder.append(Double(Int64(bitPattern: cell.payload)))
            case (.float64, .float):
                builder.append(Double(bitPattern: cell.payload))
            default:
                pos = start
                throw mismatch()
            }
        case .utf8:
            guard b == UInt8(ascii: "\""), let string = try? scanString() else { throw mismatch() }
            if string.escaped {
                let text = decode(string.start, string.length)
                builder.appendUTF8(decoded.bytes(text.start, text.count))
                decoded.count = text.start
            } else {
                builder.appendUTF8(UnsafeRawBufferPointer(start: p + string.start, count: string.length))
            }
        case .list:
            guard b == UInt8(ascii: "["), let item = plan.item else { throw mismatch() }
            let items = builder.items
            pos += 1
            skipSpace()
            if peek() == UInt8(ascii: "]") {
                pos += 1
            } else {
                while true {
                    skipSpace()
                    try appendNested(item, to: items)
                    guard let done = try? endOfItem(UInt8(ascii: "]")) else { throw mismatch() }
                    if done { break }
                }
            }
            builder.endListRow()
        case .structure:
            guard b == UInt8(ascii: "{") else { throw mismatch() }
            // Where each member's value is (a repeated key: the last), then
            // the fields in their order, null where the object lacks one.
            for index in plan.slots.indices { plan.slots[index] = -1 }
            pos += 1
            skipSpace()
            if peek() == UInt8(ascii: "}") {
                pos += 1
            } else {
                var position = 0
                while true {
                    skipSpace()
                    let keyStart = pos
                    guard let key = try? scanString() else { throw mismatch() }
                    var name = UnsafeRawBufferPointer(start: p + key.start, count: key.length)
                    var decodedStart = -1
                    if key.escaped {
                        let text = decode(key.start, key.length)
                        name = decoded.bytes(text.start, text.count)
                        decodedStart = text.start
                    }
                    let found = plan.field(name, position: position)
                    let text = found == nil ? String(decoding: name, as: UTF8.self) : ""
                    if decodedStart >= 0 { decoded.count = decodedStart }
                    guard let field = found else {
                        throw NestedMismatch(message: "the key \"\(text)\" is not a field of \(plan.type.displayName)", offset: keyStart)
                    }
                    position += 1
                    skipSpace()
                    pos += 1   // ':'
                    skipSpace()
                    plan.slots[field] = pos
                    do throws(JSONSyntaxError) {
                        try skipValue(depth: 1)
                    } catch {
                        throw NestedMismatch(message: error.message, offset: error.offset)
                    }
                    guard let done = try? endOfItem(UInt8(ascii: "}")) else { throw mismatch() }
                    if done { break }
                }
            }
            let after = pos
            // The slots are read before the fields are: a field's own
            // objects reuse its plan's slots, never these.
            let starts = plan.slots
            for (index, start) in starts.enumerated() {
                if start < 0 {
                    builder.field(index).appendNull()
                } else {
                    pos = start
                    try appendNested(plan.fields[index], to: builder.field(index))
                }
            }
            pos = after
            builder.endStructRow()
        case .unsupported:
            throw NestedMismatch(message: "\(plan.type.displayName) is not read from JSON", offset: pos)
        }
    }
}
