// libFuzzer target: the template and expression language
// (Sources/PipelineTemplate): the lexer, the expression and template
// parsers, the evaluator with every filter and test, and the regex engine.
//
// Input: byte 0 = mode (0: a template, 1: an expression, 2: a regex
// pattern, searched in the rest after a NUL, 3: a JSON document as the
// data), byte 1 = which data set; the rest is the text. Whatever the input:
// no crash, every error positioned inside the text (1-based), a parse that
// succeeds renders within the step and output limits, and a regex search
// ends (the engine is linear).
@testable import PipelineTemplate

private let dataSets: [[String: Value]] = [
    [:],
    ["x": 1, "s": "héllo", "xs": [1, 2, 3], "n": .null, "f": 2.5, "b": true,
     "m": .object(ValueObject([("role", "user"), ("content", "hi"), ("tags", ["a", "b"])]))],
    ["examples": [.object(ValueObject([("q", "2+2?"), ("a", "4")])), .object(ValueObject([("q", "x"), ("a", .null)]))],
     "question": "why?", "rating": 7, "finish_reason": "stop"],
]

private func checkPosition(_ error: TemplateError, in text: String) {
    // Lines end at U+000A (a "\r\n" is one Character: count scalars).
    let lines = text.unicodeScalars.filter { $0 == "\n" }.count + 1
    expect(error.line >= 1 && error.column >= 1, "position \(error.line):\(error.column)")
    expect(error.line <= lines, "line \(error.line) of \(lines)")
    expect(!error.message.isEmpty, "an empty message")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let mode = input.byte() % 4
    var values = dataSets[Int(input.byte()) % dataSets.count]
    let text = String(decoding: input.rest(), as: UTF8.self)
    var limits = RenderLimits()
    limits.steps = 200_000
    limits.outputLength = 1 << 20

    switch mode {
    case 0, 3:
        var source = text
        if mode == 3 {
            // The data is the JSON before the first NUL, the template after.
            let parts = text.split(separator: "\0", maxSplits: 1, omittingEmptySubsequences: false)
            if case .object(let object)? = try? Value(parsingJSON: String(parts[0])) {
                values = [:]
                for member in object.members { values[member.key] = member.value }
            }
            source = parts.count > 1 ? String(parts[1]) : ""
        }
        do {
            let template = try Template(parsing: source)
            expect(template.names == (try Template(parsing: source)).names, "names differ between two parses")
            for name in template.names { expect(template.namePositions[name] != nil, "no position for \(name)") }
            for nullOutput in [NullOutput.pythonNone, .error] {
                do {
                    let out = try template.render({ values[$0] }, nullOutput: nullOutput, limits: limits)
                    expect(out.unicodeScalars.count <= limits.outputLength, "output over the limit")
                } catch {
                    expect(error.kind == .render, "a syntax error while rendering: \(error)")
                    checkPosition(error, in: source)
                }
            }
        } catch {
            expect(error.kind == .syntax, "a render error while parsing: \(error)")
            checkPosition(error, in: source)
        }
    case 1:
        do {
            let expression = try Expression(parsing: text)
            do {
                let value = try expression.evaluate({ values[$0] }, limits: limits)
                _ = value.isTruthy
                _ = value.pythonString
            } catch {
                checkPosition(error, in: text)
            }
        } catch {
            checkPosition(error, in: text)
        }
    default:
        let parts = text.split(separator: "\0", maxSplits: 1, omittingEmptySubsequences: false)
        do {
            let regex = try Regex(String(parts[0]))
            _ = regex.search(parts.count > 1 ? String(parts[1]) : String(parts[0]))
            _ = regex.search(String(repeating: "a", count: 2000) + "!")
        } catch {
            expect(error.column >= 1 && error.column <= parts[0].unicodeScalars.count + 1, "regex error column \(error.column)")
        }
    }
    return 0
}
