import ArgumentParser
import Foundation
import PipelineArrow
import PipelineCore
import PipelineJSON
import PipelineHost

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
                then prints every output row. A generator step takes no input. Column types are \
                inferred from the JSON values.

                Example: echo '{"text":"hello"}' | pipeline plugins try text_filter --with min_chars=3
                """)

        @Argument(help: ArgumentHelp("Step id or short name.", valueName: "step")) var query: String
        @Option(name: .customLong("with"), help: ArgumentHelp("A parameter, key=value; the value is read as JSON when it parses, else as text (repeatable).", valueName: "key=value"))
        var parameters: [String] = []
        @Option(help: "JSON lines to read (default: stdin).") var input: String?
        @Option(help: "Rows per batch.") var batchSize = 1000
        @OptionGroup var plugins: PluginOptions

        func validate() throws {
            guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1") }
            for parameter in parameters where !parameter.contains("=") {
                throw ValidationError("--with \(parameter): expected key=value")
            }
        }

        func run() throws {
            let registry = plugins.loadRegistry()
            let step: StepDescriptor
            do { step = try registry.step(query) } catch {
                FileHandleOutput.standardError("error: \(error)")
                throw ExitCode(.usage)
            }
            var values: [String: JSONValue] = [:]
            for parameter in parameters {
                let key = String(parameter.prefix { $0 != "=" })
                let text = String(parameter.dropFirst(key.count + 1))
                values[key] = (try? JSONValue(parsing: text)) ?? .string(text)
            }
            do {
                let instance = try StepInstance(step, parameters: values)
                if step.kind == .generator {
                    while let output = try instance.process(nil) { print(output) }
                } else {
                    let rows = try readRows()
                    var start = 0
                    while start < rows.count || (start == 0 && rows.isEmpty) {
                        let slice = Array(rows[start..<min(start + batchSize, rows.count)])
                        if let output = try instance.process(try BatchJSON.batch(rows: slice)) { print(output) }
                        start += batchSize
                        if rows.isEmpty { break }
                    }
                }
                while let output = try instance.finish() { print(output) }
            } catch let exit as ExitCode {
                throw exit // readRows has said why (a bad line: usage, 2)
            } catch {
                FileHandleOutput.standardError("error: \(error)")
                throw ExitCode(.failed)
            }
        }

        private func print(_ batch: RecordBatch) {
            for line in BatchJSON.rows(batch) { FileHandleOutput.standardOutput(line) }
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
