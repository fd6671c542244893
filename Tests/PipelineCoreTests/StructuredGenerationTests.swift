import Foundation
import Testing

@testable import PipelineJSON
@testable import PipelineJSONSchema

/// Structured generation: the JSON Schema reader and validator
/// (PipelineJSONSchema), the test server's schema-shaped answers and
/// faults, and `structured_generation` end to end through the built
/// `pipeline` binary against llm-test-server.
@Suite("Structured generation", .serialized)
struct StructuredGenerationTests {
    static let ratingSchema = """
        {"type": "object", "required": ["rating", "verdict"],
         "properties": {"rating": {"type": "integer", "minimum": 1, "maximum": 10},
                        "verdict": {"enum": ["good", "bad"]},
                        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3},
                        "scores": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
                        "detail": {"type": "object", "required": ["fun"],
                                   "properties": {"fun": {"type": "boolean"}, "level": {"type": ["integer", "null"]}}}},
         "additionalProperties": false}
        """

    private func schema(_ text: String) throws -> JSONSchema { try JSONSchema(try JSONValue(parsing: text)) }

    private func problems(_ text: String) throws -> [String] {
        do {
            _ = try schema(text)
            return []
        } catch let error as JSONSchemaError {
            return error.problems.map(\.description)
        }
    }

    // MARK: - The schema reader

