import PipelineJSON
import PluginKit

// format_sft, format_dpo and format_prompt_completion: the dataset formats
// TRL's trainers read as they are (docs/source/dataset_formats.md):
//
//   SFT (language modelling, conversational): messages = [system?, user, assistant]
//   DPO (preference, explicit prompt, conversational):
//       prompt = [system?, user], chosen = [assistant], rejected = [assistant]
//   prompt-completion: prompt/completion as strings, or
//       prompt = [system?, user], completion = [assistant]
//
// Columns that would send a row down another branch of the trainer are
// removed: SFTTrainer treats any row with a `prompt` as prompt-completion
// data, so format_sft drops `prompt`, `completion` and `text`.

/// The optional system message: a fixed text, or a column.
struct SystemMessage {
    static let text = Parameter("system_prompt", default: "",
        description: "A system message to put first; empty: none (unless system_column gives one).")
    static let column = Parameter("system_column", default: "",
        description: "A utf8 column holding each row's system message (a null or empty one: no system message). Not with system_prompt.")

    let text: String?
    let column: String?

    init(_ parameters: ParameterValues, step: String) throws(StepError) {
        let text = try parameters[Self.text]
        let column = try parameters[Self.column]
        guard text.isEmpty || column.isEmpty else { throw .invalidArgument("\(step): give system_prompt or system_column, not both") }
        self.text = text.isEmpty ? nil : text
        self.column = column.isEmpty ? nil : column
    }

    /// The system message of `row`, if any.
    func message(_ batch: RecordBatch, _ row: Int, step: String) throws(StepError) -> JSONValue? {
        if let text { return RowMapping.message("system", text) }
        guard let column else { return nil }
        let found = try RowMapping.column(batch, column, parameter: "system_column", step: step)
        guard let value = try RowMapping.text(found, row, name: column, step: step), !value.isEmpty else { return nil }
        return RowMapping.message("system", value)
    }
}

/// A required text cell: the text, or the reason the row is an error row.
private func requiredText(_ batch: RecordBatch, _ name: String, parameter: String, row: Int, step: String)
    throws(StepError) -> Result<String, RowReason>
{
    let column = try RowMapping.column(batch, name, parameter: parameter, step: step)
    guard let text = try RowMapping.text(column, row, name: name, step: step) else {
        return .failure(RowReason("\(name) is null"))
    }
    guard text.contains(where: { !$0.isWhitespace }) else { return .failure(RowReason("\(name) is empty")) }
    return .success(text)
}

struct FormatSFT: PipelineStep {
    static let instruction = Parameter("instruction_column", default: "instruction", .minLength(1),
        description: "The user message.")
    static let response = Parameter("response_column", default: "generation", .minLength(1),
        description: "The assistant message (best_of_n's best, text_generation's generation, ...).")
    static let output = Parameter("output_column", default: "messages", .minLength(1),
        description: "The column the conversation goes to.")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.format_sft", name: "format_sft", version: "1.0.0",
        description: """
            Writes an SFT row as TRL's conversational language-modelling format: messages = [{role: system}?, \
            {role: user, content: instruction}, {role: assistant, content: response}], a list<struct<role, \
            content>>. Removes prompt, completion and text columns (TRL would read a row with prompt as \
            prompt-completion data). A null or blank instruction or response makes the row an error row. The \
            other columns pass through.
            """,
        inputs: [.init("instruction", "utf8", description: "The user message.", nameParam: "instruction_column"),
                 .init("generation", "utf8", description: "The assistant message.", nameParam: "response_column"),
                 .init("*", "any")],
        outputs: [.init("messages", "list<struct<role: utf8, content: utf8>>", description: "The conversation.", nameParam: "output_column"),
                  .init("*", "any")],
        parameters: [instruction, response, SystemMessage.text, SystemMessage.column, output])
        .planning(StepPlan())

    let instruction: String
    let response: String
    let system: SystemMessage
    let output: String

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        instruction = try parameters[Self.instruction]
        response = try parameters[Self.response]
        system = try SystemMessage(parameters, step: Self.info.name)
        output = try parameters[Self.output]
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let step = Self.info.name
        return try RowMapping.map(batch, step: step, outputs: [ArrowField(output, RowMapping.messagesType)],
                                  removing: Set(["prompt", "completion", "text"]).subtracting([instruction, response])) { (row) throws(StepError) in
            let user: String, assistant: String
            switch try requiredText(batch, instruction, parameter: "instruction_column", row: row, step: step) {
            case .failure(let reason): return .error(reason.message)
            case .success(let text): user = text
            }
            switch try requiredText(batch, response, parameter: "response_column", row: row, step: step) {
            case .failure(let reason): return .error(reason.message)
            case .success(let text): assistant = text
            }
            let messages = (try system.message(batch, row, step: step).map { [$0] } ?? [])
                + [RowMapping.message("user", user), RowMapping.message("assistant", assistant)]
            return .values([.array(messages)])
        }
    }
}

