import Foundation
import PipelineJSON
import PipelineDefinition
import PipelineHost
import PipelineTemplate

/// Reads a pipeline file and checks it completely before anything runs:
/// YAML, the file's shape, `${ENV}`, `--param` overrides, every step's
/// plugin and parameters, the DAG, LLM names and column contracts. Every
/// problem found is reported at once, sorted by position.
public enum PipelineLoader {
    /// Loads and validates the pipeline in `file`.
    ///
    /// - Parameters:
    ///   - overrides: `--param` arguments, `step.key=value`.
    ///   - environment: for `${NAME}` in the file.
    ///   - runDirectory: where relative output paths go (`runs/<name>` if nil),
    ///     for the check that no output replaces an input or another output.
    ///   - requireInputFiles: an input path that names no file is an error
    ///     (`run` and `validate` ask for it; a static check of the text does not).
    public static func load(file: String, overrides: [String], environment: [String: String],
                            registry: PluginRegistry, runDirectory: String? = nil,
                            requireInputFiles: Bool = false) throws(PipelineDiagnostics) -> PipelinePlan {
        let bytes: [UInt8]
        switch readFile(file) {
        case .success(let contents): bytes = contents
        case .failure(let problem): throw PipelineDiagnostics([Diagnostic("cannot read \(file): \(problem.reason)", at: nil)])
        }
        return try load(bytes: bytes, file: file, overrides: overrides, environment: environment, registry: registry,
                        runDirectory: runDirectory, requireInputFiles: requireInputFiles)
    }

    /// Validates pipeline text as if read from `file` (which names it in
    /// messages and anchors relative input paths); the file is not read.
    public static func load(bytes: [UInt8], file: String, overrides: [String], environment: [String: String],
                            registry: PluginRegistry, runDirectory: String? = nil,
                            currentDirectory: String = FileManager.default.currentDirectoryPath,
                            requireInputFiles: Bool = false)
        throws(PipelineDiagnostics) -> PipelinePlan {
        var diagnostics: [Diagnostic] = []
        var parsed: [ParamOverride] = []
        for argument in overrides {
            do { parsed.append(try ParamOverride.parse(argument)) } catch { diagnostics.append(error) }
        }
        let (pipeline, fileDiagnostics) = PipelineFile.read(bytes, file: file, environment: environment, overrides: parsed) { uses in
            (try? registry.step(uses))?.parameterSchema["properties"]?.objectValue.map { Array($0.keys) }
        }
        diagnostics += fileDiagnostics
        guard let pipeline else { throw PipelineDiagnostics(redacted(sorted(diagnostics), bytes: bytes, environment: environment)) }

        let absoluteFile = Paths.absolute(file, base: currentDirectory, home: environment["HOME"])
        var checker = PipelineChecker(pipeline: pipeline, registry: registry,
                                      fileDirectory: Paths.directory(of: absoluteFile),
                                      currentDirectory: currentDirectory, home: environment["HOME"])
        checker.file = absoluteFile
        checker.source = bytes
        checker.requireInputFiles = requireInputFiles
        checker.runDirectory = Paths.absolute(runDirectory ?? "runs/\(pipeline.name ?? "")", base: currentDirectory,
                                              home: environment["HOME"])
        let plan = checker.check()
        diagnostics += checker.diagnostics
        guard diagnostics.isEmpty, let plan else {
            throw PipelineDiagnostics(redacted(sorted(diagnostics), bytes: bytes, environment: environment))
        }
        return plan
    }

