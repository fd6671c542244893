// swift-tools-version:6.0
import PackageDescription

// Layout (see docs/ARCHITECTURE.md):
//   CPipelineABI   the C header that is the whole plugin contract
//   CCrashGuard    the fatal-signal handler naming the plugin that crashed
//   CServeProcess  fork and exec of a model server: process group, parent-death signal, watchdog
//   PipelineServe  the model servers a run starts for `llms: NAME: serve:`
//   PipelineArrow  Arrow C Data Interface import/export and builders
//   PipelineJSON   JSON values, reader and writer (standard library only)
//   PipelineRetry  the HTTP retry policy of the LLM client and the Hub plugin (standard library only)
//   PipelineJSONSchema  the JSON Schema of a structured answer (PipelineJSON only), host and LLM plugin
//   PipelineBase PipelineSQLite PipelineLLMClient PipelineDefinition PipelineStore
//                  the layers below the plugin host (the table in ARCHITECTURE.md)
//   PipelineHost   plugin loading, host services, step instances, crash guard
//   PipelineCore   the plan and the executor
//   PipelineCLI    terminal output, exit codes, signals
//   pipeline       the thin command-line front end
//   PluginKit      what a Swift plugin links besides the ABI
//   PluginJSONLines  rows as JSON Lines, shared by the data and Hub plugins
//   Plugins/*      the built-in steps, built exactly as a third party would
//   ParquetFormat  the Parquet file format (no Arrow, no ABI); PluginParquet maps it to batches
//   CCurl CYAML CSQLite CSnappy CZstd   system libraries, each wrapped by one module

