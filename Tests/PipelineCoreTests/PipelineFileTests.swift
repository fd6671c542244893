import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineDefinition

/// The YAML layer, `${ENV}`, `--param` and the file's shape.
@Suite("Pipeline files")
struct PipelineFileTests {
    private func errors(_ yaml: String, overrides: [String] = [], environment: [String: String] = [:]) throws -> [String] {
        try PipelineTesting.errors(yaml, overrides: overrides, environment: environment)
    }

    private func plan(_ yaml: String, overrides: [String] = [], environment: [String: String] = [:]) throws -> PipelinePlan {
        try PipelineTesting.plan(yaml, overrides: overrides, environment: environment)
    }

    private func problems(_ yaml: String) -> [String] {
        YAML.parse(Array(yaml.utf8)).problems.map(\.description)
    }

    // MARK: - YAML

    @Test func nodesCarryOneBasedMarks() throws {
        let root = try YAML.parse("a: 1\nb:\n  - x\n  - {c: 'd'}\n")
        #expect(root.mark == YAMLMark(line: 1, column: 1))
        let pairs = try #require(root.mapping)
        #expect(pairs.map { $0.key.scalar?.text } == ["a", "b"])
        #expect(pairs[0].value.mark == YAMLMark(line: 1, column: 4))
        #expect(pairs[1].key.mark == YAMLMark(line: 2, column: 1))
        let items = try #require(root["b"]?.sequence)
        #expect(root["b"]?.mark == YAMLMark(line: 3, column: 3))
        #expect(items[0].mark == YAMLMark(line: 3, column: 5))
        #expect(items[1].mark == YAMLMark(line: 4, column: 5))
        let inner = try #require(items[1].mapping)
        #expect(inner[0].key.mark == YAMLMark(line: 4, column: 6))
        #expect(inner[0].value.mark == YAMLMark(line: 4, column: 9))
    }

    @Test func scalarStyles() throws {
        let root = try YAML.parse("""
            plain: a b
            single: 'it''s'
            double: "tab\\there"
            literal: |
              one
              two
            folded: >
              one
              two
            """)
        #expect(root["plain"]?.scalar?.text == "a b")
        #expect(root["plain"]?.scalar?.style == .plain)
        #expect(root["single"]?.scalar?.text == "it's")
        #expect(root["single"]?.scalar?.style == .singleQuoted)
        #expect(root["double"]?.scalar?.text == "tab\there")
        #expect(root["double"]?.scalar?.style == .doubleQuoted)
        #expect(root["literal"]?.scalar?.text == "one\ntwo\n")
        #expect(root["literal"]?.scalar?.style == .literal)
        #expect(root["folded"]?.scalar?.text == "one two")  // the last line: no newline to keep
        #expect(root["folded"]?.scalar?.style == .folded)
    }

    @Test func coreSchemaScalars() {
        let cases: [(String, YAML.CoreValue)] = [
            ("", .null), ("~", .null), ("null", .null), ("Null", .null), ("NULL", .null),
            ("true", .bool(true)), ("True", .bool(true)), ("FALSE", .bool(false)),
            ("yes", .string("yes")), ("off", .string("off")),
            ("0", .int(0)), ("-12", .int(-12)), ("+3", .int(3)), ("017", .int(17)),
            ("0o17", .int(15)), ("0x1F", .int(31)), ("0xff", .int(255)),
            ("1.5", .float(1.5)), ("-.5", .float(-0.5)), ("1e3", .float(1000)), ("2.", .float(2)),
            ("6.02E+23", .float(6.02e23)), (".inf", .float(.infinity)), ("-.Inf", .float(-.infinity)),
            ("1_000", .string("1_000")), ("0b101", .string("0b101")), ("1.2.3", .string("1.2.3")),
            ("0x", .string("0x")), ("-", .string("-")), ("e5", .string("e5")), ("inf", .string("inf")),
        ]
        for (text, expected) in cases {
            #expect(YAML.resolvePlain(text) == expected, "\(text)")
        }
        guard case .float(let nan) = YAML.resolvePlain(".nan") else {
            Issue.record(".nan is not a float")
            return
        }
        #expect(nan.isNaN)
    }