    /// Messages never show a value from the environment (often a secret),
    /// wherever in the file it went (a key, a step name, `uses:`, `input:`,
    /// which are echoed as written): the value of every variable the file
    /// names shows as `${NAME}`. Values under 4 bytes are left alone.
    static func redacted(_ diagnostics: [Diagnostic], bytes: [UInt8], environment: [String: String]) -> [Diagnostic] {
        var names = Set<String>()
        var index = 0
        while index + 2 < bytes.count {
            defer { index += 1 }
            guard bytes[index] == UInt8(ascii: "$"), bytes[index + 1] == UInt8(ascii: "{") else { continue }
            let start = index + 2
            var end = start
            while end < bytes.count, bytes[end] == UInt8(ascii: "_") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[end])
                    || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[end]) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bytes[end]) {
                end += 1
            }
            if end > start { names.insert(String(decoding: bytes[start..<end], as: UTF8.self)) }
        }
        let secrets = names.compactMap { name in environment[name].map { (name, $0) } }
            .filter { $0.1.utf8.count >= 4 }
            .sorted { $0.1.utf8.count > $1.1.utf8.count }
        guard !secrets.isEmpty else { return diagnostics }
        return diagnostics.map { diagnostic in
            var diagnostic = diagnostic
            for (name, value) in secrets where diagnostic.message.contains(value) {
                diagnostic.message = diagnostic.message.replacingOccurrences(of: value, with: "${\(name)}")
            }
            return diagnostic
        }
    }

    /// Diagnostics without a position first (they concern flags or the
    /// whole file), then by file, line and column; duplicates dropped.
    static func sorted(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        var seen = Set<Diagnostic>()
        let unique = diagnostics.filter { seen.insert($0).inserted }
        return unique.enumerated().sorted { a, b in
            switch (a.element.location, b.element.location) {
            case (nil, nil): return a.offset < b.offset
            case (nil, _): return true
            case (_, nil): return false
            case (let x?, let y?):
                if x.file != y.file { return x.file < y.file }
                if (x.line, x.column) != (y.line, y.column) { return (x.line, x.column) < (y.line, y.column) }
                return a.offset < b.offset
            }
        }.map(\.element)
    }

    struct ReadProblem: Error { var reason: String }

    /// The whole file; the reason (strerror) when it cannot be read.
    /// Opened without blocking: a named pipe that nobody writes to would
    /// otherwise wait forever in open(2). (One with a writer, such as
    /// `<(cat p.yaml)`, is read to its end.)
    static func readFile(_ path: String) -> Result<[UInt8], ReadProblem> {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(ReadProblem(reason: String(cString: strerror(errno)))) }
        defer { close(descriptor) }
        var status = stat()
        let type = fstat(descriptor, &status) == 0 ? status.st_mode & S_IFMT : 0
        if type == S_IFDIR {
            return .failure(ReadProblem(reason: "is a directory"))
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        let result = readAll(descriptor)
        if type == S_IFIFO, case .success(let bytes) = result, bytes.isEmpty {
            return .failure(ReadProblem(reason: "is a named pipe (FIFO) that nothing writes to; give a file"))
        }
        return result
    }

    private static func readAll(_ descriptor: Int32) -> Result<[UInt8], ReadProblem> {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(ReadProblem(reason: String(cString: strerror(errno))))
            }
            if count == 0 { return .success(bytes) }
            bytes += chunk[0..<count]
            if bytes.count > 16 * 1024 * 1024 {
                return .failure(ReadProblem(reason: "larger than 16 MiB; is it a pipeline file?"))
            }
        }
    }
}

/// Lexical path handling (no file system access: input files may not exist yet).
enum Paths {
    /// `path` made absolute against `base`, `~/` expanded, `.` and `..` removed.
    static func absolute(_ path: String, base: String, home: String?) -> String {
        var path = path
        if path == "~" || path.hasPrefix("~/"), let home, !home.isEmpty { path = home + path.dropFirst() }
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        var parts: [Substring] = []
        for part in joined.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }
}

/// The checks that need plugins: steps, parameters, the DAG, LLMs, columns.
struct PipelineChecker {
    var pipeline: PipelineFile
    let registry: PluginRegistry
    /// The pipeline file's directory: relative input paths in the file are
    /// relative to it.
    let fileDirectory: String
    /// Relative input paths given with --param are relative to it.
    let currentDirectory: String
    /// Whether an input path must name an existing file.
    var requireInputFiles = false
    let home: String?
    /// The pipeline file and the run directory, absolute: for PathConflicts.
    var file = ""
    var runDirectory = ""
    /// The file's bytes: positions inside templates (TemplateCheck).
    var source: [UInt8] = []
    var diagnostics: [Diagnostic] = []

    var steps: [PipelineFile.Step] { pipeline.steps }

    mutating func error(_ message: String, at location: SourceLocation?) {
        diagnostics.append(Diagnostic(message, at: location))
    }

    mutating func check() -> PipelinePlan? {
        let indexByName = checkNames()
        var descriptors: [StepDescriptor?] = []
        for step in steps { descriptors.append(descriptor(for: step)) }
        var parameters: [[String: JSONValue]] = []
        var batchSizes: [Int] = []
        for (index, step) in steps.enumerated() {
            let (values, batchSize) = checkParameters(step, descriptors[index])
            parameters.append(values)
            batchSizes.append(batchSize)
        }
        checkSchemaParameters(descriptors: descriptors, parameters: parameters)
        let llms = checkLLMs()
        let credentials = checkCredentials()
        let (parents, incomplete) = checkReferences(indexByName: indexByName, descriptors: descriptors,
                                                    llmNames: llms.map { $0.name })
        checkCredentialReferences(descriptors: descriptors, names: credentials.map(\.name))
        let order = topologicalOrder(parents)
        checkColumns(order: order, parents: parents, incomplete: incomplete, descriptors: descriptors,
                     parameters: parameters)
        if diagnostics.isEmpty {
            checkPaths(descriptors: descriptors, parameters: parameters, llms: llms, credentials: credentials)
        }

        guard diagnostics.isEmpty, order.count == steps.count else { return nil }
        var planned: [PlannedStep] = []
        for index in order {
            let step = steps[index]
            guard let name = step.name, let descriptor = descriptors[index] else { return nil }
            planned.append(PlannedStep(name: name, descriptor: descriptor, parameters: parameters[index],
                                       inputs: step.inputs.map(\.name), batchSize: batchSizes[index],
                                       llm: step.llm?.name, location: step.location,
                                       environmentParameters: environmentParameters(step),
                                       credential: step.credential?.name))
        }
        return PipelinePlan(name: pipeline.name ?? "", file: pipeline.file, steps: planned,
                            llms: Dictionary(llms.map { ($0.name, $0.settings) }, uniquingKeysWith: { a, _ in a }),
                            credentials: Dictionary(credentials.map { ($0.name, $0.settings) },
                                                    uniquingKeysWith: { a, _ in a }))
    }

