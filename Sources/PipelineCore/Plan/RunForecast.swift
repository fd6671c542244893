import PipelineJSON
import PipelineHost
import PipelineTemplate

/// What a run of a plan will do, worked out before it runs (`pipeline
/// plan`): rows per step, chat and embedding requests, tokens, time and
/// cost. Rows flow through the DAG batch by batch from what the generators
/// emit (`seedBatches`), each step slicing its input at its batch size as
/// the executor does; a step's own figures come from its `x-plan`
/// declaration (PluginKit `StepPlan`), evaluated over its parameters. What
/// nothing declares is unknown (nil), never guessed, unless a probe
/// measured it.
public struct RunForecast: Sendable {
    /// Texts per embeddings request (LLMClient.embed sends up to 64).
    public static let embeddingChunk = 64

    public struct Step: Sendable {
        public var name: String
        public var uses: String
        public var llm: String?
        /// The step declares its figures (x-plan), or needs none (no LLM, rows
        /// passed on are not needed downstream).
        public var declared: Bool
        public var rowsIn: Int?
        public var rowsOut: Int?
        /// A step before this one filters: rows in and requests are upper bounds.
        public var rowsInAtMost = false
        /// This step or one before it filters: rows out are an upper bound.
        public var atMost = false
        public var chatRequests: Int?
        public var embeddingInputs: Int?
        public var embeddingRequests: Int?
        public var promptTokens: Double?
        public var completionTokens: Double?
        /// completionTokens is max_tokens × requests, not an estimate.
        public var completionUpperBound = false
        /// Where the prompt tokens come from: "probe" (measured), "sample"
        /// (the prompt rendered over the input's first rows), or nil.
        public var promptSource: String?
        /// Where the completion tokens come from: "probe", "max_tokens", or nil.
        public var completionSource: String?
        /// The request counts were scaled from a probe (no declaration).
        public var requestsFromProbe = false
        public var seconds: Double?
        public var cost: Double?
        /// No step reads this one's rows.
        public var isSink = false
        /// Requests a row sends one after another (x-plan `depth`, default 1).
        public var depth = 1
        /// Why a figure is unknown, or how it was made.
        public var notes: [String] = []

        /// Requests of either kind (nil when the step's kind is unknown).
        public var requests: Int? {
            switch (chatRequests, embeddingRequests) {
            case (nil, nil): nil
            case (let chat, let embedding): (chat ?? 0) + (embedding ?? 0)
            }
        }
    }

    public struct LLM: Sendable {
        public var name: String
        public var model: String?
        public var baseURL: String?
        public var maxConcurrency: Int?
        /// `max_concurrency` as written, when it is no number (`auto`).
        public var concurrencySetting: String?
        /// The latency per request assumed, in milliseconds, and where it came from.
        public var latencyMs: Double?
        public var latencySource: String?
        /// The `serve:` settings, as written, when the host would serve the model.
        public var serve: JSONValue?
        public var pricePromptPerMillion: Double?
        public var priceCompletionPerMillion: Double?
        /// `batch:`: requests go to the provider's Batch API, priced by
        /// `price.batch_*_per_million`, else half the live price (OpenAI's
        /// batch discount); `cost` is then the batch cost, `liveCost` what
        /// live calls would cost.
        public var batch = false
        public var liveCost: Double?
        public var chatRequests: Int? = 0
        public var embeddingRequests: Int? = 0
        public var promptTokens: Double? = 0
        public var completionTokens: Double? = 0
        public var completionUpperBound = false
        public var seconds: Double? = 0
        public var cost: Double?
    }

    public var pipeline: String
    public var file: String
    /// Rows each generator emits (or is planned for, with --rows).
    public var seedRows: [String: Int]
    public var steps: [Step]
    public var llms: [LLM]
    public var probe: Probe?

    /// What a probe run measured (the first N rows, for real).
    public struct Probe: Sendable {
        /// Rows each generator gave the probe.
        public var seedBatches: [String: [Int]]
        /// The steps the probe ran (a preview leaves out writers and what follows them).
        public var steps: Set<String>
        /// Per step: requests, prompt and completion tokens.
        public var usage: [String: (requests: Int, promptTokens: Int, completionTokens: Int)]
        /// Per LLM: the mean latency of its successful requests, in ms.
        public var latencyMs: [String: Double]
        public var seconds: Double

