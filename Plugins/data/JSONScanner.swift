import PipelineJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// A small recursive-descent JSON scanner over UTF-8 bytes (RFC 8259),
// written for speed: it never builds a tree. Top-level values of a row
// become `Cell`s that point into the batch's copy of the line; arrays of
// strings or numbers also record their items; objects and other arrays are
// validated and kept as their source text, which JSONShape.swift reads
// again to type them (first pass) and to build their Arrow values.

/// Why a line is not valid JSON, and where (byte offset in the line).
struct JSONSyntaxError: Error {
    var message: String
    var offset: Int
    /// The line ended while a value was still open (a cut-off line).
    var atEnd: Bool
    /// The bytes were not well-formed UTF-8.
    var badUTF8: Bool = false
    /// Valid JSON, but a key or value the file's columns do not take (a
    /// key not declared, a value of another type).
    var notInSchema: Bool = false
}

/// What a cell holds.
enum CellKind: UInt8 {
    case null
    case bool            // payload 0 or 1
    case int             // payload: Int64 bit pattern
    case float           // payload: Double bit pattern
    case string          // text = the span itself (no escapes)
    case decodedString   // text in the decoded arena at payload, `count` bytes
    case stringArray     // items: strings (and nulls) from payload, `count` items
    case intArray        // items: integers (`.int` cells) and nulls, no other number
    case numberArray     // numbers: doubles (and nullNumber); at least one had a fraction or an exponent
    case emptyArray      // items: only nulls, or none
    case json            // object or other array: its source text is the span
    case numberText      // a number no Int64 or double holds unchanged: its text is the span
}

/// One value of a row (or one item of an array).
struct Cell {
    /// Meaning depends on `kind`.
    var payload: UInt64
    /// The value's source text in the batch's line arena: offset and length.
    var start: Int
    var length: UInt32
    /// Item count of arrays; byte count of decoded strings.
    var count: UInt32
    var kind: CellKind

    static let null = Cell(payload: 0, start: 0, length: 0, count: 0, kind: .null)

    init(payload: UInt64, start: Int, length: UInt32, count: UInt32, kind: CellKind) {
        self.payload = payload
        self.start = start
        self.length = length
        self.count = count
        self.kind = kind
    }
}

/// Deeper nesting is an error (and bounds the recursion).
let maxJSONDepth = 256

private let quote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")

/// Scans one line, `p[0..<end]`, that the batch has copied to its line
/// arena at offset `base`.
struct JSONScanner {
    let p: UnsafePointer<UInt8>
    let end: Int
    var pos = 0
    let base: Int
    /// Strings with escapes are decoded here.
    let decoded: ByteArena
    /// Items of string arrays (and the nulls of all-null arrays).
    var items: [Cell]
    /// Items of number arrays, as the doubles a list<float64> holds (nulls
    /// as `nullNumber`): an embedding's hundreds of floats go straight here.
    var numbers: [Double]
    /// A number that no Int64 or double holds unchanged (a 30-digit id,
    /// 1e400) is kept as its text (true) instead of failing the line.
    var inexactNumbersAsText = false

    /// Marks a null item among `numbers`: a signalling NaN no JSON text and
    /// no arithmetic produces.
    static let nullNumber = Double(bitPattern: 0x7FF4_0000_0000_0001)

    init(_ p: UnsafePointer<UInt8>, count: Int, base: Int, decoded: ByteArena, items: [Cell], numbers: [Double]) {
        self.p = p
        self.end = count
        self.base = base
        self.decoded = decoded
        self.items = items
        self.numbers = numbers
    }

    // MARK: Errors

    func fail(_ message: String, at offset: Int) -> JSONSyntaxError {
        JSONSyntaxError(message: message, offset: offset, atEnd: false)
    }

    /// "expected X, found Y" at `pos`; at the end of the line it is a cut-off value.
    func expected(_ what: String) -> JSONSyntaxError {
        guard pos < end else {
            return JSONSyntaxError(message: "the line ends inside a JSON value (expected \(what))", offset: pos,
                                   atEnd: true)
        }
        return fail("expected \(what), found \(describeByte(p[pos]))", at: pos)
    }

    // MARK: Whitespace and literals

    @inline(__always)
    mutating func skipSpace() {
        while pos < end {
            let b = p[pos]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            pos += 1
        }
    }

