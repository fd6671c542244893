import PipelineJSON
import PluginKit

/// A row's conversation, read from a `messages` column: a list of
/// {role, content} structs (what load_jsonl makes of an SFT file's
/// `messages`), or JSON text holding such an array. It goes to the server as
/// the request's `messages`, so an LLM step can regenerate the assistant
/// turns of an existing chat dataset.
enum ChatMessages {
    static let roles: Set<String> = ["system", "user", "assistant", "tool", "developer"]

    /// The conversation of a row as an OpenAI "messages" JSON array, from
    /// the column's value as JSON text (TaskRow.promptText writes a list of
    /// structs as JSON; a text column holds it as is). A trailing assistant
    /// turn (the one being regenerated) is left out; `system`, when given,
    /// goes first unless the conversation has its own.
    static func json(_ text: String?, name: String, system: String?) throws(RowError) -> String {
        guard let text else { throw RowError("column \"\(name)\" is null in this row") }
        guard let value = try? JSONValue(parsing: text), let items = value.arrayValue else {
            throw RowError("column \"\(name)\" is not a list of {role, content} messages")
        }
        var messages = try items.enumerated().map { index, item throws(RowError) in
            try message(role: item["role"]?.stringValue, content: item["content"]?.stringValue, index: index, name: name)
        }
        if messages.last?.role == "assistant" { messages.removeLast() }
        guard !messages.isEmpty else {
            throw RowError("column \"\(name)\" holds no message to answer (after leaving out its last assistant turn)")
        }
        if let system, messages.first?.role != "system" { messages.insert(("system", system), at: 0) }
        return JSONValue.array(messages.map { .object(["role": .string($0.role), "content": .string($0.content)]) }).serialized
    }

    private static func message(role: String?, content: String?, index: Int, name: String) throws(RowError) -> (role: String, content: String) {
        guard let role, roles.contains(role) else {
            throw RowError("\(name)[\(index)] has no role of \(roles.sorted().joined(separator: ", "))")
        }
        guard let content else { throw RowError("\(name)[\(index)] (\(role)) has no text content") }
        return (role, content)
    }
}
