import Foundation
import Testing

@testable import PipelineCore
@testable import PipelineDefinition
@testable import PipelineHost

/// Loads pipeline text against the fixture plugins: schema_steps.c
/// (load_rows, load_any, make_instruction, generate, score, write_rows),
/// generator.c (count), good.c (passthrough), text_filter.c and, when
/// built, the Swift columns plugin (keep_columns, rename_columns).
enum PipelineTesting {
    static let currentDirectory = "/work/project"

    static func registry() throws -> PluginRegistry {
        var entries = try ["Tests/Fixtures/plugins/schema_steps.c", "Tests/Fixtures/plugins/generator.c",
                           "Tests/Fixtures/plugins/good.c", "Plugins/text_filter/text_filter.c"]
            .map { try Fixtures.library($0) }
        let columns = columnsLibrary
        if FileManager.default.fileExists(atPath: columns) { entries.append(columns) }
        let registry = PluginRegistry.load(PluginSearchPath(entries: entries))
        #expect(registry.problems.isEmpty, "\(registry.problems)")
        return registry
    }

    static var columnsLibrary: String { Fixtures.buildDirectory.appendingPathComponent("libPipelineColumns.so").path }

    /// The plan for valid text (as if read from /work/project/p.yaml).
    static func plan(_ yaml: String, overrides: [String] = [], environment: [String: String] = [:],
                     file: String = "p.yaml") throws -> PipelinePlan {
        let registry = try registry()
        return try PipelineLoader.load(bytes: Array(yaml.utf8), file: file, overrides: overrides,
                                       environment: environment, registry: registry,
                                       currentDirectory: currentDirectory)
    }

    /// Every diagnostic for the text, as printed (`p.yaml:3:5: error: ...`);
    /// empty when the pipeline is valid.
    static func errors(_ yaml: String, overrides: [String] = [], environment: [String: String] = [:]) throws -> [String] {
        let registry = try registry()
        do {
            _ = try PipelineLoader.load(bytes: Array(yaml.utf8), file: "p.yaml", overrides: overrides,
                                        environment: environment, registry: registry,
                                        currentDirectory: currentDirectory)
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }
}

@Suite("Pipeline validation")
struct ValidationTests {
    private func errors(_ yaml: String, overrides: [String] = [], environment: [String: String] = [:]) throws -> [String] {
        try PipelineTesting.errors(yaml, overrides: overrides, environment: environment)
    }

    private func plan(_ yaml: String, overrides: [String] = [], environment: [String: String] = [:]) throws -> PipelinePlan {
        try PipelineTesting.plan(yaml, overrides: overrides, environment: environment)
    }

    // MARK: - Steps and parameters