let package = Package(
    name: "pipeline",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pipeline", targets: ["pipeline"]),
        .executable(name: "llm-test-server", targets: ["llm-test-server"]),
        .library(name: "PluginKit", targets: ["PluginKit"]),
        // Built-in Swift plugins: one dynamic library each, loaded with dlopen.
        .library(name: "PipelineColumns", type: .dynamic, targets: ["PipelineColumns"]),
        .library(name: "PipelineData", type: .dynamic, targets: ["PipelineData"]),
        .library(name: "PipelineLLM", type: .dynamic, targets: ["PipelineLLM"]),
        .library(name: "PipelineHub", type: .dynamic, targets: ["PipelineHub"]),
        .library(name: "PipelineFilter", type: .dynamic, targets: ["PipelineFilter"]),
        .library(name: "PipelineMap", type: .dynamic, targets: ["PipelineMap"]),
        .library(name: "PipelineQuality", type: .dynamic, targets: ["PipelineQuality"]),
        .library(name: "PipelineDedup", type: .dynamic, targets: ["PipelineDedup"]),
        // Test helper: lets Python's pyarrow hand batches to our Arrow code.
        .library(name: "ArrowConformance", type: .dynamic, targets: ["ArrowConformance"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .target(name: "CPipelineABI"),
        // The fatal-signal handler: what crashed, said with async-signal-safe calls.
        .target(name: "CCrashGuard"),
        // fork + setpgid + PR_SET_PDEATHSIG + exec of a model server (posix_spawn cannot set a parent-death signal).
        .target(name: "CServeProcess"),
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]),
        .systemLibrary(
            name: "CYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"]), .brew(["libyaml"])]),
        .systemLibrary(
            name: "CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]),
        .systemLibrary(
            name: "CSnappy", pkgConfig: "snappy",
            providers: [.apt(["libsnappy-dev"]), .brew(["snappy"])]),
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        // The Parquet file format from its specification: Thrift compact
        // metadata, pages, levels, encodings, compression. No Arrow, no ABI.
        .target(name: "ParquetFormat", dependencies: ["CSnappy", "CZstd"]),

        .target(name: "PipelineArrow", dependencies: ["CPipelineABI"]),
        // JSON values, reader and writer: the standard library only.
        .target(name: "PipelineJSON"),
        // The template and expression language (a Jinja2 subset): prompts,
        // map, filter. The standard library and PipelineJSON only.
        .target(name: "PipelineTemplate", dependencies: ["PipelineJSON"]),
        // Value types every layer above JSON shares (LLM usage, the run
        // summary, time text, a queue, the host version).
        .target(name: "PipelineBase", dependencies: ["PipelineJSON"]),
        // The JSON Schema of a structured answer: read, checked, validated,
        // mapped to columns; the host (validation) and the LLM plugin share it.
        .target(name: "PipelineJSONSchema", dependencies: ["PipelineJSON"]),
        // When a failed HTTP request is retried and after how long (statuses,
        // backoff with jitter, Retry-After): the standard library only, so the
        // host's LLM client and a plugin (statically) link the same policy.
        .target(name: "PipelineRetry"),
        // The one importer of CSQLite: a connection and prepared statements.
        .target(name: "PipelineSQLite", dependencies: ["CSQLite"]),
        // The HTTP engine (libcurl) and the LLM client: no plugin ABI here.
        // SHA-1 and SHA-256: the Hub's file ids, a batch file's recorded hash.
        .target(name: "PipelineHashing"),
        .target(
            name: "PipelineLLMClient",
            dependencies: [
                "CCurl", "PipelineJSON", "PipelineBase", "PipelineSQLite", "PipelineRetry", "PipelineHashing",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The local model servers of `llms: NAME: serve:`: started, shared,
        // restarted and stopped with the run.
        .target(
            name: "PipelineServe",
            dependencies: [
                "CServeProcess", "PipelineJSON", "PipelineLLMClient", .product(name: "Logging", package: "swift-log"),
            ]),
        // The pipeline file: YAML with positions, schema validation,
        // interpolation, diagnostics (what needs no plugin).
        .target(name: "PipelineDefinition", dependencies: ["CYAML", "PipelineJSON"]),
        // The run directory: the SQLite state store (batches as Arrow IPC),
        // run accounting, fingerprints, the run lock.
        .target(name: "PipelineStore", dependencies: ["PipelineSQLite", "PipelineJSON", "PipelineBase", "PipelineArrow", "PipelineHashing"]),
        // Plugin loading, the host table and its services, step instances,
        // the crash guard: the only Swift module that speaks the C ABI.
        .target(
            name: "PipelineHost",
            dependencies: [
                "CPipelineABI", "CCrashGuard", "PipelineArrow", "PipelineJSON", "PipelineBase",
                "PipelineLLMClient", "PipelineStore", "PipelineSQLite", "PipelineDefinition",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The plan (a pipeline file checked against the loaded steps) and the executor.
        .target(
            name: "PipelineCore",
            dependencies: [
                "PipelineHost", "PipelineArrow", "PipelineJSON", "PipelineJSONSchema", "PipelineBase", "PipelineLLMClient",
                "PipelineStore", "PipelineSQLite", "PipelineDefinition", "PipelineTemplate", "PipelineServe",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The terminal: console and progress output, logging to the
        // terminal, exit codes, signals, `runs` listings.
        .target(
            name: "PipelineCLI",
            dependencies: [
                "PipelineCore", "PipelineStore", "PipelineBase", "PipelineJSON",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "pipeline",
            dependencies: [
                "PipelineCLI", "PipelineCore", "PipelineHost", "PipelineJSON", "PipelineBase", "PipelineLLMClient",
                "PipelineStore", "PipelineSQLite", "PipelineDefinition",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The in-project OpenAI-compatible server: `make run`, the tests and
        // the benchmarks use it as the LLM (deterministic, with faults).
        .executableTarget(name: "llm-test-server", dependencies: ["PipelineJSON"]),
        .executableTarget(name: "pipeline-bench", dependencies: [
            "CPipelineABI", "PipelineCore", "PipelineHost", "PipelineArrow", "PipelineJSON",
        ]),
        .target(name: "PluginKit", dependencies: ["CPipelineABI", "PipelineArrow", "PipelineJSON", "PipelineTemplate"]),

        .target(
            name: "PipelineColumns", dependencies: ["PluginKit"], path: "Plugins/columns",
            linkerSettings: pluginLinkerSettings),
        // The JSON Lines encoding of rows (and its byte buffer) that
        // write_jsonl and push_to_hub share: linked into both plugins.
        .target(name: "PluginJSONLines", dependencies: ["PluginKit"]),
        // Parquet files as record batches (schema and level mapping over
        // ParquetFormat): the data and Hub plugins link it.
        .target(name: "PluginParquet", dependencies: ["PluginKit", "ParquetFormat"]),
        .target(
            name: "PipelineData", dependencies: ["PluginKit", "PluginJSONLines", "PluginParquet", "PipelineJSON", "PipelineRetry"], path: "Plugins/data",
            linkerSettings: pluginLinkerSettings),
        .target(
            name: "PipelineLLM", dependencies: ["PluginKit", "PipelineJSON", "PipelineJSONSchema"], path: "Plugins/llm",
            linkerSettings: pluginLinkerSettings),
        .target(
            name: "PipelineHub", dependencies: ["PluginKit", "PluginJSONLines", "PluginParquet", "PipelineRetry", "PipelineJSON", "PipelineHashing"], path: "Plugins/hub",
            linkerSettings: pluginLinkerSettings),
        .target(
            name: "PipelineFilter", dependencies: ["PluginKit", "PipelineTemplate"], path: "Plugins/filter",
            linkerSettings: pluginLinkerSettings),
        .target(
            name: "PipelineMap", dependencies: ["PluginKit", "PipelineTemplate", "PipelineJSON"], path: "Plugins/map",
            linkerSettings: pluginLinkerSettings),
        .target(
            name: "PipelineQuality", dependencies: ["PluginKit", "PipelineJSON", "PipelineRetry"], path: "Plugins/quality",
            linkerSettings: pluginLinkerSettings),
        .target(
            name: "PipelineDedup", dependencies: ["PluginKit"], path: "Plugins/dedup",
            linkerSettings: pluginLinkerSettings),
        .target(name: "ArrowConformance", dependencies: ["PipelineArrow"], path: "Tests/ArrowConformance"),

        .testTarget(name: "PipelineArrowTests", dependencies: ["PipelineArrow", "CPipelineABI"]),
        .testTarget(name: "PipelineRetryTests", dependencies: ["PipelineRetry"]),
        .testTarget(name: "PipelineTemplateTests", dependencies: ["PipelineTemplate"]),
        .testTarget(name: "PipelineCoreTests", dependencies: [
            "PipelineCore", "PipelineArrow", "PipelineJSON", "PipelineJSONSchema", "PipelineBase", "PipelineSQLite", "PipelineLLMClient",
            "PipelineStore", "PipelineDefinition", "PipelineHost", "PipelineCLI", "PluginParquet", "PipelineHashing", "PipelineServe",
        ]),
    ]
)

// A Swift plugin exports only its entry point (a version script, the
// equivalent of C's -fvisibility=hidden) and binds its own symbols to itself
// (-Bsymbolic), so it never calls into the host's copy of PluginKit or
// PipelineArrow, which may be a different version.
var pluginLinkerSettings: [LinkerSetting] {
    [.unsafeFlags(["-Xlinker", "-Bsymbolic",
                   "-Xlinker", "--version-script=\(Context.packageDirectory)/Plugins/plugin.exports"],
                  .when(platforms: [.linux]))]
}

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
