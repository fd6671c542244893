import Testing
@testable import PipelineTemplate

/// The expression language a filter step uses: parsing with positions,
/// evaluation with Python's semantics, null rules, errors as values.
@Suite struct ExpressionTests {
    func eval(_ text: String, _ values: [String: Value] = [:]) throws -> Value {
        try Expression(parsing: text).evaluate(values)
    }

    func syntaxError(_ text: String) -> TemplateError? {
        do { _ = try Expression(parsing: text); return nil } catch { return error }
    }

    func renderError(_ text: String, _ values: [String: Value] = [:]) -> TemplateError? {
        do { _ = try eval(text, values); return nil } catch let error as TemplateError { return error } catch { return nil }
    }

    @Test func theIssueExample() throws {
        let e = try Expression(parsing: #"rating >= 7 and finish_reason == "stop""#)
        #expect(e.names == ["rating", "finish_reason"])
        #expect(try e.evaluate(["rating": 8, "finish_reason": "stop"]) == .bool(true))
        #expect(try e.evaluate(["rating": 6, "finish_reason": "stop"]) == .bool(false))
        #expect(try e.evaluate(["rating": 9.5, "finish_reason": "length"]) == .bool(false))
        // A comparison with null is false, whichever side.
        #expect(try e.evaluate(["rating": .null, "finish_reason": "stop"]) == .bool(false))
        #expect(try eval("x < 3 or x >= 3", ["x": .null]) == .bool(false))
        #expect(try eval("x == none and x is none and x is null and not (x is not none)", ["x": .null]) == .bool(true))
        #expect(try eval("x == 0", ["x": .null]) == .bool(false))
        #expect(try eval("x != 0", ["x": .null]) == .bool(true))
    }

    @Test func literalsAndArithmetic() throws {
        #expect(try eval("1 + 2 * 3") == .int(7))
        #expect(try eval("(1 + 2) * 3") == .int(9))
        #expect(try eval("7 // 2") == .int(3))
        #expect(try eval("-7 // 2") == .int(-4))
        #expect(try eval("-7 % 3") == .int(2))
        #expect(try eval("7 % -3") == .int(-2))
        #expect(try eval("7 / 2") == .double(3.5))
        #expect(try eval("2 ** 10") == .int(1024))
        #expect(try eval("2 ** -1") == .double(0.5))
        #expect(try eval("7.5 // 2") == .double(3))
        #expect(try eval("-7.5 % 2") == .double(0.5))
        #expect(try eval("'ab' ~ 1 ~ none") == .string("ab1None"))
        #expect(try eval("'ab' * 2 + 'c'") == .string("ababc"))
        #expect(try eval("[1] + [2, 'x']") == .list([1, 2, "x"]))
        #expect(try eval("1_000 + 1.5e3") == .double(2500))
        #expect(try eval("True + 1") == .int(2))
        #expect(try eval(#""a\tb\u00e9\x41" 'c'"#) == .string("a\tbéAc"))
        #expect(try eval(#""\d+""#) == .string("\\d+"))
        #expect(try eval("{'a': 1, 'b': [none, true]}") == .object(ValueObject([("a", 1), ("b", [.null, true])])))
        #expect(try eval("'yes' if x else 'no'", ["x": 0]) == .string("no"))
        #expect(try eval("0 or '' or 'z'") == .string("z"))
        #expect(try eval("1 and 2") == .int(2))
        #expect(try eval("1 < 2 < 3") == .bool(true))
        #expect(try eval("3 > 2 > 2") == .bool(false))
        #expect(try eval("1 == 1.0 and 'a' < 'b' and [1, 2] < [1, 3]") == .bool(true))
    }

    @Test func accessAndMembership() throws {
        let row: [String: Value] = [
            "m": .object(ValueObject([("role", "user"), ("content", "hi")])),
            "xs": ["a", "b", "c"],
            "s": "héllo",
        ]
        #expect(try eval("m.role ~ ':' ~ m['content']", row) == .string("user:hi"))
        #expect(try eval("xs[0] ~ xs[-1] ~ xs.1", row) == .string("acb"))
        #expect(try eval("xs[1:] ~ s[1] ~ s[::-1]", row) == .string("['b', 'c']éolléh"))
        #expect(try eval("'éll' in s and 'b' in xs and 'role' in m and 'x' not in m", row) == .bool(true))
        #expect(try eval("m.missing is defined or xs[9] is defined", row) == .bool(false))
        #expect(try eval("m.missing | default('none')", row) == .string("none"))
        #expect(try eval("s is matching('^h.l+o$') and s is not matching('\\d')", row) == .bool(true))
        #expect(try eval("s.startswith('hé') and s.upper() == 'HÉLLO'", row) == .bool(true))
        #expect(try eval("m.items() | list | length", row) == .int(2))
        #expect(try eval("range(3) | list", row) == .list([0, 1, 2]))
    }

    @Test func filters() throws {
        let row: [String: Value] = [
            "xs": [3, 1, 2],
            "words": ["b", "A", "c"],
            "people": [.object(ValueObject([("name", "x"), ("age", 30)])), .object(ValueObject([("name", "y"), ("age", 20)]))],
        ]
        #expect(try eval("xs | length", row) == .int(3))
        #expect(try eval("xs | sort | join(',')", row) == .string("1,2,3"))
        #expect(try eval("words | sort | join", row) == .string("Abc"))
        #expect(try eval("words | sort(case_sensitive=true) | first", row) == .string("A"))
        #expect(try eval("people | map(attribute='name') | join(' ')", row) == .string("x y"))
        #expect(try eval("people | sort(attribute='age') | map(attribute='name') | first", row) == .string("y"))
        #expect(try eval("people | selectattr('age', 'gt', 25) | map(attribute='name') | list", row) == .list(["x"]))
        #expect(try eval("xs | select('odd') | list", row) == .list([3, 1]))
        #expect(try eval("xs | sum", row) == .int(6))
        #expect(try eval("xs | max", row) == .int(3))
        #expect(try eval("' a b ' | trim | upper | replace('B', 'c')") == .string("A c"))
        #expect(try eval("'42' | int + '1.5' | float") == .double(43.5))
        #expect(try eval("'x' | int") == .int(0))
        #expect(try eval("'x' | int(7)") == .int(7))
        #expect(try eval("2.5 | round") == .double(2))
        #expect(try eval("2.675 | round(2)") == .double(2.67))
        #expect(try eval("0.125 | round(2)") == .double(0.12))
        #expect(try eval("1.25 | round(1, 'ceil')") == .double(1.3))
        #expect(try eval("xs | tojson", row) == .string("[3, 1, 2]"))
        #expect(try eval("{'b': '<é>', 'a': none} | tojson") == .string(#"{"a": null, "b": "\u003c\u00e9\u003e"}"#))
        #expect(try eval("x | default('d', true)", ["x": .null]) == .string("d"))
        #expect(try eval("x | default('d')", ["x": .null]) == .null)
        #expect(try eval("'abc' | list | reverse | join") == .string("cba"))
        #expect(try eval("[1, 2, 1] | unique | list") == .list([1, 2]))
    }

    @Test func valuesRenderAsPythonStr() throws {
        #expect(Value.null.pythonString == "None")
        #expect(Value.bool(true).pythonString == "True")
        #expect(Value.list(["a", 1, .null, 1.5, "it's"]).pythonString == #"['a', 1, None, 1.5, "it's"]"#)
        #expect(Value.double(1e16).pythonString == "1e+16")
        #expect(Value.double(1e15).pythonString == "1000000000000000.0")
        #expect(Value.double(0.0001).pythonString == "0.0001")
        #expect(Value.double(0.00001).pythonString == "1e-05")
        #expect(Value.double(-0.0).pythonString == "-0.0")
        #expect(Value.string("a\nb").pythonRepr == #"'a\nb'"#)
        #expect(Value.string("\u{a0}\u{200b}é").pythonRepr == #"'\xa0\u200bé'"#)
    }

    @Test func syntaxErrorsArePositioned() {
        let cases: [(String, Int, Int, String)] = [
            ("rating >=", 1, 10, "expected an expression"),
            ("a and (b or c", 1, 7, "not closed"),
            ("x | nosuch", 1, 5, "no filter named 'nosuch'"),
            ("x is nosuch", 1, 6, "no test named 'nosuch'"),
            ("a b", 1, 3, "expected an operator or the end of the expression"),
            ("x is matching('(')", 1, 15, "bad pattern"),
            ("'abc", 1, 1, "string is not closed"),
            ("a && b", 1, 3, "write 'and'"),
            ("f(x)", 1, 2, "only range(...)"),
            ("", 1, 1, "empty"),
            ("1 +\n  * 2", 2, 3, "expected an expression"),
            ("99999999999999999999", 1, 1, "64 bits"),
        ]
        for (text, line, column, message) in cases {
            let error = syntaxError(text)
            #expect(error?.kind == .syntax, "\(text)")
            #expect(error?.line == line && error?.column == column, "\(text): \(String(describing: error))")
            #expect(error?.message.contains(message) == true, "\(text): \(String(describing: error))")
        }
    }

    @Test func typeErrorsAreRenderErrorsNotCrashes() {
        let cases: [(String, [String: Value], String)] = [
            (#""abc" > 3"#, [:], "'>' is not supported between string and integer"),
            ("x | length", ["x": .null], "null has no length"),
            ("1 / 0", [:], "division by zero"),
            ("missing == 1", [:], "'missing' is undefined"),
            ("9223372036854775807 + 1", [:], "overflow"),
            ("x.y.z", ["x": .object(ValueObject())], "has no attribute 'y'"),
            ("3 in 'abc'", [:], "needs a string on the left"),
            ("'a' * 100000000", [:], "too long"),
            ("range(10000000) | length", [:], "more than"),
            ("x is matching('a')", ["x": 1], "needs a string"),
        ]
        for (text, values, message) in cases {
            let error = renderError(text, values)
            #expect(error?.kind == .render, "\(text)")
            #expect(error?.message.contains(message) == true, "\(text): \(String(describing: error))")
        }
        // The position is the operator's.
        #expect(renderError("a +\n b", ["a": 1, "b": "x"]).map { [$0.line, $0.column] } == [1, 3])
    }

    @Test func regexMatchingIsLinear() throws {
        let evil = try Regex("(a+)+$")
        let text = String(repeating: "a", count: 5000) + "!"
        #expect(evil.search(text) == false)
        #expect(try Regex("(x+x+)+y").search(String(repeating: "x", count: 3000)) == false)
        #expect(try Regex("^(?:ab|cd){2,3}e?$").search("abcdab"))
        #expect(try Regex("(?i)HELLO\\b").search("say hello there"))
        #expect(try Regex("[^a-c\\d]z").search("1z cz dz"))
        #expect(try Regex("\\w+@\\w+\\.com").search("mail bob@example.com now"))
        #expect(try Regex("colou?r").search("color"))
        #expect(try Regex("a{,2}b").search("b"))
        #expect(try Regex("^$").search(""))
        #expect(try Regex("x{3}").search("xx") == false)
        #expect(throws: RegexError.self) { try Regex("a(?=b)") }
        #expect(throws: RegexError.self) { try Regex("(a)\\1") }
        #expect(throws: RegexError.self) { try Regex("*a") }
        #expect(throws: RegexError.self) { try Regex("[b-a]") }
    }
}

/// Templates: forms, names, scoping, null output, limits, error positions.
@Suite struct TemplateTests {
    func failure(_ body: () throws(TemplateError) -> Void) -> TemplateError? {
        do { try body(); return nil } catch { return error }
    }

    @Test func legacyAndJinjaForms() throws {
        let legacy = try Template(parsing: "Q: {question} ({n}) }} {tags}")
        #expect(legacy.isLegacy)
        #expect(legacy.names == ["question", "n", "tags"])
        #expect(try legacy.render(["question": "why?", "n": 2.5, "tags": ["a", "b\"c"]]) == #"Q: why? (2.5) } ["a", "b\"c"]"#)
        #expect(throws: TemplateError.self) { try legacy.render(["question": .null, "n": 1, "tags": []]) }
        let error = failure { () throws(TemplateError) in _ = try Template(parsing: "a {b") }
        #expect(error?.message.contains("{{ '{' }}") == true)
        #expect(error.map { [$0.line, $0.column] } == [1, 3])

        let jinja = try Template(parsing: "{% set k = 2 %}{% for x in xs %}{{ x * k }}{{ loop.index }}{% endfor %}{{ y }} {x}")
        #expect(!jinja.isLegacy)
        #expect(jinja.names == ["xs", "y"])
        #expect(jinja.literalPlaceholders.map(\.name) == ["x"])
        #expect(try jinja.render(["xs": [1, 2], "y": "!"]) == "2142! {x}")
    }

    @Test func nullOutputIsAnErrorWhenAsked() throws {
        let t = try Template(parsing: "A{% if x is none %}-{% endif %}\n{{ x }}")
        #expect(try t.render(["x": .null]) == "A-\nNone")
        let error = failure { () throws(TemplateError) in _ = try t.render({ _ in .null }, nullOutput: .error) }
        #expect(error?.kind == .render)
        #expect(error.map { [$0.line, $0.column] } == [2, 4])
        #expect(error?.message.contains("prints null") == true)
    }

    @Test func syntaxErrorsSayWhereAndWhat() {
        let cases: [(String, Int, Int, String)] = [
            ("{% if x %}a", 1, 1, "'{% if %}' is not closed: expected '{% endif %}'"),
            ("a\n{% for x in %}", 2, 13, "expected an expression"),
            ("{{ x }\n", 1, 6, "unexpected '}'"),
            ("{% endfor %}", 1, 4, "unexpected '{% endfor %}'"),
            ("{% if a %}{% endfor %}", 1, 14, "closed by '{% endif %}'"),
            ("{% macro m() %}{% endmacro %}", 1, 4, "not supported"),
            ("{# open", 1, 1, "comment is not closed"),
            ("{{ }}", 1, 1, "empty"),
            ("{% raw %}x", 1, 1, "'{% raw %}' is not closed"),
            ("answer in {{plain words}}", 1, 19, "write {{ '{' }} for a literal brace"),
        ]
        for (text, line, column, message) in cases {
            do {
                _ = try Template(parsing: text)
                Issue.record("\(text.debugDescription) parsed")
            } catch {
                #expect(error.kind == .syntax)
                #expect([error.line, error.column] == [line, column], "\(text.debugDescription): \(error)")
                #expect(error.message.contains(message), "\(text.debugDescription): \(error)")
            }
        }
    }

    @Test func runawayTemplatesStop() throws {
        var limits = RenderLimits()
        limits.steps = 100_000
        let loops = try Template(parsing: "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}")
        #expect(throws: TemplateError.self) { try loops.render({ _ in nil }, limits: limits) }
        limits.outputLength = 1000
        let long = try Template(parsing: "{% for i in range(100) %}{{ 'x' * 100 }}{% endfor %}")
        #expect(throws: TemplateError.self) { try long.render({ _ in nil }, limits: limits) }
    }
}

/// Inputs the template fuzz target (Tests/fuzz/template) once crashed on,
/// through the normal API.
@Suite struct TemplateFuzzRegressionTests {
    /// A \ud83d followed by an escape that is not a low surrogate: the
    /// JSON reader's arithmetic overflowed.
    @Test func aBrokenSurrogatePairInJSONDataIsRepaired() throws {
        let value = try Value(parsingJSON: #"{"s": "a\ud83d\ud1e00", "t": "\ud83d\ude00", "u": "\udc00"}"#)
        #expect(value == .object(ValueObject([("s", "a\u{FFFD}0"), ("t", "😀"), ("u", "\u{FFFD}")])))
    }
}