    @Test func aParameterBesideWithIsToldToMoveUnderIt() throws {
        let yaml = """
            name: demo
            steps:
              - name: load
                uses: load_rows
                path: seed.jsonl
                limit: 3
              - name: copy
                uses: passthrough
                input: load
                path: out.jsonl
                colour: red
            """
        #expect(try errors(yaml) == [
            #"p.yaml:5:5: error: steps[0]: "path" is a parameter of load_rows: put it under with:"#,
            #"p.yaml:6:5: error: steps[0]: "limit" is a parameter of load_rows: put it under with:"#,
            // passthrough has no parameter path: the usual message.
            #"p.yaml:10:5: error: steps[1]: unknown key "path" (expected one of: name, uses, with, batch_size, input, llm, credential)"#,
            #"p.yaml:11:5: error: steps[1]: unknown key "colour" (expected one of: name, uses, with, batch_size, input, llm, credential)"#,
        ])
    }

    @Test func parametersFromTheEnvironmentAreMarked() throws {
        let plan = try plan("""
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: "${DATA}", limit: 3}}
              - {name: inst, uses: make_instruction, input: load, with: {template: "x ${WORD:-y} {prompt}"}}
            """, environment: ["DATA": "seed.jsonl", "WORD": "w"])
        #expect(plan.steps.map(\.environmentParameters) == [["path"], ["template"]])
    }

    @Test func unknownStepSuggestsTheClosestName() throws {
        let yaml = """
            name: demo
            steps:
              - name: load
                uses: lod_rows
                with: {path: seed.jsonl}
            """
        #expect(try errors(yaml) == [#"p.yaml:4:11: error: unknown step "lod_rows"; did you mean "load_rows"?"#])
    }

    @Test func stepsAreFoundByIdToo() throws {
        let plan = try plan("""
            name: demo
            steps:
              - {name: numbers, uses: org.test.count}
            """)
        #expect(plan.steps.map(\.descriptor.id) == ["org.test.count"])
    }

    @Test func parameterBelowMinimum() throws {
        let yaml = """
            name: demo
            steps:
              - name: load
                uses: load_rows
                with: {path: seed.jsonl}
              - name: filter
                uses: text_filter
                input: load
                with:
                  column: prompt
                  min_chars: -3
            """
        #expect(try errors(yaml) == ["p.yaml:11:18: error: steps[1].with.min_chars: must be ≥ 0, got -3"])
    }

    /// One step whose `with:` breaks one rule at a time; line 6 holds the value.
    private func generateErrors(_ parameter: String) throws -> [String] {
        try errors("""
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: seed.jsonl}}
              - {name: inst, uses: make_instruction, input: load}
              - name: gen
                with: {mode: chat, \(parameter)}
                uses: generate
                input: inst
                llm: t
            llms: {t: {model: m}}
            """)
    }

    @Test func parameterSchemaKeywords() throws {
        // Line 6 is `    with: {mode: chat, <parameter>}`: the parameter starts at column 24.
        let cases: [(String, String)] = [
            ("top_p: 0", "6:31: error: steps[2].with.top_p: must be > 0, got 0"),
            ("top_p: 1", "6:31: error: steps[2].with.top_p: must be < 1, got 1"),
            ("temperature: 2.5", "6:37: error: steps[2].with.temperature: must be ≤ 2, got 2.5"),
            ("temperature: -1", "6:37: error: steps[2].with.temperature: must be ≥ 0, got -1"),
            ("temperature: hot", #"6:37: error: steps[2].with.temperature: must be a number, got "hot""#),
            ("temperature: '1'", #"6:37: error: steps[2].with.temperature: must be a number, got "1""#),
            ("max_tokens: 1.5", "6:36: error: steps[2].with.max_tokens: must be an integer or null, got 1.5"),
            ("max_tokens: 0", "6:36: error: steps[2].with.max_tokens: must be > 0, got 0"),
            ("format: json", #"6:32: error: steps[2].with.format: must be "text", got "json""#),
            ("stop: []", "6:30: error: steps[2].with.stop: must list at least 1 item, got 0"),
            ("stop: [a, b, c, d, e]", "6:30: error: steps[2].with.stop: must list at most 4 items, got 5"),
            ("stop: a", #"6:30: error: steps[2].with.stop: must be a list, got "a""#),
            ("stop: [a, 7]", "6:34: error: steps[2].with.stop[1]: must be a string, got 7"),
            ("stop: ['']", "6:31: error: steps[2].with.stop[0]: must be at least 1 character long, got an empty string"),
            ("stop: [abcdefghijklmnopq]", "6:31: error: steps[2].with.stop[0]: must be at most 16 characters long, got 17"),
            ("label: Bad-Label", #"6:31: error: steps[2].with.label: must match the pattern ^[a-z_]+$, got "Bad-Label""#),
            ("options: {seed: 1, retries: -1}", "6:52: error: steps[2].with.options.retries: must be ≥ 0, got -1"),
            ("options: {retries: 1}", #"6:24: error: steps[2].with.options: missing required key "seed""#),
            ("options: {seed: 1, retry: 2}", #"6:43: error: steps[2].with.options: unknown key "retry"; did you mean "retries"?"#),
            ("options: [1]", "6:33: error: steps[2].with.options: must be a mapping, got a list"),
            ("headers: {x-id: 5}", "6:40: error: steps[2].with.headers.x-id: must be a string, got 5"),
            ("temprature: 1", #"6:24: error: steps[2].with: unknown parameter "temprature"; did you mean "temperature"?"#),
        ]
        for (parameter, expected) in cases {
            #expect(try generateErrors(parameter) == ["p.yaml:" + expected], "\(parameter)")
        }
    }

    @Test func enumSuggestsTheClosestValue() throws {
        #expect(try generateErrors("top_p: 0.5").isEmpty)
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: seed.jsonl}}
              - {name: inst, uses: make_instruction, input: load}
              - name: gen
                uses: generate
                input: inst
                with:
                  mode: chta
                llm: t
            llms: {t: {model: m}}
            """
        #expect(try errors(yaml) == [#"p.yaml:9:13: error: steps[2].with.mode: must be one of "chat", "completion", got "chta"; did you mean "chat"?"#])
    }

    @Test func missingRequiredParameterPointsAtWith() throws {
        let yaml = """
            name: demo
            steps:
              - name: load
                uses: load_rows
                with:
                  limit: 5
            """
        #expect(try errors(yaml) == [#"p.yaml:5:5: error: steps[0].with: missing required parameter "path""#])
    }

    @Test func missingRequiredParameterWithoutWithPointsAtTheStep() throws {
        let yaml = """
            name: demo
            steps:
              - name: load
                uses: load_rows
            """
        #expect(try errors(yaml) == [#"p.yaml:3:5: error: steps[0].with: missing required parameter "path""#])
    }

    @Test func stepWithoutParametersRejectsAny() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: seed.jsonl}}
              - name: copy
                uses: passthrough
                input: load
                with: {speed: 3}
            """
        #expect(try errors(yaml) == [#"p.yaml:7:12: error: steps[1].with: unknown parameter "speed" (this step takes no parameters)"#])
    }

    @Test func nonFiniteNumbersAreRejected() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: seed.jsonl}}
              - {name: inst, uses: make_instruction, input: load}
              - name: gen
                uses: generate
                input: inst
                with: {mode: chat, temperature: .inf}
                llm: t
            llms: {t: {model: m}}
            """
        #expect(try errors(yaml) == ["p.yaml:8:37: error: steps[2].with.temperature: .inf is not a finite number; values must be finite"])
    }

    @Test func defaultsAreFilledInAtEveryLevel() throws {
        let plan = try plan("""
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: seed.jsonl}}
              - {name: inst, uses: make_instruction, input: load}
              - name: gen
                uses: generate
                input: inst
                with: {mode: chat, options: {seed: 1}}
                llm: t
            llms: {t: {model: m}}
            """)
        let gen = try #require(plan.steps.first { $0.name == "gen" })
        #expect(gen.parameters["temperature"] == .number(0.7))
        #expect(gen.parameters["format"] == .string("text"))
        #expect(gen.parameters["options"] == .object(["seed": .number(1), "retries": .number(3)]))
        #expect(gen.parameters["top_p"] == nil)
        #expect(plan.steps.first { $0.name == "inst" }?.parameters["template"] == .string("{prompt}"))
    }

    @Test func inputPathsAreResolvedAgainstThePipelineDirectory() throws {
        let plan = try PipelineTesting.plan("""
            name: demo
            steps:
              - {name: a, uses: load_rows, with: {path: data/seed.jsonl}}
              - {name: b, uses: load_rows, with: {path: ../shared/./seed.jsonl}}
              - {name: c, uses: load_rows, with: {path: /abs/seed.jsonl}}
              - name: save
                uses: write_rows
                input: [a, b, c]
                with: {path: out/rows.jsonl, extra: [x.jsonl, /y.jsonl]}
            """, file: "pipelines/p.yaml")
        let parameters = Dictionary(uniqueKeysWithValues: plan.steps.map { ($0.name, $0.parameters) })
        #expect(parameters["a"]?["path"] == .string("/work/project/pipelines/data/seed.jsonl"))
        #expect(parameters["b"]?["path"] == .string("/work/project/shared/seed.jsonl"))
        #expect(parameters["c"]?["path"] == .string("/abs/seed.jsonl"))
        // output-path values are left as written; lists of input paths are resolved.
        #expect(parameters["save"]?["path"] == .string("out/rows.jsonl"))
        #expect(parameters["save"]?["extra"] == .array([.string("/work/project/pipelines/x.jsonl"), .string("/y.jsonl")]))
    }

    @Test func generatorBatchSizeReachesThePlugin() throws {
        let plan = try plan("""
            name: demo
            steps:
              - {name: a, uses: load_rows, with: {path: a.jsonl}, batch_size: 500}
              - {name: b, uses: load_rows, with: {path: b.jsonl, batch_size: 20}, batch_size: 500}
              - {name: c, uses: load_rows, with: {path: c.jsonl}}
              - {name: d, uses: count, batch_size: 7}
              - {name: e, uses: passthrough, input: [a, b, c, d], batch_size: 64}
            """)
        let steps = Dictionary(uniqueKeysWithValues: plan.steps.map { ($0.name, $0) })
        #expect(steps["a"]?.parameters["batch_size"] == .number(500))
        #expect(steps["a"]?.batchSize == 500)
        #expect(steps["b"]?.parameters["batch_size"] == .number(20))
        #expect(steps["b"]?.batchSize == 20)
        #expect(steps["c"]?.parameters["batch_size"] == .number(1000))
        #expect(steps["c"]?.batchSize == 1000)
        #expect(steps["d"]?.parameters["batch_size"] == .number(7))
        // Only generators receive it as a parameter.
        #expect(steps["e"]?.parameters["batch_size"] == nil)
        #expect(steps["e"]?.batchSize == 64)
    }

    @Test func generatorBatchSizeIsCheckedAgainstTheSchema() throws {
        let yaml = """
            name: demo
            steps:
              - name: a
                uses: load_rows
                with: {path: a.jsonl}
                batch_size: 200000
            """
        #expect(try errors(yaml) == ["p.yaml:6:17: error: steps[0].with.batch_size: must be ≤ 100000, got 200000"])
    }

    // MARK: - The graph

    @Test func duplicateStepName() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - {name: load, uses: count}
            """
        #expect(try errors(yaml) == [#"p.yaml:4:12: error: duplicate step name "load" (first used at line 3)"#])
    }

    @Test func inputNamingAMissingStep() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - name: copy
                uses: passthrough
                input: [lod]
            """
        #expect(try errors(yaml) == [#"p.yaml:6:13: error: no step named "lod"; did you mean "load"?"#])
    }

    @Test func selfLoop() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - name: copy
                uses: passthrough
                input: [load, copy]
            """
        #expect(try errors(yaml) == [#"p.yaml:6:19: error: step "copy" cannot take its own output as input"#])
    }

    @Test func cycleIsReportedOnceWithItsPath() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - name: a
                uses: passthrough
                input: [load, c]
              - {name: b, uses: passthrough, input: a}
              - {name: c, uses: passthrough, input: b}
              - {name: after, uses: passthrough, input: c}
            """
        #expect(try errors(yaml) == ["p.yaml:6:5: error: the steps form a cycle: a → b → c → a"])
    }

    @Test func twoSeparateCycles() throws {
        let yaml = """
            name: demo
            steps:
              - {name: a, uses: passthrough, input: b}
              - {name: b, uses: passthrough, input: a}
              - {name: c, uses: passthrough, input: d}
              - {name: d, uses: passthrough, input: c}
            """
        #expect(try errors(yaml) == [
            "p.yaml:3:34: error: the steps form a cycle: a → b → a",
            "p.yaml:5:34: error: the steps form a cycle: c → d → c",
        ])
    }

    @Test func stepWithoutInput() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - name: filter
                uses: text_filter
                with: {column: prompt}
            """
        #expect(try errors(yaml) == [#"p.yaml:4:5: error: step "filter" uses text_filter, which reads rows: name the step(s) it reads from with input:"#])
    }

    @Test func generatorWithInput() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - name: numbers
                uses: count
                input: load
            """
        #expect(try errors(yaml) == [#"p.yaml:6:5: error: step "numbers" uses count, a generator, which takes no input; remove input:"#])
    }

    @Test func llmNamingAMissingEntry() throws {
        let yaml = """
            name: demo
            llms:
              teacher: {model: big}
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - {name: inst, uses: make_instruction, input: load}
              - name: gen
                uses: generate
                input: inst
                llm: teachr
                with: {mode: chat}
            """
        #expect(try errors(yaml) == [#"p.yaml:10:10: error: no LLM named "teachr" in llms:; did you mean "teacher"?"#])
    }

    @Test func llmWithoutAnLLMsSection() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - {name: inst, uses: make_instruction, input: load}
              - {name: gen, uses: generate, input: inst, llm: teacher, with: {mode: chat}}
            """
        #expect(try errors(yaml) == [#"p.yaml:5:51: error: no LLM named "teacher": the file has no llms: section"#])
    }

    @Test func aStepThatCallsAnLLMNeedsLLM() throws {
        // generate sets PIPELINE_STEP_USES_LLM; without llm: it could only fail at run time.
        let steps = """
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - {name: inst, uses: make_instruction, input: load}
              - name: gen
                uses: generate
                input: inst
                with: {mode: chat}
            """
        #expect(try errors("name: demo\n" + steps) == [
            #"p.yaml:5:5: error: step "gen" uses generate, which calls an LLM: add an llms: section and name its entry with llm:"#,
        ])
        #expect(try errors("name: demo\nllms: {teacher: {model: m}, judge: {model: j}}\n" + steps) == [
            #"p.yaml:6:5: error: step "gen" uses generate, which calls an LLM: name the entry of llms: it calls with llm: (teacher, judge)"#,
        ])
    }

    @Test func llmOnAStepThatCallsNoLLMIsAnError() throws {
        let yaml = """
            name: demo
            llms: {teacher: {model: m}}
            steps:
              - name: load
                uses: load_rows
                with: {path: a.jsonl}
                llm: teacher
              - {name: numbers, uses: count, llm: nowhere}
            """
        #expect(try errors(yaml) == [
            #"p.yaml:7:5: error: step "load" uses load_rows, which calls no LLM: remove llm: teacher"#,
            #"p.yaml:8:34: error: step "numbers" uses count, which calls no LLM: remove llm: nowhere"#,
        ])
    }

    @Test func llmSettingsAreChecked() throws {
        let yaml = """
            name: demo
            llms:
              teacher:
                base_url: ftp://example.com
                modle: big
                retries: -1
                api_key_env: KEY
                api_key_file: key.txt
            steps:
              - {name: numbers, uses: count}
            """
        #expect(try errors(yaml) == [
            #"p.yaml:3:3: error: llms.teacher: missing required key "model""#,
            #"p.yaml:3:3: error: llms.teacher: give api_key_env or api_key_file, not both"#,
            #"p.yaml:4:15: error: llms.teacher.base_url: must match the pattern ^https?://, got "ftp://example.com""#,
            #"p.yaml:5:5: error: llms.teacher: unknown key "modle"; did you mean "model"?"#,
            "p.yaml:6:14: error: llms.teacher.retries: must be ≥ 0, got -1",
        ])
    }

    @Test func llmSettingsReachThePlan() throws {
        let plan = try plan("""
            name: demo
            llms:
              teacher:
                base_url: ${LLM_BASE_URL:-http://localhost:8000/v1}
                model: big
                api_key_file: secrets/key.txt
                params: {temperature: 0}
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - {name: inst, uses: make_instruction, input: load}
              - {name: gen, uses: generate, input: inst, llm: teacher, with: {mode: chat}}
            """)
        #expect(plan.llms["teacher"] == .object([
            "base_url": .string("http://localhost:8000/v1"), "model": .string("big"),
            "api_key_file": .string("/work/project/secrets/key.txt"),
            "params": .object(["temperature": .number(0)]),
            // The defaults of an LLM's settings are filled in.
            "max_concurrency": .number(16), "timeout_seconds": .number(120), "retries": .number(4),
            "cache": .string("auto"),
        ]))
        #expect(plan.steps.first { $0.name == "gen" }?.llm == "teacher")
    }

    @Test func topologicalOrderKeepsFileOrderAmongReadySteps() throws {
        let plan = try plan("""
            name: demo
            steps:
              - {name: c, uses: passthrough, input: b}
              - {name: b, uses: passthrough, input: a}
              - {name: a, uses: count}
              - {name: d, uses: count}
              - {name: e, uses: passthrough, input: [d, a]}
              - {name: f, uses: passthrough, input: e}
            """)
        #expect(plan.steps.map(\.name) == ["a", "b", "c", "d", "e", "f"])
        #expect(plan.steps.first { $0.name == "e" }?.inputs == ["d", "a"])
        #expect(plan.steps.first { $0.name == "a" }?.location == SourceLocation(file: "p.yaml", line: 5, column: 5))
        #expect(plan.name == "demo")
        #expect(plan.file == "p.yaml")
    }

    // MARK: - Columns

    @Test func columnNoAncestorProduces() throws {
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - name: gen
                uses: generate
                input: load
                with: {mode: chat}
                llm: t
            llms: {t: {model: m}}
            """
        #expect(try errors(yaml) == [#"p.yaml:6:5: error: step "gen" needs column "instruction", which no ancestor produces (available: id, prompt)"#])
    }

    @Test func columnNamedByAParameter() throws {
        // score reads the column its `column` parameter names; text_filter too.
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - {name: ok, uses: text_filter, input: load, with: {column: prompt}}
              - {name: scored, uses: score, input: ok, with: {column: answer}}
              - {name: default, uses: text_filter, input: load}
            """
        #expect(try errors(yaml) == [
            #"p.yaml:5:33: error: step "scored" needs column "answer", which no ancestor produces (available: id, prompt)"#,
            #"p.yaml:6:40: error: step "default" needs column "text", which no ancestor produces (available: id, prompt)"#,
        ])
    }

    @Test func columnDroppedOnTheWay() throws {
        // generate emits instruction and response only: prompt stops there.
        let yaml = """
            name: demo
            steps:
              - {name: load, uses: load_rows, with: {path: a.jsonl}}
              - {name: inst, uses: make_instruction, input: load}
              - {name: gen, uses: generate, input: inst, with: {mode: chat}, llm: t}
              - {name: again, uses: make_instruction, input: gen}
            llms: {t: {model: m}}
            """
        let found = try errors(yaml)
        #expect(found.contains(#"p.yaml:6:43: error: step "again" needs column "prompt", which "load" produces but a step after it does not pass on (available: instruction, response)"#), "\(found)")
        // And it would write instruction over inst's.
        #expect(found.contains { $0.contains(#"step "again" would overwrite column "instruction", which "gen" produces"#) }, "\(found)")
        #expect(found.count == 2, "\(found)")
    }

    @Test func unknownColumnsAreNotErrors() throws {
        // load_any declares no outputs, so nothing downstream can be checked;
        // fan-in with one unknown parent is unknown too.
        let plan = try plan("""
            name: demo
            steps:
              - {name: any, uses: load_any}
              - {name: rows, uses: load_rows, with: {path: a.jsonl}}
              - {name: inst, uses: make_instruction, input: any}
              - {name: gen, uses: generate, input: [any, rows], with: {mode: chat}, llm: t}
              - {name: scored, uses: score, input: inst, with: {column: whatever}}
            llms: {t: {model: m}}
            """)
        #expect(plan.steps.count == 5)
    }

    @Test func columnsFlowThroughFanIn() throws {
        let plan = try plan("""
            name: demo
            steps:
              - {name: rows, uses: load_rows, with: {path: a.jsonl}}
              - {name: numbers, uses: count}
              - {name: both, uses: passthrough, input: [rows, numbers]}
              - {name: texts, uses: text_filter, input: both}
              - {name: inst, uses: make_instruction, input: texts}
            """)
        #expect(plan.steps.map(\.name) == ["rows", "numbers", "both", "texts", "inst"])
    }

    // MARK: - Many problems at once

    @Test func everyProblemIsReportedSortedByPosition() throws {
        let yaml = """
            name: demo
            steps:
              - name: load
                uses: load_rows
                with: {path: a.jsonl, limit: -1}
              - name: filter
                uses: text_filter
                input: lod
                with: {min_chars: x}
              - name: copy
                uses: passthru
                input: filter
              - name: numbers
                uses: count
                input: load
                batch_size: 0
            """
        #expect(try errors(yaml, overrides: ["load.limit=-2", "nope.x=1"]) == [
            #"error: --param nope.x=1: no step named "nope""#,
            "error: --param load.limit=-2: steps[0].with.limit: must be ≥ 0, got -2",
            #"p.yaml:8:12: error: no step named "lod"; did you mean "load"?"#,
            #"p.yaml:9:23: error: steps[1].with.min_chars: must be an integer, got "x""#,
            #"p.yaml:11:11: error: unknown step "passthru"; did you mean "passthrough"?"#,
            #"p.yaml:15:5: error: step "numbers" uses count, a generator, which takes no input; remove input:"#,
            "p.yaml:16:17: error: steps[3].batch_size: must be an integer ≥ 1, got 0",
        ])
    }

    // MARK: - The twenty-step fixture

    @Test func twentyStepPipelineValidates() throws {
        try #require(FileManager.default.fileExists(atPath: PipelineTesting.columnsLibrary),
                     "\(PipelineTesting.columnsLibrary) is missing: build all products first")
        let file = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/pipelines/twenty-steps.yaml").path
        let plan = try PipelineLoader.load(file: file, overrides: [], environment: [:], registry: try PipelineTesting.registry())
        #expect(plan.name == "twenty-steps")
        #expect(plan.steps.count == 20)
        // Every step comes after its inputs.
        var seen = Set<String>()
        for step in plan.steps {
            #expect(step.inputs.allSatisfy(seen.contains), "\(step.name)")
            seen.insert(step.name)
        }
        let directory = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/pipelines").path
        #expect(plan.steps.first?.parameters["path"] == .string(directory + "/data/seed.jsonl"))
        #expect(plan.steps.last?.parameters["path"] == .string("out/all.jsonl"))
        #expect(plan.llms["teacher"]?["base_url"] == .string("http://localhost:8000/v1"))
    }

    @Test func missingFileIsADiagnosticWithoutPosition() throws {
        let registry = try PipelineTesting.registry()
        #expect {
            try PipelineLoader.load(file: "/nonexistent/p.yaml", overrides: [], environment: [:], registry: registry)
        } throws: { error in
            (error as? PipelineDiagnostics)?.description == "error: cannot read /nonexistent/p.yaml: No such file or directory"
        }
    }

    @Test func commandLineValidate() throws {
        let binary = Fixtures.buildDirectory.appendingPathComponent("pipeline").path
        try #require(FileManager.default.fileExists(atPath: binary), "\(binary) is missing")
        try #require(FileManager.default.fileExists(atPath: PipelineTesting.columnsLibrary))
        let plugins = try ["Tests/Fixtures/plugins/schema_steps.c", "Tests/Fixtures/plugins/generator.c",
                           "Tests/Fixtures/plugins/good.c", "Plugins/text_filter/text_filter.c"]
            .map { try Fixtures.library($0) } + [PipelineTesting.columnsLibrary]
        let flags = plugins.flatMap { ["--plugin-path", $0] }
        let fixture = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/pipelines/twenty-steps.yaml").path
        let good = try Fixtures.run(binary, ["validate", fixture] + flags)
        #expect(good.status == 0, "\(good.output)")
        // stderr may also warn about the same plugins found in the build tree.
        #expect(good.output.contains("\(fixture): ok (20 steps: seed → numbers → "), "\(good.output)")

        let bad = try Fixtures.run(binary, ["validate", fixture, "--param", "seed.limit=-1", "--param", "sede.path=x"] + flags)
        #expect(bad.status == 2)
        #expect(bad.output.contains(#"error: --param sede.path=x: no step named "sede"; did you mean "seed"?"#), "\(bad.output)")
        #expect(bad.output.contains("error: --param seed.limit=-1: steps[0].with.limit: must be ≥ 0, got -1"), "\(bad.output)")
    }
}
