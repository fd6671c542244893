import ArgumentParser
import Foundation
import PipelineCore
import PipelineDefinition

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a pipeline file without running it.",
        discussion: """
            Reads the file and loads the plugins; runs no step. It checks:

              YAML      syntax, one document, no duplicate keys
              shape     the keys of the file and of each step ("did you mean")
              ${NAME}   set, or ${NAME:-default}; $${ is a literal ${; messages
                        name variables, never show their values
              uses:     names a step that some plugin provides
              with:     parameters, --param included, against the step's JSON
                        Schema; defaults filled in, input paths made absolute
              graph     unique step names; input: names other steps; no cycles;
                        generators take no input, other steps need one;
                        llm: names an entry of llms:, on every step that calls
                        an LLM and on no other
              columns   every required input column of a step comes from
                        upstream, where the plugins' declarations tell
              files     no output replaces an input (the pipeline file and
                        api_key_file included), another output or a file of
                        the run directory; symlinks and hard links are followed

            Each problem is printed on stderr as FILE:LINE:COLUMN: error: MESSAGE,
            and the exit status is 2. A valid pipeline prints one line, its steps
            in the order they can run, and the exit status is 0.

            Example: pipeline validate distill.yaml --param load.path=seed.jsonl
            """)

    @Argument(help: "The pipeline YAML file.") var file: String

    @Option(name: .customLong("param"),
            help: ArgumentHelp("Set a step's parameter, replacing with.KEY; VALUE is read as YAML (x.jsonl, 42, [a, b]). A relative input path is taken from the pipeline file's directory, as in the file. Repeatable.",
                               valueName: "step.key=value"))
    var parameters: [String] = []

    @Option(help: ArgumentHelp("The run directory relative output paths go to, as for run (default: runs/<pipeline name>).",
                               valueName: "dir"))
    var runDir: String?

    @OptionGroup var plugins: PluginOptions

    func run() throws {
        let registry = plugins.loadRegistry()
        let environment = ProcessInfo.processInfo.environment
        do {
            let plan = try PipelineLoader.load(file: file, overrides: parameters, environment: environment,
                                               registry: registry, runDirectory: runDir, requireInputFiles: true)
            let count = plan.steps.count
            let order = plan.steps.map(\.name).joined(separator: " → ")
            FileHandleOutput.standardOutput("\(file): ok (\(count) step\(count == 1 ? "" : "s"): \(order))")
        } catch {
            for diagnostic in error.diagnostics { FileHandleOutput.standardError(diagnostic.description) }
            let count = error.diagnostics.count
            FileHandleOutput.standardError("\(count) error\(count == 1 ? "" : "s") in \(file)")
            throw ExitCode(.usage)
        }
    }
}
