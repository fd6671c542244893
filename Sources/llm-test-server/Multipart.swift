// multipart/form-data bodies (RFC 7578), as a file upload sends them:
// only what POST /v1/files needs.

struct FormPart: Sendable {
    var name: String
    var filename: String?
    var content: [UInt8]
}

enum Multipart {
    struct ParseError: Error {
        let message: String
    }

    /// The boundary of a `multipart/form-data; boundary=...` content type.
    static func boundary(contentType: String?) throws(ParseError) -> String {
        guard let contentType else {
            throw ParseError(message: "the request has no Content-Type; send multipart/form-data")
        }
        let parameters = contentType.split(separator: ";").map { $0.trimmingSpaces() }
        guard parameters.first?.lowercased() == "multipart/form-data" else {
            throw ParseError(message: "the Content-Type is '\(contentType)'; send multipart/form-data")
        }
        for parameter in parameters.dropFirst() {
            guard let eq = parameter.firstIndex(of: "=") else { continue }
            guard parameter[..<eq].trimmingSpaces().lowercased() == "boundary" else { continue }
            var value = parameter[parameter.index(after: eq)...].trimmingSpaces()
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard !value.isEmpty, value.count <= 200 else { break }
            return value
        }
        throw ParseError(message: "the multipart/form-data Content-Type has no boundary")
    }

    /// The parts of a body, in order.
    static func parse(_ body: [UInt8], boundary: String) throws(ParseError) -> [FormPart] {
        let delimiter = Array("--\(boundary)".utf8)
        // The first delimiter may open the body or follow a preamble line.
        guard let first = find(delimiter, in: body, from: 0) else {
            throw ParseError(message: "the body has no multipart boundary '--\(boundary)'")
        }
        let separator = Array("\r\n--\(boundary)".utf8)
        var parts: [FormPart] = []
        var cursor = first + delimiter.count
        while true {
            // After a delimiter: "--" ends the body, else CRLF and a part.
            if cursor + 1 < body.count, body[cursor] == UInt8(ascii: "-"), body[cursor + 1] == UInt8(ascii: "-") {
                return parts
            }
            while cursor < body.count, body[cursor] == UInt8(ascii: " ") || body[cursor] == UInt8(ascii: "\t") { cursor += 1 }
            guard cursor + 1 < body.count, body[cursor] == 13, body[cursor + 1] == 10 else {
                throw ParseError(message: "malformed multipart body: no line break after a boundary")
            }
            cursor += 2
            guard let headerEnd = find([13, 10, 13, 10], in: body, from: cursor) else {
                throw ParseError(message: "malformed multipart body: a part's headers do not end")
            }
            let headers = String(decoding: body[cursor..<headerEnd], as: UTF8.self)
            let contentStart = headerEnd + 4
            guard let contentEnd = find(separator, in: body, from: contentStart) else {
                throw ParseError(message: "malformed multipart body: the part after byte \(cursor) has no closing boundary")
            }
            var name: String?
            var filename: String?
            for line in headers.split(separator: "\r\n") {
                guard let colon = line.firstIndex(of: ":"),
                      line[..<colon].trimmingSpaces().lowercased() == "content-disposition" else { continue }
                for parameter in splitParameters(line[line.index(after: colon)...]).dropFirst() {
                    guard let eq = parameter.firstIndex(of: "=") else { continue }
                    let key = parameter[..<eq].trimmingSpaces().lowercased()
                    var value = parameter[parameter.index(after: eq)...].trimmingSpaces()
                    if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                        value = String(value.dropFirst().dropLast())
                    }
                    if key == "name" { name = value }
                    if key == "filename" { filename = value }
                }
            }
            guard let name else {
                throw ParseError(message: "malformed multipart body: a part has no Content-Disposition name")
            }
            parts.append(FormPart(name: name, filename: filename, content: Array(body[contentStart..<contentEnd])))
            cursor = contentEnd + separator.count
        }
    }

    /// `form-data; name="a;b"; filename="x"` split at the semicolons outside quotes.
    private static func splitParameters(_ text: Substring) -> [String] {
        var result: [String] = []
        var current = ""
        var quoted = false
        for character in text {
            if character == "\"" { quoted.toggle() }
            if character == ";", !quoted {
                result.append(current.trimmingSpaces())
                current = ""
            } else {
                current.append(character)
            }
        }
        result.append(current.trimmingSpaces())
        return result
    }

    private static func find(_ pattern: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        guard !pattern.isEmpty, bytes.count >= pattern.count else { return nil }
        let limit = bytes.count - pattern.count
        guard from <= limit else { return nil }
        return bytes.withUnsafeBufferPointer { buffer -> Int? in
            let head = pattern[0]
            var i = from
            while i <= limit {
                if buffer[i] == head {
                    var k = 1
                    while k < pattern.count, buffer[i + k] == pattern[k] { k += 1 }
                    if k == pattern.count { return i }
                }
                i += 1
            }
            return nil
        }
    }
}
