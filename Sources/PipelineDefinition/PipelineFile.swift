import PipelineJSON

/// A pipeline file as written, its shape checked, `${ENV}` expanded and
/// `--param` overrides applied, before any plugin is consulted:
///
/// ```yaml
/// name: demo                  # required, [A-Za-z0-9_.-]+
/// description: ...            # optional
/// llms:                       # optional: name → settings
///   teacher: {base_url: "${LLM_BASE_URL}", model: m, api_key_env: OPENAI_API_KEY}
/// credentials:                # optional: name → where the host finds a secret
///   hf: {env: HF_TOKEN, host: "https://huggingface.co"}
/// steps:                      # required, non-empty
///   - name: load              # required, unique, [A-Za-z0-9_-]+
///     uses: load_jsonl        # step id or short name
///     with: {path: data/seed.jsonl}   # parameters (mapping)
///     batch_size: 500         # optional integer ≥ 1, default 1000
///     input: load             # a step name or a list of names; not for generators
///     llm: teacher            # optional, must name an entry of llms
///     credential: hf          # optional, must name an entry of credentials
/// ```
public struct PipelineFile: Sendable {
    /// A name written in the file (an `input:` entry, an `llm:`, a
    /// `credential:`), with where.
    public struct Reference: Sendable, Hashable {
        public var name: String
        public var location: SourceLocation
    }

    public struct Step: Sendable {
        /// Position in `steps:`, from 0.
        public var index: Int
        /// Where the step's mapping starts (its first key).
        public var location: SourceLocation
        public var name: String?
        public var nameLocation: SourceLocation?
        public var uses: String?
        public var usesLocation: SourceLocation?
        /// `with:`, expanded, with `--param` overrides applied.
        public var parameters: [String: JSONValue] = [:]
        public var batchSize: Int?
        public var inputs: [Reference] = []
        /// Where the `input:` key is.
        public var inputLocation: SourceLocation?
        public var llm: Reference?
        /// Where the `llm:` key is.
        public var llmKeyLocation: SourceLocation?
        public var credential: Reference?
        /// Where the `credential:` key is.
        public var credentialKeyLocation: SourceLocation?
        /// An `input:` entry could not be read (already reported).
        package var inputProblem = false
        /// Parameters of the step's plugin written beside `with:` instead of
        /// in it (already reported).
        package var misplacedParameters: Set<String> = []

        public var path: JSONPath { JSONPath([.key("steps"), .index(index)]) }
        public var label: String { name.map { "step \"\($0)\"" } ?? "steps[\(index)]" }
    }

    public struct LLM: Sendable {
        public var name: String
        /// Where the entry's key is.
        public var location: SourceLocation
        /// The settings, expanded (checked later against `LLMSettings.schema`).
        public var settings: JSONValue
    }

    /// An entry of `credentials:`.
    public struct Credential: Sendable {
        public var name: String
        /// Where the entry's key is.
        public var location: SourceLocation
        /// The settings, expanded (checked later against `CredentialSettings.schema`).
        public var settings: JSONValue
    }

    public var file: String
    public var name: String?
    public var description: String?
    public var llms: [LLM] = []
    public var credentials: [Credential] = []
    public var steps: [Step] = []
    /// Where every value is, for messages.
    public var sourceMap = SourceMap()

    static let topKeys = ["name", "description", "llms", "credentials", "steps"]
    static let stepKeys = ["name", "uses", "with", "batch_size", "input", "llm", "credential"]
    public static let defaultBatchSize = 1000

