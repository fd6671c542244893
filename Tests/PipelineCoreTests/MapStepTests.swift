import Foundation
import Testing

@testable import PipelineJSON

/// The `map` step (libPipelineMap.so) end to end through the built binary:
/// load_jsonl -> map -> write_jsonl. SFT messages built from templates
/// (bytes checked), a list's item, a struct's member (flattened with drop),
/// typed `=` columns, nulls, replace and drop, types fixed for the run,
/// and bad inputs at validation (line:col) and at run time.
@Suite("Map step")
struct MapStepTests {
    /// Rows with a list, a struct (one member null somewhere) and nulls.
    private static let rows = [
        #"{"id":1,"product":"Nimbus router","question":"How do I reset it?","generations":["Hold the button.","Unplug it."],"meta":{"source":"web","score":3},"rating":8,"note":"vip"}"#,
        #"{"id":2,"product":"Kettle","question":"Why is it loud?","generations":[],"meta":{"source":"mail","score":null},"rating":null,"note":null}"#,
        #"{"id":3,"product":"Lamp","question":"Which bulb?","generations":["E27."],"meta":{"source":"web","score":5},"rating":6,"note":"new"}"#,
    ]

    struct Result {
        var status: Int32
        var output: String
        var text: String
        var rows: [JSONValue]
        var errors: [JSONValue]
    }

    /// Runs (or validates) load_jsonl -> map -> write_jsonl; `with` is the
    /// map step's `with:` block, indented under it.
    private func run(_ with: String, rows: [String] = rows, load: String = "", batchSize: Int? = nil,
                     verb: String = "run", after: String = "") throws -> Result {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("map")
        try (rows.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("p.yaml")
        try """
            name: map
            steps:
              - {name: load, uses: load_jsonl, with: {path: rows.jsonl\(load)}\(batchSize.map { ", batch_size: \($0)" } ?? "")}
              - name: m
                uses: map
                input: load
                with:
            \(with)
              - {name: save, uses: write_jsonl, input: \(after.isEmpty ? "m" : "after"), with: {path: out.jsonl}}
            \(after)
            """.write(to: file, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run")
        let arguments = verb == "run" ? ["run", file.path, "--run-dir", run.path, "--log-format", "human"] : ["validate", file.path]
        let result = try Spawned(Fixtures.pipelineBinary, arguments).wait()
        func read(_ name: String) -> String {
            (try? String(contentsOfFile: run.appendingPathComponent(name).path, encoding: .utf8)) ?? ""
        }
        let text = read("out.jsonl")
        return Result(status: result.status, output: result.output, text: text,
                      rows: try text.split(separator: "\n").map { try JSONValue(parsing: String($0)) },
                      errors: try read("errors.jsonl").split(separator: "\n").map { try JSONValue(parsing: String($0)) })
    }

    // MARK: Nested values

    /// The issue's example: SFT `messages` as a list of {role, content}
    /// built from templates, written as a JSON array of objects (struct
    /// fields in name order: a mapping's order does not reach the plugin).
    @Test func messagesAreBuiltFromTemplatesAsAListOfStructs() throws {
        let result = try run("""
                  columns:
                    messages:
                      - {role: system, content: "You support the {product}."}
                      - {role: user, content: "{question}"}
                      - {role: assistant, content: "{% if generations %}{{ generations[0] }}{% else %}(no answer){% endif %}"}
                  drop: [generations, meta, rating, note]
            """)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.text == """
            {"id":1,"product":"Nimbus router","question":"How do I reset it?","messages":[{"content":"You support the Nimbus router.","role":"system"},{"content":"How do I reset it?","role":"user"},{"content":"Hold the button.","role":"assistant"}]}
            {"id":2,"product":"Kettle","question":"Why is it loud?","messages":[{"content":"You support the Kettle.","role":"system"},{"content":"Why is it loud?","role":"user"},{"content":"(no answer)","role":"assistant"}]}
            {"id":3,"product":"Lamp","question":"Which bulb?","messages":[{"content":"You support the Lamp.","role":"system"},{"content":"Which bulb?","role":"user"},{"content":"E27.","role":"assistant"}]}

            """, "\(result.output)")
    }

    /// A DPO pair: chosen and rejected as nested lists, constants beside
    /// templates, and the list form of `columns:` keeping its order.
    @Test func theListFormKeepsTheColumnsOrderAndConstantsHaveTheirTypes() throws {
        let result = try run("""
                  columns:
                    - prompt: "{question}"
                    - chosen: [{role: assistant, content: "= generations[0]"}]
                    - version: 2
                    - weight: 0.5
                    - gold: true
                    - nothing: null
                  drop: [generations, meta, rating, note, product, question]
            """, rows: [Self.rows[0], Self.rows[2]])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.text == """
            {"id":1,"prompt":"How do I reset it?","chosen":[{"content":"Hold the button.","role":"assistant"}],"version":2,"weight":0.5,"gold":true,"nothing":null}
            {"id":3,"prompt":"Which bulb?","chosen":[{"content":"E27.","role":"assistant"}],"version":2,"weight":0.5,"gold":true,"nothing":null}

            """, "\(result.output)")
    }