    @inline(__always)
    func peek() -> UInt8? { pos < end ? p[pos] : nil }

    /// `true`, `false` or `null`, whose first byte is at `pos`.
    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        let w = word.utf8Start
        for i in 0..<n {
            guard pos + i < end else {
                throw JSONSyntaxError(message: "the line ends inside a JSON value (in \"\(word)\")", offset: pos + i,
                                      atEnd: true)
            }
            guard p[pos + i] == w[i] else {
                throw fail("invalid literal (expected \"\(word)\")", at: pos)
            }
        }
        pos += n
    }

    // MARK: Strings

    /// Scans the string whose opening quote is at `pos`; on return `pos` is
    /// after the closing quote. Checks UTF-8, control characters and escapes.
    /// Returns the offset and length of the content and whether it has escapes.
    @inline(__always)
    mutating func scanString() throws(JSONSyntaxError) -> (start: Int, length: Int, escaped: Bool) {
        pos += 1
        let start = pos
        var escaped = false
        while true {
            // Eight plain ASCII bytes at a time: none ≥ 0x80, < 0x20, '"' or '\'.
            while pos + 8 <= end {
                let w = UnsafeRawPointer(p + pos).loadUnaligned(as: UInt64.self)
                let quotes = w ^ 0x2222_2222_2222_2222
                let slashes = w ^ 0x5C5C_5C5C_5C5C_5C5C
                let special = ((w &- 0x2020_2020_2020_2020) | (quotes &- 0x0101_0101_0101_0101)
                    | (slashes &- 0x0101_0101_0101_0101) | w) & 0x8080_8080_8080_8080
                if special != 0 { break }
                pos += 8
            }
            guard pos < end else {
                throw JSONSyntaxError(message: "the line ends inside a string", offset: start - 1, atEnd: true)
            }
            let b = p[pos]
            if b == quote {
                let length = pos - start
                pos += 1
                return (start, length, escaped)
            } else if b == backslash {
                escaped = true
                try checkEscape()
            } else if b < 0x20 {
                throw fail("control character \(describeByte(b)) in a string must be escaped", at: pos)
            } else if b >= 0x80 {
                let n = utf8SequenceLength(p, pos, end)
                if n == 0 {
                    var error = fail("invalid UTF-8 (\(describeByte(b)) at byte offset \(pos) of the line)", at: pos)
                    error.badUTF8 = true
                    throw error
                }
                pos += n
            } else {
                pos += 1
            }
        }
    }

    private func hex4(at i: Int) throws(JSONSyntaxError) -> UInt32 {
        guard i + 4 <= end else {
            throw JSONSyntaxError(message: "the line ends inside a \\u escape", offset: i, atEnd: true)
        }
        var value: UInt32 = 0
        for k in 0..<4 {
            let c = p[i + k]
            let digit: UInt32
            switch c {
            case 0x30...0x39: digit = UInt32(c - 0x30)
            case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
            default: throw fail("invalid \\u escape: \(describeByte(c)) is not a hex digit", at: i + k)
            }
            value = value << 4 | digit
        }
        return value
    }

    /// Checks the escape at `pos` (a backslash) and moves past it.
    private mutating func checkEscape() throws(JSONSyntaxError) {
        guard pos + 1 < end else {
            throw JSONSyntaxError(message: "the line ends inside an escape", offset: pos, atEnd: true)
        }
        switch p[pos + 1] {
        case quote, backslash, UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
            UInt8(ascii: "r"), UInt8(ascii: "t"):
            pos += 2
        case UInt8(ascii: "u"):
            let unit = try hex4(at: pos + 2)
            if unit >= 0xD800 && unit < 0xDC00 {
                guard pos + 7 < end, p[pos + 6] == backslash, p[pos + 7] == UInt8(ascii: "u") else {
                    // Cut off where the low half should start: "\ud83d" or "\ud83d\" at the end.
                    if pos + 6 == end || (pos + 7 == end && p[pos + 6] == backslash) {
                        throw JSONSyntaxError(message: "the line ends inside a surrogate pair", offset: pos, atEnd: true)
                    }
                    throw fail("unpaired surrogate \\u\(String(unit, radix: 16, uppercase: true)) (a high surrogate must be followed by a low one)", at: pos)
                }
                let low = try hex4(at: pos + 8)
                guard low >= 0xDC00 && low < 0xE000 else {
                    throw fail("unpaired surrogate \\u\(String(unit, radix: 16, uppercase: true)) (followed by \\u\(String(low, radix: 16, uppercase: true)), not a low surrogate)", at: pos)
                }
                pos += 12
            } else if unit >= 0xDC00 && unit < 0xE000 {
                throw fail("unpaired low surrogate \\u\(String(unit, radix: 16, uppercase: true))", at: pos)
            } else {
                pos += 6
            }
        default:
            throw fail("invalid escape \\\(Character(Unicode.Scalar(p[pos + 1] < 0x80 ? p[pos + 1] : 0x3F)))", at: pos)
        }
    }

    /// Decodes the already checked string content `p[start..<start+length]`
    /// into the decoded arena; returns where it starts there.
    func decode(_ start: Int, _ length: Int) -> (start: Int, count: Int) {
        let out = decoded
        let first = out.count
        out.reserve(length)
        var i = start
        let stop = start + length
        while i < stop {
            var run = i
            while run < stop && p[run] != backslash { run += 1 }
            out.append(p + i, count: run - i)
            i = run
            guard i < stop else { break }
            let c = p[i + 1]
            switch c {
            case UInt8(ascii: "b"): out.append(0x08); i += 2
            case UInt8(ascii: "f"): out.append(0x0C); i += 2
            case UInt8(ascii: "n"): out.append(0x0A); i += 2
            case UInt8(ascii: "r"): out.append(0x0D); i += 2
            case UInt8(ascii: "t"): out.append(0x09); i += 2
            case UInt8(ascii: "u"):
                var scalar = hexValue(i + 2)
                i += 6
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    let low = hexValue(i + 2)
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                appendUTF8(scalar, to: out)
            default: out.append(c); i += 2   // " \ /
            }
        }
        return (first, out.count - first)
    }

    private func hexValue(_ i: Int) -> UInt32 {
        var value: UInt32 = 0
        for k in 0..<4 {
            let c = p[i + k]
            value = value << 4 | UInt32(c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10)
        }
        return value
    }

    /// A string cell for the string at `pos`.
    @inline(__always)
    mutating func stringCell() throws(JSONSyntaxError) -> Cell {
        let (start, length, escaped) = try scanString()
        if escaped {
            let text = decode(start, length)
            return Cell(payload: UInt64(text.start), start: base + start - 1, length: UInt32(length + 2),
                        count: UInt32(text.count), kind: .decodedString)
        }
        return Cell(payload: 0, start: base + start, length: UInt32(length), count: 0, kind: .string)
    }

    // MARK: Numbers

    /// A number that becomes a value (a column's or a number list's).
    /// One that would change on the way is an error, or `.numberText` with
    /// `inexactNumbersAsText`: never silently rounded.
    @inline(__always)
    mutating func numberCell() throws(JSONSyntaxError) -> Cell {
        if let cell = plainNumberCell() { return cell }
        return try anyNumberCell(checked: true)
    }

    /// The common shapes, in one pass: `-?digits` or `-?digits.digits`
    /// with at most 19 digits and no exponent (every float an embedding
    /// writer prints), exactly as parseNumber would read them. Nil: leave
    /// it to anyNumberCell, which handles (and rejects) everything else.
    @inline(__always)
    private mutating func plainNumberCell() -> Cell? {
        let start = pos
        var i = pos
        let negative = i < end && p[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var mantissa: UInt64 = 0
        let integerStart = i
        while i < end, p[i] &- 0x30 < 10 {
            mantissa = mantissa &* 10 &+ UInt64(p[i] &- 0x30)
            i += 1
        }
        let integerDigits = i - integerStart
        guard integerDigits > 0, integerDigits == 1 || p[integerStart] != UInt8(ascii: "0") else { return nil }
        var fractionDigits = 0
        if i < end && p[i] == UInt8(ascii: ".") {
            i += 1
            let fractionStart = i
            // Eight digits at a time while they last (SWAR), then one by one.
            while i + 8 <= end {
                let word = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                guard isEightDigits(word) else { break }
                mantissa = mantissa &* 100_000_000 &+ eightDigitsValue(word)
                i += 8
            }
            while i < end, p[i] &- 0x30 < 10 {
                mantissa = mantissa &* 10 &+ UInt64(p[i] &- 0x30)
                i += 1
            }
            fractionDigits = i - fractionStart
            guard fractionDigits > 0 else { return nil }
        }
        // An exponent, or a character that would make the number invalid: the general path.
        if i < end {
            let b = p[i]
            guard b != UInt8(ascii: "e") && b != UInt8(ascii: "E") && b != UInt8(ascii: "+") && b != UInt8(ascii: "-")
                && b != UInt8(ascii: ".") else { return nil }
        }
        guard integerDigits + fractionDigits <= 18 else { return nil }
        pos = i
        if fractionDigits == 0 {
            let value = negative ? -Int64(mantissa) : Int64(mantissa)
            return Cell(payload: UInt64(bitPattern: value), start: base + start, length: UInt32(i - start), count: 0,
                        kind: .int)
        }
        // The Double of the digits is JSONNumber's, the host's (PipelineJSON):
        // exact when mantissa ≤ 2^53, which ≤ 18 digits are not always; when
        // not, parseNumber takes the general path.
        guard let value = JSONNumber.exactDouble(mantissa: mantissa, exponent: -fractionDigits, negative: negative) else {
            pos = start
            return nil
        }
        return Cell(payload: value.bitPattern, start: base + start, length: UInt32(i - start), count: 0, kind: .float)
    }

    /// `checked` false: the number stays inside JSON text (an object's
    /// member), where it is copied byte for byte, so any valid number will do.
    private mutating func anyNumberCell(checked: Bool) throws(JSONSyntaxError) -> Cell {
        let start = pos
        while pos < end {
            let b = p[pos]
            // digits . + - e E
            guard (b &- 0x30) < 10 || b == 0x2E || b == 0x2D || b == 0x2B || b | 0x20 == 0x65 else { break }
            pos += 1
        }
        guard let number = parseNumber(p + start, pos - start, lenient: false) else {
            let text = String(decoding: UnsafeBufferPointer(start: p + start, count: min(pos - start, 40)), as: UTF8.self)
            var error = fail("invalid number \"\(text)\"", at: start)
            error.atEnd = pos == end
            throw error
        }
        switch number {
        case .int(let value):
            return Cell(payload: UInt64(bitPattern: value), start: base + start, length: UInt32(pos - start),
                        count: 0, kind: .int)
        case .float(let value):
            return Cell(payload: value.bitPattern, start: base + start, length: UInt32(pos - start), count: 0,
                        kind: .float)
        case .inexact(let value, let why):
            if !checked || inexactNumbersAsText {
                return Cell(payload: value.bitPattern, start: base + start, length: UInt32(pos - start), count: 0,
                            kind: checked ? .numberText : .float)
            }
            let text = String(decoding: UnsafeBufferPointer(start: p + start, count: min(pos - start, 60)), as: UTF8.self)
            throw fail("the number \(text)\(pos - start > 60 ? "…" : "") cannot be read as a number without changing it: "
                       + "\(why.reason); to keep every digit, read such numbers as text (inexact_numbers: text)", at: start)
        }
    }

    // MARK: Values

    /// The top-level value of a row's key, at `pos`.
    mutating func value(depth: Int) throws(JSONSyntaxError) -> Cell {
        guard pos < end else { throw expected("a value") }
        let start = pos
        switch p[pos] {
        case quote:
            return try stringCell()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try numberCell()
        case UInt8(ascii: "t"):
            try literal("true")
            return Cell(payload: 1, start: base + start, length: 4, count: 0, kind: .bool)
        case UInt8(ascii: "f"):
            try literal("false")
            return Cell(payload: 0, start: base + start, length: 5, count: 0, kind: .bool)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "["):
            return try array(depth: depth + 1)
        case UInt8(ascii: "{"):
            try skipObject(depth: depth + 1)
            return Cell(payload: 0, start: base + start, length: UInt32(pos - start), count: 0, kind: .json)
        default:
            throw expected("a value")
        }
    }

    /// An array: strings, integers, or numbers (with nulls) are recorded
    /// as items (`.stringArray`, `.intArray`, `.numberArray`: the doubles
    /// of a list<float64>); anything else makes it `.json`, checked but not
    /// recorded. Integers stay integers until a number with a fraction or
    /// an exponent joins them; then each must be one a double holds
    /// exactly, or the line is bad (never rounded), unless numbers may be
    /// kept as text: then the array stays JSON text.
    mutating func array(depth: Int) throws(JSONSyntaxError) -> Cell {
        guard depth <= maxJSONDepth else { throw fail("JSON nested deeper than \(maxJSONDepth) levels", at: pos) }
        let start = pos
        let first = items.count
        let firstNumber = numbers.count
        var kind = CellKind.emptyArray
        pos += 1
        skipSpace()
        if peek() == UInt8(ascii: "]") {
            pos += 1
        } else {
            while true {
                skipSpace()
                guard pos < end else { throw expected("a value") }
                if kind != .json {
                    let b = p[pos]
                    if b == quote {
                        if kind == .emptyArray || kind == .stringArray {
                            items.append(try stringCell())
                            kind = .stringArray
                        } else {
                            kind = .json
                            try skipValue(depth: depth)
                        }
                    } else if b == UInt8(ascii: "-") || (b &- 0x30) < 10 {
                        let numberStart = pos
                        let number = try numberCell()
                        switch (kind, number.kind) {
                        case (_, .numberText), (.stringArray, _):
                            // A number kept as text: the array stays JSON text, digits and all.
                            kind = .json
                        case (.emptyArray, .int), (.intArray, .int):
                            items.append(number)
                            kind = .intArray
                        case (.emptyArray, _), (.intArray, _):
                            // The first number with a fraction: the integers so far become doubles.
                            for item in items[first...] {
                                guard item.kind == .int else { numbers.append(Self.nullNumber); continue }
                                let value = Int64(bitPattern: item.payload)
                                guard isExactDouble(value) else {
                                    if inexactNumbersAsText { kind = .json; break }
                                    throw inexactInArray(value, at: item.start - base)
                                }
                                numbers.append(Double(value))
                            }
                            if kind != .json {
                                items.removeLast(items.count - first)
                                numbers.append(Double(bitPattern: number.payload))
                                kind = .numberArray
                            }
                        default:   // .numberArray
                            if number.kind == .int {
                                let value = Int64(bitPattern: number.payload)
                                if isExactDouble(value) {
                                    numbers.append(Double(value))
                                } else if inexactNumbersAsText {
                                    kind = .json
                                } else {
                                    throw inexactInArray(value, at: numberStart)
                                }
                            } else {
                                numbers.append(Double(bitPattern: number.payload))
                            }
                        }
                    } else if b == UInt8(ascii: "n") {
                        try literal("null")
                        if kind == .numberArray { numbers.append(Self.nullNumber) } else { items.append(.null) }
                    } else {
                        kind = .json
                        try skipValue(depth: depth)
                    }
                    if kind == .json {
                        items.removeLast(items.count - first)
                        numbers.removeLast(numbers.count - firstNumber)
                    }
                } else {
                    try skipValue(depth: depth)
                }
                if try endOfItem(UInt8(ascii: "]")) { break }
            }
        }
        if kind == .numberArray {
            return Cell(payload: UInt64(firstNumber), start: base + start, length: UInt32(pos - start),
                        count: UInt32(numbers.count - firstNumber), kind: kind)
        }
        return Cell(payload: UInt64(first), start: base + start, length: UInt32(pos - start),
                    count: UInt32(items.count - first), kind: kind)
    }

    /// An integer a double does not hold exactly in an array of numbers
    /// that also has a fraction or an exponent (a list<float64>).
    private func inexactInArray(_ value: Int64, at offset: Int) -> JSONSyntaxError {
        fail("the integer \(value) is in an array with numbers that have a fraction or an exponent, and a float64 "
             + "cannot hold it exactly: write the array's numbers all as integers, or read such numbers as text "
             + "(inexact_numbers: text)", at: offset)
    }

    /// After an item of an array (`closing` "]") or object ("}"): moves past
    /// the "," that follows (false) or the closing byte (true: it ended).
    @inline(__always)
    mutating func endOfItem(_ closing: UInt8) throws(JSONSyntaxError) -> Bool {
        skipSpace()
        if pos < end && p[pos] == UInt8(ascii: ",") {
            pos += 1
            return false
        }
        if pos < end && p[pos] == closing {
            pos += 1
            return true
        }
        let bracket = closing == UInt8(ascii: "]") ? "']'" : "'}'"
        guard pos < end else { throw expected("',' or \(bracket)") }
        throw expected("',' or \(bracket) in \(closing == UInt8(ascii: "]") ? "an array" : "an object")")
    }

    /// Checks any value at `pos` and moves past it. A number in it that
    /// no Int64 or double holds unchanged fails the line, as anywhere else,
    /// unless numbers may be kept as text.
    mutating func skipValue(depth: Int) throws(JSONSyntaxError) {
        guard pos < end else { throw expected("a value") }
        switch p[pos] {
        case quote: _ = try scanString()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            if plainNumberCell() == nil { _ = try anyNumberCell(checked: true) }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "["): try skipArray(depth: depth + 1)
        case UInt8(ascii: "{"): try skipObject(depth: depth + 1)
        default: throw expected("a value")
        }
    }

    mutating func skipArray(depth: Int) throws(JSONSyntaxError) {
        guard depth <= maxJSONDepth else { throw fail("JSON nested deeper than \(maxJSONDepth) levels", at: pos) }
        pos += 1
        skipSpace()
        if peek() == UInt8(ascii: "]") {
            pos += 1
            return
        }
        while true {
            skipSpace()
            try skipValue(depth: depth)
            if try endOfItem(UInt8(ascii: "]")) { return }
        }
    }

    mutating func skipObject(depth: Int) throws(JSONSyntaxError) {
        guard depth <= maxJSONDepth else { throw fail("JSON nested deeper than \(maxJSONDepth) levels", at: pos) }
        pos += 1
        skipSpace()
        if peek() == UInt8(ascii: "}") {
            pos += 1
            return
        }
        while true {
            skipSpace()
            guard peek() == quote else { throw expected("a string key") }
            _ = try scanString()
            skipSpace()
            guard peek() == UInt8(ascii: ":") else { throw expected("':' after an object key") }
            pos += 1
            skipSpace()
            try skipValue(depth: depth)
            if try endOfItem(UInt8(ascii: "}")) { return }
        }
    }

    /// What the line holds instead of an object, for the message.
    func describeValue(at i: Int) -> String {
        guard i < end else { return "nothing" }
        switch p[i] {
        case UInt8(ascii: "["): return "an array"
        case quote: return "a string"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "a number"
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            for word: StaticString in ["true", "false", "null"] where word.utf8CodeUnitCount <= end - i
                && memcmp(p + i, word.utf8Start, word.utf8CodeUnitCount) == 0 {
                return word.utf8Start[0] == UInt8(ascii: "n") ? "null" : "a boolean"
            }
            return "\(describeByte(p[i])), which starts no JSON value"
        default: return "\(describeByte(p[i])), which starts no JSON value"
        }
    }
}