    /// Reads a pipeline file's text. Returns the file (as much as could be
    /// read) and every problem found; the file is nil only when the text is
    /// not YAML at all. `parameterNames` gives the parameters of the plugin
    /// step a `uses:` names, when known, so that one written beside `with:`
    /// is reported as such.
    public static func read(_ bytes: [UInt8], file: String, environment: [String: String],
                            overrides: [ParamOverride] = [],
                            parameterNames: (String) -> [String]? = { _ in nil })
        -> (file: PipelineFile?, diagnostics: [Diagnostic]) {
        let (root, problems) = YAML.parse(bytes)
        var diagnostics = problems.map { problem in
            Diagnostic(problem.message, at: problem.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) })
        }
        guard let root else {
            if problems.isEmpty {
                diagnostics.append(Diagnostic("the file is empty; a pipeline needs name: and steps:",
                                              at: SourceLocation(file: file, line: 1, column: 1)))
            }
            return (nil, diagnostics)
        }
        var decoder = Decoder(file: file, environment: environment, overrides: overrides)
        let pipeline = decoder.decode(root, parameterNames: parameterNames)
        return (pipeline, diagnostics + decoder.converter.diagnostics)
    }

    private struct Decoder {
        var converter: NodeConverter
        let overrides: [ParamOverride]

        init(file: String, environment: [String: String], overrides: [ParamOverride]) {
            converter = NodeConverter(file: file, environment: environment)
            self.overrides = overrides
        }

        func location(_ node: YAMLNode) -> SourceLocation { converter.location(node.mark) }

        /// Reports a problem with `node`; nothing for a placeholder, whose
        /// problem the YAML reader reported.
        mutating func error(_ message: String, at node: YAMLNode) {
            guard !node.isPlaceholder else { return }
            converter.error(message, at: node.mark)
        }

        mutating func decode(_ root: YAMLNode, parameterNames: (String) -> [String]?) -> PipelineFile {
            var pipeline = PipelineFile(file: converter.file)
            guard let pairs = root.mapping else {
                if isNull(root) {
                    // `---` alone, or `~`: a document with nothing in it.
                    error("the document is empty; a pipeline needs name: and steps:", at: root)
                } else {
                    error("a pipeline file is a mapping with name: and steps:, not \(root.kindDescription)", at: root)
                }
                return pipeline
            }
            converter.sourceMap.values[.root] = converter.origin(root.mark)
            let fields = checkKeys(pairs, known: PipelineFile.topKeys, path: .root)
            if let (key, value) = fields["name"] {
                let path = JSONPath.root.appending("name")
                converter.record(path, value: value, key: key)
                if let name = text(value, path: path, what: "the pipeline's name") {
                    if isName(name, allowingDots: true) {
                        pipeline.name = name
                    } else {
                        error("name: \"\(name)\" is not a valid pipeline name (letters, digits, _, - and .)", at: value)
                    }
                }
            } else {
                error("missing required key \"name\" (the pipeline's name)", at: root)
            }
            if let (key, value) = fields["description"] {
                let path = JSONPath.root.appending("description")
                converter.record(path, value: value, key: key)
                if !isNull(value) { pipeline.description = text(value, path: path, what: "the description") }
            }
            if let (key, value) = fields["llms"] {
                pipeline.llms = llms(value, key: key)
            }
            if let (key, value) = fields["credentials"] {
                pipeline.credentials = namedSettings(value, key: key, section: "credentials", noun: "credential",
                                                     example: "env:, file:, host:").map {
                    Credential(name: $0.name, location: $0.location, settings: $0.settings)
                }
            }
            if let (key, value) = fields["steps"] {
                let path = JSONPath.root.appending("steps")
                converter.record(path, value: value, key: key)
                if let items = value.sequence {
                    if items.isEmpty { error("steps: list at least one step", at: value) }
                    for (index, item) in items.enumerated() {
                        if let step = step(item, index: index, parameterNames: parameterNames) { pipeline.steps.append(step) }
                    }
                } else {
                    error("steps: must be a list of steps, not \(describeKind(value))", at: value)
                }
            } else {
                error("missing required key \"steps\" (the list of steps)", at: root)
            }
            let names = Set(pipeline.steps.compactMap(\.name))
            for override in overrides where !names.contains(override.step) {
                converter.error("no step named \(Suggestion.quoted(override.step))" + Suggestion.hint(for: override.step, among: pipeline.steps.compactMap(\.name)),
                                origin: .flag(override.flag))
            }
            pipeline.sourceMap = converter.sourceMap
            return pipeline
        }

        /// The pairs whose keys are known, by key; reports the others, but
        /// for those `unknown` takes (which returns true when it reported one).
        mutating func checkKeys(_ pairs: [YAMLPair], known: [String], path: JSONPath,
                                unknown: (String, YAMLNode) -> Bool = { _, _ in false }) -> [String: (YAMLNode, YAMLNode)] {
            var fields: [String: (YAMLNode, YAMLNode)] = [:]
            for pair in pairs where !pair.key.isPlaceholder {
                guard let key = pair.key.scalar?.text else {
                    error("\(path): keys must be text, not \(pair.key.kindDescription)", at: pair.key)
                    continue
                }
                if known.contains(key) {
                    if fields[key] == nil { fields[key] = (pair.key, pair.value) }
                    continue
                }
                if unknown(key, pair.key) { continue }
                let prefix = path.components.isEmpty ? "unknown top-level key" : "\(path): unknown key"
                var message = "\(prefix) \(Suggestion.quoted(key))"
                let hint = Suggestion.hint(for: key, among: known)
                message += hint.isEmpty ? " (expected one of: \(known.joined(separator: ", ")))" : hint
                error(message, at: pair.key)
            }
            return fields
        }

        func isNull(_ node: YAMLNode) -> Bool {
            guard node.tag == nil, !node.isPlaceholder, let (text, style) = node.scalar, style.isPlain else { return false }
            return YAML.resolvePlain(text) == .null
        }

        func describeKind(_ node: YAMLNode) -> String {
            isNull(node) ? "empty" : node.kindDescription
        }

        /// The text of a scalar (expanded, not type-resolved: `name: 2024`
        /// is the name "2024"); nil after reporting a problem.
        mutating func text(_ node: YAMLNode, path: JSONPath, what: String) -> String? {
            guard node.scalar != nil else {
                error("\(path): must be \(what) (text), not \(node.kindDescription)", at: node)
                return nil
            }
            if isNull(node) {
                error("\(path): must be \(what), not empty", at: node)
                return nil
            }
            guard let text = converter.expandedText(node, path: path) else { return nil }
            if text.isEmpty, node.scalar?.style.isPlain == true {
                // `${X}` where X is empty.
                error("\(path): must be \(what), not empty", at: node)
                return nil
            }
            return text
        }

        func isName(_ name: String, allowingDots: Bool) -> Bool {
            !name.isEmpty && name.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                                   || scalar == "_" || scalar == "-" || (allowingDots && scalar == "."))
            }
        }

        mutating func llms(_ node: YAMLNode, key: YAMLNode) -> [LLM] {
            namedSettings(node, key: key, section: "llms", noun: "LLM", example: "model:, base_url:, ...").map {
                LLM(name: $0.name, location: $0.location, settings: $0.settings)
            }
        }

        /// A section mapping names to mappings of settings (`llms:`,
        /// `credentials:`): each entry's name, where its key is, and its
        /// settings, expanded.
        mutating func namedSettings(_ node: YAMLNode, key: YAMLNode, section: String, noun: String,
                                    example: String) -> [(name: String, location: SourceLocation, settings: JSONValue)] {
            let path = JSONPath.root.appending(section)
            converter.record(path, value: node, key: key)
            if isNull(node) { return [] }
            guard let pairs = node.mapping else {
                error("\(section): must be a mapping from \(noun) names to their settings, not \(node.kindDescription)", at: node)
                return []
            }
            var result: [(name: String, location: SourceLocation, settings: JSONValue)] = []
            for pair in pairs {
                guard let name = pair.key.scalar?.text else {
                    error("\(section): keys must be names, not \(pair.key.kindDescription)", at: pair.key)
                    continue
                }
                let entryPath = path.appending(name)
                guard isName(name, allowingDots: false) else {
                    error("\(section): \"\(name)\" is not a valid \(noun) name (letters, digits, _ and -)", at: pair.key)
                    continue
                }
                converter.sourceMap.keys[entryPath] = converter.origin(pair.key.mark)
                guard pair.value.mapping != nil else {
                    error("\(entryPath): must be a mapping of settings (\(example)), not \(describeKind(pair.value))", at: pair.value)
                    continue
                }
                result.append((name, location(pair.key), converter.json(pair.value, path: entryPath)))
            }
            return result
        }

        mutating func step(_ node: YAMLNode, index: Int, parameterNames: (String) -> [String]?) -> Step? {
            let path = JSONPath([.key("steps"), .index(index)])
            converter.sourceMap.values[path] = converter.origin(node.mark)
            guard let pairs = node.mapping else {
                error("\(path): a step is a mapping with name: and uses:, not \(describeKind(node))", at: node)
                return nil
            }
            var step = Step(index: index, location: location(node))
            // A parameter of the step's plugin written beside with: instead
            // of under it: say so rather than "unknown key".
            let usesText = pairs.first { $0.key.scalar?.text == "uses" }?.value.scalar?.text
            let parameters = usesText.flatMap(parameterNames) ?? []
            var misplaced: [(String, YAMLNode)] = []
            let fields = checkKeys(pairs, known: PipelineFile.stepKeys, path: path) { key, keyNode in
                guard let plugin = usesText, parameters.contains(key) else { return false }
                misplaced.append(("\(path): \"\(key)\" is a parameter of \(plugin): put it under with:", keyNode))
                step.misplacedParameters.insert(key)
                return true
            }
            for (message, keyNode) in misplaced { error(message, at: keyNode) }

            if let (key, value) = fields["name"] {
                converter.record(path.appending("name"), value: value, key: key)
                if let name = text(value, path: path.appending("name"), what: "a step name") {
                    if !isName(name, allowingDots: false) {
                        error("\(path).name: \"\(name)\" is not a valid step name (letters, digits, _ and -)", at: value)
                    }
                    // Kept even when invalid, so inputs naming it do not fail too.
                    step.name = name
                    step.nameLocation = location(value)
                }
            } else {
                error("\(path): missing required key \"name\"", at: node)
            }

            if let (key, value) = fields["uses"] {
                converter.record(path.appending("uses"), value: value, key: key)
                if let uses = text(value, path: path.appending("uses"), what: "a step id or name") {
                    step.uses = uses
                    step.usesLocation = location(value)
                }
            } else {
                error("\(step.label): missing required key \"uses\" (the plugin step to run)", at: node)
            }

            let withPath = path.appending("with")
            let overridden = step.name.map { name in overrides.filter { $0.step == name } } ?? []
            if let (key, value) = fields["with"] {
                converter.record(withPath, value: value, key: key)
                if let pairs = value.mapping {
                    let replaced = Set(overridden.map(\.key))
                    // Convert the mapping minus the keys --param replaces, so
                    // a replaced value's ${VARIABLE} need not be set.
                    let kept = YAMLNode(.mapping(pairs.filter { !replaced.contains($0.key.scalar?.text ?? "") }),
                                        mark: value.mark, tag: value.tag)
                    step.parameters = converter.json(kept, path: withPath).objectValue ?? [:]
                } else if !isNull(value) {
                    error("\(withPath): must be a mapping of parameters, not \(value.kindDescription)", at: value)
                    converter.sourceMap.broken.insert(withPath)
                }
            }
            for override in overridden {
                let parameterPath = withPath.appending(override.key)
                converter.sourceMap.remove(parameterPath)
                converter.flag = override.flag
                step.parameters[override.key] = converter.json(override.value, path: parameterPath)
                converter.sourceMap.keys[parameterPath] = .flag(override.flag)
                converter.flag = nil
            }

            if let (key, value) = fields["batch_size"] {
                let sizePath = path.appending("batch_size")
                converter.record(sizePath, value: value, key: key)
                if let number = value.scalar != nil ? converter.scalarValue(value, path: sizePath) : .array([]) {
                    if let size = number.int64Value, size >= 1, size <= Int64(Int32.max) {
                        step.batchSize = Int(size)
                    } else {
                        error("\(sizePath): must be an integer ≥ 1, got \(converter.sourceMap.describe(number, at: sizePath))", at: value)
                    }
                }
            }

            if let (key, value) = fields["input"] {
                let inputPath = path.appending("input")
                converter.record(inputPath, value: value, key: key)
                step.inputLocation = location(key)
                let items: [(YAMLNode, JSONPath)]
                if let list = value.sequence {
                    items = list.enumerated().map { ($0.element, inputPath.appending($0.offset)) }
                } else if isNull(value) {
                    items = []
                } else {
                    items = [(value, inputPath)]
                }
                for (item, itemPath) in items {
                    converter.sourceMap.values[itemPath] = converter.origin(item.mark)
                    guard let name = text(item, path: itemPath, what: "a step name") else {
                        step.inputProblem = true
                        continue
                    }
                    if step.inputs.contains(where: { $0.name == name }) {
                        error("\(inputPath): \"\(name)\" is listed twice", at: item)
                        continue
                    }
                    step.inputs.append(Reference(name: name, location: location(item)))
                }
            }

            if let (key, value) = fields["llm"] {
                let llmPath = path.appending("llm")
                converter.record(llmPath, value: value, key: key)
                step.llmKeyLocation = location(key)
                if let name = text(value, path: llmPath, what: "the name of an entry of llms:") {
                    step.llm = Reference(name: name, location: location(value))
                }
            }

            if let (key, value) = fields["credential"] {
                let credentialPath = path.appending("credential")
                converter.record(credentialPath, value: value, key: key)
                step.credentialKeyLocation = location(key)
                if let name = text(value, path: credentialPath, what: "the name of an entry of credentials:") {
                    step.credential = Reference(name: name, location: location(value))
                }
            }
            return step
        }
    }
}

