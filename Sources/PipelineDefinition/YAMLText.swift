/// Plain-words explanations of text libyaml cannot read (bytes that are not
/// UTF-8, control characters, a compressed file given as a pipeline), with
/// the line and column where they are, and byte/position arithmetic on the
/// UTF-8 text for YAML messages.
enum YAMLText {
    /// "gzip-compressed", "a zip archive", ... when the bytes start with the
    /// magic number of a compressed or archive format; what to run to get
    /// the text.
    static func compression(_ bytes: UnsafeBufferPointer<UInt8>) -> (what: String, hint: String)? {
        func starts(_ magic: [UInt8]) -> Bool { bytes.count >= magic.count && zip(bytes, magic).allSatisfy { $0 == $1 } }
        if starts([0x1F, 0x8B]) { return ("gzip-compressed", "decompress it first (gunzip)") }
        if starts([0x28, 0xB5, 0x2F, 0xFD]) { return ("zstd-compressed", "decompress it first (unzstd)") }
        if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return ("xz-compressed", "decompress it first (unxz)") }
        if starts([0x42, 0x5A, 0x68]), bytes.count > 3, (0x31...0x39).contains(bytes[3]) {
            return ("bzip2-compressed", "decompress it first (bunzip2)")
        }
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) {
            return ("a zip archive", "extract the pipeline file from it first (unzip)")
        }
        return nil
    }

    /// The 1-based line and column (in characters) of the byte at `offset`.
    /// Lines end at LF, CR LF or a lone CR, as libyaml counts them.
    static func mark(ofByte offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> YAMLMark {
        let end = min(max(offset, 0), bytes.count)
        var line = 1
        var lineStart = 0
        var index = 0
        while index < end {
            let byte = bytes[index]
            if byte == 0x0A || (byte == 0x0D && (index + 1 >= bytes.count || bytes[index + 1] != 0x0A)) {
                line += 1
                lineStart = index + 1
            }
            index += 1
        }
        // Characters before the byte on its line: every byte that is not a
        // UTF-8 continuation byte starts one.
        let column = bytes[lineStart..<end].reduce(1) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        return YAMLMark(line: line, column: column)
    }

    /// The byte offset of a 1-based mark; nil when the text is shorter.
    static func offset(of mark: YAMLMark, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var line = 1
        var index = 0
        while line < mark.line {
            guard index < bytes.count else { return nil }
            let byte = bytes[index]
            index += 1
            if byte == 0x0A || (byte == 0x0D && (index >= bytes.count || bytes[index] != 0x0A)) { line += 1 }
        }
        var column = 1
        while column < mark.column {
            guard index < bytes.count else { return nil }
            index += 1
            while index < bytes.count, bytes[index] & 0xC0 == 0x80 { index += 1 }
            column += 1
        }
        return index
    }

    /// Where the first TAB of the leading white space of the line of `mark`
    /// is, when there is one at or before `mark`.
    static func indentingTab(at mark: YAMLMark, in bytes: UnsafeBufferPointer<UInt8>) -> YAMLMark? {
        guard let start = offset(of: YAMLMark(line: mark.line, column: 1), in: bytes) else { return nil }
        var index = start
        var column = 1
        while index < bytes.count, column <= mark.column, bytes[index] == 0x20 || bytes[index] == 0x09 {
            if bytes[index] == 0x09 { return YAMLMark(line: mark.line, column: column) }
            index += 1
            column += 1
        }
        // A TAB right at the mark, after other text (`key:\t- x`).
        if let at = offset(of: mark, in: bytes), at < bytes.count, bytes[at] == 0x09 { return mark }
        return nil
    }

    private static let otherEncoding = "is the file in another encoding, such as Latin-1 or Windows-1252?"

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "0x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
    }

    static func hexBytes(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { hex($0).dropFirst(2) }.joined(separator: " ")
    }

    static func codePoint(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The start of the UTF-8 sequence libyaml was reading when it stopped
    /// at `offset`: for a bad trailing byte it gives that byte's offset.
    static func characterStart(_ offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int {
        for back in 1...3 where offset - back >= 0 {
            let byte = bytes[offset - back]
            let width = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
            if width > back { return offset - back }
            if byte & 0xC0 != 0x80 { break }
        }
        return offset
    }

    /// Why the UTF-8 text cannot be read at byte `offset` (where libyaml
    /// stopped), in words.
    static func encodingProblem(at offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard offset >= 0, offset < bytes.count else {
            return offset >= bytes.count && offset > 0 ? "invalid UTF-8: the file ends inside a character" : nil
        }
        let offset = characterStart(offset, in: bytes)
        let lead = bytes[offset]
        switch lead {
        case 0x00:
            return "a NUL byte (0x00), which YAML text cannot contain: is this a binary file?"
        case 0x7F:
            return "control character 0x7F (DEL), which YAML text cannot contain"
        case 0x01..<0x20:
            return "control character \(hex(lead)), which YAML text cannot contain (only TAB, LF and CR)"
        case 0x20..<0x80:
            return nil
        case 0x80..<0xC0, 0xF8...0xFF:
            return "invalid UTF-8: byte \(hex(lead)) cannot start a character (\(otherEncoding))"
        default:
            break
        }
        let width = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        var value = UInt32(lead) & (width == 2 ? 0x1F : width == 3 ? 0x0F : 0x07)
        for index in 1..<width {
            guard offset + index < bytes.count else {
                return "invalid UTF-8: the file ends inside a character (byte \(hex(lead)) starts it)"
            }
            let next = bytes[offset + index]
            guard next & 0xC0 == 0x80 else {
                return "invalid UTF-8: the character that byte \(hex(lead)) starts is cut short by byte \(hex(next)) (\(otherEncoding))"
            }
            value = value << 6 | UInt32(next & 0x3F)
        }
        let sequence = hexBytes(bytes[offset..<offset + width])
        let smallest: UInt32 = width == 2 ? 0x80 : width == 3 ? 0x800 : 0x10000
        if value < smallest {
            return "invalid UTF-8: \(sequence) is an overlong encoding (\(codePoint(value)) written with more bytes than it needs)"
        }
        if (0xD800...0xDFFF).contains(value) {
            return "invalid UTF-8: \(sequence) encodes \(codePoint(value)), a UTF-16 surrogate, which UTF-8 text cannot contain"
        }
        if value > 0x10FFFF {
            return "invalid UTF-8: \(sequence) encodes a value beyond U+10FFFF, the last Unicode code point"
        }
        return "character \(codePoint(value)), which YAML text cannot contain (a control character or a noncharacter)"
    }
}
