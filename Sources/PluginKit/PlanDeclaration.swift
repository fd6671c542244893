/// What a step does per input row, for `pipeline plan`: how many chat
/// requests it sends, how many texts it embeds, how many rows it emits, and
/// how long the list columns it writes are. Each figure is an expression of
/// the template language over the step's parameters (defaults filled in),
/// plus `list_lengths`, a mapping from an input list column to its item
/// count where the plan knows it:
///
///     StepInfo(…).planning(StepPlan(chat: "num_generations"))
///     StepPlan(chat: "rounds", lists: [("'evolved_responses'", "rounds + 1")])
///     StepPlan(rows: "list_lengths[columns | list | first]")
///
/// PluginKit writes it into the parameter schema as `"x-plan"` (a JSON
/// Schema annotation the validator ignores), so it travels through the ABI
/// with the schema; a C or Rust plugin writes the same member into its
/// schema text (docs/writing-plugins.md, "Planning").
public struct StepPlan: Sendable {
    /// Rows emitted per input row (nil: one).
    public var rows: String?
    /// The rows emitted are at most `rows` per input row (a filter).
    public var atMost: Bool
    /// At most this many rows in all, whatever the input (`limit`, a budget).
    public var cap: String?
    /// Chat requests per input row (nil: none).
    public var chat: String?
    /// Texts embedded per input row (nil: none). The host sends them in
    /// requests of up to 64 texts, per call of the step.
    public var embeddings: String?
    /// Requests a row sends one after another, each waiting for the one
    /// before (evolution rounds); nil: one.
    public var depth: String?
    /// The text of the prompt template, an expression (`template or
    /// '{instruction}'`): `pipeline plan` renders it over the input's first
    /// rows for a prompt-token estimate.
    public var prompt: String?
    /// The list columns the step writes: (an expression naming the column,
    /// an expression giving its item count).
    public var lists: [(column: String, items: String)]

    public init(rows: String? = nil, atMost: Bool = false, cap: String? = nil, chat: String? = nil,
                embeddings: String? = nil, depth: String? = nil, prompt: String? = nil,
                lists: [(column: String, items: String)] = []) {
        self.depth = depth
        self.prompt = prompt
        self.rows = rows
        self.atMost = atMost
        self.cap = cap
        self.chat = chat
        self.embeddings = embeddings
        self.lists = lists
    }

    /// The `"x-plan"` member's value.
    var json: PluginJSON {
        var members: [(key: String, value: PluginJSON)] = []
        if let rows { members.append(("rows", .string(rows))) }
        if atMost { members.append(("at_most", .bool(true))) }
        if let cap { members.append(("cap", .string(cap))) }
        if let chat { members.append(("chat", .string(chat))) }
        if let embeddings { members.append(("embeddings", .string(embeddings))) }
        if let depth { members.append(("depth", .string(depth))) }
        if let prompt { members.append(("prompt", .string(prompt))) }
        if !lists.isEmpty {
            members.append(("lists", .array(lists.map { .object([("column", .string($0.column)), ("items", .string($0.items))]) })))
        }
        return .object(members)
    }
}

extension StepInfo {
    /// This description with its plan declared: the schema text gains an
    /// `"x-plan"` member (the schema must be a JSON object).
    public func planning(_ plan: StepPlan) -> StepInfo {
        var info = self
        var text = Substring(info.parameterSchema)
        while let last = text.last, last == " " || last == "\n" || last == "\t" || last == "\r" { text = text.dropLast() }
        guard text.last == "}" else { return info }
        text = text.dropLast()
        var body = text
        while let last = body.last, last == " " || last == "\n" || last == "\t" || last == "\r" { body = body.dropLast() }
        let separator = body.last == "{" ? "" : ","
        info.parameterSchema = String(text) + separator + "\"x-plan\":" + plan.json.text + "}"
        return info
    }
}
