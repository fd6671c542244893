import PipelineJSON

// LLM tasks: "prompts in, answers and row errors out". A step states the
// columns its prompts read, how a row becomes requests and how answers
// become column values; PluginKit does the rest of `process`:
//
// - finds the columns it reads (an error names the step, the column and
//   why it is read) and checks their types;
// - makes a row whose value is null an error row (unless the column allows
//   nulls), and so a row for which the step throws a `RowError`;
// - sends the requests of every row of the batch at once (`complete`);
// - makes a row whose request failed an error row, with the host's reason;
// - builds the output columns (null on an error row), passes every other
//   input column through, and adds `_error` when a row failed.

/// A step that asks its LLM one round of questions per row: the requests
/// of a row, then the values of its columns from the answers.
public protocol LLMTask: LLMRoundsTask where Work == LLMTaskWork {
    /// The requests for one row (several for several answers).
    func requests(for row: TaskRow) throws(RowError) -> [TaskRequest]
    /// The values of `writes` for a row, from the answers to its requests
    /// (in request order). Also asked, for the columns kept on a row
    /// error, when a request of the row failed: `answers` are then the
    /// ones that came back.
    func values(for row: TaskRow, answers: [TaskAnswer]) throws(RowError) -> [TaskValue]
}

/// A step that asks its LLM in rounds: round r's requests of a row may
/// depend on the answers of round r-1 (a rewrite of a rewrite). The rounds
/// of every row of a batch are in flight together.
public protocol LLMRoundsTask: PipelineStep {
    /// What the step keeps for a row between rounds.
    associatedtype Work

    /// The columns the step reads. Asked once per batch.
    var reads: [TaskInput] { get }
    /// The columns the step writes, in order; an input column of the same
    /// name is replaced. Asked once per batch.
    var writes: [TaskOutput] { get }

    /// A row's work, before any request.
    func start(_ row: TaskRow) throws(RowError) -> Work
    /// The row's requests of round `round` (0, 1, …); none: the row is done.
    func requests(_ work: inout Work, round: Int) throws(RowError) -> [TaskRequest]
    /// One answer of the round, in request order. A failed request does not
    /// get here: it makes the row an error row. Answers that come back after
    /// the row failed still do (the row sends nothing more).
    func receive(_ answer: TaskAnswer, _ work: inout Work) throws(RowError)
    /// The values of `writes` for the row. On an error row only the
    /// columns kept on a row error are taken from them.
    func values(_ work: Work) throws(RowError) -> [TaskValue]
}

/// A row's failure: the row becomes an error row, `message` (after the
/// step's name) its reason in `_error`.
public struct RowError: Error, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// A column an LLM task reads.
public struct TaskInput: Sendable {
    public enum Kind: Sendable {
        /// utf8 text.
        case text
        /// list<utf8>.
        case textList
        /// uint64 (the host's `_row_id`).
        case uint64
        /// Any type (`TaskRow.promptText` writes it as text).
        case any
    }

    /// What a null value of the column does to the row.
    public enum Nulls: Sendable {
        /// The row is an error row: "column "name" is null".
        case rowError
        /// The row is an error row with this reason.
        case rowErrorSaying(String)
        /// The step sees the null (`TaskRow.text` gives nil) and decides.
        case allowed
    }

    public var name: String
    public var kind: Kind
    /// Why the step reads the column, for the error when the input lacks it:
    /// usually the parameter that names it.
    public var reason: String?
    public var nulls: Nulls

    public init(_ name: String, _ kind: Kind, reason: String? = nil, nulls: Nulls = .rowError) {
        self.name = name
        self.kind = kind
        self.reason = reason
        self.nulls = nulls
    }

    /// A utf8 column named by the parameter `parameter`.
    public static func text(_ name: String, parameter: String? = nil, nulls: Nulls = .rowError) -> TaskInput {
        TaskInput(name, .text, reason: parameter, nulls: nulls)
    }

    /// A list<utf8> column named by the parameter `parameter`.
    public static func textList(_ name: String, parameter: String? = nil, nulls: Nulls = .rowError) -> TaskInput {
        TaskInput(name, .textList, reason: parameter, nulls: nulls)
    }