    /// The step's parameters (top-level keys of `with:`) whose value, or
    /// a part of it, came from a `${VARIABLE}`.
    func environmentParameters(_ step: PipelineFile.Step) -> Set<String> {
        let withPath = step.path.appending("with")
        var keys = Set<String>()
        for (path, names) in pipeline.sourceMap.variables where !names.isEmpty && path.isWithin(withPath) {
            if path.components.count > withPath.components.count,
               case .key(let key) = path.components[withPath.components.count] {
                keys.insert(key)
            }
        }
        return keys
    }

    // MARK: - Names and plugins

    /// Step index by name (the first step of a name); reports duplicates.
    mutating func checkNames() -> [String: Int] {
        var indexByName: [String: Int] = [:]
        for (index, step) in steps.enumerated() {
            guard let name = step.name else { continue }
            if let first = indexByName[name] {
                error("duplicate step name \"\(name)\" (first used at line \(steps[first].nameLocation?.line ?? steps[first].location.line))",
                      at: step.nameLocation)
            } else {
                indexByName[name] = index
            }
        }
        return indexByName
    }

    mutating func descriptor(for step: PipelineFile.Step) -> StepDescriptor? {
        guard let uses = step.uses else { return nil }
        do {
            return try registry.step(uses)
        } catch {
            let named = registry.steps.filter { $0.name == uses }
            if named.count > 1 {
                self.error("step name \"\(uses)\" is ambiguous: it could be " + named.map { "\"\($0.id)\"" }.joined(separator: " or ")
                           + "; write the id", at: step.usesLocation)
                return nil
            }
            var message = "unknown step \(Suggestion.quoted(uses))"
            if registry.steps.isEmpty {
                message += " (no plugins were found; see `pipeline plugins list` and --plugin-path)"
            } else {
                // The registry's own tolerance for step names.
                message += Suggestion.hint(for: uses, among: registry.steps.flatMap { [$0.name, $0.id] },
                                           limit: PluginRegistry.suggestionLimit(uses))
            }
            self.error(message, at: step.usesLocation)
            return nil
        }
    }

    // MARK: - Parameters

    /// The step's parameters validated against its schema with defaults
    /// filled in, and its batch size.
    mutating func checkParameters(_ step: PipelineFile.Step, _ descriptor: StepDescriptor?) -> ([String: JSONValue], Int) {
        let withPath = step.path.appending("with")
        var values = step.parameters
        var batchSize = step.batchSize ?? PipelineFile.defaultBatchSize
        guard let descriptor else { return (values, batchSize) }
        // A generator's batch_size: the step-level one, unless with: sets it.
        if descriptor.kind == .generator, descriptor.parameterSchema["properties"]?["batch_size"] != nil {
            let key = withPath.appending("batch_size")
            if values["batch_size"] == nil {
                values["batch_size"] = .number(Double(batchSize))
                let sizePath = step.path.appending("batch_size")
                pipeline.sourceMap.values[key] = pipeline.sourceMap.values[sizePath] ?? pipeline.sourceMap.values[step.path]
                pipeline.sourceMap.variables[key] = pipeline.sourceMap.variables[sizePath]
            }
        }
        // One rule for every relative input path, in the file or given with
        // --param: the pipeline file's directory, so a cron job reads the
        // same files whatever its working directory.
        let fileDirectory = fileDirectory, home = home
        var validator = SchemaValidator(sourceMap: pipeline.sourceMap, noun: "parameter", rootPath: withPath) { path, _ in
            Paths.absolute(path, base: fileDirectory, home: home)
        }
        // Written beside with: (reported): not "missing" as well.
        validator.reportedElsewhere = step.misplacedParameters
        values = validator.validate(.object(values), schema: descriptor.parameterSchema, path: withPath).objectValue ?? values
        if requireInputFiles, validator.diagnostics.isEmpty { checkInputFiles(values, schema: descriptor.parameterSchema, at: withPath) }
        diagnostics += validator.diagnostics
        if descriptor.kind == .generator, validator.diagnostics.isEmpty,
           let size = values["batch_size"]?.int64Value, size >= 1, size <= Int64(Int32.max) {
            batchSize = Int(size)
        }
        return (values, batchSize)
    }