struct FormatDPO: PipelineStep {
    static let prompt = Parameter("prompt_column", default: "instruction", .minLength(1),
        description: "The user message the answers respond to.")
    static let chosen = Parameter("chosen_column", default: "chosen", .minLength(1),
        description: "The chosen answer (utf8), e.g. preference_pairs' chosen.")
    static let rejected = Parameter("rejected_column", default: "rejected", .minLength(1),
        description: "The rejected answer (utf8).")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.format_dpo", name: "format_dpo", version: "1.0.0",
        description: """
            Writes a DPO row as TRL's conversational preference format with an explicit prompt: prompt = \
            [{role: system}?, {role: user}], chosen = [{role: assistant, content: chosen}], rejected = [{role: \
            assistant, content: rejected}], each a list<struct<role, content>> (the chosen and rejected columns \
            are replaced by their lists). A null or blank prompt, chosen or rejected, or chosen equal to \
            rejected, makes the row an error row. The other columns pass through.
            """,
        inputs: [.init("instruction", "utf8", description: "The user message.", nameParam: "prompt_column"),
                 .init("chosen", "utf8", description: "The chosen answer.", nameParam: "chosen_column"),
                 .init("rejected", "utf8", description: "The rejected answer.", nameParam: "rejected_column"),
                 .init("*", "any")],
        outputs: [.init("prompt", "list<struct<role: utf8, content: utf8>>", description: "The prompt turns."),
                  .init("chosen", "list<struct<role: utf8, content: utf8>>", description: "One assistant turn."),
                  .init("rejected", "list<struct<role: utf8, content: utf8>>", description: "One assistant turn."),
                  .init("*", "any")],
        parameters: [prompt, chosen, rejected, SystemMessage.text, SystemMessage.column])
        .planning(StepPlan())

    let prompt: String
    let chosen: String
    let rejected: String
    let system: SystemMessage

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        prompt = try parameters[Self.prompt]
        chosen = try parameters[Self.chosen]
        rejected = try parameters[Self.rejected]
        system = try SystemMessage(parameters, step: Self.info.name)
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let step = Self.info.name
        let outputs = ["prompt", "chosen", "rejected"].map { ArrowField($0, RowMapping.messagesType) }
        // The inputs under other names are replaced too: one pair of columns per row.
        let inputs = Set([chosen, rejected]).subtracting(["prompt", "chosen", "rejected"])
        return try RowMapping.map(batch, step: step, outputs: outputs, removing: inputs.union(["messages", "completion", "text"])) { (row) throws(StepError) in
            var texts: [String] = []
            for (name, parameter) in [(prompt, "prompt_column"), (chosen, "chosen_column"), (rejected, "rejected_column")] {
                switch try requiredText(batch, name, parameter: parameter, row: row, step: step) {
                case .failure(let reason): return .error(reason.message)
                case .success(let text): texts.append(text)
                }
            }
            if texts[1] == texts[2] { return .error("chosen and rejected are the same text") }
            let turns = (try system.message(batch, row, step: step).map { [$0] } ?? []) + [RowMapping.message("user", texts[0])]
            return .values([.array(turns), .array([RowMapping.message("assistant", texts[1])]),
                            .array([RowMapping.message("assistant", texts[2])])])
        }
    }
}

struct FormatPromptCompletion: PipelineStep {
    static let prompt = Parameter("prompt_column", default: "instruction", .minLength(1), description: "The prompt.")
    static let completion = Parameter("completion_column", default: "generation", .minLength(1), description: "The completion.")
    static let style = Parameter("style", default: "standard", .oneOf(["standard", "conversational"]),
        description: "standard: prompt and completion as strings (system_prompt, if any, goes before the prompt with a blank line); conversational: prompt = [{role: system}?, {role: user}], completion = [{role: assistant}].")

    static let info = StepInfo(
        kind: .step, id: "org.pipeline.format_prompt_completion", name: "format_prompt_completion", version: "1.0.0",
        description: """
            Writes TRL's prompt-completion format (SFTTrainer then computes the loss on the completion only): \
            prompt and completion as strings, or with style conversational as lists of {role, content}. Removes \
            messages and text columns. A null or blank prompt or completion makes the row an error row. The \
            other columns pass through.
            """,
        inputs: [.init("instruction", "utf8", description: "The prompt.", nameParam: "prompt_column"),
                 .init("generation", "utf8", description: "The completion.", nameParam: "completion_column"),
                 .init("*", "any")],
        outputs: [.init("prompt", "utf8", description: "The prompt (list<struct<role, content>> with style conversational)."),
                  .init("completion", "utf8", description: "The completion (list<struct<role, content>> with style conversational)."),
                  .init("*", "any")],
        parameters: [prompt, completion, style, SystemMessage.text, SystemMessage.column])
        .planning(StepPlan())

    let prompt: String
    let completion: String
    let conversational: Bool
    let system: SystemMessage

    init(parameters: ParameterValues, context: StepContext) throws(StepError) {
        prompt = try parameters[Self.prompt]
        completion = try parameters[Self.completion]
        conversational = try parameters[Self.style] == "conversational"
        system = try SystemMessage(parameters, step: Self.info.name)
    }

    func process(_ batch: RecordBatch?, context: StepContext) throws(StepError) -> RecordBatch? {
        guard let batch else { return nil }
        let step = Self.info.name
        let type: ArrowType = conversational ? RowMapping.messagesType : .utf8
        let inputs = Set([prompt, completion]).subtracting(["prompt", "completion"])
        return try RowMapping.map(batch, step: step, outputs: [ArrowField("prompt", type), ArrowField("completion", type)],
                                  removing: inputs.union(["messages", "text"])) { (row) throws(StepError) in
            var texts: [String] = []
            for (name, parameter) in [(prompt, "prompt_column"), (completion, "completion_column")] {
                switch try requiredText(batch, name, parameter: parameter, row: row, step: step) {
                case .failure(let reason): return .error(reason.message)
                case .success(let text): texts.append(text)
                }
            }
            let systemMessage = try system.message(batch, row, step: step)
            guard conversational else {
                let prefix = systemMessage?["content"]?.stringValue.map { $0 + "\n\n" } ?? ""
                return .values([.string(prefix + texts[0]), .string(texts[1])])
            }
            return .values([.array((systemMessage.map { [$0] } ?? []) + [RowMapping.message("user", texts[0])]),
                            .array([RowMapping.message("assistant", texts[1])])])
        }
    }
}