        public init(seedBatches: [String: [Int]], steps: Set<String>,
                    usage: [String: (requests: Int, promptTokens: Int, completionTokens: Int)],
                    latencyMs: [String: Double], seconds: Double) {
            self.seedBatches = seedBatches
            self.steps = steps
            self.usage = usage
            self.latencyMs = latencyMs
            self.seconds = seconds
        }
    }

    /// Works out the forecast of `plan` for the batches each generator
    /// emits; `latencyMs` (a flag) replaces the LLMs' `latency_ms`.
    /// `samples`: the first rows of each generator, for the prompt estimate
    /// of steps that read them (x-plan `prompt`).
    public init(plan: PipelinePlan, seedBatches: [String: [Int]], samples: [String: [JSONValue]] = [:],
                latencyMs: Double? = nil, probe: Probe? = nil) {
        pipeline = plan.name
        file = plan.file
        self.probe = probe
        seedRows = seedBatches.mapValues { $0.reduce(0, +) }
        let flow = Flow(plan: plan, seedBatches: seedBatches)
        steps = flow.steps
        let probeFlow = probe.map { Flow(plan: plan, seedBatches: $0.seedBatches) }
        let fullSeed = Double(seedRows.values.reduce(0, +))
        let probeSeed = Double(probe?.seedBatches.values.reduce(0) { $0 + $1.reduce(0, +) } ?? 0)

        for index in steps.indices where plan.steps[index].llm != nil {
            var step = steps[index]
            let planned = plan.steps[index]
            if let probe, !probe.steps.contains(step.name) {
                // A preview leaves out what follows a writer: nothing measured.
                step.notes.append("the probe did not run this step (it follows a step that writes or pushes)")
            } else if let probe, let probeFlow {
                let measured = probe.usage[step.name] ?? (0, 0, 0)
                let modelled = probeFlow.steps[index]
                if step.requests == nil, probeSeed > 0 {
                    // Undeclared: requests per seed row, as the probe saw them.
                    let scaled = Int((Double(measured.requests) * fullSeed / probeSeed).rounded())
                    step.chatRequests = scaled
                    step.requestsFromProbe = true
                    step.notes.append("requests scaled from the probe (\(measured.requests) for \(Int(probeSeed)) seed rows)")
                    step.promptTokens = Double(measured.promptTokens) * fullSeed / probeSeed
                    step.completionTokens = Double(measured.completionTokens) * fullSeed / probeSeed
                } else {
                    // Tokens per unit of work the probe measured (a chat request it
                    // sent, a text it embedded), times the units planned.
                    let (probeUnits, fullUnits): (Int?, Int?) = (step.embeddingInputs ?? 0) > 0
                        ? (modelled.embeddingInputs, step.embeddingInputs)
                        : (measured.requests, step.chatRequests)
                    if let probeUnits, probeUnits > 0, let fullUnits {
                        step.promptTokens = Double(measured.promptTokens) * Double(fullUnits) / Double(probeUnits)
                        step.completionTokens = Double(measured.completionTokens) * Double(fullUnits) / Double(probeUnits)
                    } else if fullUnits == 0 {
                        step.promptTokens = 0
                        step.completionTokens = 0
                    }
                }
                if step.promptTokens != nil {
                    step.promptSource = "probe"
                    step.completionSource = "probe"
                }
            } else {
                if let chat = step.chatRequests, chat > 0 {
                    let maxTokens = planned.parameters["max_tokens"]?.int64Value
                        ?? plan.llms[planned.llm ?? ""]?["params"]?["max_tokens"]?.int64Value
                    if let maxTokens {
                        step.completionTokens = Double(chat) * Double(maxTokens)
                        step.completionUpperBound = true
                        step.completionSource = "max_tokens"
                    } else {
                        step.notes.append("completion tokens unknown: no max_tokens (in the step's parameters or the LLM's params)")
                    }
                } else if step.chatRequests == 0 {
                    step.completionTokens = 0
                }
                if step.requests == 0 {
                    step.promptTokens = 0
                } else if let chat = step.chatRequests, chat > 0,
                          let perRequest = Self.promptTokensPerRequest(planned, plan: plan, samples: samples) {
                    step.promptTokens = perRequest * Double(chat)
                    step.promptSource = "sample"
                    step.notes.append("prompt tokens: the prompt rendered over \(planned.inputs.joined(separator: ", "))'s first rows, bytes/4")
                } else if step.requests != nil {
                    step.notes.append("prompt tokens unknown without --probe")
                }
            }
            steps[index] = step
        }

        // The LLMs: concurrency, latency, price; their steps' totals.
        var llms: [LLM] = []
        for name in plan.llms.keys.sorted() {
            let settings = plan.llms[name] ?? .null
            var llm = LLM(name: name)
            llm.model = settings["model"]?.stringValue
            // As the client resolves it: the OpenAI API unless given (a served LLM has none).
            llm.baseURL = settings["base_url"]?.stringValue ?? (settings["serve"] == nil ? "https://api.openai.com/v1" : nil)
            llm.maxConcurrency = settings["max_concurrency"]?.int64Value.map { Int($0) }
                ?? (settings["max_concurrency"] == nil ? 16 : nil)
            if llm.maxConcurrency == nil {
                // `auto`, or `{auto: {min, max, start}}`: found at run time.
                llm.concurrencySetting = settings["max_concurrency"]?.stringValue
                    ?? (settings["max_concurrency"]?["auto"] != nil ? "auto" : nil)
            }
            if let measured = probe?.latencyMs[name] {
                llm.latencyMs = measured
                llm.latencySource = "probe"
            } else if let latencyMs {
                llm.latencyMs = latencyMs
                llm.latencySource = "--latency-ms"
            } else if let written = settings["latency_ms"]?.doubleValue {
                llm.latencyMs = written
                llm.latencySource = "latency_ms"
            }
            if let serve = settings["serve"], serve != .null { llm.serve = serve }
            llm.pricePromptPerMillion = settings["price"]?["prompt_per_million"]?.doubleValue
            llm.priceCompletionPerMillion = settings["price"]?["completion_per_million"]?.doubleValue
            var live = llm
            if let batch = settings["batch"], batch != .bool(false), batch != .null {
                llm.batch = true
                let price = settings["price"]
                llm.pricePromptPerMillion = price?["batch_prompt_per_million"]?.doubleValue ?? llm.pricePromptPerMillion.map { $0 / 2 }
                llm.priceCompletionPerMillion = price?["batch_completion_per_million"]?.doubleValue
                    ?? llm.priceCompletionPerMillion.map { $0 / 2 }
            }
            for index in steps.indices where plan.steps[index].llm == name {
                var step = steps[index]
                if let requests = step.requests, let latency = llm.latencyMs, let concurrency = llm.maxConcurrency {
                    // Every slot busy, but no faster than the requests a row sends one after another.
                    let waves = max((requests + concurrency - 1) / concurrency, requests > 0 ? step.depth : 0)
                    step.seconds = Double(waves) * latency / 1000
                }
                step.cost = Self.cost(prompt: step.promptTokens, completion: step.completionTokens, llm: llm)
                steps[index] = step
                // A step of known requests sends none of the kind it does not name.
                let known = step.requests != nil
                llm.chatRequests = Self.sum(llm.chatRequests, known ? step.chatRequests ?? 0 : nil)
                llm.embeddingRequests = Self.sum(llm.embeddingRequests, known ? step.embeddingRequests ?? 0 : nil)
                llm.promptTokens = Self.sum(llm.promptTokens, step.promptTokens)
                llm.completionTokens = Self.sum(llm.completionTokens, step.completionTokens)
                llm.completionUpperBound = llm.completionUpperBound || step.completionUpperBound
                llm.seconds = Self.sum(llm.seconds, step.seconds)
            }
            llm.cost = Self.cost(prompt: llm.promptTokens, completion: llm.completionTokens, llm: llm)
            if llm.batch {
                // Answers come within the batches' completion window, not at the live rate.
                llm.seconds = nil
                live.promptTokens = llm.promptTokens
                live.completionTokens = llm.completionTokens
                llm.liveCost = Self.cost(prompt: llm.promptTokens, completion: llm.completionTokens, llm: live)
            }
            llms.append(llm)
        }
        self.llms = llms
    }

