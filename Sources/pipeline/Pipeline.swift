import ArgumentParser
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

            Exit codes: 0 success, 1 failure, 2 usage or configuration error.
            """,
        version: "pipeline \(PipelineABI.hostVersion) (plugin ABI \(PipelineABI.major).\(PipelineABI.minor); loads plugins built for ABI \(PipelineABI.supportedRange))",
        subcommands: [Run.self, Validate.self, Plugins.self])

    static func main() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: Environment.value("PIPELINE_LOG_LEVEL") ?? "") ?? .info
            return handler
        }
        do {
            var command = try parseAsRoot()
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
            Self.exit(withError: ExitCode(ExitStatus.usage))
        }
        Self.exit(withError: error as (any Error)?)
    }
}

/// Exit codes shared by every command.
enum ExitStatus {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 2
}

/// Options every command that loads plugins accepts.
struct PluginOptions: ParsableArguments {
    @Option(name: .customLong("plugin-path"),
            help: ArgumentHelp("A plugin directory or library file to search first (repeatable).",
                               discussion: "Then $PIPELINE_PLUGIN_PATH (colon-separated), pipeline-plugins/ next to the binary, and <prefix>/lib/pipeline/plugins.",
                               valueName: "path"))
    var pluginPaths: [String] = []

    func loadRegistry(reportProblems: Bool = true) -> PluginRegistry {
        let registry = PluginRegistry.load(PluginSearchPath.standard(flags: pluginPaths))
        if reportProblems {
            for problem in registry.problems { FileHandleOutput.standardError("warning: \(problem)") }
        }
        return registry
    }
}