    @Test func scalarsBecomeJSONByStyle() throws {
        let plan = try plan("""
            name: demo
            steps:
              - name: load
                uses: load_rows
                with: {path: "123"}
              - name: gen
                uses: generate
                input: inst
                with: {mode: chat, temperature: 0x1, max_tokens: ~, stop: ['true', "null", '0o7']}
                llm: t
              - {name: inst, uses: make_instruction, input: load, with: {template: !!str 42}}
            llms: {t: {model: m}}
            """)
        let gen = try #require(plan.steps.first { $0.name == "gen" })
        #expect(gen.parameters["temperature"] == .number(1))
        #expect(gen.parameters["max_tokens"] == .null)
        #expect(gen.parameters["stop"] == .array([.string("true"), .string("null"), .string("0o7")]))
        #expect(try errors("""
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a}}
              - {name: inst, uses: make_instruction, input: load}
              - {name: gen, uses: generate, input: inst, with: {mode: chat, stop: ['true', "null", 0o7]}, llm: t}
            llms: {t: {model: m}}
            """) == ["p.yaml:5:88: error: steps[2].with.stop[2]: must be a string, got 7"])
        #expect(plan.steps.first { $0.name == "load" }?.parameters["path"] == .string("/work/project/123"))
        #expect(plan.steps.first { $0.name == "inst" }?.parameters["template"] == .string("42"))
    }

    @Test func anchorsAndAliasesAreResolved() throws {
        let root = try YAML.parse("""
            base: &b {x: 1, y: [a, b]}
            copy: *b
            merged:
              <<: *b
              x: 2
            """)
        #expect(root["copy"]?.mapping?.map { $0.key.scalar?.text } == ["x", "y"])
        #expect(root["copy"]?["y"]?.sequence?.count == 2)
        // The alias's own place, so messages point where it is used.
        #expect(root["copy"]?.mark == YAMLMark(line: 2, column: 7))
        #expect(root["merged"]?["x"]?.scalar?.text == "2")
        #expect(root["merged"]?["y"]?.sequence?.map { $0.scalar?.text } == ["a", "b"])

        // Through a pipeline: shared parameters.
        let plan = try plan("""
            name: demo
            steps:
              - name: a
                uses: load_rows
                with: &common {path: seed.jsonl, limit: 5}
              - name: b
                uses: load_rows
                with:
                  <<: *common
                  limit: 9
            """)
        #expect(plan.steps.map { $0.parameters["limit"] } == [.number(5), .number(9)])
    }

    @Test func aliasExpansionIsCapped() {
        var yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for (name, previous) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d"), ("f", "e")] {
            yaml += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        let (root, problems) = YAML.parse(Array(yaml.utf8))
        #expect(root == nil)
        #expect(problems.count == 1)
        #expect(problems.first?.message.contains("more than 100000 nodes once aliases are expanded") == true)
    }

    @Test func unknownAliasIsAProblem() {
        #expect(problems("a: *nowhere\n") == ["1:4: alias *nowhere names no anchor defined before it"])
    }

    @Test func duplicateKeyIsReportedAtTheSecondKey() throws {
        #expect(problems("a: 1\nb: 2\na: 3\n") == [#"3:1: duplicate key "a" (first at line 1, column 1)"#])
        let yaml = """
            name: demo
            steps:
              - name: load
                uses: load_rows
                with: {path: a.jsonl}
                uses: count
            """
        #expect(try errors(yaml) == [#"p.yaml:6:5: error: duplicate key "uses" (first at line 4, column 5)"#])
    }

    @Test func syntaxErrorsAreReportedWhereLibyamlFindsThem() throws {
        #expect(problems("a: b: c\n") == ["1:5: YAML syntax error: mapping values are not allowed in this context"])
        #expect(problems("a: [1, 2\nb: 3\n")
                == ["2:2: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)"])
        let yaml = """
            name: demo
            steps:
              - name: load
               uses: load_rows
            """
        let found = try errors(yaml)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("p.yaml:4:") == true, "\(found)")
        #expect(found.first?.contains("YAML syntax error") == true, "\(found)")
    }

    @Test func tabsAreNamed() throws {
        let tab = "a TAB character: YAML indents with spaces only; replace the TAB with spaces"
        // libyaml: "found character that cannot start any token".
        #expect(problems("a:\n\tb: 1\n") == ["2:1: \(tab)"])
        // libyaml: "found a tab character that violates indentation".
        #expect(problems("a:\n  - b: 1\n\tc: 2\n") == ["3:1: \(tab)"])
        #expect(problems("a:\n  b:\n  \t c: 1\n") == ["3:3: \(tab)"])
        // A TAB between a key and its value is fine.
        #expect(problems("a:\tb\n").isEmpty)
        #expect(try errors("name: demo\nsteps:\n\t- {name: numbers, uses: count}\n") == ["p.yaml:3:1: error: \(tab)"])
    }

    @Test func tooManyValuesBlameAnOpenBracketNotAliases() {
        let yaml = "a: 1\nb: [" + String(repeating: "x, ", count: 100_001)
        #expect(problems(yaml) == [
            "2:299990: the document has more than 100000 values, far more than a pipeline file holds: the `[` at line 2, column 4 is still open here; is its `]` missing?",
        ])
        let block = String(repeating: "- x\n", count: 100_001)
        #expect(problems(block) == ["100000:3: the document has more than 100000 values, far more than a pipeline file holds"])
    }

    @Test func anAliasInsideItsOwnAnchorIsNamed() throws {
        #expect(problems("a: &loop\n  - *loop\n")
                == ["2:5: alias *loop is inside the collection it names (&loop at line 1, column 4): a value cannot contain itself"])
        // The placeholder left in its place draws no second complaint.
        #expect(try errors("name: demo\nsteps: &s [*s]\n")
                == ["p.yaml:2:12: error: alias *s is inside the collection it names (&s at line 2, column 8): a value cannot contain itself"])
    }

    @Test func unsupportedTagsAreErrorsAtTheTag() throws {
        let rule = "a pipeline file takes only the core tags !!str, !!int, !!float, !!bool, !!null, !!map and !!seq"
        let yaml = """
            name: demo
            steps: !include steps.yaml
            """
        #expect(try errors(yaml) == ["p.yaml:2:8: error: unsupported YAML tag !include: \(rule)"])
        let tagged = """
            name: !!python/str demo
            steps:
              - name: load
                uses: load_rows
                with: !!python/dict {path: a.jsonl}
              - name: inst
                uses: !custom make_instruction
                input: load
                with: {template: !!binary aGVsbG8=}
            """
        #expect(try errors(tagged) == [
            "p.yaml:1:7: error: unsupported YAML tag !!python/str: \(rule)",
            "p.yaml:5:11: error: unsupported YAML tag !!python/dict: \(rule)",
            "p.yaml:7:11: error: unsupported YAML tag !custom: \(rule)",
            "p.yaml:9:22: error: unsupported YAML tag !!binary: \(rule)",
        ])
        // The core tags are accepted where they fit.
        let plan = try plan("""
            name: !!str demo
            steps: !!seq
              - !!map {name: load, uses: load_rows, with: {path: a.jsonl, limit: !!int 3}}
            """)
        #expect(plan.steps.first?.parameters["limit"] == .number(3))
        #expect(problems("a: !!map x\n") == ["1:4: YAML tag !!map does not fit a scalar"])
        #expect(try errors("name: demo\nsteps: [{name: demo, uses: count}]\n", overrides: ["demo.x=!include a.yaml"])
                == ["error: --param demo.x=!include a.yaml: the value is not valid YAML: unsupported YAML tag !include: \(rule) (at column 1 of the value)"])
    }

    @Test func anEmptyDocumentIsEmpty() throws {
        #expect(try errors("---\n") == ["p.yaml:2:1: error: the document is empty; a pipeline needs name: and steps:"])
        #expect(try errors("--- ~\n") == ["p.yaml:1:5: error: the document is empty; a pipeline needs name: and steps:"])
        #expect(try errors("just text\n") == ["p.yaml:1:1: error: a pipeline file is a mapping with name: and steps:, not a scalar"])
    }

    @Test func oneDocumentOnly() throws {
        #expect(problems("a: 1\n---\nb: 2\n").first
                == "2:1: the file holds more than one YAML document (a second `---`); a pipeline file is one document")
        #expect(problems("---\na: 1\n...\n").isEmpty)
    }

    @Test func deepNestingIsCapped() {
        let yaml = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(problems(yaml) == ["1:129: collections nested deeper than 128 levels"])
    }

    @Test func emptyFile() throws {
        #expect(try errors("") == ["p.yaml:1:1: error: the file is empty; a pipeline needs name: and steps:"])
        #expect(try errors("# only a comment\n") == ["p.yaml:1:1: error: the file is empty; a pipeline needs name: and steps:"])
    }

    /// Every diagnostic for raw bytes, as printed.
    private func errors(bytes: [UInt8]) throws -> [String] {
        let registry = try PipelineTesting.registry()
        do {
            _ = try PipelineLoader.load(bytes: bytes, file: "p.yaml", overrides: [], environment: [:], registry: registry)
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func unreadableTextIsExplainedAtItsLineAndColumn() throws {
        let start = Array("name: demo\nsteps: ".utf8)
        let latin1 = "is the file in another encoding, such as Latin-1 or Windows-1252?"
        let cases: [([UInt8], String)] = [
            ([0xFF, 0xFE, 0x41], "p.yaml:2:8: error: invalid UTF-8: byte 0xFF cannot start a character (\(latin1))"),
            ([0x80], "p.yaml:2:8: error: invalid UTF-8: byte 0x80 cannot start a character (\(latin1))"),
            ([0xE9, 0x74, 0xE9], "p.yaml:2:8: error: invalid UTF-8: the character that byte 0xE9 starts is cut short by byte 0x74 (\(latin1))"),
            ([0xC0, 0xAF], "p.yaml:2:8: error: invalid UTF-8: C0 AF is an overlong encoding (U+002F written with more bytes than it needs)"),
            ([0xE0, 0x80, 0xAF], "p.yaml:2:8: error: invalid UTF-8: E0 80 AF is an overlong encoding (U+002F written with more bytes than it needs)"),
            ([0xED, 0xA0, 0x80], "p.yaml:2:8: error: invalid UTF-8: ED A0 80 encodes U+D800, a UTF-16 surrogate, which UTF-8 text cannot contain"),
            ([0xF4, 0x90, 0x80, 0x80], "p.yaml:2:8: error: invalid UTF-8: F4 90 80 80 encodes a value beyond U+10FFFF, the last Unicode code point"),
            ([0x00], "p.yaml:2:8: error: a NUL byte (0x00), which YAML text cannot contain: is this a binary file?"),
            ([0x01], "p.yaml:2:8: error: control character 0x01, which YAML text cannot contain (only TAB, LF and CR)"),
            ([0x7F], "p.yaml:2:8: error: control character 0x7F (DEL), which YAML text cannot contain"),
            ([0xC2, 0x80], "p.yaml:2:8: error: character U+0080, which YAML text cannot contain (a control character or a noncharacter)"),
            // The column counts characters, not bytes.
            (Array("[é, ".utf8) + [0xFF], "p.yaml:2:12: error: invalid UTF-8: byte 0xFF cannot start a character (\(latin1))"),
        ]
        for (tail, expected) in cases {
            #expect(try errors(bytes: start + tail) == [expected], "\(tail)")
        }
    }

    @Test func compressedFilesAreNamed() throws {
        let text = Array("name: demo\nsteps: []\n".utf8)
        let cases: [([UInt8], String)] = [
            ([0x1F, 0x8B, 0x08, 0x00], "the file is gzip-compressed, not YAML text: decompress it first (gunzip)"),
            ([0x28, 0xB5, 0x2F, 0xFD], "the file is zstd-compressed, not YAML text: decompress it first (unzstd)"),
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "the file is xz-compressed, not YAML text: decompress it first (unxz)"),
            (Array("BZh91AY&SY".utf8) + [0x00, 0xFF], "the file is bzip2-compressed, not YAML text: decompress it first (bunzip2)"),
            ([0x50, 0x4B, 0x03, 0x04, 0x14], "the file is a zip archive, not YAML text: extract the pipeline file from it first (unzip)"),
        ]
        for (magic, message) in cases {
            #expect(try errors(bytes: magic + text) == ["p.yaml:1:1: error: \(message)"])
        }
    }

    // MARK: - The file's shape

    @Test func unknownKeysSuggestKnownOnes() throws {
        let yaml = """
            name: demo
            stpes: []
            steps:
              - name: load
                uses: load_rows
                params: {path: a.jsonl}
                inputs: x
                frobnicate: 1
            """
        #expect(try errors(yaml) == [
            #"p.yaml:2:1: error: unknown top-level key "stpes"; did you mean "steps"?"#,
            #"p.yaml:4:5: error: steps[0].with: missing required parameter "path""#,
            #"p.yaml:6:5: error: steps[0]: unknown key "params"; did you mean "with"?"#,
            #"p.yaml:7:5: error: steps[0]: unknown key "inputs"; did you mean "input"?"#,
            #"p.yaml:8:5: error: steps[0]: unknown key "frobnicate" (expected one of: name, uses, with, batch_size, input, llm, credential)"#,
        ])
    }

    @Test func shapeErrors() throws {
        #expect(try errors("- a\n- b\n") == ["p.yaml:1:1: error: a pipeline file is a mapping with name: and steps:, not a list"])
        #expect(try errors("description: x\n") == [
            #"p.yaml:1:1: error: missing required key "name" (the pipeline's name)"#,
            #"p.yaml:1:1: error: missing required key "steps" (the list of steps)"#,
        ])
        #expect(try errors("name: demo\nsteps: []\n") == ["p.yaml:2:8: error: steps: list at least one step"])
        #expect(try errors("name: demo\nsteps:\n") == ["p.yaml:2:7: error: steps: must be a list of steps, not empty"])
        #expect(try errors("name: demo\nsteps: {a: 1}\n") == ["p.yaml:2:8: error: steps: must be a list of steps, not a mapping"])
        #expect(try errors("name: my demo\nsteps: [{name: n, uses: count}]\n")
                == [#"p.yaml:1:7: error: name: "my demo" is not a valid pipeline name (letters, digits, _, - and .)"#])
        #expect(try errors("name: [x]\nsteps: [{name: n, uses: count}]\n")
                == ["p.yaml:1:7: error: name: must be the pipeline's name (text), not a list"])
        #expect(try errors("name: demo\nsteps:\n  - count\n")
                == ["p.yaml:3:5: error: steps[0]: a step is a mapping with name: and uses:, not a scalar"])
        #expect(try errors("name: demo\nsteps:\n  - {uses: count}\n")
                == [#"p.yaml:3:5: error: steps[0]: missing required key "name""#])
        #expect(try errors("name: demo\nsteps:\n  - {name: n}\n")
                == [#"p.yaml:3:5: error: step "n": missing required key "uses" (the plugin step to run)"#])
        #expect(try errors("name: demo\nsteps:\n  - {name: a.b, uses: count}\n")
                == [#"p.yaml:3:12: error: steps[0].name: "a.b" is not a valid step name (letters, digits, _ and -)"#])
        #expect(try errors("name: demo\nsteps:\n  - {name: n, uses: count, with: [1]}\n")
                == ["p.yaml:3:34: error: steps[0].with: must be a mapping of parameters, not a list"])
        #expect(try errors("name: demo\nsteps:\n  - {name: n, uses: count, batch_size: '5'}\n")
                == [#"p.yaml:3:40: error: steps[0].batch_size: must be an integer ≥ 1, got "5""#])
        #expect(try errors("name: demo\nsteps:\n  - {name: n, uses: count}\n  - {name: m, uses: passthrough, input: {a: 1}}\n")
                == ["p.yaml:4:41: error: steps[1].input: must be a step name (text), not a mapping"])
        #expect(try errors("name: demo\nsteps:\n  - {name: n, uses: count}\n  - {name: m, uses: passthrough, input: [n, n]}\n")
                == [#"p.yaml:4:45: error: steps[1].input: "n" is listed twice"#])
        #expect(try errors("name: demo\nllms: [a]\nsteps: [{name: n, uses: count}]\n")
                == ["p.yaml:2:7: error: llms: must be a mapping from LLM names to their settings, not a list"])
        #expect(try errors("name: demo\nllms: {t: 1}\nsteps: [{name: n, uses: count}]\n")
                == ["p.yaml:2:11: error: llms.t: must be a mapping of settings (model:, base_url:, ...), not a scalar"])
    }

    @Test func valuesAreNamesNotTypes() throws {
        // name: 2024 and a step called 1 are names, whatever YAML would make of them.
        let plan = try plan("name: 2024\nsteps:\n  - {name: 1, uses: count}\n  - {name: 2, uses: passthrough, input: 1}\n")
        #expect(plan.name == "2024")
        #expect(plan.steps.map(\.inputs) == [[], ["1"]])
    }

    // MARK: - ${ENV}

    @Test func interpolationUsesTheEnvironment() throws {
        let plan = try plan("""
            name: ${NAME}
            steps:
              - name: load
                uses: load_rows
                with:
                  path: ${DATA}/seed.jsonl
                  limit: ${LIMIT}
                batch_size: ${BATCH}
              - name: inst
                uses: make_instruction
                input: load
                with: {template: "cost: $${PRICE} for ${ITEM:-nothing}, $$5"}
            """, environment: ["NAME": "env-demo", "DATA": "/data", "LIMIT": "25", "BATCH": "64"])
        #expect(plan.name == "env-demo")
        let load = try #require(plan.steps.first)
        #expect(load.parameters["path"] == .string("/data/seed.jsonl"))
        #expect(load.parameters["limit"] == .number(25))
        #expect(load.batchSize == 64)
        #expect(plan.steps.last?.parameters["template"] == .string("cost: ${PRICE} for nothing, $$5"))
    }

    @Test func defaultsApplyWhenUnsetOrEmpty() {
        let environment = ["EMPTY": "", "SET": "value"]
        func expand(_ text: String) -> String? {
            try? Interpolation.expand(text, environment: environment).get().text
        }
        #expect(expand("${UNSET:-fallback}") == "fallback")
        #expect(expand("${EMPTY:-fallback}") == "fallback")
        #expect(expand("${SET:-fallback}") == "value")
        #expect(expand("${EMPTY}") == "")
        #expect(expand("${UNSET:-}") == "")
        #expect(expand("a$b$") == "a$b$")
        #expect(expand("$${SET}") == "${SET}")
        #expect(expand("$$${SET}") == "$${SET}")
        #expect(expand("${SET}${SET}") == "valuevalue")
    }

    @Test func unsetVariableIsAnErrorAtItsScalar() throws {
        let yaml = """
            name: demo
            llms:
              teacher: {base_url: "${LLM_BASE_URL}", model: m}
            steps:
              - {name: numbers, uses: count, with: {rows: "${ROWS}"}}
            """
        #expect(try errors(yaml) == [
            "p.yaml:3:23: error: environment variable LLM_BASE_URL is not set",
            "p.yaml:5:47: error: environment variable ROWS is not set",
        ])
    }

    @Test func malformedReferences() throws {
        let yaml = """
            name: demo
            steps:
              - {name: numbers, uses: count, with: {rows: "${ROWS"}}
              - {name: other, uses: count, with: {rows: "${1X}"}}
            """
        #expect(try errors(yaml) == [
            #"p.yaml:3:47: error: "${" without a closing "}" (write "$${" for a literal "${")"#,
            #"p.yaml:4:45: error: "${1X}" is not a variable reference: use ${NAME} or ${NAME:-default}, NAME of letters, digits and _"#,
        ])
    }

    @Test func plainScalarsAreTypedAfterExpansionQuotedOnesStayText() throws {
        let yaml = """
            name: demo
            steps:
              - name: a
                uses: count
                batch_size: "${N}"
              - name: b
                uses: count
                batch_size: ${N}
              - name: c
                uses: count
                with:
                  rows: ${WORD}
            """
        #expect(try errors(yaml, environment: ["N": "12", "WORD": "many"]) == [
            "p.yaml:5:17: error: steps[0].batch_size: must be an integer ≥ 1, got a string from ${N}",
            "p.yaml:12:13: error: steps[2].with.rows: must be an integer, got a string from ${WORD}",
        ])
        // In flow style `{` and `}` end a plain scalar: quote ${...} there.
        #expect(try errors("name: demo\nsteps: [{name: a, uses: count, batch_size: ${N}}]\n", environment: ["N": "1"])
            .first?.contains("YAML syntax error") == true)
    }

    @Test func secretsAreNeverEchoed() throws {
        let secret = "sk-very-secret-123"
        let yaml = """
            name: demo
            llms:
              teacher: {model: m, base_url: "${API_KEY}"}
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - {name: inst, uses: make_instruction, input: load}
              - name: gen
                uses: generate
                input: inst
                with:
                  mode: "${API_KEY}"
                  label: "${API_KEY}"
                  stop: ["${API_KEY}"]
                  max_tokens: ${API_KEY}
                llm: teacher
            """
        let found = try errors(yaml, environment: ["API_KEY": secret])
        #expect(found == [
            "p.yaml:3:33: error: llms.teacher.base_url: must match the pattern ^https?://, got a string from ${API_KEY}",
            #"p.yaml:11:13: error: steps[2].with.mode: must be one of "chat", "completion", got a string from ${API_KEY}"#,
            "p.yaml:12:14: error: steps[2].with.label: must match the pattern ^[a-z_]+$, got a string from ${API_KEY}",
            "p.yaml:13:14: error: steps[2].with.stop[0]: must be at most 16 characters long, got 18",
            "p.yaml:14:19: error: steps[2].with.max_tokens: must be an integer or null, got a string from ${API_KEY}",
        ])
        #expect(!found.joined().contains(secret))
        #expect(!found.joined().contains("sk-"))
    }

    // MARK: - --param

    @Test func overridesReplaceParameters() throws {
        let yaml = """
            name: demo
            steps:
              - name: load
                uses: load_rows
                with: {path: seed.jsonl, limit: 5}
              - name: keep
                uses: generate
                input: inst
                with: {mode: completion, stop: [x]}
                llm: t
              - {name: inst, uses: make_instruction, input: load}
              - {name: numbers, uses: count}
            llms: {t: {model: m}}
            """
        let plan = try plan(yaml, overrides: ["load.path=other/x.jsonl", "keep.stop=[a, 'b c']", "numbers.rows=7",
                                              "keep.options={seed: 3}", "keep.mode=chat", "keep.mode=completion"])
        let steps = Dictionary(uniqueKeysWithValues: plan.steps.map { ($0.name, $0.parameters) })
        // --param paths are relative to the current directory, not the file.
        #expect(steps["load"]?["path"] == .string("/work/project/other/x.jsonl"))
        #expect(steps["load"]?["limit"] == .number(5))
        #expect(steps["keep"]?["stop"] == .array([.string("a"), .string("b c")]))
        #expect(steps["keep"]?["options"] == .object(["seed": .number(3), "retries": .number(3)]))
        #expect(steps["keep"]?["mode"] == .string("completion"))
        #expect(steps["numbers"]?["rows"] == .number(7))
    }

    @Test func overrideReplacesAValueThatCouldNotBeExpanded() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: "${SEED_FILE}"}}
            """
        #expect(try errors(yaml) == ["p.yaml:3:48: error: environment variable SEED_FILE is not set"])
        #expect(try errors(yaml, overrides: ["load.path=/seed.jsonl"]).isEmpty)
    }

    @Test func overrideErrorsNameTheFlag() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: seed.jsonl}}
            """
        #expect(try errors(yaml, overrides: ["lod.path=x"]) == [#"error: --param lod.path=x: no step named "lod"; did you mean "load"?"#])
        #expect(try errors(yaml, overrides: ["load.path"]) == ["error: --param load.path: expected step.key=value"])
        #expect(try errors(yaml, overrides: ["path=x"])
                == ["error: --param path=x: expected step.key=value, with the step's name before the dot"])
        #expect(try errors(yaml, overrides: ["load.limit=-1"])
                == ["error: --param load.limit=-1: steps[0].with.limit: must be ≥ 0, got -1"])
        #expect(try errors(yaml, overrides: ["load.speed=1"])
                == [#"error: --param load.speed=1: steps[0].with: unknown parameter "speed" (known: batch_size, limit, path)"#])
        let broken = try errors(yaml, overrides: ["load.path=[a,"])
        #expect(broken.count == 1)
        #expect(broken.first?.hasPrefix("error: --param load.path=[a,: the value is not valid YAML: ") == true, "\(broken)")
    }

    @Test func aHugeParamIsShownCutShort() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: seed.jsonl}}
            """
        let huge = String(repeating: "x", count: 200_000)
        let shown = "--param load.speed=" + String(repeating: "x", count: 69) + "… (200011 bytes)"
        #expect(try errors(yaml, overrides: ["load.speed=" + huge])
                == [#"error: \#(shown): steps[0].with: unknown parameter "speed" (known: batch_size, limit, path)"#])
        // Short enough: whole.
        let hundred = String(repeating: "y", count: 89)
        #expect(try errors(yaml, overrides: ["lod.path=" + hundred])
                == [#"error: --param lod.path=\#(hundred): no step named "lod"; did you mean "load"?"#])
    }
}