    /// Prompt tokens per request of a step whose x-plan gives its prompt
    /// template (`prompt`, an expression giving the template text), rendered
    /// over the first rows of the generators it reads: bytes / 4 on average.
    /// Nil when the step reads another step's rows or the template does not render.
    static func promptTokensPerRequest(_ step: PlannedStep, plan: PipelinePlan, samples: [String: [JSONValue]]) -> Double? {
        guard let expression = step.descriptor.parameterSchema["x-plan"]?["prompt"]?.stringValue else { return nil }
        var rows: [JSONValue] = []
        for input in step.inputs {
            guard let parent = plan.steps.first(where: { $0.name == input }), parent.descriptor.kind == .generator,
                  let sample = samples[input] else { return nil }
            rows += sample
        }
        guard !rows.isEmpty, case .success(let text) = Figures(variables: step.parameters).string(expression),
              let template = try? Template(parsing: text) else { return nil }
        var bytes = 0
        for row in rows {
            let values = (row.objectValue ?? [:]).mapValues { Value($0) }
            guard let rendered = try? template.render(values) else { return nil }
            bytes += rendered.utf8.count
        }
        return Double(bytes) / Double(rows.count) / 4
    }

    /// The price of the tokens, when the LLM has one and the tokens are known.
    static func cost(prompt: Double?, completion: Double?, llm: LLM) -> Double? {
        guard llm.pricePromptPerMillion != nil || llm.priceCompletionPerMillion != nil else { return nil }
        var total = 0.0
        if let price = llm.pricePromptPerMillion {
            guard let prompt else { return nil }
            total += prompt * price / 1_000_000
        }
        if let price = llm.priceCompletionPerMillion {
            guard let completion else { return nil }
            total += completion * price / 1_000_000
        }
        return total
    }

