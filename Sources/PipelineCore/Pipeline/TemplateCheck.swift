import PipelineDefinition
import PipelineJSON
import PipelineTemplate

/// The templates of parameters declared `"format": "template"`, parsed
/// with the template language PluginKit's PromptTemplate renders
/// (PipelineTemplate: Jinja form, or the legacy `{column}` form), and where
/// a position inside one is in the pipeline file.
enum TemplateCheck {
    /// The parameters of a step's schema that are templates.
    static func templateParameters(_ schema: JSONValue) -> [String] {
        (schema["properties"]?.objectValue ?? [:]).filter { $0.value["format"]?.stringValue == "template" }.keys.sorted()
    }

    /// How a template names a variable in messages: `{name}` in the legacy
    /// form, `"name"` in Jinja.
    static func display(_ name: String, legacy: Bool) -> String {
        legacy ? "{\(name)}" : "\"\(name)\""
    }

    /// Where `line`:`column` of the template `text` is in the file, given
    /// where its YAML scalar starts (`origin`) and the file's bytes: inside
    /// a plain or quoted scalar on one line, or a literal block (`|`), when
    /// the file holds the template's text verbatim up to that point (no
    /// escapes, no ${VARIABLE} before it); otherwise the scalar's start.
    static func origin(_ origin: SourceOrigin?, line: Int, column: Int, text: String, source: [UInt8]) -> SourceOrigin? {
        guard case .file(let start) = origin, line >= 1, column >= 1 else { return origin }
        let fileLines = lines(String(decoding: source, as: UTF8.self))
        let templateLines = lines(text)
        let scalarLine = start.line - 1
        guard scalarLine >= 0, scalarLine < fileLines.count, line <= templateLines.count else { return origin }
        let first = fileLines[scalarLine]
        let startIndex = start.column - 1
        guard startIndex >= 0, startIndex < first.count else { return origin }
        let wanted = templateLines[line - 1]
        let indicator = first[startIndex]
        if indicator == "|" {
            // A literal block: template line k is file line start + k.
            let fileIndex = scalarLine + line
            guard fileIndex < fileLines.count else { return origin }
            let fileLine = fileLines[fileIndex]
            guard fileLine.count >= wanted.count, Array(fileLine.suffix(wanted.count)) == wanted,
                  fileLine.prefix(fileLine.count - wanted.count).allSatisfy({ $0 == " " }) else { return origin }
            var location = start
            location.line = fileIndex + 1
            location.column = fileLine.count - wanted.count + column
            return .file(location)
        }
        guard line == 1 else { return origin }
        let textStart = indicator == "\"" || indicator == "'" ? startIndex + 1 : startIndex
        // The template up to and including the position, as written.
        let compared = min(column, wanted.count)
        guard textStart + compared <= first.count,
              Array(first[textStart..<(textStart + compared)]) == Array(wanted.prefix(compared)) else { return origin }
        var location = start
        location.column = textStart + column
        return .file(location)
    }

    static func lines(_ text: String) -> [[Unicode.Scalar]] {
        var out: [[Unicode.Scalar]] = [[]]
        for scalar in text.unicodeScalars {
            if scalar == "\n" {
                if out[out.count - 1].last == "\r" { out[out.count - 1].removeLast() }
                out.append([])
            } else {
                out[out.count - 1].append(scalar)
            }
        }
        return out
    }
}