    /// An input path that names no file is an error now, with the path it
    /// was resolved to, rather than when the step opens it mid-run.
    mutating func checkInputFiles(_ values: [String: JSONValue], schema: JSONValue, at withPath: JSONPath) {
        for (key, property) in (schema["properties"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key })
        where property["format"]?.stringValue == "input-path" {
            guard let path = values[key]?.stringValue, !path.isEmpty, access(path, F_OK) != 0 else { continue }
            let reason = String(cString: strerror(errno))
            let keyPath = withPath.appending(key)
            let written = pipeline.sourceMap.variables[keyPath] == nil
                ? "\(path): \(reason)" : "the file it names (from the environment): \(reason)"
            diagnostics.append(Diagnostic(
                "\(keyPath): \(written) (a relative input path is taken from the pipeline file's directory, \(fileDirectory), also with --param)",
                origin: pipeline.sourceMap.valueOrigin(keyPath)))
        }
    }

    /// Validated settings of each entry of `llms:`.
    mutating func checkLLMs() -> [(name: String, settings: JSONValue)] {
        var result: [(name: String, settings: JSONValue)] = []
        let fileDirectory = fileDirectory, home = home
        for llm in pipeline.llms {
            let path = JSONPath([.key("llms"), .key(llm.name)])
            var validator = SchemaValidator(sourceMap: pipeline.sourceMap, noun: "key", rootPath: path) { value, _ in
                Paths.absolute(value, base: fileDirectory, home: home)
            }
            let settings = validator.validate(llm.settings, schema: LLMSettings.schema, path: path)
            diagnostics += validator.diagnostics
            // Checked here, not by a schema pattern, whose message would
            // print the value: often the key itself, pasted in by mistake.
            if let variable = llm.settings["api_key_env"]?.stringValue, !variable.isEmpty,
               !LLMSettings.isVariableName(variable) {
                let keyPath = path.appending("api_key_env")
                diagnostics.append(Diagnostic(
                    "\(keyPath): must be the name of an environment variable (letters, digits and _), not the key "
                    + "itself; the value is not shown", origin: pipeline.sourceMap.valueOrigin(keyPath)))
            }
            if let concurrency = llm.settings["max_concurrency"], let problem = LLMSettings.concurrencyProblem(concurrency) {
                let keyPath = path.appending("max_concurrency")
                diagnostics.append(Diagnostic("\(keyPath): \(problem)", origin: pipeline.sourceMap.valueOrigin(keyPath)))
            }
            if llm.settings["api_key_env"] != nil, llm.settings["api_key_file"] != nil {
                error("\(path): give api_key_env or api_key_file, not both", at: llm.location)
            }
            if let price = llm.settings["price"]?.objectValue, price.isEmpty {
                diagnostics.append(Diagnostic("\(path.appending("price")): give prompt_per_million, completion_per_million or both (prices per million tokens)",
                                              origin: pipeline.sourceMap.valueOrigin(path.appending("price"))))
            }
            result.append((llm.name, checkServe(settings, path: path, location: llm.location)))
        }
        return result
    }

    /// `serve:` of an LLM: no base_url beside it (the host makes one),
    /// `preset:` or `command:` (with `{port}`), a model for the llama
    /// presets; a model path is taken from the pipeline file's directory.
    mutating func checkServe(_ settings: JSONValue, path: JSONPath, location: SourceLocation?) -> JSONValue {
        if settings["serve"] != nil, let batch = settings["batch"], batch != .bool(false) {
            error("\(path): serve: and batch: together: a server the run starts is gone before a provider batch could answer; remove one",
                  at: location)
        }
        guard var serve = settings["serve"]?.objectValue else { return settings }
        let servePath = path.appending("serve")
        let at = pipeline.sourceMap.valueOrigin(servePath)
        if settings["base_url"] != nil {
            diagnostics.append(Diagnostic("\(path): give base_url or serve:, not both (with serve: the host picks the URL)",
                                          origin: at))
        }
        let preset = serve["preset"]?.stringValue
        switch (preset != nil, serve["command"] != nil) {
        case (true, true):
            diagnostics.append(Diagnostic("\(servePath): give preset: or command:, not both", origin: at))
        case (false, false):
            diagnostics.append(Diagnostic(
                "\(servePath): say what to run: preset: (llama-server, llama-cpp-python, vllm) or command: [argv with {port}]",
                origin: at))
        default:
            break
        }
        if let command = serve["command"]?.arrayValue, !command.contains(where: { $0.stringValue?.contains("{port}") == true }) {
            diagnostics.append(Diagnostic("\(servePath).command: must contain {port} (where the server listens)",
                                          origin: pipeline.sourceMap.valueOrigin(servePath.appending("command"))))
        }
        if preset?.hasPrefix("llama") == true || preset == "vllm", serve["model"] == nil {
            diagnostics.append(Diagnostic("\(servePath): the \(preset ?? "") preset needs model: (\(preset == "vllm" ? "a model id or path" : "the GGUF file"))",
                                          origin: at))
        }
        if let model = serve["model"]?.stringValue,
           preset?.hasPrefix("llama") == true || model.hasPrefix("./") || model.hasPrefix("../") || model.hasPrefix("~/") {
            serve["model"] = .string(Paths.absolute(model, base: fileDirectory, home: home))
        }
        var object = settings.objectValue ?? [:]
        object["serve"] = .object(serve)
        return .object(object)
    }