    /// The host's `_row_id` (`TaskRow.id`): a key that survives batch
    /// boundaries and resumes.
    public static var rowID: TaskInput { TaskInput("_row_id", .uint64, reason: "the host's row id") }

    func accepts(_ type: ArrowType) -> Bool {
        switch kind {
        case .text: return type == .utf8 || type == .largeUtf8
        case .textList:
            guard case .list(let item) = type else { return false }
            return item.type == .utf8 || item.type == .largeUtf8
        case .uint64: return type == .uint64
        case .any: return true
        }
    }

    var typeName: String {
        switch kind {
        case .text: "utf8"
        case .textList: "list<utf8>"
        case .uint64: "uint64"
        case .any: "any"
        }
    }
}

/// A column an LLM task writes.
public struct TaskOutput: Sendable {
    public enum Kind: Sendable {
        case text, textList, numberList
        /// Any type: the step gives `TaskValue.json` values, which PluginKit
        /// appends as `ColumnBuilder.append(json:)` does (a structured answer).
        case typed(ArrowType)

        var type: ArrowType {
            switch self {
            case .text: .utf8
            case .textList: .utf8List
            case .numberList: .float64List
            case .typed(let type): type
            }
        }
    }

    public var name: String
    public var kind: Kind
    /// The value stays on an error row (say, the model that answered the
    /// requests that did not fail); other columns are null there.
    public var keptOnRowError: Bool

    public init(_ name: String, _ kind: Kind, keptOnRowError: Bool = false) {
        self.name = name
        self.kind = kind
        self.keptOnRowError = keptOnRowError
    }
}

/// One row's value of a `TaskOutput`; nil is null.
public enum TaskValue: Sendable {
    case text(String?)
    case textList([String]?)
    case numberList([Double]?)
    /// A value of a `.typed` column, as JSON (nil is null).
    case json(JSONValue?)

    var typeName: String {
        switch self {
        case .text: "utf8"
        case .textList: "list<utf8>"
        case .numberList: "list<float64>"
        case .json: "JSON"
        }
    }
}

/// One row of the input, as an LLM task reads it.
public struct TaskRow {
    /// The row's index in the batch.
    public let index: Int
    let columns: [String: ArrowColumn]

    /// A row of columns looked up by name (PluginKit makes these; a step's
    /// own loop may too).
    public init(index: Int, columns: [String: ArrowColumn]) {
        self.index = index
        self.columns = columns
    }

    /// The text of a utf8 column the step reads; nil when null.
    public func text(_ column: String) -> String? {
        guard let found = columns[column], found.type == .utf8 || found.type == .largeUtf8 else { return nil }
        return found.string(index)
    }

    /// The items of a list<utf8> column the step reads; nil when null.
    public func textList(_ column: String) -> [String?]? {
        guard let found = columns[column], case .list = found.type else { return nil }
        return found.stringList(index)
    }

    /// The value of any column the step reads, as a prompt shows it: text
    /// as is, numbers and lists as JSON; nil when null.
    public func promptText(_ column: String) -> String? {
        guard let found = columns[column], found.isValid(index) else { return nil }
        return PromptTemplate.text(found, index)
    }

    /// The host's `_row_id`, when the step reads `TaskInput.rowID`.
    public var id: UInt64? {
        guard let found = columns["_row_id"], found.type == .uint64, found.isValid(index) else { return nil }
        return found.uint64(index)
    }
}

/// One request of a row, and what its failure is called in `_error`.
public struct TaskRequest: Sendable {
    public var request: LLMRequest
    /// Names the request in the row error when it fails: "step: label: reason".
    public var label: String?

    public init(_ request: LLMRequest, label: String? = nil) {
        self.request = request
        self.label = label
    }
}

/// An answer that came back.
public struct TaskAnswer: Sendable {
    public var text: String
    public var model: String?
    public var finishReason: String?
    /// The model's reasoning trace, when the server sent one.
    public var reasoning: String?
    /// The round, and the index of the request among the row's requests of it.
    public var round: Int
    public var index: Int
}

/// What `LLMTask` keeps for a row.
public struct LLMTaskWork {
    let row: TaskRow
    var requests: [TaskRequest]
    var answers: [TaskAnswer] = []
}

