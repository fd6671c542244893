import PipelineJSON
import PipelineDefinition
import PipelineHost

/// A validated pipeline, ready for the executor.
public struct PipelinePlan: Sendable {
    /// The pipeline's `name:`.
    public var name: String
    /// The file it was read from.
    public var file: String
    /// Steps in a topological order: every step comes after its inputs.
    public var steps: [PlannedStep]
    /// The `llms:` section, as written (used from the LLM service on).
    public var llms: [String: JSONValue]
    /// The `credentials:` section, validated (file: made absolute): where
    /// each secret is, never the secret.
    public var credentials: [String: JSONValue]

    public init(name: String, file: String, steps: [PlannedStep], llms: [String: JSONValue] = [:],
                credentials: [String: JSONValue] = [:]) {
        self.name = name
        self.file = file
        self.steps = steps
        self.llms = llms
        self.credentials = credentials
    }
}

/// One step of a validated pipeline.
public struct PlannedStep: Sendable {
    /// The step's unique `name:` in the file.
    public var name: String
    /// The plugin step it `uses:`.
    public var descriptor: StepDescriptor
    /// Parameters checked against the step's JSON Schema, defaults filled in,
    /// `--param` overrides applied, `${ENV}` expanded, and parameters whose
    /// schema says `"format": "input-path"` made absolute against the
    /// pipeline file's directory. `"format": "output-path"` values are left
    /// as written; the executor resolves them against the run directory.
    public var parameters: [String: JSONValue]
    /// Names of the parent steps, in the order written (empty for generators).
    public var inputs: [String]
    /// Rows per batch this step receives (generators: emit).
    public var batchSize: Int
    /// The named LLM of `llms:` the step uses, if any.
    public var llm: String?
    /// Where the step is defined (its `- name:` entry).
    public var location: SourceLocation
    /// Parameters whose value (or part of it) came from an environment
    /// variable: never stored or shown (the run store's fingerprint parts).
    public var environmentParameters: Set<String> = []
    /// The entry of `credentials:` the step sends, if any.
    public var credential: String?
    /// The tag of the row ids the step makes, when it is not the one its
    /// place in this plan gives (a preview's pruned plan: Executor.rowIDTags).
    public var rowIDTag: UInt64?

    public init(name: String, descriptor: StepDescriptor, parameters: [String: JSONValue], inputs: [String],
                batchSize: Int, llm: String?, location: SourceLocation, environmentParameters: Set<String> = [],
                credential: String? = nil) {
        self.name = name
        self.descriptor = descriptor
        self.parameters = parameters
        self.inputs = inputs
        self.batchSize = batchSize
        self.llm = llm
        self.location = location
        self.environmentParameters = environmentParameters
        self.credential = credential
    }
}
