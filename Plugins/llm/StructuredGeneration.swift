import PipelineJSON
import PipelineJSONSchema
import PluginKit

/// One answer per row that conforms to a JSON Schema, its properties
/// turned into typed columns. The schema goes to the server as
/// response_format (in the dialect the server speaks), and every answer is
/// validated here whatever the server promised: a non-conforming answer is
/// shown back to the model with what is wrong, up to max_attempts in all;
/// after that the row is an error row quoting the last answer.
struct StructuredGeneration: LLMRoundsTask {
    static let template = Parameter("template", default: "{instruction}", .template,
        description: "The user message: {column} is replaced by the row's value; {{ and }} are literal braces.")
    static let schema = Parameter<SchemaParameter>("json_schema",
        description: "The JSON Schema of an answer: an object whose properties become typed columns (string: utf8, integer: int64, number: float64, boolean: bool, array: list<...>, object: struct<...>; [\"<type>\", \"null\"] for a nullable value). Keywords: type, properties, required, additionalProperties, items, minItems, maxItems, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern; title, description, default, examples and format are accepted and not checked.")
    static let dialect = Parameter("dialect", default: "openai", .oneOf(["openai", "json_object_schema", "none"]),
        description: "How the schema reaches the server: openai sends response_format {\"type\": \"json_schema\", \"json_schema\": {\"name\", \"schema\"}} (OpenAI, vLLM, llama-server, SGLang); json_object_schema sends {\"type\": \"json_object\", \"schema\": ...} (llama-cpp-python); none sends no response_format and puts the schema in the prompt. Answers are validated here in every case.")
    static let schemaName = Parameter("schema_name", default: "answer", .pattern("^[A-Za-z0-9_-]{1,64}$"),
        description: "The schema's name in an openai response_format (1-64 of a-z, A-Z, 0-9, _ and -).")
    static let maxAttempts = Parameter("max_attempts", default: 3, .minimum(1), .maximum(10),
        description: "Requests per row at most: after an answer that is not JSON or does not conform, the model is shown its answer and what is wrong and asked again; after the last, the row is an error row quoting the answer.")
    static let outputColumn = Parameter("output_column", default: "generation", .minLength(1),
        description: "The column the model's last answer goes to, as it was written (kept on an error row too).")
    static let modelColumn = Parameter("model_name_column", default: "model_name", .minLength(1),
        description: "The column the answering model's name goes to.")
    static let llm = GenerationParameters(systemTemplate: true, seed: "Passed to the server; makes requests cacheable.")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.structured_generation", name: "structured_generation", version: "1.0.0",
        description: """
            Asks the step's LLM one question per row, written from a template over the row's columns \
            ({instruction} by default), for an answer that conforms to json_schema, and adds one typed column \
            per top-level property of the schema (null where an optional property is absent) beside the raw \
            answer. The JSON is read from the whole answer, else from its one ```json fenced block, else from \
            its one {...} object. An answer that is not JSON or breaks the schema is sent back with what is \
            wrong (JSON paths), up to max_attempts requests in all; then the row is an error row quoting the \
            last answer. Every input column passes through.
            """,
        inputs: [.init("instruction", "utf8", optional: true,
                       description: "Read when the template names it (the default template does)."),
                 .init("*", "any")],
        outputs: [.init("generation", "utf8", description: "The model's last answer, as written.", nameParam: "output_column"),
                  .init("model_name", "utf8", description: "The model that answered.", nameParam: "model_name_column"),
                  .init("*", "any", description: "One column per top-level property of json_schema, typed from it.")],
        parameters: [template, schema, dialect, schemaName, maxAttempts, outputColumn, modelColumn] + llm.parameters,
        deterministic: false, reentrant: true, usesLLM: true)

    let template: PromptTemplate
    let answerSchema: JSONSchema
    let columns: [(name: String, type: ArrowType)]
    let maxAttempts: Int
    let outputColumn: String
    let modelColumn: String
    let settings: GenerationSettings
    /// The options of every request: the step's, the seed and response_format.
    let options: String?
    /// Added to the prompt when no response_format carries the schema.
    let instruction: String?

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        let step = Self.info.name
        template = try PromptTemplate(parameters[Self.template])
        maxAttempts = try parameters[Self.maxAttempts]
        outputColumn = try parameters[Self.outputColumn]
        modelColumn = try parameters[Self.modelColumn]
        settings = try Self.llm.settings(parameters)

        let written: JSONValue
        do { written = try JSONValue(parsing: try parameters[Self.schema].json.text) } catch {
            throw .invalidArgument("\(step): json_schema cannot be read: \(error)")
        }
        do { answerSchema = try JSONSchema(written) } catch {
            throw .invalidArgument("\(step): json_schema: \(error.description)")
        }
        guard let fields = answerSchema.columns else {
            throw .invalidArgument("\(step): json_schema: the top level must be an object (\"type\": \"object\"): its properties become the columns")
        }
        for field in fields {
            if field.name.hasPrefix("_") {
                throw .invalidArgument("\(step): json_schema: property \"\(field.name)\": a column name starting with _ is reserved for the host")
            }
            if field.name == outputColumn || field.name == modelColumn {
                throw .invalidArgument("\(step): json_schema: property \"\(field.name)\" is also the name of the step's \(field.name == outputColumn ? "output_column" : "model_name_column")")
            }
        }
        columns = fields.map { ($0.name, Self.arrowType($0.type)) }

        let schemaText = written.serialized
        let format: String?
        switch try parameters[Self.dialect] {
        case "openai":
            var name = ""
            JSONValue.writeString(try parameters[Self.schemaName], to: &name)
            format = #"{"json_schema":{"name":\#(name),"schema":\#(schemaText)},"type":"json_schema"}"#
            instruction = nil
        case "json_object_schema":
            format = #"{"schema":\#(schemaText),"type":"json_object"}"#
            instruction = nil
        default:
            format = nil
            instruction = "\n\nAnswer with only a JSON object that conforms to this JSON Schema:\n" + schemaText
        }
        var options = settings.options(generation: 0)
        if let format {
            let member = "\"response_format\":" + format
            if let given = options, given.count > 2 { options = String(given.dropLast()) + "," + member + "}" } else { options = "{" + member + "}" }
        }
        self.options = options
    }

    static func arrowType(_ type: JSONSchemaColumnType) -> ArrowType {
        switch type {
        case .utf8: .utf8
        case .int64: .int64
        case .float64: .float64
        case .bool: .bool
        case .list(let item): .list(ArrowField("item", arrowType(item)))
        case .structure(let fields): .structure(fields.map { ArrowField($0.name, arrowType($0.type)) })
        }
    }

    // MARK: LLMRoundsTask

    var reads: [TaskInput] {
        var names = template.placeholders
        let prompt = Set(names)
        names += settings.systemPlaceholders.filter { !prompt.contains($0) }
        return names.map { name in
            let why = prompt.contains(name) ? "the template" : "the system prompt"
            return TaskInput(name, .any, reason: "\(why) reads it",
                             nulls: .rowErrorSaying("a column \(why) reads is null in this row"))
        }
    }

    var writes: [TaskOutput] {
        [TaskOutput(outputColumn, .text, keptOnRowError: true), TaskOutput(modelColumn, .text, keptOnRowError: true)]
            + columns.map { TaskOutput($0.name, .typed($0.type)) }
    }

    struct Work {
        let prompt: String
        let system: String?
        var attempts = 0
        /// The last answer, as written.
        var answer: String?
        var model: String?
        /// The conforming value, once an answer conforms.
        var value: JSONValue?
        /// What is wrong with the last answer.
        var problems: [String] = []
    }

    func start(_ row: TaskRow) throws(RowError) -> Work {
        guard let prompt = template.render(row) else { throw RowError("a column the template reads is null in this row") }
        // The system message as the request for this row renders it.
        let system = try settings.request(prompt, row: row).request.system
        return Work(prompt: prompt + (instruction ?? ""), system: system)
    }

    func requests(_ work: inout Work, round: Int) throws(RowError) -> [TaskRequest] {
        guard work.value == nil, work.attempts < maxAttempts else { return [] }
        guard round > 0, let answer = work.answer else {
            return [TaskRequest(LLMRequest(prompt: work.prompt, system: work.system, optionsJSON: options),
                                label: maxAttempts > 1 ? "attempt 1" : nil)]
        }
        var messages: [JSONValue] = []
        if let system = work.system { messages.append(["role": "system", "content": .string(system)]) }
        messages.append(["role": "user", "content": .string(work.prompt)])
        messages.append(["role": "assistant", "content": .string(answer)])
        messages.append(["role": "user", "content": .string(Self.correction(work.problems))])
        return [TaskRequest(LLMRequest(messagesJSON: JSONValue.array(messages).serialized, optionsJSON: options),
                            label: "attempt \(work.attempts + 1)")]
    }

    /// What the model is told after an answer that does not conform.
    static func correction(_ problems: [String]) -> String {
        "Your answer does not conform to the JSON Schema:\n" + problems.map { "- " + $0 }.joined(separator: "\n")
            + "\nAnswer again with only the corrected JSON object."
    }

    func receive(_ answer: TaskAnswer, _ work: inout Work) throws(RowError) {
        work.attempts += 1
        work.answer = answer.text
        work.model = answer.model ?? work.model
        switch JSONAnswer.value(in: answer.text) {
        case .success(let value):
            work.problems = answerSchema.violations(of: value)
            if work.problems.isEmpty {
                work.value = value
                return
            }
        case .failure(let failure):
            work.problems = [failure.message]
        }
        if answer.finishReason == "length" { work.problems.append("the answer was cut off by max_tokens (finish_reason \"length\")") }
        guard work.attempts < maxAttempts else {
            throw RowError("the answer does not conform to json_schema after \(work.attempts) attempt\(work.attempts == 1 ? "" : "s"): "
                           + work.problems.joined(separator: "; ") + "; the last answer: " + Self.quoted(answer.text))
        }
    }

    /// The answer as a JSON string, cut after 2000 characters (the whole
    /// answer is in the output column).
    static func quoted(_ text: String) -> String {
        var out = ""
        let limit = 2000
        guard text.count > limit else {
            JSONValue.writeString(text, to: &out)
            return out
        }
        JSONValue.writeString(String(text.prefix(limit)), to: &out)
        return out + " (cut; \(text.count - limit) more characters in the output column)"
    }

    func values(_ work: Work) throws(RowError) -> [TaskValue] {
        [.text(work.answer), .text(work.model)] + columns.map { .json(work.value?[$0.name]) }
    }
}

/// The json_schema parameter: any JSON object, which the host reads as a
/// JSON Schema at validation ("format": "json-schema") and the step again.
struct SchemaParameter: ParameterValue {
    let json: PluginJSON

    static var schema: [(key: String, value: PluginJSON)] {
        [("type", .string("object")), ("format", .string("json-schema"))]
    }
    static var typeName: String { "an object (a JSON Schema)" }
    static func decode(_ json: PluginJSON) -> SchemaParameter? {
        if case .object = json { return SchemaParameter(json: json) }
        return nil
    }
}
