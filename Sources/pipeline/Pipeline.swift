import ArgumentParser
import Foundation
import Logging
import PipelineCore

@main
struct Pipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Run LLM data-distillation pipelines made of plugin steps.",
        discussion: """
            A pipeline is a YAML file of steps; every step is a shared-library plugin \
            speaking the pipeline C ABI (see docs/writing-plugins.md).

            Exit codes:
            \(PipelineExitCode.helpTable)
            """,
        version: "pipeline \(PipelineABI.hostVersion) (plugin ABI \(PipelineABI.major).\(PipelineABI.minor); loads plugins built for ABI \(PipelineABI.supportedRange))",
        subcommands: [Run.self, Runs.self, Validate.self, Plugins.self])

    static func main() {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        // Logging is set up once the command line is known: `run` chooses
        // its format and level; every other command gets the defaults.
        let environment = ProcessInfo.processInfo.environment
        let console = (command as? Run)?.consoleLogging(environment: environment)
            ?? ConsoleLogging(format: .auto, level: ConsoleLogging.level(environment: environment, quiet: false),
                              terminal: .standardError(environment: environment))
        LoggingSystem.bootstrap { label in console.handler(label: label) }
        do {
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    /// Exits with our codes: usage errors are 2 (not ArgumentParser's 64).
    static func exit(withError error: any Error) -> Never {
        let code = exitCode(for: error)
        if code == .validationFailure {
            FileHandleOutput.standardError(fullMessage(for: error))
            FileHandleOutput.standardError("Run `pipeline --help` for usage.")
            Self.exit(withError: ExitCode(.usage))
        }
        Self.exit(withError: error as (any Error)?)
    }
}

extension ExitCode {
    /// One of the codes of the table every command shares.
    init(_ code: PipelineExitCode) { self.init(code.rawValue) }
}

/// Options every command that loads plugins accepts.
struct PluginOptions: ParsableArguments {
    @Option(name: .customLong("plugin-path"),
            help: ArgumentHelp("A plugin directory or library file to search first (repeatable).",
                               discussion: "Then $PIPELINE_PLUGIN_PATH (colon-separated), pipeline-plugins/ next to the binary, and <prefix>/lib/pipeline/plugins.",
                               valueName: "path"))
    var pluginPaths: [String] = []

    /// Loads every plugin; each library that cannot be loaded is reported
    /// through `report` (default: a `warning:` line on stderr).
    func loadRegistry(reportProblems: Bool = true,
                      report: (String) -> Void = { FileHandleOutput.standardError("warning: \($0)") }) -> PluginRegistry {
        let registry = PluginRegistry.load(PluginSearchPath.standard(flags: pluginPaths))
        if reportProblems {
            for problem in registry.problems { report("\(problem)") }
        }
        return registry
    }
}
