import PluginKit

/// A prompt template over row columns: `{column}` is replaced by the row's
/// value (text as is, numbers and lists as JSON), `{{` and `}}` are literal
/// braces.
struct PromptTemplate: Sendable {
    enum Part: Sendable {
        case text(String)
        case column(String)
    }

    let parts: [Part]

    init(_ template: String) throws(StepError) {
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

    /// The columns the template reads.
    var columns: [String] {
        parts.compactMap { if case .column(let name) = $0 { name } else { nil } }
    }

    /// The prompt for `row`; nil when a column it reads is null there.
    func render(_ batch: RecordBatch, row: Int, columns: [String: ArrowColumn]) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .text(let text): out += text
            case .column(let name):
                guard let column = columns[name], column.isValid(row) else { return nil }
                out += Self.text(column, row)
            }
        }
        return out
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
