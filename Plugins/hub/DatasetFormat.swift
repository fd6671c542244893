import PluginKit

/// Which training format a pushed dataset's columns are, for its card: the
/// forms TRL's trainers read as they are (docs/pipelines.md, Judges,
/// preference pairs and training formats), else plain rows.
enum DatasetFormat {
    /// One line for the card, from the columns of the rows pushed.
    static func describe(_ fields: [ArrowField]) -> String {
        let types = Dictionary(fields.map { ($0.name, $0.type) }, uniquingKeysWith: { first, _ in first })
        func isConversation(_ name: String) -> Bool {
            if case .list(let item)? = types[name], case .structure(let members) = item.type {
                return Set(members.map(\.name)).isSuperset(of: ["role", "content"])
            }
            return false
        }
        func isText(_ name: String) -> Bool { types[name] == .utf8 || types[name] == .largeUtf8 }
        if ["prompt", "chosen", "rejected"].allSatisfy(isConversation) {
            return "preference pairs for DPO, conversational with an explicit prompt: `prompt` (the conversation so far), `chosen` and `rejected` (one assistant turn each), as TRL's DPOTrainer reads them"
        }
        if ["prompt", "chosen", "rejected"].allSatisfy(isText) {
            return "preference pairs for DPO, standard form: `prompt`, `chosen` and `rejected` as text"
        }
        if isConversation("prompt") && isConversation("completion") {
            return "prompt-completion, conversational: `prompt` and `completion` as lists of {role, content}, as TRL's SFTTrainer reads them"
        }
        if isText("prompt") && isText("completion") {
            return "prompt-completion, standard form: `prompt` and `completion` as text, as TRL's SFTTrainer reads them"
        }
        if isConversation("messages") {
            return "SFT, conversational: `messages`, a list of {role, content} turns, as TRL's SFTTrainer reads them"
        }
        return "plain rows (no training format recognised)"
    }
}