extension LLMTask {
    public func start(_ row: TaskRow) throws(RowError) -> LLMTaskWork {
        LLMTaskWork(row: row, requests: try requests(for: row))
    }

    public func requests(_ work: inout LLMTaskWork, round: Int) throws(RowError) -> [TaskRequest] {
        round == 0 ? work.requests : []
    }

    public func receive(_ answer: TaskAnswer, _ work: inout LLMTaskWork) throws(RowError) {
        work.answers.append(answer)
    }

    public func values(_ work: LLMTaskWork) throws(RowError) -> [TaskValue] {
        try values(for: work.row, answers: work.answers)
    }
}

extension LLMRoundsTask {
    public func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        return try LLMTaskRun(task: self, batch: batch, context: context).run()
    }
}

/// One `process` call of an LLM task.
private struct LLMTaskRun<Task: LLMRoundsTask> {
    let task: Task
    let batch: RecordBatch
    let context: StepContext
    let step = Task.info.name

    func run() throws(StepError) -> RecordBatch {
        let reads = task.reads
        let writes = task.writes
        var columns: [String: ArrowColumn] = [:]
        for input in reads {
            guard let column = batch.column(input.name) else {
                let reason = input.reason.map { " (\($0))" } ?? ""
                throw .invalidData("\(step): no column \"\(input.name)\"\(reason); the input has \(batch.fields.map(\.name).joined(separator: ", "))")
            }
            guard input.accepts(column.type) else {
                throw .invalidData("\(step): column \"\(input.name)\" is \(column.type.displayName), not \(input.typeName)")
            }
            columns[input.name] = column
        }

        var work = [Task.Work?](repeating: nil, count: batch.length)
        var errors = [String?](repeating: nil, count: batch.length)
        for index in 0..<batch.length {
            let row = TaskRow(index: index, columns: columns)
            if let null = reads.first(where: { input in
                if case .allowed = input.nulls { return false }
                return columns[input.name]?.isValid(index) == false
            }) {
                switch null.nulls {
                case .rowErrorSaying(let reason): errors[index] = "\(step): \(reason)"
                default: errors[index] = "\(step): column \"\(null.name)\" is null"
                }
                continue
            }
            do throws(RowError) { work[index] = try task.start(row) } catch { errors[index] = "\(step): \(error.message)" }
        }

        // Each request names its row (the host's `_row_id`, on every batch):
        // a sampled answer cached under `cache: always` is the row's own.
        let rowIDs = batch.column("_row_id").flatMap { $0.type == .uint64 ? $0 : nil }

        // Round after round, every live row's requests at once: the host
        // keeps them in flight together with other steps', up to the LLM's limit.
        var done = [Bool](repeating: false, count: batch.length)
        var round = 0
        while true {
            var requests: [LLMRequest] = []
            var asked: [(row: Int, index: Int, label: String?)] = []
            for index in 0..<batch.length where errors[index] == nil && !done[index] {
                guard var rowWork = work[index] else { continue }
                do throws(RowError) {
                    let made = try task.requests(&rowWork, round: round)
                    work[index] = rowWork
                    if made.isEmpty { done[index] = true }
                    for (number, request) in made.enumerated() {
                        var sent = request.request
                        if sent.row == nil, let rowIDs, rowIDs.isValid(index) { sent.row = rowIDs.uint64(index) }
                        requests.append(sent)
                        asked.append((index, number, request.label))
                    }
                } catch {
                    errors[index] = "\(step): \(error.message)"
                }
            }
            if requests.isEmpty { break }
            let responses = try context.complete(requests)
            guard responses.count == requests.count else {
                throw .internal("\(step): \(requests.count) requests got \(responses.count) responses")
            }
            for (response, request) in zip(responses, asked) {
                guard var rowWork = work[request.row] else { continue }
                guard let text = response.text else {
                    if errors[request.row] == nil {
                        let label = request.label.map { "\($0): " } ?? ""
                        errors[request.row] = "\(step): \(label)\(response.error ?? "the request failed")"
                    }
                    continue
                }
                let answer = TaskAnswer(text: text, model: response.model, finishReason: response.finishReason,
                                        reasoning: response.reasoning, round: round, index: request.index)
                do throws(RowError) { try task.receive(answer, &rowWork) } catch {
                    if errors[request.row] == nil { errors[request.row] = "\(step): \(error.message)" }
                }
                work[request.row] = rowWork
            }
            round += 1
        }

        let builders = writes.map { ColumnBuilder($0.kind.type) }
        let keepsOnError = writes.contains(where: \.keptOnRowError)
        for index in 0..<batch.length {
            var values: [TaskValue]?
            if let rowWork = work[index], errors[index] == nil || keepsOnError {
                do throws(RowError) { values = try task.values(rowWork) } catch {
                    if errors[index] == nil { errors[index] = "\(step): \(error.message)" }
                }
            }
            if let values, values.count != writes.count {
                throw .internal("\(step): \(values.count) values for the \(writes.count) columns \(writes.map(\.name).joined(separator: ", "))")
            }
            for (column, output) in writes.enumerated() {
                guard let values, errors[index] == nil || output.keptOnRowError else {
                    builders[column].appendNull()
                    continue
                }
                try append(values[column], to: builders[column], output)
            }
        }

        let replaced = Set(writes.map(\.name)).union(["_error"])
        var fields = batch.fields.filter { !replaced.contains($0.name) }
        var kept = fields.compactMap { batch.column($0.name) }
        for (output, builder) in zip(writes, builders) {
            fields.append(ArrowField(output.name, output.kind.type))
            kept.append(builder.finish())
        }
        if errors.contains(where: { $0 != nil }) {
            let builder = ColumnBuilder(.utf8)
            for error in errors { builder.append(error) }
            fields.append(ArrowField("_error", .utf8))
            kept.append(builder.finish())
        }
        do { return try RecordBatch(fields: fields, columns: kept, length: batch.length) } catch {
            throw .internal("\(step): \(error.message)")
        }
    }