/// A `--param step.key=value` flag: replaces `with.key` of the step named
/// `step`. The value is read as YAML (`x.jsonl`, `42`, `[a, b]`, `{a: b}`).
public struct ParamOverride: Sendable {
    /// The whole flag as typed, `--param load.path=x.jsonl`, for messages.
    public var flag: String
    public var step: String
    public var key: String
    public var value: YAMLNode

    /// Parses the argument of a --param flag (`load.path=x.jsonl`).
    public static func parse(_ argument: String) throws(Diagnostic) -> ParamOverride {
        let flag = "--param \(shortened(argument))"
        guard let equals = argument.firstIndex(of: "=") else {
            throw Diagnostic("\(flag): expected step.key=value", at: nil)
        }
        let target = argument[..<equals]
        guard let dot = target.firstIndex(of: "."), dot != target.startIndex else {
            throw Diagnostic("\(flag): expected step.key=value, with the step's name before the dot", at: nil)
        }
        guard target.index(after: dot) != target.endIndex else {
            throw Diagnostic("\(flag): expected step.key=value, with the parameter's name after the dot", at: nil)
        }
        let text = String(argument[argument.index(after: equals)...])
        let value: YAMLNode
        do { value = try YAML.parse(text) } catch {
            let position = error.mark.map { " (at column \($0.column) of the value)" } ?? ""
            throw Diagnostic("\(flag): the value is not valid YAML: \(error.message)\(position)", at: nil)
        }
        return ParamOverride(flag: flag, step: String(target[..<dot]), key: String(target[target.index(after: dot)...]),
                             value: value)
    }

    /// Longer arguments are cut to this many characters in messages.
    static let shownCharacters = 80

    /// The argument as messages show it: whole, or when long, its first
    /// characters and its size (`load.path=aaaa… (200000 bytes)`), so a
    /// huge value is not echoed in every message about it.
    static func shortened(_ argument: String) -> String {
        guard argument.count > shownCharacters + 20 else { return argument }
        return String(argument.prefix(shownCharacters)) + "… (\(argument.utf8.count) bytes)"
    }
}