    static func sum(_ a: Int?, _ b: Int?) -> Int? { a.flatMap { a in b.map { a + $0 } } }
    static func sum(_ a: Double?, _ b: Double?) -> Double? { a.flatMap { a in b.map { a + $0 } } }

    /// Totals of the run.
    public var totalChatRequests: Int? { llms.reduce(Int?(0)) { Self.sum($0, $1.chatRequests) } }
    public var totalEmbeddingRequests: Int? { llms.reduce(Int?(0)) { Self.sum($0, $1.embeddingRequests) } }
    public var totalPromptTokens: Double? { llms.reduce(Double?(0)) { Self.sum($0, $1.promptTokens) } }
    public var totalCompletionTokens: Double? { llms.reduce(Double?(0)) { Self.sum($0, $1.completionTokens) } }
    /// The LLMs' times added up: an LLM's requests wait for another's in a pipeline's order.
    public var totalSeconds: Double? { llms.reduce(Double?(0)) { Self.sum($0, $1.seconds) } }
    public var totalCost: Double? {
        let priced = llms.filter { $0.pricePromptPerMillion != nil || $0.priceCompletionPerMillion != nil }
        guard !priced.isEmpty else { return nil }
        return priced.reduce(Double?(0)) { Self.sum($0, $1.cost) }
    }
}

/// Rows through the DAG, batch by batch.
struct Flow {
    var steps: [RunForecast.Step] = []

