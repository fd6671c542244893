import Foundation
import PipelineJSON
import PipelineDefinition
import PipelineHost
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The files a pipeline reads and writes, checked against each other before
/// anything runs: an output that is also an input (the run would replace
/// its own data), two outputs on one file (one would clobber the other), and
/// an output over a file the run directory keeps for itself (state.db,
/// run.log, …). Paths are compared as the file system resolves them:
/// symlinks followed, `..` and `.` removed, and, for files that exist, by
/// device and inode, so a hard link or a symlinked directory is seen too.
struct PathConflicts {
    /// One path parameter (or a file the run itself uses).
    struct Use {
        enum Role { case input, output, runFile }
        var role: Role
        /// "step save, with.path", "the pipeline file", "the run directory's state.db".
        var what: String
        /// As the pipeline gives it, made absolute (no file system access yet).
        var path: String
        var location: SourceLocation?
    }

    /// Files of the run directory that no output may replace.
    static let runFiles = ["state.db", "state.db-wal", "state.db-shm", "state.db-journal", "run.lock", "run.log",
                           "summary.json", "errors.jsonl", "llm-io.jsonl", "llm-io.previous.jsonl"]

    /// Problems, in the order of `uses` (an output conflicting with an
    /// earlier use is reported at the output's position).
    static func problems(_ uses: [Use]) -> [Diagnostic] {
        let identities = uses.map { FileIdentity(resolving: $0.path) }
        var problems: [Diagnostic] = []
        // The run rewrites its own files (summary.json, run.log, …): none may be an input.
        for (index, use) in uses.enumerated() where use.role == .input {
            guard let file = uses.indices.first(where: { uses[$0].role == .runFile && identities[$0] == identities[index] })
            else { continue }
            problems.append(Diagnostic(
                "\(use.what) is \(use.path), which is \(uses[file].what); the run rewrites it: "
                + "read a copy, or use another run directory", at: use.location))
        }
        for (index, use) in uses.enumerated() where use.role == .output {
            for other in uses.indices where other != index && identities[other] == identities[index] {
                let earlier = uses[other]
                switch earlier.role {
                case .input:
                    problems.append(Diagnostic(
                        "\(use.what) writes \(use.path), which is \(earlier.what)\(where: earlier.location)"
                        + sameFile(use.path, earlier.path)
                        + "; the run would replace its own input: write the output elsewhere", at: use.location))
                case .output where other < index:
                    problems.append(Diagnostic(
                        "\(use.what) writes \(use.path), which \(earlier.what)\(where: earlier.location) writes too"
                        + sameFile(use.path, earlier.path)
                        + "; two writers cannot share a file: give each its own path", at: use.location))
                case .runFile:
                    problems.append(Diagnostic(
                        "\(use.what) writes \(use.path), which is \(earlier.what); choose another path", at: use.location))
                case .output:
                    continue
                }
            }
        }
        return problems
    }

    private static func sameFile(_ a: String, _ b: String) -> String {
        a == b ? "" : " (the same file as \(b))"
    }
}

private extension DefaultStringInterpolation {
    /// ` (at FILE:LINE:COL)` when the position is known.
    mutating func appendInterpolation(where location: SourceLocation?) {
        if let location { appendLiteral(" (at \(location))") }
    }
}

/// What identifies a file: its device and inode when it exists, otherwise
/// its path with every existing ancestor resolved (a file not made yet is
/// the same file as another path only if their resolved paths are equal).
enum FileIdentity: Hashable {
    case inode(dev: UInt64, ino: UInt64)
    case path(String)

    init(resolving absolute: String) {
        var info = stat()
        if stat(absolute, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR {
            self = .inode(dev: UInt64(info.st_dev), ino: UInt64(info.st_ino))
        } else {
            self = .path(Self.resolvedPath(absolute))
        }
    }

    /// `absolute` with the longest existing prefix resolved by realpath(3).
    static func resolvedPath(_ absolute: String) -> String {
        var head = absolute
        var tail: [Substring] = []
        while head != "/" && !head.isEmpty {
            if let real = realpath(head, nil) {
                defer { free(real) }
                let resolved = String(cString: real)
                return tail.isEmpty ? resolved : (resolved == "/" ? "" : resolved) + "/" + tail.reversed().joined(separator: "/")
            }
            guard let slash = head.lastIndex(of: "/") else { break }
            tail.append(head[head.index(after: slash)...])
            head = slash == head.startIndex ? "/" : String(head[..<slash])
        }
        return absolute
    }
}

extension PathConflicts {
    /// One step's path parameters, as its schema marks them
    /// (`"format": "input-path"` / `"output-path"`).
    struct StepPaths {
        var name: String
        var schema: JSONValue
        var parameters: [String: JSONValue]
        /// Where `with.KEY` was set: its position in the file, or the flag.
        var origin: (String) -> SourceOrigin?
        var location: SourceLocation?
    }