    /// Validated settings of each entry of `credentials:`: env: or file:
    /// (one of them), and a `host:` scope that reads.
    mutating func checkCredentials() -> [(name: String, settings: JSONValue)] {
        var result: [(name: String, settings: JSONValue)] = []
        let fileDirectory = fileDirectory, home = home
        for credential in pipeline.credentials {
            let path = JSONPath([.key("credentials"), .key(credential.name)])
            var validator = SchemaValidator(sourceMap: pipeline.sourceMap, noun: "key", rootPath: path) { value, _ in
                Paths.absolute(value, base: fileDirectory, home: home)
            }
            let settings = validator.validate(credential.settings, schema: CredentialSettings.schema, path: path)
            diagnostics += validator.diagnostics
            let env = credential.settings["env"]?.stringValue
            if let variable = env, !variable.isEmpty,
               !LLMSettings.isVariableName(variable) || CredentialSettings.looksLikeSecret(variable) {
                // Not a schema pattern: its message would print the value,
                // often the secret itself, pasted in by mistake.
                let keyPath = path.appending("env")
                diagnostics.append(Diagnostic(
                    "\(keyPath): must be the name of an environment variable (letters, digits and _), not the "
                    + "secret itself; the value is not shown", origin: pipeline.sourceMap.valueOrigin(keyPath)))
            }
            switch (env != nil, credential.settings["file"] != nil) {
            case (true, true):
                error("\(path): give env: or file:, not both", at: credential.location)
            case (false, false):
                error("\(path): say where the secret is: env: (an environment variable) or file: (its first line)",
                      at: credential.location)
            default:
                break
            }
            if let host = credential.settings["host"]?.stringValue, CredentialScope(host) == nil {
                let keyPath = path.appending("host")
                diagnostics.append(Diagnostic(
                    "\(keyPath): must be a host name, host:port or an http(s) URL without a user or password, "
                    + "not \(Suggestion.quoted(host))", origin: pipeline.sourceMap.valueOrigin(keyPath)))
            }
            result.append((credential.name, settings))
        }
        return result
    }

    /// PIPELINE_STEP_USES_CREDENTIAL in the descriptor says whether the
    /// step sends authenticated requests: then it needs credential:, and
    /// otherwise credential: means nothing.
    mutating func checkCredentialReferences(descriptors: [StepDescriptor?], names: [String]) {
        for (index, step) in steps.enumerated() {
            let descriptor = descriptors[index]
            if let descriptor, descriptor.usesCredential, !descriptor.credentialOptional, step.credential == nil {
                let which = names.isEmpty
                    ? "add a credentials: section (e.g. credentials: {hf: {env: HF_TOKEN, host: https://huggingface.co}}) and name its entry with credential:"
                    : "name the entry of credentials: it sends with credential: (" + names.joined(separator: ", ") + ")"
                error("\(step.label) uses \(descriptor.name), which sends requests with a credential: \(which)",
                      at: step.location)
            } else if let descriptor, !descriptor.usesCredential, let credential = step.credential {
                error("\(step.label) uses \(descriptor.name), which sends no credential: remove credential: \(credential.name)",
                      at: step.credentialKeyLocation ?? credential.location)
            } else if let credential = step.credential, !names.contains(credential.name) {
                if names.isEmpty {
                    error("no credential named \(Suggestion.quoted(credential.name)): the file has no credentials: section",
                          at: credential.location)
                } else {
                    error("no credential named \(Suggestion.quoted(credential.name)) in credentials:"
                          + Suggestion.hint(for: credential.name, among: names), at: credential.location)
                }
            }
        }
    }

    // MARK: - The graph

