import Foundation
import Testing

/// The bad-input corpus (issue 16): what a new user gets wrong, run through
/// the built binary and plugins, one process per case, in parallel. Every
/// case must end with a documented exit code (never a signal, never 6)
/// within the time limit, say why on stderr in a few lines (a position for
/// problems of the pipeline file), leak no secret, write nothing when it
/// only validates, leave no temporary file or partial output when a run
/// fails, and never change a file that was there before it started.
@Suite("bad-input corpus")
struct BadInputCorpusTests {
    @Test(arguments: BadInput.corpus)
    func isHandledCleanly(_ input: BadInput) throws {
        try Fixtures.requireBuiltPipeline()
        let root = try Fixtures.emptyDirectory("bad-input")
        let work = root.appendingPathComponent("work").path
        let home = root.appendingPathComponent("home").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        for (path, bytes) in input.files {
            let url = URL(fileURLWithPath: work).appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        try input.setup?(work)
        let directory = realpath(work, nil).map { pointer in
            defer { free(pointer) }
            return String(cString: pointer)
        } ?? work

        let before = Snapshot(root.path)
        let result = try CorpusRunner.run(input.arguments, in: work, home: home)
        let after = Snapshot(root.path)

        var problems: [String] = []
        func check(_ condition: Bool, _ problem: @autoclosure () -> String) {
            if !condition { problems.append(problem()) }
        }
        let stderr = result.stderr
        let stdout = result.stdout

        // Ends, with one of the documented codes.
        check(!result.timedOut, "did not finish within \(CorpusRunner.timeLimit) s (killed)")
        check(result.status < 128, "died of signal \(result.status - 128)")
        check(result.status != 6, "exit code 6: a crash")
        check(input.exit.contains(result.status), "exit code \(result.status), expected \(input.exit.sorted())")

        // Says why, briefly, without a backtrace.
        if result.status != 0 {
            check(!stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "failed with nothing on stderr")
            check(stdout.isEmpty || input.stdoutOnFailure, "failed but wrote to stdout: \(stdout.prefix(300))")
        }
        check(stderr.utf8.count < 8192, "stderr holds \(stderr.utf8.count) bytes")
        for marker in ["Fatal error", "Stack dump", "Program crashed", "Backtrace", "Current stack trace", "crashed with SIG"] {
            check(!stderr.contains(marker), "stderr holds \"\(marker)\"")
        }
        if input.positioned {
            let file = NSRegularExpression.escapedPattern(for: input.file)
            check(stderr.range(of: "\(file):[0-9]+:[0-9]+: error: ", options: .regularExpression) != nil,
                  "no \(input.file):LINE:COL: error: on stderr")
        }
        for text in input.says {
            let expected = text.replacingOccurrences(of: "{dir}", with: directory)
            check(stderr.contains(expected) || stdout.contains(expected), "does not say: \(expected)")
        }

        // No secret anywhere: output, or any file written.
        let canary = BadInput.canary
        check(!stderr.contains(canary) && !stdout.contains(canary), "the secret is on stdout or stderr")
        for (path, entry) in after.entries where entry.kind == .file && before.entries[path] != entry {
            if let data = FileManager.default.contents(atPath: root.path + "/" + path),
               data.range(of: Data(canary.utf8)) != nil {
                problems.append("the secret is in \(path)")
            }
        }

        // Files: what was there is untouched; what appeared is allowed.
        for (path, entry) in before.entries where !input.mayChange.contains(path) {
            guard let now = after.entries[path] else { problems.append("\(path) was removed"); continue }
            if entry.kind == .directory {
                check(now.kind == .directory, "the directory \(path) was replaced")
                if input.command != "run" { check(now == entry, "\(input.command) changed the directory \(path)") }
            } else {
                check(now == entry, "\(path) was changed")
            }
        }
        let created = after.entries.keys.filter { before.entries[$0] == nil }.sorted()
        for path in created {
            check(!path.hasSuffix(".tmp"), "a temporary file was left: \(path)")
        }
        let allowedCreated = Set(input.mayCreate.map { "work/" + $0 })
        if input.command != "run" || result.status == 2 {
            let unexpected = created.filter { !allowedCreated.contains($0) && (input.command != "run" || !$0.hasPrefix("home/")) }
            check(unexpected.isEmpty, "\(input.command) (exit \(result.status)) wrote \(unexpected)")
        } else if input.command == "run" && ![0, 3].contains(result.status) {
            let partial = created.filter { path in
                after.entries[path]?.kind != .directory && !allowedCreated.contains(path) && !path.hasPrefix("home/")
                    && !BadInput.runFiles.contains((path as NSString).lastPathComponent)
            }
            check(partial.isEmpty, "the failed run left \(partial)")
        }
        for path in input.absent {
            check(after.entries["work/" + path] == nil, "\(path) exists")
        }
        for (path, text) in input.produces {
            let contents = (try? String(contentsOfFile: work + "/" + path, encoding: .utf8)) ?? ""
            check(contents.contains(text), "\(path) does not hold \(text)")
        }

        #expect(problems.isEmpty, """
            \(input.arguments.joined(separator: " ")) → exit \(result.status) in \(String(format: "%.1f", result.seconds)) s
            \(problems.map { "- " + $0 }.joined(separator: "\n"))
            stderr: \(stderr.prefix(2000))
            stdout: \(stdout.prefix(500))
            """)
        if problems.isEmpty {
            _ = chmod(work + "/readonly", 0o755)
            try? FileManager.default.removeItem(at: root)
        }
    }

    @Test func theCorpusCoversEveryCategory() {
        let corpus = BadInput.corpus
        #expect(corpus.count >= 120)
        #expect(Set(corpus.map(\.testDescription)).count == corpus.count, "case names are unique")
        for category in BadInput.Category.allCases {
            #expect(corpus.filter { $0.category == category }.count >= 15, "\(category)")
        }
    }
}

// MARK: - Running a case

enum CorpusRunner {
    static let timeLimit: Double = 20

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double
        var timedOut: Bool
    }

    /// Runs the binary in `directory` (relative paths are the case's
    /// files), with its own HOME and cache, the secret in the environment,
    /// stdout and stderr apart; killed after the time limit.
    static func run(_ arguments: [String], in directory: String, home: String) throws -> Result {
        let errorPath = FileManager.default.temporaryDirectory.appendingPathComponent("corpus-\(UUID().uuidString).err").path
        defer { unlink(errorPath) }
        var environment = ProcessInfo.processInfo.environment
        for name in ["PIPELINE_PLUGIN_PATH", "PIPELINE_LOG_LEVEL", "PIPELINE_CRASH_HANDLER", "LLM_BASE_URL"] {
            environment[name] = nil
        }
        environment["HOME"] = home
        environment["XDG_CACHE_HOME"] = home + "/cache"
        environment["NO_COLOR"] = "1"
        environment[BadInput.secretVariable] = BadInput.canary
        let script = "cd \"$1\" || exit 97; e=\"$2\"; shift 2; exec \"$@\" 2>\"$e\""
        let started = Date()
        let process = try Spawned("/bin/sh", ["-c", script, "sh", directory, errorPath, Fixtures.pipelineBinary] + arguments,
                                  environment: environment)
        defer { unlink(process.outputPath) }
        var timedOut = false
        while process.isRunning {
            if Date().timeIntervalSince(started) > timeLimit {
                timedOut = true
                process.kill()
                break
            }
            usleep(10_000)
        }
        let (status, stdout) = process.wait()
        let stderr = FileManager.default.contents(atPath: errorPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return Result(status: status, stdout: stdout, stderr: stderr, seconds: Date().timeIntervalSince(started),
                      timedOut: timedOut)
    }
}

/// Every entry under a directory, as lstat sees it, with a hash of each
/// small file's bytes: enough to tell that nothing changed.
struct Snapshot {
    enum Kind: Equatable { case file, directory, symlink, other }

    struct Entry: Equatable {
        var kind: Kind
        var size: Int64
        var inode: UInt64
        var modified: Int64
        var changed: Int64
        var hash: UInt64?
        var target: String?
    }

    var entries: [String: Entry] = [:]

    init(_ root: String) { walk(root, prefix: "") }

    private mutating func walk(_ directory: String, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names {
            let path = directory + "/" + name
            let relative = prefix + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            let type = info.st_mode & S_IFMT
            let kind: Kind = type == S_IFREG ? .file : type == S_IFDIR ? .directory : type == S_IFLNK ? .symlink : .other
            var entry = Entry(kind: kind, size: Int64(info.st_size), inode: UInt64(info.st_ino),
                              modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
                              changed: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec))
            switch kind {
            case .file where info.st_size <= 2 << 20:
                entry.hash = FileManager.default.contents(atPath: path).map(Self.fnv1a)
            case .symlink:
                entry.target = try? FileManager.default.destinationOfSymbolicLink(atPath: path)
            default:
                break
            }
            entries[relative] = entry
            if kind == .directory { walk(path, prefix: relative + "/") }
        }
    }

    static func fnv1a(_ data: Data) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}

// MARK: - The corpus

struct BadInput: Sendable, CustomTestStringConvertible {
    enum Category: String, Sendable, CaseIterable {
        case yaml = "broken YAML", structure = "bad structure", data = "bad data", flags = "wrong flags",
             files = "odd files"
    }

    var category: Category
    var name: String
    /// Files of the case directory (relative path → bytes).
    var files: [String: [UInt8]]
    /// More preparation (symlinks, FIFOs, permissions), in the case directory.
    var setup: (@Sendable (String) throws -> Void)?
    var arguments: [String]
    var exit: Set<Int32>
    /// Texts stderr (or stdout) must hold; {dir} is the case directory.
    var says: [String] = []
    /// stderr must hold `FILE:LINE:COL: error:`.
    var positioned: Bool
    /// The pipeline file the command names (for the position check).
    var file = "p.yaml"
    /// Paths (under the case directory) the command may create even when it fails.
    var mayCreate: [String] = []
    /// Paths (under the root: work/...) that may change.
    var mayChange: [String] = []
    /// Paths that must not exist afterwards.
    var absent: [String] = []
    /// Files that must hold a text afterwards.
    var produces: [String: String] = [:]
    var stdoutOnFailure = false

    var command: String { arguments.first ?? "" }
    var testDescription: String { "\(category.rawValue): \(name)" }

    static let secretVariable = "PIPELINE_TEST_KEY"
    static let canary = "sk-canary-5f1d0c9a7e3b42d8"
    /// What a failed run may leave in its run directory.
    static let runFiles: Set<String> = ["run.log", "summary.json", "state.db", "state.db-wal", "state.db-shm",
                                        "state.db-journal", "run.lock", "errors.jsonl", "llm-io.jsonl"]

    // MARK: Building blocks

    static let rows = "{\"id\": 1, \"text\": \"one\"}\n{\"id\": 2, \"text\": \"two\"}\n"
    static let load = "  - {name: load, uses: load_jsonl, with: {path: data.jsonl}}"
    static let save = "  - {name: save, uses: write_jsonl, input: load, with: {path: out.jsonl}}"
    static let teacher = """
        llms:
          teacher: {base_url: "http://127.0.0.1:9/v1", model: m, api_key_env: \(secretVariable), retries: 0, timeout_seconds: 5}

        """

    /// A pipeline named p of these step lines.
    static func pipeline(_ steps: String..., llms: String = "") -> String {
        "name: p\n" + llms + "steps:\n" + steps.joined(separator: "\n") + "\n"
    }

    static let good = pipeline(load, save)
    static let runFlags = ["--run-dir", "run", "--log-format", "human"]

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// A case: `yaml` is p.yaml (nil: none), `data` data.jsonl.
    static func make(_ category: Category, _ name: String, yaml: String? = good, raw: [UInt8]? = nil,
                     data: String? = rows, files: [String: [UInt8]] = [:], run: Bool = false, flags: [String] = [],
                     arguments: [String]? = nil, exit: Set<Int32>, says: [String] = [], positioned: Bool? = nil,
                     mayCreate: [String] = [], mayChange: [String] = [], absent: [String] = [],
                     produces: [String: String] = [:], stdoutOnFailure: Bool = false, setup: (@Sendable (String) throws -> Void)? = nil) -> BadInput {
        var all = files
        if let raw { all["p.yaml"] = raw } else if let yaml { all["p.yaml"] = bytes(yaml) }
        if let data, all["data.jsonl"] == nil { all["data.jsonl"] = bytes(data) }
        let arguments = arguments ?? (run ? ["run", "p.yaml"] + runFlags + flags : ["validate", "p.yaml"] + flags)
        let fromFile = [Category.yaml, .structure].contains(category) && exit == [2]
        return BadInput(category: category, name: name, files: all, setup: setup, arguments: arguments, exit: exit,
                        says: says, positioned: positioned ?? fromFile, mayCreate: mayCreate, mayChange: mayChange, absent: absent,
                        produces: produces, stdoutOnFailure: stdoutOnFailure)
    }

    /// A .npy header for `descr` and `shape`, then `payload` zero bytes.
    static func npy(descr: String, shape: String, payload: Int) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let count = header.utf8.count
        return [0x93] + bytes("NUMPY") + [1, 0, UInt8(count & 0xFF), UInt8(count >> 8)] + bytes(header)
            + [UInt8](repeating: 0, count: payload)
    }

    static func fifo(_ name: String) -> @Sendable (String) throws -> Void {
        { directory in
            guard mkfifo(directory + "/" + name, 0o644) == 0 else { throw FixtureError(message: "mkfifo \(name)") }
        }
    }

    static func symlink(_ name: String, to target: String) -> @Sendable (String) throws -> Void {
        { directory in
            try FileManager.default.createSymbolicLink(atPath: directory + "/" + name, withDestinationPath: target)
        }
    }

    static let corpus: [BadInput] = yamlCases + structureCases + dataCases + flagCases + fileCases

    // MARK: Broken YAML

    static let yamlCases: [BadInput] = {
        let y = Category.yaml
        let stepTail = "\n" + load + "\n" + save + "\n"
        return [
            make(y, "unclosed flow sequence", yaml: "name: p\nsteps: [\n", exit: [2]),
            make(y, "unclosed flow mapping", yaml: "name: p\nsteps:\n  - {name: load, uses: load_jsonl\n", exit: [2]),
            make(y, "bad indentation", yaml: "name: p\nsteps:\n  - name: load\n   uses: load_jsonl\n", exit: [2]),
            make(y, "unterminated double quote", yaml: "name: \"p\nsteps: []\n", exit: [2]),
            make(y, "unterminated single quote", yaml: "name: 'p\nsteps: []\n", exit: [2]),
            make(y, "a colon inside a plain value", yaml: "name: a: b\nsteps:" + stepTail, exit: [2]),
            make(y, "TAB indentation", yaml: "name: p\nsteps:\n\t- name: load\n", exit: [2], says: ["a TAB character"]),
            make(y, "TAB in the middle of a block", yaml: "name: p\nsteps:\n  - name: load\n  \tuses: load_jsonl\n", exit: [2]),
            make(y, "duplicate top-level key", yaml: "name: p\nname: q\nsteps:" + stepTail, exit: [2],
                 says: ["duplicate key \"name\""]),
            make(y, "duplicate key in a step",
                 yaml: pipeline("  - name: load\n    uses: load_jsonl\n    uses: load_csv\n    with: {path: data.jsonl}", save),
                 exit: [2], says: ["duplicate key \"uses\""]),
            make(y, "duplicate key in with:",
                 yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: data.jsonl, path: x.jsonl}}", save),
                 exit: [2], says: ["duplicate key \"path\""]),
            make(y, "anchor and alias shared by two steps",
                 yaml: pipeline("  - {name: load, uses: load_jsonl, with: &w {path: data.jsonl}}",
                                "  - {name: again, uses: load_jsonl, with: *w}",
                                "  - {name: save, uses: write_jsonl, input: [load, again], with: {path: out.jsonl}}"),
                 exit: [0]),
            make(y, "alias inside its own anchor", yaml: "name: p\nsteps: &s [*s]\n", exit: [2],
                 says: ["inside the collection it names"]),
            make(y, "self-recursive step mapping",
                 yaml: "name: p\nsteps:\n  - &a {name: load, uses: load_jsonl, with: *a}\n", exit: [2]),
            make(y, "undefined alias", yaml: "name: p\nsteps: *nothing\n", exit: [2]),
            make(y, "billion laughs", yaml: """
                name: p
                a: &a [x, x, x, x, x, x, x, x, x]
                b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
                c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
                d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
                e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
                f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
                g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
                steps: [*g]

                """, exit: [2], says: ["more than 100000 nodes"]),
            make(y, "merge key",
                 yaml: pipeline("  - &l {name: load, uses: load_jsonl, with: {path: data.jsonl}}",
                                "  - {<<: *l, name: again}",
                                "  - {name: save, uses: write_jsonl, input: [load, again], with: {path: out.jsonl}}"),
                 exit: [0]),
            make(y, "!include tag", yaml: "name: p\nsteps: !include steps.yaml\n", exit: [2],
                 says: ["unsupported YAML tag !include"]),
            make(y, "!!python/object tag", yaml: "name: p\nsteps: !!python/object:os.system {}\n", exit: [2],
                 says: ["unsupported YAML tag !!python/object"]),
            make(y, "!!binary tag", yaml: "name: !!binary aGVsbG8=\nsteps:" + stepTail, exit: [2]),
            make(y, "local tag !env", yaml: "name: !env NAME\nsteps:" + stepTail, exit: [2]),
            make(y, "core tag !!str accepted", yaml: "name: !!str p\nsteps:" + stepTail, exit: [0]),
            make(y, "!!int on a word", yaml: pipeline("  - {name: load, uses: load_jsonl, batch_size: !!int ten, with: {path: data.jsonl}}", save),
                 exit: [2]),
            make(y, "empty file", yaml: "", exit: [2], says: ["the file is empty"]),
            make(y, "only comments", yaml: "# a pipeline\n# to be written\n", exit: [2], says: ["the file is empty"]),
            make(y, "only blank lines", yaml: "\n   \n\n", exit: [2], says: ["empty"]),
            make(y, "a scalar at the top level", yaml: "hello\n", exit: [2]),
            make(y, "a list at the top level", yaml: "- name: p\n- steps: []\n", exit: [2], says: ["not a list"]),
            make(y, "two documents", yaml: "name: p\nsteps:" + stepTail + "---\nname: q\n", exit: [2],
                 says: ["more than one YAML document"]),
            make(y, "text after the document end", yaml: "name: p\nsteps:" + stepTail + "...\ngarbage: 1\n", exit: [2]),
            make(y, "explicit document markers", yaml: "---\nname: p\nsteps:" + stepTail + "...\n", exit: [0]),
            make(y, "UTF-8 byte order mark", raw: [0xEF, 0xBB, 0xBF] + bytes(good), exit: [0]),
            make(y, "UTF-16 with a byte order mark", raw: [0xFF, 0xFE] + good.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] },
                 exit: [0]),
            make(y, "UTF-32", raw: [0xFF, 0xFE, 0, 0] + good.unicodeScalars.flatMap { [UInt8($0.value & 0xFF), 0, 0, 0] },
                 exit: [2]),
            make(y, "CRLF line endings", yaml: good.replacingOccurrences(of: "\n", with: "\r\n"), exit: [0]),
            make(y, "CR line endings", yaml: good.replacingOccurrences(of: "\n", with: "\r"), exit: [0]),
            make(y, "invalid UTF-8", raw: bytes("name: p\nsteps: caf") + [0xE9, 0x0A], exit: [2], says: ["invalid UTF-8"]),
            make(y, "overlong UTF-8", raw: bytes("name: p") + [0xC0, 0xAF] + bytes("\nsteps:" + stepTail), exit: [2]),
            make(y, "UTF-8 encoded surrogate", raw: bytes("name: p") + [0xED, 0xA0, 0x80] + bytes("\nsteps:" + stepTail), exit: [2]),
            make(y, "UTF-8 cut short at the end", raw: bytes("name: p\nsteps:" + stepTail + "# ") + [0xE2, 0x82], exit: [2]),
            make(y, "NUL byte", raw: bytes("name: p\0\nsteps:" + stepTail), exit: [2], says: ["NUL byte"]),
            make(y, "control character", raw: bytes("name: p\u{07}\nsteps:" + stepTail), exit: [2]),
            make(y, "gzip file", raw: [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x02], exit: [2],
                 says: ["gzip-compressed"]),
            make(y, "zip file", raw: [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00], exit: [2]),
            make(y, "zstd file", raw: [0x28, 0xB5, 0x2F, 0xFD, 0x04, 0x00, 0x51, 0x00, 0x00], exit: [2]),
            make(y, "ELF binary", raw: [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00] + [UInt8](repeating: 0, count: 56), exit: [2]),
            make(y, "random bytes", raw: (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }, exit: [2]),
            make(y, "a directory given as the file", yaml: nil, arguments: ["validate", "pipelines"], exit: [2],
                 says: ["is a directory"], positioned: false,
                 setup: { try FileManager.default.createDirectory(atPath: $0 + "/pipelines", withIntermediateDirectories: true) }),
            make(y, "a missing file", yaml: nil, arguments: ["validate", "missing.yaml"], exit: [2],
                 says: ["No such file or directory"], positioned: false),
            make(y, "a dangling symlink", yaml: nil, arguments: ["validate", "p.yaml"], exit: [2], positioned: false,
                 setup: symlink("p.yaml", to: "gone.yaml")),
            make(y, "a symlink loop", yaml: nil, arguments: ["validate", "p.yaml"], exit: [2], positioned: false,
                 setup: { directory in
                     try FileManager.default.createSymbolicLink(atPath: directory + "/p.yaml", withDestinationPath: "q.yaml")
                     try FileManager.default.createSymbolicLink(atPath: directory + "/q.yaml", withDestinationPath: "p.yaml")
                 }),
            make(y, "a named pipe (FIFO) nobody writes", yaml: nil, exit: [2], says: ["named pipe"], positioned: false,
                 setup: fifo("p.yaml")),
            make(y, "a 20 MB file", yaml: nil, exit: [2], says: ["larger than 16 MiB"], positioned: false,
                 setup: { directory in
                     let line = "  - {name: s, uses: limit, input: load, with: {rows: 1}}\n"
                     let text = good + String(repeating: line, count: 20_000_000 / line.utf8.count)
                     try text.write(toFile: directory + "/p.yaml", atomically: false, encoding: .utf8)
                 }),
            make(y, "/dev/zero as the file", yaml: nil, arguments: ["validate", "/dev/zero"], exit: [2], positioned: false),
            make(y, "/dev/null as the file", yaml: nil, arguments: ["validate", "/dev/null"], exit: [2], says: ["empty"],
                 positioned: false),
            make(y, "flow nesting 100000 deep", yaml: "name: p\nsteps: " + String(repeating: "[", count: 100_000)
                    + String(repeating: "]", count: 100_000) + "\n", exit: [2], says: ["nested deeper than"]),
            make(y, "block nesting 3000 deep", yaml: "name: p\nsteps:\n" + (1..<3000).map {
                     String(repeating: "  ", count: $0) + "k\($0):\n" }.joined(), exit: [2]),
            make(y, "a 10 MiB line", yaml: "name: p\ndescription: " + String(repeating: "x", count: 10 << 20)
                    + "\nsteps:" + stepTail, exit: [0]),
            make(y, "a 10 MiB plain key", yaml: "name: p\n" + String(repeating: "k", count: 10 << 20) + ": 1\nsteps:" + stepTail,
                 exit: [2]),
            make(y, "a 10 MiB explicit key", yaml: "name: p\n? " + String(repeating: "k", count: 10 << 20) + "\n: 1\nsteps:" + stepTail,
                 exit: [2], says: ["unknown top-level key \"kkkkkkkkkk", "(10485760 bytes)"]),
            make(y, "a 64 KiB unknown key", yaml: "name: p\n? " + String(repeating: "k", count: 1 << 16) + "\n: 1\nsteps:" + stepTail,
                 exit: [2], says: ["(65536 bytes)"]),
            make(y, "a 64 KiB duplicate key", yaml: "name: p\n? " + String(repeating: "k", count: 1 << 16) + "\n: 1\n? "
                    + String(repeating: "k", count: 1 << 16) + "\n: 2\nsteps:" + stepTail,
                 exit: [2], says: ["duplicate key \"kkkk"]),
            make(y, "a 1 MiB pipeline name", yaml: "name: " + String(repeating: "n", count: 1 << 20) + "\nsteps:" + stepTail,
                 exit: [0, 2]),
            make(y, "a flow mapping at the top level",
                 yaml: "{name: p, steps: [{name: load, uses: load_jsonl, with: {path: data.jsonl}}, {name: save, uses: write_jsonl, input: load, with: {path: out.jsonl}}]}\n",
                 exit: [0]),
            make(y, "steps: null", yaml: "name: p\nsteps: null\n", exit: [2]),
            make(y, "steps is a mapping", yaml: "name: p\nsteps:\n  load: {uses: load_jsonl}\n", exit: [2]),
            make(y, "steps is a list of words", yaml: "name: p\nsteps: [load, save]\n", exit: [2]),
            make(y, "name: null", yaml: "name: ~\nsteps:" + stepTail, exit: [2]),
            make(y, "name is a list", yaml: "name: [p]\nsteps:" + stepTail, exit: [2]),
            make(y, "a list as a key", yaml: "name: p\n[a, b]: 1\nsteps:" + stepTail, exit: [2]),
            make(y, "a mapping as a key", yaml: "name: p\n? {a: 1}\n: 1\nsteps:" + stepTail, exit: [2]),
            make(y, "a null key", yaml: "name: p\n~: 1\nsteps:" + stepTail, exit: [2]),
            make(y, "a lone surrogate escape", yaml: "name: \"p\\ud800\"\nsteps:" + stepTail, exit: [2]),
            make(y, "a NUL escape in a name", yaml: "name: \"p\\0\"\nsteps:" + stepTail, exit: [2]),
            make(y, "a bad block scalar header", yaml: "name: p\ndescription: |0\n  text\nsteps:" + stepTail, exit: [2]),
            make(y, "a 2000-step chain", yaml: "name: p\nsteps:\n" + load + "\n" + (1...2000).map {
                     "  - {name: s\($0), uses: limit, input: \($0 == 1 ? "load" : "s\($0 - 1)"), with: {rows: 1}}" }
                     .joined(separator: "\n") + "\n", exit: [0]),
        ]
    }()

    // MARK: Bad structure

    static let structureCases: [BadInput] = {
        let s = Category.structure
        let llmStep = "  - {name: gen, uses: text_generation, llm: teacher, input: load}"
        let saveGen = "  - {name: save, uses: write_jsonl, input: gen, with: {path: out.jsonl}}"
        func withLoad(_ with: String) -> String { pipeline("  - {name: load, uses: load_jsonl, with: {path: data.jsonl, \(with)}}", save) }
        func llm(_ settings: String) -> String {
            pipeline(load, llmStep, saveGen, llms: "llms:\n  teacher: {\(settings)}\n")
        }
        return [
            make(s, "unknown top-level key", yaml: "nmae: p\nsteps:\n" + load + "\n" + save + "\n", exit: [2],
                 says: ["did you mean \"name\""]),
            make(s, "misspelled uses", yaml: pipeline("  - {name: load, use: load_jsonl, with: {path: data.jsonl}}", save),
                 exit: [2], says: ["did you mean \"uses\""]),
            make(s, "misspelled input", yaml: pipeline(load, "  - {name: save, uses: write_jsonl, inputs: load, with: {path: out.jsonl}}"),
                 exit: [2], says: ["did you mean \"input\""]),
            make(s, "a parameter beside with:", yaml: pipeline("  - {name: load, uses: load_jsonl, path: data.jsonl}", save),
                 exit: [2], says: ["put it under with:"]),
            make(s, "missing name", yaml: "steps:\n" + load + "\n" + save + "\n", exit: [2],
                 says: ["missing required key \"name\""]),
            make(s, "missing steps", yaml: "name: p\n", exit: [2], says: ["missing required key \"steps\""]),
            make(s, "empty steps", yaml: "name: p\nsteps: []\n", exit: [2], says: ["list at least one step"]),
            make(s, "a step without a name", yaml: pipeline("  - {uses: load_jsonl, with: {path: data.jsonl}}"), exit: [2]),
            make(s, "a step without uses", yaml: pipeline("  - {name: load, with: {path: data.jsonl}}", save), exit: [2]),
            make(s, "a step that is a word", yaml: pipeline("  - load", save), exit: [2]),
            make(s, "duplicate step names", yaml: pipeline(load, load, save), exit: [2], says: ["duplicate step name \"load\""]),
            make(s, "a cycle", yaml: pipeline(load,
                                              "  - {name: a, uses: limit, input: [load, b], with: {rows: 1}}",
                                              "  - {name: b, uses: limit, input: a, with: {rows: 1}}",
                                              "  - {name: save, uses: write_jsonl, input: b, with: {path: out.jsonl}}"),
                 exit: [2], says: ["cycle"]),
            make(s, "a step that is its own input", yaml: pipeline(load, "  - {name: save, uses: write_jsonl, input: save, with: {path: out.jsonl}}"),
                 exit: [2], says: ["cannot take its own output as input"]),
            make(s, "an input that names no step", yaml: pipeline(load, "  - {name: save, uses: write_jsonl, input: lod, with: {path: out.jsonl}}"),
                 exit: [2], says: ["lod"]),
            make(s, "a step without input", yaml: pipeline(load, "  - {name: save, uses: write_jsonl, with: {path: out.jsonl}}"),
                 exit: [2]),
            make(s, "a generator with input", yaml: pipeline(load, "  - {name: more, uses: load_jsonl, input: load, with: {path: data.jsonl}}", save),
                 exit: [2]),
            make(s, "input: a number", yaml: pipeline(load, "  - {name: save, uses: write_jsonl, input: 42, with: {path: out.jsonl}}"),
                 exit: [2]),
            make(s, "input: an empty list", yaml: pipeline(load, "  - {name: save, uses: write_jsonl, input: [], with: {path: out.jsonl}}"),
                 exit: [2]),
            make(s, "an input listed twice", yaml: pipeline(load, "  - {name: save, uses: write_jsonl, input: [load, load], with: {path: out.jsonl}}"),
                 exit: [2], says: ["listed twice"]),
            make(s, "unknown step", yaml: pipeline("  - {name: load, uses: lod_jsonl, with: {path: data.jsonl}}", save),
                 exit: [2], says: ["unknown step \"lod_jsonl\"; did you mean \"load_jsonl\"?"]),
            make(s, "unknown reverse-DNS step id", yaml: pipeline("  - {name: load, uses: org.nowhere.load, with: {path: data.jsonl}}", save),
                 exit: [2]),
            make(s, "uses: empty", yaml: pipeline("  - {name: load, uses: '', with: {path: data.jsonl}}", save), exit: [2]),
            make(s, "uses: a list", yaml: pipeline("  - {name: load, uses: [load_jsonl], with: {path: data.jsonl}}", save), exit: [2]),
            make(s, "unknown LLM", yaml: pipeline(load, "  - {name: gen, uses: text_generation, llm: techer, input: load}", saveGen, llms: teacher),
                 exit: [2], says: ["techer"]),
            make(s, "an LLM step without llm:", yaml: pipeline(load, "  - {name: gen, uses: text_generation, input: load}", saveGen, llms: teacher),
                 exit: [2]),
            make(s, "llm: on a step that calls none",
                 yaml: pipeline(load, "  - {name: save, uses: write_jsonl, llm: teacher, input: load, with: {path: out.jsonl}}", llms: teacher),
                 exit: [2]),
            make(s, "llms: a list", yaml: pipeline(load, llmStep, saveGen, llms: "llms: [teacher]\n"), exit: [2]),
            make(s, "an LLM without a model", yaml: llm("api_key_env: \(secretVariable)"), exit: [2]),
            make(s, "an LLM that is a word", yaml: pipeline(load, llmStep, saveGen, llms: "llms:\n  teacher: gpt\n"), exit: [2]),
            make(s, "api_key_env and api_key_file", yaml: llm("model: m, api_key_env: \(secretVariable), api_key_file: key.txt"),
                 exit: [2], says: ["not both"]),
            make(s, "the key itself in api_key_env", yaml: llm("model: m, api_key_env: \(canary)"), exit: [2],
                 says: ["api_key_env: must be the name of an environment variable"]),
            make(s, "api_key_env starting with a digit", yaml: llm("model: m, api_key_env: 1KEY"), exit: [2]),
            make(s, "the key itself in api_key_file", yaml: llm("model: m, api_key_file: \(canary)"), exit: [0, 2]),
            make(s, "the key written in the file", yaml: llm("model: m, api_key: \(canary)"), exit: [2],
                 says: ["unknown key \"api_key\""]),
            make(s, "base_url not http", yaml: llm("model: m, base_url: ftp://example.com"), exit: [2]),
            make(s, "base_url from the secret variable", yaml: llm("model: m, base_url: \"${\(secretVariable)}\""), exit: [2],
                 says: ["${\(secretVariable)}"]),
            make(s, "max_concurrency 0", yaml: llm("model: m, max_concurrency: 0"), exit: [2]),
            make(s, "timeout_seconds negative", yaml: llm("model: m, timeout_seconds: -1"), exit: [2]),
            make(s, "cache: sometimes", yaml: llm("model: m, cache: sometimes"), exit: [2]),
            make(s, "batch_size a word", yaml: withLoad("batch_size: ten"), exit: [2]),
            make(s, "batch_size a fraction", yaml: withLoad("batch_size: 1.5"), exit: [2]),
            make(s, "batch_size 0", yaml: withLoad("batch_size: 0"), exit: [2]),
            make(s, "step batch_size negative", yaml: pipeline("  - {name: load, uses: load_jsonl, batch_size: -5, with: {path: data.jsonl}}", save),
                 exit: [2]),
            make(s, "batch_size with 30 digits", yaml: withLoad("batch_size: 123456789012345678901234567890"), exit: [2]),
            make(s, "batch_size 1e400", yaml: withLoad("batch_size: 1e400"), exit: [2]),
            make(s, "batch_size .nan", yaml: withLoad("batch_size: .nan"), exit: [2]),
            make(s, "on_error not in the enum", yaml: withLoad("on_error: explode"), exit: [2]),
            make(s, "temperature out of range", yaml: pipeline(load, "  - {name: gen, uses: text_generation, llm: teacher, input: load, with: {temperature: 5}}", saveGen, llms: teacher),
                 exit: [2], says: ["must be ≤ 2, got 5"]),
            make(s, "structured_generation without json_schema",
                 yaml: pipeline(load, "  - {name: gen, uses: structured_generation, llm: teacher, input: load}", saveGen, llms: teacher),
                 exit: [2], says: ["missing required parameter \"json_schema\""]),
            make(s, "json_schema with a misspelt type",
                 yaml: pipeline(load, "  - {name: gen, uses: structured_generation, llm: teacher, input: load, with: {json_schema: {type: object, properties: {rating: {type: integr}}}}}", saveGen, llms: teacher),
                 exit: [2], says: ["json_schema.properties.rating.type: \"integr\" is not a type"]),
            make(s, "json_schema with $ref",
                 yaml: pipeline(load, "  - {name: gen, uses: structured_generation, llm: teacher, input: load, with: {json_schema: {type: object, properties: {a: {$ref: '#/x'}}}}}", saveGen, llms: teacher),
                 exit: [2], says: ["is not supported"]),
            make(s, "json_schema a list",
                 yaml: pipeline(load, "  - {name: gen, uses: structured_generation, llm: teacher, input: load, with: {json_schema: [rating]}}", saveGen, llms: teacher),
                 exit: [2], says: ["json_schema: must be a mapping"]),
            make(s, "structured_generation dialect unknown",
                 yaml: pipeline(load, "  - {name: gen, uses: structured_generation, llm: teacher, input: load, with: {dialect: vllm, json_schema: {type: object, properties: {a: {type: string}}}}}", saveGen, llms: teacher),
                 exit: [2], says: ["dialect: must be one of"]),
            make(s, "a required parameter missing", yaml: pipeline("  - {name: load, uses: load_jsonl}", save), exit: [2],
                 says: ["path"]),
            make(s, "an unknown parameter", yaml: withLoad("colour: red"), exit: [2], says: ["unknown parameter \"colour\""]),
            make(s, "with: a list", yaml: pipeline("  - {name: load, uses: load_jsonl, with: [data.jsonl]}", save), exit: [2]),
            make(s, "with: a word", yaml: pipeline("  - {name: load, uses: load_jsonl, with: data.jsonl}", save), exit: [2]),
            make(s, "an unset variable", yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: \"${PIPELINE_TEST_UNSET}\"}}", save),
                 exit: [2], says: ["PIPELINE_TEST_UNSET"]),
            make(s, "an unset variable with a default", yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: \"${PIPELINE_TEST_UNSET:-data.jsonl}\"}}", save),
                 exit: [0]),
            make(s, "a literal $${", yaml: "name: p\ndescription: costs $${HOME}\nsteps:\n" + load + "\n" + save + "\n", exit: [0]),
            make(s, "an unterminated ${", yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: \"${HOME\"}}", save), exit: [2]),
            make(s, "the secret as batch_size", yaml: withLoad("batch_size: \"${\(secretVariable)}\""), exit: [2]),
            make(s, "the secret as the name", yaml: "name: \"${\(secretVariable)}\"\nsteps:\n" + load + "\n" + save + "\n", exit: [0]),
            make(s, "the secret as uses", yaml: pipeline("  - {name: load, uses: \"${\(secretVariable)}\", with: {path: data.jsonl}}", save),
                 exit: [2]),
            make(s, "the secret as an input", yaml: pipeline(load, "  - {name: save, uses: write_jsonl, input: \"${\(secretVariable)}\", with: {path: out.jsonl}}"),
                 exit: [2]),
            make(s, "the secret as an enum value", yaml: withLoad("on_error: \"${\(secretVariable)}\""), exit: [2]),
            make(s, "a 100 kB --param", flags: ["--param", "save.colour=" + String(repeating: "x", count: 100_000)], exit: [2],
                 says: ["(100012 bytes)"], positioned: false),
            make(s, "--param without =", flags: ["--param", "save.path"], exit: [2], says: ["expected step.key=value"], positioned: false),
            make(s, "--param without a dot", flags: ["--param", "path=x.jsonl"], exit: [2],
                 says: ["with the step's name before the dot"], positioned: false),
            make(s, "--param with nothing after the dot", flags: ["--param", "save.=x.jsonl"], exit: [2],
                 says: ["with the parameter's name after the dot"], positioned: false),
            make(s, "--param for an unknown step", flags: ["--param", "nosuch.path=x.jsonl"], exit: [2],
                 says: ["no step named \"nosuch\""], positioned: false),
            make(s, "--param for an unknown key", flags: ["--param", "load.nokey=1"], exit: [2],
                 says: ["unknown parameter \"nokey\""], positioned: false),
            make(s, "--param with broken YAML", flags: ["--param", "load.batch_size=[1"], exit: [2], positioned: false),
            make(s, "--param of the wrong type", flags: ["--param", "load.batch_size=many"], exit: [2], positioned: false),
            make(s, "--param empty", flags: ["--param", ""], exit: [2], positioned: false),
            make(s, "a name with spaces", yaml: "name: my pipeline\nsteps:\n" + load + "\n" + save + "\n", exit: [2]),
            make(s, "a step name with a slash", yaml: pipeline("  - {name: a/b, uses: load_jsonl, with: {path: data.jsonl}}",
                                                               "  - {name: save, uses: write_jsonl, input: a/b, with: {path: out.jsonl}}"),
                 exit: [2]),
            make(s, "a 10000-character step name", yaml: pipeline("  - {name: \(String(repeating: "s", count: 10_000)), uses: load_jsonl, with: {path: data.jsonl}}"),
                 exit: [0, 2]),
            make(s, "description a mapping", yaml: "name: p\ndescription: {a: 1}\nsteps:\n" + load + "\n" + save + "\n", exit: [2]),
            make(s, "load_inline rows a word", yaml: pipeline("  - {name: load, uses: load_inline, with: {rows: many}}", save), exit: [2]),
            make(s, "load_inline rows of words", yaml: pipeline("  - {name: load, uses: load_inline, with: {rows: [a, b]}}", save),
                 exit: [2]),
            make(s, "limit count negative", yaml: pipeline(load, "  - {name: cut, uses: limit, input: load, with: {rows: -1}}",
                                                             "  - {name: save, uses: write_jsonl, input: cut, with: {path: out.jsonl}}"),
                 exit: [2]),
            make(s, "sample fraction 2", yaml: pipeline(load, "  - {name: cut, uses: sample, input: load, with: {fraction: 2}}",
                                                          "  - {name: save, uses: write_jsonl, input: cut, with: {path: out.jsonl}}"),
                 exit: [2]),
        ]
    }()

    // MARK: Bad data

    static let dataCases: [BadInput] = {
        let d = Category.data
        func jsonl(_ name: String, _ data: [UInt8], exit: Set<Int32>, says: [String] = [], with: String = "",
                   produces: [String: String] = [:]) -> BadInput {
            make(d, name, yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: data.jsonl\(with)}}", save),
                 files: ["data.jsonl": data], run: true, exit: exit, says: says, absent: exit == [1] ? ["run/out.jsonl"] : [],
                 produces: produces)
        }
        func csv(_ name: String, _ data: [UInt8], exit: Set<Int32>, says: [String] = [], with: String = "",
                 produces: [String: String] = [:]) -> BadInput {
            make(d, name, yaml: pipeline("  - {name: load, uses: load_csv, with: {path: data.csv\(with)}}", save),
                 files: ["data.csv": data], run: true, exit: exit, says: says, absent: exit == [1] ? ["run/out.jsonl"] : [],
                 produces: produces)
        }
        func embeddings(_ name: String, _ matrix: [UInt8]?, exit: Set<Int32>, says: [String] = [], with: String = "") -> BadInput {
            make(d, name, yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: data.jsonl, embeddings: vectors.npy\(with)}}", save),
                 files: matrix.map { ["vectors.npy": $0] } ?? [:], run: true, exit: exit, says: says,
                 absent: exit == [1] ? ["run/out.jsonl"] : [])
        }
        let big = "123456789012345678901234567890"
        return [
            jsonl("JSONL: a broken line", bytes("{\"a\": 1}\n{\"a\": broken}\n{\"a\": 3}\n"), exit: [1], says: ["data.jsonl:2"]),
            jsonl("JSONL: a truncated last line", bytes("{\"a\": 1}\n{\"a\": 2}\n{\"a\": "), exit: [1], says: ["data.jsonl:3"]),
            jsonl("JSONL: an array line", bytes("{\"a\": 1}\n[1, 2]\n"), exit: [1], says: ["not a JSON object"]),
            jsonl("JSONL: a number line", bytes("{\"a\": 1}\n42\n"), exit: [1], says: ["data.jsonl:2"]),
            jsonl("JSONL: a string line", bytes("\"text\"\n"), exit: [1], says: ["data.jsonl:1"]),
            jsonl("JSONL: a null line", bytes("null\n"), exit: [1], says: ["data.jsonl:1"]),
            jsonl("JSONL: a YAML line", bytes("a: 1\n"), exit: [1], says: ["data.jsonl:1"]),
            jsonl("JSONL: invalid UTF-8", bytes("{\"a\": \"caf") + [0xE9] + bytes("\"}\n"), exit: [1], says: ["data.jsonl:1"]),
            jsonl("JSONL: a NUL byte", bytes("{\"a\": \"x\0y\"}\n"), exit: [1], says: ["data.jsonl:1"]),
            jsonl("JSONL: a 30-digit integer", bytes("{\"id\": \(big)}\n"), exit: [1],
                  says: ["cannot be read as a number without changing it"]),
            jsonl("JSONL: a 30-digit integer read as text", bytes("{\"id\": \(big)}\n"), exit: [0], with: ", inexact_numbers: text",
                  produces: ["run/out.jsonl": big]),
            jsonl("JSONL: 1e400", bytes("{\"x\": 1e400}\n"), exit: [1], says: ["1e400"]),
            jsonl("JSONL: 1e-400", bytes("{\"x\": 1e-400}\n"), exit: [1]),
            jsonl("JSONL: NaN", bytes("{\"x\": NaN}\n"), exit: [1]),
            jsonl("JSONL: nesting 100000 deep", bytes("{\"x\": " + String(repeating: "[", count: 100_000)
                    + String(repeating: "]", count: 100_000) + "}\n"), exit: [1], says: ["nested deeper than"]),
            jsonl("JSONL: an empty file", [], exit: [0]),
            jsonl("JSONL: only blank lines", bytes("\n\n  \n"), exit: [0]),
            jsonl("JSONL: a line over max_line_bytes", bytes("{\"x\": \"" + String(repeating: "y", count: 1000) + "\"}\n"),
                  exit: [1], with: ", max_line_bytes: 100"),
            jsonl("JSONL: bad lines skipped", bytes("{\"a\": 1}\nbroken\n{\"a\": 3}\n"), exit: [0], with: ", on_error: skip"),
            jsonl("JSONL: BOM and CRLF", [0xEF, 0xBB, 0xBF] + bytes("{\"a\": 1}\r\n{\"a\": 2}\r\n"), exit: [0]),
            jsonl("JSONL: duplicate keys", bytes("{\"a\": 1, \"a\": 2}\n"), exit: [0], produces: ["run/out.jsonl": "{\"a\":2}"]),
            jsonl("JSONL: a gzip file", [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x0A], exit: [1]),
            jsonl("JSONL: a 10 MiB line", bytes("{\"x\": \"" + String(repeating: "y", count: 10 << 20) + "\"}\n"), exit: [0]),
            make(d, "JSONL: a directory as path", run: true, exit: [1], says: ["is a directory"],
                 setup: { directory in
                     try FileManager.default.removeItem(atPath: directory + "/data.jsonl")
                     try FileManager.default.createDirectory(atPath: directory + "/data.jsonl", withIntermediateDirectories: false)
                 }),
            make(d, "JSONL: a missing file", data: nil, run: true, exit: [2], says: ["No such file or directory"], absent: ["run/out.jsonl"]),
            make(d, "JSONL: a named pipe nobody writes", data: nil, run: true, exit: [1], says: ["named pipe"], absent: ["run/out.jsonl"],
                 setup: fifo("data.jsonl")),
            make(d, "JSONL: a symlink loop", data: nil, run: true, exit: [2], says: ["symbolic links"], absent: ["run/out.jsonl"],
                 setup: { directory in
                     try FileManager.default.createSymbolicLink(atPath: directory + "/data.jsonl", withDestinationPath: "x.jsonl")
                     try FileManager.default.createSymbolicLink(atPath: directory + "/x.jsonl", withDestinationPath: "data.jsonl")
                 }),
            make(d, "JSONL: a failed run keeps the earlier output", files: ["data.jsonl": bytes("{\"a\": 1}\n{\"a\": \n"),
                                                                            "run/out.jsonl": bytes("earlier output\n")],
                 run: true, exit: [1], says: ["data.jsonl:2"]),
            make(d, "JSONL: the failure in JSON logs", files: ["data.jsonl": bytes("{\"a\": 1}\n{\"a\": \n")],
                 arguments: ["run", "p.yaml", "--run-dir", "run"], exit: [1], says: ["data.jsonl:2"]),
            csv("CSV: ragged rows", bytes("a,b\n1,2\n3\n"), exit: [1], says: ["data.csv:3"]),
            csv("CSV: an unterminated quote", bytes("a,b\n1,\"two\n3,4\n"), exit: [1], says: ["data.csv"]),
            csv("CSV: text after a closing quote", bytes("a,b\n1,\"two\"x\n"), exit: [1], says: ["data.csv:2"]),
            make(d, "CSV: a two-character delimiter", yaml: pipeline("  - {name: load, uses: load_csv, with: {path: data.csv, delimiter: ',,'}}", save),
                 files: ["data.csv": bytes("a,b\n1,2\n")], run: true, exit: [2], positioned: true),
            csv("CSV: a non-ASCII delimiter", bytes("aéb\n1é2\n"), exit: [1, 2], with: ", delimiter: é"),
            csv("CSV: the quote as delimiter", bytes("a\"b\n1\"2\n"), exit: [1, 2], with: ", delimiter: '\"'"),
            csv("CSV: a newline as delimiter", bytes("a\nb\n"), exit: [1, 2], with: ", delimiter: \"\\n\""),
            csv("CSV: no header and no columns", bytes("1,2\n"), exit: [1, 2], with: ", header: false"),
            csv("CSV: columns of the wrong count", bytes("a,b\n1,2\n"), exit: [1, 2], with: ", columns: [x]"),
            csv("CSV: an empty file", [], exit: [0, 1]),
            csv("CSV: duplicate header names", bytes("a,a\n1,2\n"), exit: [0, 1]),
            csv("CSV: invalid UTF-8", bytes("a,b\n1,caf") + [0xE9] + bytes("\n"), exit: [1], says: ["data.csv:2"]),
            csv("CSV: a 30-digit number kept as text", bytes("id,x\n\(big),1\n"), exit: [0], produces: ["run/out.jsonl": big]),
            csv("CSV: a gzip file", [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x0A], exit: [1]),
            csv("CSV: a record over max_record_bytes", bytes("a\n" + String(repeating: "y", count: 1000) + "\n"), exit: [1],
                with: ", max_record_bytes: 100"),
            embeddings("NPY: truncated", Array(npy(descr: "<f4", shape: "(2, 3)", payload: 24).prefix(100)), exit: [1]),
            embeddings("NPY: float64", npy(descr: "<f8", shape: "(2, 3)", payload: 48), exit: [1]),
            embeddings("NPY: fewer rows than lines", npy(descr: "<f4", shape: "(1, 3)", payload: 12), exit: [1]),
            embeddings("NPY: one dimension", npy(descr: "<f4", shape: "(6,)", payload: 24), exit: [1]),
            embeddings("NPY: a text file", bytes("not numpy\n"), exit: [1]),
            embeddings("NPY: missing", nil, exit: [2]),
            embeddings("NPY: a shape that overflows", npy(descr: "<f4", shape: "(9223372036854775807, 9223372036854775807)", payload: 0),
                       exit: [1]),
            embeddings("NPY: a 64 KiB header of the wrong dtype",
                       npy(descr: "<f8" + String(repeating: " ", count: 65_000), shape: "(2, 3)", payload: 48), exit: [1]),
            embeddings("NPY: a 64 KiB shape", npy(descr: "<f4", shape: "(" + String(repeating: "1, ", count: 20_000) + ")", payload: 0),
                       exit: [1]),
            make(d, "NPY: a named pipe", yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: data.jsonl, embeddings: vectors.npy}}", save),
                 run: true, exit: [1], absent: ["run/out.jsonl"], setup: fifo("vectors.npy")),
            make(d, "CSV: a named pipe", yaml: pipeline("  - {name: load, uses: load_csv, with: {path: data.csv}}", save),
                 run: true, exit: [1], says: ["named pipe"], absent: ["run/out.jsonl"], setup: fifo("data.csv")),
            embeddings("NPY: with on_error skip", npy(descr: "<f4", shape: "(2, 3)", payload: 24), exit: [1, 2],
                       with: ", on_error: skip"),
            make(d, "expand_columns: lists of unequal length",
                 yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: data.jsonl}}",
                                "  - {name: expand, uses: expand_columns, input: load, with: {columns: [a, b]}}",
                                "  - {name: save, uses: write_jsonl, input: expand, with: {path: out.jsonl}}"),
                 data: "{\"a\": [1, 2], \"b\": [1]}\n{\"a\": [1], \"b\": [2]}\n", run: true, exit: [3]),
            make(d, "LLM: connection refused",
                 yaml: pipeline(load, "  - {name: gen, uses: text_generation, llm: teacher, input: load, with: {template: '{text}'}}",
                                "  - {name: save, uses: write_jsonl, input: gen, with: {path: out.jsonl}}", llms: teacher),
                 run: true, exit: [3]),
            make(d, "LLM: the secret in base_url",
                 yaml: pipeline(load, "  - {name: gen, uses: text_generation, llm: teacher, input: load, with: {template: '{text}'}}",
                                "  - {name: save, uses: write_jsonl, input: gen, with: {path: out.jsonl}}",
                                llms: "llms:\n  teacher: {base_url: \"http://user:${\(secretVariable)}@127.0.0.1:9/v1\", model: m, retries: 0, timeout_seconds: 5}\n"),
                 run: true, exit: [3]),
            make(d, "LLM: api_key_env not set",
                 yaml: pipeline(load, "  - {name: gen, uses: text_generation, llm: teacher, input: load, with: {template: '{text}'}}",
                                "  - {name: save, uses: write_jsonl, input: gen, with: {path: out.jsonl}}",
                                llms: "llms:\n  teacher: {base_url: \"http://127.0.0.1:9/v1\", model: m, api_key_env: PIPELINE_TEST_UNSET}\n"),
                 run: true, exit: [1, 2], says: ["PIPELINE_TEST_UNSET"], absent: ["run/out.jsonl"]),
            make(d, "LLM: api_key_file missing",
                 yaml: pipeline(load, "  - {name: gen, uses: text_generation, llm: teacher, input: load, with: {template: '{text}'}}",
                                "  - {name: save, uses: write_jsonl, input: gen, with: {path: out.jsonl}}",
                                llms: "llms:\n  teacher: {base_url: \"http://127.0.0.1:9/v1\", model: m, api_key_file: key.txt}\n"),
                 run: true, exit: [1, 2], says: ["key.txt"], absent: ["run/out.jsonl"]),
            make(d, "LLM: api_key_file a directory",
                 yaml: pipeline(load, "  - {name: gen, uses: text_generation, llm: teacher, input: load, with: {template: '{text}'}}",
                                "  - {name: save, uses: write_jsonl, input: gen, with: {path: out.jsonl}}",
                                llms: "llms:\n  teacher: {base_url: \"http://127.0.0.1:9/v1\", model: m, api_key_file: keys}\n"),
                 run: true, exit: [1, 2], absent: ["run/out.jsonl"],
                 setup: { try FileManager.default.createDirectory(atPath: $0 + "/keys", withIntermediateDirectories: false) }),
        ]
    }()

    // MARK: Wrong flags

    static let flagCases: [BadInput] = {
        let f = Category.flags
        let llmPipeline = pipeline(load, "  - {name: gen, uses: text_generation, llm: teacher, input: load, with: {template: '{text}'}}",
                                   "  - {name: save, uses: write_jsonl, input: gen, with: {path: out.jsonl}}", llms: teacher)
        return [
            make(f, "an unknown flag", flags: ["--bogus"], exit: [2], says: ["Unknown option '--bogus'"]),
            make(f, "an unknown flag on run", run: true, flags: ["--colour"], exit: [2]),
            make(f, "an unknown subcommand", arguments: ["frobnicate", "p.yaml"], exit: [2]),
            make(f, "no arguments", arguments: [], exit: [0]),
            make(f, "validate without a file", arguments: ["validate"], exit: [2]),
            make(f, "two files", arguments: ["validate", "p.yaml", "q.yaml"], exit: [2]),
            make(f, "an empty file name", arguments: ["validate", ""], exit: [2]),
            make(f, "--run-dir without a value", arguments: ["run", "p.yaml", "--run-dir"], exit: [2]),
            make(f, "--run-dir is a file", files: ["taken": bytes("x")], arguments: ["run", "p.yaml", "--run-dir", "taken", "--log-format", "human"],
                 exit: [2], says: ["--run-dir taken is a file, not a directory"]),
            make(f, "--run-dir under a file", files: ["taken": bytes("x")],
                 arguments: ["run", "p.yaml", "--run-dir", "taken/run", "--log-format", "human"], exit: [2], says: ["is a file"]),
            make(f, "validate --run-dir is a file", files: ["taken": bytes("x")], flags: ["--run-dir", "taken"], exit: [0, 2]),
            make(f, "--plugin-path a text file", files: ["notes.txt": bytes("hello\n")], flags: ["--plugin-path", "notes.txt"],
                 exit: [0], says: ["not a loadable shared library"]),
            make(f, "--plugin-path a text file named .so", files: ["libfake.so": bytes("hello\n")], flags: ["--plugin-path", "libfake.so"],
                 exit: [0], says: ["not a loadable shared library"]),
            make(f, "--plugin-path a missing file", flags: ["--plugin-path", "nowhere/libx.so"], exit: [2], says: ["nowhere/libx.so"]),
            make(f, "--plugin-path a directory with a junk .so", files: ["plugins/libjunk.so": [0x7F, 0x45, 0x4C, 0x46, 0, 0, 0, 0]],
                 flags: ["--plugin-path", "plugins"], exit: [0], says: ["libjunk.so"]),
            make(f, "--plugin-path the pipeline file", flags: ["--plugin-path", "p.yaml"], exit: [0], says: ["p.yaml"]),
            make(f, "--plugin-path a directory", run: true, flags: ["--plugin-path", "empty-dir"], exit: [0],
                 setup: { try FileManager.default.createDirectory(atPath: $0 + "/empty-dir", withIntermediateDirectories: false) }),
            make(f, "--queue-capacity 0", run: true, flags: ["--queue-capacity", "0"], exit: [2], says: ["at least 1"]),
            make(f, "--queue-capacity negative", run: true, flags: ["--queue-capacity", "-1"], exit: [2], says: ["at least 1"]),
            make(f, "--queue-capacity a word", run: true, flags: ["--queue-capacity", "many"], exit: [2]),
            make(f, "--queue-capacity 20 digits", run: true, flags: ["--queue-capacity", "99999999999999999999"], exit: [2]),
            make(f, "--log-format xml", run: true, flags: ["--log-format", "xml"], exit: [2]),
            make(f, "--summary in a missing directory", run: true, flags: ["--summary", "nowhere/summary.json"], exit: [2]),
            make(f, "--summary a directory", run: true, flags: ["--summary", "reports"], exit: [2],
                 setup: { try FileManager.default.createDirectory(atPath: $0 + "/reports", withIntermediateDirectories: false) }),
            make(f, "--summary a named pipe", run: true, flags: ["--summary", "pipe"], exit: [2], says: ["not a regular file"],
                 setup: fifo("pipe")),
            make(f, "--summary a symlink to /dev/null", run: true, flags: ["--summary", "null.json"], exit: [2],
                 says: ["not a regular file"], setup: symlink("null.json", to: "/dev/null")),
            make(f, "--summary the input file", run: true, flags: ["--summary", "data.jsonl"], exit: [2], says: ["--summary"]),
            make(f, "--summary the pipeline file", run: true, flags: ["--summary", "p.yaml"], exit: [2], says: ["--summary"]),
            make(f, "--summary the state database", run: true, flags: ["--summary", "run/state.db"], exit: [2], says: ["state.db"]),
            make(f, "--summary an output", run: true, flags: ["--summary", "run/out.jsonl"], exit: [2], says: ["out.jsonl"]),
            make(f, "--summary of an invalid pipeline is the pipeline file", yaml: "name: p\nsteps: [\n", run: true,
                 flags: ["--summary", "p.yaml"], exit: [2], says: ["--summary"]),
            make(f, "--summary-json of an invalid pipeline", yaml: "name: p\nsteps: [\n", run: true, flags: ["--summary-json"],
                 exit: [2], says: ["\"exit_code\":2"], positioned: true, stdoutOnFailure: true),
            make(f, "JSON logs of an invalid pipeline", yaml: "name: p\nsteps:\n\t- x\n", arguments: ["run", "p.yaml", "--run-dir", "run"],
                 exit: [2], says: ["\"level\":\"error\"", "a TAB character"], positioned: true),
            make(f, "--llm-cache with --no-llm-cache", run: true, flags: ["--llm-cache", "cache.db", "--no-llm-cache"], exit: [2]),
            make(f, "--llm-cache a directory", yaml: llmPipeline, run: true, flags: ["--llm-cache", "cachedir"], exit: [1, 2, 3],
                 setup: { try FileManager.default.createDirectory(atPath: $0 + "/cachedir", withIntermediateDirectories: false) }),
            make(f, "--llm-cache a text file", yaml: llmPipeline, files: ["cache.txt": bytes("not sqlite\n")], run: true,
                 flags: ["--llm-cache", "cache.txt"], exit: [1, 2, 3]),
            make(f, "--llm-cache the input file", yaml: llmPipeline, run: true, flags: ["--llm-cache", "data.jsonl"], exit: [1, 2, 3]),
            make(f, "--run-dir given twice", run: true, flags: ["--run-dir", "other"], exit: [0]),
            make(f, "--wait-lock on validate", flags: ["--wait-lock"], exit: [2]),
            make(f, "--param on runs", arguments: ["runs", "--param", "a.b=c"], exit: [2]),
            make(f, "plugins inspect an unknown step", arguments: ["plugins", "inspect", "nosuch"], exit: [2], says: ["nosuch"]),
            make(f, "runs on a missing directory", arguments: ["runs", "nowhere"], exit: [2], says: ["nowhere"]),
            make(f, "runs on a file", arguments: ["runs", "data.jsonl"], exit: [2]),
            make(f, "runs on run directories of garbage",
                 files: ["runs/x/summary.json": bytes("{not json"), "runs/x/state.db": bytes("not sqlite"),
                         "runs/y/summary.json": [0xFF, 0x00, 0x1F]],
                 arguments: ["runs", "runs"], exit: [0]),
            make(f, "runs --json on garbage", files: ["runs/x/summary.json": bytes("[1, 2]")], arguments: ["runs", "runs", "--json"],
                 exit: [0]),
        ]
    }()

    // MARK: Odd files

    static let fileCases: [BadInput] = {
        let o = Category.files
        func writing(_ path: String) -> String {
            pipeline(load, "  - {name: save, uses: write_jsonl, input: load, with: {path: \(path)}}")
        }
        return [
            make(o, "output is the input", yaml: writing("../data.jsonl"), run: true, exit: [2],
                 says: ["the run would replace its own input"], positioned: true),
            make(o, "output is the input through a symlink", yaml: writing("../alias.jsonl"), run: true, exit: [2],
                 says: ["the run would replace its own input"], positioned: true, setup: symlink("alias.jsonl", to: "data.jsonl")),
            make(o, "output is the input through a hard link", yaml: writing("../hard.jsonl"), run: true, exit: [2],
                 says: ["the run would replace its own input"], positioned: true,
                 setup: { directory in
                     guard link(directory + "/data.jsonl", directory + "/hard.jsonl") == 0 else { throw FixtureError(message: "link") }
                 }),
            make(o, "output is the input through a symlinked directory", yaml: writing("../via/data.jsonl"), run: true, exit: [2],
                 says: ["the run would replace its own input"], positioned: true, setup: symlink("via", to: ".")),
            make(o, "output is the input by --param", run: true, flags: ["--param", "save.path=../data.jsonl"], exit: [2],
                 says: ["set by --param save.path="]),
            make(o, "two writers to one path",
                 yaml: pipeline(load, save, "  - {name: again, uses: write_jsonl, input: load, with: {path: ./x/../out.jsonl}}"),
                 run: true, exit: [2], says: ["two writers cannot share a file"], positioned: true),
            make(o, "output to state.db", yaml: writing("state.db"), run: true, exit: [2], says: ["the run directory's state.db"],
                 positioned: true),
            make(o, "output to run.log", yaml: writing("run.log"), run: true, exit: [2], says: ["run.log"], positioned: true),
            make(o, "output to errors.jsonl", yaml: writing("errors.jsonl"), run: true, exit: [2], says: ["errors.jsonl"],
                 positioned: true),
            make(o, "output to the pipeline file", yaml: writing("../p.yaml"), run: true, exit: [2], says: ["the pipeline file"],
                 positioned: true),
            make(o, "output to the api_key_file",
                 yaml: pipeline(load, "  - {name: gen, uses: text_generation, llm: teacher, input: load}",
                                "  - {name: save, uses: write_jsonl, input: gen, with: {path: ../key.txt}}",
                                llms: "llms:\n  teacher: {base_url: \"http://127.0.0.1:9/v1\", model: m, api_key_file: key.txt}\n"),
                 files: ["key.txt": bytes(canary + "\n")], run: true, exit: [2], says: ["api_key_file"], positioned: true),
            make(o, "run directory is the data directory", yaml: writing("data.jsonl"),
                 arguments: ["run", "p.yaml", "--run-dir", ".", "--log-format", "human"], exit: [2],
                 says: ["the run would replace its own input"], positioned: true),
            make(o, "validate checks against --run-dir", yaml: writing("data.jsonl"), flags: ["--run-dir", "."], exit: [2],
                 says: ["the run would replace its own input"], positioned: true),
            make(o, "output into a read-only directory", yaml: writing("../readonly/out.jsonl"), run: true,
                 exit: getuid() == 0 ? [0] : [1], mayChange: ["work/readonly"],
                 setup: { directory in
                     try FileManager.default.createDirectory(atPath: directory + "/readonly", withIntermediateDirectories: false)
                     _ = chmod(directory + "/readonly", 0o555)
                 }),
            make(o, "output path is a directory", yaml: writing("outdir"), run: true, exit: [1], says: ["is a directory"],
                 setup: { try FileManager.default.createDirectory(atPath: $0 + "/run/outdir", withIntermediateDirectories: true) }),
            make(o, "output path ends with a slash", yaml: writing("out/"), run: true, exit: [1, 2], says: ["directory"]),
            make(o, "output path is .", yaml: writing("."), run: true, exit: [1, 2], says: ["directory"]),
            make(o, "output path is empty", yaml: writing("''"), run: true, exit: [2], says: ["cannot be empty"], positioned: true),
            make(o, "output below a file", yaml: writing("blocker/out.jsonl"), files: ["run/blocker": bytes("x")], run: true,
                 exit: [1, 2], says: ["blocker"]),
            make(o, "output path with a NUL", yaml: writing("\"out\\0.jsonl\""), run: true, exit: [2], says: ["NUL"],
                 positioned: true),
            make(o, "input path with a NUL", yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: \"data\\0.jsonl\"}}", save),
                 run: true, exit: [2], says: ["NUL"], positioned: true),
            make(o, "input name of 300 characters by --param", run: true,
                 flags: ["--param", "load.path=" + String(repeating: "i", count: 300)], exit: [2], says: ["255 bytes"]),
            make(o, "output name of 300 characters", yaml: writing(String(repeating: "n", count: 300) + ".jsonl"), run: true,
                 exit: [2], positioned: true),
            make(o, "output path of 6000 characters",
                 yaml: writing(Array(repeating: String(repeating: "d", count: 200), count: 30).joined(separator: "/") + "/o.jsonl"),
                 run: true, exit: [2], positioned: true),
            make(o, "output path is a named pipe", yaml: writing("../pipe"), run: true, exit: [1, 2], says: ["named pipe"],
                 setup: fifo("pipe")),
            make(o, "output path is a symlink to /dev/null", yaml: writing("../null.jsonl"), run: true, exit: [1, 2],
                 says: ["a symbolic link to a character device"], setup: symlink("null.jsonl", to: "/dev/null")),
            make(o, "a stale temporary file in the run directory", files: ["run/.out.jsonl.abc123.tmp": bytes("half\n")],
                 run: true, exit: [0]),
            make(o, "a pipeline file name with spaces and accents", yaml: nil,
                 files: ["my pipéline.yaml": bytes(good)], arguments: ["validate", "my pipéline.yaml"], exit: [0]),
            make(o, "input path is a symlink to a directory", data: nil, run: true, exit: [1], setup: symlink("data.jsonl", to: ".")),
            make(o, "input path is /dev/null", yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: /dev/null}}", save),
                 run: true, exit: [0, 1]),
            make(o, "input path is the run's own summary", yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: run/summary.json}}", save),
                 files: ["run/summary.json": bytes("{}\n")], run: true, exit: [2], says: ["the run rewrites it"], positioned: true),
            make(o, "input path is the run's own errors.jsonl", yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: errors.jsonl}}", save),
                 files: ["errors.jsonl": bytes(rows)], arguments: ["run", "p.yaml", "--run-dir", ".", "--log-format", "human"],
                 exit: [2], says: ["the run directory's errors.jsonl"], positioned: true),
            make(o, "input path is the output", yaml: pipeline("  - {name: load, uses: load_jsonl, with: {path: run/out.jsonl}}", save),
                 files: ["run/out.jsonl": bytes(rows)], run: true, exit: [2], says: ["the run would replace its own input"],
                 positioned: true),
        ]
    }()
}