    init(plan: PipelinePlan, seedBatches: [String: [Int]]) {
        var batches: [String: [Int]?] = [:]
        var lists: [String: [String: Int]] = [:]
        var atMost: [String: Bool] = [:]
        for planned in plan.steps {
            var step = RunForecast.Step(name: planned.name, uses: planned.descriptor.name, llm: planned.llm,
                                        declared: true)
            step.isSink = !plan.steps.contains { $0.inputs.contains(planned.name) }
            let declaration = planned.descriptor.parameterSchema["x-plan"]
            var input: [Int]? = []
            var known: [String: Int] = [:]
            var bounded = false
            if planned.descriptor.kind == .generator {
                input = nil
                let out = seedBatches[planned.name]
                batches[planned.name] = out
                step.rowsOut = out?.reduce(0, +)
                if out == nil { step.notes.append("rows unknown") }
                lists[planned.name] = [:]
                atMost[planned.name] = false
                if planned.llm != nil { step.declared = false }
                steps.append(step)
                continue
            }
            for parent in planned.inputs {
                if let parentBatches = batches[parent] ?? nil, input != nil {
                    input?.append(contentsOf: parentBatches)
                } else {
                    input = nil
                }
                known.merge(lists[parent] ?? [:]) { _, new in new }
                bounded = bounded || (atMost[parent] ?? false)
            }
            // Sliced at the step's batch size, as the executor does.
            let calls = input.map { input in
                input.flatMap { length -> [Int] in
                    guard planned.batchSize > 0, length > planned.batchSize else { return [length] }
                    return Array(repeating: planned.batchSize, count: length / planned.batchSize)
                        + (length % planned.batchSize > 0 ? [length % planned.batchSize] : [])
                }
            }
            step.rowsIn = calls?.reduce(0, +)
            step.atMost = bounded
            step.rowsInAtMost = bounded
            var output: [Int]?
            if let declaration, declaration.objectValue != nil {
                var variables = planned.parameters
                variables["list_lengths"] = .object(known.mapValues { .number(Double($0)) })
                let evaluator = Figures(variables: variables)
                func figure(_ key: String, default value: Double?) -> Double? {
                    guard let text = declaration[key]?.stringValue else { return value }
                    switch evaluator.number(text) {
                    case .success(let number): return number
                    case .failure(let problem):
                        step.notes.append("x-plan \(key) (\(text)): \(problem)")
                        return nil
                    }
                }
                let rows = figure("rows", default: 1)
                let chat = figure("chat", default: 0)
                let embeddings = figure("embeddings", default: 0)
                let cap = figure("cap", default: nil)
                if let depth = figure("depth", default: 1) { step.depth = max(1, Int(depth.rounded())) }
                if declaration["at_most"]?.boolValue == true { step.atMost = true }
                if let calls {
                    if let chat {
                        step.chatRequests = calls.reduce(0) { $0 + Int((Double($1) * chat).rounded()) }
                    }
                    if let embeddings {
                        let texts = calls.map { Int((Double($0) * embeddings).rounded()) }
                        step.embeddingInputs = texts.reduce(0, +)
                        step.embeddingRequests = texts.reduce(0) {
                            $0 + ($1 + RunForecast.embeddingChunk - 1) / RunForecast.embeddingChunk
                        }
                        if embeddings == 0 { step.embeddingInputs = nil; step.embeddingRequests = nil }
                    }
                    if let rows {
                        output = calls.map { Int((Double($0) * rows).rounded()) }
                        if let cap, cap >= 0 { output = Self.capped(output ?? [], at: Int(cap)) }
                    }
                }
                if chat == 0 && step.embeddingRequests == nil && !planned.descriptor.usesLLM { step.chatRequests = nil }
                for entry in declaration["lists"]?.arrayValue ?? [] {
                    guard let columnText = entry["column"]?.stringValue, let itemsText = entry["items"]?.stringValue else { continue }
                    guard case .success(let column) = evaluator.string(columnText) else { continue }
                    if case .success(let items) = evaluator.number(itemsText) {
                        known[column] = Int(items.rounded())
                    } else {
                        known.removeValue(forKey: column)
                    }
                }
            } else {
                step.declared = false
                if planned.descriptor.usesLLM {
                    step.notes.append("requests unknown: \(planned.descriptor.name) declares no plan (x-plan); --probe measures them")
                }
                if plan.steps.contains(where: { $0.inputs.contains(planned.name) }) {
                    step.notes.append("rows out unknown: \(planned.descriptor.name) declares no plan (x-plan)")
                }
            }
            step.rowsOut = output?.reduce(0, +)
            batches[planned.name] = output
            lists[planned.name] = known
            atMost[planned.name] = step.atMost
            steps.append(step)
        }
    }

    /// The batches a step that passes at most `cap` rows in all emits.
    static func capped(_ batches: [Int], at cap: Int) -> [Int] {
        var left = cap
        var out: [Int] = []
        for length in batches where left > 0 {
            out.append(min(length, left))
            left -= min(length, left)
        }
        return out
    }
}

/// Why an x-plan expression gives no figure.
struct FigureError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// x-plan expressions over a step's parameters.
struct Figures {
    let values: [String: Value]

    init(variables: [String: JSONValue]) {
        values = variables.mapValues { Value($0) }
    }

    func evaluate(_ text: String) -> Result<Value, FigureError> {
        do {
            let expression = try Expression(parsing: text)
            return .success(try expression.evaluate(values))
        } catch {
            return .failure(FigureError(message: "\(error)"))
        }
    }

    func number(_ text: String) -> Result<Double, FigureError> {
        switch evaluate(text) {
        case .success(.int(let value)): .success(Double(value))
        case .success(.double(let value)) where value.isFinite: .success(value)
        case .success(.bool(let value)): .success(value ? 1 : 0)
        case .success(let other): .failure(FigureError(message: "gives \(other.typeName), not a number"))
        case .failure(let problem): .failure(problem)
        }
    }