    /// Each step's parents (indices, in the order written); reports
    /// references to missing steps, self-loops, inputs a step's kind does
    /// not allow and unknown LLM names. `incomplete`: the steps with an
    /// input that names no other step.
    mutating func checkReferences(indexByName: [String: Int], descriptors: [StepDescriptor?],
                                  llmNames: [String]) -> (parents: [[Int]], incomplete: Set<Int>) {
        var parents: [[Int]] = []
        var incomplete = Set<Int>()
        let names = steps.compactMap(\.name)
        for (index, step) in steps.enumerated() {
            var stepParents: [Int] = []
            for reference in step.inputs {
                if reference.name == step.name {
                    error("step \"\(reference.name)\" cannot take its own output as input", at: reference.location)
                    incomplete.insert(index)
                } else if let parent = indexByName[reference.name] {
                    stepParents.append(parent)
                } else {
                    error("no step named \(Suggestion.quoted(reference.name))" + Suggestion.hint(for: reference.name, among: names),
                          at: reference.location)
                    incomplete.insert(index)
                }
            }
            parents.append(stepParents)
            if let descriptor = descriptors[index] {
                if descriptor.kind == .generator, !step.inputs.isEmpty {
                    error("\(step.label) uses \(descriptor.name), a generator, which takes no input; remove input:",
                          at: step.inputLocation)
                } else if descriptor.kind != .generator, step.inputs.isEmpty, !step.inputProblem {
                    error("\(step.label) uses \(descriptor.name), which reads rows: name the step(s) it reads from with input:",
                          at: step.inputLocation ?? step.location)
                }
            }
            // PIPELINE_STEP_USES_LLM in the descriptor says whether the step
            // calls an LLM: then it needs llm:, and otherwise llm: means nothing.
            if let descriptor = descriptors[index], descriptor.usesLLM, step.llm == nil {
                let which = llmNames.isEmpty
                    ? "add an llms: section and name its entry with llm:"
                    : "name the entry of llms: it calls with llm: (" + llmNames.joined(separator: ", ") + ")"
                error("\(step.label) uses \(descriptor.name), which calls an LLM: \(which)", at: step.location)
            } else if let descriptor = descriptors[index], !descriptor.usesLLM, let llm = step.llm {
                error("\(step.label) uses \(descriptor.name), which calls no LLM: remove llm: \(llm.name)",
                      at: step.llmKeyLocation ?? llm.location)
            } else if let llm = step.llm, !llmNames.contains(llm.name) {
                if llmNames.isEmpty {
                    error("no LLM named \(Suggestion.quoted(llm.name)): the file has no llms: section", at: llm.location)
                } else {
                    error("no LLM named \(Suggestion.quoted(llm.name)) in llms:" + Suggestion.hint(for: llm.name, among: llmNames), at: llm.location)
                }
            }
            // A call that waits for a provider batch is held and made again
            // later: only a stateless step's process calls can be.
            if let descriptor = descriptors[index], let llm = step.llm,
               let settings = pipeline.llms.first(where: { $0.name == llm.name })?.settings,
               let batch = settings["batch"], batch != .bool(false),
               descriptor.kind != .step || descriptor.isStateful {
                let what = descriptor.kind == .generator ? "a generator" : descriptor.kind == .global ? "a global step" : "a stateful step"
                error("\(step.label) uses \(descriptor.name), \(what), with llm: \(llm.name), whose requests go to provider batches (batch:); only stateless steps can wait for a batch: give this step an LLM without batch:",
                      at: step.llmKeyLocation ?? llm.location)
            }
        }
        return (parents, incomplete)
    }

    /// Steps in a topological order (among the steps ready at any point, the
    /// first in the file comes first). Steps on or after a cycle are left
    /// out; each cycle is reported once.
    mutating func topologicalOrder(_ parents: [[Int]]) -> [Int] {
        var children = [[Int]](repeating: [], count: steps.count)
        var waiting = [Int](repeating: 0, count: steps.count)
        for (index, stepParents) in parents.enumerated() {
            for parent in Set(stepParents) {
                children[parent].append(index)
                waiting[index] += 1
            }
        }
        var ready = waiting.indices.filter { waiting[$0] == 0 }
        var order: [Int] = []
        order.reserveCapacity(steps.count)
        while !ready.isEmpty {
            let next = ready.removeFirst()
            order.append(next)
            for child in children[next] {
                waiting[child] -= 1
                if waiting[child] == 0 {
                    let position = ready.firstIndex { $0 > child } ?? ready.endIndex
                    ready.insert(child, at: position)
                }
            }
        }
        if order.count < steps.count { reportCycles(Set(waiting.indices.filter { waiting[$0] > 0 }), parents, children) }
        return order
    }