    private func append(_ value: TaskValue, to builder: ColumnBuilder, _ output: TaskOutput) throws(StepError) {
        switch (value, output.kind) {
        case (.text(let text), .text): builder.append(text)
        case (.textList(let list), .textList):
            if let list { builder.append(strings: list) } else { builder.appendNull() }
        case (.numberList(let list), .numberList):
            if let list { builder.append(doubles: list) } else { builder.appendNull() }
        case (.json(let value), .typed):
            do throws(JSONColumnError) { try builder.append(json: value ?? .null) } catch {
                throw .internal("\(step): column \"\(output.name)\": \(error.message)")
            }
        default:
            throw .internal("\(step): column \"\(output.name)\" is \(output.kind.type.displayName); the step gave \(value.typeName)")
        }
    }
}

// MARK: - Generation parameters

/// The generation parameters most LLM tasks take (system_prompt,
/// temperature, max_tokens, and top_p and seed when asked for), declared
/// once: list `parameters` in the step's `StepInfo`, read them with
/// `settings(_:)`.
public struct GenerationParameters: Sendable {
    public let system: Parameter<String?>
    public let temperature = Parameter<Double?>("temperature", .minimum(0), .maximum(2),
                                                description: "Overrides the LLM's default.")
    public let maxTokens = Parameter<Int?>("max_tokens", .minimum(1), description: "Overrides the LLM's default.")
    public let topP: Parameter<Double?>?
    public let seed: Parameter<Int?>?
    public let systemIsTemplate: Bool

    /// `seed`: the description of a `seed` passed to the server, or nil for
    /// none (a step may have a seed of its own).
    /// `system`: its description. `systemTemplate`: the system message is
    /// a `{column}` template like the prompt (checked at validation, `{{`
    /// and `}}` literal braces); the step then builds its requests with
    /// `GenerationSettings.request(_:row:)`. Otherwise it is sent as written.
    public init(system: String? = nil, systemTemplate: Bool = false, topP: Bool = true, seed: String? = nil) {
        let text = system ?? (systemTemplate
            ? "An optional system message, a template over the row's columns like the prompt's: {column} or Jinja ({{ column }}, {% if %})."
            : "An optional system message.")
        self.system = systemTemplate ? Parameter("system_prompt", .template, description: text)
                                     : Parameter("system_prompt", description: text)
        self.systemIsTemplate = systemTemplate
        self.topP = topP ? Parameter("top_p", .exclusiveMinimum(0), .maximum(1), description: "Overrides the LLM's default.") : nil
        self.seed = seed.map { Parameter("seed", description: $0) }
    }

