import PipelineJSON

/// Rows of a preview for people: a grid when every value is short enough
/// for the width, else one block per row (column name, then its value
/// folded to the width, long text cut after a few lines).
public enum PreviewTable {
    /// Lines of a value shown in a row's block before it is cut.
    static let maxLines = 8

    /// `rows` hold one value per column; `title` heads the output.
    public static func render(title: String, columns: [String], rows: [[JSONValue]], width: Int) -> String {
        let cells = rows.map { row in row.map(text) }
        let header = "── \(title) (\(rows.count) row\(rows.count == 1 ? "" : "s")) "
        var lines = [header + String(repeating: "─", count: max(3, min(width, 100) - header.count))]
        if rows.isEmpty { return lines[0] + "\n(no rows)" }
        let widths = columns.indices.map { column in
            max(columns[column].count, cells.map { $0[column].count }.max() ?? 0)
        }
        let gridWidth = widths.reduce(0, +) + 2 * max(0, widths.count - 1)
        let multiline = cells.contains { $0.contains { $0.contains("\n") } }
        if gridWidth <= width && !multiline {
            func line(_ values: [String]) -> String {
                values.indices.map { values[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingTrailingSpaces
            }
            lines.append(line(columns))
            lines.append(line(widths.map { String(repeating: "─", count: $0) }))
            lines += cells.map(line)
            return lines.joined(separator: "\n")
        }
        let nameWidth = min(24, columns.map(\.count).max() ?? 0)
        let valueWidth = max(20, width - nameWidth - 2)
        for (number, row) in cells.enumerated() {
            lines.append("• row \(number + 1)")
            for (column, value) in zip(columns, row) {
                let name = column.count > nameWidth ? String(column.prefix(nameWidth - 1)) + "…" : column
                let folded = fold(value, width: valueWidth)
                for (index, part) in folded.enumerated() {
                    let label = index == 0 ? name : ""
                    lines.append(label.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " + part)
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A value as shown: text as it is, null as `null`, the rest as JSON.
    static func text(_ value: JSONValue?) -> String {
        guard let value else { return "" }
        if let string = value.stringValue { return string }
        return value.serialized
    }

    /// `value` cut into lines of at most `width` characters (at spaces where it can), at most
    /// `maxLines` of them; the last says how much was left out.
    static func fold(_ value: String, width: Int) -> [String] {
        var lines: [String] = []
        for paragraph in value.split(separator: "\n", omittingEmptySubsequences: false) {
            var rest = Substring(paragraph)
            repeat {
                // Break after the last space that fits, else mid-word.
                var piece = rest.prefix(width)
                if piece.count < rest.count, let space = piece.lastIndex(of: " "), space > piece.startIndex {
                    piece = rest[..<rest.index(after: space)]
                }
                lines.append(String(piece).trimmingTrailingSpaces)
                rest = rest[piece.endIndex...]
            } while !rest.isEmpty
        }
        guard lines.count > maxLines else { return lines }
        let shown = lines.prefix(maxLines - 1).reduce(0) { $0 + $1.count }
        return Array(lines.prefix(maxLines - 1)) + ["… (\(value.count - shown) more characters)"]
    }
}

private extension String {
    var trimmingTrailingSpaces: String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}