/// Writes the JSON text `p[0..<count]` without insignificant whitespace.
func appendCompactJSON(_ p: UnsafePointer<UInt8>, _ count: Int, to out: ByteArena) {
    out.reserve(count)
    var i = 0
    var inString = false
    while i < count {
        let b = p[i]
        if inString {
            if b == backslash {
                out.append(b)
                out.append(p[i + 1])
                i += 2
                continue
            }
            if b == quote { inString = false }
            out.append(b)
        } else if b == quote {
            inString = true
            out.append(b)
        } else if b != 0x20 && b != 0x0A && b != 0x0D && b != 0x09 {
            out.append(b)
        }
        i += 1
    }
}

// Eight ASCII digits in one little-endian word: the check and the value,
// without a loop (the technique of simdjson and fast_float).
@inline(__always)
private func isEightDigits(_ word: UInt64) -> Bool {
    #if _endian(little)
    return ((word & 0xF0F0_F0F0_F0F0_F0F0) | (((word &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4))
        == 0x3333_3333_3333_3333
    #else
    return false
    #endif
}

@inline(__always)
private func eightDigitsValue(_ word: UInt64) -> UInt64 {
    let mask: UInt64 = 0x0000_00FF_0000_00FF
    var value = word &- 0x3030_3030_3030_3030
    value = (value &* 10) &+ (value >> 8)  // pairs of digits
    let high = ((value & mask) &* (100 + (1_000_000 << 32)))
    let low = (((value >> 16) & mask) &* (1 + (10_000 << 32)))
    return (high &+ low) >> 32
}

