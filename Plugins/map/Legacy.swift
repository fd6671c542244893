import PipelineTemplate
import PluginKit

/// A legacy `{column}` template rendered by copying bytes: text columns'
/// UTF-8 straight from the batch, other columns as the legacy form writes
/// them (Template.legacyText). Only for rows where every column it names
/// is there and not null; for the others `Template.render` is asked, which
/// says why the row has no text.
struct LegacyTemplate {
    enum Part {
        case text([UInt8])
        case column(String)
    }

    let parts: [Part]
    let names: [String]

    /// `text` in the legacy form (Template(parsing:) accepted it as such):
    /// `{name}` a column, `}}` a literal `}`.
    init(_ text: String) {
        var parts: [Part] = []
        var literal: [UInt8] = []
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if c == "}", i + 1 < scalars.count, scalars[i + 1] == "}" {
                literal.append(UInt8(ascii: "}"))
                i += 2
            } else if c == "{", let close = scalars[(i + 1)...].firstIndex(of: "}") {
                if !literal.isEmpty { parts.append(.text(literal)); literal = [] }
                var name = ""
                name.unicodeScalars.append(contentsOf: scalars[(i + 1)..<close])
                parts.append(.column(name))
                i = close + 1
            } else {
                literal.append(contentsOf: String(c).utf8)
                i += 1
            }
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        self.parts = parts
        var names: [String] = []
        for case .column(let name) in parts where !names.contains(name) { names.append(name) }
        self.names = names
    }

    /// The text of a template without placeholders.
    var constantText: String? {
        var bytes: [UInt8] = []
        for part in parts {
            guard case .text(let text) = part else { return nil }
            bytes += text
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The columns of this batch, one per part (nil for text parts and
    /// names the batch lacks).
    func columns(_ lookup: [String: ArrowColumn]) -> [ArrowColumn?] {
        parts.map { part in
            if case .column(let name) = part { return lookup[name] }
            return nil
        }
    }

    /// Appends the text of row `row` to `out`; false (and `out` as it was)
    /// when a column is missing or null there.
    func render(row: Int, columns: [ArrowColumn?], into out: inout [UInt8]) -> Bool {
        let start = out.count
        for (index, part) in parts.enumerated() {
            switch part {
            case .text(let bytes):
                out.append(contentsOf: bytes)
            case .column:
                guard let column = columns[index], column.isValid(row) else {
                    out.removeSubrange(start...)
                    return false
                }
                switch column.type {
                case .utf8, .largeUtf8:
                    out.append(contentsOf: column.utf8Bytes(row))
                default:
                    out.append(contentsOf: Template.legacyText(PromptTemplate.value(column, row)).utf8)
                }
            }
        }
        return true
    }
}
