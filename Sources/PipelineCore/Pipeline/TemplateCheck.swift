import PipelineJSON

/// The `{column}` templates of parameters declared `"format": "template"`,
/// read the way PluginKit's PromptTemplate renders them: `{name}` is a
/// placeholder, `{{` and `}}` are literal braces.
enum TemplateCheck {
    /// The placeholders of `text`, in order, or what is wrong with it.
    static func placeholders(_ text: String) -> Result<[String], TemplateProblem> {
        var names: [String] = []
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            if (character == "{" || character == "}"), next < text.endIndex, text[next] == character {
                index = text.index(after: next)
            } else if character == "{" {
                guard let close = text[next...].firstIndex(of: "}") else {
                    return .failure(TemplateProblem("\"{\" without a closing \"}\" (write {{ for a literal brace)"))
                }
                let name = String(text[next..<close])
                guard !name.isEmpty else { return .failure(TemplateProblem("an empty {} placeholder (write {{}} for literal braces)")) }
                names.append(name)
                index = text.index(after: close)
            } else {
                index = next
            }
        }
        return .success(names)
    }

    /// The parameters of a step's schema that are templates.
    static func templateParameters(_ schema: JSONValue) -> [String] {
        (schema["properties"]?.objectValue ?? [:]).filter { $0.value["format"]?.stringValue == "template" }.keys.sorted()
    }
}

struct TemplateProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