    @Test func schemaColumnsFollowRequiredThenNameOrder() throws {
        let read = try schema(Self.ratingSchema)
        let columns = try #require(read.columns)
        #expect(columns.map(\.name) == ["rating", "verdict", "detail", "scores", "tags"])
        #expect(columns.map(\.type.description) == [
            "int64", "utf8", "struct<fun: bool, level: int64>", "list<float64>", "list<utf8>",
        ])
        let nested = try schema(#"{"type":"object","properties":{"people":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"tags":{"type":"array","items":{"type":"array","items":{"type":"integer"}}}}}}}}"#)
        #expect(nested.columns?.first?.type.description == "list<struct<name: utf8, tags: list<list<int64>>>>")
        // An enum of integers is an integer; of integers and numbers a number.
        #expect(try schema(#"{"type":"object","properties":{"a":{"enum":[1,2]},"b":{"enum":[1,2.5]},"c":{"const":true}}}"#)
            .columns?.map(\.type.description) == ["int64", "float64", "bool"])
    }

    @Test func badSchemasAreRefusedWithThePathOfEveryProblem() throws {
        #expect(try problems(#"{"type":"object","properties":{"rating":{"type":"integr"}}}"#) == [
            #"properties.rating.type: "integr" is not a type a column can hold (string, integer, number, boolean, array, object)"#,
        ])
        #expect(try problems(#"{"type":"object","properties":{"a":{"type":"string","minimun":1}}}"#).first?
            .hasPrefix("properties.a.minimun: is not supported") == true)
        #expect(try problems(#"{"type":"object","properties":{"a":{"type":"string","minimum":1}}}"#) == [
            "properties.a.minimum: applies to numbers, not to a string",
        ])
        #expect(try problems(#"{"type":"object","properties":{"a":{"type":"array"}}}"#) == [
            #"properties.a: an array needs "items" (the schema of its elements: the column is a list of them)"#,
        ])
        #expect(try problems(#"{"type":"object","required":["b"],"properties":{"a":{"type":"string"}}}"#) == [
            #"required[0]: names no property ("b" is not in "properties")"#,
        ])
        #expect(try problems(#"{"type":"object","properties":{"a":{"type":["string","integer"]}}}"#).first?
            .hasPrefix("properties.a.type: a list of types must be one type and \"null\"") == true)
        #expect(try problems(##"{"type":"object","properties":{"a":{"$ref":"#/x"}}}"##).map { $0.prefix(38) } == [
            #"properties.a["$ref"]: is not supported"#, #"properties.a: missing "type""#,
        ])
        #expect(try problems(#"{"type":"object"}"#) == [#"an object needs "properties" (they become the fields of its column)"#])
        #expect(try problems(#"{"type":"object","properties":{"a":{"type":"integer","minimum":5,"maximum":1}}}"#) == [
            "properties.a.maximum: is below minimum 5",
        ])
        #expect(try problems(#"{"type":"object","properties":{"a":{"enum":["x",1]}}}"#) == [
            "properties.a: missing \"type\" (the enum values are not all of one type)",
        ])
        #expect(try problems(#"{"type":"object","properties":{"a":{"type":"string","enum":["x",1]}}}"#) == [
            "properties.a.enum[1]: 1 is not a string",
        ])
        #expect(try problems(#"{"type":"object","properties":{"a":{"type":"string","pattern":"(unclosed"}}}"#).first?
            .hasPrefix("properties.a.pattern: is not a regular expression") == true)
        #expect(try problems(#"[1]"#) == ["a schema must be an object (with a \"type\"), got [1]"])
    }

    @Test func violationsNameTheirJSONPath() throws {
        let read = try schema(Self.ratingSchema)
        func check(_ answer: String) throws -> [String] { read.violations(of: try JSONValue(parsing: answer)) }
        #expect(try check(#"{"rating": 7, "verdict": "good"}"#) == [])
        #expect(try check(#"{"rating": 11, "verdict": "good"}"#) == ["$.rating: 11 is above the maximum 10"])
        #expect(try check(#"{"rating": 0.5, "verdict": "meh"}"#) == [
            "$.rating: must be an integer, got 0.5", #"$.verdict: "meh" is not one of "good", "bad""#,
        ])
        #expect(try check(#"{"verdict": "bad"}"#) == [#"$: missing the required property "rating""#])
        #expect(try check(#"{"rating": 3, "verdict": "bad", "extra": 1}"#) == [
            #"$: "extra" is not a property of the schema (additionalProperties is false)"#,
        ])
        #expect(try check(#"{"rating": 3, "verdict": "bad", "tags": ["a", 7, "b", "c"], "scores": [0.5, 2]}"#) == [
            "$.scores[1]: 2 is above the maximum 1", "$.tags: 4 items, more than maxItems 3", "$.tags[1]: must be a string, got 7",
        ])
        #expect(try check(#"{"rating": 3, "verdict": "bad", "detail": {"level": "high"}}"#) == [
            #"$.detail: missing the required property "fun""#, #"$.detail.level: must be an integer or null, got "high""#,
        ])
        #expect(try check(#"{"rating": 3, "verdict": "bad", "detail": {"fun": true, "level": null}}"#) == [])
        #expect(try check(#"{"rating": null, "verdict": "bad"}"#) == ["$.rating: null is not allowed (an integer is)"])
        #expect(try check(#"[1]"#) == ["$: must be an object, got [1]"])
        #expect(try check(#"{"rating": 12345678901234567, "verdict": "bad"}"#).first?.contains("beyond the integers a column holds exactly") == true)
        #expect(try schema(#"{"type":"object","properties":{"s":{"type":"string","minLength":2,"pattern":"^[a-z]+$"}}}"#)
            .violations(of: try JSONValue(parsing: #"{"s": "A"}"#)) == [
                "$.s: 1 characters, fewer than minLength 2", #"$.s: "A" does not match the pattern ^[a-z]+$"#,
            ])
    }

    @Test func theJSONOfAnAnswerIsFoundWholeFencedOrInText() throws {
        func read(_ answer: String) -> String {
            switch JSONAnswer.value(in: answer) {
            case .success(let value): return value.serialized
            case .failure(let failure): return "error: " + failure.message
            }
        }
        #expect(read(#"  {"a": 1}  "#) == #"{"a":1}"#)
        #expect(read("Sure:\n```json\n{\"a\": 1}\n```\nDone.") == #"{"a":1}"#)
        #expect(read("```\n{\"a\": \"}\"}\n```") == #"{"a":"}"}"#)
        #expect(read(#"The answer is {"a": {"b": "{"}} as asked."#) == #"{"a":{"b":"{"}}"#)
        #expect(read(#"One {"a": 1} and two {"a": 2}"#) == "error: the answer holds 2 JSON objects; expected one")
        #expect(read("I cannot answer that.") == "error: the answer is not JSON and holds no JSON object")
        #expect(read("") == "error: the answer is empty")
        // Strict JSON: a trailing comma or single quotes are not JSON.
        #expect(read(#"{"a": 1,}"#).hasPrefix("error: the answer is not JSON and holds no JSON object ("))
        #expect(read("{'a': 1}").hasPrefix("error:"))
    }

    // MARK: - The test server

    private func post(_ server: LLMServiceTests.Server, _ body: String) throws -> (status: Int, json: JSONValue) {
        let script = """
            import sys, urllib.request, urllib.error
            request = urllib.request.Request(sys.argv[1] + "/v1/chat/completions", data=sys.argv[2].encode(), headers={"content-type": "application/json"})
            try:
                response = urllib.request.urlopen(request); print(response.status); print(response.read().decode())
            except urllib.error.HTTPError as error:
                print(error.code); print(error.read().decode())
            """
        let result = try Spawned("/usr/bin/env", ["python3", "-c", script, server.url, body]).wait()
        let lines = result.output.split(separator: "\n", maxSplits: 1)
        try #require(lines.count == 2, "\(result.output)")
        return (Int(lines[0]) ?? 0, try JSONValue(parsing: String(lines[1])))
    }

    private func content(_ json: JSONValue) -> String { json["choices"]?[0]?["message"]?["content"]?.stringValue ?? "" }

    @Test func theTestServerAnswersSchemaShapedJSONInBothDialects() throws {
        let server = try LLMServiceTests.Server([])
        let read = try schema(Self.ratingSchema)
        let compact = try JSONValue(parsing: Self.ratingSchema).serialized
        for prompt in (0..<12).map({ "Rate item \($0)" }) {
            for format in [#"{"type":"json_schema","json_schema":{"name":"rating","schema":\#(compact)}}"#,
                           #"{"type":"json_object","schema":\#(compact)}"#] {
                let (status, json) = try post(server, #"{"model":"m","seed":3,"messages":[{"role":"user","content":"\#(prompt)"}],"response_format":\#(format)}"#)
                #expect(status == 200)
                let answer = try JSONValue(parsing: content(json))
                #expect(read.violations(of: answer) == [], "\(content(json))")
            }
        }
        // The schema written in the prompt, no response_format.
        let inPrompt = try post(server, #"{"model":"m","messages":[{"role":"user","content":"Rate it. Answer in JSON Schema: \#(compact.replacingOccurrences(of: "\"", with: "\\\""))"}]}"#)
        #expect(read.violations(of: try JSONValue(parsing: content(inPrompt.json))) == [], "\(content(inPrompt.json))")
        // A malformed response_format is a 400, as OpenAI answers it.
        let bad = try post(server, #"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}}"#)
        #expect(bad.status == 400)
        #expect(bad.json["error"]?["param"]?.stringValue == "response_format.json_schema")
        let unknown = try post(server, #"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}"#)
        #expect(unknown.status == 400)
    }

    @Test func theTestServerFaultsFollowTheMarkers() throws {
        let server = try LLMServiceTests.Server([])
        let read = try schema(Self.ratingSchema)
        let format = #"{"type":"json_object","schema":\#(try JSONValue(parsing: Self.ratingSchema).serialized)}"#
        func answer(_ messages: String) throws -> String {
            content(try post(server, #"{"model":"m","messages":\#(messages),"response_format":\#(format)}"#).json)
        }
        let first = #"[{"role":"user","content":"Rate [schema-fault:invalid-first]"}]"#
        let retry = #"[{"role":"user","content":"Rate [schema-fault:invalid-first]"},{"role":"assistant","content":"x"},{"role":"user","content":"again"}]"#
        #expect(read.violations(of: try JSONValue(parsing: try answer(first))) == ["$.rating: 11 is above the maximum 10"])
        #expect(read.violations(of: try JSONValue(parsing: try answer(retry))) == [])
        let junk = try answer(#"[{"role":"user","content":"Rate [schema-fault:junk-first]"}]"#)
        #expect(throws: (any Error).self) { try JSONValue(parsing: junk) }
        let fenced = try answer(#"[{"role":"user","content":"Rate [schema-fault:fenced]"}]"#)
        #expect(fenced.contains("```json\n{"))
        guard case .success(let value) = JSONAnswer.value(in: fenced) else { Issue.record("no JSON in \(fenced)"); return }
        #expect(read.violations(of: value) == [])
        let never = #"[{"role":"user","content":"Rate [schema-fault:never]"},{"role":"assistant","content":"x"},{"role":"user","content":"again"}]"#
        #expect(read.violations(of: try JSONValue(parsing: try answer(never))) == ["$.rating: 11 is above the maximum 10"])
    }

    // MARK: - structured_generation end to end

    private var binary: String { Fixtures.buildDirectory.appendingPathComponent("pipeline").path }

    private func lines(_ path: String) throws -> [JSONValue] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue(parsing: String($0)) }
    }

    /// load_inline (one row per instruction) → structured_generation →
    /// text_generation reading the schema's columns → write_jsonl.
    /// With `declared`, the rows come from load_jsonl with declared
    /// columns, so validation knows every column of every step.
    private func pipeline(_ directory: URL, url: String, instructions: [String], with: String = "",
                          schema: String? = StructuredGenerationTests.ratingSchema, after: String? = nil,
                          declared: Bool = false) throws -> String {
        let rows = try instructions.map { text -> String in
            let quoted = String(decoding: try JSONSerialization.data(withJSONObject: text, options: .fragmentsAllowed), as: UTF8.self)
            return "{instruction: \(quoted)}"
        }.joined(separator: ", ")
        try instructions.map { #"{"instruction": "\#($0)"}"# + "\n" }.joined()
            .write(to: directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
        let load = declared ? "uses: load_jsonl\n    with: {path: rows.jsonl, columns: {instruction: utf8}}"
                            : "uses: load_inline\n    with: {rows: [\(rows)]}"
        let file = directory.appendingPathComponent("p.yaml").path
        try """
            name: structured
            llms:
              teacher: {base_url: "\(url)/v1", model: test-chat, max_concurrency: 4, retries: 0}
            steps:
              - name: load
                \(load)
              - name: rate
                uses: structured_generation
                llm: teacher
                input: load
                with:
                  seed: 5\(schema.map { "\n      json_schema: " + $0 } ?? "")\(with)
              - name: explain
                uses: text_generation
                llm: teacher
                input: rate
                with: {template: "\(after ?? "Why {rating} and {verdict}?")", output_column: why, model_name_column: explainer}
              - name: save
                uses: write_jsonl
                input: explain
                with: {path: out.jsonl}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    private func run(_ file: String, _ runDirectory: String) throws -> (status: Int32, output: String) {
        try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--log-format", "json", "--no-llm-cache"]).wait()
    }

    @Test func answersBecomeTypedColumnsThatLaterStepsRead() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("structured-typed")
        let instructions = (0..<8).map { "Rate movie number \($0)" } + ["Rate the fenced one [schema-fault:fenced]"]
        let file = try pipeline(directory, url: server.url, instructions: instructions)
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        let rows = try lines(runDirectory + "/out.jsonl")
        #expect(rows.count == instructions.count)
        #expect(try lines(runDirectory + "/errors.jsonl").isEmpty)
        let read = try schema(Self.ratingSchema)
        let text = try String(contentsOfFile: runDirectory + "/out.jsonl", encoding: .utf8).split(separator: "\n")
        for (row, line) in zip(rows, text) {
            // The typed columns hold the answer's values: together they conform.
            var answer: [String: JSONValue] = [:]
            for name in ["rating", "verdict", "tags", "scores", "detail"] {
                if let value = row[name], value != .null { answer[name] = value }
            }
            if case .object(var detail)? = answer["detail"] {
                detail = detail.filter { $0.value != .null || $0.key == "level" }
                answer["detail"] = .object(detail)
            }
            #expect(read.violations(of: .object(answer)) == [], "\(line)")
            // The raw answer is kept, and holds the same values.
            let raw = try #require(row["generation"]?.stringValue)
            guard case .success(let parsed) = JSONAnswer.value(in: raw) else { Issue.record("\(raw)"); continue }
            #expect(parsed["rating"] == row["rating"])
            #expect(parsed["verdict"] == row["verdict"])
            #expect((parsed["tags"] ?? .null) == (row["tags"] ?? .null))
            #expect(row["model_name"]?.stringValue == "test-chat")
            // An int64 column writes an integer, a float64 list numbers, a struct an object.
            #expect(line.contains("\"rating\":\(row["rating"]?.int64Value ?? -1),"), "\(line)")
            if let detail = row["detail"], detail != .null { #expect(detail.objectValue != nil) }
            // The next step's template read {rating} and {verdict}.
            #expect(row["why"]?.stringValue?.isEmpty == false)
        }
        #expect(rows.last?["generation"]?.stringValue?.hasPrefix("Here is the JSON you asked for:\n```json") == true)
        // One request per row (the fenced answer needed no retry), one more per row for the explanation.
        let stats = try server.stats()
        #expect(stats["by_endpoint"]?["chat"]?.int64Value == Int64(2 * instructions.count), "\(stats)")
        // Each request carried the schema as OpenAI's response_format.
        let log = try lines(runDirectory + "/llm-io.jsonl").filter { $0["step"]?.stringValue == "rate" }
        #expect(log.count == instructions.count)
        for entry in log {
            let format = entry["request"]?["response_format"]
            #expect(format?["type"]?.stringValue == "json_schema")
            #expect(format?["json_schema"]?["name"]?.stringValue == "answer")
            #expect(format?["json_schema"]?["schema"] == (try JSONValue(parsing: Self.ratingSchema)))
        }
    }

    @Test func aNonConformingFirstAnswerIsRepairedByARetryThatShowsTheError() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("structured-retry")
        let instructions = ["Rate the first [schema-fault:invalid-first]", "Rate the second [schema-fault:junk-first]", "Rate the third"]
        let file = try pipeline(directory, url: server.url, instructions: instructions,
                                with: "\n      system_prompt: You rate movies.")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 0, "\(result.output)")
        let rows = try lines(runDirectory + "/out.jsonl")
        #expect(rows.count == 3)
        let read = try schema(Self.ratingSchema)
        for row in rows {
            guard case .success(let value) = JSONAnswer.value(in: row["generation"]?.stringValue ?? "") else {
                Issue.record("\(row)"); continue
            }
            #expect(read.violations(of: value) == [])
            #expect(row["rating"]?.int64Value.map { (1...10).contains($0) } == true)
        }
        // The retries: the conversation so far, the bad answer, and what is wrong with it.
        let log = try lines(runDirectory + "/llm-io.jsonl").filter { $0["step"]?.stringValue == "rate" }
        #expect(log.count == 5)
        let retries = log.filter { ($0["request"]?["messages"]?.arrayValue?.count ?? 0) > 2 }
        #expect(retries.count == 2)
        for retry in retries {
            let messages = retry["request"]?["messages"]?.arrayValue ?? []
            #expect(messages.map { $0["role"]?.stringValue ?? "" } == ["system", "user", "assistant", "user"])
            #expect(messages.first?["content"]?.stringValue == "You rate movies.")
            let correction = messages.last?["content"]?.stringValue ?? ""
            #expect(correction.hasPrefix("Your answer does not conform to the JSON Schema:\n- "))
            // The retry keeps the response_format.
            #expect(retry["request"]?["response_format"]?["type"]?.stringValue == "json_schema")
        }
        let invalid = retries.first { $0["request"]?["messages"]?[1]?["content"]?.stringValue?.contains("invalid-first") == true }
        #expect(invalid?["request"]?["messages"]?[3]?["content"]?.stringValue?.contains("- $.rating: 11 is above the maximum 10") == true)
        #expect(invalid?["request"]?["messages"]?[2]?["content"]?.stringValue?.contains("\"rating\":11") == true)
        let junk = retries.first { $0["request"]?["messages"]?[1]?["content"]?.stringValue?.contains("junk-first") == true }
        #expect(junk?["request"]?["messages"]?[3]?["content"]?.stringValue?.contains("- the answer is not JSON and holds no JSON object") == true)
    }

    @Test func anAnswerThatNeverConformsIsARowErrorQuotingIt() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("structured-never")
        let file = try pipeline(directory, url: server.url, instructions: ["Rate this [schema-fault:never]", "Rate that"],
                                with: "\n      max_attempts: 2")
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try run(file, runDirectory)
        #expect(result.status == 3, "row errors: exit 3; \(result.output)")
        #expect(try lines(runDirectory + "/out.jsonl").count == 1)
        let errors = try lines(runDirectory + "/errors.jsonl")
        try #require(errors.count == 1)
        let message = try #require(errors[0]["error"]?.stringValue)
        #expect(message.hasPrefix("structured_generation: the answer does not conform to json_schema after 2 attempts: $.rating: 11 is above the maximum 10; the last answer: \"{"), "\(message)")
        // The quoted answer is the one the row keeps in its output column.
        let raw = try #require(errors[0]["row"]?["generation"]?.stringValue)
        var quoted = ""
        JSONValue.writeString(raw, to: &quoted)
        #expect(message.hasSuffix("the last answer: " + quoted))
        #expect(errors[0]["step"]?.stringValue == "rate")
        #expect(errors[0]["row"]?["rating"] == .null)
        // Two attempts, then no more.
        let log = try lines(runDirectory + "/llm-io.jsonl").filter {
            $0["step"]?.stringValue == "rate" && $0["request"]?["messages"]?[0]?["content"]?.stringValue?.contains("never") == true
        }
        #expect(log.count == 2)
    }

    @Test func theLlamaCppPythonDialectAndThePromptOnlyDialect() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        for dialect in ["json_object_schema", "none"] {
            let directory = try Fixtures.emptyDirectory("structured-\(dialect)")
            let file = try pipeline(directory, url: server.url, instructions: ["Rate one", "Rate two"],
                                    with: "\n      dialect: \(dialect)")
            let runDirectory = directory.appendingPathComponent("run").path
            let result = try run(file, runDirectory)
            #expect(result.status == 0, "\(result.output)")
            #expect(try lines(runDirectory + "/out.jsonl").count == 2)
            let log = try lines(runDirectory + "/llm-io.jsonl").filter { $0["step"]?.stringValue == "rate" }
            #expect(log.count == 2)
            for entry in log {
                let request = entry["request"]
                let prompt = request?["messages"]?[0]?["content"]?.stringValue ?? ""
                if dialect == "none" {
                    #expect(request?["response_format"] == nil)
                    #expect(prompt.contains("Answer with only a JSON object that conforms to this JSON Schema:\n{"))
                } else {
                    #expect(request?["response_format"]?["type"]?.stringValue == "json_object")
                    #expect(request?["response_format"]?["schema"] == (try JSONValue(parsing: Self.ratingSchema)))
                    #expect(!prompt.contains("JSON Schema"))
                }
            }
        }
    }

    @Test func theSchemaIsPartOfTheCacheKey() throws {
        try Fixtures.requireBuiltPipeline()
        let server = try LLMServiceTests.Server([])
        let directory = try Fixtures.emptyDirectory("structured-cache")
        let cache = directory.appendingPathComponent("cache.db").path
        // A seed makes the requests cacheable; the same schema again is served from the cache,
        // another schema (one bound changed) is asked again.
        let other = Self.ratingSchema.replacingOccurrences(of: #""maxItems": 3"#, with: #""maxItems": 2"#)
        var cached: [[Bool]] = []
        for (index, schema) in [Self.ratingSchema, Self.ratingSchema, other].enumerated() {
            let file = try pipeline(directory, url: server.url, instructions: ["Rate one", "Rate two"], schema: schema)
            let runDirectory = directory.appendingPathComponent("run\(index)").path
            let result = try Spawned(binary, ["run", file, "--run-dir", runDirectory, "--log-format", "json", "--llm-cache", cache]).wait()
            #expect(result.status == 0, "\(result.output)")
            cached.append(try lines(runDirectory + "/llm-io.jsonl").filter { $0["step"]?.stringValue == "rate" }
                .map { $0["cached"]?.boolValue ?? false })
        }
        #expect(cached == [[false, false], [true, true], [false, false]])
    }

    // MARK: - Validation

    private func validate(_ file: String) throws -> (status: Int32, output: String) {
        try Spawned(binary, ["validate", file]).wait()
    }

    @Test func aBadSchemaIsAValidationErrorAtItsLineAndColumn() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("structured-validate")
        let bad = #"{"type": "object", "properties": {"rating": {"type": "integr"}, "tags": {"type": "array"}}}"#
        let file = try pipeline(directory, url: "http://127.0.0.1:9", instructions: ["x"], schema: bad, after: "Why {verdict}?")
        let result = try validate(file)
        #expect(result.status == 2, "\(result.output)")
        // The schema is written on one line: the columns point into it.
        let line = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.contains("json_schema:") }.map { $0 + 1 } ?? 0
        let text = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)[line - 1]
        let integr = (text.range(of: "\"integr\"").map { text.distance(from: text.startIndex, to: $0.lowerBound) } ?? 0) + 1
        #expect(result.output.contains(#"p.yaml:\#(line):\#(integr): error: steps[1].with.json_schema.properties.rating.type: "integr" is not a type a column can hold"#),
                "\(result.output)")
        #expect(result.output.contains(#"error: steps[1].with.json_schema.properties.tags: an array needs "items""#), "\(result.output)")

        // A later step may read the schema's columns; a misspelt one is refused with a suggestion.
        let good = try pipeline(directory, url: "http://127.0.0.1:9", instructions: ["x"], after: "Why {ratin}?", declared: true)
        let misspelt = try validate(good)
        #expect(misspelt.status == 2)
        #expect(misspelt.output.contains(#"steps[2].with.template: {ratin} names a column no earlier step produces"#), "\(misspelt.output)")
        #expect(misspelt.output.contains(#"did you mean "rating"?"#), "\(misspelt.output)")
        let valid = try pipeline(directory, url: "http://127.0.0.1:9", instructions: ["x"], after: "Why {rating}, {detail}, {tags}?", declared: true)
        let ok = try validate(valid)
        #expect(ok.status == 0, "\(ok.output)")

        // A property named like an input column, or a reserved column, is refused.
        let clash = #"{"type": "object", "properties": {"instruction": {"type": "string"}, "_error": {"type": "string"}, "generation": {"type": "string"}}}"#
        let clashing = try validate(try pipeline(directory, url: "http://127.0.0.1:9", instructions: ["x"], schema: clash, after: "Why?", declared: true))
        #expect(clashing.status == 2)
        #expect(clashing.output.contains(#"steps[1].with.json_schema.properties._error: "_error": a column name starting with _ is reserved"#), "\(clashing.output)")
        #expect(clashing.output.contains(#"steps[1].with.json_schema.properties.generation: "generation" is also the name of another output column of this step"#), "\(clashing.output)")
        #expect(clashing.output.contains(#"step "rate" would overwrite column "instruction", which its input already has, with the answer's property of that name"#), "\(clashing.output)")
        // The top level must be an object.
        let scalar = try validate(try pipeline(directory, url: "http://127.0.0.1:9", instructions: ["x"], schema: #"{"type": "string"}"#, after: "Why?"))
        #expect(scalar.output.contains("steps[1].with.json_schema.type: the top level must be an object"), "\(scalar.output)")
        // Not an object at all: the parameter's own type.
        let list = try validate(try pipeline(directory, url: "http://127.0.0.1:9", instructions: ["x"], schema: "[1]", after: "Why?"))
        #expect(list.output.contains("steps[1].with.json_schema: must be a mapping, got a list"), "\(list.output)")
        #expect(!list.output.contains("a schema must be"), "reported once: \(list.output)")
    }

    @Test func badParametersAreRefused() throws {
        try Fixtures.requireBuiltPipeline()
        let directory = try Fixtures.emptyDirectory("structured-parameters")
        for (with, expected) in [
            ("\n      dialect: json", #"steps[1].with.dialect: must be one of "openai", "json_object_schema", "none", got "json""#),
            ("\n      max_attempts: 0", "steps[1].with.max_attempts: must be ≥ 1, got 0"),
            ("\n      schema_name: 'a b'", "steps[1].with.schema_name: must match the pattern"),
        ] {
            let result = try validate(try pipeline(directory, url: "http://127.0.0.1:9", instructions: ["x"], with: with))
            #expect(result.status == 2)
            #expect(result.output.contains(expected), "\(result.output)")
        }
        // json_schema is required.
        let missing = try validate(try pipeline(directory, url: "http://127.0.0.1:9", instructions: ["x"], schema: nil, after: "Why?"))
        #expect(missing.output.contains(#"missing required parameter "json_schema""#), "\(missing.output)")
    }
}

private extension JSONValue {
    subscript(_ index: Int) -> JSONValue? {
        guard let items = arrayValue, items.indices.contains(index) else { return nil }
        return items[index]
    }
}