    func string(_ text: String) -> Result<String, FigureError> {
        switch evaluate(text) {
        case .success(.string(let value)): .success(value)
        case .success(let other): .failure(FigureError(message: "gives \(other.typeName), not a column name"))
        case .failure(let problem): .failure(problem)
        }
    }
}

// MARK: - JSON (`pipeline plan --json`; docs/pipelines.md, "Planning a run")

extension RunForecast {
    /// The forecast as JSON: every figure a number, or null when unknown.
    public var json: JSONValue {
        func number(_ value: Int?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }
        func number(_ value: Double?, places: Double = 1) -> JSONValue {
            value.map { .number(($0 * places).rounded() / places) } ?? .null
        }
        let stepValues: [JSONValue] = steps.map { step in
            .object([
                "name": .string(step.name), "uses": .string(step.uses), "llm": step.llm.map(JSONValue.string) ?? .null,
                "declared": .bool(step.declared), "rows_in": number(step.rowsIn), "rows_out": number(step.rowsOut),
                "sink": .bool(step.isSink), "rows_in_at_most": .bool(step.rowsInAtMost),
                "at_most": .bool(step.atMost), "depth": number(step.depth), "chat_requests": number(step.chatRequests),
                "embedding_inputs": number(step.embeddingInputs), "embedding_requests": number(step.embeddingRequests),
                "requests_from_probe": .bool(step.requestsFromProbe),
                "prompt_tokens": number(step.promptTokens.map { $0.rounded() }),
                "completion_tokens": number(step.completionTokens.map { $0.rounded() }),
                "completion_upper_bound": .bool(step.completionUpperBound),
                "prompt_source": step.promptSource.map(JSONValue.string) ?? .null,
                "completion_source": step.completionSource.map(JSONValue.string) ?? .null,
                "seconds": number(step.seconds, places: 1000), "cost": number(step.cost, places: 1_000_000),
                "notes": .array(step.notes.map(JSONValue.string)),
            ])
        }
        var llmValues: [String: JSONValue] = [:]
        for llm in llms {
            var price: JSONValue = .null
            if llm.pricePromptPerMillion != nil || llm.priceCompletionPerMillion != nil {
                price = .object(["prompt_per_million": number(llm.pricePromptPerMillion, places: 1_000_000),
                                 "completion_per_million": number(llm.priceCompletionPerMillion, places: 1_000_000)])
            }
            llmValues[llm.name] = .object([
                "model": llm.model.map(JSONValue.string) ?? .null, "base_url": llm.baseURL.map(JSONValue.string) ?? .null,
                "serve": llm.serve ?? .null, "max_concurrency": number(llm.maxConcurrency),
                "latency_ms": number(llm.latencyMs, places: 10),
                "latency_source": llm.latencySource.map(JSONValue.string) ?? .null, "price": price,
                "chat_requests": number(llm.chatRequests), "embedding_requests": number(llm.embeddingRequests),
                "prompt_tokens": number(llm.promptTokens.map { $0.rounded() }),
                "completion_tokens": number(llm.completionTokens.map { $0.rounded() }),
                "completion_upper_bound": .bool(llm.completionUpperBound),
                "seconds": number(llm.seconds, places: 1000), "cost": number(llm.cost, places: 1_000_000),
                "batch": .bool(llm.batch), "live_cost": number(llm.liveCost, places: 1_000_000),
            ])
        }
        var probeValue: JSONValue = .null
        if let probe {
            probeValue = .object([
                "seed_rows": .object(probe.seedBatches.mapValues { .number(Double($0.reduce(0, +))) }),
                "seconds": number(probe.seconds, places: 1000),
                "latency_ms": .object(probe.latencyMs.mapValues { number($0, places: 10) }),
            ])
        }
        return .object([
            "format": .string("pipeline-plan/1"),
            "pipeline": .string(pipeline), "file": .string(file),
            "seed_rows": .object(seedRows.mapValues { .number(Double($0)) }),
            "probe": probeValue, "steps": .array(stepValues), "llms": .object(llmValues),
            "total": .object([
                "chat_requests": number(totalChatRequests), "embedding_requests": number(totalEmbeddingRequests),
                "prompt_tokens": number(totalPromptTokens.map { $0.rounded() }),
                "completion_tokens": number(totalCompletionTokens.map { $0.rounded() }),
                "completion_upper_bound": .bool(llms.contains { $0.completionUpperBound }),
                "seconds": number(totalSeconds, places: 1000), "cost": number(totalCost, places: 1_000_000),
            ]),
        ])
    }
}