    /// `= generations[0]` and `[-1]` pick an item, typed as the list's
    /// items; an item that is not there is an error row that says so, with
    /// the input row as it came in.
    @Test func pickingAnItemOfAList() throws {
        let result = try run("""
                  columns: {first: "= generations[0]", last: "= generations[-1]", count: "= generations | length"}
            """)
        #expect(result.status == 3, "\(result.output)")
        let byID = Dictionary(uniqueKeysWithValues: result.rows.compactMap { row in row["id"]?.int64Value.map { ($0, row) } })
        #expect(byID[1]?["first"] == .string("Hold the button."))
        #expect(byID[1]?["last"] == .string("Unplug it."))
        #expect(byID[1]?["count"] == .number(2))
        #expect(byID[3]?["first"] == .string("E27."))
        #expect(byID[3]?["last"] == .string("E27."))
        #expect(byID[2] == nil)
        #expect(result.errors.count == 1)
        let error = try #require(result.errors.first)
        #expect(error["step"] == .string("m"))
        let message = error["error"]?.stringValue ?? ""
        #expect(message.contains("columns.first: 1:14: the list (0 items) has no item 0"), "\(message)")
        #expect(message.contains("columns.last: 1:14: the list (0 items) has no item -1"), "\(message)")
        // The row as it came in, plus what the step could make.
        #expect(error["row"]?["generations"] == .array([]))
        #expect(error["row"]?["meta"]?["source"] == .string("mail"))
        #expect(error["row"]?["count"] == .number(0))
    }

