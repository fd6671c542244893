import PipelineDefinition
import PipelineHost
import PipelineJSON
import PipelineTemplate

extension PipelineChecker {
    /// The `"format": "expression"` parameters of a step (a `filter`
    /// condition): well formed, and each name a column the input can have
    /// (`available`, when the columns are known). Reported inside the
    /// expression's text where the file holds it verbatim.
    mutating func checkExpressions(of index: Int, descriptor: StepDescriptor, parameters: [String: JSONValue],
                                   available: Set<String>?, parents: [[Int]], produced: [Set<String>]) {
        let step = steps[index]
        let keys = (descriptor.parameterSchema["properties"]?.objectValue ?? [:])
            .filter { $0.value["format"]?.stringValue == "expression" }.keys.sorted()
        for key in keys {
            guard let text = parameters[key]?.stringValue else { continue }
            let path = step.path.appending("with").appending(key)
            let origin = pipeline.sourceMap.valueOrigin(path) ?? .file(step.location)
            let source = self.source
            func at(_ line: Int, _ column: Int) -> SourceOrigin? {
                TemplateCheck.origin(origin, line: line, column: column, text: text, source: source)
            }
            let expression: Expression
            do throws(TemplateError) { expression = try Expression(parsing: text) } catch {
                diagnostics.append(Diagnostic("\(path): \(error.message)", origin: at(error.line, error.column)))
                continue
            }
            guard let available else { continue }
            for name in expression.names where !available.contains(name) && !ColumnContracts.reserved.contains(name) {
                let message = unknownColumn(name, shown: "\"\(name)\"", path: path, index: index, available: available,
                                            parents: parents, produced: produced)
                let position = Self.position(of: name, in: text)
                diagnostics.append(Diagnostic(message, origin: position.map { at($0.line, $0.column) } ?? origin))
            }
        }
    }

    /// "PATH: NAME names a column no earlier step produces (available: ...)",
    /// or that a step produces but a later one drops, with "did you mean".
    func unknownColumn(_ name: String, shown: String, path: JSONPath, index: Int, available: Set<String>,
                       parents: [[Int]], produced: [Set<String>]) -> String {
        let list = available.isEmpty ? "none" : available.sorted().joined(separator: ", ")
        var message = "\(path): \(shown) names a column "
        if let producer = nearestProducer(of: name, from: index, parents: parents, produced: produced) {
            message += "that \"\(producer)\" produces but a step after it does not pass on"
        } else {
            message += "no earlier step produces"
        }
        return message + " (available: \(list))" + Suggestion.hint(for: name, among: available.sorted())
    }

    /// Where `name` first appears as a whole word in `text` (1-based), outside quotes.
    static func position(of name: String, in text: String) -> (line: Int, column: Int)? {
        let scalars = Array(text.unicodeScalars), wanted = Array(name.unicodeScalars)
        func isWord(_ s: Unicode.Scalar) -> Bool { s == "_" || s.properties.isAlphabetic || ("0"..."9").contains(s) }
        var line = 1, column = 1, quote: Unicode.Scalar?
        var i = 0
        while i < scalars.count {
            let s = scalars[i]
            if let open = quote {
                if s == "\\" { i += 1; column += 1 } else if s == open { quote = nil }
            } else if s == "\"" || s == "'" {
                quote = s
            } else if i + wanted.count <= scalars.count, Array(scalars[i..<(i + wanted.count)]) == wanted,
                      i == 0 || !isWord(scalars[i - 1]),
                      i + wanted.count == scalars.count || !isWord(scalars[i + wanted.count]) {
                return (line, column)
            }
            if s == "\n" { line += 1; column = 1 } else { column += 1 }
            i += 1
        }
        return nil
    }
}
