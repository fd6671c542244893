import Foundation
import Testing
@testable import PipelineTemplate

/// The template language against Python's jinja2: every template of
/// Tests/conformance/templates.json renders to the same bytes in both
/// (jinja2 set up by jinja_differential.py: StrictUndefined,
/// keep_trailing_newline), and every template of its reject list fails in
/// both. Needs .build/test-venv with jinja2 (`make venv`); without it only
/// our side runs, unless PIPELINE_REQUIRE_PYARROW=1 (`make test`) makes
/// that a failure.
@Suite struct DifferentialTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let corpusPath = packageRoot.appendingPathComponent("Tests/conformance/templates.json").path
    static let script = packageRoot.appendingPathComponent("Tests/conformance/jinja_differential.py").path
    static let python = packageRoot.appendingPathComponent(".build/test-venv/bin/python").path

    struct Case {
        var name: String
        var template: String
        var data: [String: Value]
    }

    static func corpus() throws -> (render: [Case], reject: [Case]) {
        let text = try String(contentsOfFile: corpusPath, encoding: .utf8)
        let root = try Value(parsingJSON: text)
        func cases(_ key: String) throws -> [Case] {
            guard case .object(let object) = root, case .list(let items)? = object[key] else {
                throw TemplateError(.syntax, line: 1, column: 1, "no \(key) list in the corpus")
            }
            return items.compactMap { item in
                guard case .object(let o) = item, case .string(let name)? = o["name"], case .string(let template)? = o["template"] else {
                    return nil
                }
                var data: [String: Value] = [:]
                if case .object(let d)? = o["data"] { for member in d.members { data[member.key] = member.value } }
                return Case(name: name, template: template, data: data)
            }
        }
        return (try cases("render"), try cases("reject"))
    }

    static func ours(_ c: Case) -> Result<String, TemplateError> {
        do throws(TemplateError) {
            let template = try Template(parsing: c.template)
            return .success(try template.render(c.data))
        } catch {
            return .failure(error)
        }
    }

    @Test func theCorpusIsLargeAndEveryCaseBehavesOnOurSide() throws {
        let (render, reject) = try Self.corpus()
        #expect(render.count >= 60)
        #expect(reject.count >= 30)
        #expect(Set(render.map(\.name)).count == render.count)
        for c in render {
            if case .failure(let error) = Self.ours(c) { Issue.record("\(c.name): \(error)") }
        }
        for c in reject {
            if case .success(let text) = Self.ours(c) { Issue.record("\(c.name): accepted, rendered \(text.debugDescription)") }
        }
    }

    static var required: Bool { ProcessInfo.processInfo.environment["PIPELINE_REQUIRE_PYARROW"] == "1" }

    static func jinjaAvailable() -> Bool {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", "import jinja2"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    @Test func jinja2RendersTheCorpusExactlyAsWeDo() throws {
        guard Self.jinjaAvailable() else {
            if Self.required { Issue.record("PIPELINE_REQUIRE_PYARROW=1 but \(Self.python) cannot import jinja2 (make venv)") }
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [Self.script, Self.corpusPath]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(errorText)")
        let results = try Value(parsingJSON: String(decoding: data, as: UTF8.self))
        guard case .object(let root) = results, case .object(let rendered)? = root["render"], case .object(let rejected)? = root["reject"] else {
            Issue.record("unexpected output: \(String(decoding: data, as: UTF8.self).prefix(300))")
            return
        }
        let (render, reject) = try Self.corpus()
        var compared = 0
        for c in render {
            guard case .object(let python)? = rendered[c.name] else {
                Issue.record("\(c.name): no result from jinja2")
                continue
            }
            guard case .string(let expected)? = python["ok"] else {
                Issue.record("\(c.name): jinja2 failed: \(python["error"]?.pythonString ?? "?")")
                continue
            }
            switch Self.ours(c) {
            case .success(let text):
                #expect(Array(text.utf8) == Array(expected.utf8), "\(c.name): ours \(text.debugDescription), jinja2 \(expected.debugDescription)")
                compared += 1
            case .failure(let error):
                Issue.record("\(c.name): we fail (\(error)), jinja2 renders \(expected.debugDescription)")
            }
        }
        #expect(compared == render.count)
        for c in reject {
            guard case .string(let verdict)? = rejected[c.name] else {
                Issue.record("\(c.name): no verdict from jinja2")
                continue
            }
            #expect(verdict.hasPrefix("rejected"), "\(c.name): jinja2 accepts it")
        }
    }
}
