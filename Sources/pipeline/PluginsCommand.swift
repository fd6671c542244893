import ArgumentParser
import Foundation
import PipelineArrow
import PipelineCore
import PipelineJSON
import PipelineHost
import PipelineDefinition
import PipelineLLMClient
import Logging

struct Plugins: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, inspect and try the plugin steps this host can load.",
        subcommands: [List.self, Inspect.self, Try.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every step found on the plugin search path.",
            discussion: "Libraries that cannot be loaded are reported on stderr with the reason; the others are listed.")

        @OptionGroup var plugins: PluginOptions
        @Flag(help: "Print one JSON object per step instead of a table.") var json = false

        func run() throws {
            let registry = plugins.loadRegistry()
            if json {
                for step in registry.steps { FileHandleOutput.standardOutput(StepText.json(step).serialized) }
                return
            }
            if registry.steps.isEmpty {
                FileHandleOutput.standardError("no plugins found; searched: \(PluginSearchPath.standard(flags: plugins.pluginPaths))")
                return
            }
            let rows = registry.steps.map { [$0.name, $0.id, $0.kind.rawValue, $0.version, $0.libraryPath] }
            FileHandleOutput.standardOutput(StepText.table(header: ["NAME", "ID", "KIND", "VERSION", "LIBRARY"], rows: rows))
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a step's description, columns and parameter schema.",
            discussion: "STEP is a step id (org.pipeline.text_filter), a short name (text_filter), or the path of a plugin library, which shows every step in it.")

        @Argument(help: ArgumentHelp("Step id, short name, or library path.", valueName: "step")) var query: String
        @OptionGroup var plugins: PluginOptions
        @Flag(help: "Print the descriptor as JSON.") var json = false

        func run() throws {
            let steps: [StepDescriptor]
            if query.contains("/") || query.hasSuffix(".so") || query.hasSuffix(".dylib") {
                var registry = PluginRegistry()
                registry.add(path: query)
                if let problem = registry.problems.first {
                    FileHandleOutput.standardError("error: \(problem)")
                    throw ExitCode(.failed)
                }
                steps = registry.steps
            } else {
                let registry = plugins.loadRegistry(reportProblems: false)
                do {
                    steps = [try registry.step(query)]
                } catch {
                    FileHandleOutput.standardError("error: \(error)")
                    throw ExitCode(.usage)
                }
            }
            for (index, step) in steps.enumerated() {
                if index > 0 { FileHandleOutput.standardOutput("") }
                FileHandleOutput.standardOutput(json ? StepText.json(step).serialized : StepText.detail(step))
            }
        }
    }

    struct Try: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one step on JSON lines and print its output as JSON lines.",
            discussion: """
                For plugin authors: feeds rows from --input (or stdin) through the step in batches, \
                through the same step host as `pipeline run` (parameters checked against the step's \
                schema with its defaults filled in, --batch-size slicing, row ids, failed rows set \
                aside, the output contract checked), then prints what the next step would receive. \
                A generator step takes no input. Column types are inferred from the JSON values.

                stdout: every good row, with its `_row_id` (input rows without one are numbered \
                from 0). stderr: every failed row as errors.jsonl has it \
                ({"step", "row_id", "error", "row"}), then a count. A step that uses an LLM needs \
                its settings: --llm with the keys of an `llms:` entry (base_url, model, ...), or \
                --llm-from a pipeline file whose `llms:` entry to use (FILE, or FILE#NAME when it has \
                several), --llm keys then replacing its own. Relative paths are relative to the \
                current directory.

                Exit status: 0 done, 3 done with failed rows, 1 the step failed, 2 bad arguments \
                or parameters.

                Example: echo '{"text":"hello"}' | pipeline plugins try text_filter --with min_chars=3
                """)

        @Argument(help: ArgumentHelp("Step id or short name.", valueName: "step")) var query: String
        @Option(name: .customLong("with"), help: ArgumentHelp("A parameter, key=value; the value is read as JSON when it parses, else as text (repeatable).", valueName: "key=value"))
        var parameters: [String] = []
        @Option(name: .customLong("llm"), help: ArgumentHelp("A setting of the step's LLM, key=value as in an `llms:` entry (repeatable): base_url=http://127.0.0.1:8000/v1 model=m.", valueName: "key=value"))
        var llmSettings: [String] = []
        @Option(name: .customLong("llm-from"), help: ArgumentHelp("The step's LLM as a pipeline file's `llms:` has it: FILE (its one entry) or FILE#NAME.", valueName: "file[#name]"))
        var llmFrom: String?
        @Option(help: "JSON lines to read (default: stdin).") var input: String?
        @Option(help: "Rows per batch.") var batchSize = 1000
        @OptionGroup var plugins: PluginOptions

        func validate() throws {
            guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1") }
            for parameter in parameters where !parameter.contains("=") {
                throw ValidationError("--with \(parameter): expected key=value")
            }
            for setting in llmSettings where !setting.contains("=") {
                throw ValidationError("--llm \(setting): expected key=value")
            }
        }

        func run() throws {
            let registry = plugins.loadRegistry()
            let step: StepDescriptor
            do { step = try registry.step(query) } catch {
                FileHandleOutput.standardError("error: \(error)")
                throw ExitCode(.usage)
            }
            let here = FileManager.default.currentDirectoryPath
            let values = try checked(Self.keyValues(parameters), against: step.parameterSchema, flag: "--with", noun: "parameter")
            let parameters = Executor.resolvingOutputPaths(values, schema: step.parameterSchema, runDirectory: here)
            var llm: LLMClient?
            if step.usesLLM {
                guard !llmSettings.isEmpty || llmFrom != nil else {
                    FileHandleOutput.standardError("error: step \(step.name) uses an LLM: give its settings with --llm (e.g. --llm base_url=http://127.0.0.1:8000/v1 --llm model=m) or --llm-from pipeline.yaml")
                    throw ExitCode(.usage)
                }
                var written = try llmFrom.map { (from) throws in try Self.llmEntry(from, registry: registry) } ?? [:]
                for (key, value) in Self.keyValues(llmSettings) { written[key] = value }
                // `serve:` is a server a run starts; try uses one that runs.
                if written["serve"] != nil {
                    guard written["base_url"] != nil else {
                        FileHandleOutput.standardError("error: --llm-from: this LLM has serve: (a server `pipeline run` starts and stops); start it yourself and give its URL with --llm base_url=http://127.0.0.1:PORT/v1")
                        throw ExitCode(.usage)
                    }
                    written["serve"] = nil
                }
                let settings = try checked(written, against: LLMSettings.schema, flag: llmFrom == nil ? "--llm" : "--llm-from", noun: "key")
                do {
                    llm = LLMClient(config: try LLMConfig(name: "try", settings: .object(settings),
                                                          environment: ProcessInfo.processInfo.environment),
                                    cache: nil, log: nil)
                } catch {
                    FileHandleOutput.standardError("error: --llm: \(error)")
                    throw ExitCode(.usage)
                }
            } else if !llmSettings.isEmpty || llmFrom != nil {
                FileHandleOutput.standardError("error: --llm: step \(step.name) does not use an LLM")
                throw ExitCode(.usage)
            }
            var failedRows = 0, goodRows = 0
            func show(_ output: StepHost.Output) {
                for batch in output.batches {
                    goodRows += batch.length
                    for line in BatchJSON.rows(batch) { FileHandleOutput.standardOutput(line) }
                }
                for batch in output.errorRows {
                    failedRows += batch.length
                    for line in BatchJSON.errorRecords(batch, step: step.name) { FileHandleOutput.standardError(line) }
                }
            }
            do {
                let instance = try StepInstance(step, parameters: parameters, label: step.name,
                                                logger: Logger(label: "pipeline.step"), llm: llm)
                // The ids the executor would give: a generator numbers its
                // rows from 0; the step under a loader has position 1.
                let host = StepHost(instance: instance, parameters: parameters, batchSize: batchSize,
                                    idTag: step.kind == .generator ? 0 : 0x8000 | 1)
                if step.kind == .generator {
                    while true {
                        let output = try host.process(nil)
                        show(output)
                        if output.exhausted { break }
                    }
                } else {
                    show(try host.process(try Self.numbered(try readRows())))
                }
                while true {
                    let output = try host.finish()
                    show(output)
                    if output.exhausted { break }
                }
            } catch let exit as ExitCode {
                throw exit // readRows has said why (a bad line: usage, 2)
            } catch {
                FileHandleOutput.standardError("error: \(error)")
                throw ExitCode(.failed)
            }
            FileHandleOutput.standardError("\(goodRows) rows out, \(failedRows) failed")
            if failedRows > 0 { throw ExitCode(.rowErrors) }
        }

        /// `key=value` flags as an object; a value is JSON when it parses, else text.
        /// The settings of an `llms:` entry of a pipeline file (`FILE` with one
        /// entry, or `FILE#NAME`), read as `validate` reads the file.
        static func llmEntry(_ argument: String, registry: PluginRegistry) throws -> [String: JSONValue] {
            let file: String, name: String?
            if let hash = argument.lastIndex(of: "#") {
                file = String(argument[..<hash])
                name = String(argument[argument.index(after: hash)...])
            } else {
                file = argument
                name = nil
            }
            let plan: PipelinePlan
            do {
                plan = try PipelineLoader.load(file: file, overrides: [], environment: ProcessInfo.processInfo.environment,
                                               registry: registry)
            } catch {
                FileHandleOutput.standardError("error: --llm-from \(file): the pipeline file does not validate:\n\(error)")
                throw ExitCode(.usage)
            }
            let names = plan.llms.keys.sorted()
            let chosen: String
            if let name {
                guard plan.llms[name] != nil else {
                    FileHandleOutput.standardError("error: --llm-from \(argument): \(file) has no llms: entry \"\(name)\" (it has \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
                    throw ExitCode(.usage)
                }
                chosen = name
            } else {
                guard names.count == 1, let only = names.first else {
                    FileHandleOutput.standardError("error: --llm-from \(file): \(names.isEmpty ? "it has no llms: entry" : "it has several llms: entries (\(names.joined(separator: ", "))); write \(file)#NAME")")
                    throw ExitCode(.usage)
                }
                chosen = only
            }
            return plan.llms[chosen]?.objectValue ?? [:]
        }

        static func keyValues(_ flags: [String]) -> [String: JSONValue] {
            var values: [String: JSONValue] = [:]
            for flag in flags {
                let key = String(flag.prefix { $0 != "=" })
                let text = String(flag.dropFirst(key.count + 1))
                values[key] = (try? JSONValue(parsing: text)) ?? .string(text)
            }
            return values
        }

        /// `values` checked against `schema` as a pipeline file's would be
        /// (defaults filled in, input paths made absolute against the current
        /// directory); every problem printed, then exit 2.
        private func checked(_ values: [String: JSONValue], against schema: JSONValue, flag: String,
                             noun: String) throws -> [String: JSONValue] {
            let here = FileManager.default.currentDirectoryPath
            var validator = SchemaValidator(sourceMap: SourceMap(), noun: noun, rootPath: JSONPath()) { path, _ in
                let expanded = (path as NSString).expandingTildeInPath
                return expanded.hasPrefix("/") ? expanded : (here as NSString).appendingPathComponent(expanded)
            }
            let result = validator.validate(.object(values), schema: schema, path: JSONPath())
            guard validator.diagnostics.isEmpty else {
                for problem in validator.diagnostics {
                    // `--with min_chars: must be ≥ 0`, `--with: unknown parameter "x"`.
                    let topLevel = "(top level): "
                    let message = problem.message.hasPrefix(topLevel)
                        ? "\(flag): \(problem.message.dropFirst(topLevel.count))" : "\(flag) \(problem.message)"
                    FileHandleOutput.standardError("error: \(message)")
                }
                throw ExitCode(.usage)
            }
            return result.objectValue ?? values
        }

        /// The rows as one batch with a uint64 `_row_id` last, as the
        /// executor passes them: a row's own `_row_id` (a non-negative
        /// integer), else its number from 0.
        static func numbered(_ rows: [[String: JSONValue]]) throws -> RecordBatch {
            let ids = ColumnBuilder(.uint64)
            var plain: [[String: JSONValue]] = []
            for (index, var row) in rows.enumerated() {
                let given = row.removeValue(forKey: "_row_id")
                if let given {
                    guard let id = given.int64Value, id >= 0 else {
                        FileHandleOutput.standardError("error: row \(index + 1): _row_id must be a non-negative integer, got \(given.serialized)")
                        throw ExitCode(.usage)
                    }
                    ids.append(UInt64(id))
                } else {
                    ids.append(UInt64(index))
                }
                plain.append(row)
            }
            return try BatchJSON.batch(rows: plain).setting(ArrowField("_row_id", .uint64, nullable: false), ids.finish())
        }

        private func readRows() throws -> [[String: JSONValue]] {
            var rows: [[String: JSONValue]] = []
            var lineNumber = 0
            let source = input ?? "<stdin>"
            func add(_ line: String) throws {
                lineNumber += 1
                guard !line.allSatisfy(\.isWhitespace) else { return }
                do {
                    guard let object = try JSONValue(parsing: line).objectValue else {
                        throw JSONError.notAnObject
                    }
                    // This reader holds numbers as doubles: refuse what it would round.
                    if let big = JSONNumber.inexactIntegers(in: line).first {
                        throw JSONError("the integer \(big) is 2^53 or more in magnitude, which this reader cannot keep exact; a pipeline reading it with load_jsonl keeps it exact")
                    }
                    rows.append(object)
                } catch {
                    FileHandleOutput.standardError("error: \(source):\(lineNumber): \(error)")
                    throw ExitCode(.usage)
                }
            }
            if let input {
                guard let text = try? String(contentsOfFile: input, encoding: .utf8) else {
                    FileHandleOutput.standardError("error: cannot read \(input)")
                    throw ExitCode(.usage)
                }
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) { try add(String(line)) }
            } else {
                while let line = readLine() { try add(line) }
            }
            return rows
        }
    }
}
