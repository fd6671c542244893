import Foundation

/// A prompt template: `{name}` is replaced by a row's column (text as is,
/// numbers and lists as JSON) or by a named value; `{{` and `}}` are
/// literal braces. A value is never scanned for placeholders again.
public struct PromptTemplate: Sendable {
    public enum Part: Sendable {
        case text(String)
        case column(String)
    }

    public let parts: [Part]

    public init(_ template: String) throws(StepError) {
        var parts: [Part] = []
        var text = ""
        var index = template.startIndex
        while index < template.endIndex {
            let character = template[index]
            let next = template.index(after: index)
            if character == "{", next < template.endIndex, template[next] == "{" {
                text.append("{")
                index = template.index(after: next)
            } else if character == "}", next < template.endIndex, template[next] == "}" {
                text.append("}")
                index = template.index(after: next)
            } else if character == "{" {
                guard let close = template[next...].firstIndex(of: "}") else {
                    throw .invalidArgument("template: \"{\" without a closing \"}\" (write {{ for a literal brace)")
                }
                let name = String(template[next..<close])
                guard !name.isEmpty else { throw .invalidArgument("template: empty {} placeholder") }
                if !text.isEmpty { parts.append(.text(text)); text = "" }
                parts.append(.column(name))
                index = template.index(after: close)
            } else {
                text.append(character)
                index = next
            }
        }
        if !text.isEmpty { parts.append(.text(text)) }
        self.parts = parts
    }

    /// The placeholders' names (the columns the template reads), in order.
    public var placeholders: [String] {
        parts.compactMap { if case .column(let name) = $0 { name } else { nil } }
    }

    /// The prompt for a row; nil when a column it reads is null there.
    public func render(_ row: TaskRow) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .text(let text): out += text
            case .column(let name):
                guard let value = row.promptText(name) else { return nil }
                out += value
            }
        }
        return out
    }

    /// The text with each placeholder replaced by its value ("" for a name
    /// `values` lacks: check names with `placeholders` first).
    public func render(_ values: [String: String]) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let text): out += text
            case .column(let name): out += values[name] ?? ""
            }
        }
        return out
    }

    /// Throws unless every placeholder is one of `allowed`.
    public func check(placeholders allowed: Set<String>, step: String) throws(StepError) {
        for name in placeholders where !allowed.contains(name) {
            throw .invalidArgument("\(step): the template names {\(name)}; it may use \(allowed.sorted().map { "{\($0)}" }.joined(separator: ", "))")
        }
    }

    static func text(_ column: ArrowColumn, _ row: Int) -> String {
        switch column.type {
        case .utf8, .largeUtf8: return column.string(row) ?? ""
        case .int64: return String(column.int64(row))
        case .uint64: return String(column.uint64(row))
        case .float64: return String(column.float64(row))
        case .bool: return column.bool(row) ? "true" : "false"
        case .list:
            let items = column.items
            return "[" + column.valueRange(row).map { items.isValid($0) ? quoted(text(items, $0), items.type) : "null" }
                .joined(separator: ", ") + "]"
        default: return "?"
        }
    }

    private static func quoted(_ text: String, _ type: ArrowType) -> String {
        guard type == .utf8 || type == .largeUtf8 else { return text }
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
