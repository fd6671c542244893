import ArgumentParser
import Foundation
import Logging
import PipelineCore
import PipelineDefinition
import PipelineCLI
import PipelineHost

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
        subcommands: [Run.self, Runs.self, Validate.self, Plan.self, Plugins.self])

    static func main() {
        MallocTuning.apply()
        // Before any plugin is loaded: a crash names its plugin and exits 6.
        CrashGuard.install(environment: ProcessInfo.processInfo.environment,
                           exitCode: PipelineExitCode.crashed.rawValue)
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(Plan.rewrite(Array(CommandLine.arguments.dropFirst())))
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

/// glibc's allocator, tuned before any thread starts. By default glibc
/// gives threads up to 8 arenas per core and lets freed memory stay in
/// them; a run has dozens of threads (a worker per call that may be in
/// flight, the HTTP and store threads) passing Arrow buffers between each
/// other, and each arena kept several MiB of freed blocks: DEITA at N=1000,
/// k=3 peaked at 177-181 MB RSS with 73 MB in use (malloc_stats). Two arenas
/// and a fixed mmap threshold (buffers from 4 MiB on are mapped and
/// unmapped, instead of glibc raising the threshold to the largest buffer
/// freed so far and keeping such buffers in the arenas): 128-134 MB, with
/// the same CPU time (7.1-7.4 s either way). A 256 KiB threshold gave the
/// same RSS there but made every Arrow buffer of a large batch a fresh
/// mapping: the DEITA filter benchmark from inline JSON floats took ~30 %
/// longer (page faults, zeroing). Through dlsym, so other C libraries
/// (musl) are left alone; MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_ in
/// the environment still win.
enum MallocTuning {
    static func apply() {
        #if os(Linux)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let environment = ProcessInfo.processInfo.environment
        let arenaMax: Int32 = -8, mmapThreshold: Int32 = -3  // M_ARENA_MAX, M_MMAP_THRESHOLD (malloc.h)
        if environment["MALLOC_ARENA_MAX"] == nil { _ = mallopt(arenaMax, 2) }
        if environment["MALLOC_MMAP_THRESHOLD_"] == nil { _ = mallopt(mmapThreshold, 4 << 20) }
        #endif
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

    func validate() throws {
        // A library that is there but cannot be loaded is a warning (below);
        // a path that names nothing is a mistyped flag.
        for path in pluginPaths where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("--plugin-path \(path): no such file or directory")
        }
    }

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