    /// Every file a run of these steps reads or writes. Input paths are
    /// absolute already (validation made them so); relative output paths
    /// are taken in the run directory, as the executor does.
    /// `secretFiles`: files holding a secret (an LLM's api_key_file, a
    /// credential's file:), each with what it is.
    static func uses(of steps: [StepPaths], secretFiles: [(what: String, path: String)], pipelineFile: String,
                     runDirectory: String) -> [Use] {
        var uses = [Use(role: .input, what: "the pipeline file", path: pipelineFile, location: nil)]
        for name in runFiles {
            uses.append(Use(role: .runFile, what: "the run directory's \(name)",
                            path: Paths.absolute(name, base: runDirectory, home: nil), location: nil))
        }
        for (what, path) in secretFiles {
            uses.append(Use(role: .input, what: what, path: path, location: nil))
        }
        for step in steps {
            for (key, property) in (step.schema["properties"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let path = step.parameters[key]?.stringValue, !path.isEmpty else { continue }
                switch property["format"]?.stringValue {
                case "input-path":
                    let (what, location) = describe(step, key)
                    uses.append(Use(role: .input, what: "the input of " + what, path: path, location: location))
                case "output-path":
                    let (what, location) = describe(step, key)
                    uses.append(Use(role: .output, what: what, path: Paths.absolute(path, base: runDirectory, home: nil),
                                    location: location))
                default:
                    continue
                }
            }
        }
        func describe(_ step: StepPaths, _ key: String) -> (String, SourceLocation?) {
            let what = "step \"\(step.name)\" (with.\(key))"
            switch step.origin(key) {
            case .file(let location)?: return (what, location)
            case .flag(let flag)?: return (what + " set by \(flag.prefix(120))", step.location)
            case nil: return (what, step.location)
            }
        }
        // Outputs last, so each is reported once, against everything before it.
        return uses.filter { $0.role != .output } + uses.filter { $0.role == .output }
    }
}

extension PipelineChecker {
    /// Outputs that would replace an input, another output or a run file.
    mutating func checkPaths(descriptors: [StepDescriptor?], parameters: [[String: JSONValue]],
                             llms: [(name: String, settings: JSONValue)],
                             credentials: [(name: String, settings: JSONValue)]) {
        var steps: [PathConflicts.StepPaths] = []
        for (index, step) in pipeline.steps.enumerated() {
            guard let descriptor = descriptors[index] else { continue }
            let sourceMap = pipeline.sourceMap
            let withPath = step.path.appending("with")
            steps.append(PathConflicts.StepPaths(
                name: step.name ?? "#\(index + 1)", schema: descriptor.parameterSchema, parameters: parameters[index],
                origin: { sourceMap.valueOrigin(withPath.appending($0)) }, location: step.location))
        }
        let secretFiles = PathConflicts.secretFiles(llms: llms, credentials: credentials)
        let uses = PathConflicts.uses(of: steps, secretFiles: secretFiles, pipelineFile: file, runDirectory: runDirectory)
        diagnostics += PathConflicts.problems(uses)
    }
}

extension PipelinePlan {
    /// Why a run of this plan in `runDirectory` may not also write `path`
    /// (a file of the command's own, such as `--summary FILE`, called
    /// `what` in the message): it is an input, a step's output or a file
    /// of the run directory. Nil when it may.
    public func conflict(writing path: String, as what: String, runDirectory: String) -> String? {
        let current = FileManager.default.currentDirectoryPath
        let use = PathConflicts.Use(role: .output, what: what, path: Paths.absolute(path, base: current, home: nil),
                                    location: nil)
        return PathConflicts.problems(PathConflicts.uses(of: self, runDirectory: runDirectory) + [use])
            .first { $0.message.hasPrefix(what + " writes ") }?.message
    }
}

extension PathConflicts {
    /// The files a validated plan reads and writes (for the executor's check).
    static func uses(of plan: PipelinePlan, runDirectory: String) -> [Use] {
        let steps = plan.steps.map { step in
            StepPaths(name: step.name, schema: step.descriptor.parameterSchema, parameters: step.parameters,
                      origin: { _ in nil }, location: step.location)
        }
        let secretFiles = secretFiles(llms: plan.llms.map { ($0.key, $0.value) },
                                      credentials: plan.credentials.map { ($0.key, $0.value) })
        let current = FileManager.default.currentDirectoryPath
        return uses(of: steps, secretFiles: secretFiles, pipelineFile: Paths.absolute(plan.file, base: current, home: nil),
                    runDirectory: Paths.absolute(runDirectory, base: current, home: nil))
    }

    /// The files of the pipeline that hold secrets: LLMs' api_key_file and
    /// credentials' file: (inputs: no output may replace them).
    static func secretFiles(llms: [(name: String, settings: JSONValue)],
                            credentials: [(name: String, settings: JSONValue)]) -> [(what: String, path: String)] {
        llms.compactMap { name, settings in
            settings["api_key_file"]?.stringValue.map { ("the api_key_file of LLM \"\(name)\"", $0) }
        } + credentials.compactMap { name, settings in
            settings["file"]?.stringValue.map { ("the file of credential \"\(name)\"", $0) }
        }
    }
}