    /// Reports each cycle among `stuck` (steps on a cycle or after one) once,
    /// as the path data takes: `a → b → c → a`, at the first step's input:.
    mutating func reportCycles(_ stuck: Set<Int>, _ parents: [[Int]], _ children: [[Int]]) {
        func reachable(from start: Int, _ edges: [[Int]]) -> Set<Int> {
            var seen = Set<Int>()
            var queue = edges[start].filter { stuck.contains($0) }
            while let next = queue.popLast() {
                guard seen.insert(next).inserted else { continue }
                queue += edges[next].filter { stuck.contains($0) }
            }
            return seen
        }
        var covered = Set<Int>()
        for start in stuck.sorted() where !covered.contains(start) {
            let downstream = reachable(from: start, children)
            guard downstream.contains(start) else { continue }  // after a cycle, not on one
            let component = downstream.intersection(reachable(from: start, parents))
            covered.formUnion(component)
            // Shortest way around, breadth first.
            var previous: [Int: Int] = [:]
            var queue = [start]
            var head = 0
            search: while head < queue.count {
                let node = queue[head]
                head += 1
                for child in children[node] where component.contains(child) {
                    if child == start { previous[start] = node; break search }
                    if previous[child] == nil { previous[child] = node; queue.append(child) }
                }
            }
            var path = [start]
            var node = previous[start] ?? start
            while node != start, path.count <= component.count {
                path.append(node)
                node = previous[node] ?? start
            }
            path.append(start)
            let names = path.reversed().map { steps[$0].name ?? "steps[\($0)]" }
            error("the steps form a cycle: \(names.joined(separator: " → "))", at: steps[start].inputLocation ?? steps[start].location)
        }
    }

    // MARK: - Columns

    /// Reports required input columns that no parent can provide, where the
    /// parents' columns are all known.
    mutating func checkColumns(order: [Int], parents: [[Int]], incomplete: Set<Int>, descriptors: [StepDescriptor?],
                               parameters: [[String: JSONValue]]) {
        var columns = [Set<String>?](repeating: nil, count: steps.count)
        var produced = [Set<String>](repeating: [], count: steps.count)
        for index in order {
            // Unknown plugin or a missing parent: unknown columns.
            guard let descriptor = descriptors[index], !incomplete.contains(index) else { continue }
            let declared = (inputs: descriptor.inputs, outputs: descriptor.outputs)
            let parentColumns = parents[index].map { columns[$0] }
            produced[index] = Set(declared.outputs.filter { !$0.isWildcard }.map { $0.resolvedName(parameters[index]) })
                .union(SchemaColumns.names(schema: descriptor.parameterSchema, parameters: parameters[index]))
                .union(AddedColumns.names(schema: descriptor.parameterSchema, parameters: parameters[index]))
            columns[index] = ColumnContracts.outputs(kind: descriptor.kind, inputs: declared.inputs, outputs: declared.outputs,
                                                     schema: descriptor.parameterSchema, parameters: parameters[index],
                                                     parents: parentColumns)
            let known = descriptor.kind != .generator && !parentColumns.isEmpty && parentColumns.allSatisfy { $0 != nil }
            var available = Set<String>()
            if known { for parent in parentColumns { available.formUnion(parent ?? []) } }
            checkTemplates(of: index, descriptor: descriptor, parameters: parameters[index],
                           available: known ? available : nil, parents: parents, produced: produced)
            checkExpressions(of: index, descriptor: descriptor, parameters: parameters[index],
                             available: known ? available : nil, parents: parents, produced: produced)
            checkAddedColumns(of: index, descriptor: descriptor, parameters: parameters[index],
                              available: known ? available : nil, parents: parents, produced: produced)
            guard known else { continue }
            checkCollisions(of: index, descriptor: descriptor, parameters: parameters[index], available: available,
                            parents: parents, produced: produced)
            checkSchemaCollisions(of: index, descriptor: descriptor, parameters: parameters[index], available: available,
                                  parents: parents, produced: produced)
            let step = steps[index]
            // An optional input is needed too once the file names its column
            // (a judge's answer_a_column: optional only in the other mode).
            let named = declared.inputs.filter { column in
                column.optional && column.nameParam.map { step.parameters[$0]?.stringValue?.isEmpty == false } == true
            }
            for column in named {
                let name = column.resolvedName(parameters[index])
                guard !available.contains(name), !ColumnContracts.reserved.contains(name),
                      let key = column.nameParam else { continue }
                let list = available.isEmpty ? "none" : available.sorted().joined(separator: ", ")
                let path = step.path.appending("with").appending(key)
                let origin = pipeline.sourceMap.valueOrigin(path) ?? .file(step.location)
                diagnostics.append(Diagnostic("\(path): no column \"\(name)\" reaches \(step.label) (available: \(list))",
                                              origin: origin))
            }
            for column in declared.inputs where !column.isWildcard && !column.optional {
                let name = column.resolvedName(parameters[index])
                guard !available.contains(name), !ColumnContracts.reserved.contains(name) else { continue }
                let list = available.isEmpty ? "none" : available.sorted().joined(separator: ", ")
                let label = step.name ?? "steps[\(step.index)]"
                if let source = nearestProducer(of: name, from: index, parents: parents, produced: produced) {
                    error("step \"\(label)\" needs column \"\(name)\", which \"\(source)\" produces but a step after it does not pass on (available: \(list))",
                          at: step.inputLocation ?? step.location)
                } else {
                    error("step \"\(label)\" needs column \"\(name)\", which no ancestor produces (available: \(list))",
                          at: step.inputLocation ?? step.location)
                }
            }
        }
    }