    /// Flattening a struct: `= meta.source` with meta dropped; the member's
    /// type is the struct's (an int64 stays an integer, null stays null).
    @Test func flatteningAStruct() throws {
        let result = try run("""
                  columns: {source: "= meta.source", score: "= meta.score"}
                  drop: [meta, generations, note]
            """)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.text == """
            {"id":1,"product":"Nimbus router","question":"How do I reset it?","rating":8,"score":3,"source":"web"}
            {"id":2,"product":"Kettle","question":"Why is it loud?","rating":null,"score":null,"source":"mail"}
            {"id":3,"product":"Lamp","question":"Which bulb?","rating":6,"score":5,"source":"web"}

            """, "\(result.output)")
    }

    /// A whole column `= name`, and a nested value copied as it is.
    @Test func aColumnOrANestedValueIsCopiedAsItIs() throws {
        let result = try run("""
                  columns: {copy: "= meta", wrapped: {m: "= meta", g: "= generations"}}
                  drop: [generations, note, product, question, rating]
            """, rows: [Self.rows[0], Self.rows[1]])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.text == """
            {"id":1,"meta":{"source":"web","score":3},"copy":{"source":"web","score":3},"wrapped":{"g":["Hold the button.","Unplug it."],"m":{"source":"web","score":3}}}
            {"id":2,"meta":{"source":"mail","score":null},"copy":{"source":"mail","score":null},"wrapped":{"g":[],"m":{"source":"mail","score":null}}}

            """, "\(result.output)")
    }

    // MARK: Typed expressions

    /// `=` expressions give typed columns: an integer, a float, a boolean,
    /// text, a list, an object (its keys in the order written).
    @Test func expressionsGiveTypedColumns() throws {
        let result = try run("""
                  columns:
                    length: "= question | length"
                    half: "= id / 2"
                    good: "= rating is not none and rating >= 7"
                    upper: "= product | upper"
                    words: "= question.split(' ')"
                    pair: "= {'q': question, 'n': id}"
                  drop: [generations, meta, note, product, question, rating]
            """)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.text == """
            {"id":1,"good":true,"half":0.5,"length":18,"pair":{"q":"How do I reset it?","n":1},"upper":"NIMBUS ROUTER","words":["How","do","I","reset","it?"]}
            {"id":2,"good":false,"half":1.0,"length":15,"pair":{"q":"Why is it loud?","n":2},"upper":"KETTLE","words":["Why","is","it","loud?"]}
            {"id":3,"good":false,"half":1.5,"length":11,"pair":{"q":"Which bulb?","n":3},"upper":"LAMP","words":["Which","bulb?"]}

            """, "\(result.output)")
    }

    /// The first batch fixes a column's type: a later value of another
    /// type is an error row that says so (never a changed value), and
    /// `types:` declares the type instead.
    @Test func aValueOfAnotherTypeIsAnErrorRowAndTypesDeclaresTheType() throws {
        let rows = [#"{"id":1,"a":5,"b":"x","flag":true}"#, #"{"id":2,"a":6,"b":"y","flag":false}"#,
                    #"{"id":3,"a":7,"b":"z","flag":true}"#]
        let inferred = try run("""
                  columns: {v: "= a if flag else b"}
            """, rows: rows, batchSize: 1)
        #expect(inferred.status == 3, "\(inferred.output)")
        #expect(inferred.rows.compactMap { $0["v"]?.int64Value } == [5, 7], "\(inferred.text)")
        #expect(inferred.errors.count == 1)
        #expect(inferred.errors.first?["error"]?.stringValue == #"map: columns.v: got a string ('y'), the column is int64"#,
                "\(inferred.errors)")

        let json = try run("""
                  columns: {v: "= a if flag else b", w: "= [a, b]"}
                  types: {v: json, w: json}
            """, rows: rows, batchSize: 1)
        #expect(json.status == 0, "\(json.output)")
        #expect(json.text == """
            {"id":1,"a":5,"b":"x","flag":true,"v":5,"w":[5,"x"]}
            {"id":2,"a":6,"b":"y","flag":false,"v":"y","w":[6,"y"]}
            {"id":3,"a":7,"b":"z","flag":true,"v":7,"w":[7,"z"]}

            """, "\(json.output)")

        let float = try run("""
                  columns: {v: "= a / 2 if flag else a"}
                  types: {v: float64}
            """, rows: rows, batchSize: 1)
        #expect(float.status == 0, "\(float.output)")
        #expect(float.rows.map { $0["v"] } == [.number(2.5), .number(6), .number(3.5)], "\(float.text)")
        #expect(float.text.contains(#""v":6.0"#), "an integer in a float64 column is written as a float: \(float.text)")

        let wrong = try run("""
                  columns: {v: "= b"}
                  types: {v: int64}
            """, rows: rows)
        #expect(wrong.status == 3, "\(wrong.output)")
        #expect(wrong.errors.count == 3)
        #expect(wrong.errors.first?["error"]?.stringValue == #"map: columns.v: got a string ('x'), the column is int64"#)
    }

    /// Integers and floats in the first batch make a float64 column; a
    /// column whose first batch is all null is utf8, with a warning.
    @Test func theFirstBatchsValuesShareOneType() throws {
        let rows = [#"{"id":1,"x":1,"y":null}"#, #"{"id":2,"x":2.5,"y":null}"#]
        let mixed = try run("""
                  columns: {v: "= id if id == 1 else x", w: "= y | default(none)"}
            """, rows: rows)
        #expect(mixed.status == 0, "\(mixed.output)")
        #expect(mixed.text == """
            {"id":1,"x":1.0,"y":null,"v":1.0,"w":null}
            {"id":2,"x":2.5,"y":null,"v":2.5,"w":null}

            """, "\(mixed.output)")
        #expect(mixed.output.contains("columns.w: every value of the first batch is null, so the column is utf8"), "\(mixed.output)")
    }

    // MARK: Nulls

    /// A template that prints a null makes an error row (as a prompt
    /// does) unless it handles it; an expression giving null gives null.
    @Test func nullsInTemplatesAndExpressions() throws {
        let result = try run("""
                  columns:
                    tag: "Note: {note}"
                    safe: "Note: {{ note | default('none', true) }}"
                    maybe: "{% if note is not none %}{{ note }}{% endif %}"
                    raw: "= note"
                  drop: [generations, meta, product, question, rating]
            """)
        #expect(result.status == 3, "\(result.output)")
        #expect(result.text == """
            {"id":1,"note":"vip","maybe":"vip","raw":"vip","safe":"Note: vip","tag":"Note: vip"}
            {"id":3,"note":"new","maybe":"new","raw":"new","safe":"Note: new","tag":"Note: new"}

            """, "\(result.output)")
        #expect(result.errors.count == 1)
        #expect(result.errors.first?["error"]?.stringValue == "map: columns.tag: 1:7: {note}: 'note' is null", "\(result.errors)")
        #expect(result.errors.first?["row"]?["safe"] == .string("Note: none"))
        #expect(result.errors.first?["row"]?["raw"] == .null)

        let jinja = try run("""
                  columns: {tag: "Note: {{ note }}"}
            """)
        #expect(jinja.errors.count == 1)
        #expect(jinja.errors.first?["error"]?.stringValue?.hasPrefix("map: columns.tag: 1:") == true, "\(jinja.errors)")
        #expect(jinja.errors.first?["error"]?.stringValue?.contains("null") == true, "\(jinja.errors)")
    }

    // MARK: Replace and drop

    /// A new column replaces an input column only when listed in replace:
    /// (keeping its place); otherwise validation refuses it, and a run
    /// whose columns validation could not know stops naming it.
    @Test func replacingAColumnIsExplicit() throws {
        let replaced = try run("""
                  columns: {question: "= question | upper", rating: "= rating if rating is not none else 0"}
                  replace: [question, rating]
                  drop: [generations, meta, note]
            """)
        #expect(replaced.status == 0, "\(replaced.output)")
        #expect(replaced.text == """
            {"id":1,"product":"Nimbus router","question":"HOW DO I RESET IT?","rating":8}
            {"id":2,"product":"Kettle","question":"WHY IS IT LOUD?","rating":0}
            {"id":3,"product":"Lamp","question":"WHICH BULB?","rating":6}

            """, "\(replaced.output)")

        // Columns known (declared by the loader): a validation error at the key.
        let known = try run("""
                  columns: {question: "= question | upper"}
            """, load: ", columns: [{id: int64}, {question: utf8}]", verb: "validate")
        #expect(known.status == 2, "\(known.output)")
        #expect(known.output.contains(#"p.yaml:8:17: error: step "m" would overwrite column "question", which its input already has; list it in replace:"#),
                "\(known.output)")
        // Columns known only when the data is read: the step stops the run.
        let unknown = try run("""
                  columns: {question: "= question | upper"}
            """)
        #expect(unknown.status == 1, "\(unknown.output)")
        #expect(unknown.output.contains(#"step m: columns.question: the input already has a column "question"; list it in replace:"#),
                "\(unknown.output)")
        #expect(unknown.text.isEmpty)
    }

    /// drop: a column the input does not have is an error (validation
    /// where the columns are known, else when the batch comes); later
    /// steps see the new columns and not the dropped ones.
    @Test func dropAndLaterStepsSeeTheNewColumns() throws {
        let columns = ", columns: [{id: int64}, {question: utf8}, {product: utf8}]"
        let later = """
              - {name: after, uses: filter, input: m, with: {where: 'words > 2 and product != ""'}}
            """
        let validated = try run("""
                  columns: {words: "= question.split(' ') | length"}
                  drop: [product, nosuch]
            """, load: columns, verb: "validate", after: later)
        #expect(validated.status == 2, "\(validated.output)")
        #expect(validated.output.contains(#"p.yaml:9:23: error: steps[1].with.drop[1]: "nosuch" names a column no earlier step produces"#),
                "\(validated.output)")
        #expect(validated.output.contains(#"steps[3].with.where: "product" names a column"#), "\(validated.output)")
        #expect(!validated.output.contains(#""words" names a column"#), "\(validated.output)")

        let ran = try run("""
                  columns: {words: "= question.split(' ') | length"}
                  drop: [nosuch]
            """)
        #expect(ran.status == 1, "\(ran.output)")
        #expect(ran.output.contains(#"step m: drop: the input has no column "nosuch""#), "\(ran.output)")
    }

    // MARK: Bad inputs at validation

    /// Templates and expressions that do not parse, and names no earlier
    /// step produces, are errors at their line:col inside the file.
    @Test func badSpecsAreValidationErrorsAtTheirPosition() throws {
        let result = try run("""
                  columns:
                    messages:
                      - {role: user, content: "{questin}"}
                      - {role: assistant, content: "{{ generation | upper }}"}
                    bad: "{{ question | uper }}"
                    first: "= generations[0"
                    pick: "= rating +"
                    fine: "= metta.source"
                    _hidden: "{id}"
                    empty: {}
                    pairs: [{a: "{id}"}, {b: "{id}"}]
                  replace: [nosuch]
            """, load: ", columns: [{id: int64}, {question: utf8}, {generations: list<utf8>}, {rating: int64}]", verb: "validate")
        #expect(result.status == 2, "\(result.output)")
        let expected = [
            #"p.yaml:10:36: error: steps[1].with.columns.messages[0].content: {questin} names a column no earlier step produces (available: generations, id, question, rating); did you mean "question"?"#,
            #"p.yaml:11:44: error: steps[1].with.columns.messages[1].content: "generation" names a column no earlier step produces (available: generations, id, question, rating); did you mean "generations"?"#,
            #"p.yaml:12:29: error: steps[1].with.columns.bad: no filter named 'uper'"#,
            #"p.yaml:13:30: error: steps[1].with.columns.first: '[' is not closed"#,
            #"p.yaml:14:26: error: steps[1].with.columns.pick: expected an expression, found the end of the expression"#,
            #"p.yaml:15:18: error: steps[1].with.columns.fine: "metta" names a column no earlier step produces"#,
            #"p.yaml:16:9: error: steps[1].with.columns._hidden: a column name starting with _ is reserved for the host"#,
            #"p.yaml:17:16: error: steps[1].with.columns.empty: an empty mapping makes no value"#,
            #"p.yaml:18:30: error: steps[1].with.columns.pairs[1]: a mapping with the keys (b) where item 0 has (a)"#,
            #"p.yaml:19:17: error: steps[1].with.replace[0]: "nosuch" is not one of the new columns"#,
        ]
        for line in expected {
            #expect(result.output.contains(line), "missing \(line) in:\n\(result.output)")
        }
        #expect(result.output.contains("10 errors in"), "\(result.output)")
    }

    /// Parameters the schema refuses: a type `types:` does not know, a
    /// spec list item that is not a one-entry mapping, columns of the wrong kind.
    @Test func badParametersAreRefused() throws {
        let type = try run("""
                  columns: {n: "= id"}
                  types: {n: integer}
            """, verb: "validate")
        #expect(type.status == 2, "\(type.output)")
        #expect(type.output.contains(#"steps[1].with.types.n: must be one of "int64", "float64""#), "\(type.output)")
        let item = try run("""
                  columns: [{a: "{id}", b: "{id}"}]
            """, verb: "validate")
        #expect(item.status == 2, "\(item.output)")
        #expect(item.output.contains("steps[1].with.columns[0]: each item of the list is a mapping with one entry"), "\(item.output)")
        let text = try run("""
                  columns: "{id}"
            """, verb: "validate")
        #expect(text.status == 2, "\(text.output)")
        #expect(text.output.contains("steps[1].with.columns: must be a mapping or a list"), "\(text.output)")
        // types: names a column that is not an `=` expression: the step refuses it when created.
        let notExpression = try run("""
                  columns: {n: "{id}"}
                  types: {n: int64}
            """)
        #expect(notExpression.status != 0 && notExpression.status != 3, "\(notExpression.output)")
        #expect(notExpression.output.contains(#"step m: types: "n" is not an `=` expression"#), "\(notExpression.output)")
    }

    /// Items of a list spec whose types differ (known once the first batch
    /// is read) stop the run naming the item.
    @Test func listItemsOfDifferentTypesStopTheRun() throws {
        let result = try run("""
                  columns: {mixed: ["= id", "{question}"]}
            """)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("step m: columns.mixed[1] is utf8 where the items before it are int64: the items of a list have one type"),
                "\(result.output)")
    }

    /// A plain path through a struct member that is not there stops the
    /// run with the struct's members (every row would fail).
    @Test func aPathToAMissingMemberStopsTheRun() throws {
        let result = try run("""
                  columns: {origin: "= meta.origin"}
            """)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains(#"step m: columns.origin: = meta.origin: meta has no member "origin" (its members: source, score)"#),
                "\(result.output)")
    }

    @Test func inspectExplainsTheStep() throws {
        try Fixtures.requireBuiltPipeline()
        let result = try Spawned(Fixtures.pipelineBinary, ["plugins", "inspect", "map"]).wait()
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("Adds columns made from each row's columns"), "\(result.output)")
        for parameter in ["columns", "replace", "drop", "types"] {
            #expect(result.output.contains("\n    \(parameter) "), "\(parameter): \(result.output)")
        }
    }
}