    public var parameters: [any ParameterDeclaration] {
        var list: [any ParameterDeclaration] = [system, temperature, maxTokens]
        if let topP { list.append(topP) }
        if let seed { list.append(seed) }
        return list
    }

    /// The system message and the options JSON (nil: the LLM's defaults).
    public func settings(_ values: ParameterValues) throws(StepError) -> GenerationSettings {
        var options: [String] = []
        if let value = try values[temperature] { options.append("\"temperature\":\(value)") }
        if let value = try values[maxTokens] { options.append("\"max_tokens\":\(value)") }
        if let topP, let value = try values[topP] { options.append("\"top_p\":\(value)") }
        var settings = GenerationSettings(system: try values[system],
                                          optionsJSON: options.isEmpty ? nil : "{" + options.joined(separator: ",") + "}")
        if let seed { settings.seed = try values[seed] }
        if systemIsTemplate, let text = settings.system {
            let template: PromptTemplate
            do { template = try PromptTemplate(text) } catch { throw .invalidArgument("system_prompt: \(error.message)") }
            // Without placeholders the message is the same for every row:
            // rendered once here ({{ and }} as braces).
            if template.placeholders.isEmpty { settings.system = template.render([:]) } else { settings.systemTemplate = template }
        }
        return settings
    }
}

/// A step's system message and generation options, for its requests.
public struct GenerationSettings: Sendable {
    public var system: String?
    /// The options without the seed.
    public var optionsJSON: String?
    /// The step's `seed`: generation 0 sends it as given, generation g > 0
    /// one derived from it and g (`GenerationSettings.seed(_:generation:)`),
    /// so N generations of one prompt are N different samples, each its
    /// own cache entry, and the same on every run.
    public var seed: Int?
    /// `system` as a template over the row's columns, when it has
    /// placeholders (see `request(_:row:)`).
    public var systemTemplate: PromptTemplate?

    /// The columns the system message reads.
    public var systemPlaceholders: [String] { systemTemplate?.placeholders ?? [] }

    public init(system: String?, optionsJSON: String?, seed: Int? = nil) {
        self.system = system
        self.optionsJSON = optionsJSON
        self.seed = seed
    }

    /// A request with these settings.
    public func request(_ prompt: String, generation: Int = 0, label: String? = nil) -> TaskRequest {
        TaskRequest(LLMRequest(prompt: prompt, system: system, optionsJSON: options(generation: generation),
                               generation: generation), label: label)
    }

    /// A request for `row`: the system message rendered from the row's
    /// columns (a null in one of them makes the row an error row).
    public func request(_ prompt: String, row: TaskRow, generation: Int = 0, label: String? = nil) throws(RowError) -> TaskRequest {
        guard let systemTemplate else { return request(prompt, generation: generation, label: label) }
        let system: String
        do throws(RowError) { system = try systemTemplate.render(row: row) } catch {
            throw RowError("system prompt: \(error.message)")
        }
        return TaskRequest(LLMRequest(prompt: prompt, system: system, optionsJSON: options(generation: generation),
                                      generation: generation), label: label)
    }

    /// The options JSON of a generation: `optionsJSON` plus its seed.
    public func options(generation: Int) -> String? {
        guard let seed else { return optionsJSON }
        let member = "\"seed\":\(Self.seed(seed, generation: generation))"
        guard let optionsJSON, optionsJSON.count > 2 else { return "{" + member + "}" }
        return String(optionsJSON.dropLast()) + "," + member + "}"
    }

    /// The seed of generation `generation` of a step seeded `seed`: the
    /// seed itself for generation 0, else a SplitMix64 mix of both, kept in
    /// 0..<2^31 (servers take 32-bit seeds; llama.cpp treats -1 as random).
    public static func seed(_ seed: Int, generation: Int) -> Int {
        guard generation > 0 else { return seed }
        var z = UInt64(bitPattern: Int64(seed)) &+ UInt64(generation) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int(z & 0x7FFF_FFFF)
    }
}