    /// The `"format": "template"` parameters of a step: well formed, and
    /// each name it reads a column the input can have (`available`, when
    /// the columns are known). Reported inside the template's text where
    /// the file holds it verbatim, else at the value.
    mutating func checkTemplates(of index: Int, descriptor: StepDescriptor, parameters: [String: JSONValue],
                                 available: Set<String>?, parents: [[Int]], produced: [Set<String>]) {
        let step = steps[index]
        for key in TemplateCheck.templateParameters(descriptor.parameterSchema) {
            guard let text = parameters[key]?.stringValue else { continue }
            let path = step.path.appending("with").appending(key)
            let origin = pipeline.sourceMap.valueOrigin(path) ?? .file(step.location)
            let source = self.source
            func at(_ line: Int, _ column: Int) -> SourceOrigin? {
                TemplateCheck.origin(origin, line: line, column: column, text: text, source: source)
            }
            let template: Template
            do throws(TemplateError) { template = try Template(parsing: text) } catch {
                diagnostics.append(Diagnostic("\(path): \(error.message)", origin: at(error.line, error.column)))
                continue
            }
            guard let available else { continue }
            for name in template.names where !available.contains(name) && !ColumnContracts.reserved.contains(name) {
                let message = unknownColumn(name, shown: TemplateCheck.display(name, legacy: template.isLegacy), path: path,
                                            index: index, available: available, parents: parents, produced: produced)
                let position = template.namePositions[name]
                diagnostics.append(Diagnostic(message, origin: position.map { at($0.line, $0.column) } ?? origin))
            }
            // {column} left in a template that became Jinja (it gained a {{):
            // literal text now, which the author surely did not mean.
            for literal in template.literalPlaceholders where available.contains(literal.name) {
                let message = "\(path): {\(literal.name)} is literal text in a Jinja template (one with {{, {% or {#): "
                    + "write {{ \(literal.name) }} to insert the column"
                diagnostics.append(Diagnostic(message, origin: at(literal.position.line, literal.position.column)))
            }
        }
    }

    /// A declared output that would replace a column the input already has
    /// (two text_generation steps in a row: the second overwrites the
    /// first's answers): an error naming both steps, unless the step reads
    /// that column too (it rewrites it on purpose) or the user named the
    /// output explicitly (`output_column: generation`).
    mutating func checkCollisions(of index: Int, descriptor: StepDescriptor, parameters: [String: JSONValue],
                                  available: Set<String>, parents: [[Int]], produced: [Set<String>]) {
        let step = steps[index]
        let reads = Set(descriptor.inputs.filter { !$0.isWildcard }.map { $0.resolvedName(parameters) })
        for column in descriptor.outputs where !column.isWildcard && !column.optional {
            let name = column.resolvedName(parameters)
            guard available.contains(name), !reads.contains(name), !ColumnContracts.reserved.contains(name) else { continue }
            if let nameParam = column.nameParam, step.parameters[nameParam] != nil { continue }
            let label = step.name ?? "steps[\(step.index)]"
            let source = nearestProducer(of: name, from: index, parents: parents, produced: produced)
            var message = "step \"\(label)\" would overwrite column \"\(name)\""
            message += source.map { ", which \"\($0)\" produces" } ?? ", which its input already has"
            if let nameParam = column.nameParam {
                message += "; give it another name with `\(nameParam):` (or write `\(nameParam): \(name)` to replace it on purpose)"
            } else {
                message += "; rename or drop the earlier column first (rename_columns, keep_columns)"
            }
            error(message, at: step.location)
        }
    }

    /// The closest ancestor that declares `column` among its outputs.
    func nearestProducer(of column: String, from index: Int, parents: [[Int]], produced: [Set<String>]) -> String? {
        var seen: Set<Int> = [index]
        var queue = parents[index]
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            guard seen.insert(node).inserted else { continue }
            if produced[node].contains(column) { return steps[node].name }
            queue += parents[node]
        }
        return nil
    }
}
