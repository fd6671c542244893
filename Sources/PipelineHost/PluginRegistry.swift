import Foundation
import Logging
import PipelineDefinition

/// Where plugins are looked for, in order; earlier entries win.
///
/// 1. `--plugin-path` flags, in the order given;
/// 2. `PIPELINE_PLUGIN_PATH`, colon-separated;
/// 3. `pipeline-plugins/` next to the executable (a build tree);
/// 4. `<prefix>/lib/pipeline/plugins` for an executable in `<prefix>/bin`.
///
/// An entry may be a directory (every `*.so`, or `*.dylib` on macOS, in it,
/// sorted by name) or a single library file.
public struct PluginSearchPath: Sendable, CustomStringConvertible {
    public var entries: [String]

    public init(entries: [String]) { self.entries = entries }

    public static let environmentVariable = "PIPELINE_PLUGIN_PATH"

    /// `--plugin-path` flags, then `$PIPELINE_PLUGIN_PATH`, then the
    /// directories beside the binary. Relative entries are taken from
    /// `currentDirectory`: `libx.so` is the file in the current directory,
    /// not a name for dlopen's library search.
    public static func standard(flags: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                                executable: String? = CommandLine.arguments.first,
                                currentDirectory: String = FileManager.default.currentDirectoryPath) -> PluginSearchPath {
        var entries = flags
        if let value = environment[environmentVariable] {
            entries += value.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        entries = entries.map { entry in
            entry.hasPrefix("/") ? entry : URL(fileURLWithPath: entry, relativeTo: URL(fileURLWithPath: currentDirectory, isDirectory: true)).standardizedFileURL.path
        }
        if let executable = executablePath(executable) {
            let binDirectory = (executable as NSString).deletingLastPathComponent
            entries.append((binDirectory as NSString).appendingPathComponent("pipeline-plugins"))
            let prefix = (binDirectory as NSString).deletingLastPathComponent
            entries.append((prefix as NSString).appendingPathComponent("lib/pipeline/plugins"))
        }
        var seen = Set<String>()
        return PluginSearchPath(entries: entries.filter { seen.insert($0).inserted })
    }

    private static func executablePath(_ argument: String?) -> String? {
        #if os(Linux)
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return resolved
        }
        #endif
        return argument.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
    }

    /// The library files the entries name, in search order.
    public func libraryFiles() -> [String] {
        let fileManager = FileManager.default
        var files: [String] = []
        for entry in entries {
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: entry, isDirectory: &isDirectory) else { continue }
            if !isDirectory.boolValue {
                files.append(entry)
                continue
            }
            let names = (try? fileManager.contentsOfDirectory(atPath: entry)) ?? []
            for name in names.sorted() where Self.isLibraryName(name) {
                files.append((entry as NSString).appendingPathComponent(name))
            }
        }
        return files
    }

    static func isLibraryName(_ name: String) -> Bool {
        #if os(macOS)
        return name.hasSuffix(".dylib") || name.hasSuffix(".so")
        #else
        return name.hasSuffix(".so")
        #endif
    }

    public var description: String { entries.joined(separator: ":") }
}

/// A library that could not be used, and why. The host goes on without it.
public struct PluginProblem: Sendable, CustomStringConvertible {
    public let path: String
    public let error: PluginError
    public var description: String { error.description }
}

/// Every step of every plugin found on the search path.
public struct PluginRegistry: Sendable {
    public private(set) var libraries: [PluginLibrary] = []
    public private(set) var problems: [PluginProblem] = []
    private var byID: [String: StepDescriptor] = [:]

    public init() {}

    /// Loads every library on `searchPath`. Bad libraries become `problems`
    /// (logged as warnings); the rest stay usable. Run on the control thread.
    public static func load(_ searchPath: PluginSearchPath, logger: Logger? = nil) -> PluginRegistry {
        var registry = PluginRegistry()
        var loadedPaths = Set<String>()
        for file in searchPath.libraryFiles() {
            let canonical = URL(fileURLWithPath: file).resolvingSymlinksInPath().path
            guard loadedPaths.insert(canonical).inserted else { continue }
            registry.add(path: file, logger: logger)
        }
        return registry
    }

    /// Loads one library and adds its steps, unless one of its step ids is
    /// already taken, in which case the whole library is refused.
    public mutating func add(path: String, logger: Logger? = nil) {
        do {
            let library = try PluginLibrary.load(path: path)
            for step in library.steps {
                if let existing = byID[step.id] {
                    throw PluginError.duplicateStep(path, id: step.id, firstPath: existing.libraryPath)
                }
            }
            for step in library.steps { byID[step.id] = step }
            libraries.append(library)
        } catch let error as PluginError {
            problems.append(PluginProblem(path: path, error: error))
            logger?.warning("\(error.description)")
        } catch {
            problems.append(PluginProblem(path: path, error: .notLoadable(path, reason: "\(error)")))
        }
    }

    /// All steps, in search order.
    public var steps: [StepDescriptor] { libraries.flatMap(\.steps) }

    /// How far a misspelt step name may be from a suggestion.
    package static func suggestionLimit(_ query: String) -> Int { max(3, query.count / 3) }

    /// Finds a step by reverse-DNS id, or by short name when exactly one
    /// step has it. The error suggests the closest known name.
    public func step(_ query: String) throws(PluginError) -> StepDescriptor {
        if let step = byID[query] { return step }
        let named = steps.filter { $0.name == query }
        if named.count == 1 { return named[0] }
        if named.count > 1 {
            throw .notFound(query, suggestion: named.map(\.id).joined(separator: "\" or \""))
        }
        let suggestion = Suggestion.closest(to: query, among: steps.flatMap { [$0.name, $0.id] },
                                            limit: Self.suggestionLimit(query))
        throw .notFound(query, suggestion: suggestion)
    }
}
